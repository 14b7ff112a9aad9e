r"""The result of a simulation study: operating characteristics with Monte Carlo errors.

For a term with true value :math:`\theta` and :math:`n` replicates whose estimator returned a
finite estimate :math:`\hat\theta_i` (standard error :math:`s_i`, interval
:math:`[l_i, u_i]`, p-value :math:`p_i`), following Morris, White & Crowther (2019, Table 6):

- mean estimate :math:`\bar\theta = \frac1n\sum\hat\theta_i`;
- empirical SD :math:`S = \sqrt{\frac{1}{n-1}\sum(\hat\theta_i-\bar\theta)^2}`, MCSE
  :math:`S/\sqrt{2(n-1)}`;
- bias :math:`\bar\theta - \theta`, MCSE :math:`S/\sqrt n`;
- RMSE :math:`R = \sqrt{\frac1n\sum(\hat\theta_i-\theta)^2}`, jackknife MCSE
  :math:`\sqrt{\frac{n-1}{n}\sum_i(R_{(-i)}-\bar R_{(\cdot)})^2}`;
- coverage :math:`\hat c = \frac1n\sum 1[l_i\le\theta\le u_i]`, MCSE
  :math:`\sqrt{\hat c(1-\hat c)/n}`;
- rejection rate :math:`\hat r = \frac1n\sum 1[p_i \le \alpha]`, MCSE
  :math:`\sqrt{\hat r(1-\hat r)/n}`;
- mean model SE :math:`\frac1n\sum s_i`;

where :math:`R_{(-i)} = \sqrt{(n\,\mathrm{MSE} - (\hat\theta_i-\theta)^2)/(n-1)}` is the RMSE
without replicate :math:`i` (all :math:`n` leave-one-out values in one vectorised pass). The
rejection rate is the size of the test under a null (truth 0 for the term) and its power under
an alternative. Coverage and rejection use the replicates with a finite interval / p-value.
Terms without a truth get NaN bias, RMSE and coverage.

References
----------
Morris, T. P., White, I. R. & Crowther, M. J. (2019). Using simulation studies to evaluate
statistical methods. *Statistics in Medicine* 38(11), 2074-2102. doi:10.1002/sim.8086
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import TableResult
from sosstats.errors import DataError

__all__ = ["SimulationResult", "TIDY_COLUMNS", "operating_characteristics"]

#: the columns of SimulationResult.tidy(), in order (the contract of issue 17)
TIDY_COLUMNS = ["term", "n_ok", "n_failed", "mean_estimate", "truth", "bias", "bias_mcse",
                "rmse", "rmse_mcse", "coverage", "coverage_mcse", "rejection_rate",
                "rejection_rate_mcse", "mean_std_error", "empirical_sd", "empirical_sd_mcse"]


def _group_mean(values: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-group mean of the finite values, and their count (NaN mean for an empty group)."""
    ok = np.isfinite(values)
    count = np.bincount(codes[ok], minlength=k).astype(float)
    total = np.bincount(codes[ok], weights=values[ok], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count, count


def _share(flag: np.ndarray, usable: np.ndarray, codes: np.ndarray,
           k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-group share of ``flag`` among ``usable`` rows, with its binomial MCSE."""
    m = np.bincount(codes[usable], minlength=k).astype(float)
    hits = np.bincount(codes[usable], weights=flag[usable].astype(float), minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = hits / m
        return p, np.sqrt(p * (1 - p) / m)


def operating_characteristics(codes: np.ndarray, values: np.ndarray, truth: np.ndarray,
                              n_replicates: int, alpha: float) -> dict[str, np.ndarray]:
    """Bias, RMSE, coverage, rejection rate and their MCSEs per term (see the module docstring).

    Parameters
    ----------
    codes : (m,) int array
        Term code (0 .. k-1) of each (replicate, term) row.
    values : (m, 5) float array
        ``estimate, std_error, p_value, ci_lower, ci_upper`` of each row.
    truth : (k,) float array
        True value per term (NaN: unknown).
    n_replicates : int
        Replicates run (``n_failed = n_replicates - n_ok``).
    alpha : float
        Rejection threshold: a replicate rejects when ``p_value <= alpha``.

    Returns
    -------
    dict of (k,) arrays, keyed by the names of :data:`TIDY_COLUMNS`.
    """
    k = truth.size
    est, se, p, lo, hi = (values[:, j] for j in range(5))
    ok = np.isfinite(est)
    c, x = codes[ok], est[ok]
    mean, n = _group_mean(x, c, k)
    dev = x - mean[c]
    ss = np.bincount(c, weights=dev * dev, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(ss / (n - 1))
        bias = mean - truth
        bias_mcse = sd / np.sqrt(n)
        # RMSE and its jackknife MCSE, all leave-one-out values at once
        d = (x - truth[c]) ** 2
        mse = np.bincount(c, weights=d, minlength=k) / n
        rmse = np.sqrt(mse)
        loo = np.sqrt(np.maximum(n[c] * mse[c] - d, 0.0) / (n[c] - 1))
        loo_mean = np.bincount(c, weights=loo, minlength=k) / n
        loo_ss = np.bincount(c, weights=(loo - loo_mean[c]) ** 2, minlength=k)
        rmse_mcse = np.sqrt((n - 1) / n * loo_ss)
        t = truth[codes]
        covered = (lo <= t) & (t <= hi)
        usable_ci = ok & np.isfinite(lo) & np.isfinite(hi) & np.isfinite(t)
        coverage, coverage_mcse = _share(covered, usable_ci, codes, k)
        rejected = p <= alpha
        rejection, rejection_mcse = _share(rejected, ok & np.isfinite(p), codes, k)
        mean_se, _ = _group_mean(np.where(ok, se, np.nan), codes, k)
    return {"n_ok": n.astype(np.int64), "n_failed": n_replicates - n.astype(np.int64),
            "mean_estimate": mean, "truth": truth, "bias": bias, "bias_mcse": bias_mcse,
            "rmse": rmse, "rmse_mcse": rmse_mcse, "coverage": coverage,
            "coverage_mcse": coverage_mcse, "rejection_rate": rejection,
            "rejection_rate_mcse": rejection_mcse, "mean_std_error": mean_se,
            "empirical_sd": sd, "empirical_sd_mcse": sd / np.sqrt(2 * (n - 1))}


@dataclass(frozen=True, repr=False)
class SimulationResult(TableResult):
    """Operating characteristics of an estimator over the replicates of a simulated design.

    Built by :func:`sosstats.design.simulate_study`. ``tidy()`` has one row per term with the
    columns of :data:`TIDY_COLUMNS`: ``n_ok`` (replicates with a finite estimate of the term),
    ``n_failed`` (the others: failed fits, or the term missing or non-finite), the mean
    estimate, the truth, bias, RMSE, coverage of the ``level`` intervals and rejection rate at
    ``alpha``, each with its Monte Carlo standard error (``*_mcse``; formulas in the module
    docstring, after Morris, White & Crowther 2019), the mean model standard error and the
    empirical SD of the estimates (compare the two: a model SE below the empirical SD is an
    interval that is too short).

    Attributes
    ----------
    replicates : pandas.DataFrame
        Long frame, one row per replicate x term: ``replicate, term, estimate, std_error,
        p_value, ci_lower, ci_upper``.
    failures : pandas.DataFrame
        One row per failed replicate: ``replicate, error, message, traceback`` (the traceback
        is kept for the first few failures of each chunk, empty otherwise).
    n_replicates : int
    truth : dict
        True value by term (terms without one are absent).
    level, alpha : float
        Interval level and rejection threshold.
    settings : dict
        The call's settings: seed (root entropy; ``rng=seed`` reruns the study), backend,
        workers, batch size, design and estimator names.
    timing : dict
        ``wall_s`` (the whole call), ``compute_s`` (time spent inside chunks, summed over
        workers) and ``per_replicate_s`` (``compute_s / n_replicates``).
    warnings : pandas.DataFrame
        Warnings raised inside replicates: ``category, message, replicates`` (how many
        replicates raised it).
    """

    replicates: pd.DataFrame
    failures: pd.DataFrame
    n_replicates: int
    truth: dict[str, float]
    level: float = 0.95
    alpha: float = 0.05
    settings: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    warnings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["category", "message", "replicates"]))
    method: str = "Monte Carlo simulation study"

    # -- the table ---------------------------------------------------------------------------
    def _terms(self) -> tuple[np.ndarray, np.ndarray]:
        codes, uniques = pd.factorize(self.replicates["term"], sort=False)
        return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)

    def _values(self) -> np.ndarray:
        return self.replicates[["estimate", "std_error", "p_value", "ci_lower",
                                "ci_upper"]].to_numpy(dtype=float)

    def _stats(self, alpha: float) -> pd.DataFrame:
        codes, terms = self._terms()
        truth = np.array([self.truth.get(t, np.nan) for t in terms], dtype=float)
        out = operating_characteristics(codes, self._values(), truth, self.n_replicates, alpha)
        frame = pd.DataFrame(out, index=pd.Index(terms, name="term"))
        return frame[TIDY_COLUMNS[1:]]

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return self._stats(self.alpha)

    def _title(self) -> str:
        est = self.settings.get("estimator", "estimator")
        des = self.settings.get("design", "design")
        return (f"SimulationResult: {self.n_replicates:,} replicates of {est} on {des}")

    def _notes(self) -> list[str]:
        s, t = self.settings, self.timing
        n_fail = len(self.failures)
        notes = [f"Intervals at level {self.level}; rejection when p <= {self.alpha}. "
                 "*_mcse: Monte Carlo standard errors (Morris, White & Crowther 2019).",
                 f"Seed: rng={s.get('seed')} (root SeedSequence entropy; replicate i uses "
                 "SeedSequence(seed).spawn(n)[i]).",
                 f"Ran {s.get('backend', '?')} with {s.get('workers', 1)} worker(s), "
                 f"batches of {s.get('batch_size', '?')}; wall {t.get('wall_s', np.nan):.3g} s, "
                 f"{1e3 * t.get('per_replicate_s', np.nan):.3g} ms per replicate of compute."]
        if n_fail:
            top = self.failures.groupby(["error", "message"], sort=False).size()
            top = top.sort_values(ascending=False).head(3)
            shown = "; ".join(f"{e}: {m} (x{c})" for (e, m), c in top.items())
            notes.append(f"{n_fail:,} of {self.n_replicates:,} replicates failed: {shown}.")
        if len(self.warnings):
            w = self.warnings.sort_values("replicates", ascending=False).head(3)
            shown = "; ".join(f"{r.category}: {r.message} ({r.replicates:,} replicates)"
                              for r in w.itertuples())
            notes.append(f"Warnings inside replicates: {shown}.")
        return notes

    # -- more ---------------------------------------------------------------------------------
    def rejection_rates(self, alpha: float | list[float] = (0.01, 0.05, 0.10)) -> pd.DataFrame:
        """Rejection rate per term at several thresholds, with MCSEs.

        Returns a frame indexed by term with columns ``rejection_rate_<alpha>`` and
        ``rejection_rate_mcse_<alpha>``.
        """
        alphas = [alpha] if np.isscalar(alpha) else list(alpha)
        frames = []
        for a in alphas:
            if not (0 < float(a) < 1):
                raise DataError(f"`alpha` must be strictly between 0 and 1; got {a!r}.")
            st = self._stats(float(a))
            frames.append(st[["rejection_rate", "rejection_rate_mcse"]].add_suffix(f"_{a:g}"))
        return pd.concat(frames, axis=1)

    def plot(self, kind: str = "estimates", *, ax: Any = None, terms: list[str] | None = None):
        """Plot the study.

        Parameters
        ----------
        kind : {"estimates", "coverage", "rejection"}
            ``"estimates"``: the distribution of the estimates per term (box plot) with the
            truth marked; ``"coverage"``: coverage per term with +/- 1.96 MCSE bars and the
            nominal level; ``"rejection"``: rejection rate (size or power) with +/- 1.96 MCSE
            bars and ``alpha``.
        ax : matplotlib Axes, optional
        terms : list of str, optional
            Terms to show (default: all).

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if kind not in ("estimates", "coverage", "rejection"):
            raise DataError("`kind` must be one of 'estimates', 'coverage', 'rejection'; "
                            f"got {kind!r}.")
        table = self._table(None)
        names = list(table.index) if terms is None else list(terms)
        missing = [t for t in names if t not in table.index]
        if missing:
            raise DataError(f"`terms` not in the study: {missing}; terms are "
                            f"{list(table.index)}.")
        if ax is None:
            _, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(names) + 2), 4))
        pos = np.arange(len(names))
        if kind == "estimates":
            rep = self.replicates
            data = [rep.loc[rep["term"] == t, "estimate"].to_numpy(dtype=float) for t in names]
            data = [d[np.isfinite(d)] for d in data]
            ax.boxplot(data, positions=pos, widths=0.5, showfliers=False)
            tr = table.loc[names, "truth"].to_numpy(dtype=float)
            ax.scatter(pos, tr, marker="D", color="C3", zorder=3, label="truth")
            ax.set_ylabel("estimate")
            if np.isfinite(tr).any():
                ax.legend(loc="best")
        else:
            col = "coverage" if kind == "coverage" else "rejection_rate"
            ref = self.level if kind == "coverage" else self.alpha
            y = table.loc[names, col].to_numpy(dtype=float)
            e = 1.96 * table.loc[names, f"{col}_mcse"].to_numpy(dtype=float)
            ax.errorbar(pos, y, yerr=e, fmt="o", capsize=4)
            ax.axhline(ref, color="0.5", linestyle="--",
                       label=f"nominal {ref:g}" if kind == "coverage" else f"alpha {ref:g}")
            ax.set_ylabel(f"{'coverage' if kind == 'coverage' else 'rejection rate'} "
                          "(+/- 1.96 MCSE)")
            ax.legend(loc="best")
        ax.set_xticks(pos)
        ax.set_xticklabels(names, rotation=30 if len(names) > 3 else 0, ha="right"
                           if len(names) > 3 else "center")
        ax.set_title(f"{self.n_replicates:,} replicates: {kind}")
        return ax

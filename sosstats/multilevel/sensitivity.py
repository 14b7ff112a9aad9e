r"""Prior sensitivity: how far the posterior moves when the priors' scales are multiplied.

With ten pilots, the pilot standard deviation and the pilot-level coefficients (experience
group) are weakly identified, so their posteriors partly reflect the priors.
``prior_sensitivity(model)`` refits the model with every prior scale multiplied by 0.5, 1 and
2 and reports, for each parameter, the posterior mean, sd and interval at each scale and the
shift of the mean in posterior standard deviations, flagging a parameter whose conclusion
depends on the prior.

Notes
-----
For a factor :math:`c > 0`, every selected prior has its scale multiplied by :math:`c`
(:meth:`Prior.scaled`: ``sigma`` of normal, Student-t, half-normal and half-Student-t priors
and ``beta`` of half-Cauchy priors times :math:`c`; the rate ``lam`` of exponential priors
divided by :math:`c`); locations and degrees of freedom are unchanged. For a reported
quantity :math:`\theta` with posterior mean :math:`m_c` and sd :math:`s_c` under factor
:math:`c`, the shift is

.. math::

    \Delta_c = \frac{m_c - m_1}{s_1},

and a parameter is flagged when :math:`\max_c |\Delta_c|` exceeds ``threshold`` (0.5: the
conclusion moves by half a posterior sd when the prior is halved or doubled). ``shift_mcse``
approximates the Monte Carlo error of :math:`\Delta_c`,
:math:`\sqrt{s_c^2/\mathrm{ESS}_c + s_1^2/\mathrm{ESS}_1} / s_1`.

``method="refit"`` (the default) samples the posterior again for each factor with the same
seed; the prior scales are inputs of the compiled model, so with nutpie the refits reuse the
first fit's compile (:mod:`sosstats.multilevel.compiled_cache`) and three scales cost about
one compile and three samplings (on the rows path: a national-scale fit on the census table,
see ``MultilevelModel.fit(likelihood=)``, compiles each refit). ``method="power"`` reuses the
draws of the base fit, as in the power-scaling sensitivity analysis of Kallioinen et al.
(2023, R package priorsense): the perturbed posterior
:math:`p_c(\theta \mid y) \propto p(y \mid \theta)\, p_c(\theta)` is reached by
self-normalised importance weights :math:`w^{(s)} \propto p_c(\theta^{(s)}) /
p_1(\theta^{(s)})`, Pareto-smoothed (PSIS; Vehtari et al. 2024). For normal and half-normal
priors (the defaults other than the Gaussian residual sd's) :math:`p_c \propto p_1^{\alpha}`
with :math:`\alpha = 1/c^2`, which is exactly power-scaling; for the other families the ratio
of the rescaled to the original density is used, so both methods target the same posterior.
The Pareto :math:`\hat k` of each factor's weights diagnoses the approximation: above 0.7 it
is unreliable (a warning says so) and ``method="refit"`` should be used. Weighted means,
sds and quantiles follow, with :math:`\mathrm{ESS}_c \approx \mathrm{ESS}_1 / (S \sum_s
(w^{(s)})^2)`.

References
----------
Kallioinen, N., Paananen, T., Buerkner, P.-C. & Vehtari, A. (2023). Detecting and diagnosing
prior and likelihood sensitivity with power-scaling. *Statistics and Computing* 34, 57.
Vehtari, A., Simpson, D., Gelman, A., Yao, Y. & Gabry, J. (2024). Pareto smoothed importance
sampling. *Journal of Machine Learning Research* 25(72), 1-58.
Gelman, A. (2006). Prior distributions for variance parameters in hierarchical models.
*Bayesian Analysis* 1(3), 515-534.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._progress import Progress
from sosstats._results import TableResult
from sosstats._validate import as_list, check_level, check_option, check_rng
from sosstats.errors import DataError, SosstatsWarning
from sosstats.multilevel._design import Design
from sosstats.multilevel.model import MultilevelModel
from sosstats.multilevel.prior_scaling import (
    check_scales,
    prior_draws,
    prior_logpdf,
    prior_targets,
    scale_priors,
)
from sosstats.multilevel.priors import Priors
from sosstats.multilevel.results import MultilevelResult

__all__ = ["PriorSensitivity", "prior_sensitivity", "scale_priors"]

METHODS = ("refit", "power")


def _term_levels(design: Design) -> dict[str, str]:
    """Highest (non-membership) level within whose groups each design column is constant."""
    X = design.rows.X
    out: dict[str, str] = {}
    for j, term in enumerate(design.terms):
        out[term] = "row"
        x = X[:, j]
        for lev in design.levels:
            codes = design.rows.codes.get(lev.name)
            if lev.kind == "membership" or codes is None:
                continue
            n = np.bincount(codes, minlength=lev.n_groups)
            mean = np.bincount(codes, x, minlength=lev.n_groups) / np.maximum(n, 1)
            if np.max(np.abs(x - mean[codes])) <= 1e-9 * (1.0 + np.max(np.abs(x))):
                out[term] = lev.name
                break
    return out


def _parameters(design: Design, parameters: str | Sequence[str] | None) -> dict[str, str]:
    """Map each reported parameter to its level label (``row`` for unit-level ones)."""
    term_level = _term_levels(design)
    valid: dict[str, str] = {f"sigma_{lev.name}": lev.name for lev in design.levels}
    valid.update({f"slope_sigma_{s.level}_{s.term}": s.level for s in design.slopes})
    valid.update(term_level)
    valid.update({"sigma": "row"} if design.family == "gaussian" else {})
    valid.update({"alpha": "row"} if design.family == "negative_binomial" else {})
    if parameters is None:
        return {k: v for k, v in valid.items() if k != "Intercept"}
    out: dict[str, str] = {}
    for name in as_list(parameters):
        key = name[5:-1] if name.startswith("beta[") and name.endswith("]") else name
        if key not in valid:
            raise DataError(f"`parameters` names {name!r}, which is not a parameter of this "
                            f"model; the parameters are {', '.join(valid)}.")
        out[key] = valid[key]
    return out


def _draws(post: Any, name: str, design: Design) -> np.ndarray:
    """``(chain, draw)`` draws of a reported parameter."""
    da = post["beta"].sel(term=name) if name in design.terms else post[name]
    return np.asarray(da.values, dtype=float)


def _summarise(draws: np.ndarray, weights: np.ndarray | None, level: float,
               ess: float) -> dict[str, float]:
    x = draws.reshape(-1)
    probs = np.array([0.5 - level / 2, 0.5 + level / 2])
    if weights is None:
        mean, sd = x.mean(), x.std(ddof=1)
        lo, hi = np.quantile(x, probs)
    else:
        mean = float(np.sum(weights * x))
        sd = float(np.sqrt(np.sum(weights * (x - mean) ** 2)))
        order = np.argsort(x)
        cdf = np.cumsum(weights[order]) - weights[order] / 2
        lo, hi = np.interp(probs, cdf, x[order])
    return {"mean": float(mean), "sd": float(sd), "lower": float(lo), "upper": float(hi),
            "ess": float(ess)}


@dataclass(frozen=True, eq=False, kw_only=True)
class PriorSensitivity(TableResult):
    """Result of :func:`prior_sensitivity` (a :class:`~sosstats._results.TableResult`).

    ``tidy()``, ``summary()``, ``to_dict()`` and ``str()`` show :attr:`shifts` without its
    ``note`` column (the notes are the summary's); ``tidy(level=)`` accepts only the level the
    intervals of :attr:`table` were computed at.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by ``(parameter, scale)``: ``mean, sd, lower, upper, ess, shift, shift_mcse,
        sd_ratio, pareto_k`` (``pareto_k`` NaN when refitting).
    shifts : pandas.DataFrame
        One row per parameter: ``level`` (the level it describes, ``row`` for unit-level
        terms), base ``mean`` and ``sd``, ``shift_x<c>`` per factor, ``max_abs_shift``,
        ``flag``, ``note``.
    scales, method, threshold, level
        Factors (1 included), ``"refit"`` or ``"power"``, the flagging threshold (base
        posterior sds) and the credible level of ``lower`` / ``upper``.
    scaled : tuple of str
        Names of the priors whose scales were multiplied.
    priors, results : dict
        Factor -> the :class:`Priors` used, and -> the :class:`MultilevelResult` (refits;
        only the base fit for ``"power"``).
    """

    table: pd.DataFrame
    shifts: pd.DataFrame
    scales: tuple[float, ...]
    method: str
    threshold: float
    level: float
    scaled: tuple[str, ...]
    priors: dict[float, Priors] = field(repr=False)
    results: dict[float, MultilevelResult] = field(repr=False)

    @property
    def flagged(self) -> list[str]:
        """Parameters whose posterior mean moves by more than ``threshold`` sds."""
        return list(self.shifts.index[self.shifts["flag"]])

    def to_frame(self) -> pd.DataFrame:
        """Return the long table, by parameter and scale (a copy)."""
        return self.table.copy()

    # -- TableResult ------------------------------------------------------------------------
    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return self.shifts.drop(columns="note")

    def _title(self) -> str:
        return "Prior sensitivity"

    def _notes(self) -> list[str]:
        notes = [f"Scales of {len(self.scaled)} priors multiplied by "
                 f"{', '.join(f'{c:g}' for c in self.scales)} ({self.method}); shift = change "
                 "of the posterior mean in posterior sds at scale 1; flagged above "
                 f"{self.threshold:g}."]
        if self.method == "power":
            k = self.table["pareto_k"].groupby(level="scale").max()
            notes.append("Pareto k of the importance weights: "
                         + ", ".join(f"x{c:g}: {v:.2f}" for c, v in k.items() if c != 1.0))
        return notes + [f"{p}: {n}" for p, n in self.shifts["note"].items() if n]

    __repr__ = TableResult.__str__

    def plot(self, ax: Any = None) -> Any:
        r"""Forest of each parameter's posterior per scale, standardised by the base posterior.

        Points are :math:`(m_c - m_1)/s_1` with the credible interval on the same scale; the
        shaded band is :math:`\pm` ``threshold``. Returns the matplotlib ``Axes``.
        """
        names = list(self.shifts.index)
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 1.0 + 0.45 * len(names) * len(self.scales) ** 0.5))
        base = self.shifts
        offsets = np.linspace(0.25, -0.25, len(self.scales))  # first scale on top
        for k, c in enumerate(self.scales):
            t = self.table.xs(c, level="scale").reindex(names)
            m, s = base["mean"].to_numpy(), base["sd"].to_numpy()
            pos = -np.arange(len(names)) + offsets[k]
            centre = (t["mean"].to_numpy() - m) / s
            ax.errorbar(centre, pos, xerr=[centre - (t["lower"].to_numpy() - m) / s,
                                           (t["upper"].to_numpy() - m) / s - centre],
                        fmt="o", ms=4, lw=1, color=f"C{k}", label=f"prior scale x{c:g}")
        ax.axvspan(-self.threshold, self.threshold, color="grey", alpha=0.15, lw=0)
        ax.axvline(0.0, color="grey", lw=0.8, ls="--")
        ax.set_yticks(-np.arange(len(names)))
        ax.set_yticklabels(names, fontsize=8)
        ax.set_xlabel("(posterior - base mean) / base sd")
        ax.set_title("Prior sensitivity")
        ax.legend(frameon=False, fontsize=8, loc="best")
        return ax


def _refit(model: MultilevelModel, priors: Priors, fit_kwargs: dict[str, Any],
           c: float, problems: dict[float, list[str]],
           others: dict[tuple[type, str], warnings.WarningMessage]) -> MultilevelResult:
    """Refit with ``priors``; keep its warnings for :func:`_warn_once` instead of showing them."""
    new = model.with_priors(priors)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = new.fit(**fit_kwargs)
    for w in caught:
        if issubclass(w.category, SosstatsWarning):
            problems.setdefault(c, []).append(str(w.message))
        else:
            others.setdefault((w.category, str(w.message)), w)
    return res


def _warn_once(problems: dict[float, list[str]],
               others: dict[tuple[type, str], warnings.WarningMessage], n_refits: int) -> None:
    """One warning for the refits' convergence problems, and each other warning once."""
    for w in others.values():
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if problems:
        lines = [f"prior scale x{c:g}: {msg}" for c, msgs in problems.items() for msg in msgs]
        warnings.warn(f"convergence checks failed in {len(problems)} of {n_refits} refit(s) "
                      "(see each one's diagnostics() in .results):\n" + "\n".join(lines),
                      SosstatsWarning, stacklevel=3)


def prior_sensitivity(model: MultilevelModel, *, scales: Sequence[float] = (0.5, 1.0, 2.0),
                      parameters: str | Sequence[str] | None = None,
                      priors: str | Sequence[str] | None = None, method: str = "refit",
                      base: MultilevelResult | None = None, threshold: float = 0.5,
                      level: float = 0.95, draws: int = 1000, tune: int = 1000,
                      chains: int = 4, rng: int | np.random.Generator | None = None,
                      sampler: str = "auto", progress: bool | None = None,
                      likelihood: str = "auto") -> PriorSensitivity:
    """Refit ``model`` with its prior scales multiplied by each factor and compare posteriors.

    Parameters
    ----------
    model : MultilevelModel
        The model with its base priors (factor 1); not modified.
    scales : sequence of float, default (0.5, 1, 2)
        Positive factors; 1 is added when missing.
    parameters : str or list of str, optional
        Quantities reported: design terms (``"cohort"``, ``"Intercept"``), ``sigma_<level>``,
        ``slope_sigma_<level>_<term>``, ``sigma``, ``alpha``. Default: every level sd and
        random-slope sd and every fixed effect but the intercept.
    priors : str or list of str, optional
        Priors whose scales are multiplied (see :func:`scale_priors`); default all.
    method : {"refit", "power"}, default ``"refit"``
        Sample again for each factor, or importance-weight the base draws (see Notes).
    base : MultilevelResult, optional
        An existing fit of ``model`` (same priors), used for factor 1 instead of refitting.
    threshold : float, default 0.5
        Flag parameters whose posterior mean moves by more than this many base posterior sds.
    level : float, default 0.95
        Credible level of the equal-tailed intervals.
    draws, tune, chains, rng, sampler, likelihood
        Passed to :meth:`MultilevelModel.fit` (every refit uses the same seed, drawn from
        ``rng``; ``likelihood="census"`` fits, which do not reuse compiled models, compile
        at each refit).
    progress : bool, optional
        Refit counter on stderr (default: shown once refitting takes more than 2 s).

    Returns
    -------
    PriorSensitivity
        ``.shifts`` (one row per parameter, with ``flag`` and ``note``), ``.table`` (by
        parameter and scale), ``str()`` / ``.summary()``, ``.plot()``.

    Raises
    ------
    DataError
        Non-positive or non-numeric scales, unknown parameter or prior names, a ``base`` not
        fitted from ``model``, a bad ``method`` or ``threshold``.

    Warns
    -----
    SosstatsWarning
        Once per call: the refits' convergence problems, one line per problem prefixed with
        its factor; with ``"power"``, the factors whose importance weights have a Pareto k
        above 0.7. Other warnings of the refits are shown once each.

    Notes
    -----
    See :mod:`sosstats.multilevel.sensitivity` for the maths and references.

    Examples
    --------
    >>> sens = prior_sensitivity(model, draws=500, tune=500, chains=2, rng=1)  # doctest: +SKIP
    >>> print(sens)  # doctest: +SKIP
    >>> sens.flagged  # doctest: +SKIP
    """
    if not isinstance(model, MultilevelModel):
        raise DataError(f"`model` must be a MultilevelModel; got {type(model).__name__}.")
    check_option(method, METHODS, "method")
    factors = check_scales(scales)
    if not (isinstance(threshold, (int, float)) and threshold > 0):
        raise DataError(f"`threshold` must be a positive number; got {threshold!r}.")
    level = check_level(level)
    design = model.design
    params = _parameters(design, parameters)
    targets = prior_targets(model.priors, priors)
    if base is not None and not (isinstance(base, MultilevelResult)
                                 and base.formula == model.formula and base.nobs == model.nobs
                                 and base.priors.to_dict() == model.priors.to_dict()):
        raise DataError("`base` must be a MultilevelResult fitted from `model` with its "
                        "priors (same formula, rows and priors).")
    seed = int(check_rng(rng).integers(0, 2 ** 31 - 1))
    fit_kwargs = {"draws": draws, "tune": tune, "chains": chains, "rng": seed,
                  "sampler": sampler, "progress": False, "level": level,
                  "likelihood": likelihood}
    scaled = {c: scale_priors(model.priors, c, targets) for c in factors}
    todo = [c for c in factors if method == "refit" or c == 1.0]
    todo = [c for c in todo if not (c == 1.0 and base is not None)]
    bar = Progress(len(todo), progress, "prior sensitivity: refits")
    results: dict[float, MultilevelResult] = {} if base is None else {1.0: base}
    problems: dict[float, list[str]] = {}
    others: dict[tuple[type, str], warnings.WarningMessage] = {}
    for c in todo:
        results[c] = _refit(model, scaled[c], fit_kwargs, c, problems, others)
        bar.step()
    bar.close()
    _warn_once(problems, others, len(todo))
    records = _records(design, results, scaled, params, targets, factors, method, level)
    table = pd.DataFrame.from_records(records).set_index(["parameter", "scale"])
    return _finish(table, params, factors, method, float(threshold), level,
                   tuple(targets), scaled, results)


def _records(design: Design, results: dict[float, MultilevelResult],
             scaled: dict[float, Priors], params: dict[str, str], targets: list[str],
             factors: tuple[float, ...], method: str, level: float) -> list[dict[str, Any]]:
    import arviz as az

    post1 = results[1.0].idata.posterior
    records = []
    unreliable: dict[float, float] = {}
    if method == "power":
        lp1 = sum(prior_logpdf(scaled[1.0][n], prior_draws(post1, n)).sum(axis=1) for n in targets)
    for c in factors:
        post = results[c].idata.posterior if method == "refit" else post1
        weights, k = None, np.nan
        if method == "power" and c != 1.0:
            lpc = sum(prior_logpdf(scaled[c][n], prior_draws(post1, n)).sum(axis=1)
                      for n in targets)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lw, k = az.psislw(np.asarray(lpc - lp1, dtype=float))
            weights = np.exp(lw - np.max(lw))
            weights /= weights.sum()
            k = float(k)
            if k > 0.7:
                unreliable[c] = k
        for name in params:
            x = _draws(post, name, design)
            ess = float(az.ess(x))
            if weights is not None:
                ess = ess / (x.size * float(np.sum(weights ** 2)))
            rec: dict[str, Any] = {"parameter": name, "scale": c}
            rec.update(_summarise(x, weights, level, ess))
            rec["pareto_k"] = k
            records.append(rec)
    if unreliable:  # one warning for every unreliable factor
        which = ", ".join(f"x{c:g}" for c in unreliable)
        ks = ", ".join(f"{k:.2f}" for k in unreliable.values())
        plural = "s" if len(unreliable) > 1 else ""
        warnings.warn(f"importance weights for prior scale{plural} {which} are unreliable "
                      f"(Pareto k = {ks} > 0.7); use method='refit'.", SosstatsWarning,
                      stacklevel=3)
    return records


def _finish(table: pd.DataFrame, params: dict[str, str], factors: tuple[float, ...],
            method: str, threshold: float, level: float, targets: tuple[str, ...],
            scaled: dict[float, Priors],
            results: dict[float, MultilevelResult]) -> PriorSensitivity:
    base = table.xs(1.0, level="scale").reindex(list(params))
    m1 = base["mean"].reindex(table.index, level="parameter").to_numpy()
    s1 = base["sd"].reindex(table.index, level="parameter").to_numpy()
    e1 = base["ess"].reindex(table.index, level="parameter").to_numpy()
    table["shift"] = (table["mean"].to_numpy() - m1) / s1
    table["shift_mcse"] = np.sqrt(table["sd"] ** 2 / table["ess"] + s1 ** 2 / e1) / s1
    table.loc[table.index.get_level_values("scale") == 1.0, "shift_mcse"] = 0.0
    table["sd_ratio"] = table["sd"].to_numpy() / s1
    table = table[["mean", "sd", "lower", "upper", "ess", "shift", "shift_mcse", "sd_ratio",
                   "pareto_k"]]
    shifts = pd.DataFrame({"level": pd.Series(params), "mean": base["mean"],
                           "sd": base["sd"]})
    shifts.index.name = "parameter"
    wide = table["shift"].unstack("scale").reindex(list(params))
    for c in factors:
        if c != 1.0:
            shifts[f"shift_x{c:g}"] = wide[c]
    shifts["max_abs_shift"] = wide.abs().max(axis=1)
    shifts["flag"] = shifts["max_abs_shift"] > threshold
    shifts["note"] = [
        ("" if not flag else "conclusion depends on the prior" if lev == "row"
         else f"{lev}-level conclusion depends on the prior")
        for lev, flag in zip(shifts["level"], shifts["flag"])]
    return PriorSensitivity(table=table, shifts=shifts, scales=factors, method=method,
                            threshold=threshold, level=level, scaled=targets, priors=scaled,
                            results=results)

r"""Simulation-based calibration (SBC) of Bayesian models.

If a model is implemented correctly and its sampler is exact, then drawing a parameter
:math:`\theta^\ast \sim p(\theta)` from the prior, data :math:`y \sim p(y \mid \theta^\ast)`
and :math:`L` posterior draws :math:`\theta_1, \dots, \theta_L \sim p(\theta \mid y)` makes
the rank :math:`r = \#\{l : \theta_l < \theta^\ast\}` uniform on :math:`0, \dots, L`, because
:math:`\theta^\ast` and the draws are then exchangeable draws from the joint
:math:`p(\theta, y)` given :math:`y` (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).
:func:`sbc` runs that loop on any model (a prior sampler, a data simulator and a fit
returning posterior draws: e.g. a :class:`sosstats.multilevel.MultilevelModel` fit), and
:class:`SBCResult` tests the uniformity of the ranks and draws them. See ``docs/design.md``.
"""

from __future__ import annotations

import math
import re
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._multiplicity import holm
from sosstats._results import TableResult
from sosstats._validate import check_int
from sosstats.errors import DataError, DesignError

__all__ = ["SBCResult", "sbc", "posterior_draws"]

_NAME = re.compile(r"^(?P<var>[^\[\]]+)(\[(?P<label>.+)\])?$")


# -- posterior draws from sosstats results / InferenceData ---------------------------------------
def posterior_draws(fit: Any, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Draws ``(chains, draws)`` of named scalar quantities of a posterior.

    Parameters
    ----------
    fit : Bayesian sosstats result, arviz InferenceData or mapping
        A result with ``.idata`` (e.g. ``MultilevelModel(...).fit()``), an ``InferenceData``
        (its ``posterior`` group), or a mapping of name to draws.
    names : list of str
        ``"sigma_grp"`` (a scalar variable), ``"beta[x]"`` (the element of variable ``beta``
        whose coordinate label is ``x``, e.g. a term) or ``"u_grp[0]"`` (by position when no
        coordinate has that label).

    Returns
    -------
    dict of numpy.ndarray
        ``name -> (chains, draws)`` array.

    Raises
    ------
    DataError
        A variable or label not in the posterior, or a variable that is not scalar per draw
        when no label is given.
    """
    post = getattr(getattr(fit, "idata", fit), "posterior", None)
    if post is None:
        if isinstance(fit, Mapping):
            return {n: np.asarray(fit[n], dtype=float) for n in names}
        raise DataError("`fit` must be a result with .idata, an InferenceData or a mapping of "
                        f"draws; got {type(fit).__name__}.")
    out = {}
    for name in names:
        m = _NAME.match(name)
        var = m.group("var") if m else name
        if var not in post:
            raise DataError(f"posterior has no variable {var!r} (for {name!r}); it has "
                            f"{', '.join(map(str, post.data_vars))}.")
        arr = post[var]
        extra = [d for d in arr.dims if d not in ("chain", "draw")]
        label = m.group("label") if m else None
        if label is None:
            if extra:
                raise DataError(f"{var!r} has dimensions {extra}: name one element, e.g. "
                                f"{var}[{arr[extra[0]].values[0]}].")
            out[name] = np.asarray(arr.values, dtype=float)
            continue
        if len(extra) != 1:
            raise DataError(f"{name!r}: {var!r} must have one dimension besides chain and draw; "
                            f"it has {extra}.")
        dim = extra[0]
        labels = [str(v) for v in arr[dim].values]
        if label in labels:
            out[name] = np.asarray(arr.isel({dim: labels.index(label)}).values, dtype=float)
        elif label.lstrip("-").isdigit() and -len(labels) <= int(label) < len(labels):
            out[name] = np.asarray(arr.isel({dim: int(label)}).values, dtype=float)
        else:
            raise DataError(f"{name!r}: {label!r} is neither a label of {dim!r} "
                            f"({', '.join(labels[:8])}) nor a position.")
    return out


def _flatten(values: Mapping[str, Any], what: str) -> dict[str, tuple[float, tuple[int, ...]]]:
    """Prior draw ``{name: scalar or array}`` -> ``{name[i,j]: (value, index)}``."""
    out = {}
    for name, v in values.items():
        arr = np.asarray(v, dtype=float)
        if arr.ndim == 0:
            out[str(name)] = (float(arr), ())
        else:
            for idx in np.ndindex(arr.shape):
                out[f"{name}[{','.join(map(str, idx))}]"] = (float(arr[idx]), idx)
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{what} gave a non-finite value for {name!r}.")
    return out


# -- one simulation ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Task:
    prior: Callable[[np.random.Generator], Mapping[str, Any]]
    simulate: Callable[[Mapping[str, Any], np.random.Generator], Any]
    fit: Callable[[Any, np.random.Generator], Any]
    parameters: tuple[str, ...] | None
    thin: int
    entropy: int
    spawn_key: tuple[int, ...]

    def gen(self, i: int, stream: int) -> np.random.Generator:
        seq = np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key + (i, stream))
        return np.random.Generator(np.random.PCG64(seq))

    def __call__(self, i: int) -> tuple[int, dict[str, tuple[int, int]] | None, str]:
        try:
            g = self.gen(i, 0)
            theta = self.prior(g)
            if not isinstance(theta, Mapping):
                raise DataError(f"`prior` must return a dict of parameter values; got "
                                f"{type(theta).__name__}.")
            truth = _flatten(theta, "`prior`")
            data = self.simulate(theta, g)
            fitted = self.fit(data, g)
            names = list(self.parameters) if self.parameters is not None else list(theta)
            if self.parameters is not None:
                truth = {k: v for k, v in truth.items()
                         if k in names or k.split("[")[0] in names}
            is_posterior = hasattr(getattr(fitted, "idata", fitted), "posterior")
            draws = (posterior_draws(fitted, list(truth)) if is_posterior else fitted)
            if not isinstance(draws, Mapping):
                raise DataError("`fit` must return a dict of draws, a result with .idata or "
                                f"an InferenceData; got {type(fitted).__name__}.")
            jitter = self.gen(i, 1)
            ranks = {}
            for key, (value, idx) in truth.items():
                base = key if key in draws else key.split("[")[0]
                if base not in draws:
                    raise DataError(f"`fit` returned no draws of {base!r}; it returned "
                                    f"{', '.join(map(str, draws))}.")
                d = np.asarray(draws[base], dtype=float)
                if base != key:
                    d = d[(Ellipsis, *idx)]
                kept = _thin(d, self.thin)
                below = int(np.sum(kept < value))
                ties = int(np.sum(kept == value))
                ranks[key] = (below + (int(jitter.integers(0, ties + 1)) if ties else 0),
                              int(kept.size))
            return i, ranks, ""
        except Exception as exc:  # noqa: BLE001 - counted, reported
            return i, None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"


def _thin(d: np.ndarray, thin: int) -> np.ndarray:
    """Every ``thin``-th draw of each chain: ``(draws,)`` or ``(chains, draws)``."""
    if d.ndim == 1:
        return d[::thin]
    if d.ndim == 2:
        return d[:, ::thin].ravel()
    raise DataError(f"posterior draws of a scalar must be (draws,) or (chains, draws); got "
                    f"shape {d.shape}.")


def _run_pool(task: _Task, n: int, n_jobs: int) -> list[tuple[int, Any, str]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n_jobs, mp_context=ctx) as pool:
        return list(pool.map(task, range(n), chunksize=max(1, n // (4 * n_jobs))))


# -- result --------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class SBCResult(TableResult):
    r"""Ranks of prior draws among posterior draws and their uniformity tests.

    Attributes
    ----------
    ranks : pandas.DataFrame
        One row per successful simulation, one integer column per parameter: the rank
        :math:`r \in \{0, ..., L\}`.
    n_draws : pandas.DataFrame
        :math:`L`, the thinned posterior draws behind each rank (same shape).
    uniform : pandas.DataFrame
        Jittered normalised ranks :math:`u = (r + V)/(L + 1)`, :math:`V \sim U(0, 1)`: exactly
        uniform on (0, 1) under calibration, whatever :math:`L`.
    failures : pandas.DataFrame
        ``simulation, error`` of simulations whose prior, simulator or fit failed.
    bins : int
        Bins of the chi-square test and the histogram.
    seed : int
        Root entropy; simulation ``i`` drew from ``SeedSequence(seed).spawn(n)[i]``'s children.
    """

    ranks: pd.DataFrame
    n_draws: pd.DataFrame
    uniform: pd.DataFrame
    failures: pd.DataFrame
    bins: int
    seed: Any
    n_simulations: int = 0
    thin: int = 1
    timing: dict[str, float] = field(default_factory=dict)
    method: str = "simulation-based calibration (Talts et al. 2018)"

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        rows = {}
        for name in self.ranks.columns:
            u = self.uniform[name].to_numpy(float)
            n = u.size
            counts = np.bincount(np.minimum((u * self.bins).astype(int), self.bins - 1),
                                 minlength=self.bins)
            chi = stats.chisquare(counts)
            ks = stats.kstest(u, "uniform")
            rows[name] = {"n": n, "draws": int(np.median(self.n_draws[name])),
                          "mean_rank": float(u.mean()),
                          "mean_rank_mcse": math.sqrt(1 / 12 / n),
                          "chisq": float(chi.statistic), "df": self.bins - 1,
                          "p_value": float(chi.pvalue), "ks_statistic": float(ks.statistic),
                          "ks_p_value": float(ks.pvalue)}
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "parameter"
        if len(table):
            table["p_holm"] = holm(np.minimum(2 * np.minimum(table["p_value"],
                                                             table["ks_p_value"]), 1.0))
        return table

    def _title(self) -> str:
        return (f"SBCResult: {len(self.ranks):,} of {self.n_simulations:,} simulations, "
                f"{self.bins} bins")

    def _notes(self) -> list[str]:
        notes = ["Under calibration each rank is uniform on 0..L: chi-square of the "
                 f"{self.bins}-bin histogram of u = (r + V)/(L + 1) (df = bins - 1), "
                 "Kolmogorov-Smirnov of u against U(0, 1); mean_rank 0.5 +/- mean_rank_mcse.",
                 "p_holm: Holm over parameters of min(1, 2 min(p_value, ks_p_value)) "
                 "(Bonferroni over the two tests).",
                 f"Seed: rng={self.seed}; posterior draws thinned by {self.thin}."]
        if len(self.failures):
            notes.append(f"{len(self.failures)} simulation(s) failed (see .failures): "
                         f"{self.failures['error'].iloc[0].splitlines()[0]}")
        return notes

    def plot(self, kind: str = "hist", *, parameters: Sequence[str] | None = None,
             axes: Any = None, level: float = 0.99):
        """Rank histograms (``"hist"``) or ECDF differences (``"ecdf"``), one panel each.

        ``"hist"``: counts in ``bins`` bins with the central ``level`` band of the
        Binomial(n, 1/bins) count (Talts et al. 2018, fig. 1); ``"ecdf"``: :math:`F_n(x) - x`
        of the normalised ranks with the pointwise ``level`` band of a Binomial(n, x)/n ECDF
        (Säilynoja, Bürkner & Vehtari 2022 give simultaneous bands, which are wider).

        Parameters
        ----------
        kind : {"hist", "ecdf"}
            Which picture.
        parameters : sequence of str, optional
            Parameters to draw (default all), one panel each.
        axes : array of matplotlib Axes, optional
            Axes to draw into, one per parameter; by default a new figure.
        level : float
            Level of the grey band.

        Returns
        -------
        matplotlib.figure.Figure or numpy.ndarray of matplotlib Axes
            The new Figure (it indexes like the array of Axes this used to return:
            ``fig[0, 0]``, ``fig.shape``, ``fig.panels``); with ``axes`` given, those ``axes``.
        """
        from sosstats._plotting import new_figure

        if kind not in ("hist", "ecdf"):
            raise DataError(f"`kind` must be 'hist' or 'ecdf'; got {kind!r}.")
        names = list(parameters) if parameters is not None else list(self.ranks.columns)
        unknown = [p for p in names if p not in self.ranks.columns]
        if unknown:
            raise DataError(f"`parameters` {unknown} are not in the result: "
                            f"{list(self.ranks.columns)}.")
        fig = None
        if axes is None:
            cols = min(4, len(names))
            rows = math.ceil(len(names) / cols)
            fig, axes = new_figure(rows, cols, figsize=(3.2 * cols, 2.6 * rows))
        axes_flat = np.asarray(axes).ravel()
        for ax, name in zip(axes_flat, names):
            u = self.uniform[name].to_numpy(float)
            n = u.size
            if kind == "hist":
                b = self.bins
                lo, hi = stats.binom.interval(level, n, 1 / b)
                ax.axhspan(lo, hi, color="grey", alpha=0.25, lw=0)
                ax.axhline(n / b, color="grey", lw=1)
                ax.hist(u, bins=b, range=(0, 1), color="C0", edgecolor="white")
                ax.set_xlabel("normalised rank")
            else:
                x = np.linspace(0, 1, 201)
                ecdf = np.searchsorted(np.sort(u), x, side="right") / n
                lo = stats.binom.ppf((1 - level) / 2, n, x) / n - x
                hi = stats.binom.ppf((1 + level) / 2, n, x) / n - x
                ax.fill_between(x, lo, hi, color="grey", alpha=0.25, lw=0)
                ax.axhline(0, color="grey", lw=1)
                ax.plot(x, ecdf - x, color="C0")
                ax.set_xlabel("normalised rank")
                ax.set_ylabel("ECDF - uniform")
            ax.set_title(name, fontsize=9)
        for ax in axes_flat[len(names):]:
            ax.set_visible(False)
        return axes if fig is None else fig


# -- the function --------------------------------------------------------------------------------
def sbc(prior: Callable[[np.random.Generator], Mapping[str, Any]],
        simulate: Callable[[Mapping[str, Any], np.random.Generator], Any],
        fit: Callable[[Any, np.random.Generator], Any], n_simulations: int, *,
        parameters: Sequence[str] | None = None, thin: int = 1, bins: int | None = None,
        rng: int | np.random.SeedSequence | np.random.Generator | None = None,
        n_jobs: int | None = None, max_failures: float = 0.2) -> SBCResult:
    r"""Check a Bayesian model by simulation-based calibration.

    Are the ranks of prior draws among posterior draws uniform?

    Parameters
    ----------
    prior : callable
        ``prior(rng) -> {name: value}``: one draw of the parameters from the prior the model
        uses (scalars or arrays; an array gives one ranked quantity per element,
        ``"u[0]"``...).
    simulate : callable
        ``simulate(theta, rng) -> data``: data from the model's likelihood given the draw.
    fit : callable
        ``fit(data, rng) -> draws``: a mapping ``{name: array}`` of posterior draws (shape
        ``(draws,)`` or ``(chains, draws)``, then the parameter's own shape), or a Bayesian
        sosstats result / ``InferenceData`` whose ``posterior`` holds the names (see
        :func:`posterior_draws`: ``"beta[x]"`` is the element labelled ``x``). Seed the
        sampler from ``rng`` (e.g. ``rng=int(rng.integers(2**31))``).
    n_simulations : int
        Simulations (at least 2; 100 to 1,000 in practice).
    parameters : list of str, optional
        Which of the prior's names to rank (default all).
    thin : int, default 1
        Keep every ``thin``-th draw of each chain: autocorrelated draws make the ranks of a
        correct model non-uniform (too many at the ends), so thin to roughly independent
        draws (Talts et al. recommend thinning to the effective sample size).
    bins : int, optional
        Bins of the chi-square test and histogram; default ``max(5, min(20, n // 10))``
        (about ten simulations per bin or more).
    rng : int, SeedSequence, Generator or None
        Root seed. Simulation ``i`` draws the prior, the data and the fit's seed from child
        ``(i, 0)`` and the rank tie-breaks from ``(i, 1)``, so results do not depend on
        ``n_jobs``.
    n_jobs : int, optional
        Run the simulations on a local process pool (``spawn``; the three functions must be
        picklable: module-level functions or classes). None or 1: in this process.
    max_failures : float, default 0.2
        Largest share of failed simulations tolerated; more raises DesignError (failures
        that depend on the parameters bias the ranks).

    Returns
    -------
    SBCResult
        ``tidy()``: per parameter ``n, draws, mean_rank, mean_rank_mcse, chisq, df, p_value,
        ks_statistic, ks_p_value, p_holm``; ``.ranks``; ``.uniform``; ``.plot()``.

    Raises
    ------
    DataError
        Arguments that are not callable, ``thin < 1``, draws missing from the fit.
    DesignError
        ``n_simulations < 2``; the first simulation failing (its error is shown); more
        failures than ``max_failures``.

    Notes
    -----
    For each simulation the rank is :math:`r = \#\{l : \theta_l < \theta^\ast\}` over the
    :math:`L` kept draws (ties broken at random); under calibration :math:`r` is discrete
    uniform on :math:`0, \dots, L` and :math:`u = (r + V)/(L + 1)` with :math:`V \sim U(0, 1)`
    is continuous uniform. The chi-square statistic of :math:`B` equal bins of :math:`u` is
    :math:`\sum_b (c_b - n/B)^2 / (n/B)` on :math:`B - 1` df; the KS test compares the ECDF of
    :math:`u` with the identity. A posterior too narrow (overconfident) piles ranks at both
    ends (a U); too wide, in the middle (a hump); biased, to one side. SBC checks the model
    *as implemented* against *its own prior*: it says nothing about whether the prior or
    likelihood suits the data.

    References
    ----------
    Talts, S., Betancourt, M., Simpson, D., Vehtari, A. and Gelman, A. (2018). Validating
    Bayesian inference algorithms with simulation-based calibration. arXiv:1804.06788.

    Modrák, M., Moon, A. H., Kim, S., Bürkner, P., Huurre, N., Faltejsková, K., Gelman, A. and
    Vehtari, A. (2023). Simulation-based calibration checking for Bayesian computation: the
    choice of test quantities shapes sensitivity. *Bayesian Analysis*.

    Examples
    --------
    A conjugate normal mean, whose posterior is sampled exactly:

    >>> import numpy as np
    >>> from sosstats.design.sbc import sbc
    >>> def prior(rng):
    ...     return {"mu": rng.normal(0.0, 2.0)}
    >>> def simulate(theta, rng):
    ...     return rng.normal(theta["mu"], 1.0, size=10)
    >>> def fit(y, rng):
    ...     prec = 1 / 4 + y.size
    ...     return {"mu": rng.normal(y.sum() / prec, prec ** -0.5, size=99)}
    >>> res = sbc(prior, simulate, fit, 200, rng=1)
    >>> bool(res.tidy()["p_value"].iloc[0] > 0.001)
    True
    """
    from sosstats.design._seeds import root_seed

    t0 = time.perf_counter()
    for name, f in (("prior", prior), ("simulate", simulate), ("fit", fit)):
        if not callable(f):
            raise DataError(f"`{name}` must be callable; got {type(f).__name__}.")
    n = check_int(n_simulations, "n_simulations", minimum=2)
    thin_v = check_int(thin, "thin", minimum=1)
    b = max(5, min(20, n // 10)) if bins is None else check_int(bins, "bins", minimum=2)
    if not (isinstance(max_failures, (int, float)) and 0 <= max_failures < 1):
        raise DataError(f"`max_failures` must be a share in [0, 1); got {max_failures!r}.")
    jobs = 1 if n_jobs is None else check_int(n_jobs, "n_jobs", minimum=1)
    root = root_seed(rng)
    task = _Task(prior, simulate, fit, None if parameters is None else tuple(parameters),
                 thin_v, root.entropy, tuple(root.spawn_key))
    first = task(0)
    if first[1] is None:
        raise DesignError("the first simulation failed, so SBC stopped. The error was "
                          f"{first[2]}")
    rest = (_run_pool(task, n, jobs)[1:] if jobs > 1 else [task(i) for i in range(1, n)])
    outs = [first, *rest]
    ok = [(i, r) for i, r, _ in outs if r is not None]
    fails = pd.DataFrame([(i, e) for i, r, e in outs if r is None],
                         columns=["simulation", "error"])
    if len(fails) > max_failures * n:
        raise DesignError(f"{len(fails)} of {n} simulations failed (more than max_failures = "
                          f"{max_failures:g}); the first: {fails['error'].iloc[0]}")
    names = list(ok[0][1])
    idx = pd.Index([i for i, _ in ok], name="simulation")
    ranks = pd.DataFrame({k: [r[k][0] for _, r in ok] for k in names}, index=idx)
    draws = pd.DataFrame({k: [r[k][1] for _, r in ok] for k in names}, index=idx)
    # jitter of the normalised ranks: one more child stream, in simulation order
    v = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
        root.entropy, spawn_key=tuple(root.spawn_key) + (n,)))).random(ranks.shape)
    uniform = (ranks.to_numpy(float) + v) / (draws.to_numpy(float) + 1)
    return SBCResult(ranks=ranks, n_draws=draws,
                     uniform=pd.DataFrame(uniform, index=idx, columns=names), failures=fails,
                     bins=b, seed=root.entropy, n_simulations=n, thin=thin_v,
                     timing={"wall_s": time.perf_counter() - t0})

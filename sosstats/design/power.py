r"""Power curves and minimum detectable effects by simulation.

:func:`power_curve` runs :func:`sosstats.design.simulate_study` at every point of a grid of
design parameters (effects x clusters x families ...) and tabulates, per point, the rejection
rate of one term (its power; its size where the truth is null) with the Monte Carlo standard
error :math:`\sqrt{\hat p(1 - \hat p)/n}`. :func:`minimum_detectable_effect` finds the smallest
effect whose power reaches a target, by interpolation on a simulated curve or by bisection,
and says how uncertain that is. See ``docs/design.md``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._results import TableResult
from sosstats._validate import check_int, check_level
from sosstats.errors import DataError, DesignError

__all__ = ["PowerCurveResult", "MDEResult", "power_curve", "minimum_detectable_effect",
           "combine_estimators"]

_TABLE_COLUMNS = ["n_ok", "n_failed", "power", "power_mcse", "power_lower", "power_upper",
                  "truth", "mean_estimate", "bias", "bias_mcse", "coverage", "coverage_mcse",
                  "mean_std_error", "empirical_sd"]


# -- several estimators on the same replicates --------------------------------------------------
@dataclass(frozen=True)
class _Combined:
    """Run several estimators on one data set; terms become ``"<name>: <term>"``."""

    estimators: tuple[tuple[str, Callable[[pd.DataFrame], Any]], ...]

    def __call__(self, data: pd.DataFrame) -> pd.DataFrame:
        frames = []
        for name, est in self.estimators:
            res = est(data)
            tidy = res if isinstance(res, pd.DataFrame) else res.tidy()
            part = tidy[["term", "estimate", "std_error", "p_value", "ci_lower",
                         "ci_upper"]].copy()
            part["term"] = name + ": " + part["term"].astype(str)
            frames.append(part)
        return pd.concat(frames, ignore_index=True)


def combine_estimators(estimators: Mapping[str, Callable[[pd.DataFrame], Any]]
                       ) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """One estimator that runs several on the same data (a paired comparison of methods).

    Parameters
    ----------
    estimators : dict
        ``{name: estimator}``; each ``estimator(data)`` returns a sosstats result or a tidy
        frame.

    Returns
    -------
    callable
        ``f(data)`` returning a tidy frame whose terms are ``"<name>: <term>"``. If one method
        fails, the replicate fails for all (so the methods are compared on the same data).
    """
    if not isinstance(estimators, Mapping) or not estimators:
        raise DataError("`estimators` must be a non-empty dict of name: estimator.")
    for name, est in estimators.items():
        if not callable(est):
            raise DataError(f"`estimators[{name!r}]` is not callable.")
    return _Combined(tuple((str(k), v) for k, v in estimators.items()))


def _methods(term: str) -> tuple[str, str]:
    name, _, rest = term.partition(": ")
    return (name, rest) if rest else ("", term)


# -- grids --------------------------------------------------------------------------------------
def _grid_frame(grid: Any) -> pd.DataFrame:
    if isinstance(grid, pd.DataFrame):
        if grid.empty or grid.shape[1] == 0:
            raise DataError("`grid` is an empty DataFrame; give one row per design.")
        frame = grid.reset_index(drop=True).copy()
    elif isinstance(grid, Mapping):
        if not grid:
            raise DataError("`grid` is empty; give e.g. {'effect': [0, 1, 2]}.")
        values = {}
        for key, vals in grid.items():
            if not isinstance(vals, (list, tuple, range, np.ndarray, pd.Series, pd.Index)):
                vals = [vals]
            vals = list(vals)
            if not vals:
                raise DataError(f"`grid[{key!r}]` is empty.")
            values[str(key)] = vals
        rows = list(itertools.product(*values.values()))
        frame = pd.DataFrame(rows, columns=list(values))
    else:
        raise DataError("`grid` must be a dict of lists (every combination is run) or a "
                        f"DataFrame (one row per design); got {type(grid).__name__}.")
    reserved = {"term", "method"} & set(frame.columns)
    if reserved:
        raise DataError(f"`grid` may not use the names {sorted(reserved)}.")
    return frame


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _point_seed(root: Any, i: int) -> np.random.SeedSequence:
    """Grid point ``i``'s root: ``SeedSequence(entropy).spawn(n_points)[i]``."""
    return np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + (int(i),),
                                  pool_size=root.pool_size)


# -- results ------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class PowerCurveResult(TableResult):
    """Power (rejection rate) of a term at every point of a grid of designs.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per grid point x term (x method when several estimators were compared):
        the grid's columns, ``term`` (and ``method``), ``n_ok, n_failed, power, power_mcse,
        power_lower, power_upper`` (``power +/- z * power_mcse`` at ``level``, clipped to
        [0, 1]), ``truth, mean_estimate, bias, bias_mcse, coverage, coverage_mcse,
        mean_std_error, empirical_sd``.
    grid : pandas.DataFrame
        The grid, one row per design.
    results : tuple of SimulationResult
        The study at each grid point, in grid order (``.replicates`` for everything).
    n_replicates : int
    alpha, level : float
    seed : int
        Root entropy; grid point ``i`` used ``SeedSequence(seed).spawn(n_points)[i]`` as its
        root, so a point's numbers depend on its position and the seed, not on the other
        points' values.
    """

    table: pd.DataFrame
    grid: pd.DataFrame
    results: tuple[Any, ...]
    n_replicates: int
    seed: Any
    alpha: float = 0.05
    level: float = 0.95
    terms: tuple[str, ...] = ()
    method: str = "power by simulation"
    timing: dict[str, float] = field(default_factory=dict)

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return self.table.copy()

    def _title(self) -> str:
        return (f"PowerCurveResult: {len(self.grid)} designs x {self.n_replicates:,} "
                f"replicates, rejection at alpha = {self.alpha:g}")

    def _notes(self) -> list[str]:
        return [f"power_mcse = sqrt(p(1 - p) / n_ok); power_lower/upper: power +/- "
                f"{stats.norm.ppf(0.5 + self.level / 2):.3g} x MCSE (level {self.level}).",
                f"Seed: rng={self.seed}; grid point i used SeedSequence(seed).spawn(points)[i]."
                f" Wall {self.timing.get('wall_s', float('nan')):.3g} s."]

    def plot(self, x: str | None = None, *, term: str | None = None, ax: Any = None,
             target: float | None = None):
        """Power against ``x`` (an effect or a number of clusters), one line per other factor.

        Error bars are ``+/- z * MCSE`` at the result's level; a dotted line marks the nominal
        size ``alpha`` and a dashed one the ``target`` power when given.

        Parameters
        ----------
        x : str, optional
            Grid column on the horizontal axis; default ``"effect"`` when in the grid, else
            the first column.
        term : str, optional
            Term to show (default: the first).
        ax : matplotlib Axes, optional
        target : float, optional
            Power to mark (e.g. 0.8).

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        cols = list(self.grid.columns)
        x = x or ("effect" if "effect" in cols else cols[0])
        if x not in cols:
            raise DataError(f"`x` must be a grid column ({', '.join(cols)}); got {x!r}.")
        term = term or self.terms[0]
        tab = self.table[self.table["term"] == term]
        if tab.empty:
            raise DataError(f"`term` {term!r} is not in the table; terms: {list(self.terms)}.")
        by = [c for c in cols + (["method"] if "method" in tab.columns else [])
              if c != x and tab[c].nunique(dropna=False) > 1]      # constant factors: no lines
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        z = stats.norm.ppf(0.5 + self.level / 2)
        groups = tab.groupby(by, sort=False, dropna=False) if by else [((), tab)]
        for key, part in groups:
            part = part.sort_values(x)
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(f"{b}={_plain(k)}" for b, k in zip(by, key)) or None
            ax.errorbar(part[x], part["power"], yerr=z * part["power_mcse"], marker="o",
                        capsize=3, label=label)
        ax.axhline(self.alpha, color="grey", ls=":", lw=1, label=f"alpha = {self.alpha:g}")
        if target is not None:
            ax.axhline(target, color="grey", ls="--", lw=1, label=f"target {target:g}")
        values = pd.to_numeric(tab[x], errors="coerce").to_numpy(dtype=float)
        if x != "effect" and values.size and np.all(np.isfinite(values)) \
                and np.allclose(values, np.round(values)):
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # counts: whole ticks
        ax.set_xlabel(x)
        ax.set_ylabel(f"power (rejection rate), {term}")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
        return ax

    def minimum_detectable_effect(self, target: float = 0.8, *, effect: str = "effect",
                                  term: str | None = None) -> MDEResult:
        """Interpolate this curve to the smallest ``effect`` with power ``target``."""
        return _mde_from_curve(self, target=target, effect=effect, term=term)


@dataclass(frozen=True, repr=False)
class MDEResult(TableResult):
    """Minimum detectable effect at a target power, with its Monte Carlo uncertainty.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per combination of the other grid factors (and method): ``mde`` (the
        interpolated effect at which power equals ``target``), ``mde_mcse`` (delta method:
        the MCSEs of the two bracketing power estimates carried through the interpolation),
        ``mde_lower`` / ``mde_upper`` (where the power band ``power -/+ z * MCSE`` crosses the
        target: effects the simulation cannot tell from the MDE), ``effect_below``,
        ``power_below``, ``effect_above``, ``power_above`` (the bracketing points) and
        ``note`` (empty, or why there is no MDE: the target is reached at the smallest effect
        simulated, or never).
    target : float
    curve : PowerCurveResult
        The simulations used.
    """

    table: pd.DataFrame
    target: float
    curve: PowerCurveResult
    term: str = ""
    method: str = "minimum detectable effect (interpolated)"

    def _table(self, level: float | None) -> pd.DataFrame:
        self.curve._fit_level(level)
        return self.table.copy()

    def _title(self) -> str:
        return f"MDEResult: smallest effect with power >= {self.target:g} for {self.term}"

    def _notes(self) -> list[str]:
        return ["Linear interpolation between the two simulated effects that bracket the target;"
                " mde_mcse by the delta method from their MCSEs (interpolation error not "
                "included: simulate more effects near the MDE to shrink it).",
                f"mde_lower/upper: where power -/+ z x MCSE crosses {self.target:g} "
                f"(level {self.curve.level})."]

    @property
    def mde(self) -> float:
        """The first row's MDE (the only one when nothing else varies)."""
        return float(self.table["mde"].iloc[0])


# -- power curve --------------------------------------------------------------------------------
def power_curve(design_factory: Callable[..., Any], estimator: Any = None,
                grid: Mapping[str, Sequence[Any]] | pd.DataFrame | None = None,
                n_replicates: int = 1000, *, term: str | Sequence[str] | None = None,
                level: float = 0.95, alpha: float = 0.05,
                rng: int | np.random.SeedSequence | np.random.Generator | None = None,
                n_jobs: int | None = None, client: Any = None, batch_size: int | None = None,
                progress: bool | None = None) -> PowerCurveResult:
    r"""Power of a test at every point of a grid of designs, by simulation.

    Parameters
    ----------
    design_factory : callable
        ``design_factory(**point) -> design``, e.g. :func:`~sosstats.design.designs.study_2017`
        or ``lambda effect, n: my_design(effect, n)``; the design is anything
        :func:`~sosstats.design.simulate_study` accepts (its ``truth`` is used).
    estimator : callable, dict or None
        ``estimator(data) -> result``; a dict ``{name: estimator}`` compares methods on the same
        replicates (:func:`combine_estimators`; the table gains a ``method`` column); None uses
        each design's ``estimator()``.
    grid : dict of lists or DataFrame
        ``{"effect": [0, 1, 2], "n_pilots": [10, 20]}`` runs every combination (in that order);
        a DataFrame runs its rows. Columns are ``design_factory``'s keyword arguments.
    n_replicates : int, default 1000
        Replicates per grid point.
    term : str or list of str, optional
        Term(s) whose rejection rate is reported (as the estimator's ``tidy()`` names them);
        default every term.
    level : float, default 0.95
        Interval level (coverage) and level of the power bands.
    alpha : float, default 0.05
        A replicate rejects when ``p_value <= alpha``.
    rng : int, SeedSequence, Generator or None
        Root seed. Grid point ``i`` runs ``simulate_study`` with the root
        ``SeedSequence(seed).spawn(n_points)[i]``; its replicates are that root's children.
    n_jobs, client, batch_size, progress
        Passed to :func:`~sosstats.design.simulate_study` at every grid point (process pool;
        Dask cluster; replicates per task; progress bar).

    Returns
    -------
    PowerCurveResult
        ``tidy()`` one row per point x term; ``.plot(x)``; ``.minimum_detectable_effect()``.

    Raises
    ------
    DataError
        A bad ``grid`` (empty, not a dict or DataFrame, a column named ``term``), a
        ``design_factory`` that is not callable or rejects a grid column, an unknown ``term``.
    DesignError
        ``n_replicates < 1`` and whatever a design or ``simulate_study`` refuses.

    Notes
    -----
    With :math:`n` replicates of which :math:`r` reject, the power estimate is
    :math:`\hat p = r/n` with Monte Carlo standard error :math:`\sqrt{\hat p(1 - \hat p)/n}`
    (Morris, White & Crowther 2019, table 6): 1,000 replicates give at most 0.016, 0.013 at
    80% power. To estimate power :math:`p` to within :math:`\pm w` with 95% confidence needs
    :math:`n \approx 1.96^2 p(1-p)/w^2` replicates. Points are independent (their seeds are
    distinct children), so differences between points have variance the sum of theirs.

    References
    ----------
    Morris, T. P., White, I. R. & Crowther, M. J. (2019). Using simulation studies to evaluate
    statistical methods. *Statistics in Medicine* 38(11), 2074-2102.
    """
    import time

    from sosstats.design._seeds import root_seed
    from sosstats.design.simulate import simulate_study

    t0 = time.perf_counter()
    if not callable(design_factory):
        raise DataError("`design_factory` must be a callable design_factory(**point) -> design;"
                        f" got {type(design_factory).__name__}.")
    if grid is None:
        raise DataError("`grid` is required: a dict of lists or a DataFrame of design rows.")
    frame = _grid_frame(grid)
    n = check_int(n_replicates, "n_replicates", minimum=1)
    level = check_level(level)
    terms = None if term is None else ([term] if isinstance(term, str) else list(term))
    est = combine_estimators(estimator) if isinstance(estimator, Mapping) else estimator
    combined = isinstance(est, _Combined)
    if est is not None and not callable(est):
        raise DataError("`estimator` must be a callable estimator(data) -> result, a dict of "
                        f"them, or None (the design's own); got {type(estimator).__name__}.")
    root = root_seed(rng)
    results, rows = [], []
    for i, point in enumerate(frame.to_dict(orient="records")):
        point = {k: _plain(v) for k, v in point.items()}
        try:
            design = design_factory(**point)
        except TypeError as exc:
            raise DataError(f"`design_factory` does not accept the grid point {point}: {exc}"
                            ) from exc
        point_est = est
        if point_est is None:
            make = getattr(design, "estimator", None)
            if not callable(make):
                raise DataError("`estimator` is None but the design has no estimator() "
                                "method; pass an estimator.")
            point_est = make()
        truth = None
        design_truth = getattr(design, "truth", None)
        if combined and isinstance(design_truth, Mapping):    # the truth of every method's term
            truth = {f"{name}: {t}": v for name, _ in est.estimators
                     for t, v in design_truth.items()}
        res = simulate_study(design, point_est, n, truth=truth, level=level, alpha=alpha,
                             rng=_point_seed(root, i), n_jobs=n_jobs, client=client,
                             batch_size=batch_size, progress=progress)
        results.append(res)
        tidy = res.tidy()
        if terms is not None:
            known = set(tidy["term"])
            absent = [t for t in terms if t not in known and not any(
                _methods(k)[1] == t for k in known)]
            if absent:
                raise DataError(f"`term` {absent} not reported by the estimator; its terms: "
                                f"{sorted(known)}.")
        for rec in tidy.to_dict(orient="records"):
            method, plain_term = _methods(rec["term"]) if combined else ("", rec["term"])
            if terms is not None and plain_term not in terms:
                continue
            rows.append({**rec, **point, **({"method": method} if combined else {}),
                         "term": plain_term, "_point": i})
    if not rows:
        raise DataError("the estimator reported no terms (its tidy() table was empty).")
    table = pd.DataFrame(rows)
    z = stats.norm.ppf(0.5 + level / 2)
    table = table.rename(columns={"rejection_rate": "power",
                                  "rejection_rate_mcse": "power_mcse"})
    table["power_lower"] = np.clip(table["power"] - z * table["power_mcse"], 0, 1)
    table["power_upper"] = np.clip(table["power"] + z * table["power_mcse"], 0, 1)
    keys = list(frame.columns) + (["method"] if combined else []) + ["term"]
    table = table[keys + _TABLE_COLUMNS].reset_index(drop=True)
    seen_terms = tuple(dict.fromkeys(table["term"]))
    return PowerCurveResult(table=table, grid=frame, results=tuple(results), n_replicates=n,
                            alpha=float(alpha), level=level, seed=root.entropy,
                            terms=seen_terms, timing={"wall_s": time.perf_counter() - t0})


# -- minimum detectable effect ------------------------------------------------------------------
def _crossing(e: np.ndarray, p: np.ndarray, target: float) -> tuple[int, float]:
    """Index j of the first point with p >= target (sorted by |e|) and the interpolated effect."""
    hit = np.flatnonzero(p >= target)
    if hit.size == 0:
        return -1, np.nan
    j = int(hit[0])
    if j == 0:
        return 0, np.nan
    e1, e2, p1, p2 = e[j - 1], e[j], p[j - 1], p[j]
    return j, float(e1 + (target - p1) * (e2 - e1) / (p2 - p1))


def _mde_rows(part: pd.DataFrame, effect: str, target: float, z: float) -> dict[str, Any]:
    part = part.assign(_abs=part[effect].abs()).sort_values("_abs", kind="stable")
    e = part[effect].to_numpy(float)
    p = part["power"].to_numpy(float)
    s = part["power_mcse"].to_numpy(float)
    j, mde = _crossing(e, p, target)
    out: dict[str, Any] = {"mde": mde, "mde_mcse": np.nan, "mde_lower": np.nan,
                           "mde_upper": np.nan, "effect_below": np.nan, "power_below": np.nan,
                           "effect_above": np.nan, "power_above": np.nan, "note": ""}
    if j == -1:
        out["note"] = f"power below {target:g} at every effect simulated (largest |effect| " \
                      f"{np.abs(e).max():g}): simulate larger effects"
    elif j == 0:
        out["note"] = f"power >= {target:g} already at the smallest |effect| simulated " \
                      f"({e[0]:g}): simulate smaller effects"
    else:
        e1, e2, p1, p2, s1, s2 = e[j - 1], e[j], p[j - 1], p[j], s[j - 1], s[j]
        d = (p2 - p1) ** 2
        g1 = -(e2 - e1) * (p2 - target) / d
        g2 = -(e2 - e1) * (target - p1) / d
        out.update(mde_mcse=float(math.sqrt(g1 ** 2 * s1 ** 2 + g2 ** 2 * s2 ** 2)),
                   effect_below=e1, power_below=p1, effect_above=e2, power_above=p2)
        # where the upper band reaches the target first, and where the lower band does
        _, lo = _crossing(e, np.minimum(p + z * s, 1), target)
        _, hi = _crossing(e, np.maximum(p - z * s, 0), target)
        out["mde_lower"], out["mde_upper"] = lo, hi
    return out


def _mde_from_curve(curve: PowerCurveResult, *, target: float, effect: str,
                    term: str | None) -> MDEResult:
    if not (isinstance(target, (int, float)) and 0 < float(target) < 1):
        raise DataError(f"`target` must be a power strictly between 0 and 1; got {target!r}.")
    if effect not in curve.grid.columns:
        raise DataError(f"`effect` must be a grid column ({', '.join(curve.grid.columns)}); "
                        f"got {effect!r}.")
    term = term or curve.terms[0]
    tab = curve.table[curve.table["term"] == term]
    if tab.empty:
        raise DataError(f"`term` {term!r} is not in the curve; terms: {list(curve.terms)}.")
    by = [c for c in curve.grid.columns if c != effect] + (
        ["method"] if "method" in tab.columns else [])
    z = stats.norm.ppf(0.5 + curve.level / 2)
    rows = []
    groups = tab.groupby(by, sort=False, dropna=False) if by else [((), tab)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), **_mde_rows(part, effect, float(target), z)})
    table = pd.DataFrame(rows)
    if by:
        table = table.set_index(by)
    return MDEResult(table=table, target=float(target), curve=curve, term=term)


def minimum_detectable_effect(design_factory: Callable[..., Any] | PowerCurveResult,
                              estimator: Any = None, *, effects: Sequence[float] | None = None,
                              bracket: tuple[float, float] | None = None,
                              target: float = 0.8, n_replicates: int = 1000,
                              term: str | None = None, effect: str = "effect",
                              fixed: Mapping[str, Any] | None = None, method: str = "grid",
                              tol: float | None = None, max_evaluations: int = 8,
                              level: float = 0.95, alpha: float = 0.05,
                              rng: int | np.random.SeedSequence | np.random.Generator | None = None,
                              n_jobs: int | None = None, client: Any = None,
                              batch_size: int | None = None,
                              progress: bool | None = None) -> MDEResult:
    r"""Find the smallest effect whose simulated power reaches ``target``.

    Parameters
    ----------
    design_factory : callable or PowerCurveResult
        ``design_factory(**{effect: value, **fixed}) -> design`` (as for :func:`power_curve`);
        or a curve already simulated, which is interpolated (nothing is run).
    estimator : callable, dict or None
        As for :func:`power_curve`.
    effects : sequence of float, optional
        ``method="grid"``: the effects to simulate (same sign; power should rise with
        ``|effect|``). Put several near the expected MDE.
    bracket : (float, float), optional
        ``method="bisect"``: effects with power below and above the target.
    target : float, default 0.8
        The power to reach.
    n_replicates : int, default 1000
        Replicates per simulated effect.
    term : str, optional
        The term tested (default the estimator's first).
    effect : str, default "effect"
        Name of the effect argument of ``design_factory``.
    fixed : dict, optional
        The other arguments of ``design_factory`` (a value or a list each: lists give one MDE
        per combination).
    method : {"grid", "bisect"}, default "grid"
        ``"grid"``: simulate ``effects`` and interpolate; ``"bisect"``: simulate the bracket's
        ends, then the midpoint of the current bracket (the half whose ends straddle the
        target) until it is narrower than ``tol`` or ``max_evaluations`` effects have been
        simulated, then interpolate over all of them.
    tol : float, optional
        Bisection stops when the bracket is narrower (default: 2% of its initial width).
    max_evaluations : int, default 8
        Most effects simulated by bisection.
    level, alpha, rng, n_jobs, client, batch_size, progress
        As for :func:`power_curve`. Under bisection the k-th effect simulated uses the seed
        child k.

    Returns
    -------
    MDEResult
        ``.mde``, ``tidy()`` (``mde, mde_mcse, mde_lower, mde_upper``, bracketing points,
        ``note``), ``.curve`` (the simulations).

    Notes
    -----
    Between the simulated effects :math:`e_1 < e_2` (in :math:`|e|`) whose powers
    :math:`\hat p_1 < \pi \le \hat p_2` bracket the target :math:`\pi`,

    .. math:: \widehat{\mathrm{MDE}} = e_1 + (\pi - \hat p_1)\frac{e_2 - e_1}{\hat p_2 - \hat p_1},

    and since the points are independent, the delta method gives

    .. math:: \mathrm{MCSE}^2 = \Bigl(\frac{(e_2 - e_1)(\hat p_2 - \pi)}{(\hat p_2 -
              \hat p_1)^2}\Bigr)^2 s_1^2 + \Bigl(\frac{(e_2 - e_1)(\pi - \hat p_1)}{(\hat p_2
              - \hat p_1)^2}\Bigr)^2 s_2^2,

    with :math:`s_k` the power MCSEs. Linear interpolation of a curve that is concave there
    errs towards larger effects; effects closer together shrink that error (but not the
    MCSE, which grows as the bracket narrows: the slope is estimated from noisier
    differences). For a two-sample t test with :math:`n` per arm the analytic MDE is
    :math:`\delta \approx (t_{1-\alpha/2} + t_{\pi})\sigma\sqrt{2/n}` (statsmodels'
    ``TTestIndPower.solve_power`` solves it exactly).
    """
    if isinstance(design_factory, PowerCurveResult):
        return _mde_from_curve(design_factory, target=target, effect=effect, term=term)
    if not (isinstance(target, (int, float)) and 0 < float(target) < 1):
        raise DataError(f"`target` must be a power strictly between 0 and 1; got {target!r}.")
    if method not in ("grid", "bisect"):
        raise DataError(f"`method` must be one of 'grid', 'bisect'; got {method!r}.")
    fixed_grid = {k: (v if isinstance(v, (list, tuple, np.ndarray, range)) else [v])
                  for k, v in (fixed or {}).items()}
    if effect in fixed_grid:
        raise DataError(f"`fixed` must not hold the effect argument {effect!r}.")
    kw = dict(n_replicates=n_replicates, term=term, level=level, alpha=alpha, n_jobs=n_jobs,
              client=client, batch_size=batch_size, progress=progress)
    if method == "grid":
        if effects is None or len(effects) < 2:
            raise DataError("`effects` must list at least two effects to interpolate between.")
        curve = power_curve(design_factory, estimator, {effect: list(effects), **fixed_grid},
                            rng=rng, **kw)
        return _mde_from_curve(curve, target=target, effect=effect, term=term)
    # bisection
    if bracket is None or len(bracket) != 2:
        raise DataError("`bracket` must be (low, high) effects for method='bisect'.")
    if any(len(v) != 1 for v in fixed_grid.values()):
        raise DataError("method='bisect' takes one value per `fixed` argument.")
    lo, hi = float(bracket[0]), float(bracket[1])
    if lo == hi or np.sign(lo) * np.sign(hi) < 0:
        raise DataError(f"`bracket` {bracket} must be two different effects of the same sign.")
    if abs(lo) > abs(hi):
        lo, hi = hi, lo
    tol_v = 0.02 * abs(hi - lo) if tol is None else float(tol)
    m_eval = check_int(max_evaluations, "max_evaluations", minimum=2)
    from sosstats.design._seeds import root_seed

    root = root_seed(rng)
    curves: list[PowerCurveResult] = []

    def run(value: float) -> float:
        k = len(curves)
        curve = power_curve(design_factory, estimator, {effect: [value], **fixed_grid},
                            rng=_point_seed(root, k), **kw)
        curves.append(curve)
        tab = curve.table
        use = tab[tab["term"] == (term or curve.terms[0])]
        return float(use["power"].iloc[0])

    p_lo, p_hi = run(lo), run(hi)
    if not p_lo < target <= p_hi:
        raise DesignError(f"`bracket` {bracket} does not bracket power {target:g}: power "
                          f"{p_lo:.3f} at {lo:g} and {p_hi:.3f} at {hi:g}.")
    while len(curves) < m_eval and abs(hi - lo) > tol_v:
        mid = 0.5 * (lo + hi)
        if run(mid) >= target:
            hi = mid
        else:
            lo = mid
    table = pd.concat([c.table for c in curves], ignore_index=True)
    grid = pd.concat([c.grid for c in curves], ignore_index=True)
    first = curves[0]
    joined = PowerCurveResult(table=table, grid=grid,
                              results=tuple(r for c in curves for r in c.results),
                              n_replicates=first.n_replicates, alpha=first.alpha,
                              level=first.level, seed=root.entropy, terms=first.terms,
                              method="power by simulation (bisection)",
                              timing={"wall_s": sum(c.timing["wall_s"] for c in curves)})
    res = _mde_from_curve(joined, target=target, effect=effect, term=term)
    return MDEResult(table=res.table, target=res.target, curve=joined, term=res.term,
                     method="minimum detectable effect (bisection, then interpolated)")

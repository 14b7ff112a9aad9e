"""Bootstrap replicate weights for attrition weighting, the whole weighting re-run per replicate.

:func:`replicate_weights` resamples units (or clusters: pilot LAs, workers) with the Rao-Wu
rescaling bootstrap, re-runs :func:`sosstats.weighting.attrition_weights` on each resample and
returns the replicate weights (bootstrap multiplicity x re-estimated attrition weight) in a
:class:`ReplicateWeights`, whose :meth:`~ReplicateWeights.apply` gives the replicate standard
error of any weighted statistic: uncertainty from the sample *and* from estimating the weights.
"""

from __future__ import annotations

import inspect
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._kernels.cluster import FEW_CLUSTERS
from sosstats._progress import Progress
from sosstats._validate import (
    check_columns,
    check_frame,
    check_int,
    check_level,
    check_option,
    check_rng,
)
from sosstats.errors import (
    ConvergenceError,
    DataError,
    DesignError,
    SosstatsError,
    SosstatsWarning,
)
from sosstats.weighting.attrition import AttritionWeights, attrition_weights

__all__ = ["ReplicateWeights", "replicate_weights"]

_OWN = ("data", "responded", "covariates", "formula", "method")


@dataclass(frozen=True, eq=False)
class ReplicateWeights:
    r"""Bootstrap replicate attrition weights (returned by :func:`replicate_weights`).

    Attributes
    ----------
    full : AttritionWeights
        The weighting of the whole sample (its ``weights`` are the point-estimate weights).
    replicates : pandas.DataFrame
        Index ``data.index``, columns ``rep_1`` .. ``rep_B``: replicate ``b``'s weight of each
        unit, ``G / (G - 1)`` x (times its cluster was drawn) x (its attrition weight
        re-estimated on the resample); 0 for units not drawn and for non-respondents.
    cluster : str or None
        Column whose values were resampled (None: units).
    n_replicates : int
        ``B``.
    scale : float
        ``1 / B``: the variance is ``scale * sum_b (theta_b - theta)^2``.
    n_clusters : int
        Number of resampled clusters ``G`` (units when ``cluster`` is None).
    n_redrawn : int
        Resamples on which the weighting failed (an error or a :class:`SosstatsWarning`) and
        which were replaced by fresh draws.
    redraw_reasons : dict
        Why: message -> count.
    seed : int or None
        ``rng`` when it was an integer.
    multiplicities : pandas.DataFrame
        Same shape as ``replicates``: ``G / (G - 1)`` x times each unit's cluster was drawn,
        for every unit (respondent or not): the replicate's resampling weights before any
        attrition weighting (what an unweighted statistic uses on the resample).

    Notes
    -----
    With statistic :math:`\hat\theta` on the full weights and :math:`\hat\theta_b` on replicate
    :math:`b`, ``variance`` returns :math:`\frac{1}{B}\sum_b(\hat\theta_b-\hat\theta)^2`
    (``mse=True``, centred on the full-sample estimate) or with :math:`\bar\theta` in place of
    :math:`\hat\theta` (``mse=False``), the ``mse`` option of R's ``survey::svrepdesign``.
    """

    full: AttritionWeights = field(repr=False)
    replicates: pd.DataFrame = field(repr=False)
    cluster: str | None
    n_replicates: int
    scale: float
    n_clusters: int
    n_redrawn: int = 0
    redraw_reasons: dict = field(default_factory=dict)
    seed: int | None = None
    multiplicities: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def weights(self) -> pd.Series:
        """Full-sample weights with non-respondents 0 (never NaN)."""
        return self.full.weights.fillna(0.0)

    def _centred(self, full_estimate: Any, replicate_estimates: Any, mse: bool
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        est = np.asarray(full_estimate, dtype=float)
        scalar = est.ndim == 0
        est = est.reshape(-1)
        reps = np.asarray(replicate_estimates, dtype=float)
        reps = reps.reshape(len(reps), -1) if reps.ndim <= 2 else reps
        if reps.ndim != 2 or reps.shape != (self.n_replicates, est.size):
            raise DataError(f"`replicate_estimates` must have shape ({self.n_replicates}, "
                            f"{est.size}) (replicates x components); got "
                            f"{np.asarray(replicate_estimates).shape}.")
        ok = np.isfinite(reps)
        count = ok.sum(axis=0)
        centre = est
        if not mse:
            with np.errstate(invalid="ignore", divide="ignore"):
                centre = np.where(ok, reps, 0.0).sum(axis=0) / count
        dev = np.where(ok, reps - centre, 0.0)
        return dev, ok, count, scalar

    def variance(self, full_estimate: Any, replicate_estimates: Any, *,
                 mse: bool = True) -> np.ndarray:
        """Replicate variance of each component of a statistic.

        Parameters
        ----------
        full_estimate : float or array of shape (k,)
            The statistic on the full-sample weights.
        replicate_estimates : array of shape (B,) or (B, k)
            The statistic on each replicate column.
        mse : bool
            Centre on ``full_estimate`` (True, default) or on the replicates' mean.

        Returns
        -------
        numpy.ndarray
            Shape (k,) (a 0-d array for a scalar statistic). A component with non-finite
            replicate values uses its finite ones, with ``scale`` rescaled to
            ``1 / B_finite``; NaN when fewer than two are finite.
        """
        dev, _, count, scalar = self._centred(full_estimate, replicate_estimates, mse)
        with np.errstate(invalid="ignore", divide="ignore"):
            v = self.scale * self.n_replicates / count * (dev ** 2).sum(axis=0)
        v = np.where(count >= 2, v, np.nan)
        return v.reshape(()) if scalar else v

    def covariance(self, full_estimate: Any, replicate_estimates: Any, *,
                   mse: bool = True) -> np.ndarray:
        """Replicate covariance matrix (k, k) of a vector statistic.

        Replicates with a non-finite component are dropped and ``scale`` rescaled to
        ``1 / B_used``; ``mse`` as in :meth:`variance`.
        """
        dev, ok, _, _ = self._centred(full_estimate, replicate_estimates, mse)
        rows = ok.all(axis=1)
        if rows.sum() < 2:
            raise DesignError("fewer than two replicates give a finite statistic.")
        d = dev[rows]
        return self.scale * self.n_replicates / rows.sum() * (d.T @ d)

    def apply(self, statistic: Callable[[pd.Series], Any], *, level: float = 0.95,
              interval: str | None = None, mse: bool = True,
              on_error: str = "raise") -> pd.DataFrame:
        """Evaluate ``statistic`` on the full and each replicate weight; replicate SE and interval.

        Parameters
        ----------
        statistic : callable
            Called with a pandas Series of weights (index ``data.index``, non-respondents 0),
            returning a float, an array, a Series or a dict (one entry per component). Arrays
            must have the same length every time; Series and dicts are matched by name, so a
            component absent from a replicate (a term whose category the resample lacks) is
            NaN there and its SE uses the replicates that have it (with a warning).
        level : float
            Level of the interval.
        interval : {"t", "percentile"}, optional
            ``"t"``: estimate +/- t(G - 1) x replicate SE, G the number of resampled clusters;
            ``"percentile"``: percentiles of the replicate estimates. Default ``"t"`` when
            G < 42 (the few-cluster threshold of the cluster-robust errors: with ten pilots the
            bootstrap distribution of the replicates is too narrow, its percentile intervals
            under-cover), else ``"percentile"``.
        mse : bool
            See :meth:`variance`.
        on_error : {"raise", "skip"}
            What to do when ``statistic`` raises a sosstats error on a replicate: stop, or leave
            that replicate out (counted in a warning). A term that varies only between pilots
            (experience group) can vanish from a resample of pilots, so a model with it can fail
            on a few replicates; ``"skip"`` then conditions on the resamples where it exists.

        Returns
        -------
        pandas.DataFrame
            One row per component (the Series index / dict keys, else 0, 1, ...):
            ``estimate`` (full weights), ``std_error`` (replicate), ``df`` (G - 1 for the t
            interval, inf for percentiles), ``ci_lower``, ``ci_upper`` and ``n_valid`` (finite
            replicates); ``attrs["interval"]`` says which interval.
        """
        level = check_level(level)
        if interval is None:
            interval = "t" if self.n_clusters < FEW_CLUSTERS else "percentile"
        check_option(interval, ("t", "percentile"), "interval")
        if on_error not in ("raise", "skip"):
            raise DataError(f"`on_error` must be 'raise' or 'skip'; got {on_error!r}.")
        est, names = _as_vector(statistic(self.weights), None)
        reps = np.empty((self.n_replicates, est.size))
        failed: Counter[str] = Counter()
        absent = np.zeros(est.size, dtype=np.int64)
        for b, col in enumerate(self.replicates.columns):  # a user callable: one call each
            try:
                reps[b], lacking = _aligned(statistic(self.replicates[col].rename("weight")),
                                            names)
                absent += lacking
            except SosstatsError as exc:
                if on_error == "raise":
                    raise
                failed[f"{type(exc).__name__}: {exc}"] += 1
                reps[b] = np.nan
        if failed:
            warnings.warn(f"the statistic failed on {failed.total()} of {self.n_replicates} "
                          "replicates, left out: "
                          + "; ".join(f"{k} ({v}x)" for k, v in failed.most_common(2)),
                          SosstatsWarning, stacklevel=2)
        if absent.any():
            shown = ", ".join(f"{names[j]!r} ({absent[j]}x)" for j in np.flatnonzero(absent)[:5])
            warnings.warn(f"components absent from some of the {self.n_replicates} "
                          f"replicates (a category the resample lacks): {shown}; their SEs use "
                          "the replicates that have them.", SosstatsWarning, stacklevel=2)
        bad = ~np.isfinite(reps)
        if bad.any() and bad.sum() > sum(failed.values()) * est.size + absent.sum():
            warnings.warn(f"the statistic is not finite on {int(bad.any(axis=1).sum())} of "
                          f"{self.n_replicates} replicates; their values are left out.",
                          SosstatsWarning, stacklevel=2)
        se = np.sqrt(np.atleast_1d(self.variance(est, reps, mse=mse)))
        if interval == "t":
            df = float(self.n_clusters - 1)
            half = stats.t.ppf(0.5 + level / 2, df) * se
            lower, upper = est - half, est + half
        else:
            df = np.inf
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                lower, upper = np.nanquantile(np.where(bad, np.nan, reps),
                                              [0.5 - level / 2, 0.5 + level / 2], axis=0)
        out = pd.DataFrame({"estimate": est, "std_error": se, "df": df, "ci_lower": lower,
                            "ci_upper": upper, "n_valid": (~bad).sum(axis=0)},
                           index=pd.Index(names, name="component"))
        out.attrs["interval"] = (f"estimate +/- t({self.n_clusters - 1}) x replicate SE"
                                 if interval == "t" else "percentiles of the replicates")
        return out


def _as_vector(value: Any, size: int | None) -> tuple[np.ndarray, list]:
    """Return a statistic's value as a float vector, with its component names."""
    if isinstance(value, Mapping):
        names, arr = list(value.keys()), np.asarray(list(value.values()), dtype=float)
    elif isinstance(value, pd.Series):
        names, arr = list(value.index), value.to_numpy(dtype=float)
    else:
        arr = np.asarray(value, dtype=float).reshape(-1)
        names = list(range(arr.size))
    if size is not None and arr.size != size:
        raise DataError(f"the statistic returned {arr.size} value(s) on a replicate but {size} "
                        "on the full weights.")
    return arr, names


def _aligned(value: Any, names: list) -> tuple[np.ndarray, np.ndarray]:
    """A replicate's value on the full estimate's components, and which of them it lacks.

    Series and dicts are matched by name (a missing name is NaN and flagged; an unknown one
    is a DataError); arrays must have the full estimate's length.
    """
    if isinstance(value, (Mapping, pd.Series)):
        got = pd.Series(value, dtype=float) if isinstance(value, Mapping) else value
        extra = [k for k in got.index if k not in set(names)]
        if extra:
            raise DataError(f"the statistic returned component(s) {extra[:5]} on a replicate "
                            "that it did not return on the full weights.")
        arr = got.reindex(names).to_numpy(dtype=float)
        return arr, ~pd.Index(names).isin(got.index)
    return _as_vector(value, len(names))[0], np.zeros(len(names), dtype=bool)


def _unit_order(index: pd.Index) -> np.ndarray:
    """Positions sorting the rows by index label (so results do not depend on row order)."""
    try:
        return np.asarray(index.argsort(kind="stable"), dtype=np.intp)
    except TypeError:  # unorderable mixed labels: keep the given order
        return np.arange(len(index), dtype=np.intp)


def _cluster_codes(data: pd.DataFrame, cluster: str | None) -> tuple[np.ndarray, int]:
    if cluster is None:
        return np.arange(len(data), dtype=np.intp), len(data)
    check_columns(data, cluster, what="cluster column")
    s = data[cluster]
    if s.isna().any():
        raise DataError(f"cluster column {cluster!r} has {int(s.isna().sum())} missing "
                        "value(s); every unit needs a cluster to be resampled.")
    try:
        codes, levels = pd.factorize(s, sort=True)
    except TypeError:
        codes, levels = pd.factorize(s)
    return codes.astype(np.intp), len(levels)


def _check_options(options: dict[str, Any]) -> None:
    accepted = set(inspect.signature(attrition_weights).parameters) - set(_OWN)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise DataError(f"unknown weighting option(s) {', '.join(map(repr, unknown))}; "
                        f"attrition_weights accepts {', '.join(sorted(accepted))}.")


def _one_replicate(frame: pd.DataFrame, kwargs: dict[str, Any]
                   ) -> tuple[np.ndarray | None, str | None, list]:
    """Weights of one resample, or the reason the weighting failed; other warnings seen."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            w = attrition_weights(frame, **kwargs).weights.to_numpy(dtype=float)
        except (DataError, DesignError, ConvergenceError) as exc:
            return None, f"{type(exc).__name__}: {exc}", []
    ours = [c for c in caught if issubclass(c.category, SosstatsWarning)]
    others = [c for c in caught if not issubclass(c.category, SosstatsWarning)]
    if ours:
        return None, f"warning: {ours[0].message}", others
    return np.nan_to_num(w, nan=0.0), None, others


def replicate_weights(data: pd.DataFrame, *, responded: str | None = None,
                      covariates: str | list[str] | None = None, formula: str | None = None,
                      method: str = "logit", cluster: str | None = None,
                      n_replicates: int = 200, rng: int | np.random.Generator | None = None,
                      progress: bool | None = None, **weighting_options: Any
                      ) -> ReplicateWeights:
    r"""Bootstrap replicate weights with the attrition weighting re-estimated on every resample.

    Parameters
    ----------
    data : pandas.DataFrame
        The full T1 sample, as for :func:`sosstats.weighting.attrition_weights` (not
        modified). Its index must be unique: replicate weights are aligned to it.
    responded, covariates, formula, method
        The weighting, exactly as :func:`~sosstats.weighting.attrition_weights` takes them.
    cluster : str, optional
        Column of the resampling clusters (e.g. ``"la_code"`` for pilots, or a worker
        column); None resamples units.
    n_replicates : int
        ``B``, at least 2 (200 or more for standard errors, 1000+ for percentile intervals).
    rng : int, numpy.random.Generator or None
        Randomness (same ``rng``, same replicates).
    progress : bool or None
        Show a counter on stderr (None: only once the run has taken more than 2 seconds).
    **weighting_options
        Any other argument of ``attrition_weights`` (``by``, ``stabilize``, ``trim``,
        ``max_deff``, ``margins``, ``calfun``, ``bounds``, ``variances``,
        ``nonrespondents``), applied identically to the full sample and every resample.

    Returns
    -------
    ReplicateWeights

    Raises
    ------
    DataError
        Unknown columns or options, a non-unique index, a cluster column with NaN, any input
        ``attrition_weights`` refuses on the full sample.
    DesignError
        ``n_replicates`` < 2, fewer than two clusters, or the weighting failing on more than
        ``n_replicates`` resamples (the failures' reasons are listed).

    Warns
    -----
    SosstatsWarning
        When resamples had to be redrawn (with the count and reasons): the replicates then
        condition on resamples that can be weighted, which understates the variance when
        failures are common.

    Notes
    -----
    Rao-Wu rescaling bootstrap with :math:`m = G - 1` draws (Rao & Wu 1988, *JASA* 83,
    231-241; Rao, Wu & Yue 1992, *Survey Methodology* 18, 209-217; the ``bootweights`` of R
    ``survey``, after Canty & Davison 1999). Replicate :math:`b` draws :math:`G-1` of the
    :math:`G` clusters with replacement; cluster :math:`g` is drawn :math:`m_{gb}` times. The
    resample is the data with every row of cluster :math:`g` repeated :math:`m_{gb}` times,
    and the *whole* weighting (response model, stabilisation, trimming, normalisation) is run
    on it. Repeating rows is exactly frequency weighting for every method here (the logit /
    probit likelihood, the calibration and balancing constraints, the response rate and the
    normalising count are all sums over rows), and copies of a unit receive equal weights, so
    the unit's replicate weight is

    .. math:: w_{ib} = \frac{G}{G-1}\, m_{g(i)b}\, \tilde w_{ib},

    with :math:`\tilde w_{ib}` the weight re-estimated on the resample (summing over a
    unit's copies gives :math:`m\tilde w` even if they differed). The factor
    :math:`G/(G-1)` makes :math:`E^*(\sum_i w_{ib}) = \sum_i w_i` and, for a linear statistic,
    :math:`E^*(\hat\theta_b - \hat\theta)^2` equal to the with-replacement linearisation
    variance with its :math:`G/(G-1)` factor; hence ``scale = 1/B``. Because the weights are
    re-estimated, the replicate variance includes the uncertainty of the weighting, which a
    linearised SE with fixed weights ignores.

    A resample on which the weighting raises (no non-respondents, separation, infeasible
    calibration) or warns (quasi-separation, response probabilities near 0) is redrawn and
    counted in ``n_redrawn``. Resampling is done on the rows sorted by index label, so a
    permutation of the rows gives the same replicate weights for every unit.
    """
    data = check_frame(data)
    B = check_int(n_replicates, "n_replicates", minimum=2)
    seed = int(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None
    gen = check_rng(rng)
    if progress is not None and not isinstance(progress, bool):
        raise DataError(f"`progress` must be True, False or None; got {progress!r}.")
    _check_options(weighting_options)
    if not data.index.is_unique:
        dup = data.index[data.index.duplicated()].unique()[:5]
        raise DataError(f"`data` has duplicate index labels ({', '.join(map(str, dup))}); "
                        "replicate weights are aligned by index: use data.reset_index().")
    kwargs = dict(responded=responded, covariates=covariates, formula=formula, method=method,
                  **weighting_options)
    codes0, G = _cluster_codes(data, cluster)
    if G < 2:
        raise DesignError(f"cluster column {cluster!r} has {G} cluster; the bootstrap needs at "
                          "least two.")
    full = attrition_weights(data, **kwargs)

    order = _unit_order(data.index)
    frame = data.iloc[order].reset_index(drop=True)
    codes, _ = _cluster_codes(frame, cluster)
    n = len(frame)
    draws = gen.multinomial(G - 1, np.full(G, 1.0 / G), size=B)
    W = np.empty((n, B))
    M = np.empty((n, B))
    reasons: Counter[str] = Counter()
    others: dict[tuple, Any] = {}
    bar = Progress(B, progress, "replicate weights")
    try:
        for b in range(B):  # each replicate re-runs the whole weighting (a model fit)
            m = draws[b]
            while True:
                rows = np.repeat(np.arange(n), m[codes])
                w, why, seen = _one_replicate(frame.iloc[rows].reset_index(drop=True), kwargs)
                others.update({(c.category, str(c.message)): c for c in seen})
                if why is None:
                    break
                reasons[why] += 1
                if reasons.total() > B:
                    raise DesignError(
                        f"the weighting failed on {reasons.total()} bootstrap resamples (while "
                        f"making {b} of {B} replicates): "
                        + "; ".join(f"{k} ({v}x)" for k, v in reasons.most_common(3))
                        + ". Simplify the weighting (fewer covariates, coarser cells) or "
                        "resample larger clusters.")
                m = gen.multinomial(G - 1, np.full(G, 1.0 / G))
            W[:, b] = np.bincount(rows, weights=w, minlength=n) * (G / (G - 1))
            M[:, b] = m[codes] * (G / (G - 1))
            bar.step()
    finally:
        bar.close()
    for c in others.values():
        warnings.warn(c.message, c.category, stacklevel=2)
    if reasons:
        warnings.warn(f"the weighting failed on {reasons.total()} bootstrap resample(s), which "
                      f"were redrawn: {'; '.join(f'{k} ({v}x)' for k, v in reasons.items())}. "
                      "The replicate SE conditions on resamples that can be weighted.",
                      SosstatsWarning, stacklevel=2)
    columns = [f"rep_{b + 1}" for b in range(B)]
    out = np.empty_like(W)
    out[order] = W
    mult = np.empty_like(M)
    mult[order] = M
    return ReplicateWeights(full=full, replicates=pd.DataFrame(out, index=data.index,
                                                               columns=columns),
                            cluster=cluster, n_replicates=B, scale=1.0 / B, n_clusters=G,
                            n_redrawn=reasons.total(), redraw_reasons=dict(reasons), seed=seed,
                            multiplicities=pd.DataFrame(mult, index=data.index,
                                                        columns=columns))

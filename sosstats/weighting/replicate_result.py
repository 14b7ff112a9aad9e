"""The result of :func:`sosstats.weighting.replicate_weights`: replicate weights and their use.

:class:`ReplicateWeights` holds the full-sample weighting and the B replicate columns, and turns
a statistic's replicate values into a replicate variance, covariance, or a table of estimates,
standard errors and intervals (:meth:`ReplicateWeights.apply`).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._kernels.balance import kish_ess
from sosstats._kernels.cluster import FEW_CLUSTERS
from sosstats._results import TableResult
from sosstats._validate import check_level, check_option
from sosstats.errors import DataError, DesignError, SosstatsError, SosstatsWarning
from sosstats.weighting.attrition import AttritionWeights

__all__ = ["ReplicateWeights"]


@dataclass(frozen=True, eq=False, kw_only=True)
class ReplicateWeights(TableResult):
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

    Its table (``tidy()``, ``summary()``, ``print``) describes the replicates: how many, of
    what, how many were redrawn, and the Kish effective sample size of the full-sample and the
    replicate weights.

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

    method = "bootstrap replicates (Rao-Wu rescaling)"

    @property
    def nobs(self) -> int:
        """Units of the weighted sample."""
        return len(self.replicates)

    def _table(self, level: float | None) -> pd.DataFrame:
        reps = self.replicates.to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            ess = reps.sum(axis=0) ** 2 / (reps ** 2).sum(axis=0)
        rows = {"replicates (B)": self.n_replicates,
                ("clusters resampled (G)" if self.cluster else "units resampled (n)"):
                    self.n_clusters,
                "replicates redrawn": self.n_redrawn,
                "ESS, full-sample weights": kish_ess(self.weights.to_numpy(dtype=float)),
                "ESS, replicates (drawn units): median": float(np.median(ess)),
                "ESS, replicates (drawn units): minimum": float(np.min(ess))}
        return pd.DataFrame({"value": list(rows.values())},
                            index=pd.Index(list(rows), name="quantity"))

    def _title(self) -> str:
        unit = f"clusters of {self.cluster!r}" if self.cluster else "units"
        return f"Replicate weights: {self.n_replicates} bootstrap resamples of {unit}"

    def _notes(self) -> list[str]:
        notes = [f"Replicate SE: sqrt(scale x sum of squared deviations), scale = 1/B = "
                 f"{self.scale:.4g}; each replicate re-runs the {self.full.method} weighting."]
        if self.n_redrawn:
            notes.append("Redrawn because the weighting failed: " + "; ".join(
                f"{msg} ({k}x)" for msg, k in self.redraw_reasons.items()))
        if self.cluster and self.n_clusters < FEW_CLUSTERS:
            notes.append(f"{self.n_clusters} clusters: apply() gives t({self.n_clusters - 1}) "
                         "intervals around the replicate SE by default.")
        return notes

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
    """Return a replicate's value on the full estimate's components, and which it lacks.

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

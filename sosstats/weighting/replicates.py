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
from typing import Any

import numpy as np
import pandas as pd

from sosstats._progress import Progress
from sosstats._validate import (
    check_columns,
    check_frame,
    check_int,
    check_rng,
)
from sosstats.errors import (
    ConvergenceError,
    DataError,
    DesignError,
    SosstatsWarning,
)
from sosstats.weighting.attrition import attrition_weights
from sosstats.weighting.replicate_result import ReplicateWeights

__all__ = ["ReplicateWeights", "replicate_weights"]

_OWN = ("data", "responded", "covariates", "formula", "method")


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

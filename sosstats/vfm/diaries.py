r"""Time diaries: how workers spend their time, what it costs, with a worker bootstrap.

``diary_costs(diaries, unit_costs, by="pilot")`` turns a long diary (worker x activity x
minutes) into time shares, cost per worker, per activity, per hour of direct contact and per
case, by group, with percentile intervals from a bootstrap that resamples workers within each
group; ``result.compare(a, b)`` asks whether two groups differ (e.g. in direct contact).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import (
    as_list,
    check_columns,
    check_frame,
    check_int,
    check_level,
    check_numeric_columns,
    check_rng,
    check_unique,
)
from sosstats._kernels.resample import resample_group_sums
from sosstats.errors import DataError, DesignError
from sosstats.vfm.diary_result import DiaryCosts, _estimands
from sosstats.vfm.unit_costs import UnitCost

__all__ = ["diary_costs"]

def _worker_values(col: str, what: str, frame: pd.DataFrame, wcodes: np.ndarray, ids: pd.Index,
                   workers: pd.DataFrame | None, worker: str) -> pd.Series:
    """Column ``col`` as one value per worker, from ``diaries`` (constant within) or ``workers``."""
    if col in frame.columns:
        vals = frame[col]
        codes = pd.factorize(vals, use_na_sentinel=False)[0]
        first = np.unique(wcodes, return_index=True)[1]
        varies = codes != codes[first][wcodes]
        if varies.any():
            raise DataError(f"column {col!r} ({what}) varies within worker(s) "
                            f"{ids[np.unique(wcodes[varies])][:10].tolist()}; give one value "
                            "per worker.")
        out = pd.Series(vals.to_numpy()[first], index=ids, name=col)
    elif workers is not None and col in workers.columns:
        out = workers.set_index(worker)[col].reindex(ids)
    else:
        raise DataError(f"column {col!r} ({what}) not found in `diaries`"
                        f"{' or `workers`' if workers is not None else ''}.")
    if out.isna().any():
        raise DataError(f"column {col!r} ({what}) is missing for worker(s) "
                        f"{ids[out.isna().to_numpy()][:10].tolist()}.")
    return out


def _numeric(spec: Any, what: str, frame: pd.DataFrame, wcodes: np.ndarray, ids: pd.Index,
             workers: pd.DataFrame | None, worker: str) -> np.ndarray:
    """One number >= 0 per worker from a column name or a Series indexed by worker."""
    if isinstance(spec, str):
        vals = _worker_values(spec, what, frame, wcodes, ids, workers, worker)
    elif isinstance(spec, pd.Series):
        vals = spec.reindex(ids)
        if vals.isna().any():
            raise DataError(f"`{what}` has no (or a NaN) value for worker(s) "
                            f"{ids[vals.isna().to_numpy()][:10].tolist()}.")
    else:
        raise DataError(f"`{what}` must be a column name or a pandas Series indexed by worker; "
                        f"got {type(spec).__name__}.")
    if not pd.api.types.is_numeric_dtype(vals) or pd.api.types.is_bool_dtype(vals):
        raise DataError(f"`{what}` must be numeric; got dtype {vals.dtype}.")
    out = vals.to_numpy(dtype=float)
    if not np.isfinite(out).all() or (out < 0).any():
        raise DataError(f"`{what}` must be finite and >= 0; negative or infinite for worker(s) "
                        f"{ids[~(np.isfinite(out) & (out >= 0))][:10].tolist()}.")
    return out


def _hourly(unit_costs: Any, *args: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Cost per working hour of each worker, and draws of a common one (or None)."""
    n_w = len(args[2])
    if isinstance(unit_costs, UnitCost):
        draws = unit_costs.hourly() if unit_costs.n_draws is not None else None
        return np.full(n_w, unit_costs.per_hour), draws
    if isinstance(unit_costs, (int, float, np.number)) and not isinstance(unit_costs, bool):
        if not np.isfinite(unit_costs) or unit_costs < 0:
            raise DataError(f"`unit_costs` must be a finite cost per hour >= 0; got "
                            f"{unit_costs!r}.")
        return np.full(n_w, float(unit_costs)), None
    if isinstance(unit_costs, (pd.Series, str)):
        return _numeric(unit_costs, "unit_costs", *args), None
    raise DataError("`unit_costs` must be a UnitCost, a cost per hour, a column name or a "
                    f"Series of costs per hour by worker; got {type(unit_costs).__name__}.")


def _groups(by: list[str], *args: Any) -> tuple[np.ndarray, list[Any]]:
    """Group code of each worker (groups sorted) and the labels."""
    ids = args[2]
    if not by:
        return np.zeros(len(ids), dtype=np.intp), ["all"]
    cols = [_worker_values(c, "`by`", *args).to_numpy() for c in by]
    keys = cols[0] if len(cols) == 1 else np.array([" / ".join(map(str, k)) for k in zip(*cols)],
                                                   dtype=object)
    labels = [k.item() if isinstance(k, np.generic) else k for k in pd.unique(keys)]
    try:
        labels = sorted(labels)
    except TypeError:
        pass
    return pd.Index(labels).get_indexer(keys).astype(np.intp), labels


def diary_costs(diaries: pd.DataFrame, unit_costs: Any, *, worker: str = "worker_id",
                activity: str = "activity", minutes: str = "minutes",
                by: str | list[str] | None = None, workers: pd.DataFrame | None = None,
                direct: Any = ("direct contact",), period_hours: float | None = None,
                cases: Any = None, n_resamples: int = 2000, level: float = 0.95,
                rng: int | np.random.Generator | None = None,
                compare: tuple[Any, Any] | None = None) -> DiaryCosts:
    r"""Estimate time shares and costs of workers' activities from time diaries, by group.

    Parameters
    ----------
    diaries : pandas.DataFrame
        Long diary: one row per worker x activity (several rows of one pair are added up);
        not modified.
    unit_costs : UnitCost, float, str or pandas.Series
        Cost per working hour: a :class:`~sosstats.vfm.UnitCost` (its ``per_hour``; with
        draws, replicate ``b`` uses draw ``b mod n_draws``), a number, a column (of
        ``diaries`` or ``workers``, one value per worker) or a Series indexed by worker.
    worker, activity, minutes : str
        Columns of ``diaries``: worker ID, activity label, minutes (>= 0).
    by : str or list of str, optional
        Grouping column(s) (pilot, experience group), in ``diaries`` or ``workers``; one value
        per worker. Groups are sorted; without ``by`` all workers form the group ``"all"``.
    workers : pandas.DataFrame, optional
        One row per worker (column ``worker``) holding ``by``, ``cases`` or ``unit_costs``
        columns that are not in ``diaries``.
    direct : str or sequence, default ``("direct contact",)``
        Activities counted as direct contact with families (None: no direct share).
    period_hours : float, optional
        Hours in the diary period (e.g. 168 for a week); a worker recording more minutes is an
        error.
    cases : str or pandas.Series, optional
        Caseload of each worker (column or Series by worker), for the cost per case.
    n_resamples : int, default 2000
        Bootstrap replicates (at least 2).
    level : float, default 0.95
        Level of the percentile intervals.
    rng : int, Generator or None
        Used only by the bootstrap, as :func:`sosstats._kernels.resample.resample_group_sums` says.
    compare : (group_a, group_b), optional
        Also compute ``result.compare(group_a, group_b)`` into ``result.comparison``.

    Returns
    -------
    DiaryCosts
        ``tidy()`` (terms ``share[...]``, ``direct_share``, ``hours_per_worker``,
        ``cost_per_worker``, ``cost_per_direct_hour``, ``cost_per_case``, ``cost[...]``, with
        columns ``quantity, group, activity, n_workers``), ``shares``, ``costs``, ``by_group``,
        ``workers``, ``compare(a, b)``, ``plot()``.

    Raises
    ------
    DataError
        Missing columns; non-numeric, NaN or negative minutes; a worker with no minutes, or
        more than ``period_hours``; unknown activities in ``direct``; negative or missing unit
        costs or caseloads; group labels varying within a worker; unknown ``compare`` groups.
    DesignError
        A group with fewer than two workers (a worker bootstrap needs two), ``n_resamples``
        below 2.

    Notes
    -----
    With minutes :math:`m_{wa}` of worker :math:`w` on activity :math:`a`, total
    :math:`T_w = \sum_a m_{wa}`, hourly cost :math:`h_w` and caseload :math:`k_w`, for a group
    of :math:`n` workers (ratio estimators, pooling minutes over workers):

    .. math::

        s_a = \frac{\sum_w m_{wa}}{\sum_w T_w}, \quad
        d = \sum_{a \in D} s_a, \quad
        \bar C = \frac{1}{n}\sum_w \frac{T_w h_w}{60}, \quad
        \bar C_a = \frac{1}{n}\sum_w \frac{m_{wa} h_w}{60},

    cost per hour of direct contact :math:`\sum_w T_w h_w / \sum_w \sum_{a\in D} m_{wa}` and
    cost per case :math:`\sum_w T_w h_w / (60 \sum_w k_w)`. Workers are the clusters: a
    replicate resamples :math:`n` workers with replacement within each group and recomputes
    every ratio from the resampled sums (Davison & Hinkley 1997, section 3.8), so intervals
    allow for the correlation of a worker's activities. Shares are ratios of sums (every minute
    weighs the same), not means of workers' shares (every worker weighs the same); they differ
    when workers who record more time spend it differently (ratio estimators: Cochran 1977,
    ch. 6). Groups are resampled independently, so a difference between groups has
    replicates ``rep_a - rep_b``.

    References
    ----------
    Davison, A. C. & Hinkley, D. V. (1997). *Bootstrap Methods and their Application*. CUP.
    Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed. Wiley.
    Curtis, L. & Burns, A. (2017). *Unit Costs of Health and Social Care 2017*. PSSRU.
    Baginsky, M. et al. (2017). *Evaluation of Signs of Safety in 10 pilots*. DfE (time
    diaries of 121 social workers).

    Examples
    --------
    >>> from sosstats.datasets import simulate_evaluation
    >>> ev = simulate_evaluation(rng=1)
    >>> res = diary_costs(ev.diaries, 40.0, n_resamples=200, rng=0)
    >>> round(float(res.params["direct_share"]), 3), round(float(res.params["cost_per_worker"]), 1)
    (0.239, 1498.2)
    """
    frame = check_frame(diaries, "diaries")
    by = as_list(by)
    check_columns(frame, [worker, activity, minutes], name="diaries")
    n_resamples = check_int(n_resamples, "n_resamples", minimum=2)
    level = check_level(level)
    gen = check_rng(rng)
    seed = int(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None
    rng_state = gen.bit_generator.state
    mins = check_numeric_columns(frame, minutes, name="diaries")[:, 0]
    if (mins < 0).any():
        rows = frame.index[mins < 0][:10].tolist()
        raise DataError(f"column {minutes!r} has {int((mins < 0).sum())} negative value(s) "
                        f"(rows {rows}); minutes must be >= 0.")
    for col in (worker, activity):
        if frame[col].isna().any():
            raise DataError(f"column {col!r} is missing for {int(frame[col].isna().sum())} "
                            "diary row(s).")
    if workers is not None:
        workers = check_frame(workers, "workers")
        check_columns(workers, worker, name="workers")
        check_unique(workers, worker, name="workers")
    wcodes, ids = pd.factorize(frame[worker])
    ids = pd.Index(ids)
    acts = frame[activity]
    labels = (list(acts.cat.categories) if isinstance(acts.dtype, pd.CategoricalDtype)
              else sorted(pd.unique(acts)))
    acodes = pd.Index(labels).get_indexer(acts)
    direct_list = as_list(direct)
    unknown = [d for d in direct_list if d not in labels]
    if unknown:
        raise DataError(f"`direct` activity {unknown} not found in column {activity!r}; "
                        f"activities are {labels[:20]}.")
    n_w, n_a = len(ids), len(labels)
    mat = np.bincount(wcodes * n_a + acodes, weights=mins, minlength=n_w * n_a).reshape(n_w, n_a)
    total = mat.sum(axis=1)
    if (total <= 0).any():
        raise DataError(f"worker(s) {ids[total <= 0][:10].tolist()} recorded no minutes in "
                        f"column {minutes!r}; drop them (a blank diary is missing, not zero).")
    if period_hours is not None:
        if isinstance(period_hours, bool) or not isinstance(period_hours, (int, float, np.number)) \
                or not 0 < period_hours < np.inf:
            raise DataError(f"`period_hours` must be a positive number; got {period_hours!r}.")
        over = total > 60 * period_hours
        if over.any():
            shown = ", ".join(f"{w} ({t / 60:,.1f} h)" for w, t in
                              zip(ids[over][:10], total[over][:10]))
            raise DataError(f"column {minutes!r} adds up to more than the {period_hours:g} "
                            f"hours of the period for worker(s) {shown}.")
    ctx = (frame, wcodes, ids, workers, worker)
    hourly, draws = _hourly(unit_costs, *ctx)
    caseload = np.full(n_w, np.nan) if cases is None else _numeric(cases, "cases", *ctx)
    gcodes, groups = _groups(by, *ctx)
    n_g = np.bincount(gcodes, minlength=len(groups))
    if (n_g < 2).any():
        small = ", ".join(f"{g!r} ({n})" for g, n in zip(groups, n_g) if n < 2)
        raise DesignError(f"every group needs at least two workers to bootstrap by worker; "
                          f"{small} (column(s) {by}).")
    if cases is not None:
        k_g = np.bincount(gcodes, weights=caseload, minlength=len(groups))
        if (k_g <= 0).any():
            raise DataError(f"`cases` sum to 0 in group(s) "
                            f"{[g for g, k in zip(groups, k_g) if k <= 0]}; no cost per case.")
    cost = mat * hourly[:, None] / 60
    values = np.column_stack([mat, cost, np.nan_to_num(caseload)])
    dpos = np.array([labels.index(d) for d in direct_list], dtype=np.intp)
    sums = np.zeros((len(groups), values.shape[1]))
    np.add.at(sums, gcodes, values)
    point = _estimands(sums, n_g, n_a, dpos)
    reps = resample_group_sums(values, gcodes, len(groups), n_resamples, gen)
    if draws is not None and hourly[0] > 0:
        reps[..., n_a:2 * n_a] *= (draws[np.arange(n_resamples) % draws.size] / hourly[0])[
            :, None, None]
    keep = np.ones(point.shape[1], dtype=bool)
    keep[[n_a, n_a + 3]] = dpos.size > 0
    keep[n_a + 4] = cases is not None
    per_worker = pd.DataFrame({
        "group": np.asarray(groups, dtype=object)[gcodes], "minutes": total,
        "direct_minutes": mat[:, dpos].sum(axis=1) if dpos.size else np.nan,
        "hourly_cost": hourly, "cost": total * hourly / 60, "cases": caseload},
        index=pd.Index(ids, name=worker))
    per_worker.insert(3, "direct_share", per_worker["direct_minutes"] / total)
    result = DiaryCosts(groups=tuple(groups), activities=tuple(labels),
                        direct=tuple(direct_list), by=tuple(by), n_workers=n_g,
                        workers=per_worker, point=point[:, keep],
                        replicates=_estimands(reps, n_g, n_a, dpos)[..., keep],
                        n_resamples=n_resamples, period_hours=period_hours, seed=seed,
                        rng_state=rng_state, nobs=n_w, level=level)
    if compare is not None:
        if not isinstance(compare, (tuple, list)) or len(compare) != 2:
            raise DataError(f"`compare` must be a pair of groups (group_a, group_b); got "
                            f"{compare!r}.")
        result = replace(result, comparison=result.compare(*compare))
    return result

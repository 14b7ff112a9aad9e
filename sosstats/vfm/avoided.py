r"""Avoided (or added) process costs from rate gaps against statistical neighbours.

``avoided_costs(indicators, treated, neighbours, {"icpc_rate_per_10k": 1_900, ...},
population)`` compares each treated LA with its statistical nearest neighbours through
:func:`sosstats.neighbours.compare`, turns each gap in rates per 10,000 children into the number
of processes (assessments, conferences, plans) the LA avoided or added, and prices them with a
unit cost per process: per pilot, pooled over pilots and summed over processes, with intervals
carried from the comparison and, when unit costs are uncertain, propagated by simulation.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._validate import check_int, check_level, check_option, check_rng
from sosstats.errors import DataError, SosstatsWarning
from sosstats.neighbours import ComparisonResult, compare
from sosstats.vfm._inputs import n_draws_of, realise
from sosstats.vfm.avoided_result import AvoidedCosts

__all__ = ["avoided_costs"]

def _unit_costs(unit_costs: Any, n_draws: int | None, gen: np.random.Generator
                ) -> tuple[list[str], np.ndarray, int | None]:
    if not isinstance(unit_costs, Mapping) or not unit_costs:
        raise DataError("`unit_costs_per_process` must be a non-empty mapping {indicator: cost "
                        f"per process}}; got {type(unit_costs).__name__}.")
    names = list(unit_costs)
    bad = [k for k in names if not isinstance(k, str)]
    if bad:
        raise DataError(f"`unit_costs_per_process` keys must be indicator names; got {bad}.")
    values = {f"unit_costs_per_process[{k!r}]": v for k, v in unit_costs.items()}
    n = n_draws_of(values, n_draws)
    cols = [realise(v, name, n, gen) for name, v in values.items()]
    return names, np.atleast_2d(np.column_stack(cols) if n else np.array(cols, dtype=float)), n


def _population(comp: ComparisonResult | None, population: Any, codes: tuple) -> np.ndarray:
    """Children in each treated LA, from a mapping / Series or a population indicator."""
    if isinstance(population, str):
        rows = comp.per_la[comp.per_la["indicator"] == population]
        pop = rows.set_index("la_code")["value"].reindex(list(codes))
        name = f"indicator {population!r}"
    elif isinstance(population, (Mapping, pd.Series)):
        series = pd.Series(population)
        series.index = series.index.astype(str)
        if not pd.api.types.is_numeric_dtype(series):
            raise DataError(f"`population` must be numeric; got dtype {series.dtype}.")
        pop = series.reindex(list(codes)).astype(float)
        name = "`population`"
    else:
        raise DataError("`population` must be a mapping or Series {la_code: children} or the "
                        f"name of an indicator; got {type(population).__name__}.")
    bad = ~(np.isfinite(pop.to_numpy()) & (pop.to_numpy() > 0))
    if bad.any():
        raise DataError(f"{name} is missing or not positive for treated LA(s) "
                        f"{', '.join(np.asarray(codes)[bad])}.")
    return pop.to_numpy(dtype=float)


def _rewarn(caught: list[warnings.WarningMessage]) -> None:
    """Issue each distinct warning of the comparisons once, from the caller of avoided_costs.

    With ``population`` an indicator name, :func:`~sosstats.neighbours.compare` runs twice on
    the same neighbours, and its warnings (e.g. fewer than ``k`` eligible neighbours) repeat.
    """
    seen: set[tuple[type, str]] = set()
    for w in caught:
        key = (w.category, str(w.message))
        if key not in seen:
            seen.add(key)
            warnings.warn(str(w.message), w.category, stacklevel=3)


def _pooled_rows(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total of per-LA contributions ``u`` (n, D) and its SE sqrt(n/(n-1) sum (u - mean)^2)."""
    n = u.shape[0]
    return u.sum(axis=0), np.sqrt(n / (n - 1) * ((u - u.mean(axis=0)) ** 2).sum(axis=0))


def _rows(d: np.ndarray, pop: np.ndarray, costs: np.ndarray, pooling: str, per: float,
          total: bool) -> tuple[list[tuple[Any, Any]], np.ndarray, np.ndarray, np.ndarray]:
    """Estimates and SEs, shape (rows, D), of per-LA and pooled rows for cost rows ``costs``."""
    n, n_ind = d.shape
    obs = np.isfinite(d)
    labels, est, se, df = [], [], [], []
    for p in range(n_ind):  # loop over indicators (few), not over LAs or draws
        o = obs[:, p]
        c = costs[:, p]
        s_p = np.std(d[o, p], ddof=1)
        for i in np.flatnonzero(o):
            labels.append((p, i))
            est.append(-d[i, p] * pop[i] / per * c)
            se.append(s_p * pop[i] / per * c)
            df.append(o.sum() - 1)
        scale = pop[o] if pooling == "sum" else np.full(o.sum(), pop[o].sum() / o.sum())
        tot, s = _pooled_rows((-d[o, p] * scale / per)[:, None] * c[None, :])
        labels.append((p, None))
        est.append(tot)
        se.append(s)
        df.append(o.sum() - 1)
    if total:
        g = -np.where(obs, d, 0.0) @ costs.T                                    # (n, D)
        spread = np.std(g, axis=0, ddof=1)
        for i in range(n):
            labels.append((None, i))
            est.append(g[i] * pop[i] / per)
            se.append(spread * pop[i] / per)
            df.append(n - 1)
        if pooling == "sum":
            u = g * pop[:, None] / per
        else:
            mean_pop = (pop[:, None] * obs).sum(axis=0) / obs.sum(axis=0)       # (P,)
            u = -(np.where(obs, d, 0.0) * mean_pop) @ costs.T / per
        tot, s = _pooled_rows(u)
        labels.append((None, None))
        est.append(tot)
        se.append(s)
        df.append(n - 1)
    return labels, np.array(est), np.array(se), np.array(df, dtype=float)


def avoided_costs(indicators: pd.DataFrame, treated: Any, neighbours: Any,
                  unit_costs_per_process: Mapping[str, Any], population: Any, *,
                  year: Any = None, id: str = "la_code", k: int = 10,
                  weighting: Literal["equal", "distance"] = "equal", exclude: Any = None,
                  exclude_treated: bool = True, per: float = 10_000,
                  pooling: Literal["sum", "mean"] = "sum", n_draws: int | None = None,
                  level: float = 0.95, rng: int | np.random.Generator | None = 0
                  ) -> AvoidedCosts:
    r"""Count processes avoided or added by treated LAs against their neighbours; cost them.

    Parameters
    ----------
    indicators, treated, neighbours
        As in :func:`sosstats.neighbours.compare` (long or wide indicator table, treated LA
        codes, a neighbour ranking, fitted model or table).
    unit_costs_per_process : mapping
        ``{indicator: cost per process}`` for rate indicators per ``per`` children (e.g.
        ``"assessments_rate_per_10k"``, ``"icpc_rate_per_10k"``,
        ``"cpp_started_rate_per_10k"``); its keys are the indicators analysed. A cost is a
        number, a 1-D array of draws or a scipy.stats frozen distribution (drawn with ``rng``,
        in the mapping's order), all >= 0.
    population : mapping, pandas.Series or str
        Children in each treated LA (``{la_code: population}``), or the name of a population
        indicator in ``indicators`` (e.g. ``"child_population_0_17"``) read for ``year``.
    year, id, k, weighting, exclude, exclude_treated
        Passed to :func:`~sosstats.neighbours.compare`.
    per : float, default 10,000
        The rates' denominator.
    pooling : {"sum", "mean"}
        Pooled rows: the sum of the pilots' own processes (default), or the comparison's mean
        gap times the pilots' population (its SE and t interval scaled exactly).
    n_draws : int, optional
        Draws of distributions (default 1,000; fixed by arrays of draws).
    level : float, default 0.95
        Level of the intervals.
    rng : int, Generator or None
        Draws of unit-cost distributions, then of the t variates of the simulation.

    Returns
    -------
    AvoidedCosts
        ``tidy()`` (terms ``processes[<indicator>: <LA or pooled>]``, ``cost[...]`` and
        ``cost[total: ...]``), ``processes``, ``costs``, ``gaps``, ``comparison``, ``plot()``;
        with uncertain unit costs ``draws`` (terms x draws) and ``draws_of(term)``.

    Raises
    ------
    DataError
        Unit costs that are not a mapping, negative, NaN or of unequal numbers of draws; a
        population that is missing or not positive for a treated LA; bad ``per`` or
        ``pooling``; and every error of :func:`~sosstats.neighbours.compare`.
    DesignError
        From :func:`~sosstats.neighbours.compare` (e.g. fewer than two treated LAs with a gap).

    Warns
    -----
    SosstatsWarning
        When a treated LA has no gap for an indicator (it adds nothing to that indicator's
        pooled row and counts as 0 in the totals), and the warnings of
        :func:`~sosstats.neighbours.compare` (e.g. fewer than ``k`` eligible neighbours), each
        once even when ``population`` is an indicator and the comparison runs twice.

    Notes
    -----
    With LA :math:`i`'s gap :math:`d_{ip} = y_{ip} - \bar y_{N_i p}` on indicator :math:`p`
    (from the comparison), child population :math:`N_i` and unit cost :math:`c_p`, LA
    :math:`i` avoided :math:`x_{ip} = -d_{ip} N_i / 10^4` processes costing
    :math:`x_{ip} c_p` (negative: added), as in process-based costing of children's social
    care (Holmes & McDermid 2012). Per pilot, the SE is :math:`s_p N_i / 10^4 \cdot c_p`,
    with :math:`s_p` the SD of the pilots' gaps (the comparison's ``std_error`` times
    :math:`\sqrt{n_p}`): the error of one LA's neighbour mean as a counterfactual cannot be
    told apart from the spread of effects between pilots, so this is conservative. Pooled
    rows are sums :math:`T = \sum_i u_i` of per-LA contributions with
    :math:`\widehat{\mathrm{SE}}^2 = \frac{n}{n-1}\sum_i (u_i - \bar u)^2` on
    :math:`n - 1` df, the paired-t logic of the comparison: ``pooling="sum"`` takes
    :math:`u_i = x_{ip} c_p`; ``"mean"`` takes :math:`u_i = -d_{ip} \bar N c_p / 10^4` so
    that :math:`T = -\bar d_p (\sum_i N_i) c_p / 10^4` and its SE is the comparison's SE
    times :math:`c_p \sum_i N_i / 10^4`. Totals add costs over indicators LA by LA (SE from
    the spread of the pilots' cost-weighted gaps). Intervals are t intervals; with uncertain
    unit costs, each draw :math:`c_b` gives :math:`T(c_b) + \mathrm{SE}(c_b)\, t_b`,
    :math:`t_b \sim t_{n-1}`, and the SE and percentile interval come from these draws (a
    probabilistic sensitivity analysis, Briggs, Claxton & Sculpher 2006, ch. 4).

    References
    ----------
    Holmes, L. & McDermid, S. (2012). *Understanding Costs and Outcomes in Child Welfare
    Services*. Jessica Kingsley.
    Baginsky, M. et al. (2017). *Evaluation of Signs of Safety in 10 pilots*. DfE.
    Briggs, A., Claxton, K. & Sculpher, M. (2006). *Decision Modelling for Health Economic
    Evaluation*. OUP.

    Examples
    --------
    >>> import pandas as pd
    >>> rates = pd.DataFrame({"la_code": ["P1", "P2", "A", "B", "C", "D"],
    ...                       "icpc": [40.0, 80.0, 50.0, 70.0, 70.0, 60.0]})
    >>> ranks = pd.DataFrame({"la_code": ["P1", "P1", "P2", "P2"],
    ...                       "neighbour": ["A", "B", "C", "D"], "rank": [1, 2, 1, 2]})
    >>> res = avoided_costs(rates, ["P1", "P2"], ranks, {"icpc": 1_000.0},
    ...                     {"P1": 20_000, "P2": 10_000}, k=2)
    >>> [float(res.params[t]) for t in ("processes[icpc: P1]", "cost[total: pooled]")]
    [40.0, 25000.0]
    """
    check_option(pooling, ("sum", "mean"), "pooling")
    level = check_level(level)
    if isinstance(per, bool) or not isinstance(per, (int, float, np.number)) or not per > 0:
        raise DataError(f"`per` must be a positive number; got {per!r}.")
    if n_draws is not None:
        n_draws = check_int(n_draws, "n_draws", minimum=2)
    gen = check_rng(rng)
    names, costs, n = _unit_costs(unit_costs_per_process, n_draws, gen)
    if isinstance(population, str) and population in names:
        raise DataError(f"`population` {population!r} is also a process indicator.")
    options = dict(year=year, id=id, k=k, weighting=weighting, exclude=exclude,
                   exclude_treated=exclude_treated, n_resamples=0, n_draws=0, level=level, rng=0)
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            comp = compare(indicators, treated, neighbours, indicator=names, **options)
            pop_comp = (compare(indicators, treated, neighbours, indicator=[population],
                                **options) if isinstance(population, str) else None)
    finally:
        _rewarn(caught)
    codes = comp.treated
    pop = _population(pop_comp, population, codes)
    per_la = comp.per_la.set_index(["indicator", "la_code"])["difference"]
    d = np.column_stack([per_la.loc[p].reindex(list(codes)).to_numpy(dtype=float)
                         for p in names])
    if np.isnan(d).any():
        miss = [f"{c} ({p})" for (i, c) in enumerate(codes) for (j, p) in enumerate(names)
                if np.isnan(d[i, j])]
        warnings.warn(f"no gap for {', '.join(miss)}: left out of that indicator's rows and "
                      "counted as 0 in the totals.", SosstatsWarning, stacklevel=2)
    mean_c = costs.mean(axis=0, keepdims=True)
    lab_p, x, x_se, x_df = _rows(d, pop, np.ones_like(mean_c), pooling, per, total=False)
    lab_c, y, y_se, y_df = _rows(d, pop, mean_c, pooling, per, total=True)
    rows = [("processes", lab) for lab in lab_p] + [("cost", lab) for lab in lab_c]
    est = np.r_[x[:, 0], y[:, 0]]
    se = np.r_[x_se[:, 0], y_se[:, 0]]
    dof = np.r_[x_df, y_df]
    draws = None
    if n is not None:
        _, yb, yb_se, _ = _rows(d, pop, costs, pooling, per, total=True)
        t = gen.standard_t(y_df[:, None], size=yb.shape)
        draws = np.vstack([np.full((len(lab_p), n), np.nan), yb + yb_se * t])
        se = np.r_[x_se[:, 0], draws[len(lab_p):].std(axis=1, ddof=1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.r_[x[:, 0] / x_se[:, 0], y[:, 0] / y_se[:, 0]]
    pop_row = np.array([pop[i] if i is not None else
                        pop[np.isfinite(d[:, p])].sum() if p is not None else pop.sum()
                        for _, (p, i) in rows])
    unit = np.array([mean_c[0, p] if p is not None else np.nan for _, (p, _) in rows])
    qty = np.array([q for q, _ in rows])
    count = dict(zip(lab_p, x[:, 0]))
    processes = np.array([count.get(lab, np.nan) for _, lab in rows])
    table = pd.DataFrame({
        "estimate": est, "std_error": se, "statistic": stat,
        "p_value": 2 * stats.t.sf(np.abs(stat), dof), "df": dof,
        "quantity": qty, "indicator": [names[p] if p is not None else "total"
                                       for _, (p, _) in rows],
        "la_code": [codes[i] if i is not None else "pooled" for _, (_, i) in rows],
        "population": pop_row, "gap": -processes * per / pop_row, "unit_cost": unit})
    table.index = [f"{q}[{ind}: {la}]" for q, ind, la in
                   zip(table["quantity"], table["indicator"], table["la_code"])]
    table[["ci_lower", "ci_upper"]] = np.nan
    if draws is not None:
        draws = pd.DataFrame(draws, index=pd.Index(table.index, name="term"),
                             columns=pd.RangeIndex(n, name="draw"))
    result = AvoidedCosts(table=table, comparison=comp, draws=draws, indicators=tuple(names),
                          treated=tuple(codes), pooling=pooling, per=float(per), n_draws=n,
                          nobs=len(codes), level=level)
    ci = result.conf_int()
    table["ci_lower"], table["ci_upper"] = ci["lower"].to_numpy(), ci["upper"].to_numpy()
    return result

r"""Cost-effectiveness analysis of two or more options with a (cluster) bootstrap.

``cea(data, cost="cost", effect="sdq_gain", group="arm")`` compares the options in ``group``:
mean cost and effect of each, incremental cost and effect and the ICER against a reference,
net monetary benefit over a range of willingness to pay, the acceptability curve and frontier,
dominance and extended dominance, and the expected value of perfect information, all from one
non-parametric bootstrap (stratified by option; clusters resampled when ``cluster=`` is given).
``cea(draws=idata)`` computes the same from draws of each option's mean cost and effect (a
posterior, or a probabilistic model's draws) instead of resampling units.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._kernels.bootstrap_cea import bootstrap_cea, cea_summaries
from sosstats._validate import (
    check_columns,
    check_frame,
    check_int,
    check_level,
    check_numeric_columns,
    check_rng,
    check_weights,
)
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.vfm.cea_result import CEAResult

__all__ = ["cea", "cea_from_draws", "DEFAULT_WTP", "FEW_CLUSTERS"]

#: Default willingness-to-pay grid: 0 to 50,000 in steps of 500 (101 thresholds).
DEFAULT_WTP = np.linspace(0, 50_000, 101)
#: ``cluster=`` warns when an option has fewer clusters than this (see :func:`cea`, Notes).
FEW_CLUSTERS = 20


def _labels(values: pd.Series, name: str) -> pd.Series:
    if values.isna().any():
        rows = values.index[values.isna()][:10].tolist()
        raise DataError(f"column {name!r} is missing for {int(values.isna().sum())} row(s) "
                        f"(e.g. {rows}).")
    return values


def _options(groups: pd.Series, reference: Any) -> list[Any]:
    labels = [v.item() if isinstance(v, np.generic) else v for v in pd.unique(groups)]
    try:
        labels = sorted(labels)
    except TypeError:
        pass
    if len(labels) < 2:
        raise DesignError(f"`group` column {groups.name!r} has one option ({labels[0]!r}); "
                          "a cost-effectiveness analysis compares two or more.")
    if reference is None:
        reference = labels[0]
    if reference not in labels:
        raise DataError(f"`reference` {reference!r} is not an option of {groups.name!r}; "
                        f"options are {labels[:20]}.")
    return [reference] + [lab for lab in labels if lab != reference]


def _check_wtp(wtp: Any) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(wtp, dtype=float))
    except (TypeError, ValueError) as exc:
        raise DataError("`wtp` must be numbers (money per unit of effect).") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise DataError("`wtp` must be a number or a non-empty 1-D array.")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise DataError("`wtp` values must be finite and non-negative.")
    return arr


def _check_values(values: np.ndarray, rows: pd.Index, columns: list[str],
                  weights: str | None) -> None:
    """Finite cost and effect, costs >= 0, among the rows used (``rows`` label them)."""
    where = f" in rows with a positive weight in {weights!r}" if weights is not None else ""
    fix = (f"drop or impute them, or give them weight 0 in {weights!r}" if weights is not None
           else "drop or impute those rows, or weight the observed ones with `weights=` "
           "(e.g. attrition weights) and give the others weight 0")
    for j, column in enumerate(columns):
        for bad, what in ((np.isnan(values[:, j]), "missing value(s) (NaN)"),
                          (np.isinf(values[:, j]), "infinite value(s)")):
            if bad.any():
                more = " ..." if bad.sum() > 10 else ""
                raise DataError(f"column {column!r} has {int(bad.sum())} {what}{where} (rows "
                                f"{rows[bad][:10].tolist()}{more}); {fix}.")
    neg = values[:, 0] < 0
    if neg.any():
        raise DataError(f"column {columns[0]!r} has {int(neg.sum())} negative cost(s) (rows "
                        f"{rows[neg][:10].tolist()}); costs must be >= 0 (put savings in an "
                        "avoided-cost analysis, not in negative costs).")


def cea(data: pd.DataFrame | None = None, *, cost: str | None = None,
        effect: str | None = None, group: str | None = None, cluster: str | None = None,
        weights: str | None = None, n_resamples: int | None = None,
        rng: int | np.random.Generator | None = None, wtp: Any = DEFAULT_WTP,
        level: float = 0.95, reference: Any = None, draws: Any = None,
        draw_id: str | list[str] = "draw", point: pd.DataFrame | None = None) -> CEAResult:
    r"""Compare the costs and effects of two or more options, with bootstrap uncertainty.

    Two inputs: unit-level ``data`` (resampled by a non-parametric bootstrap), or ``draws`` of
    each option's mean cost and effect (posterior draws of a Bayesian model, Monte Carlo draws
    of a decision model, or bootstrap replicates made elsewhere), which are used as they are.

    Parameters
    ----------
    data : pandas.DataFrame, optional
        One row per unit (patient, family, child); not modified. Give ``data`` or ``draws``.
    cost, effect : str
        With ``data``: columns of cost (money, >= 0) and effect (any scale where more is
        better: an outcome gain, a QALY, a case avoided); required. No NaN in the rows used:
        handle missing values with the weights (a row with weight 0 may hold NaN: it is left
        out) or imputations of :mod:`sosstats.weighting` first. With ``draws``: the names of
        the cost and effect variables (columns, or wide-frame quantities); default ``"cost"``
        and ``"effect"``.
    group : str
        With ``data``: column naming each row's option (arm, pilot / comparison...); required.
        With ``draws``: the option column of a long frame, or the option dimension of an
        InferenceData; default ``"option"``.
    cluster : str, optional
        Column of clusters (worker, pilot LA) nested in options: clusters are resampled within
        each option, not rows. Warns when an option has fewer than :data:`FEW_CLUSTERS` (20).
    weights : str, optional
        Column of non-negative weights (e.g. attrition weights); means are ratio estimators
        ``sum(w * y) / sum(w)``. Rows with weight 0 are left out (they carry no information)
        before cost, effect and cluster are checked, so they may hold NaN (e.g. an outcome not
        observed for a non-respondent); the result counts them (``n_dropped``,
        ``n_dropped_missing``).
    n_resamples : int, default 5000
        Bootstrap replicates (unit-level ``data`` only: with ``draws`` the draws are the
        replicates).
    rng : int, numpy.random.Generator or None
        Randomness (see :mod:`sosstats._kernels.bootstrap_cea` for exactly how it is used);
        not used with ``draws``.
    wtp : array-like, default ``0, 500, ..., 50,000``
        Willingness-to-pay thresholds (money per unit of effect).
    level : float, default 0.95
        Level of the percentile intervals.
    reference : optional
        The comparator option (default: the first in sorted order); increments are "option
        minus reference".
    draws : arviz.InferenceData, xarray.Dataset or pandas.DataFrame, optional
        Draws of every option's mean cost and effect, one joint draw per row (or per
        ``(chain, draw)``), in one of three layouts (:mod:`sosstats.vfm._draws`):

        * an ``InferenceData`` (its ``posterior``) or a ``Dataset`` (e.g.
          ``idata.posterior_predictive``) with variables ``cost`` and ``effect`` of dims
          ``(chain, draw, option)`` (``chain`` optional), the option labels as the
          ``option`` coordinate;
        * a long frame, one row per draw and option: columns ``draw`` (see ``draw_id``),
          ``option``, ``cost``, ``effect``;
        * a wide frame with column levels ``(quantity, option)``, quantities ``cost`` and
          ``effect``, one row per draw (the layout of :attr:`CEAResult.replicates`).

        Costs may be negative here (e.g. net costs of a parametric model). ``cluster``,
        ``weights``, ``n_resamples`` and ``rng`` do not apply.
    draw_id : str or list of str, default "draw"
        The column(s) identifying a draw in a long ``draws`` frame (e.g. ``["chain",
        "draw"]``); draws are taken in the order their ids first appear.
    point : pandas.DataFrame, optional
        With ``draws``: point estimates of each option's mean cost and effect, indexed by
        option with columns named as ``cost`` and ``effect`` (e.g. ``means`` of a unit-level
        result); default the means of the draws (posterior means). The ICER, NMB and frontier
        are computed at the point estimates; SEs, intervals, CEAC, CEAF and EVPI from the
        draws.

    Returns
    -------
    CEAResult
        ``tidy()`` / ``summary()`` of costs, effects, increments and ICERs (standard errors
        are bootstrap SDs, intervals bootstrap percentiles; the statistic and p-value of an
        increment are the normal approximation estimate / SE); ``increments``, ``frontier``,
        ``nmb()``, ``ceac``, ``ceaf``, ``evpi``, ``replicates``; ``plot``.

    Raises
    ------
    DataError
        Missing columns, non-numeric cost / effect / weights, NaN or infinite cost / effect in
        a row used (with a positive weight), NaN weights, negative costs or weights, missing
        group labels or missing cluster labels in a row used, an unknown reference, bad
        ``wtp``. With ``draws``: both or neither of ``data`` and ``draws``; ``cluster``,
        ``weights``, ``n_resamples`` or ``rng`` given; missing cost / effect variables or
        columns; draws with mismatched options (cost and effect over different options, or a
        draw without a row for every option); duplicated (draw, option) rows; non-numeric or
        non-finite draws; a ``point`` frame without every option or column.
    DesignError
        Fewer than two options; an option with one unit (or one cluster); clusters spanning
        options; ``n_resamples`` below 2; fewer than two draws.

    Warns
    -----
    SosstatsWarning
        When the incremental effect of an option is exactly 0 (its ICER is NaN: undefined,
        never divided by zero); with ``cluster=``, when an option has fewer than
        :data:`FEW_CLUSTERS` clusters (the cluster bootstrap then understates uncertainty).

    Notes
    -----
    Option means are ratio estimators :math:`\bar y_g = \sum_{i \in g} w_i y_i /
    \sum_{i \in g} w_i` (``w = 1`` without weights). Each bootstrap replicate resamples, within
    every option, as many units (or clusters, carrying their sums of :math:`w c`, :math:`w e`
    and :math:`w`) as it has, with replacement, and recomputes the means
    (Briggs, Wonderling & Mooney 1997; clusters: Davison & Hinkley 1997, section 3.8).
    With :math:`G` clusters in an option the bootstrap variance of its mean is
    :math:`(G-1)/G` times the usual unbiased one and the percentile interval has normal, not
    :math:`t_{G-1}`, tails, so its width is :math:`\sqrt{(G-1)/G}\, z / t_{G-1}` times that
    of the t interval (9% narrower at :math:`G = 20`, 18% at 10, 47% at 4), and the cluster
    bootstrap is known to over-reject with few clusters (Cameron, Gelbach & Miller 2008):
    hence the warning below :data:`FEW_CLUSTERS`.
    Increments are :math:`\Delta C = \bar C_g - \bar C_r`, :math:`\Delta E = \bar E_g -
    \bar E_r`, the ICER :math:`\Delta C / \Delta E` and the net monetary benefit
    :math:`\mathrm{NMB}_g(\lambda) = \lambda \bar E_g - \bar C_g` (Stinnett & Mullahy 1998).
    The ICER is reported with its quadrant (``NE``, ``SE``: dominant, ``NW``: dominated,
    ``SW``), because a negative ICER ranks nothing; when :math:`\Delta E = 0` it is NaN
    (undefined) with a note, and the NMB, CEAC and costs still answer the question. Its
    percentile interval is given only when every replicate has :math:`\Delta E` of the point
    estimate's sign (else NaN: use the CEAC). CEAC: the share of replicates in which an option
    has the highest NMB (ties to the reference, then option order; NMBs within ``1e-9`` of
    the scale of their terms, :math:`\lambda \max_g |\bar E_g| + \max_g |\bar C_g|`, are tied:
    :func:`sosstats._kernels.bootstrap_cea.tie_tolerance`); CEAF: the option with the
    highest expected NMB (same tie rule) and its CEAC value (Fenwick, Claxton & Sculpher
    2001); EVPI per person: :math:`E[\max_g \mathrm{NMB}_g] - \max_g E[\mathrm{NMB}_g]`
    over replicates (Briggs, Claxton & Sculpher 2006). ``frontier`` is the incremental
    analysis of the point estimates with dominance and extended dominance
    (:func:`sosstats.vfm.incremental_analysis`).

    With ``draws`` :math:`(\bar C_{sg}, \bar E_{sg})`, :math:`s = 1, \dots, S`, the same
    summaries are computed from the draws instead of bootstrap replicates (the same kernel,
    :func:`sosstats._kernels.bootstrap_cea.cea_summaries`), so a posterior gives the Bayesian
    CEAC, :math:`P(\mathrm{NMB}_g = \max_j \mathrm{NMB}_j \mid y)`, and EVPI
    (O'Hagan & Stevens 2001; Baio 2012); the point estimates are the posterior means (ICER:
    ratio of posterior mean increments). Feeding a unit-level result's own ``replicates``
    (with ``point=`` its ``means``) reproduces it exactly. For the value of learning
    particular parameters, see :func:`sosstats.vfm.evppi`.

    References
    ----------
    Briggs, A. H., Wonderling, D. E. & Mooney, C. Z. (1997). Pulling cost-effectiveness
    analysis up by its bootstraps. *Health Economics* 6, 327-340.
    Stinnett, A. A. & Mullahy, J. (1998). Net health benefits. *Medical Decision Making* 18,
    S68-S80.
    Fenwick, E., Claxton, K. & Sculpher, M. (2001). Representing uncertainty: the role of
    cost-effectiveness acceptability curves. *Health Economics* 10, 779-787.
    Briggs, A., Claxton, K. & Sculpher, M. (2006). *Decision Modelling for Health Economic
    Evaluation*. OUP.
    Davison, A. C. & Hinkley, D. V. (1997). *Bootstrap Methods and their Application*. CUP.
    Cameron, A. C., Gelbach, J. B. & Miller, D. L. (2008). Bootstrap-based improvements for
    inference with clustered errors. *Review of Economics and Statistics* 90, 414-427.
    O'Hagan, A. & Stevens, J. W. (2001). A framework for cost-effectiveness analysis from
    clinical trial data. *Health Economics* 10, 303-315.
    Baio, G. (2012). *Bayesian Methods in Health Economics*. Chapman & Hall/CRC.
    """
    if draws is not None or data is None:
        if data is not None:
            raise DataError("give `data` (unit-level rows) or `draws` (draws of each option's "
                            "mean cost and effect), not both.")
        if draws is None:
            raise DataError("`cea` needs `data` (unit-level rows) or `draws` (draws of each "
                            "option's mean cost and effect).")
        given = [name for name, v in (("cluster", cluster), ("weights", weights),
                                      ("n_resamples", n_resamples), ("rng", rng))
                 if v is not None]
        if given:
            raise DataError(f"{', '.join(f'`{g}`' for g in given)} apply to unit-level `data` "
                            "only; with `draws` the draws are used as they are.")
        return cea_from_draws(draws, cost=cost or "cost", effect=effect or "effect",
                              group=group or "option", draw_id=draw_id, wtp=wtp, level=level,
                              reference=reference, point=point)
    if point is not None:
        raise DataError("`point` applies to `draws` only; with `data` the point estimates are "
                        "the (weighted) means of the rows.")
    missing = [name for name, v in (("cost", cost), ("effect", effect), ("group", group))
               if v is None]
    if missing:
        raise DataError(f"with `data`, {', '.join(f'`{m}`' for m in missing)} must name "
                        "column(s) of `data`.")
    n_resamples = 5000 if n_resamples is None else n_resamples
    data = check_frame(data)
    cols = [cost, effect, group] + [c for c in (cluster, weights) if c is not None]
    check_columns(data, cols)
    if len(set(cols)) != len(cols):
        raise DataError(f"`cost`, `effect`, `group`, `cluster` and `weights` must be different "
                        f"columns; got {cols}.")
    n_resamples = check_int(n_resamples, "n_resamples", minimum=2)
    level = check_level(level)
    wtp = _check_wtp(wtp)
    gen = check_rng(rng)
    seed = int(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None
    rng_state = gen.bit_generator.state
    values = check_numeric_columns(data, [cost, effect], allow_nan=True, allow_inf=True)
    groups = _labels(data[group], group)
    options = _options(groups, reference)
    codes = pd.Categorical(groups, categories=options).codes.astype(np.intp)
    w = None
    keep = np.ones(len(data), dtype=bool)
    if weights is not None:
        w = check_weights(data[weights], f"weights column {weights!r}")
        keep = w > 0
    # rows with weight 0 carry no information: they leave before cost and effect are checked
    n_missing_dropped = int((~np.isfinite(values[~keep])).any(axis=1).sum())
    _check_values(values[keep], data.index[keep], [cost, effect], weights)
    clusters = None if cluster is None else _labels(data[cluster][keep], cluster)
    c, e, codes = values[keep, 0], values[keep, 1], codes[keep]
    w = None if w is None else w[keep]
    n_units = np.bincount(codes, minlength=len(options))
    _check_sizes(n_units, options, "unit", weights)
    if clusters is None:
        units_cost, units_effect, units_weight, unit_codes = (
            c if w is None else w * c, e if w is None else w * e, w, codes)
        n_clusters = None
    else:
        cl_codes = pd.factorize(clusters, sort=False)[0]  # order of first appearance
        n_cl = int(cl_codes.max()) + 1
        unit_codes = codes[np.unique(cl_codes, return_index=True)[1]]
        spans = unit_codes[cl_codes] != codes
        if spans.any():
            bad = pd.unique(clusters[spans])[:10].tolist()
            raise DesignError(f"clusters must be nested in options: cluster(s) {bad} of "
                              f"{cluster!r} appear under more than one option of {group!r}.")
        ww = np.ones_like(c) if w is None else w
        units_cost = np.bincount(cl_codes, weights=ww * c, minlength=n_cl)
        units_effect = np.bincount(cl_codes, weights=ww * e, minlength=n_cl)
        units_weight = np.bincount(cl_codes, weights=ww, minlength=n_cl)
        n_clusters = np.bincount(unit_codes, minlength=len(options))
        _check_sizes(n_clusters, options, "cluster", weights)
    tot_w = (n_units.astype(float) if w is None
             else np.bincount(codes, weights=w, minlength=len(options)))
    point_cost = np.bincount(codes, weights=c if w is None else w * c,
                             minlength=len(options)) / tot_w
    point_effect = np.bincount(codes, weights=e if w is None else w * e,
                               minlength=len(options)) / tot_w
    probs = np.array([0.5 - level / 2, 0.5 + level / 2])
    reps = bootstrap_cea(units_cost, units_effect, unit_codes, n_groups=len(options),
                         n_resamples=n_resamples, rng=gen, wtp=wtp, sum_weight=units_weight,
                         reference=0, probs=probs)
    result = CEAResult(options=tuple(options), reference=options[0], cost_column=cost,
                       effect_column=effect, group_column=group, cluster=cluster,
                       weights=weights, wtp=wtp, n_resamples=n_resamples, level=level,
                       nobs=int(keep.sum()), n_dropped=int((~keep).sum()),
                       n_dropped_missing=n_missing_dropped,
                       n_units=n_units, n_clusters=n_clusters, point_cost=point_cost,
                       point_effect=point_effect, seed=seed, rng_state=rng_state,
                       _reps=reps)
    _warn(result)
    return result


def cea_from_draws(draws: Any, *, cost: str = "cost", effect: str = "effect",
                   group: str = "option", draw_id: str | list[str] = "draw",
                   wtp: Any = DEFAULT_WTP, level: float = 0.95, reference: Any = None,
                   point: pd.DataFrame | None = None) -> CEAResult:
    """Run the ``draws=`` path of :func:`cea` (see there); return a ``DrawsCEAResult``."""
    from sosstats.vfm._draws import DrawsCEAResult, read_draws

    level = check_level(level)
    wtp = _check_wtp(wtp)
    got = read_draws(draws, cost=cost, effect=effect, option=group, draw_id=draw_id)
    options = _options(pd.Series(got.options, name=group, dtype=object), reference)
    where = {repr(o): j for j, o in enumerate(got.options)}
    order = [where[repr(o)] for o in options]
    c, e = got.cost[:, order], got.effect[:, order]
    if point is None:
        point_cost, point_effect, point_source = c.mean(axis=0), e.mean(axis=0), "mean of the draws"
    else:
        point_cost, point_effect = _point(point, options, cost, effect)
        point_source = "given (point=)"
    probs = np.array([0.5 - level / 2, 0.5 + level / 2])
    reps = cea_summaries(c, e, wtp, reference=0, probs=probs)
    n = c.shape[0]
    result = DrawsCEAResult(options=tuple(options), reference=options[0], cost_column=cost,
                            effect_column=effect, group_column=group, cluster=None,
                            weights=None, wtp=wtp, n_resamples=n, level=level, nobs=n,
                            n_dropped=0, n_units=np.full(len(options), n), n_clusters=None,
                            point_cost=point_cost, point_effect=point_effect, seed=None,
                            rng_state={}, _reps=reps, source=got.source,
                            point_source=point_source)
    _warn(result)
    return result


def _point(point: Any, options: list[Any], cost: str, effect: str
           ) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(point, pd.DataFrame):
        raise DataError(f"`point` must be a DataFrame indexed by option with columns {cost!r} "
                        f"and {effect!r}; got {type(point).__name__}.")
    check_columns(point, [cost, effect], name="point")
    missing = [o for o in options if o not in point.index]
    if missing:
        raise DataError(f"`point` has no row for option(s) {missing}; its index is "
                        f"{list(point.index[:20])}.")
    vals = check_numeric_columns(point.loc[options], [cost, effect], name="point")
    return vals[:, 0].copy(), vals[:, 1].copy()


def _check_sizes(sizes: np.ndarray, options: list[Any], what: str, weights: str | None) -> None:
    small = [(o, int(n)) for o, n in zip(options, sizes) if n < 2]
    if small:
        shown = ", ".join(f"{o!r} ({n} {what}{'s' if n != 1 else ''})" for o, n in small)
        extra = " with a positive weight" if weights is not None else ""
        raise DesignError(f"every option needs at least two {what}s{extra} to bootstrap; "
                          f"{shown}.")


def _narrowing(g: int, level: float) -> float:
    """How much narrower a bootstrap percentile interval of a mean of ``g`` clusters is.

    Against the t interval on ``g - 1`` df: ``1 - sqrt((g-1)/g) z / t_{g-1}``.
    """
    q = 0.5 + level / 2
    return 1.0 - np.sqrt((g - 1) / g) * stats.norm.ppf(q) / stats.t.ppf(q, g - 1)


def _warn(result: CEAResult) -> None:
    flat = [o for o, de in zip(result.options[1:], result.point_effect[1:]
                               - result.point_effect[0]) if de == 0]
    if flat:
        warnings.warn(f"the incremental effect of {flat} against {result.reference!r} is "
                      "exactly 0: the ICER is undefined (NaN); compare costs, or use the net "
                      "monetary benefit and the CEAC.", SosstatsWarning, stacklevel=3)
    if result.n_clusters is not None and (result.n_clusters < FEW_CLUSTERS).any():
        shown = ", ".join(f"{o!r} {int(g)}" for o, g in zip(result.options, result.n_clusters))
        g = int(result.n_clusters.min())
        warnings.warn(f"few clusters of {result.cluster!r} for the cluster bootstrap ({shown}; "
                      f"fewer than {FEW_CLUSTERS} in an option): with few clusters it "
                      f"understates uncertainty (the variance of a mean shrinks by (G - 1)/G "
                      f"and the t tails are ignored; with G = {g} a {result.level:.0%} interval "
                      f"is about {_narrowing(g, result.level):.0%} narrower than the t interval "
                      "on G - 1 df). Read its intervals and CEAC as too confident; resample a "
                      "lower level whose units are closer to independent, or model the "
                      "clusters (sosstats.multilevel).", SosstatsWarning, stacklevel=3)

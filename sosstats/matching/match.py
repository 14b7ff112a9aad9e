r"""Unit-level matching: :func:`match` (nearest neighbour, optimal, CEM, subclassification).

The defaults follow R's MatchIt 4 wherever a user would expect the same matched sample: a
logistic propensity score on the probability scale, greedy 1:1 matching without replacement
taking treated units from the largest score down, calipers in standard deviations of the score,
MatchIt's weights. ``tests/fixtures/matchit_reference.R`` holds the configurations checked
against MatchIt 4.5.1.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sosstats._formula import formula_variables
from sosstats._validate import (
    as_list,
    check_columns,
    check_frame,
    check_int,
    check_option,
    check_rng,
)
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.matching._cem import cem_strata, subclassify
from sosstats.matching._distance import (
    DISCARD_OPTIONS,
    DistanceInfo,
    caliper_width,
    common_support,
    covariate_calipers,
    covariate_matrix,
    resolve_distance,
    whiten_mahalanobis,
)
from sosstats.matching._inputs import subclass_weights, treatment_vector
from sosstats.matching.result import MatchResult, pair_weights, pairs_frame

__all__ = ["match", "METHODS", "ESTIMANDS", "ORDERS"]

METHODS = ("nearest", "optimal", "cem", "subclass")
ESTIMANDS = ("ATT", "ATC", "ATE")
ORDERS = ("largest", "smallest", "random", "data")
_GROUP = np.array(["control", "treated"], dtype=object)


def match(data: pd.DataFrame, *, treatment: str | None = None,
          covariates: str | Sequence[str] | None = None, formula: str | None = None,
          method: str = "nearest", distance: Any = "logit", ratio: int = 1,
          replace: bool = False, caliper: float | Mapping[str, float] | None = None,
          std_caliper: bool = True,
          exact: str | Sequence[str] | None = None, estimand: str = "ATT",
          order: str | None = None, cutpoints: Any = None, subclass: Any = 6,
          discard: str | None = None,
          rng: int | np.random.Generator | None = None) -> MatchResult:
    r"""Match treated to control units and return the matched sample with MatchIt's weights.

    Parameters
    ----------
    data : DataFrame
        One row per unit, with a unique index (its labels identify units in ``.pairs``).
        Not modified.
    treatment : str
        0/1 (or boolean) treatment column. May instead be the left-hand side of ``formula``.
    covariates : str or list of str, optional
        Columns to match on. Numeric and boolean columns enter as they are, others as dummies
        (propensity and Mahalanobis) or exactly (CEM).
    formula : str, optional
        Instead of ``covariates``: ``"treat ~ x1 + x2 + C(region)"`` or a right-hand side
        (formulaic syntax) building the propensity-score or Mahalanobis design.
    method : {"nearest", "optimal", "cem", "subclass"}
        Greedy nearest neighbour; optimal pair matching (minimum total distance); coarsened
        exact matching; propensity-score subclassification.
    distance : {"logit", "linear_logit", "mahalanobis", "euclidean"}, column name or array
        ``"logit"``: logistic propensity score on the probability scale (MatchIt's default);
        ``"linear_logit"``: its linear predictor; or a user score. Ignored by CEM.
    ratio : int, default 1
        Controls per treated unit (nearest and optimal).
    replace : bool, default False
        Match with replacement (nearest only).
    caliper : float or mapping, optional
        Largest allowed distance of a pair: in standard deviations of the score when
        ``std_caliper`` (the SD over all units not discarded), else on the distance scale
        (required for Mahalanobis and Euclidean distances). A mapping such as
        ``{"sdq_t1": 0.25, "distance": 0.1}`` also (or only) caps the absolute difference in
        numeric covariates, in their standard deviations when ``std_caliper`` (MatchIt's
        named calipers; ``"distance"`` is the distance caliper). Treated units without a
        control within the caliper stay unmatched.
    std_caliper : bool, default True
    exact : str or list of str, optional
        Columns on which pairs must agree exactly (nearest, optimal; added to the CEM strata).
    estimand : {"ATT", "ATC", "ATE"}, default "ATT"
        ATT matches controls to treated units, ATC the reverse; ATE is for CEM and
        subclassification only. Sets the weights.
    order : {"largest", "smallest", "random", "data"}, optional
        Order in which greedy matching takes treated units: by score from the largest (default
        for the ATT with a score), from the smallest (default for the ATC), at random (``rng``)
        or in data order (default for Mahalanobis and Euclidean distances).
    cutpoints : str, int, sequence or mapping, optional
        CEM bins: a rule (``"sturges"`` default, ``"scott"``, ``"fd"``, ``"qK"``), a number of
        bins, cut points, or a mapping from column to any of these.
    subclass : int or sequence of float, default 6
        Number of propensity subclasses, or quantiles cutting them.
    discard : {"none", "both", "treated", "control"}, optional
        Drop units outside the common support of the score before matching.
    rng : int, Generator or None
        For ``order="random"``.

    Returns
    -------
    MatchResult
        ``.weights``, ``.subclass``, ``.pairs``, ``.matched``, ``.discarded``,
        ``.balance()``, ``.plot()``, ``.estimate_effect(outcome)``.

    Raises
    ------
    DataError
        Missing columns, a treatment that is not 0/1, missing covariates, bad options.
    DesignError
        No treated or no control units; ``ratio`` larger than the controls available without
        replacement; a caliper (or exact strata) that leaves no treated unit matched.

    Notes
    -----
    Greedy matching takes treated units one at a time in ``order`` and gives each the nearest
    control still available (within the caliper and exact stratum); 1:k matching does this in
    k rounds, the first control of every treated unit before any second, as MatchIt does.
    Weights are MatchIt's (``sosstats.matching.result``); distances, calipers and common support
    are described in ``sosstats.matching._distance`` and CEM and subclassification in
    ``sosstats.matching._cem``.

    References
    ----------
    Stuart, E. A. (2010). Matching methods for causal inference: a review and a look forward.
    *Statistical Science* 25(1), 1-21.

    Ho, D. E., Imai, K., King, G. and Stuart, E. A. (2011). MatchIt: nonparametric
    preprocessing for parametric causal inference. *Journal of Statistical Software* 42(8).

    Examples
    --------
    >>> from sosstats.datasets import simulate_evaluation
    >>> fam = simulate_evaluation(rng=1, n_families=400).families
    >>> fam = fam.assign(cohort2=(fam["cohort"] == 2).astype(int))
    >>> m = match(fam, treatment="cohort2", covariates=["sdq_t1", "previous_referral"])
    >>> int(m.n_matched["treated"]) > 0
    True
    """
    data = check_frame(data)
    if data.index.has_duplicates:
        raise DataError("`data` has a duplicated index; matched pairs are reported by index "
                        "label, so give every row a unique label (e.g. reset_index()).")
    method = check_option(method, METHODS, "method")
    estimand = check_option(str(estimand).upper(), ESTIMANDS, "estimand")
    if estimand == "ATE" and method in ("nearest", "optimal"):
        raise DataError(f"`estimand`='ATE' is not available with method={method!r}; use "
                        "'ATT' or 'ATC' (or method='cem'/'subclass').")
    treatment, covs, design, names = _covariates(data, treatment, covariates, formula)
    treat = treatment_vector(data, treatment).astype(np.intp)
    focal = 0 if estimand == "ATC" else 1
    exact_cols = check_columns(data, as_list(exact), what="`exact` column")
    _no_missing(data, exact_cols, "`exact` column")
    discard = check_option("none" if discard is None else discard, DISCARD_OPTIONS, "discard")
    base = dict(data=data.copy(), treatment=treatment, covariates=covs, method=method,
                estimand=estimand)

    if method == "cem":
        if covs == [] and not exact_cols:
            raise DataError("method='cem' needs `covariates` (or `formula`).")
        cols = covs + [c for c in exact_cols if c not in covs]
        cuts = cutpoints
        if exact_cols:
            cuts = dict(cutpoints) if isinstance(cutpoints, dict) else {
                c: ("sturges" if cutpoints is None else cutpoints) for c in covs}
            cuts.update({c: 0 for c in exact_cols})
        sub = cem_strata(data, cols, treat, cuts)
        w = subclass_weights(treat == 1, sub - 1, estimand)
        reason = np.where(treat == 1, "no control unit in its CEM stratum",
                          "no treated unit in its CEM stratum")
        return MatchResult(**base, distance=None, weights=_series(w, data), subclass=_sub(
            sub, data), pairs=None, discarded=_discarded(data, treat, w, reason),
            options=dict(cutpoints=cutpoints, exact=exact_cols or None))

    info = resolve_distance(distance, data, treat, design, names)
    dropped = common_support(info.score, treat, discard)
    keep = ~dropped
    _group_sizes(treat, keep, treatment)
    reason = np.where(dropped, f"outside the common support (discard={discard!r})", "")
    dist_series = _series(info.score, data) if info.is_score else None
    dist_label = distance if isinstance(distance, str) else "user score"

    if method == "subclass":
        if not info.is_score:
            raise DataError("method='subclass' needs a one-dimensional distance (propensity or "
                            f"user score); got distance={dist_label!r}.")
        sub, q = subclassify(info.score, treat, keep, subclass, estimand)
        w = subclass_weights(treat == 1, sub - 1, estimand)
        return MatchResult(**base, distance=dist_series, weights=_series(w, data),
                           subclass=_sub(sub, data), pairs=None,
                           discarded=_discarded(data, treat, w, reason),
                           options=dict(distance=dist_label, subclass=subclass,
                                        discard=discard, quantiles=q.tolist()), model=info.model)

    ratio = check_int(ratio, "ratio", minimum=1)
    if not isinstance(replace, (bool, np.bool_)):
        raise DataError(f"`replace` must be True or False; got {replace!r}.")
    if method == "optimal" and (replace or caliper is not None):
        raise DataError("method='optimal' matches without replacement and without a caliper; "
                        "use method='nearest' for `replace` or `caliper`.")
    order = _order(order, info, estimand)
    if info.kind in ("mahalanobis", "euclidean"):
        points = whiten_mahalanobis(design, treat, keep) if info.kind == "mahalanobis" \
            else design
        info = DistanceInfo(info.kind, None, points)
    dist_cal, cal_x, cal_w = covariate_calipers(caliper, std_caliper, data, keep)
    width = caliper_width(dist_cal, std_caliper, info, keep)
    gen = check_rng(rng)
    strata = (data[exact_cols].astype(object).groupby(exact_cols, sort=True).ngroup()
              .to_numpy() if exact_cols else None)

    fpos = np.flatnonzero((treat == focal) & keep)
    opos = np.flatnonzero((treat != focal) & keep)
    names_g = ("treated", "control") if focal == 1 else ("control", "treated")
    if not replace:
        if ratio > opos.size:
            raise DesignError(f"`ratio`={ratio} but only {opos.size} {names_g[1]} units are "
                              "available to match without replacement; lower `ratio` or set "
                              "replace=True.")
    kw = {} if strata is None else dict(strata_t=strata[fpos], strata_c=strata[opos])
    capped = width is not None or cal_x is not None
    if method == "optimal":
        from sosstats._kernels.match_nearest import optimal_pairs

        mm, dd = optimal_pairs(info.points[fpos], info.points[opos], ratio=ratio, **kw)
    else:
        from sosstats._kernels.match_nearest import greedy_nearest

        if cal_x is not None:
            kw["caliper_covs"] = (cal_x[fpos], cal_x[opos], cal_w)
        if info.is_score:  # MatchIt's scan of the sorted scores settles ties
            kw.update(ties="matchit", rows_t=fpos, rows_c=opos)
        mm, dd = greedy_nearest(
            info.points[fpos], info.points[opos], ratio=ratio, replace=bool(replace),
            caliper=width, order=order,
            order_key=info.score[fpos] if info.is_score else None, rng=gen, **kw)
    mm, dd = np.asarray(mm, dtype=np.intp).reshape(fpos.size, -1), np.asarray(dd, dtype=float)
    dd = dd.reshape(mm.shape)
    got = (mm >= 0).any(axis=1)
    if not got.any():
        scale = "" if width is None else f"; width {width:.6g} on the distance scale"
        why = (f"the caliper ({caliper} {'SD' if std_caliper else 'units'}{scale}) drops "
               f"every {names_g[0]} unit" if capped else
               f"no {names_g[0]} unit has a {names_g[1]} unit in its `exact` stratum")
        raise DesignError(f"no {names_g[0]} unit could be matched: {why}; widen `caliper` or "
                          "relax `exact`.")
    n_short = int(((mm >= 0).sum(axis=1) < ratio).sum())
    if not replace and ratio * fpos.size > opos.size:
        # one warning per call, with this call's own figures (after matching, not before)
        warnings.warn(f"{opos.size} {names_g[1]} units for {fpos.size} {names_g[0]} units at "
                      f"ratio {ratio} (method={method!r}, distance={dist_label!r}): {n_short} "
                      f"{names_g[0]} units got "
                      f"{'no match' if ratio == 1 else f'fewer than {ratio} matches'}; "
                      "`.discarded` gives each unmatched unit's reason.",
                      SosstatsWarning, stacklevel=2)
    w_f, w_o = pair_weights(mm, opos.size)
    w = np.zeros(treat.shape[0])
    w[fpos], w[opos] = w_f, w_o
    pair_id = None
    sub = np.zeros(treat.shape[0], dtype=int)
    if not replace:
        pair_id = np.cumsum(got)  # pairs numbered in data order of the focal units
        sub[fpos[got]] = pair_id[got]
        hit = mm >= 0
        sub[opos[mm[hit]]] = np.broadcast_to(pair_id[:, None], mm.shape)[hit]
    labels = data.index.to_numpy()
    pairs = pairs_frame(mm, dd, labels[fpos], labels[opos], focal == 1,
                        pair_id if pair_id is not None else None)
    reason = _nearest_reasons(reason, fpos, opos, got, w, strata, capped, bool(replace),
                              names_g, exact_cols)
    return MatchResult(**base, distance=dist_series, weights=_series(w, data),
                       subclass=_sub(sub, data), pairs=pairs,
                       discarded=_discarded(data, treat, w, reason), caliper=width,
                       options=dict(distance=dist_label, ratio=ratio, replace=bool(replace),
                                    order=order, exact=exact_cols or None, discard=discard,
                                    caliper=caliper, std_caliper=std_caliper,
                                    rng=rng if isinstance(rng, (int, np.integer)) else None),
                       model=info.model)


# ------------------------------------------------------------------------------- helpers
def _covariates(data: pd.DataFrame, treatment: str | None, covariates: Any,
                formula: str | None) -> tuple[str, list[str], np.ndarray, list[str]]:
    """Treatment name, covariate columns, numeric design and its column names."""
    if formula is not None:
        if covariates is not None:
            raise DataError("give `covariates` or `formula`, not both.")
        if not isinstance(formula, str):
            raise DataError(f"`formula` must be a string; got {type(formula).__name__}.")
        lhs, _, rhs = formula.rpartition("~")
        lhs = lhs.strip()
        if lhs:
            if treatment is not None and treatment != lhs:
                raise DataError(f"`treatment`={treatment!r} differs from the formula's left-hand "
                                f"side {lhs!r}.")
            treatment = lhs
        if treatment is None:
            raise DataError("`treatment` is required (or write it as the left-hand side of "
                            "`formula`).")
        check_columns(data, treatment, what="`treatment` column")
        covs = [c for c in formula_variables(rhs, data) if c != treatment]
        _no_missing(data, covs, "covariate")
        from formulaic import model_matrix

        mm = model_matrix(rhs, data.reset_index(drop=True), na_action="raise")
        mm = mm.drop(columns=[c for c in mm.columns if c == "Intercept"])
        return treatment, covs, mm.to_numpy(dtype=float), [str(c) for c in mm.columns]
    if treatment is None:
        raise DataError("`treatment` is required.")
    check_columns(data, treatment, what="`treatment` column")
    covs = check_columns(data, as_list(covariates), what="covariate")
    if treatment in covs:
        raise DataError(f"the treatment column {treatment!r} is also listed in `covariates`.")
    _no_missing(data, covs, "covariate")
    design, names = covariate_matrix(data, covs)
    return treatment, covs, design, names


def _no_missing(data: pd.DataFrame, columns: list[str], what: str) -> None:
    """DataError naming every column with missing or infinite values."""
    bad = []
    for c in columns:
        s = data[c]
        n_bad = int(s.isna().sum())
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            n_bad += int(np.isinf(s.to_numpy(dtype=float, na_value=0.0)).sum())
        if n_bad:
            bad.append(f"{c!r} ({n_bad})")
    if bad:
        raise DataError(f"{what} {', '.join(bad)} contain missing (NaN) or infinite values; "
                        "drop or impute those rows before matching.")


def _group_sizes(treat: np.ndarray, keep: np.ndarray, column: str) -> None:
    """DesignError when discarding left a group empty."""
    for g, name in ((1, "treated"), (0, "control")):
        if not ((treat == g) & keep).any():
            raise DesignError(f"no {name} units of {column!r} are left inside the common "
                              "support; use discard='none' or a different distance.")


def _order(order: str | None, info: DistanceInfo, estimand: str) -> str:
    """Pick the greedy order: MatchIt's default, or the user's checked against the distance."""
    if order is None:
        if not info.is_score:
            return "data"
        return "smallest" if estimand == "ATC" else "largest"
    order = check_option(order, ORDERS, "order")
    if order in ("largest", "smallest") and not info.is_score:
        raise DataError(f"`order`={order!r} needs a one-dimensional distance; with "
                        f"distance={info.kind!r} use 'data' or 'random'.")
    return order


def _nearest_reasons(reason: np.ndarray, fpos: np.ndarray, opos: np.ndarray, got: np.ndarray,
                     w: np.ndarray, strata: np.ndarray | None, capped: bool, replace: bool,
                     names_g: tuple[str, str], exact_cols: list[str]) -> np.ndarray:
    """Why each unmatched unit is unmatched (discarded units keep their reason).

    A focal unit without a match either has no unit of the other group in its exact stratum,
    or (without replacement) finds every one of them used by others, or else has none within
    the caliper; the counts of unused units per stratum after matching tell these apart.
    """
    reason = reason.astype(object)
    miss = fpos[~got]
    other = names_g[1]
    code = np.zeros(w.shape[0], dtype=np.intp) if strata is None else strata
    n_strata = int(code.max()) + 1
    n_other = np.bincount(code[opos], minlength=n_strata)[code[miss]]
    n_unused = np.bincount(code[opos], weights=w[opos] == 0, minlength=n_strata)[code[miss]]
    where = f" in its exact stratum ({', '.join(exact_cols)})" if strata is not None else ""
    text = np.full(miss.size, f"no {other} unit left to match", dtype=object)
    if capped:
        text[:] = f"no {'' if replace else 'unused '}{other} unit within the caliper"
    if not replace:
        text[(n_unused == 0) & (n_other > 0)] = f"all {other} units{where} already used"
    text[n_other == 0] = f"no {other} unit in its `exact` stratum"
    reason[miss] = text
    unused = opos[w[opos] == 0]
    reason[unused] = "not selected as a match"
    return reason


def _series(values: np.ndarray, data: pd.DataFrame) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), index=data.index.copy())


def _sub(sub: np.ndarray, data: pd.DataFrame) -> pd.Series:
    out = pd.array(np.where(sub > 0, sub, 0), dtype="Int64")
    out[sub <= 0] = pd.NA
    return pd.Series(out, index=data.index.copy(), name="subclass")


def _discarded(data: pd.DataFrame, treat: np.ndarray, w: np.ndarray,
               reason: np.ndarray) -> pd.DataFrame:
    """Units with weight 0, their group and why."""
    out = w == 0
    frame = pd.DataFrame({"group": _GROUP[treat[out]], "reason": np.asarray(reason,
                                                                            dtype=object)[out]},
                         index=data.index[out])
    frame.loc[frame["reason"] == "", "reason"] = "not matched"
    return frame

"""Design of a Bayesian multilevel model: outcome, fixed effects, levels, slopes, collapsing.

:func:`build_design` turns ``(formula, data, levels, ...)`` into plain numpy arrays (a
:class:`Design`) that the PyMC builder and the result methods share. Pure numpy / pandas /
formulaic: nothing here samples, so every check is fast to test.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from sosstats._formula import formula_variables, model_matrix, split_formula
from sosstats._validate import (
    as_list,
    check_columns,
    check_frame,
    check_option,
    check_weights,
)
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.multilevel._correlated import check_slope_variation, resolve_correlated
from sosstats.multilevel._levels import (
    Level,
    check_nesting,
    column_level,
    membership_level,
)
from sosstats.multilevel._response import FAMILIES, check_response

__all__ = ["Design", "Rows", "Slope", "build_design", "collapse_rows", "uncollapsed"]


@dataclass(frozen=True, eq=False)
class Rows:
    """Likelihood rows: outcome, trials, fixed-effect design, group codes, weights.

    ``codes`` maps each level that is not multiple membership to the group code of every row.
    """

    y: np.ndarray
    X: np.ndarray
    codes: dict[str, np.ndarray]
    trials: np.ndarray | None = None
    weights: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Slope:
    """A random slope: the coefficient of design column ``column`` varies by ``level``."""

    level: str
    term: str
    column: int


@dataclass(frozen=True, eq=False)
class Design:
    """Everything the sampler and the results need, as arrays (see :func:`build_design`).

    ``correlated`` names the levels whose intercept and slopes share an LKJ-correlated
    covariance (see :mod:`sosstats.multilevel._correlated`); empty for independent slopes.
    """

    formula: str
    response: str
    family: str
    terms: list[str]
    has_intercept: bool
    rows: Rows
    fit: Rows
    levels: list[Level]
    slopes: list[Slope]
    categories: list[str] | None
    frame: pd.DataFrame
    n_dropped: int
    collapsed: bool
    model_spec: Any = field(default=None, repr=False)
    unit: str | None = None
    correlated: tuple[str, ...] = ()

    @property
    def collapse_ratio(self) -> float:
        """Likelihood rows after collapsing divided by data rows (1.0 when not collapsed)."""
        return self.fit.n / self.rows.n

    @property
    def level_names(self) -> list[str]:
        """Level names, highest first."""
        return [lev.name for lev in self.levels]

    def level(self, name: str) -> Level:
        """Return the level called ``name`` (DataError listing the levels otherwise)."""
        for lev in self.levels:
            if lev.name == name:
                return lev
        raise DataError(f"no level {name!r}; the levels are {', '.join(self.level_names)}.")

    @property
    def x_mean(self) -> np.ndarray:
        """Column means of the design over the data rows (0 for the intercept column)."""
        mean = self.rows.X.mean(axis=0)
        if self.has_intercept:
            mean[self.terms.index("Intercept")] = 0.0
        return mean

    @property
    def centred(self) -> bool:
        """Whether predictors are centred in the sampler (an intercept or cutpoints exist)."""
        return self.has_intercept or self.family == "ordinal"


def _fixed_effects(rhs: str, frame: pd.DataFrame) -> tuple[np.ndarray, list[str], Any]:
    """Model matrix of ``rhs`` (:func:`sosstats._formula.model_matrix`), finite in every term."""
    X, terms, spec = model_matrix(rhs, frame, na_action="raise")
    bad = ~np.isfinite(X).all(axis=0)
    if bad.any():
        raise DataError("the formula gives non-finite values in term(s) "
                        f"{', '.join(repr(t) for t, b in zip(terms, bad) if b)}.")
    return X, terms, spec


def _check_rank(X: np.ndarray, terms: list[str], ordinal: bool) -> None:
    mat = np.column_stack([np.ones(X.shape[0]), X]) if ordinal else X
    names = ["(cutpoints)", *terms] if ordinal else terms
    if mat.shape[1] == 0:
        return
    if mat.shape[0] < mat.shape[1]:
        raise DesignError(f"{mat.shape[0]} rows for {len(terms)} fixed-effect terms.")
    r = np.linalg.qr(mat, mode="r")
    diag = np.abs(np.diag(r))
    scale = np.maximum(np.linalg.norm(mat, axis=0), 1e-300)
    dep = diag / scale < 1e-9
    if dep.any():
        shown = ", ".join(repr(n) for n, d in zip(names, dep) if d)
        raise DesignError(f"fixed-effect term(s) {shown} are constant or collinear with the "
                          "terms before them; drop them from the formula.")


def _slopes(random_slopes: dict[str, Any] | None, terms: list[str],
            levels: list[Level]) -> list[Slope]:
    if not random_slopes:
        return []
    if not isinstance(random_slopes, dict):
        raise DataError("`random_slopes` must be a dict {level: [term, ...]}; got "
                        f"{type(random_slopes).__name__}.")
    kinds = {lev.name: lev.kind for lev in levels}
    out: list[Slope] = []
    for level, names in random_slopes.items():
        if level not in kinds:
            raise DataError(f"`random_slopes` names level {level!r}, which is not among "
                            f"`levels` ({', '.join(kinds)}).")
        if kinds[level] == "membership":
            raise DesignError(f"random slopes at the multiple-membership level {level!r} are not "
                              "supported.")
        for name in as_list(names):
            if name in terms:
                matched = [name]
            else:
                pattern = re.compile(rf"^(C\()?{re.escape(name)}(\)|\[|,|$)")
                matched = [t for t in terms if pattern.match(t)]
            matched = [t for t in matched if t != "Intercept"]
            if not matched:
                raise DataError(f"random slope {name!r} at level {level!r} is not a fixed-effect "
                                f"term of the formula (terms: {', '.join(terms)}); add it to the "
                                "formula first.")
            for term in matched:
                if any(s.level == level and s.term == term for s in out):
                    raise DataError(f"random slope {term!r} at level {level!r} is given twice.")
                out.append(Slope(level, term, terms.index(term)))
    return out


def collapse_rows(rows: Rows) -> Rows:
    """Collapse rows with identical design rows and group codes into binomial counts.

    Rows of a Bernoulli / binomial likelihood that share the linear predictor (same design
    row, same group at every level) are exchangeable given the parameters, so their total
    successes over total trials is binomial with the same probability; the log-likelihood
    changes only by a constant (``sum log C(n, k)``), so the posterior is unchanged.
    """
    key = np.column_stack([rows.X] + [c.astype(float) for c in rows.codes.values()])
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    n_pat = first.size
    trials = rows.trials if rows.trials is not None else np.ones(rows.n, dtype=np.int64)
    y = np.bincount(inverse, weights=rows.y, minlength=n_pat).round().astype(np.int64)
    n = np.bincount(inverse, weights=trials, minlength=n_pat).round().astype(np.int64)
    return Rows(y=y, X=rows.X[first], codes={k: v[first] for k, v in rows.codes.items()},
                trials=n, weights=None)


def _membership_wave(membership: pd.DataFrame, membership_wave: str | None,
                     data: pd.DataFrame) -> str | None:
    """Return the wave column of wave-specific memberships, or None.

    ``"auto"`` takes a ``membership`` column named ``wave`` (the name
    :func:`sosstats.panel.wide_to_long` gives the data's wave column); None never treats a
    column as the wave. A wave column must also be a column of ``data``.
    """
    if membership_wave is None:
        return None
    if membership_wave == "auto":
        if "wave" not in membership.columns:
            return None
        membership_wave = "wave"
    elif not isinstance(membership_wave, str):
        raise DataError("`membership_wave` must be a column name, 'auto' or None; got "
                        f"{membership_wave!r}.")
    elif membership_wave not in membership.columns:
        raise DataError(f"`membership_wave` {membership_wave!r} is not a column of "
                        "`membership`.")
    if membership_wave not in data.columns:
        raise DataError(f"`membership` has a wave column {membership_wave!r} (wave-specific "
                        f"memberships) but `data` has no column {membership_wave!r}: give long "
                        "data, one row per unit x wave (sosstats.panel.wide_to_long), or keep "
                        f"one wave's rows of `membership` and drop its {membership_wave!r} "
                        "column.")
    return membership_wave


def _level_specs(levels: Any, repeated: str | None, membership: pd.DataFrame | None,
                 unit: str | None, data: pd.DataFrame, membership_wave: str | None = "auto",
                 ) -> tuple[list[str], str | None, str | None, str | None]:
    names = as_list(levels)
    if len(set(names)) != len(names):
        raise DataError(f"`levels` repeats a name: {names!r}.")
    if repeated is not None:
        check_columns(data, repeated, what="`repeated` column")
        names = [n for n in names if n != repeated] + [repeated]
    if not names:
        raise DesignError("give at least one grouping level in `levels` (or `repeated=`).")
    mm_name = wave = None
    if membership is not None:
        membership = check_frame(membership, "membership")
        wave = _membership_wave(membership, membership_wave, data)
        found = [n for n in names if n in membership.columns and n != repeated]
        if len(found) != 1:
            raise DataError("`membership` must have exactly one column named in `levels` (the "
                            f"grouping column, e.g. 'worker_id'); found {found or 'none'}.")
        mm_name = found[0]
        if wave is not None and wave in names:
            raise DataError(f"the wave column {wave!r} of `membership` is also named in "
                            "`levels`.")
        if unit is None:
            candidates = [c for c in membership.columns
                          if c not in (mm_name, "weight", wave) and c in data.columns]
            unit = repeated if repeated is not None else (
                candidates[0] if len(candidates) == 1 else None)
            if unit is None:
                raise DataError("give `unit=`, the ID column shared by `data` and `membership` "
                                "(e.g. 'family_id').")
        check_columns(data, unit, what="`unit` column")
        if wave is not None and wave == unit:
            raise DataError(f"`unit` and the membership wave column are both {wave!r}.")
    for n in names:
        if n != mm_name and n not in data.columns:
            raise DataError(f"level {n!r} is not a column of `data`"
                            f"{' nor of `membership`' if membership is not None else ''}.")
    return names, mm_name, unit, wave


def build_design(formula: str, data: pd.DataFrame, *, family: str = "gaussian",
                 levels: Any = None, membership: pd.DataFrame | None = None,
                 unit: str | None = None, membership_weights: str = "normalise",
                 cross_classified: bool = False, repeated: str | None = None,
                 random_slopes: dict[str, Any] | None = None, trials: str | None = None,
                 weights: str | None = None, collapse: bool = True,
                 missing: str = "drop", correlated_slopes: Any = False,
                 membership_wave: str | None = "auto") -> Design:
    """Check the inputs of a multilevel model and build its arrays.

    See :class:`sosstats.multilevel.MultilevelModel` for the parameters. ``membership_wave``
    names the wave column of wave-specific memberships (a column of both ``membership`` and
    ``data``; ``"auto"``: ``"wave"`` when ``membership`` has it, None: never): each data row
    then takes its unit's memberships at its own wave, weights normalised within each unit x
    wave (see :func:`sosstats.multilevel._levels.membership_level`). Rows with a missing
    outcome are dropped with a :class:`~sosstats.errors.SosstatsWarning` (``missing="drop"``)
    or raise (``missing="raise"``); missing values elsewhere raise.

    Returns
    -------
    Design
    """
    data = check_frame(data)
    check_option(family, FAMILIES, "family")
    check_option(membership_weights, ("normalise", "strict"), "membership_weights")
    check_option(missing, ("drop", "raise"), "missing")
    response, rhs = split_formula(formula, example="sdq ~ cohort")
    check_columns(data, response, what="outcome")
    variables = formula_variables(rhs, data)
    if response in variables:
        raise DataError(f"the outcome {response!r} also appears on the right of the formula.")
    names, mm_name, unit, wave = _level_specs(levels, repeated, membership, unit, data,
                                              membership_wave)
    extra = [c for c in (unit, wave, trials, weights) if c is not None]
    check_columns(data, extra)
    used = list(dict.fromkeys([response, *variables, *[n for n in names if n != mm_name],
                               *extra]))
    frame = data[used]
    miss_y = frame[response].isna().to_numpy()
    if miss_y.any():
        if missing == "raise" or miss_y.all():
            raise DataError(f"outcome {response!r} has {int(miss_y.sum())} missing value(s)"
                            f"{' (every row)' if miss_y.all() else ''}.")
        warnings.warn(f"{int(miss_y.sum())} row(s) with a missing outcome {response!r} dropped.",
                      SosstatsWarning, stacklevel=3)
    kept = frame.loc[~miss_y].reset_index(drop=True)
    for col in used[1:]:
        if kept[col].isna().any():
            raise DataError(f"column {col!r} has {int(kept[col].isna().sum())} missing value(s) "
                            "among rows with an outcome; drop or impute them first.")
    resp = check_response(kept[response], family, name=response,
                          trials=kept[trials] if trials is not None else None,
                          trials_name=trials)
    X, terms, spec = _fixed_effects(rhs, kept)
    has_intercept = "Intercept" in terms
    if family == "ordinal" and has_intercept:
        keep_cols = [j for j, t in enumerate(terms) if t != "Intercept"]
        X, terms, has_intercept = X[:, keep_cols], [terms[j] for j in keep_cols], False
    _check_rank(X, terms, family == "ordinal")
    level_objs: list[Level] = []
    for n in names:
        if n == mm_name:
            level_objs.append(membership_level(
                membership, name=n, unit=unit, weight="weight", data_units=data[unit],
                kept_units=kept[unit], membership_weights=membership_weights, wave=wave,
                data_waves=data[wave] if wave is not None else None,
                kept_waves=kept[wave] if wave is not None else None))
        else:
            level_objs.append(column_level(kept, n, "repeated" if n == repeated else "group"))
    check_nesting(level_objs, cross_classified=cross_classified)
    slopes = _slopes(random_slopes, terms, level_objs)
    check_slope_variation(slopes, X, level_objs)
    correlated = resolve_correlated(correlated_slopes, slopes, level_objs)
    w = None
    if weights is not None:  # likelihood weights, rescaled to sum to the number of rows
        w = check_weights(kept[weights], f"weights column {weights!r}")
        w = w * (w.size / w.sum())
    rows = Rows(y=resp.y, X=X, trials=resp.trials, weights=w,
                codes={lev.name: lev.codes for lev in level_objs if lev.kind != "membership"})
    fit, collapsed = rows, False
    if collapse and family in ("bernoulli", "binomial") and w is None and mm_name is None:
        short = collapse_rows(rows)
        if short.n < rows.n:
            fit, collapsed = short, True
    return Design(formula=formula, response=response, family=family, terms=terms,
                  has_intercept=has_intercept, rows=rows, fit=fit, levels=level_objs,
                  slopes=slopes, categories=resp.categories, frame=kept,
                  n_dropped=int(miss_y.sum()), collapsed=collapsed, model_spec=spec, unit=unit,
                  correlated=correlated)


def uncollapsed(design: Design) -> Design:
    """Return the design with the likelihood on every data row (for prior predictive draws)."""
    return replace(design, fit=design.rows, collapsed=False)

"""Calibrated, raked and post-stratified survey designs, with the variances R survey gives them.

:func:`calibrate`, :func:`rake` and :func:`poststratify` take a
:class:`~sosstats.survey.SurveyDesign`, adjust its (base, design) weights ``d`` to known
population totals with the kernel :mod:`sosstats._kernels.calibrate`, and return a new design
(``design._with_weights(w, calibration)``) whose weights are ``w = g d`` and whose calibration
object removes, from every statistic's linearised scores, the part explained by the
calibration variables. Variances of means, totals, domain estimates and regression
coefficients on the new design therefore are those of the calibration estimator
(Deville & Sarndal 1992; Lumley 2010, ch. 7), as ``survey::calibrate``, ``survey::rake`` and
``survey::postStratify`` give them, not the variance that treats ``w`` as fixed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy import sparse

from sosstats._kernels.calibrate import CALFUNS
from sosstats._kernels.calibrate import calibrate as _calibrate_kernel
from sosstats._kernels.calibrate import rake as _rake_kernel
from sosstats._validate import check_int, check_option, shown_values
from sosstats.errors import DataError, DesignError

__all__ = [
    "calibrate",
    "rake",
    "poststratify",
    "GregCalibration",
    "RakingCalibration",
    "PostStratification",
    "CALFUNS",
    "RAKE_SWEEPS",
]

#: Backfitting sweeps over the margins when a raked design residualises its scores; R survey's
#: ``svyrecvar`` uses 10, and so do we, so that raked-design variances agree with it.
RAKE_SWEEPS = 10

INTERCEPT = "(Intercept)"


class _Residualiser(Protocol):
    def residualise(self, scores: np.ndarray) -> np.ndarray: ...


# ----------------------------------------------------------------------------- residualisers

def _as_2d(scores: Any) -> tuple[np.ndarray, bool]:
    s = np.asarray(scores, dtype=float)
    if s.ndim == 1:
        return s[:, None], True
    if s.ndim != 2:
        raise DataError(f"`scores` must be an (n,) or (n, k) array; got shape {s.shape}.")
    return s, False


def _check_rows(s: np.ndarray, n: int) -> None:
    if s.shape[0] != n:
        raise DataError(f"`scores` have {s.shape[0]} rows but the calibrated design has {n}.")


def _safe_divide(x: np.ndarray, by: np.ndarray) -> np.ndarray:
    """``x / by[:, None]`` with 0 where ``by`` is 0 (units whose weight is 0 score 0)."""
    inv = np.divide(1.0, by, out=np.zeros_like(by), where=by != 0)
    return x * inv[:, None]


class _Chained:
    previous: _Residualiser | None

    def _before(self, scores: Any, n: int) -> tuple[np.ndarray, bool]:
        s, one = _as_2d(scores)
        _check_rows(s, n)
        if self.previous is not None:
            s = np.asarray(self.previous.residualise(s), dtype=float)
        return s, one


@dataclass(frozen=True, eq=False)
class GregCalibration(_Chained):
    r"""Residualiser of a design calibrated by :func:`calibrate` (any calibration function).

    Attributes
    ----------
    basis : numpy.ndarray
        ``(n, r)`` orthonormal basis of the column space of :math:`D^{1/2} X`.
    base : numpy.ndarray
        The weights ``d`` before this calibration.
    weights : numpy.ndarray
        The calibrated weights ``w = g d``.
    names : tuple of str
        Names of the calibration columns (``X``).
    totals : numpy.ndarray
        Their population totals.
    method : str
        ``"calibrate"``.
    calfun : str
        The calibration function.
    bounds : (float, float) or None
        Bounds on ``g``.
    iterations : int
        Newton steps of the kernel.
    previous : object or None
        The residualiser of an earlier calibration of the same design, applied first.

    Notes
    -----
    For linearised scores :math:`x_i` (which include the weight, :math:`x_i = w_i z_i`),
    :meth:`residualise` returns :math:`x_i - w_i x_i'\hat\beta` with :math:`\hat\beta` the
    regression of :math:`z_i = x_i / w_i` on the calibration variables with the base weights
    :math:`d_i`, :math:`\hat\beta = (X'DX)^{+} X'D z`. This is ``svyrecvar``'s
    ``qr.resid(qr(X d^{1/2}), x / (g d^{1/2})) g d^{1/2}`` (R survey, for ``calibrate`` with
    every ``calfun``: the g-weighted residual variance of Deville & Sarndal 1992, eq. 3.4;
    Lumley 2010, sec. 7.3).
    """

    basis: np.ndarray
    base: np.ndarray
    weights: np.ndarray
    names: tuple[str, ...]
    totals: np.ndarray
    method: str = "calibrate"
    calfun: str = "linear"
    bounds: tuple[float, float] | None = None
    iterations: int = 0
    previous: _Residualiser | None = None

    def residualise(self, scores: Any) -> np.ndarray:
        """Remove the calibration variables' fitted part from ``scores`` ((n,) or (n, k))."""
        s, one = self._before(scores, self.weights.shape[0])
        root_d = np.sqrt(self.base)
        scale = np.divide(self.weights, root_d, out=np.zeros_like(root_d), where=root_d > 0)
        y = _safe_divide(s, scale)                 # x / (g d^{1/2}) = d^{1/2} z
        y = y - self.basis @ (self.basis.T @ y)    # qr.resid on X d^{1/2}
        out = y * scale[:, None]
        return out[:, 0] if one else out

    @property
    def g(self) -> np.ndarray:
        """The g-weights ``w / d`` (NaN where ``d`` is 0)."""
        return _g(self.weights, self.base)


@dataclass(frozen=True, eq=False)
class PostStratification(_Chained):
    r"""Residualiser of a design post-stratified by :func:`poststratify`.

    Notes
    -----
    Post-stratification is calibration to the post-stratum counts, so :meth:`residualise` is
    :class:`GregCalibration`'s with post-stratum dummies, computed by group sums:
    :math:`x_i - w_i \sum_{j \in h} (x_j / g_j) / \sum_{j \in h} d_j` for unit ``i`` in
    post-stratum ``h`` (``svyrecvar``'s branch for ``postStratify``; Lumley 2010, sec. 7.2).
    """

    codes: np.ndarray
    base: np.ndarray
    weights: np.ndarray
    levels: tuple[Any, ...]
    totals: np.ndarray
    strata: tuple[str, ...]
    method: str = "poststratify"
    previous: _Residualiser | None = None

    def residualise(self, scores: Any) -> np.ndarray:
        """Remove the post-stratum means of ``z = x / w`` (base-weighted) from ``scores``."""
        s, one = self._before(scores, self.weights.shape[0])
        k = len(self.levels)
        inv_g = np.divide(self.base, self.weights, out=np.zeros_like(self.base),
                          where=self.weights != 0)
        sums = _group_sums(s * inv_g[:, None], self.codes, k)
        dsum = np.bincount(self.codes, weights=self.base, minlength=k)
        means = np.divide(sums, dsum[:, None], out=np.zeros_like(sums), where=dsum[:, None] > 0)
        out = s - self.weights[:, None] * means[self.codes]
        return out[:, 0] if one else out

    @property
    def g(self) -> np.ndarray:
        """The g-weights ``w / d`` (NaN where ``d`` is 0)."""
        return _g(self.weights, self.base)


@dataclass(frozen=True, eq=False)
class RakingCalibration(_Chained):
    r"""Residualiser of a design raked by :func:`rake`.

    Notes
    -----
    As R survey's ``svyrecvar`` for ``rake``: :data:`RAKE_SWEEPS` (10) backfitting sweeps over
    the margins, each replacing the scores by :math:`x_i - w_i \bar z_{m(i)}`, with
    :math:`\bar z_{m(i)}` the unweighted mean of :math:`z = x / w` over the units in unit
    ``i``'s category of margin ``m``. The sweeps approach the residuals of the unweighted
    least-squares regression of ``z`` on all the margins' dummies (the alternating
    projections of von Neumann); with equal base weights within categories this is the
    calibration residual of :class:`GregCalibration` (Lumley 2010, sec. 7.4). Units with zero
    weight are left out of the means.
    """

    codes: tuple[np.ndarray, ...]
    base: np.ndarray
    weights: np.ndarray
    margins: tuple[str, ...]
    levels: tuple[tuple[Any, ...], ...]
    totals: tuple[np.ndarray, ...]
    sweeps: int = RAKE_SWEEPS
    iterations: int = 0
    method: str = "rake"
    previous: _Residualiser | None = None

    def residualise(self, scores: Any) -> np.ndarray:
        """Backfit the margins' category means of ``z = x / w`` out of ``scores``.

        The sweeps run on the margins' coefficient tables, not on the rows: with ``u = z``
        written as ``u0 - sum_m A_m[c_m]``, a margin's category means are
        ``(S_m - sum_j C_mj A_j) / n_m`` from its sums ``S_m`` of ``u0``, the cross-tables
        ``C_mj`` of unit counts and its counts ``n_m``; so the rows are read once per margin
        and written once, whatever the number of sweeps (the same arithmetic as R's loop).
        """
        s, one = self._before(scores, self.weights.shape[0])
        w = self.weights
        active = (w != 0).astype(float)
        sizes = [len(lv) for lv in self.levels]
        u0 = _safe_divide(s, w)
        sums = [_group_sums(u0, c, k) for c, k in zip(self.codes, sizes)]
        counts = [np.bincount(c, weights=active, minlength=k)
                  for c, k in zip(self.codes, sizes)]
        cross = [[np.bincount(cm * kj + cj, weights=active, minlength=km * kj).reshape(km, kj)
                  if m != j else None
                  for j, (cj, kj) in enumerate(zip(self.codes, sizes))]
                 for m, (cm, km) in enumerate(zip(self.codes, sizes))]
        coef = [np.zeros((k, s.shape[1])) for k in sizes]
        for _ in range(self.sweeps):
            for m, (sm, nm) in enumerate(zip(sums, counts)):
                resid = sm - nm[:, None] * coef[m]
                for j, c_mj in enumerate(cross[m]):
                    if c_mj is not None:
                        resid = resid - c_mj @ coef[j]
                coef[m] = coef[m] + np.divide(resid, nm[:, None], out=np.zeros_like(resid),
                                              where=nm[:, None] > 0)
        fitted = coef[0][self.codes[0]]
        for a, c in zip(coef[1:], self.codes[1:]):
            fitted += a[c]
        fitted *= w[:, None]
        out = s - fitted
        return out[:, 0] if one else out

    @property
    def g(self) -> np.ndarray:
        """The g-weights ``w / d`` (NaN where ``d`` is 0)."""
        return _g(self.weights, self.base)


def _g(w: np.ndarray, d: np.ndarray) -> np.ndarray:
    return np.divide(w, d, out=np.full_like(d, np.nan), where=d > 0)


def _group_sums(x: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """``(k, m)`` column sums of ``x`` by integer ``codes``: one sparse indicator product."""
    n = codes.shape[0]
    indicator = sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(k, n))
    return np.asarray(indicator @ x)


def _orthonormal_basis(a: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space of ``a`` (SVD; rank-deficient ``a`` allowed)."""
    u, sv, _ = np.linalg.svd(a, full_matrices=False)
    if sv.size == 0 or sv[0] == 0:
        return u[:, :0]
    rank = int(np.sum(sv > sv[0] * max(a.shape) * np.finfo(float).eps))
    return u[:, :rank]


# ----------------------------------------------------------------------------- input checks

def _design_parts(design: Any, what: str) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Return the design's data, its base weights (checked) and a label for them."""
    for attr in ("data", "weights", "_with_weights"):
        if not hasattr(design, attr):
            raise DataError(f"`design` must be a sosstats.survey.SurveyDesign; got "
                            f"{type(design).__name__} (no `{attr}`).")
    if getattr(design, "kind", "linearization") == "replicate":
        raise DesignError(f"{what} of a replicate-weight design is not supported: calibrate "
                          "the linearisation design, or the weights before building the "
                          "replicates.")
    data = design.data
    d = np.asarray(design.weights, dtype=float)
    label = _weights_label(design)
    if d.shape != (len(data),):
        raise DataError(f"the design's weights {label} have shape {d.shape}; the data have "
                        f"{len(data)} rows.")
    bad = ~np.isfinite(d)
    if bad.any():
        raise DataError(f"the design's weights {label} have {int(bad.sum())} NaN or infinite "
                        f"value(s) (first at row {int(np.flatnonzero(bad)[0])}).")
    neg = d < 0
    if neg.any():
        raise DataError(f"the design's weights {label} are base weights and must be "
                        f"non-negative; {int(neg.sum())} are negative (first "
                        f"{d[neg][0]:g} at row {int(np.flatnonzero(neg)[0])}).")
    if not (d > 0).any():
        raise DataError(f"the design's weights {label} are all zero: there is nothing to "
                        "calibrate.")
    return data, d, label


def _weights_label(design: Any) -> str:
    label = getattr(design, "_weights_label", None)
    return f"({label})" if isinstance(label, str) else "(base weights)"


_NAME = re.compile(r"^\s*([A-Za-z_.][\w.]*)\s*$")


def _terms(formula_or_columns: Any, what: str) -> list[str]:
    """Column names from ``"~ a + b"`` (additive plain columns only) or a list of names."""
    if isinstance(formula_or_columns, str):
        rhs = formula_or_columns.strip()
        if "~" in rhs:
            lhs, rhs = rhs.split("~", 1)
            if lhs.strip():
                raise DataError(f"the {what} formula {formula_or_columns!r} must have no "
                                "left-hand side (write '~ a + b').")
        parts = [p for p in rhs.split("+")]
        names = []
        for p in parts:
            m = _NAME.match(p)
            if m is None:
                raise DataError(
                    f"the {what} formula {formula_or_columns!r} has the term {p.strip()!r}: "
                    "only additive plain column names are supported ('~ a + b'); for an "
                    "interaction of two factors, make one column of their combinations.")
            names.append(m.group(1))
    else:
        try:
            names = list(formula_or_columns)
        except TypeError:
            raise DataError(f"{what} must be a formula '~ a + b' or a list of column names; "
                            f"got {formula_or_columns!r}.") from None
        if not all(isinstance(n, str) for n in names):
            raise DataError(f"{what} must be column names; got {formula_or_columns!r}.")
    if not names:
        raise DataError(f"{what} names no column.")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(f"{what} names {', '.join(map(repr, dup))} more than once.")
    return names


def _check_column(data: pd.DataFrame, col: str, what: str) -> pd.Series:
    if col not in data.columns:
        raise DataError(f"{what} {col!r} is not a column of the design's data.")
    s = data[col]
    if s.isna().any():
        raise DataError(f"{what} {col!r} has {int(s.isna().sum())} missing value(s); "
                        "calibration needs every unit's value.")
    return s


def _level_totals(spec: Any, label: str) -> dict[Any, float]:
    """Return ``{level: total}`` from a dict, a Series or an R-style (level, Freq) frame."""
    if isinstance(spec, pd.DataFrame):
        if "Freq" not in spec.columns or spec.shape[1] != 2:
            raise DataError(f"{label} as a DataFrame must have two columns, the level and "
                            "'Freq' (R survey's form).")
        lev = spec.drop(columns="Freq").iloc[:, 0]
        spec = dict(zip(lev, spec["Freq"]))
    elif isinstance(spec, pd.Series):
        spec = spec.to_dict()
    if not isinstance(spec, Mapping) or not spec:
        raise DataError(f"{label} must be a non-empty mapping level -> population total; got "
                        f"{spec!r}.")
    out = {}
    for k, v in spec.items():
        try:
            t = float(v)
        except (TypeError, ValueError):
            raise DataError(f"{label}[{k!r}] must be a number; got {v!r}.") from None
        if not math.isfinite(t) or t < 0:
            raise DataError(f"{label}[{k!r}] must be a finite non-negative total; got {v!r}.")
        out[k] = t
    return out


def _match_levels(s: pd.Series, totals: dict[Any, float], label: str
                  ) -> tuple[np.ndarray, list[Any], np.ndarray]:
    """Integer codes of ``s`` over its levels and the population total of each level.

    Every level in the data needs a total; a level with a positive total needs units. Levels
    are matched as given, or by their string form when the types differ (``1`` and ``"1"``).
    """
    codes, uniques = pd.factorize(s, sort=True)
    levels = list(uniques)
    keymap = dict(totals)
    by_str = {str(k): k for k in totals}
    matched, missing = [], []
    for lev in levels:
        if lev in keymap:
            matched.append(lev)
        elif str(lev) in by_str:
            matched.append(by_str[str(lev)])
        else:
            missing.append(lev)
    if missing:
        counts = np.bincount(codes, minlength=len(levels))
        shown = ", ".join(f"{lev!r} ({int(counts[levels.index(lev)])} units)"
                          for lev in missing[:5])
        raise DataError(f"{label} gives no total for level(s) {shown} of the data; give every "
                        "level's population total (merge small levels first if need be).")
    unused = [k for k in totals if k not in matched and totals[k] > 0]
    if unused:
        raise DataError(f"{label} gives a positive total for level(s) "
                        f"{shown_values(unused)}, which no unit of the sample is in: the "
                        "weights cannot reach it; merge the level with another.")
    return codes.astype(np.intp), levels, np.array([totals[k] for k in matched])


# ----------------------------------------------------------------------------- public

def calibrate(design: Any, formula_or_columns: str | Sequence[str], population: Mapping, *,
              calfun: str = "linear", bounds: tuple[float, float] | None = None,
              tol: float = 1e-10, max_iter: int = 100) -> Any:
    r"""Calibrate a design's weights to known population totals (Deville & Sarndal 1992).

    Parameters
    ----------
    design : SurveyDesign
        The design; its weights are the base (design) weights ``d``. Not modified.
    formula_or_columns : str or list of str
        The calibration variables: ``"~ stype + enroll"`` (additive plain columns) or
        ``["stype", "enroll"]``.
    population : mapping
        Population totals, one entry per variable: for a categorical variable a mapping
        ``{level: total}`` (or a Series, or R's two-column ``(level, Freq)`` frame) giving
        every level that occurs in the data; for a numeric variable its total (a number). The
        entry ``"(Intercept)"`` is the population size ``N``: required when no variable is
        categorical, checked against each categorical variable's total otherwise. Whether a
        variable is categorical is decided by its entry (a mapping or a number), not its dtype.
    calfun : {"linear", "raking", "logit"}
        Calibration function ``F`` with ``g = F(x' lambda)``: ``1 + u`` (GREG, weights may be
        negative), ``exp(u)`` (raking ratio, positive weights) or the bounded logit.
    bounds : (float, float), optional
        ``(L, U)`` bounds on ``g = w / d`` (not on ``w``), ``0 <= L < 1 < U``; required by and
        only accepted with ``calfun="logit"`` (R survey's ``bounds = c(L, U)``).
    tol : float, default 1e-10
        Convergence when every total is met to ``|sum w x - T| / (1 + |T|) <= tol``.
    max_iter : int, default 100
        Most Newton steps.

    Returns
    -------
    SurveyDesign
        A new design with weights ``w = g d`` and a :class:`GregCalibration` residualiser, so
        that every statistic's variance is the calibration estimator's.

    Raises
    ------
    DataError
        A variable not in the data or with missing values, a level of the data with no
        population total (named), a positive total for a level with no units, categorical
        totals that do not sum to the same ``N``, a numeric variable without a number,
        negative or NaN base weights, ``bounds`` without ``calfun="logit"``.
    DesignError
        A replicate-weight design.
    ConvergenceError
        The totals cannot be met, e.g. within ``bounds`` (the message names the bounds and
        the total furthest from its target).

    Notes
    -----
    The calibrated weights :math:`w_i = d_i F(x_i'\lambda)` solve the calibration equations
    :math:`\sum_i w_i x_i = T` and minimise the distance :math:`\sum_i d_i G(w_i/d_i)` of the
    calibration function (Deville & Sarndal 1992). The calibration estimator of a total,
    :math:`\hat Y_w = \sum w_i y_i`, is asymptotically the GREG estimator, whose variance is
    that of the Horvitz-Thompson estimator of the residuals :math:`e_i = y_i - x_i' B` weighted
    by :math:`w_i` (the g-weighted residual variance, Deville & Sarndal 1992, sec. 3; Sarndal,
    Swensson & Wretman 1992, ch. 6). So every statistic's linearised scores are replaced by
    their residuals from the base-weighted regression on ``X`` before the design variance is
    taken (see :class:`GregCalibration`), as R survey's ``calibrate`` and ``svyrecvar`` do. A
    calibration variable's own total then has variance 0. Weights with a zero base weight stay
    0 and take no part in the calibration.

    Unlike R survey, the weights are never rescaled before bounded calibration (R rescales
    when every population total is more than 20 times its sample total, and then applies the
    bounds to the rescaled weights).

    References: Deville, J.-C. & Sarndal, C.-E. (1992). Calibration estimators in survey
    sampling. *JASA* 87, 376-382. Lumley, T. (2010). *Complex Surveys: A Guide to Analysis
    Using R*, ch. 7. Wiley.

    Examples
    --------
    >>> import pandas as pd
    >>> from sosstats.survey import SurveyDesign
    >>> df = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3], "w": [10.0] * 6,
    ...                    "sex": list("fmfmff"), "y": [1.0, 2, 3, 4, 5, 6]})
    >>> des = SurveyDesign(df, cluster="psu", weights="w")
    >>> cal = calibrate(des, "~ sex", {"sex": {"f": 40, "m": 20}})
    >>> [round(float(v), 6) for v in cal.weights]
    [10.0, 10.0, 10.0, 10.0, 10.0, 10.0]
    """
    check_option(calfun, CALFUNS, "calfun")
    data, d, _ = _design_parts(design, "calibration")
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    cols = _terms(formula_or_columns, "calibration variable")
    for c in cols:
        _check_column(data, c, "calibration variable")
    if not isinstance(population, Mapping):
        raise DataError("`population` must be a mapping {variable: total or {level: total}}; "
                        f"got {type(population).__name__}.")
    unknown = [k for k in population if k not in cols and k != INTERCEPT]
    if unknown:
        raise DataError(f"`population` gives totals for {', '.join(map(repr, unknown))}, "
                        f"which are not calibration variables ({', '.join(map(repr, cols))}).")
    absent = [c for c in cols if c not in population]
    if absent:
        raise DataError(f"`population` gives no total for calibration variable(s) "
                        f"{', '.join(map(repr, absent))}.")
    blocks, totals, names, sizes = [], [], [], {}
    for c in cols:
        s = _check_column(data, c, "calibration variable")
        spec = population[c]
        if isinstance(spec, (Mapping, pd.Series, pd.DataFrame)):
            codes, levels, t = _match_levels(s, _level_totals(spec, f"population[{c!r}]"),
                                             f"population[{c!r}]")
            blocks.append(np.eye(len(levels))[codes])
            totals.extend(t)
            names.extend(f"{c}[{lev}]" for lev in levels)
            sizes[c] = float(t.sum())
        else:
            if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
                raise DataError(f"calibration variable {c!r} is not numeric ({s.dtype}); give "
                                f"population[{c!r}] as {{level: total}} to calibrate to its "
                                "categories.")
            try:
                t = float(spec)
            except (TypeError, ValueError):
                raise DataError(f"population[{c!r}] must be the total of {c!r} (a number) or "
                                f"{{level: total}}; got {spec!r}.") from None
            if not math.isfinite(t):
                raise DataError(f"population[{c!r}] must be finite; got {spec!r}.")
            blocks.append(s.to_numpy(dtype=float)[:, None])
            totals.append(t)
            names.append(c)
    if INTERCEPT in population:
        N = float(population[INTERCEPT])
        if not (math.isfinite(N) and N > 0):
            raise DataError(f"population['(Intercept)'] (the population size) must be a "
                            f"positive number; got {population[INTERCEPT]!r}.")
        _same_total(sizes, N)
        if not sizes:
            blocks.insert(0, np.ones((len(data), 1)))
            totals.insert(0, N)
            names.insert(0, INTERCEPT)
    elif not sizes:
        raise DataError("no calibration variable is categorical, so `population` must give "
                        "the population size as population['(Intercept)'].")
    else:
        _same_total(sizes, None)
    X = np.column_stack(blocks)
    T = np.asarray(totals, dtype=float)
    pos = d > 0
    fit = _calibrate_kernel(X[pos], T, base=d[pos], calfun=calfun, bounds=bounds, tol=tol,
                            max_iter=max_iter, names=names)
    w = np.zeros_like(d)
    w[pos] = fit.weights
    basis = _orthonormal_basis(X * np.sqrt(d)[:, None])
    lims = None if bounds is None else (float(bounds[0]), float(bounds[1]))
    cal = GregCalibration(basis=basis, base=d, weights=w, names=tuple(names), totals=T,
                          calfun=calfun, bounds=lims, iterations=fit.iterations,
                          previous=getattr(design, "_calibration", None))
    return design._with_weights(w, cal)


def _same_total(sizes: dict[str, float], N: float | None) -> None:
    if not sizes:
        return
    ref = N if N is not None else next(iter(sizes.values()))
    off = {c: t for c, t in sizes.items() if abs(t - ref) > 1e-9 * max(1.0, abs(ref))}
    if off:
        listed = ", ".join(f"{c!r} {t:.10g}" for c, t in sizes.items())
        what = f"the population size {ref:.10g} and " if N is not None else ""
        raise DataError(f"the categorical totals must each sum to {what}the same total; got "
                        f"{listed}.")


def _margin_specs(margins: Any, population_margins: Any) -> list[tuple[str, Any]]:
    """``[(column, {level: total}), ...]`` from rake's two arguments."""
    def clean(c: Any) -> str:
        return str(c).strip().lstrip("~").strip()

    if isinstance(margins, Mapping):
        if population_margins is not None:
            raise DataError("give the population margins either in `margins` (a dict "
                            "{column: {level: total}}) or as `population_margins`, not both.")
        return [(clean(k), v) for k, v in margins.items()]
    cols = [clean(m) for m in ([margins] if isinstance(margins, str) else list(margins))]
    if population_margins is None:
        raise DataError("`population_margins` is missing: one {level: total} per margin.")
    if isinstance(population_margins, Mapping) and set(population_margins) <= set(cols) \
            and (len(cols) > 1 or cols[0] in population_margins):
        missing = [c for c in cols if c not in population_margins]
        if missing:
            raise DataError(f"`population_margins` gives no margin for "
                            f"{', '.join(map(repr, missing))}.")
        return [(c, population_margins[c]) for c in cols]
    if len(cols) == 1 and isinstance(population_margins, (Mapping, pd.Series, pd.DataFrame)):
        return [(cols[0], population_margins)]
    if isinstance(population_margins, (str, bytes, Mapping)):
        raise DataError("`population_margins` must be a list of {level: total} (one per "
                        "margin) or a dict keyed by the margins' columns.")
    try:
        pops = list(population_margins)
    except TypeError:
        raise DataError("`population_margins` must be a list of {level: total} (one per "
                        "margin) or a dict keyed by the margins' columns.") from None
    if len(pops) != len(cols):
        raise DataError(f"`margins` has {len(cols)} margins but `population_margins` has "
                        f"{len(pops)}.")
    return list(zip(cols, pops))


def rake(design: Any, margins: str | Sequence[str] | Mapping,
         population_margins: Sequence[Any] | Mapping | None = None, *, tol: float = 1e-10,
         max_iter: int = 1000) -> Any:
    r"""Rake a design's weights to known population margins (iterative proportional fitting).

    Parameters
    ----------
    design : SurveyDesign
        The design; its weights are the base weights ``d``. Not modified.
    margins : str, list of str or mapping
        The margins' categorical columns (``"~stype"`` is read as ``"stype"``), or a mapping
        ``{column: {level: total}}`` holding the population margins too.
    population_margins : list or mapping, optional
        One ``{level: total}`` mapping (or Series, or R's ``(level, Freq)`` frame) per margin,
        in the order of ``margins``, or a mapping keyed by column. Every level of the data
        needs a total, and every margin must sum to the same population size.
    tol : float, default 1e-10
        IPF convergence: ``|sum_{i in k} w_i - T_k| / (1 + T_k) <= tol`` in every category.
    max_iter : int, default 1000
        Most sweeps over the margins.

    Returns
    -------
    SurveyDesign
        A new design with the raked weights and a :class:`RakingCalibration` residualiser.

    Raises
    ------
    DataError
        A margin column not in the data or with missing values, a level of the data with no
        total (named), a positive total for a level with no units, margins with different
        sums, negative or NaN base weights.
    DesignError
        A replicate-weight design.
    ConvergenceError
        The margins cannot all be met (empty cells of the cross-classification).

    Notes
    -----
    The weights are the limit of iterative proportional fitting from ``d`` (Deming & Stephan
    1940), the raking-ratio calibration estimator (``calfun="raking"`` on the margins'
    dummies: Deville, Sarndal & Sautory 1993). The variance is R survey's for ``rake``
    (see :class:`RakingCalibration`): the scores are backfitted on the margins 10 times,
    approximating their residuals from a regression on all the margins' dummies. R's ``rake``
    stops by default when the weighted table changes by less than one unit (``epsilon = 1``);
    here the margins are met to ``tol``, so weights can differ from R's default by that much.

    References: Deming, W. E. & Stephan, F. F. (1940). *Ann. Math. Stat.* 11, 427-444.
    Deville, J.-C., Sarndal, C.-E. & Sautory, O. (1993). Generalized raking procedures in
    survey sampling. *JASA* 88, 1013-1020. Lumley, T. (2010). *Complex Surveys*, sec. 7.4.
    """
    data, d, _ = _design_parts(design, "raking")
    specs = _margin_specs(margins, population_margins)
    if not specs:
        raise DataError("`margins` names no margin.")
    names = [c for c, _ in specs]
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise DataError(f"`margins` names {', '.join(map(repr, dup))} more than once.")
    codes, levels, totals = [], [], []
    for c, spec in specs:
        s = _check_column(data, c, "margin")
        label = f"population margin {c!r}"
        cd, lv, t = _match_levels(s, _level_totals(spec, label), label)
        codes.append(cd)
        levels.append(tuple(lv))
        totals.append(t)
    _same_total({c: float(t.sum()) for c, t in zip(names, totals)}, None)
    pos = d > 0
    fit = _rake_kernel([c[pos] for c in codes], totals, base=d[pos], tol=tol,
                       max_iter=max_iter)
    w = np.zeros_like(d)
    w[pos] = fit.weights
    cal = RakingCalibration(codes=tuple(codes), base=d, weights=w, margins=tuple(names),
                            levels=tuple(levels), totals=tuple(totals),
                            iterations=fit.iterations,
                            previous=getattr(design, "_calibration", None))
    return design._with_weights(w, cal)


def poststratify(design: Any, strata: str | Sequence[str], population: Any) -> Any:
    r"""Post-stratify a design's weights to known population counts of its post-strata.

    Parameters
    ----------
    design : SurveyDesign
        The design; its weights are the base weights ``d``. Not modified.
    strata : str or list of str
        The post-stratifying column(s) (``"~stype"`` is read as ``"stype"``); several columns
        are cross-classified.
    population : mapping, Series or DataFrame
        Population count of each post-stratum: ``{level: count}`` (tuples of levels for
        several columns), a Series (MultiIndex for several columns) or R's frame with the
        strata columns and ``Freq``. Every post-stratum of the data needs a count.

    Returns
    -------
    SurveyDesign
        A new design with weights ``w_i = d_i N_h / sum_{j in h} d_j`` and a
        :class:`PostStratification` residualiser.

    Raises
    ------
    DataError
        A column not in the data or with missing values, a post-stratum of the data with no
        count (named), a positive count for a post-stratum with no units, negative or NaN base
        weights.
    DesignError
        A replicate-weight design.

    Notes
    -----
    The post-stratified estimator is the calibration estimator for the post-stratum dummies;
    its variance uses the scores less their base-weighted post-stratum means (Holt & Smith
    1979; Lumley 2010, sec. 7.2), as R survey's ``postStratify``.

    References: Holt, D. & Smith, T. M. F. (1979). Post stratification. *JRSS A* 142, 33-46.
    """
    data, d, _ = _design_parts(design, "post-stratification")
    cols = [str(c).strip().lstrip("~").strip() for c in
            ([strata] if isinstance(strata, str) else list(strata))]
    if len(cols) == 1 and "+" in cols[0]:
        cols = _terms(cols[0], "post-stratum")
    series = [_check_column(data, c, "post-stratum column") for c in cols]
    if len(cols) == 1:
        key = series[0]
        pop = population
        if isinstance(pop, pd.DataFrame) and cols[0] in pop.columns:
            pop = pop[[cols[0], "Freq"]] if "Freq" in pop.columns else pop
    else:
        key = pd.Series(list(zip(*[s.to_numpy() for s in series])), index=data.index)
        pop = population
        if isinstance(pop, pd.DataFrame):
            if "Freq" not in pop.columns or not all(c in pop.columns for c in cols):
                raise DataError(f"`population` as a DataFrame needs the columns "
                                f"{', '.join(map(repr, cols))} and 'Freq'.")
            pop = dict(zip(zip(*[pop[c] for c in cols]), pop["Freq"]))
        elif isinstance(pop, pd.Series):
            pop = pop.to_dict()
    label = f"`population` of post-strata {' x '.join(map(repr, cols))}"
    codes, levels, t = _match_levels(key, _level_totals(pop, label), label)
    k = len(levels)
    dsum = np.bincount(codes, weights=d, minlength=k)
    empty = (dsum == 0) & (t > 0)
    if empty.any():
        shown = shown_values([levels[j] for j in np.flatnonzero(empty)])
        raise DataError(f"post-strata {shown} have units but all their base weights are 0, "
                        "so their population counts cannot be reached.")
    factor = np.divide(t, dsum, out=np.zeros(k), where=dsum > 0)
    w = d * factor[codes]
    cal = PostStratification(codes=codes, base=d, weights=w, levels=tuple(levels), totals=t,
                             strata=tuple(cols), previous=getattr(design, "_calibration", None))
    return design._with_weights(w, cal)

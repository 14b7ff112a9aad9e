"""The covariate design of attrition weighting: columns or a formula, read once from the frame.

:func:`covariate_design` turns a list of columns or a formula into one numeric design (no
intercept, first level of each categorical dropped) plus the data columns it reads, so every
method sees the same thing; :func:`design_matrix` dummy-codes columns and :func:`category_codes`
gives a categorical column's integer codes (raking).
Formulas use formulaic's syntax: ``"responded ~ x1 + C(x2) + x1:x3 + I(x1**2)"``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from sosstats._formula import formula_variables, model_matrix
from sosstats._formula import split_formula as shared_split_formula
from sosstats._validate import check_columns, check_not_mixed
from sosstats.errors import DataError

#: pandas 3 always copies on write: a column selection can no longer be changed through the
#: caller's frame, so the snapshot need not copy the data (40 MB at a million rows)
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3

__all__ = ["CovariateDesign", "covariate_design", "split_formula", "design_matrix",
           "is_categorical", "category_codes"]


class CovariateDesign:
    """Numeric design of the covariates (rows of the full sample, no intercept).

    ``X`` and ``names`` are built on first use (raking never needs them): with ``covariates``
    the columns are dummy-coded, first level dropped; with a formula, its model matrix.
    """

    def __init__(self, frame: pd.DataFrame, variables: list[str], formula: str | None,
                 rhs: str | None = None) -> None:
        self.frame = frame
        self.variables = variables
        self.formula = formula
        self._rhs = rhs
        self._built: tuple[np.ndarray, list[str]] | None = None

    def _build(self) -> tuple[np.ndarray, list[str]]:
        if self._built is None:
            if self._rhs is not None:
                self._built = _formula_matrix(self._rhs, self.frame, self.variables)
            else:
                X, names, _ = design_matrix(self.frame, self.variables, drop_first=True)
                self._built = (X, names)
        return self._built

    def snapshot(self) -> CovariateDesign:
        """Return a copy holding its own copy of the covariate columns (lazy diagnostics)."""
        cols = self.frame[self.variables]
        out = CovariateDesign(cols if _COPY_ON_WRITE else cols.copy(), list(self.variables),
                              self.formula, self._rhs)
        out._built = self._built
        return out

    @property
    def X(self) -> np.ndarray:
        """Design matrix, one row per unit."""
        return self._build()[0]

    @property
    def names(self) -> list[str]:
        """Column names of :attr:`X`."""
        return self._build()[1]


def split_formula(formula: str, responded: str | None) -> tuple[str, str]:
    """Response column and right-hand side of ``"responded ~ rhs"`` (or ``"~ rhs"``).

    :func:`sosstats._formula.split_formula` splits it; the response may be written on the left
    or given as ``responded`` (both must then agree).
    """
    lhs, rhs = shared_split_formula(formula, example="responded ~ x1 + x2", lhs="optional")
    if rhs == "1":
        raise DataError(f"`formula` {formula!r} has no right-hand side.")
    if lhs and responded is not None and lhs != responded:
        raise DataError(f"`formula` has response {lhs!r} but `responded` is {responded!r}; "
                        "give one of them.")
    name = lhs or responded
    if not name:
        raise DataError("no response indicator: give `responded=` or write it on the left of "
                        "`formula`.")
    return name, rhs


def _formula_matrix(rhs: str, data: pd.DataFrame, variables: list[str]
                    ) -> tuple[np.ndarray, list[str]]:
    _check_covariates(data, variables)
    X, names, _ = model_matrix(rhs, data.reset_index(drop=True), intercept=False)
    bad = ~np.isfinite(X).all(axis=0)
    if bad.any():
        raise DataError("the formula gives non-finite values in term(s) "
                        f"{', '.join(repr(n) for n, b in zip(names, bad) if b)}.")
    return X, names


def _check_covariates(data: pd.DataFrame, variables: list[str]) -> None:
    """No missing values, no column mixing numbers with text (read as neither)."""
    for c in variables:
        check_not_mixed(data[c], f"covariate {c!r}")
        if data[c].isna().any():
            raise DataError(f"covariate {c!r} has {int(data[c].isna().sum())} missing value(s) "
                            "(NaN); drop or impute those rows first.")


def covariate_design(data: pd.DataFrame, covariates: str | list[str] | None,
                     formula: str | None, responded: str) -> CovariateDesign:
    """Build the design from ``covariates`` (a list of columns) or a formula's right-hand side.

    Exactly one of the two must be given; the response column may not be among the variables.
    """
    if (covariates is None) == (formula is None):
        raise DataError("give the covariates either as `covariates=` (a list of columns) or as "
                        "`formula=`, not both and not neither.")
    if formula is not None:
        _, rhs = split_formula(formula, responded)
        variables = formula_variables(rhs, data)
        if not variables:
            raise DataError(f"the formula {formula!r} reads no columns of `data`.")
    else:
        variables = check_columns(data, covariates, what="covariate")
        if not variables:
            raise DataError("`covariates` is empty.")
    if responded in variables:
        raise DataError(f"the response indicator {responded!r} cannot be a covariate.")
    if formula is not None:
        design = CovariateDesign(data, variables, formula, rhs)
        design.X  # noqa: B018 - build now, so formula errors surface before any fitting
        return design
    _check_covariates(data, variables)
    return CovariateDesign(data, variables, None)


def additive_variables(design: CovariateDesign) -> list[str]:
    """Return the variables of an additive formula of plain columns (for raking), else raise."""
    if design.formula is None:
        return design.variables
    rhs = design.formula.split("~")[1]
    terms = [t.strip() for t in rhs.split("+") if t.strip() not in ("", "1")]
    out = []
    for t in terms:
        m = re.fullmatch(r"(?:C\(\s*)?([A-Za-z_]\w*)\s*\)?", t)
        if m is None or m.group(1) not in design.variables:
            raise DataError(f"raking needs a formula that adds plain categorical columns "
                            f"('a + b + C(c)'); the term {t!r} is not one.")
        out.append(m.group(1))
    return out


def diagnostic_matrix(design: CovariateDesign) -> tuple[np.ndarray, list[str]]:
    """Columns whose balance is reported: every level of each variable, plus formula terms.

    Terms of a formula that are not a variable or one of its levels (interactions, squares,
    transforms) are appended, so the diagnostics show the balance the weights aimed at.
    """
    X, names, _ = design_matrix(design.frame, design.variables, drop_first=False)
    if design.formula is None:
        return X, names
    plain = re.compile(r"^(?:C\()?([A-Za-z_]\w*)\)?(?:\[(?:T\.)?.*\])?$")
    extra = [j for j, nm in enumerate(design.names)
             if not ((m := plain.match(nm)) and m.group(1) in design.variables)]
    if not extra:
        return X, names
    return (np.column_stack([X, design.X[:, extra]]),
            names + [design.names[j] for j in extra])


# ----------------------------------------------------------------------------- columns

def is_categorical(s: pd.Series) -> bool:
    """Return True for category, object, string or boolean columns (used as categories)."""
    return bool(isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(s)
                or pd.api.types.is_string_dtype(s) or pd.api.types.is_bool_dtype(s))


def _levels(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.dropna().unique())
        return [c for c in s.cat.categories if c in present]
    return sorted(pd.unique(s.dropna()), key=lambda v: (str(type(v)), v))


def design_matrix(data: pd.DataFrame, covariates: list[str], *, drop_first: bool
                  ) -> tuple[np.ndarray, list[str], list[str]]:
    """Numeric matrix of the covariates, its column names and each column's source covariate.

    Boolean columns become one 0/1 column; other categorical columns one dummy per level
    present (the first dropped when ``drop_first``). Raises :class:`DataError` for NaN or
    non-finite values, naming the covariate.
    """
    cols: list[np.ndarray] = []
    names: list[str] = []
    source: list[str] = []
    for c in covariates:
        s = data[c]
        if s.isna().any():
            raise DataError(f"covariate {c!r} has {int(s.isna().sum())} missing value(s) (NaN); "
                            "drop or impute those rows first.")
        if pd.api.types.is_bool_dtype(s):
            cols.append(s.to_numpy(dtype=float))
            names.append(c)
            source.append(c)
        elif is_categorical(s):
            levels = _levels(s)
            values = s.to_numpy(dtype=object)
            for lev in levels[1 if drop_first else 0:]:
                cols.append((values == lev).astype(float))
                names.append(f"{c}[{lev}]")
                source.append(c)
        elif pd.api.types.is_numeric_dtype(s):
            v = s.to_numpy(dtype=float)
            if not np.isfinite(v).all():
                raise DataError(f"covariate {c!r} has infinite values.")
            cols.append(v)
            names.append(c)
            source.append(c)
        else:
            raise DataError(f"covariate {c!r} has unsupported dtype {s.dtype}.")
    X = np.column_stack(cols) if cols else np.empty((len(data), 0))
    return X, names, source


def category_codes(data: pd.DataFrame, col: str) -> tuple[np.ndarray, list, np.ndarray]:
    """Integer codes ``0..K-1`` of a categorical covariate, its levels and each level's count.

    One pass for numpy integer columns that already are codes (the common case of a frame of
    factor codes: no copy), a lookup for other small integer ranges, else ``pandas.factorize``
    (sorted levels; categoricals keep their category order).
    """
    s = data[col]
    plain_int = isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu"
    if not plain_int and s.isna().any():
        raise DataError(f"covariate {col!r} has {int(s.isna().sum())} missing value(s) (NaN); "
                        "drop or impute those rows first.")
    if not (is_categorical(s) or pd.api.types.is_integer_dtype(s)):
        raise DataError(f"covariate {col!r} is continuous ({s.dtype}); raking needs categorical "
                        "covariates: use method='calibrate' or 'entropy'.")
    if plain_int:
        v = s.to_numpy()
        hi, lo, counts = int(v.max()), 0, None
        if hi < 100_000:
            try:                  # codes >= 0: one bincount, no min pass
                counts = np.bincount(v)
            except ValueError:    # negative values
                counts = None
        if counts is None:
            lo = int(v.min())
            if hi - lo < 100_000:
                v = v - lo
                counts = np.bincount(v)
        if counts is not None:    # a small integer range: counts by bincount, no sort
            present = counts > 0
            if present.all():     # already codes 0..K-1: no copy
                return v, list(range(lo, hi + 1)), counts
            lookup = np.cumsum(present) - 1
            return lookup[v], (np.flatnonzero(present) + lo).tolist(), counts[present]
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy()
        counts = np.bincount(codes, minlength=len(s.cat.categories))
        present = counts > 0
        levels = list(s.cat.categories[present])
        if not present.all():
            codes = (np.cumsum(present) - 1)[codes]
        return codes, levels, counts[present]
    codes, levels = pd.factorize(s, sort=True)
    return codes, list(levels), np.bincount(codes, minlength=len(levels))

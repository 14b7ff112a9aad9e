"""Formula helpers shared by the capabilities that take a formulaic right-hand side."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import check_not_mixed
from sosstats.errors import DataError

__all__ = ["formula_variables", "split_formula", "model_matrix"]


def split_formula(formula: str, *, example: str = "y ~ x1 + x2", lhs: str = "required",
                  name: str = "formula") -> tuple[str, str]:
    """Split ``"y ~ rhs"`` into the left-hand side and the right-hand side (``"1"`` if empty).

    Parameters
    ----------
    formula : str
        The formula, with exactly one ``~``.
    example : str
        A formula shown in the error message, in the caller's vocabulary.
    lhs : {"required", "optional"}
        ``"required"``: the left-hand side must be one column name (DataError otherwise);
        ``"optional"``: it may be empty (``"~ x1 + x2"``), returned as ``""``.
    name : str
        The argument's name in messages.
    """
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise DataError(f"`{name}` must be a string with one '~', like {example!r}; got "
                        f"{formula!r}.")
    left, right = (part.strip() for part in formula.split("~"))
    if left and not re.fullmatch(r"[A-Za-z_][\w.]*", left):
        raise DataError(f"the left-hand side of `{name}` must be one column name; got {left!r}.")
    if not left and lhs == "required":
        raise DataError(f"`{name}` {formula!r} has no outcome on the left of '~'.")
    return left, right or "1"


def model_matrix(rhs: str, data: pd.DataFrame, *, na_action: str = "raise",
                 intercept: bool = True) -> tuple[np.ndarray, list[str], Any]:
    """Model matrix of the right-hand side ``rhs`` on ``data``: ``(X, terms, model_spec)``.

    The one place sosstats asks formulaic for a model matrix. ``X`` is float64 with one row per
    row of ``data`` (``na_action="ignore"`` keeps rows with NaN; ``"raise"`` names the
    problem); ``intercept=False`` drops formulaic's ``Intercept`` column. ``model_spec`` encodes
    new data (a T2 wave, a prediction grid) the same way. A column the formula names that
    mixes numbers with text is a DataError (:func:`sosstats._validate.check_not_mixed`).
    """
    from formulaic import model_matrix as _formulaic_matrix

    named = set(re.findall(r"[A-Za-z_][\w.]*", rhs))
    for col in data.columns:
        if col in named:
            check_not_mixed(data[col], f"column {col!r}")
    try:
        mm = _formulaic_matrix(rhs, data, na_action=na_action)
    except Exception as exc:  # formulaic raises many types; name the formula
        raise DataError(f"cannot build the model matrix of {rhs!r}: {exc}") from exc
    terms = [str(c) for c in mm.columns]
    X = np.asarray(mm, dtype=float).reshape(len(mm), len(terms))
    if not intercept and "Intercept" in terms:
        keep = [i for i, t in enumerate(terms) if t != "Intercept"]
        X, terms = X[:, keep], [terms[i] for i in keep]
    return X, terms, mm.model_spec


def formula_variables(rhs: str, data: pd.DataFrame) -> list[str]:
    """Columns of ``data`` read by the right-hand side ``rhs`` (DataError for unknown names)."""
    from formulaic import Formula

    try:
        required = {str(v) for v in Formula(rhs).required_variables}
    except Exception as exc:  # formulaic raises many types; name the formula
        raise DataError(f"cannot parse the formula right-hand side {rhs!r}: {exc}") from exc
    calls = set(re.findall(r"([A-Za-z_][\w.]*)\s*\(", rhs))
    missing = sorted(v for v in required - calls if v not in data.columns)
    if missing:
        raise DataError(f"the formula names column(s) {', '.join(map(repr, missing))} that are "
                        "not in `data`.")
    # formulaic leaves out of ``required_variables`` columns named like its own helpers
    # (``exp2``, ``log``, ``center``, ``lag``...); keep every column named as a bare word
    words = set(re.findall(r"[A-Za-z_][\w.]*", rhs))
    return [c for c in data.columns if c in required or c in words]

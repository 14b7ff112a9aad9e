"""Outcome checks for each likelihood family of :class:`~sosstats.multilevel.MultilevelModel`.

Each family has a support; an outcome outside it is a :class:`~sosstats.errors.DataError` that
names the column, the family and a few offending values. Pure numpy / pandas, no sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sosstats._validate import check_binary
from sosstats.errors import DataError

__all__ = ["FAMILIES", "LOGIT_FAMILIES", "Response", "check_response"]

FAMILIES = ("gaussian", "bernoulli", "binomial", "poisson", "negative_binomial", "ordinal")
LOGIT_FAMILIES = ("bernoulli", "binomial", "ordinal")


@dataclass(frozen=True)
class Response:
    """A checked outcome.

    Attributes
    ----------
    y : numpy.ndarray
        float64 for ``gaussian``; int64 otherwise (ordinal: codes ``0..K-1``).
    trials : numpy.ndarray or None
        Binomial trials (int64), None for the other families.
    categories : list of str or None
        Ordinal categories in order (None for the other families).
    """

    y: np.ndarray
    trials: np.ndarray | None
    categories: list[str] | None


def _shown(values: np.ndarray) -> str:
    vals = pd.unique(np.asarray(values, dtype=object))[:5]
    return ", ".join(map(repr, vals)) + (" ..." if len(pd.unique(values)) > 5 else "")


def _integers(values: pd.Series, name: str, family: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=np.int64)
    if not pd.api.types.is_numeric_dtype(values):
        raise DataError(f"outcome {name!r} must be numeric for family {family!r}; got dtype "
                        f"{values.dtype}.")
    arr = values.to_numpy(dtype=float)
    bad = ~np.isfinite(arr) | (arr != np.round(arr))
    if bad.any():
        raise DataError(f"outcome {name!r} must hold whole numbers for family {family!r}; "
                        f"found {_shown(arr[bad])}.")
    return arr.astype(np.int64)


def _ordinal(values: pd.Series, name: str) -> Response:
    if isinstance(values.dtype, pd.CategoricalDtype):
        if not values.cat.ordered:
            raise DataError(f"outcome {name!r} is an unordered categorical; the ordinal family "
                            "needs an order: make it ordered (`.cat.as_ordered()` with the "
                            "categories in order) or give integer scores.")
        categories = [str(c) for c in values.cat.categories]
        codes = values.cat.codes.to_numpy().astype(np.int64)
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        arr = _integers(values, name, "ordinal")
        uniq, codes = np.unique(arr, return_inverse=True)
        categories = [str(u) for u in uniq]
        codes = codes.astype(np.int64)
    else:
        raise DataError(f"outcome {name!r} must be an ordered categorical or integer scores for "
                        f"family 'ordinal'; got dtype {values.dtype}.")
    if len(categories) < 3:
        raise DataError(f"outcome {name!r} has {len(categories)} categories; the ordinal family "
                        "needs at least 3 (use family='bernoulli' for two).")
    return Response(codes, None, categories)


def check_response(values: pd.Series, family: str, *, name: str,
                   trials: pd.Series | None = None, trials_name: str | None = None) -> Response:
    """Check an outcome (no missing values) against the support of ``family``.

    Parameters
    ----------
    values : pandas.Series
        The outcome, missing values already removed.
    family : str
        One of :data:`FAMILIES`.
    name : str
        Column name, used in messages.
    trials : pandas.Series, optional
        Number of trials for ``binomial`` (required there, refused elsewhere).
    trials_name : str, optional
        Column name of ``trials``, used in messages.

    Returns
    -------
    Response

    Raises
    ------
    DataError
        Gaussian: non-numeric or non-finite values. Bernoulli: values other than 0/1 (or bool).
        Binomial: missing ``trials``, non-integers, ``y < 0``, ``y > trials`` or ``trials < 1``.
        Poisson / negative binomial: negative or non-integer counts. Ordinal: an unordered
        categorical or fewer than 3 categories.
    """
    if family != "binomial" and trials is not None:
        raise DataError(f"`trials` is only used with family='binomial'; got family {family!r}.")
    if family == "gaussian":
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise DataError(f"outcome {name!r} must be numeric for family 'gaussian'; got dtype "
                            f"{values.dtype}.")
        y = values.to_numpy(dtype=float)
        if not np.isfinite(y).all():
            raise DataError(f"outcome {name!r} has infinite values.")
        if np.ptp(y) == 0:
            raise DataError(f"outcome {name!r} is constant; there is nothing to model.")
        return Response(y, None, None)
    if family == "ordinal":
        return _ordinal(values, name)
    if family == "bernoulli":
        try:
            y = check_binary(values, f"outcome {name!r} (family 'bernoulli')")
        except DataError as exc:
            raise DataError(f"{exc} Use family='binomial' with `trials=` for counts of "
                            "successes.") from None
        return Response(y.astype(np.int64), None, None)
    y = _integers(values, name, family)
    if family == "binomial":
        if trials is None:
            raise DataError("family='binomial' needs `trials=`, the column with the number of "
                            "trials of each row.")
        n = _integers(trials, trials_name or "trials", "binomial")
        if (n < 1).any():
            raise DataError(f"trials column {trials_name!r} must be at least 1; found "
                            f"{_shown(n[n < 1])}.")
        bad = (y < 0) | (y > n)
        if bad.any():
            raise DataError(f"outcome {name!r} must lie between 0 and the trials in "
                            f"{trials_name!r} for family 'binomial'; {int(bad.sum())} row(s) do "
                            f"not (values {_shown(y[bad])}).")
        return Response(y, n, None)
    # poisson and negative_binomial
    if (y < 0).any():
        raise DataError(f"outcome {name!r} must be non-negative counts for family {family!r}; "
                        f"found {_shown(y[y < 0])}.")
    return Response(y, None, None)

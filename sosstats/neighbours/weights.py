"""Feature weights for the neighbour distance, learned from outcome regressions (NFER 2007)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sosstats._validate import (
    as_list,
    check_columns,
    check_frame,
    check_numeric_columns,
    check_option,
    check_unique,
)
from sosstats.errors import DataError, DesignError

__all__ = ["learn_weights", "WEIGHT_RULES"]

WEIGHT_RULES = ("beta2", "r2_share")


def learn_weights(las: pd.DataFrame, features: Sequence[str], outcomes: Sequence[str], *,
                  id: str = "la_code", rule: str = "beta2") -> pd.Series:
    r"""Weight candidate features by how strongly they predict outcome indicators.

    For each outcome :math:`y_o`, standardise it and the features (z-scores over the LAs with
    that outcome observed) and fit by least squares

    .. math:: y_{io} = \alpha_o + \sum_j \beta_{oj} z_{ij} + e_{io}.

    Rules (weights are then normalised to sum to 1):

    ``"beta2"`` (default)
        :math:`w_j \propto \frac{1}{O} \sum_o \beta_{oj}^2`. If the features were
        uncorrelated, the expected squared difference between two LAs' predicted outcomes is
        :math:`\sum_j \beta_{oj}^2 (z_{aj} - z_{bj})^2`: with these weights, a small
        distance means similar predicted outcomes. Standardised outcomes make outcomes
        comparable, and an outcome the features explain poorly has small coefficients, so it
        counts little.
    ``"r2_share"``
        :math:`w_j \propto \frac{1}{O} \sum_o R^2_o |\beta_{oj}| / \sum_l |\beta_{ol}|`:
        each outcome hands out its explained variance in proportion to the absolute
        coefficients; less sensitive to one large coefficient.

    Parameters
    ----------
    las : pandas.DataFrame
        One row per LA.
    features : list of str
        Candidate context measures (no missing values).
    outcomes : list of str
        Outcome indicators (rows with a missing outcome are dropped for that outcome only).
    id : str
        LA code column (checked for duplicates).
    rule : {"beta2", "r2_share"}

    Returns
    -------
    pandas.Series
        Weights indexed by feature, summing to 1. ``attrs["coefficients"]`` holds the
        standardised coefficients (outcomes x features), ``attrs["r_squared"]`` the R^2.

    Notes
    -----
    Correlated features (FSM and Ever-6 FSM, primary and secondary) share their predictive
    power unpredictably between them: their individual weights are unstable, their sum is not.
    NFER's 2007 model derived its weights from regressions of outcomes on the candidate
    variables (Benton et al. 2007); this is our version of that idea, not their exact rule.

    References
    ----------
    Benton, T., Chamberlain, T., Wilson, R. and Teeman, D. (2007). *The development of the
    Children's Services Statistical Neighbour Benchmarking Model*. NFER, Slough.
    """
    check_frame(las, "las")
    check_option(rule, WEIGHT_RULES, "rule")
    features, outcomes = as_list(features), as_list(outcomes)
    if not features or not outcomes:
        raise DataError("`features` and `outcomes` must each name at least one column.")
    overlap = sorted(set(features) & set(outcomes))
    if overlap:
        raise DataError(f"columns {', '.join(map(repr, overlap))} are both feature and outcome.")
    check_columns(las, [id], what="id column", name="las")
    check_unique(las, id, name="las")
    if las[id].isna().any():
        raise DataError(f"`las` has missing values in the id column {id!r}.")
    codes = las[id].astype(str).to_numpy(dtype=object)
    x = check_numeric_columns(las, features, what="feature", name="las", allow_constant=False,
                              labels=codes)
    y = check_numeric_columns(las, outcomes, what="outcome", name="las", allow_nan=True,
                              labels=codes)
    betas = np.zeros((len(outcomes), len(features)))
    r2 = np.zeros(len(outcomes))
    for o, name in enumerate(outcomes):  # one small regression per outcome
        ok = ~np.isnan(y[:, o])
        if ok.sum() < len(features) + 2:
            raise DesignError(f"outcome {name!r} is observed for {int(ok.sum())} LAs; at least "
                              f"{len(features) + 2} are needed for {len(features)} features.")
        xs, ys = x[ok], y[ok, o]
        sx, sy = xs.std(axis=0, ddof=1), ys.std(ddof=1)
        if not sy > 0:
            raise DataError(f"outcome {name!r} is constant.")
        if not (sx > 0).all():
            flat = [f for f, s in zip(features, sx) if not s > 0]
            raise DataError(f"feature {', '.join(map(repr, flat))} is constant among the LAs "
                            f"with outcome {name!r}.")
        design = np.column_stack([np.ones(ok.sum()), (xs - xs.mean(axis=0)) / sx])
        if np.linalg.matrix_rank(design) < design.shape[1]:
            raise DesignError("features are collinear (the regression on "
                              f"{name!r} is not identified); drop a redundant feature.")
        zy = (ys - ys.mean()) / sy
        coef, *_ = np.linalg.lstsq(design, zy, rcond=None)
        betas[o] = coef[1:]
        resid = zy - design @ coef
        r2[o] = 1 - resid @ resid / (zy @ zy)
    if rule == "beta2":
        raw = (betas ** 2).mean(axis=0)
    else:
        absb = np.abs(betas)
        raw = (r2[:, None] * absb / absb.sum(axis=1, keepdims=True)).mean(axis=0)
    if not raw.sum() > 0:
        raise DesignError("no feature predicts any outcome; cannot learn weights.")
    out = pd.Series(raw / raw.sum(), index=features, name="weight")
    out.attrs["coefficients"] = pd.DataFrame(betas, index=outcomes, columns=features)
    out.attrs["r_squared"] = pd.Series(r2, index=outcomes, name="r_squared")
    return out

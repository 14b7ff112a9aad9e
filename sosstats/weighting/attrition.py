"""Attrition (non-response) weights: make the Time 2 respondents stand for the Time 1 sample.

:func:`attrition_weights` builds weights for the respondents by a response-propensity model
(logit or probit inverse-probability weights), entropy balancing, raking or calibration, with
optional trimming, and returns them with balance diagnostics and a love plot. Given the T1
sample's base (design) weights, every method adjusts them instead of starting from 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._kernels.balance import (
    design_effect,
    kish_ess,
    standardized_mean_differences,
    trim_to_design_effect,
    trim_weights,
    variance_ratios,
)
from sosstats._results import TableResult
from sosstats._validate import check_columns, check_frame, check_option, check_weights
from sosstats.errors import DataError, DesignError
from sosstats.weighting._formula import (
    covariate_design,
    design_matrix,
    diagnostic_matrix,
    split_formula,
)
from sosstats.weighting._methods import balancing_weights, propensity_weights, refuse

__all__ = ["AttritionWeights", "attrition_weights", "METHODS"]

#: Weighting methods accepted by :func:`attrition_weights`.
METHODS = ("logit", "probit", "entropy", "rake", "calibrate")

#: Keys of the ``trim`` dict of :func:`attrition_weights`.
TRIM_KEYS = ("lower_q", "upper_q", "max_ratio")


@dataclass(frozen=True, kw_only=True)
class AttritionWeights(TableResult):
    """Attrition weights and their diagnostics (returned by :func:`attrition_weights`).

    Its table (``tidy()``, ``summary()``, ``print``) is :meth:`diagnostics`: the balance of each
    covariate column before and after weighting.

    Attributes
    ----------
    weights : pandas.Series
        One weight per row of the input, aligned to its index; respondents' weights sum to the
        number of respondents (unless ``stabilize=False``), or with ``base_weights`` to the
        base weights' total over the T1 sample (``d g``); non-respondents get 0 or NaN.
    responded : pandas.Series
        The response indicator as booleans.
    method : str
        The weighting method.
    propensity : pandas.Series or None
        Fitted response probabilities (``"logit"`` / ``"probit"`` only).
    population_total : float
        The total the calibration targets refer to (the T1 sample size, the base weights'
        total, or the common total of user ``margins``); without base weights
        ``weights * population_total / n_respondents`` meets them, with base weights
        ``weights`` do.
    base_weights : pandas.Series or None
        The T1 base (design) weights ``d`` the adjustment multiplies, or None.
    covariate_matrix : numpy.ndarray
        Covariates of the full sample as used in the diagnostics (categories as dummies).
    covariate_names : tuple of str
        Names of the columns of ``covariate_matrix``.
    """

    weights: pd.Series
    responded: pd.Series
    method: str
    propensity: pd.Series | None
    population_total: float
    base_weights: pd.Series | None = None
    _source: Any = field(default=None, repr=False, compare=False)
    _columns: Any = field(default=None, repr=False, compare=False)

    def _diagnostic_columns(self) -> tuple[np.ndarray, tuple[str, ...]]:
        # built on first use: raking a million rows should not pay for dummy-coding them
        if self._columns is None:
            if self._source is None:
                raise DataError("these weights carry no covariates to diagnose.")
            X, names = diagnostic_matrix(self._source)
            object.__setattr__(self, "_columns", (X, tuple(names)))
        return self._columns

    @property
    def covariate_matrix(self) -> np.ndarray:
        """Covariates of the full sample as used in the diagnostics (categories as dummies)."""
        return self._diagnostic_columns()[0]

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """Names of the columns of :attr:`covariate_matrix`."""
        return self._diagnostic_columns()[1]

    @property
    def nobs(self) -> int:
        """Units of the T1 sample (respondents and non-respondents)."""
        return len(self.weights)

    @property
    def n_respondents(self) -> int:
        """Number of respondents."""
        return int(self.responded.sum())

    def _w0(self) -> np.ndarray:
        return np.nan_to_num(self.weights.to_numpy(dtype=float), nan=0.0)

    @property
    def ess(self) -> float:
        """Kish effective sample size of the respondents' weights."""
        return kish_ess(self._w0())

    @property
    def design_effect(self) -> float:
        """Kish design effect of weighting, ``n_r sum w^2 / (sum w)^2``."""
        return design_effect(self._w0())

    def diagnostics(self, covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        """Balance of each covariate column: respondents against the full T1 sample.

        Parameters
        ----------
        covariates : pandas.DataFrame, optional
            More T1 columns to check (for example ones left out of the weighting model), one
            row per unit with the same index as the weighted data; appended to the table
            (categories as one row per level). A check that the weights did not unbalance
            what they were not told about.

        Returns
        -------
        pandas.DataFrame
            Indexed by covariate column, with ``smd_unweighted``, ``smd_weighted`` (standardised
            mean differences, full-sample SD as denominator), ``variance_ratio_unweighted`` and
            ``variance_ratio_weighted``. ``attrs`` holds ``ess``, ``design_effect``,
            ``n_respondents``, ``n`` and the weight distribution (``weight_min``, ``weight_max``,
            ``weight_cv``).

        Notes
        -----
        SMD ``(m_w - m) / s`` as cobalt with ``s.d.denom = "all"`` (Austin 2009, *Statistics in
        Medicine* 28, 3083-3107); design effect of weighting after Kish (1965). With base
        weights ``d`` the full sample is ``d``-weighted (mean and SD) and "unweighted" means
        the respondents with their base weights only.
        """
        X, covariate_names = self._diagnostic_columns()
        if covariates is not None:
            X, covariate_names = self._with_extra(X, covariate_names, covariates)
        r = self.responded.to_numpy(dtype=float)
        w = self._w0()
        if self.base_weights is None:
            cols = {
                "smd_unweighted": standardized_mean_differences(X, r),
                "smd_weighted": standardized_mean_differences(X, w),
                "variance_ratio_unweighted": variance_ratios(X, r),
                "variance_ratio_weighted": variance_ratios(X, w),
            }
        else:
            d = self.base_weights.to_numpy(dtype=float)
            smd0, vr0 = _balance_to_base(X, r * d, d)
            smd1, vr1 = _balance_to_base(X, w, d)
            cols = {"smd_unweighted": smd0, "smd_weighted": smd1,
                    "variance_ratio_unweighted": vr0, "variance_ratio_weighted": vr1}
        out = pd.DataFrame(cols, index=pd.Index(list(covariate_names), name="covariate"))
        pos = w[w > 0]
        out.attrs.update(ess=self.ess, design_effect=self.design_effect,
                         n_respondents=self.n_respondents, n=len(w),
                         weight_min=float(pos.min()), weight_max=float(pos.max()),
                         weight_cv=float(pos.std() / pos.mean()))
        return out

    def _with_extra(self, X: np.ndarray, names: tuple[str, ...], extra: Any
                    ) -> tuple[np.ndarray, tuple[str, ...]]:
        extra = check_frame(extra, "covariates")
        if not extra.index.equals(self.weights.index):
            raise DataError("`covariates` must have the same index (same rows, same order) as "
                            "the data the weights were built on.")
        Xe, ne, _ = design_matrix(extra, list(extra.columns), drop_first=False)
        keep = [j for j, nm in enumerate(ne) if nm not in names]
        return np.column_stack([X, Xe[:, keep]]), names + tuple(ne[j] for j in keep)

    def _table(self, level: float | None) -> pd.DataFrame:
        return self.diagnostics()

    def _title(self) -> str:
        return (f"Attrition weights ({self.method}): {self.n_respondents} of {self.nobs} units "
                "responded")

    def _notes(self) -> list[str]:
        w = self._w0()
        pos = w[w > 0]
        return [f"Kish ESS {self.ess:.1f}, design effect {self.design_effect:.3f}; weights "
                f"{pos.min():.3g} to {pos.max():.3g} (CV {pos.std() / pos.mean():.2f}).",
                "SMD: respondents against the full T1 sample (full-sample SD); |SMD| < 0.1 is "
                "the usual guide to balance."]

    def plot(self, ax: Any = None) -> Any:
        """Love plot: absolute SMD per covariate, unweighted and weighted, with 0.1 guide.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn into: ``ax`` when given, else a new figure's.
        """
        import matplotlib.pyplot as plt

        d = self.diagnostics()
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.35 * len(d) + 1.5))
        y = np.arange(len(d))
        ax.scatter(d["smd_unweighted"].abs(), y, marker="o", facecolors="none",
                   edgecolors="C0", label="unweighted")
        ax.scatter(d["smd_weighted"].abs(), y, marker="o", color="C1", label="weighted")
        ax.axvline(0.1, color="grey", linestyle="--", linewidth=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels(d.index)
        ax.set_xlabel("|standardised mean difference| vs full T1 sample")
        ax.set_title(f"Attrition weights ({self.method}), ESS {self.ess:.0f}")
        ax.legend(loc="best")
        return ax


def _balance_to_base(X: np.ndarray, w: np.ndarray, d: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """SMD and variance ratio of ``w``-weighted respondents against the ``d``-weighted sample.

    Means and variances are weighted with divisor the sum of weights; the SD of the SMD is the
    ``d``-weighted full-sample SD (cobalt with ``s.weights``); 0 / NaN for a constant column.
    """
    def moments(wt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = (wt @ X) / wt.sum()
        return m, (wt @ (X - m) ** 2) / wt.sum()

    m, v = moments(d)
    mw, vw = moments(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        smd = np.where(v > 0, (mw - m) / np.sqrt(np.where(v > 0, v, 1.0)), 0.0)
        vr = np.where(v > 0, vw / np.where(v > 0, v, 1.0), np.nan)
    return smd, vr


# ----------------------------------------------------------------------------- public

def attrition_weights(data: pd.DataFrame, *, responded: str | None = None,
                      covariates: str | list[str] | None = None, formula: str | None = None,
                      method: str = "logit", by: str | None = None,
                      stabilize: bool | None = None, trim: dict[str, float] | None = None,
                      max_deff: float | None = None, margins: dict | None = None,
                      calfun: str | None = None, bounds: tuple[float, float] | None = None,
                      variances: bool | list[str] | None = None,
                      nonrespondents: str = "zero",
                      base_weights: str | Any | None = None) -> AttritionWeights:
    r"""Weights that make the respondents at follow-up represent the full baseline sample.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit of the full T1 sample (respondents and non-respondents). Not modified.
    responded : str
        Column of the response indicator (bool or 0/1, no missing values). May instead be
        written on the left of ``formula``.
    covariates : str or list of str
        T1 covariates: numeric columns as they are, boolean / category / object columns as
        categories (dummy-coded; raking treats integer columns as categories too).
    formula : str
        Instead of ``covariates``: ``"responded ~ x1 + C(x2) + x1:x3 + I(x1**2)"`` (formulaic
        syntax; ``"~ rhs"`` with ``responded=``). Its columns are the response model's terms
        (logit / probit), the moments balanced (entropy) or the totals met (calibrate); raking
        needs plain categorical terms, and ``margins`` need ``covariates``.
    method : {"logit", "probit", "entropy", "rake", "calibrate"}
        ``"logit"``/``"probit"``: inverse of the fitted response probability. ``"entropy"``:
        entropy balancing of the respondents' covariate means to the full-sample means.
        ``"rake"``: iterative proportional fitting to the T1 category counts (or ``margins``).
        ``"calibrate"``: Deville-Sarndal calibration to T1 totals of all covariates.
    by : str, optional
        Cell column (e.g. the pilot LA); the response model is fitted within each cell and
        stabilised by the cell's response rate. Logit/probit only.
    stabilize : bool, optional
        Logit/probit only (default True): multiply ``1 / p_i`` by the response rate and
        normalise to the respondent count. ``False`` keeps the raw ``1 / p_i``, which sum to
        about the full sample size.
    trim : dict, optional
        ``{"lower_q": .., "upper_q": .., "max_ratio": ..}`` (any subset), passed to
        :func:`sosstats._kernels.balance.trim_weights`; the sum is kept. Any method (trimming
        after entropy balancing or raking loosens the margins).
    max_deff : float, optional
        Cap the largest weights just enough that the design effect is at most ``max_deff``.
    margins : dict, optional
        ``{column: {category: total}}`` external margins (rake / calibrate only); every margin
        must sum to the same total and name only categories present in the data.
    calfun : {"linear", "raking", "logit"}, optional
        Calibration function (calibrate only; default ``"linear"``).
    bounds : (float, float), optional
        Bounds on the ratio of final to initial weights (calibrate with ``calfun="logit"``).
    variances : bool or list of str, optional
        Entropy only: also match the full-sample variances (divisor N) of the numeric
        covariates (``True``: every non-binary column; a list: those columns).
    nonrespondents : {"zero", "nan"}
        What the non-respondents' weights are.
    base_weights : str or array_like, optional
        Base (design) weights ``d`` of the T1 sample, a column of ``data`` or one positive
        value per row (a Series is aligned by index). The adjustment then multiplies them:
        logit / probit give ``d a`` with ``a`` the (stabilised) inverse propensity, scaled so
        that the respondents' weights sum to ``sum d`` (``stabilize=False``: ``d / p``);
        entropy balancing, raking and calibration start from ``d`` and meet the
        ``d``-weighted T1 totals (or ``margins``), with ``bounds`` on ``g = w / d``. The
        response model itself is fitted unweighted.

    Returns
    -------
    AttritionWeights

    Raises
    ------
    DataError
        Unknown columns, a response indicator that is not 0/1, a covariate with NaN, an option
        the method does not use, bad margins, a covariate that perfectly predicts response,
        base weights that are missing, negative, zero or not one per row.
    DesignError
        No respondents or no non-respondents (overall or in a ``by`` cell).
    ConvergenceError
        Calibration targets that cannot be met (e.g. infeasible ``bounds``).

    Notes
    -----
    With response indicator :math:`R_i` and fitted probability :math:`\hat p_i`, the stabilised
    inverse-probability weight is :math:`w_i = R_i \bar R / \hat p_i`, then scaled so that
    :math:`\sum_i w_i = \sum_i R_i` (Robins, Rotnitzky & Zhao 1995; Seaman & White 2013,
    *Stat. Methods Med. Res.* 22, 278-295). Entropy balancing minimises
    :math:`\sum w_i \log w_i` subject to :math:`\sum_{R_i=1} w_i x_i / \sum w_i = \bar x`
    (Hainmueller 2012, *Political Analysis* 20, 25-46). Raking and calibration solve
    :math:`\sum_{R_i=1} w_i x_i = T` with the distance of Deville & Sarndal (1992, *JASA* 87,
    376-382). With base weights :math:`d_i` the start is :math:`d_i` instead of 1 and the T1
    totals are :math:`\sum_i d_i x_i` (Sarndal & Lundstrom 2005, *Estimation in Surveys with
    Nonresponse*, Wiley, ch. 6).
    """
    data = check_frame(data)
    check_option(method, METHODS, "method")
    check_option(nonrespondents, ("zero", "nan"), "nonrespondents")
    if formula is not None:
        responded, _ = split_formula(formula, responded)
    elif responded is None:
        raise DataError("give the response indicator column as `responded=`.")
    r = check_responded(data, responded)
    base = check_base_weights(data, base_weights)
    design = covariate_design(data, covariates, formula, responded)
    trim_d = check_trim(trim)
    if max_deff is not None and not (isinstance(max_deff, (int, float)) and max_deff >= 1):
        raise DataError(f"`max_deff` must be a number >= 1; got {max_deff!r}.")
    if method != "entropy":
        refuse(method, variances=variances)
    if method in ("logit", "probit"):
        refuse(method, margins=margins, calfun=calfun, bounds=bounds)
        w, propensity, N = propensity_weights(data, design, r, method, by, stabilize, base)
    else:
        refuse(method, by=by, stabilize=stabilize)
        w, N = balancing_weights(data, design, r, method, margins, calfun, bounds, variances,
                                 base)
        propensity = None
    if trim_d is not None:
        w = trim_weights(w, **trim_d)
    if max_deff is not None:
        w = trim_to_design_effect(w, float(max_deff)).weights
    if nonrespondents == "nan":
        w = np.where(r, w, np.nan)
    return AttritionWeights(
        weights=pd.Series(w, index=data.index, name="weight"),
        responded=pd.Series(r, index=data.index, name=responded),
        method=method, propensity=propensity, population_total=N,
        base_weights=None if base is None else pd.Series(base, index=data.index,
                                                         name="base_weight"),
        _source=design.snapshot())


# ----------------------------------------------------------------------------- checks

def check_responded(data: pd.DataFrame, responded: str) -> np.ndarray:
    check_columns(data, responded, what="response indicator")
    s = data[responded]
    if pd.api.types.is_bool_dtype(s) and not s.isna().any():
        r = s.to_numpy(dtype=bool)
    else:
        v = s.to_numpy() if pd.api.types.is_numeric_dtype(s) else None
        ok = v is not None and bool(((v == 0) | (v == 1)).all())  # NaN fails both
        if not ok:
            bad = pd.unique(s[~s.isin([0, 1]) | s.isna()])[:5]
            raise DataError(f"response indicator {responded!r} must be 0/1 or boolean with no "
                            f"missing values; found {', '.join(map(repr, bad))}.")
        r = v == 1
    if r.all():
        raise DesignError(f"everyone responded ({responded!r} is all 1): there is no attrition "
                          "to weight for.")
    if not r.any():
        raise DesignError(f"no one responded ({responded!r} is all 0): there is no one to "
                          "weight.")
    return r


def check_base_weights(data: pd.DataFrame, base_weights: Any) -> np.ndarray | None:
    """Return the T1 base weights as a positive float array, one per row of ``data``, or None."""
    if base_weights is None:
        return None
    if isinstance(base_weights, str):
        check_columns(data, base_weights, what="base weights column")
        values, label = data[base_weights], f"base weights column {base_weights!r}"
    elif isinstance(base_weights, pd.Series):
        if not base_weights.index.equals(data.index):
            raise DataError("`base_weights` as a Series must have the same index (same rows, "
                            "same order) as `data`.")
        values, label = base_weights, "`base_weights`"
    else:
        values, label = np.asarray(base_weights), "`base_weights`"
        if values.ndim != 1 or values.shape[0] != len(data):
            raise DataError(f"`base_weights` must have one value per row of `data` "
                            f"({len(data)}); got shape {values.shape}.")
    d = check_weights(values, label)
    if (d <= 0).any():
        raise DataError(f"{label} must be positive (design weights); {int((d <= 0).sum())} "
                        f"are zero (first at row {int(np.flatnonzero(d <= 0)[0])}).")
    return d


def check_trim(trim: Any) -> dict[str, float] | None:
    if trim is None:
        return None
    if not isinstance(trim, dict) or not trim or set(trim) - set(TRIM_KEYS):
        raise DataError(f"`trim` must be a dict with keys among {', '.join(TRIM_KEYS)}; "
                        f"got {trim!r}.")
    return dict(trim)

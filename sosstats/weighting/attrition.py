"""Attrition (non-response) weights: make the Time 2 respondents stand for the Time 1 sample.

:func:`attrition_weights` builds weights for the respondents by a response-propensity model
(logit or probit inverse-probability weights), entropy balancing, raking or calibration, with
optional trimming, and returns them with balance diagnostics and a love plot.
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
from sosstats._kernels.calibrate import CALFUNS, calibrate, rake
from sosstats._kernels.entropy import entropy_balance
from sosstats._validate import check_columns, check_frame, check_option
from sosstats.errors import DataError, DesignError
from sosstats.weighting._propensity import design_matrix, fit_propensity, is_categorical

__all__ = ["AttritionWeights", "attrition_weights", "METHODS"]

#: Weighting methods accepted by :func:`attrition_weights`.
METHODS = ("logit", "probit", "entropy", "rake", "calibrate")
_TRIM_KEYS = ("lower_q", "upper_q", "max_ratio")


@dataclass(frozen=True)
class AttritionWeights:
    """Attrition weights and their diagnostics (returned by :func:`attrition_weights`).

    Attributes
    ----------
    weights : pandas.Series
        One weight per row of the input, aligned to its index; respondents' weights sum to the
        number of respondents (unless ``stabilize=False``); non-respondents get 0 or NaN.
    responded : pandas.Series
        The response indicator as booleans.
    method : str
        The weighting method.
    propensity : pandas.Series or None
        Fitted response probabilities (``"logit"`` / ``"probit"`` only).
    population_total : float
        The total the calibration targets refer to (the T1 sample size, or the common total
        of user ``margins``); ``weights * population_total / n_respondents`` meets them.
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
    covariate_matrix: np.ndarray = field(repr=False)
    covariate_names: tuple[str, ...] = ()

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

    def diagnostics(self) -> pd.DataFrame:
        """Balance of each covariate column: respondents against the full T1 sample.

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
        Medicine* 28, 3083-3107); design effect of weighting after Kish (1965).
        """
        X = self.covariate_matrix
        r = self.responded.to_numpy(dtype=float)
        w = self._w0()
        out = pd.DataFrame({
            "smd_unweighted": standardized_mean_differences(X, r),
            "smd_weighted": standardized_mean_differences(X, w),
            "variance_ratio_unweighted": variance_ratios(X, r),
            "variance_ratio_weighted": variance_ratios(X, w),
        }, index=pd.Index(list(self.covariate_names), name="covariate"))
        pos = w[w > 0]
        out.attrs.update(ess=self.ess, design_effect=self.design_effect,
                         n_respondents=self.n_respondents, n=len(w),
                         weight_min=float(pos.min()), weight_max=float(pos.max()),
                         weight_cv=float(pos.std() / pos.mean()))
        return out

    def plot(self, ax: Any = None) -> Any:
        """Love plot: absolute SMD per covariate, unweighted and weighted, with 0.1 guide."""
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


# ----------------------------------------------------------------------------- validation

def _check_responded(data: pd.DataFrame, responded: str) -> np.ndarray:
    check_columns(data, responded, what="response indicator")
    s = data[responded]
    if pd.api.types.is_bool_dtype(s) and not s.isna().any():
        r = s.to_numpy(dtype=bool)
    else:
        ok = pd.api.types.is_numeric_dtype(s) and s.notna().all() and s.isin([0, 1]).all()
        if not ok:
            bad = pd.unique(s[~s.isin([0, 1]) | s.isna()])[:5]
            raise DataError(f"response indicator {responded!r} must be 0/1 or boolean with no "
                            f"missing values; found {', '.join(map(repr, bad))}.")
        r = s.to_numpy(dtype=float) == 1
    if r.all():
        raise DesignError(f"everyone responded ({responded!r} is all 1): there is no attrition "
                          "to weight for.")
    if not r.any():
        raise DesignError(f"no one responded ({responded!r} is all 0): there is no one to "
                          "weight.")
    return r


def _refuse(method: str, **given: Any) -> None:
    bad = [k for k, v in given.items() if v is not None]
    if bad:
        raise DataError(f"option(s) {', '.join(f'`{b}`' for b in bad)} are not used by "
                        f"method={method!r}; remove them.")


def _check_trim(trim: Any) -> dict[str, float] | None:
    if trim is None:
        return None
    if not isinstance(trim, dict) or not trim or set(trim) - set(_TRIM_KEYS):
        raise DataError(f"`trim` must be a dict with keys among {', '.join(_TRIM_KEYS)}; "
                        f"got {trim!r}.")
    return dict(trim)


def _category_codes(data: pd.DataFrame, col: str, r: np.ndarray) -> tuple[np.ndarray, list]:
    s = data[col]
    if s.isna().any():
        raise DataError(f"covariate {col!r} has {int(s.isna().sum())} missing value(s) (NaN); "
                        "drop or impute those rows first.")
    if not (is_categorical(s) or pd.api.types.is_integer_dtype(s)):
        raise DataError(f"covariate {col!r} is continuous ({s.dtype}); raking needs categorical "
                        "covariates: use method='calibrate' or 'entropy'.")
    codes, levels = pd.factorize(s, sort=True)
    return codes, list(levels)


def _margin_targets(col: str, levels: list, counts: np.ndarray,
                    margins: dict | None) -> np.ndarray:
    if margins is None or col not in margins:
        return counts.astype(float)
    spec = margins[col]
    if not isinstance(spec, dict):
        raise DataError(f"margins[{col!r}] must be a dict category -> total.")
    unknown = [k for k in spec if k not in levels]
    if unknown:
        raise DataError(f"margins[{col!r}] names categories absent from the data: "
                        f"{', '.join(map(repr, unknown))}.")
    missing = [lev for lev in levels if lev not in spec]
    if missing:
        raise DataError(f"margins[{col!r}] gives no total for categories "
                        f"{', '.join(map(repr, missing))} present in the data.")
    return np.array([float(spec[lev]) for lev in levels])


def _check_margins(margins: Any, covariates: list[str]) -> float | None:
    if margins is None:
        return None
    if not isinstance(margins, dict) or not margins:
        raise DataError("`margins` must be a non-empty dict column -> {category: total}.")
    extra = [k for k in margins if k not in covariates]
    if extra:
        raise DataError(f"margins given for {', '.join(map(repr, extra))}, which are not among "
                        "the covariates.")
    totals = {k: float(sum(v.values())) if isinstance(v, dict) else np.nan
              for k, v in margins.items()}
    vals = np.array(list(totals.values()))
    if not np.all(np.isfinite(vals)) or np.ptp(vals) > 1e-9 * max(1.0, np.abs(vals).max()):
        raise DataError("margins do not sum to the same total: "
                        + ", ".join(f"{k!r} {v:g}" for k, v in totals.items()) + ".")
    return float(vals[0])


# ----------------------------------------------------------------------------- methods

def _ipw(data, covs, r, link, by, stabilize) -> tuple[np.ndarray, np.ndarray]:
    p = np.empty(len(r))
    w = np.zeros(len(r))
    cells = [(None, np.ones(len(r), bool))] if by is None else [
        (k, (data[by] == k).to_numpy()) for k in pd.unique(data[by])]
    for key, mask in cells:
        rc = r[mask]
        if rc.all() or not rc.any():
            lack = "no non-respondents" if rc.all() else "no respondents"
            raise DesignError(f"cell {by}={key!r} has {lack}; the response model cannot be "
                              "fitted within it.")
        X, names, _ = design_matrix(data.loc[mask], covs, drop_first=True)
        label = "" if key is None else f"{by}={key!r}"
        pc = fit_propensity(X, rc, names, link=link, label=label)
        p[mask] = pc
        rate = rc.mean() if stabilize else 1.0
        w[mask] = np.where(rc, rate / pc, 0.0)
    return w, p


def _calibration(data, covs, r, method, calfun, bounds, margins):
    N_user = _check_margins(margins, covs)
    n = len(r)
    N = N_user if N_user is not None else float(n)
    if method == "rake":
        codes, targets = [], []
        for c in covs:
            cd, levels = _category_codes(data, c, r)
            counts = np.bincount(cd, minlength=len(levels)) * (N / n)
            t = _margin_targets(c, levels, counts, margins)
            codes.append(cd[r])
            targets.append(t)
        return rake(codes, targets).weights, N
    cols, tots, names = [], [], []
    has_cat = False
    for c in covs:
        s = data[c]
        if is_categorical(s) or (margins is not None and c in margins):
            cd, levels = _category_codes(data, c, r)
            counts = np.bincount(cd, minlength=len(levels)) * (N / n)
            t = _margin_targets(c, levels, counts, margins)
            for k, lev in enumerate(levels):
                cols.append((cd[r] == k).astype(float))
                tots.append(t[k])
                names.append(f"{c}[{lev}]")
            has_cat = True
        else:
            if s.isna().any():
                raise DataError(f"covariate {c!r} has {int(s.isna().sum())} missing value(s) "
                                "(NaN); drop or impute those rows first.")
            v = s.to_numpy(dtype=float)
            cols.append(v[r])
            tots.append(v.mean() * N)
            names.append(c)
    if not has_cat:
        cols.insert(0, np.ones(int(r.sum())))
        tots.insert(0, N)
        names.insert(0, "(total)")
    X = np.column_stack(cols)
    fit = calibrate(X, np.array(tots), calfun=calfun, bounds=bounds, names=names)
    return fit.weights, N


# ----------------------------------------------------------------------------- public

def attrition_weights(data: pd.DataFrame, *, responded: str, covariates: str | list[str],
                      method: str = "logit", by: str | None = None,
                      stabilize: bool | None = None, trim: dict[str, float] | None = None,
                      max_deff: float | None = None, margins: dict | None = None,
                      calfun: str | None = None, bounds: tuple[float, float] | None = None,
                      nonrespondents: str = "zero") -> AttritionWeights:
    r"""Weights that make the respondents at follow-up represent the full baseline sample.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit of the full T1 sample (respondents and non-respondents). Not modified.
    responded : str
        Column of the response indicator (bool or 0/1, no missing values).
    covariates : str or list of str
        T1 covariates: numeric columns as they are, boolean / category / object columns as
        categories (dummy-coded; raking treats integer columns as categories too).
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
    nonrespondents : {"zero", "nan"}
        What the non-respondents' weights are.

    Returns
    -------
    AttritionWeights

    Raises
    ------
    DataError
        Unknown columns, a response indicator that is not 0/1, a covariate with NaN, an option
        the method does not use, bad margins, a covariate that perfectly predicts response.
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
    376-382).
    """
    data = check_frame(data)
    check_option(method, METHODS, "method")
    check_option(nonrespondents, ("zero", "nan"), "nonrespondents")
    covs = check_columns(data, covariates, what="covariate")
    if not covs:
        raise DataError("`covariates` is empty.")
    r = _check_responded(data, responded)
    if responded in covs:
        raise DataError(f"the response indicator {responded!r} cannot be a covariate.")
    trim_d = _check_trim(trim)
    if max_deff is not None and not (isinstance(max_deff, (int, float)) and max_deff >= 1):
        raise DataError(f"`max_deff` must be a number >= 1; got {max_deff!r}.")
    n_r = int(r.sum())
    propensity = None
    N = float(len(r))
    if method in ("logit", "probit"):
        _refuse(method, margins=margins, calfun=calfun, bounds=bounds)
        if by is not None:
            check_columns(data, by, what="cell column `by`")
            if data[by].isna().any():
                raise DataError(f"cell column {by!r} has missing values.")
        w, p = _ipw(data, covs, r, method, by, True if stabilize is None else bool(stabilize))
        propensity = pd.Series(p, index=data.index, name="propensity")
        if stabilize is None or stabilize:
            w = w * (n_r / w.sum())
    else:
        _refuse(method, by=by, stabilize=stabilize)
        if method == "entropy":
            _refuse(method, margins=margins, calfun=calfun, bounds=bounds)
            X, names, _ = design_matrix(data, covs, drop_first=True)
            keep = np.ptp(X, axis=0) > 0
            fit = entropy_balance(X[r][:, keep], X[:, keep].mean(axis=0),
                                  names=[nm for nm, k in zip(names, keep) if k])
            w_r = fit.weights
        else:
            if method == "rake":
                if calfun not in (None, "raking"):
                    raise DataError(f"method='rake' uses calfun='raking'; got calfun={calfun!r} "
                                    "(use method='calibrate').")
                _refuse(method, bounds=bounds)
            elif calfun is not None:
                check_option(calfun, CALFUNS, "calfun")
            w_r, N = _calibration(data, covs, r, method, calfun or "linear", bounds, margins)
        w = np.zeros(len(r))
        w[r] = np.asarray(w_r, dtype=float) * (n_r / np.sum(w_r))
    if trim_d is not None:
        w = trim_weights(w, **trim_d)
    if max_deff is not None:
        w = trim_to_design_effect(w, float(max_deff)).weights
    if nonrespondents == "nan":
        w = np.where(r, w, np.nan)
    Xd, dnames, _ = design_matrix(data, covs, drop_first=False)
    return AttritionWeights(
        weights=pd.Series(w, index=data.index, name="weight"),
        responded=pd.Series(r, index=data.index, name=responded),
        method=method, propensity=propensity, population_total=N,
        covariate_matrix=Xd, covariate_names=tuple(dnames))

r"""Delta-adjustment (tipping-point) sensitivity analysis for missing Time 2 outcomes.

:func:`tipping_point` returns a :class:`TippingPoint` (also available as
``sosstats.weighting.tipping_point`` and from :mod:`sosstats.weighting.sensitivity`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sosstats._results import TableResult
from sosstats._validate import check_columns, check_frame, check_level, check_option
from sosstats.errors import DataError, DesignError
from sosstats.weighting._nr_common import (
    cluster_codes,
    factor,
    if_covariance,
    indicator,
    outcome_values,
    resolve_weights,
)

__all__ = ["TippingPoint", "tipping_point"]

ESTIMANDS = ("mean", "difference")


@dataclass(frozen=True, kw_only=True)
class TippingPoint(TableResult):
    """Estimates over a grid of shifts delta of the missing outcomes (:func:`tipping_point`).

    ``tidy(level=)``, ``summary(level=)``, ``to_dict()`` and the printed form come from one
    table, the grid indexed by ``delta`` (its intervals recomputed at another ``level``; the
    tipping points and ``mar`` stay at the fit's level).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per delta: ``delta``, ``estimate``, ``std_error``, ``ci_lower``, ``ci_upper``,
        ``significant`` (the interval excludes ``threshold``).
    tipping_point : float
        The delta nearest 0 at which an interval bound crosses ``threshold`` (the conclusion at
        MAR, delta = 0, changes there); NaN when it does not change within the grid.
    estimate_tipping_point : float
        The delta nearest 0 at which the estimate itself crosses ``threshold`` (NaN if none).
    crossings : pandas.DataFrame
        Every crossing within the grid: ``delta`` and ``what`` (``"ci_lower"``, ``"ci_upper"``
        or ``"estimate"``), found by root finding between grid points.
    mar : dict
        ``estimate``, ``ci_lower``, ``ci_upper``, ``significant`` at delta = 0.
    estimand, outcome, shift : str
        What was estimated, of which outcome, and which group's missing outcomes were shifted.
    threshold, level : float
        Null value and confidence level.
    coefficients : dict
        ``estimate(delta) = intercept + slope * delta`` and ``var(delta) = var0 + 2 cov delta
        + var1 delta^2``; ``df`` and ``critical`` value of the interval.
    """

    table: pd.DataFrame
    tipping_point: float
    estimate_tipping_point: float
    crossings: pd.DataFrame
    mar: dict
    estimand: str
    outcome: str
    shift: str
    threshold: float
    level: float
    coefficients: dict = field(repr=False, default_factory=dict)

    method = "tipping point"

    def at(self, delta: Any) -> pd.DataFrame:
        """Estimates for any delta(s), computed exactly (same columns as ``table``)."""
        return _grid(self.coefficients, np.atleast_1d(np.asarray(delta, dtype=float)),
                     self.threshold)

    def _table(self, level: float | None) -> pd.DataFrame:
        if level is None:
            return self.table.set_index("delta")
        coef = dict(self.coefficients, critical=float(stats.t.ppf(0.5 + check_level(level) / 2,
                                                                   self.coefficients["df"])))
        return _grid(coef, self.table["delta"].to_numpy(), self.threshold).set_index("delta")

    def _title(self) -> str:
        return f"Tipping-point analysis: {self.estimand} of {self.outcome}"

    def _notes(self) -> list[str]:
        tp = "none in the grid" if np.isnan(self.tipping_point) else f"{self.tipping_point:.4g}"
        return [f"Conclusion at MAR (delta = 0): estimate {self.mar['estimate']:.4g}, "
                f"{self.level:.0%} CI [{self.mar['ci_lower']:.4g}, {self.mar['ci_upper']:.4g}]"
                f"{' excludes' if self.mar['significant'] else ' includes'} "
                f"{self.threshold:g}.",
                f"Tipping point (the {self.level:.0%} interval reaches {self.threshold:g}): "
                f"delta = {tp}; estimate equals {self.threshold:g} at delta = "
                + ("none in the grid" if np.isnan(self.estimate_tipping_point)
                   else f"{self.estimate_tipping_point:.4g}") + ".",
                f"Missing outcomes shifted: {self.shift}. SEs treat weights and imputed values "
                "as fixed."]

    def plot(self, ax: Any = None) -> Any:
        """Estimate and interval band against delta, the threshold and the tipping point.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn into: ``ax`` when given, else a new figure's.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        t = self.table
        ax.plot(t["delta"], t["estimate"], color="C0", label="estimate")
        ax.fill_between(t["delta"], t["ci_lower"], t["ci_upper"], color="C0", alpha=0.25,
                        label=f"{self.level:.0%} CI")
        ax.axhline(self.threshold, color="black", linewidth=0.8)
        ax.axvline(0, color="grey", linestyle=":", linewidth=0.8, label="MAR")
        if not np.isnan(self.tipping_point):
            ax.axvline(self.tipping_point, color="C3", linestyle="--", linewidth=1,
                       label=f"tipping point {self.tipping_point:.3g}")
        ax.set_xlabel(f"delta: shift of missing {self.outcome} ({self.shift})")
        ax.set_ylabel(f"{self.estimand} of {self.outcome}")
        ax.legend(loc="best")
        return ax


def _grid(coef: dict, deltas: np.ndarray, threshold: float) -> pd.DataFrame:
    est = coef["intercept"] + coef["slope"] * deltas
    var = coef["var0"] + 2 * coef["cov"] * deltas + coef["var1"] * deltas**2
    se = np.sqrt(np.maximum(var, 0.0))
    lo, hi = est - coef["critical"] * se, est + coef["critical"] * se
    return pd.DataFrame({"delta": deltas, "estimate": est, "std_error": se, "ci_lower": lo,
                         "ci_upper": hi, "significant": (lo > threshold) | (hi < threshold)})


def _crossings(coef: dict, deltas: np.ndarray, threshold: float) -> pd.DataFrame:
    """Roots of ci_lower, ci_upper and estimate minus threshold between grid points."""
    found: list[tuple[float, str]] = []
    for what in ("ci_lower", "ci_upper", "estimate"):
        def g(d: float, what: str = what) -> float:
            return float(_grid(coef, np.array([d]), threshold)[what].iloc[0] - threshold)

        s = np.sign(_grid(coef, deltas, threshold)[what].to_numpy() - threshold)
        found += [(float(d), what) for d in deltas[s == 0]]
        for i in np.flatnonzero(s[:-1] * s[1:] < 0):      # a handful of sign changes
            found.append((optimize.brentq(g, deltas[i], deltas[i + 1], xtol=1e-13,
                                          rtol=4 * np.finfo(float).eps), what))
    return pd.DataFrame(found, columns=["delta", "what"]).sort_values(
        ["delta", "what"], ignore_index=True)


def _nearest(cross: pd.DataFrame, kinds: tuple[str, ...]) -> float:
    d = cross.loc[cross["what"].isin(kinds), "delta"].to_numpy()
    return float(d[np.argmin(np.abs(d))]) if d.size else float("nan")


def _check_deltas(deltas: Any, y: np.ndarray) -> np.ndarray:
    if deltas is None:
        s = float(np.std(y, ddof=1)) if y.size > 1 else 1.0
        s = s if s > 0 else 1.0
        return s * np.arange(-20, 21) / 10.0       # exact 0 in the middle
    try:
        d = np.asarray(deltas, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`deltas` must be numbers; got {deltas!r}.") from exc
    if d.size == 0:
        raise DataError("`deltas` is empty; give at least one shift (e.g. "
                        "numpy.linspace(-2, 2, 41)) or None for the default grid.")
    if not np.isfinite(d).all():
        raise DataError("`deltas` must be finite numbers.")
    return np.unique(d)


def tipping_point(data: pd.DataFrame, outcome: str, responded: str, *,
                  group: str | None = None, deltas: Any = None, weights: Any = None,
                  imputed: str | None = None, estimand: str = "mean", shift: Any = "both",
                  reference: Any = None, threshold: float = 0.0, cluster: str | None = None,
                  level: float = 0.95) -> TippingPoint:
    r"""Delta-adjustment analysis: shift the missing outcomes and find where conclusions change.

    Parameters
    ----------
    data : pandas.DataFrame
        The Time 1 sample. Not modified.
    outcome : str
        Numeric (or boolean) outcome, observed for respondents.
    responded : str
        Response indicator (0/1 or boolean).
    group : str, optional
        For ``estimand="difference"`` the two groups compared (second level minus
        ``reference``); for ``"mean"`` the cells within which missing values are imputed.
    deltas : array-like, optional
        Shifts to tabulate (sorted, duplicates dropped); default 41 points over +/- 2 SD of the
        respondents' outcome.
    weights : str, Series or AttritionWeights, optional
        Weights for the MAR prediction: the weighted respondent mean of the group / cell.
    imputed : str, optional
        Column of MAR predictions for the non-respondents (e.g. from a regression on T1
        covariates); used instead of the respondents' mean. Not with ``weights``.
    estimand : {"mean", "difference"}, default "mean"
        The full-sample mean, or the difference of the two groups' full-sample means.
    shift : "both" or a level of ``group``, default "both"
        Whose missing outcomes are shifted.
    reference : optional
        Level of ``group`` subtracted in the difference (default the first level).
    threshold : float, default 0
        The null value: the conclusion is "significant" when the interval excludes it.
    cluster : str, optional
        Cluster column for the standard errors (t with G - 1 df).
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    TippingPoint
        ``.table``, ``.tipping_point``, ``.estimate_tipping_point``, ``.crossings``, ``.at()``,
        ``.plot()``.

    Raises
    ------
    DataError
        Bad columns or options, an empty or non-finite ``deltas``, weights not positive for a
        respondent, missing ``imputed`` values for non-respondents, ``imputed`` with ``weights``.
    DesignError
        A group (cell) without respondents; ``"difference"`` without exactly two groups.

    Notes
    -----
    Under MAR the missing outcomes of cell :math:`g` are predicted by the respondents'
    (weighted) mean :math:`\hat m_g` or by ``imputed``; the delta-adjusted (MNAR) assumption
    moves each prediction by :math:`\delta` (Carpenter and Kenward 2013, *Multiple Imputation
    and its Application*, ch. 10; Ratitch, O'Kelly and Tosiello 2013, *Pharmaceutical
    Statistics* 12, 337-347). With response share :math:`q_g`, the cell's full-sample mean is
    :math:`\theta_g(\delta) = \hat\theta_g + s_g (1 - q_g)\delta` (:math:`s_g = 1` if the cell
    is shifted), linear in :math:`\delta`; the mean over cells weights them by their size and
    the difference subtracts the reference group's. Its influence values are linear in
    :math:`\delta` too, :math:`a_i + \delta b_i` with :math:`a_i = r_i w_i (y_i - \hat m_g)/W_g`
    (or :math:`(z_i - \hat\theta_g)/N_g` for imputed values :math:`z_i`) and :math:`b_i =
    -s_g (r_i - q_g)/N_g`, so :math:`\widehat V(\delta) = V_0 + 2 C \delta + V_1 \delta^2`,
    computed once (with-replacement linearisation: :math:`n_h/(n_h-1)` within the groups, or
    :math:`G/(G-1)` over clusters). Weights and imputed values are treated as fixed. The
    tipping point is the root of :math:`\text{bound}(\delta) - \text{threshold}` nearest 0,
    found by Brent's method between the grid points where the sign changes. For a binary
    outcome keep :math:`\hat m_g + \delta` within [0, 1].

    Examples
    --------
    >>> from sosstats.datasets import simulate_evaluation
    >>> fam = simulate_evaluation(rng=0, n_families=2000).families
    >>> tp = tipping_point(fam, "sdq_t2", "responded_t2", group="cohort",
    ...                    estimand="difference")
    >>> len(tp.table), list(tp.table.columns)[:3]
    (41, ['delta', 'estimate', 'std_error'])
    """
    data = check_frame(data)
    level = check_level(level)
    check_option(estimand, ESTIMANDS, "estimand")
    r = indicator(data, responded)
    y = outcome_values(data, outcome, r)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not np.isfinite(
            threshold):
        raise DataError(f"`threshold` must be a finite number; got {threshold!r}.")
    if group is None:
        if estimand == "difference":
            raise DesignError("estimand='difference' needs `group` with two levels.")
        codes, levels = np.zeros(len(r), np.int64), ["all"]
    else:
        codes, levels = factor(data, group, reference=reference)
    k = len(levels)
    if estimand == "difference" and k != 2:
        raise DesignError(f"estimand='difference' needs exactly two levels of {group!r}; it "
                          f"has {k}.")
    if isinstance(shift, str) and shift == "both":
        shifted = np.ones(k)
    elif group is not None and shift in levels:
        shifted = np.array([lev == shift for lev in levels], float)
    else:
        raise DataError(f"`shift` must be 'both' or a level of `group` "
                        f"({', '.join(map(repr, levels))}); got {shift!r}.")
    n_g = np.bincount(codes, minlength=k).astype(float)
    r_g = np.bincount(codes, weights=r, minlength=k)
    if (r_g == 0).any():
        bad = ", ".join(str(levels[j]) for j in np.flatnonzero(r_g == 0))
        raise DesignError(f"no respondents in {'the sample' if group is None else bad}: the "
                          "MAR prediction is undefined there.")
    q_g = r_g / n_g
    yr = np.where(r, y, 0.0)
    if imputed is not None:
        if weights is not None:
            raise DataError("give either `weights` (MAR prediction by the weighted respondent "
                            "mean) or `imputed` (your own MAR predictions), not both.")
        check_columns(data, imputed, what="imputed column")
        col = data[imputed]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise DataError(f"imputed column {imputed!r} must be numeric; got {col.dtype}.")
        yhat = col.to_numpy(dtype=float, na_value=np.nan)
        if not np.isfinite(yhat[~r]).all():
            raise DataError(f"imputed column {imputed!r} must be finite for every "
                            "non-respondent.")
        z = np.where(r, yr, yhat)
        theta_g = np.bincount(codes, weights=z, minlength=k) / n_g
        a = (z - theta_g[codes]) / n_g[codes]
    else:
        if weights is None:
            w = r.astype(float)
        else:
            w = resolve_weights(data, weights)
            bad = ~(np.isfinite(w[r]) & (w[r] > 0))
            if bad.any():
                label = repr(weights) if isinstance(weights, str) else "`weights`"
                raise DataError(f"weights {label} must be positive for every respondent; "
                                f"{int(bad.sum())} respondent(s) have 0 or NaN.")
            w = np.where(r, w, 0.0)
        W_g = np.bincount(codes, weights=w, minlength=k)
        theta_g = np.bincount(codes, weights=w * yr, minlength=k) / W_g
        a = w * (yr - theta_g[codes]) / W_g[codes]
    slope_g = shifted * (1 - q_g)
    b = -shifted[codes] * (r - q_g[codes]) / n_g[codes]
    if estimand == "difference":
        sign = np.array([-1.0, 1.0])
        intercept, slope = float(sign @ theta_g), float(sign @ slope_g)
        a, b = sign[codes] * a, sign[codes] * b
        strata = codes
    else:
        share = n_g / n_g.sum()
        intercept, slope = float(share @ theta_g), float(share @ slope_g)
        a = share[codes] * a + (theta_g[codes] - intercept) / n_g.sum()
        b = share[codes] * b + (slope_g[codes] - slope) / n_g.sum()
        strata = None
    clus = cluster_codes(data, cluster)
    cov, df = if_covariance(np.column_stack([a, b]), cluster=clus,
                            strata=None if clus is not None else strata)
    coef = {"intercept": intercept, "slope": slope, "var0": float(cov[0, 0]),
            "cov": float(cov[0, 1]), "var1": float(cov[1, 1]), "df": df,
            "critical": float(stats.t.ppf(0.5 + level / 2, df))}
    grid = _check_deltas(deltas, y[r])
    table = _grid(coef, grid, threshold)
    cross = _crossings(coef, grid, threshold)
    mar = _grid(coef, np.array([0.0]), threshold).iloc[0]
    return TippingPoint(
        table=table, tipping_point=_nearest(cross, ("ci_lower", "ci_upper")),
        estimate_tipping_point=_nearest(cross, ("estimate",)), crossings=cross,
        mar={key: (bool(mar[key]) if key == "significant" else float(mar[key]))
             for key in ("estimate", "ci_lower", "ci_upper", "significant")},
        estimand=estimand, outcome=outcome, shift=str(shift), threshold=float(threshold),
        level=level, coefficients=coef)

"""Rates per 10,000 children with exact Poisson intervals, and funnel-plot control limits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._validate import check_columns, check_frame, check_level
from sosstats.errors import DataError

__all__ = ["rate_per_10k", "poisson_interval", "funnel_limits", "funnel_plot"]


def _as_float(x: Any, name: str) -> np.ndarray:
    if isinstance(x, pd.Series) and not (pd.api.types.is_numeric_dtype(x)
                                         and not pd.api.types.is_bool_dtype(x)):
        raise DataError(f"`{name}` must be numeric; got dtype {x.dtype}.")
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`{name}` must be numeric.") from exc


def _check_per(per: Any) -> float:
    if isinstance(per, bool) or not isinstance(per, (int, float, np.number)) or not per > 0:
        raise DataError(f"`per` must be a positive number; got {per!r}.")
    return float(per)


def poisson_interval(count: Any, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact (Garwood) confidence interval for a Poisson mean, given an observed count.

    .. math:: L = \tfrac12\chi^2_{2x,\,\alpha/2}, \qquad U = \tfrac12\chi^2_{2x+2,\,1-\alpha/2},

    with :math:`L = 0` when :math:`x = 0` (equivalently gamma quantiles with shapes :math:`x`
    and :math:`x+1`). NaN counts give NaN limits.

    References
    ----------
    Garwood, F. (1936). Fiducial limits for the Poisson distribution. *Biometrika* 28(3/4),
    437-442.
    """
    level = check_level(level)
    x = _as_float(count, "count")
    if np.any(x[np.isfinite(x)] < 0):
        raise DataError("`count` has negative values; counts must be >= 0.")
    alpha = 1 - level
    with np.errstate(invalid="ignore"):
        lower = np.where(x > 0, stats.chi2.ppf(alpha / 2, 2 * np.where(x > 0, x, 1)) / 2, 0.0)
        upper = stats.chi2.ppf(1 - alpha / 2, 2 * x + 2) / 2
    lower = np.where(np.isnan(x), np.nan, lower)
    return lower, upper


def rate_per_10k(count: Any, population: Any, *, level: float = 0.95, per: float = 10_000
                 ) -> pd.DataFrame:
    r"""Rates per ``per`` (default 10,000) with exact Poisson confidence intervals.

    Parameters
    ----------
    count : array-like or Series
        Event counts (e.g. assessments); non-negative. NaN (suppressed) stays NaN.
    population : array-like or Series
        Population at risk (e.g. children aged 0-17); positive.
    level : float
        Confidence level.
    per : float
        Rate multiplier.

    Returns
    -------
    pandas.DataFrame
        Columns ``rate, lower, upper`` (index from ``count`` when it is a Series).

    Notes
    -----
    :math:`\text{rate} = \text{per}\cdot x / N`; the limits are the Garwood limits of
    :func:`poisson_interval` for the count, scaled by :math:`\text{per}/N` (the population is
    treated as fixed, as in public-health rate reporting).

    References
    ----------
    Garwood, F. (1936). Fiducial limits for the Poisson distribution. *Biometrika* 28, 437-442.
    """
    per = _check_per(per)
    x = _as_float(count, "count")
    n = _as_float(population, "population")
    try:
        x, n = np.broadcast_arrays(x, n)
    except ValueError as exc:
        raise DataError(f"`count` (shape {np.shape(x)}) and `population` (shape "
                        f"{np.shape(n)}) do not match.") from exc
    if np.any(n[~np.isnan(n)] <= 0) or np.any(np.isinf(n)):
        raise DataError("`population` must be positive and finite; it has non-positive or "
                        "infinite values.")
    if np.any(np.isinf(x)):
        raise DataError("`count` has infinite values.")
    lower, upper = poisson_interval(x, level=level)
    scale = per / n
    index = count.index if isinstance(count, pd.Series) else None
    return pd.DataFrame({"rate": np.atleast_1d(x * scale), "lower": np.atleast_1d(lower * scale),
                         "upper": np.atleast_1d(upper * scale)}, index=index)


def funnel_limits(population: Any, rate: float, *, levels: tuple[float, ...] = (0.95, 0.998),
                  per: float = 10_000) -> pd.DataFrame:
    r"""Exact Poisson funnel-plot control limits around a target rate.

    For population :math:`N`, expected count :math:`\mu = \text{rate}\cdot N/\text{per}`, and
    tail probability :math:`q`, let :math:`r_q` be the Poisson(:math:`\mu`) :math:`q`-quantile
    and interpolate between the integers so the limit is continuous in :math:`N`:

    .. math:: \alpha = \frac{F(r_q) - q}{F(r_q) - F(r_q - 1)}, \qquad
              \text{limit}_q = \text{per}\cdot\frac{r_q - \alpha}{N},

    at :math:`q = (1-\text{level})/2` (lower) and :math:`(1+\text{level})/2` (upper).

    Returns
    -------
    pandas.DataFrame
        ``population`` plus ``lower_95, upper_95, lower_99.8, upper_99.8`` (one pair per level).

    References
    ----------
    Spiegelhalter, D. J. (2005). Funnel plots for comparing institutional performance.
    *Statistics in Medicine* 24(8), 1185-1202 (appendix A.1.1).
    """
    per = _check_per(per)
    n = np.atleast_1d(_as_float(population, "population"))
    if np.any(~np.isfinite(n)) or np.any(n <= 0):
        raise DataError("`population` must be positive and finite.")
    if isinstance(rate, bool) or not np.isscalar(rate) or not np.isfinite(rate) or rate < 0:
        raise DataError(f"`rate` must be a non-negative number; got {rate!r}.")
    mu = float(rate) * n / per
    out = {"population": n}
    for lev in levels:
        lev = check_level(lev)
        for side, q in (("lower", (1 - lev) / 2), ("upper", (1 + lev) / 2)):
            r = stats.poisson.ppf(q, mu)
            f_r = stats.poisson.cdf(r, mu)
            f_r1 = stats.poisson.cdf(r - 1, mu)
            with np.errstate(invalid="ignore", divide="ignore"):
                alpha = np.where(f_r > f_r1, (f_r - q) / (f_r - f_r1), 0.0)
            out[f"{side}_{100 * lev:g}"] = np.maximum(r - alpha, 0.0) * per / n
    return pd.DataFrame(out)


def funnel_plot(data: pd.DataFrame, *, count: str, population: str, label: str = "la_code",
                target: float | None = None, highlight: Any = None, per: float = 10_000,
                max_labels: int = 10, ax: Any = None, names: Any = None,
                show_names: bool = True) -> Any:
    """Funnel plot of rates per ``per`` against population, with 95% and 99.8% exact limits.

    Labelled points carry the LA's name ("Bristol", not "E06000023"), placed so that no two
    labels overlap.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per LA (not modified). Rows with a missing count or population are left out.
    count, population, label : str
        Columns of the event count, the population at risk and the point label.
    target : float, optional
        Target rate per ``per`` (default: the pooled rate, sum of counts over sum of
        populations, e.g. England's).
    highlight : sequence, optional
        Labels of LAs to mark (e.g. the pilots).
    per : float
        Rate multiplier.
    max_labels : int
        At most this many points outside the 99.8% limits are labelled, the furthest out first
        (highlighted LAs are always labelled).
    ax : matplotlib Axes, optional
        Axes to draw into; by default a new figure.
    names : mapping or DataFrame, optional
        Extra code -> name pairs (or a frame with ``la_code`` and ``la_name``) used before the
        shipped DfE names; a ``la_name`` column of ``data`` is used too.
    show_names : bool
        Label by LA name (default); False labels with ``data[label]`` as it is.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    Limits from :func:`funnel_limits` (Spiegelhalter, 2005). How far out a point lies is its
    distance from the target in units of the distance from the target to the 99.8% limit on
    its side. When many LAs fall outside the limits, the rates are over-dispersed relative to
    Poisson variation (LAs differ for reasons other than chance); Spiegelhalter (2005) gives
    the multiplicative and additive corrections.
    """
    from sosstats.neighbours.plots import draw_funnel

    check_frame(data, "data")
    check_columns(data, [count, population, label], name="data")
    x = _as_float(data[count], "count")
    n = _as_float(data[population], "population")
    keep = np.isfinite(x) & np.isfinite(n)
    if keep.sum() == 0:
        raise DataError(f"no row of `data` has both {count!r} and {population!r}.")
    x, n = x[keep], n[keep]
    labels = data[label].to_numpy()[keep]
    rates = rate_per_10k(x, n, per=per)["rate"].to_numpy()
    if target is None:
        target = float(x.sum() / n.sum() * per)
    grid = np.geomspace(max(n.min() * 0.8, 1.0), n.max() * 1.1, 200)
    limits = funnel_limits(grid, target, per=per)
    at = funnel_limits(n, target, per=per)
    lo, hi = at["lower_99.8"].to_numpy(), at["upper_99.8"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(rates >= target, (rates - target) / (hi - target),
                          (target - rates) / (target - lo))
    outside = (rates < lo) | (rates > hi)
    furthest = np.argsort(-np.where(outside, excess, -np.inf), kind="stable")[:max_labels]
    outside = np.isin(np.arange(len(rates)), furthest) & outside
    hl = np.isin(labels.astype(str), [str(h) for h in (highlight or [])])
    if show_names:
        from sosstats.neighbours.plots import _labels

        labels = np.asarray(_labels(data.iloc[np.flatnonzero(keep)], label, names, True),
                            dtype=object)
    return draw_funnel(n, rates, labels, limits, target, outside, hl, per=per, ax=ax)

r"""Money over time: discounting (HM Treasury Green Book) and annuitising capital.

``discount(flows)`` discounts yearly flows whose first value is year 0 (undiscounted) with the
Green Book's declining long-term schedule; ``discount(flows, rate=0.05)`` uses a constant rate
and ``rate=array`` a rate for each year. ``present_value`` sums the discounted flows and
``annuity`` spreads a capital sum over its life (PSSRU capital overheads).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import check_int
from sosstats.errors import DataError

__all__ = ["GREEN_BOOK", "discount_rates", "discount_factors", "discount", "present_value",
           "annuity"]

#: HM Treasury Green Book declining long-term discount rates: ``(first year, rate)`` bands.
#: Years 0-30: 3.5%; 31-75: 3.0%; 76-125: 2.5%; 126-200: 2.0%; 201-300: 1.5%; 301 on: 1.0%.
GREEN_BOOK: tuple[tuple[int, float], ...] = (
    (0, 0.035), (31, 0.030), (76, 0.025), (126, 0.020), (201, 0.015), (301, 0.010))


def _bands(schedule: str | Sequence[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(schedule, str):
        if schedule != "green_book":
            raise DataError(f"`schedule` must be 'green_book' or a sequence of (first_year, "
                            f"rate) bands; got {schedule!r}.")
        schedule = GREEN_BOOK
    try:
        arr = np.asarray(schedule, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError("`schedule` bands must be (first_year, rate) pairs of numbers.") from exc
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise DataError("`schedule` must be 'green_book' or a non-empty sequence of "
                        "(first_year, rate) pairs.")
    starts, rates = arr[:, 0], arr[:, 1]
    if starts[0] != 0 or np.any(np.diff(starts) <= 0) or np.any(starts != np.round(starts)):
        raise DataError("`schedule` band start years must be whole numbers rising from 0; got "
                        f"{starts.tolist()}.")
    _check_rates(rates, "schedule")
    return starts.astype(np.int64), rates


def _check_rates(rates: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(rates)):
        raise DataError(f"`{name}` rates must be finite numbers; got {rates.tolist()[:10]}.")
    if np.any(rates <= -1):
        raise DataError(f"`{name}` rates must be greater than -1 (-100%); got {rates.min():g}.")


def discount_rates(n_years: int, *, rate: Any = None, schedule: Any = None,
                   start_year: int = 0) -> np.ndarray:
    """Rate applying to each year ``start_year`` to ``start_year + n_years - 1``.

    See :func:`discount` for ``rate``, ``schedule`` and ``start_year``.
    """
    n_years = check_int(n_years, "n_years", minimum=0)
    start_year = check_int(start_year, "start_year", minimum=0)
    years = np.arange(start_year, start_year + n_years)
    if rate is not None and schedule is not None:
        raise DataError("give `rate` or `schedule`, not both (with neither, the Green Book "
                        "schedule is used).")
    if rate is None:
        starts, rates = _bands("green_book" if schedule is None else schedule)
        return rates[np.searchsorted(starts, years, side="right") - 1]
    try:
        arr = np.asarray(rate, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`rate` must be a number or an array of yearly rates; got "
                        f"{type(rate).__name__}.") from exc
    if arr.ndim == 0:
        _check_rates(arr.reshape(1), "rate")
        return np.full(n_years, float(arr))
    if arr.ndim != 1:
        raise DataError(f"`rate` must be a number or a 1-D array; got shape {arr.shape}.")
    if arr.size < start_year + n_years:
        raise DataError(f"`rate` has {arr.size} yearly rates but years 0 to "
                        f"{start_year + n_years - 1} need {start_year + n_years} (rate[t] is "
                        "the rate of year t; rate[0] is not used).")
    _check_rates(arr[1:start_year + n_years], "rate")
    return arr[years]


def discount_factors(n_years: int, *, rate: Any = None, schedule: Any = None,
                     start_year: int = 0) -> np.ndarray:
    r"""Discount factors of years ``start_year`` to ``start_year + n_years - 1``.

    ``D_0 = 1`` and ``D_t = D_{t-1} / (1 + r_t)`` (see :func:`discount`).
    """
    n_years = check_int(n_years, "n_years", minimum=0)
    start_year = check_int(start_year, "start_year", minimum=0)
    rates = discount_rates(start_year + n_years, rate=rate, schedule=schedule)
    growth = 1.0 + rates
    growth[:1] = 1.0  # year 0 is not discounted
    return 1.0 / np.cumprod(growth)[start_year:]


def _as_flows(flows: Any, axis: int) -> tuple[np.ndarray, int]:
    try:
        arr = (flows.to_numpy(dtype=float, na_value=np.nan)
               if isinstance(flows, (pd.Series, pd.DataFrame)) else np.array(flows, dtype=float))
    except (TypeError, ValueError) as exc:   # text such as 'n/a' among the numbers
        raise DataError(f"`flows` must be numeric; got {type(flows).__name__} with a value that "
                        f"is not a number ({exc}).") from exc
    if arr.ndim == 0:
        raise DataError("`flows` must hold one value per year (a 1-D or 2-D array, Series or "
                        "DataFrame); got a single number.")
    if arr.size == 0:
        raise DataError("`flows` is empty; give one value per year (0 for a year with none).")
    if np.isnan(arr).any():
        raise DataError(f"`flows` contain {int(np.isnan(arr).sum())} NaN value(s); a missing "
                        "year's flow must be given (0 if none).")
    if np.isinf(arr).any():
        raise DataError("`flows` contain infinite values.")
    if not -arr.ndim <= axis < arr.ndim:
        raise DataError(f"`axis` {axis} is out of range for flows with {arr.ndim} dimensions.")
    return arr, axis % arr.ndim


def discount(flows: Any, rate: Any = None, *, schedule: Any = None, start_year: int = 0,
             axis: int = -1) -> Any:
    r"""Discount yearly flows to present values, year by year.

    Parameters
    ----------
    flows : array-like, pandas.Series or pandas.DataFrame
        One value per year along ``axis`` (default the last: rows of a 2-D array or DataFrame
        are scenarios, columns years). The first value is year ``start_year``.
    rate : float or array-like, optional
        A constant annual rate (``0.035`` is 3.5%), or a 1-D array where ``rate[t]`` is the
        rate of year ``t`` (``rate[0]`` is not used; at least ``start_year + n_years`` values).
    schedule : {'green_book'} or sequence of (first_year, rate), optional
        A named schedule or bands; the default when neither ``rate`` nor ``schedule`` is given
        is the Green Book's (:data:`GREEN_BOOK`). Giving both is an error.
    start_year : int, default 0
        Year of the first flow (0: undiscounted).
    axis : int, default -1
        The axis of years.

    Returns
    -------
    Same type and shape as ``flows`` (numpy array for lists): the discounted flows.

    Raises
    ------
    DataError
        NaN or infinite flows, a single number, both ``rate`` and ``schedule``, rates of -100%
        or below, too few yearly rates, a bad schedule.

    Notes
    -----
    With :math:`r_t` the rate of year :math:`t` (from the band containing :math:`t` for a
    schedule), the discount factor is the product of annual factors

    .. math::

        D_0 = 1, \qquad D_t = \prod_{s=1}^{t} \frac{1}{1 + r_s},

    so the rate of year :math:`t` discounts year :math:`t` relative to year :math:`t - 1` and
    a change of rate never makes the factor jump: with the Green Book schedule
    :math:`D_{30} = 1.035^{-30} \approx 0.3563` and :math:`D_{31} = D_{30} / 1.03`, not
    :math:`1.03^{-31}`. A constant rate gives :math:`D_t = (1 + r)^{-t}`. Flows are
    discounted as if they fall at the end of each year, year 0 being now.

    References
    ----------
    HM Treasury (2022). *The Green Book: Central Government Guidance on Appraisal and
    Evaluation*, section 6 and Annex A6 (discounting; declining long-term rates).

    Examples
    --------
    >>> from sosstats.vfm import discount
    >>> discount([100.0, 100.0, 100.0]).round(2)
    array([100.  ,  96.62,  93.35])
    """
    arr, ax = _as_flows(flows, axis)
    factors = discount_factors(arr.shape[ax], rate=rate, schedule=schedule,
                               start_year=start_year)
    shape = [1] * arr.ndim
    shape[ax] = -1
    out = arr * factors.reshape(shape)
    if isinstance(flows, pd.Series):
        return pd.Series(out, index=flows.index, name=flows.name)
    if isinstance(flows, pd.DataFrame):
        return pd.DataFrame(out, index=flows.index, columns=flows.columns)
    return out


def present_value(flows: Any, rate: Any = None, *, schedule: Any = None, start_year: int = 0,
                  axis: int = -1) -> Any:
    """Sum of the discounted flows along ``axis`` (see :func:`discount`).

    Returns a float for 1-D flows, an array for arrays, and a Series (one value per row) for a
    DataFrame of scenarios x years.
    """
    disc = discount(flows, rate, schedule=schedule, start_year=start_year, axis=axis)
    if isinstance(disc, pd.DataFrame):
        return disc.sum(axis=1 if axis in (-1, 1) else 0)
    if isinstance(disc, pd.Series):
        return float(disc.sum())
    total = disc.sum(axis=axis)
    return float(total) if np.ndim(total) == 0 else total


def annuity(value: Any, *, years: int, rate: float = 0.035, timing: str = "arrears") -> Any:
    r"""Equivalent annual cost of a capital sum spread over ``years`` at ``rate``.

    Parameters
    ----------
    value : float or array-like
        Capital cost (e.g. the cost of office space for one worker).
    years : int
        Useful life (PSSRU: 60 years for buildings).
    rate : float, default 0.035
        Discount rate (Green Book 3.5%).
    timing : {'arrears', 'advance'}
        Payments at the end (default) or start of each year.

    Returns
    -------
    float or numpy.ndarray

    Notes
    -----
    :math:`E = K / A`, with annuity factor :math:`A = (1 - (1 + r)^{-n}) / r` in arrears and
    :math:`A (1 + r)` in advance; :math:`A = n` when :math:`r = 0`
    (Drummond et al. 2015, ch. 7; Curtis & Burns 2017, capital costs).

    References
    ----------
    Drummond, M. F., Sculpher, M. J., Claxton, K., Stoddart, G. L. & Torrance, G. W. (2015).
    *Methods for the Economic Evaluation of Health Care Programmes*, 4th ed. OUP.
    Curtis, L. & Burns, A. (2017). *Unit Costs of Health and Social Care 2017*. PSSRU,
    University of Kent.
    """
    years = check_int(years, "years", minimum=1)
    if timing not in ("arrears", "advance"):
        raise DataError(f"`timing` must be 'arrears' or 'advance'; got {timing!r}.")
    if not (isinstance(rate, (int, float)) and np.isfinite(rate) and rate > -1):
        raise DataError(f"`rate` must be a finite number greater than -1; got {rate!r}.")
    factor = years if rate == 0 else (1 - (1 + rate) ** -years) / rate
    if timing == "advance":
        factor *= 1 + rate
    out = np.asarray(value, dtype=float) / factor
    return float(out) if out.ndim == 0 else out

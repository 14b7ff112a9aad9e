r"""Unit costs of a professional's time, itemised the PSSRU way.

``unit_cost(salary=..., on_costs=..., overheads=..., working_hours=..., direct_share=...,
price_year=...)`` builds the annual cost of one worker from salary, employer's on-costs and
overheads, and divides it by the working hours (and by the share of them spent in direct
contact). Any input may be a number, a 1-D array of draws or a scipy.stats frozen distribution:
then every quantity is a vector of draws (probabilistic sensitivity analysis) and the result
summarises them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import Result
from sosstats._validate import check_int, check_level, check_option, check_rng
from sosstats.errors import DataError
from sosstats.vfm._inputs import n_draws_of, realise
from sosstats.vfm.prices import reprice

__all__ = ["Amount", "UnitCost", "unit_cost"]

_ON_COST_KEYS = ("national_insurance", "ni_threshold", "pension")
_OVERHEAD_KEYS = ("direct", "indirect", "capital", "qualifications")
_ITEM_NAMES = {"direct": "direct_overheads", "indirect": "indirect_overheads",
               "capital": "capital", "qualifications": "qualifications"}
_TERMS = ("cost_per_year", "cost_per_working_hour", "cost_per_direct_hour")


@dataclass(frozen=True)
class Amount:
    """An annual amount of money (not a rate), e.g. ``overheads={"capital": Amount(2_566)}``.

    Parameters
    ----------
    value : float, array of draws or scipy.stats frozen distribution
        Money per year at the result's price year.
    """

    value: Any


@dataclass(frozen=True, eq=False, kw_only=True)
class UnitCost(Result):
    """Result of :func:`unit_cost`.

    Attributes
    ----------
    items : pandas.DataFrame
        Annual money per item (columns ``salary``, on-cost items, overhead items, ``total``),
        one row per draw (a single row when every input is fixed).
    working_hours : numpy.ndarray
        Annual working hours (one per draw).
    direct_share : numpy.ndarray or None
        Share of working hours in direct contact (one per draw); None when not given.
    price_year : object
        Price year of every amount.
    n_draws : int or None
        Number of draws; None when every input is fixed.
    label : str
        Name of the worker or service.
    level : float
        Level of the percentile intervals over draws.
    inputs : dict
        The inputs as given, for the record.
    """

    items: pd.DataFrame
    working_hours: np.ndarray
    direct_share: np.ndarray | None
    price_year: Any
    n_draws: int | None
    label: str = ""
    level: float = 0.95
    method: str = "unit cost (PSSRU schema)"
    inputs: dict = field(default_factory=dict, repr=False)

    @property
    def nobs(self) -> int:
        """Number of draws (1 when every input is fixed)."""
        return len(self.items)

    @property
    def draws(self) -> pd.DataFrame | None:
        """Draws of every item and of the hourly costs (None when every input is fixed)."""
        if self.n_draws is None:
            return None
        out = self.items.copy()
        out["cost_per_working_hour"] = self._hourly(direct=False)
        out["cost_per_direct_hour"] = self._hourly(direct=True)
        return out

    def _hourly(self, direct: bool) -> np.ndarray:
        per_hour = self.items["total"].to_numpy() / self.working_hours
        if not direct:
            return per_hour
        if self.direct_share is None:
            return np.full_like(per_hour, np.nan)
        return per_hour / self.direct_share

    def hourly(self, *, direct: bool = False) -> np.ndarray:
        """Cost per working hour (or per hour of direct contact) as an array, one per draw."""
        return self._hourly(direct).copy()

    @property
    def per_year(self) -> float:
        """Annual cost (mean over draws when probabilistic)."""
        return float(self.items["total"].mean())

    @property
    def per_hour(self) -> float:
        """Cost per working hour (mean over draws when probabilistic)."""
        return float(self._hourly(direct=False).mean())

    @property
    def per_direct_hour(self) -> float:
        """Cost per hour of direct contact (NaN when ``direct_share`` was not given)."""
        return float(self._hourly(direct=True).mean())

    @property
    def table(self) -> pd.DataFrame:
        """Itemised table: per year, per working hour, per direct hour and share of the total.

        Rows are the items then ``total``; with draws, each cell is the mean over draws (so
        the items still add up to the total).
        """
        money = self.items.to_numpy()
        hours = self.working_hours[:, None]
        direct = (self.direct_share[:, None] if self.direct_share is not None
                  else np.full_like(hours, np.nan))
        total = money[:, -1].mean()
        out = pd.DataFrame({"per_year": money.mean(axis=0),
                            "per_working_hour": (money / hours).mean(axis=0),
                            "per_direct_hour": (money / hours / direct).mean(axis=0),
                            "share": money.mean(axis=0) / total if total > 0 else np.nan},
                           index=pd.Index(self.items.columns, name="item"))
        return out

    def _values(self) -> np.ndarray:
        return np.column_stack([self.items["total"].to_numpy(), self._hourly(False),
                                self._hourly(True)])

    def _estimates(self) -> pd.DataFrame:
        vals = self._values()
        sd = (vals.std(axis=0, ddof=1) if self.n_draws is not None and self.n_draws > 1
              else np.full(3, np.nan))
        out = pd.DataFrame({"estimate": vals.mean(axis=0), "std_error": sd,
                            "statistic": np.nan, "p_value": np.nan}, index=list(_TERMS))
        out["unit"] = ["per year", "per working hour", "per direct hour"]
        out["price_year"] = str(self.price_year)
        return out

    def _interval(self, level: float) -> pd.DataFrame:
        vals = self._values()
        if self.n_draws is None:
            lo = hi = np.full(3, np.nan)
        else:
            with np.errstate(invalid="ignore"):
                lo, hi = np.quantile(vals, [0.5 - level / 2, 0.5 + level / 2], axis=0)
        return pd.DataFrame({"lower": lo, "upper": hi}, index=list(_TERMS))

    def _notes(self) -> list[str]:
        notes = [f"{self.label + ': ' if self.label else ''}prices of {self.price_year}; "
                 f"{self.working_hours.mean():,.0f} working hours a year."]
        if self.n_draws is None:
            notes.append("Every input fixed: no interval (give distributions or draws for a "
                         "probabilistic sensitivity analysis).")
        else:
            notes.append(f"Mean, SD and percentile interval over {self.n_draws} draws.")
        if self.direct_share is None:
            notes.append("No `direct_share`: cost per direct hour not computed.")
        return notes

    def reprice(self, to_year: Any, index: Any) -> UnitCost:
        """Return this unit cost in the prices of ``to_year`` (see :func:`reprice`)."""
        items = reprice(self.items, from_year=self.price_year, to_year=to_year, index=index)
        return replace(self, items=items, price_year=to_year)


def _on_cost_items(on_costs: Any, salary: np.ndarray, n: int | None,
                   rng: np.random.Generator | None) -> dict[str, np.ndarray]:
    if on_costs is None:
        return {}
    if not isinstance(on_costs, dict):
        return {"on_costs": _rate_or_amount(on_costs, "on_costs", salary, n, rng)}
    unknown = [k for k in on_costs if k not in _ON_COST_KEYS]
    if unknown:
        raise DataError(f"`on_costs` has unknown item(s) {unknown}; use "
                        f"{', '.join(map(repr, _ON_COST_KEYS))} (or give one rate).")
    out = {}
    if "national_insurance" in on_costs:
        threshold = realise(on_costs.get("ni_threshold", 0.0), "on_costs['ni_threshold']", n,
                            rng)
        liable = np.maximum(salary - threshold, 0.0)
        out["national_insurance"] = _rate_or_amount(on_costs["national_insurance"],
                                                    "on_costs['national_insurance']", liable,
                                                    n, rng, maximum=1.0)
    elif "ni_threshold" in on_costs:
        raise DataError("`on_costs` gives 'ni_threshold' without 'national_insurance'.")
    if "pension" in on_costs:
        out["pension"] = _rate_or_amount(on_costs["pension"], "on_costs['pension']", salary,
                                         n, rng, maximum=1.0)
    return out


def _rate_or_amount(value: Any, name: str, base: np.ndarray, n: int | None,
                    rng: np.random.Generator | None, maximum: float | None = None
                    ) -> np.ndarray:
    if isinstance(value, Amount):
        return realise(value.value, name, n, rng)
    return realise(value, name, n, rng, maximum=maximum) * base


def _inputs_for_count(salary: Any, on_costs: Any, overheads: Any, working_hours: Any,
                      direct_share: Any) -> dict[str, Any]:
    found = {"salary": salary, "working_hours": working_hours, "direct_share": direct_share}
    for prefix, given in (("on_costs", on_costs), ("overheads", overheads)):
        entries = given.items() if isinstance(given, dict) else [("", given)]
        for key, val in entries:
            found[f"{prefix}[{key!r}]" if key else prefix] = (
                val.value if isinstance(val, Amount) else val)
    return {k: v for k, v in found.items() if v is not None}


def unit_cost(*, salary: Any, working_hours: Any, price_year: Any, on_costs: Any = None,
              overheads: dict[str, Any] | None = None, direct_share: Any = None,
              overhead_base: str = "salary_costs", n_draws: int | None = None,
              rng: int | np.random.Generator | None = None, label: str = "",
              level: float = 0.95) -> UnitCost:
    r"""Annual and hourly cost of a worker, itemised as in PSSRU's *Unit Costs*.

    Parameters
    ----------
    salary : float, array of draws or frozen distribution
        Annual gross salary.
    working_hours : float, array or distribution
        Annual working hours (e.g. 42 weeks x 37.5 hours); at most 8,784.
    price_year : object
        Price year of every amount (e.g. ``2016`` or ``"2016/17"``), recorded on the result and
        used by :meth:`UnitCost.reprice`.
    on_costs : rate, Amount, dict or None
        Employer's salary on-costs: one rate of salary (item ``on_costs``), an
        :class:`Amount`, or a dict with ``"national_insurance"`` (rate charged on salary above
        ``"ni_threshold"``, an annual amount, default 0) and ``"pension"`` (rate of salary);
        each value may be an :class:`Amount`.
    overheads : dict, optional
        Keys ``"direct"``, ``"indirect"``, ``"capital"``, ``"qualifications"``. A plain value
        is a rate of the ``overhead_base``; wrap annual money in :class:`Amount` (capital is
        usually an amount: annuitised office space, see :func:`sosstats.vfm.annuity`).
    direct_share : float, array or distribution, optional
        Share of working hours spent in direct contact (0, 1]; gives the cost per hour of
        direct contact.
    overhead_base : {'salary_costs', 'salary'}
        What overhead rates multiply: salary plus on-costs (PSSRU's "salary costs", default) or
        salary alone.
    n_draws : int, optional
        Number of draws from distributions (default 1,000; fixed by arrays of draws).
    rng : int, Generator or None
        Draws distributions, in this order: salary, ``ni_threshold``, national insurance,
        pension (or the single on-cost), direct, indirect, capital, qualifications, working
        hours, direct share (each ``dist.rvs(size=n_draws, random_state=rng)``).
    label : str
        Name of the worker or service, for printing.
    level : float, default 0.95
        Level of the percentile intervals over draws.

    Returns
    -------
    UnitCost
        ``table`` (itemised), ``per_year``, ``per_hour``, ``per_direct_hour``, ``draws``,
        ``summary()``, ``reprice(to_year, index)``.

    Raises
    ------
    DataError
        NaN, infinite or negative inputs, a salary or working hours of 0, more working hours
        than a year has, rates above 1 for national insurance or pension, a direct share
        outside (0, 1], unknown on-cost or overhead keys, arrays of draws of different lengths.

    Notes
    -----
    Following the schema of Curtis & Burns (2017), with salary :math:`S`,

    .. math::

        \text{NI} = r_{NI} \max(S - T, 0), \quad \text{pension} = r_P S, \quad
        B = S + \text{NI} + \text{pension}, \quad
        O_{\text{direct}} = r_D B, \quad O_{\text{indirect}} = r_I B,

    annual cost :math:`A = B + O_{\text{direct}} + O_{\text{indirect}} + K + Q` (capital and
    qualifications, usually annual amounts), cost per working hour :math:`A / H` and cost per
    hour of direct contact :math:`A / (H d)` with direct share :math:`d` (PSSRU's "per hour of
    client-related work", where the ratio of direct to indirect time is :math:`d : 1 - d`).
    With ``overhead_base='salary'``, :math:`B = S` in the overheads. With draws, each
    quantity is computed draw by draw and summarised by its mean, SD and percentile interval.

    References
    ----------
    Curtis, L. & Burns, A. (2017). *Unit Costs of Health and Social Care 2017*. Personal
    Social Services Research Unit, University of Kent (schemas for social workers; section V,
    sources of information: on-costs, overheads, capital, working time).
    Netten, A., Knight, J., Dennett, J., Cooley, R. & Slight, A. (1998). *A 'ready reckoner'
    for staff costs in the NHS*. PSSRU.

    Examples
    --------
    >>> from sosstats.vfm import Amount, unit_cost
    >>> uc = unit_cost(salary=35_000, on_costs={"national_insurance": 0.138,
    ...                "ni_threshold": 8_000, "pension": 0.2},
    ...                overheads={"direct": 0.3, "indirect": 0.15, "capital": Amount(2_500)},
    ...                working_hours=1_575, direct_share=0.25, price_year=2016)
    >>> round(uc.per_hour, 2)
    43.68
    """
    if overheads is not None and not isinstance(overheads, dict):
        raise DataError(f"`overheads` must be a dict with keys {list(_OVERHEAD_KEYS)}; got "
                        f"{type(overheads).__name__}.")
    overheads = dict(overheads or {})
    unknown = [k for k in overheads if k not in _OVERHEAD_KEYS]
    if unknown:
        raise DataError(f"`overheads` has unknown item(s) {unknown}; use "
                        f"{', '.join(map(repr, _OVERHEAD_KEYS))}.")
    check_option(overhead_base, ("salary_costs", "salary"), "overhead_base")
    level = check_level(level)
    if price_year is None or (np.ndim(price_year) == 0 and pd.isna(price_year)):
        raise DataError("`price_year` is missing: every unit cost needs the year of its prices.")
    if n_draws is not None:
        n_draws = check_int(n_draws, "n_draws", minimum=2)
    n = n_draws_of(_inputs_for_count(salary, on_costs, overheads, working_hours,
                                     direct_share), n_draws)
    gen = check_rng(rng) if n is not None else None
    sal = realise(salary, "salary", n, gen, strict=True)
    items = {"salary": sal}
    items.update(_on_cost_items(on_costs, sal, n, gen))
    base = sum(items.values()) if overhead_base == "salary_costs" else sal
    for key in _OVERHEAD_KEYS:
        if key in overheads:
            items[_ITEM_NAMES[key]] = _rate_or_amount(overheads[key], f"overheads[{key!r}]",
                                                      base, n, gen)
    hours = realise(working_hours, "working_hours", n, gen, strict=True, maximum=8784.0)
    share = (None if direct_share is None else
             realise(direct_share, "direct_share", n, gen, strict=True, maximum=1.0))
    frame = pd.DataFrame({k: np.atleast_1d(v) for k, v in items.items()})
    frame["total"] = frame.sum(axis=1)
    rows = len(frame)
    return UnitCost(items=frame, working_hours=np.broadcast_to(np.atleast_1d(hours), rows).copy(),
                    direct_share=(None if share is None else
                                  np.broadcast_to(np.atleast_1d(share), rows).copy()),
                    price_year=price_year, n_draws=n, label=label, level=level,
                    inputs={"salary": salary, "on_costs": on_costs, "overheads": overheads,
                            "working_hours": working_hours, "direct_share": direct_share,
                            "overhead_base": overhead_base})

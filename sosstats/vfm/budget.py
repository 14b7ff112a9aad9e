r"""Budget view: an investment against the costs it avoids, year by year.

``budget(investment, avoided)`` lines up yearly investment flows (training: days x trainees x
cost per day, see :func:`training_cost`; programme fees) against yearly avoided-cost flows,
discounts them (Green Book by default, :func:`sosstats.vfm.discount`) and reports the
cumulative net flows, the net present value, the benefit-cost ratio and the payback year.
Flows may be 2-D arrays of draws (draws x years) from a probabilistic sensitivity analysis:
then NPV has an interval and a probability of being positive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import check_level
from sosstats.errors import DataError
from sosstats.vfm._inputs import is_distribution, realise
from sosstats.vfm.budget_view import BudgetView
from sosstats.vfm.discount import discount
from sosstats.vfm.prices import reprice

__all__ = ["budget", "training_cost"]


def training_cost(days: Any, trainees: Any, cost_per_day: Any) -> Any:
    """Cost of training: ``days x trainees x cost_per_day``.

    Each may be a number or an array (per year, or per draw); they broadcast with numpy's
    rules. Returns a float or an array. Raises :class:`DataError` for negative, NaN or
    infinite values, a distribution (draw it first: ``dist.draws(n, rng)``) or shapes that do
    not broadcast.

    Examples
    --------
    >>> from sosstats.vfm import training_cost
    >>> training_cost(days=[5, 2, 0], trainees=40, cost_per_day=350.0)
    array([70000., 28000.,     0.])
    """
    vals = []
    for name, value in (("days", days), ("trainees", trainees), ("cost_per_day", cost_per_day)):
        if is_distribution(value):
            raise DataError(f"`{name}` is a distribution: draw it first (e.g. "
                            f"`{name}=dist.draws(n, rng)`) or use psa().")
        vals.append(realise(value, name, None, None))
    try:
        out = vals[0] * vals[1] * vals[2]
    except ValueError as exc:
        raise DataError(f"`days`, `trainees` and `cost_per_day` have shapes "
                        f"{[np.shape(v) for v in vals]} that do not broadcast.") from exc
    return float(out) if out.ndim == 0 else out


def _as_array(value: Any, where: str) -> np.ndarray:
    if is_distribution(value):
        raise DataError(f"{where} is a distribution: give draws (an array of draws x years).")
    raw = value.to_numpy() if isinstance(value, (pd.Series, pd.DataFrame)) else value
    try:
        arr = np.array(raw, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where} must be numeric flows; got {type(value).__name__}.") from exc
    if arr.ndim > 2:
        raise DataError(f"{where} must be a number, one value per year or draws x years; got "
                        f"shape {arr.shape}.")
    if np.isnan(arr).any():
        raise DataError(f"{where} contains {int(np.isnan(arr).sum())} NaN value(s); give 0 "
                        "for a year without flows.")
    if np.isinf(arr).any():
        raise DataError(f"{where} contains infinite values.")
    return arr


def _components(flows: Any, kind: str) -> list[tuple[str, str, np.ndarray]]:
    if isinstance(flows, Mapping):
        if not flows:
            raise DataError(f"`{kind}` is an empty mapping.")
        items = [(str(k), f"`{kind}['{k}']`", v) for k, v in flows.items()]
    else:
        items = [(kind, f"`{kind}`", flows)]
    out = [(label, where, _as_array(v, where)) for label, where, v in items]
    if kind == "investment":
        for _, where, arr in out:
            if (arr < 0).any():
                raise DataError(f"{where} has negative values (smallest {arr.min():g}): an "
                                "investment is money spent; put savings or income in "
                                "`avoided`.")
    return out


def _shape(comps: list[tuple[str, str, str, np.ndarray]], years: Any
           ) -> tuple[pd.Index, int | None]:
    lengths = {where: arr.shape[-1] for _, where, _, arr in comps if arr.ndim > 0}
    if years is not None and not isinstance(years, (int, np.integer)):
        labels = pd.Index(list(years), name="year")
        if labels.has_duplicates:
            raise DataError(f"`years` repeats {labels[labels.duplicated()].tolist()[:5]}.")
        lengths["`years`"] = len(labels)
    elif years is not None:
        if isinstance(years, bool) or years < 1:
            raise DataError(f"`years` must be a positive number of years or a sequence of "
                            f"labels; got {years!r}.")
        lengths["`years`"] = int(years)
    if not lengths:
        raise DataError("every flow is a single number: give `years` (the number is then "
                        "repeated every year) or one value per year.")
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{w} {n}" for w, n in lengths.items())
        raise DataError(f"mismatched lengths of flows (years): {shown}; give every flow one "
                        "value per year.")
    n_years = next(iter(lengths.values()))
    if years is None or isinstance(years, (int, np.integer)):
        labels = pd.RangeIndex(n_years, name="year")
    draws = {where: arr.shape[0] for _, where, _, arr in comps if arr.ndim == 2}
    if len(set(draws.values())) > 1:
        shown = ", ".join(f"{w} {n}" for w, n in draws.items())
        raise DataError(f"flows have different numbers of draws (rows): {shown}.")
    return labels, (next(iter(draws.values())) if draws else None)


def _reprice(comps: list[tuple[str, str, str, np.ndarray]], price_years: Any,
             price_year: Any, index: Any) -> list[tuple[str, str, str, np.ndarray]]:
    if price_years is None:
        if index is not None:
            raise DataError("`index` is given without `price_years`: say the price year of "
                            "each flow (or drop `index`).")
        return comps
    if price_year is None or (np.ndim(price_year) == 0 and pd.isna(price_year)):
        raise DataError("`price_year` is missing: flows with their own `price_years` must be "
                        "repriced to a common price year; give `price_year`.")
    if index is None:
        raise DataError("`index` (a price index, price year -> value) is needed to reprice "
                        "the flows to `price_year`.")
    if isinstance(price_years, Mapping):
        known = {c[0] for c in comps} | {c[1] for c in comps}
        unknown = [k for k in price_years if k not in known]
        if unknown:
            raise DataError(f"`price_years` names {unknown}, which are not flows "
                            f"({', '.join(sorted(known))}).")
    out = []
    for label, kind, where, arr in comps:
        year = (price_years.get(label, price_years.get(kind))
                if isinstance(price_years, Mapping) else price_years)
        if year is None or (np.ndim(year) == 0 and pd.isna(year)):
            raise DataError(f"missing price year for {where}: give it in `price_years`.")
        out.append((label, kind, where, reprice(arr, from_year=year, to_year=price_year,
                                                index=index)))
    return out


def budget(investment: Any, avoided: Any, *, years: Any = None, rate: Any = None,
           schedule: Any = None, price_year: Any = None, price_years: Any = None,
           index: Any = None, level: float = 0.95) -> BudgetView:
    r"""Investment against avoided costs over years: NPV, benefit-cost ratio and payback.

    Parameters
    ----------
    investment, avoided : flows or mapping of name to flows
        Yearly money spent (non-negative: training, see :func:`training_cost`; programme
        fees) and saved (avoided costs; negative for costs added). Flows are one value per
        year (array, list or Series; the first is year 0), a 2-D array or DataFrame of draws
        x years, or a number repeated every year when ``years`` is given. A mapping gives
        named items, which are added up.
    years : int or sequence, optional
        Number of years, or their labels (e.g. ``[2014, 2015, 2016]``); default from the flows.
    rate, schedule : optional
        Discount rate(s) or schedule, as in :func:`sosstats.vfm.discount`; the default is the
        Green Book schedule (3.5% a year for years 0-30, then declining).
    price_year : object, optional
        Price year of the flows (the common year they are repriced to with ``price_years``).
    price_years : object or mapping, optional
        The price year of the flows as given: one for all, or by item name (or by
        ``"investment"`` / ``"avoided"``). Needs ``price_year`` and ``index``.
    index : pandas.Series or dict, optional
        Price index for :func:`sosstats.vfm.reprice`.
    level : float, default 0.95
        Level of the percentile intervals over draws.

    Returns
    -------
    BudgetView
        ``npv``, ``pv_investment``, ``pv_avoided``, ``bcr`` (per draw with draws),
        ``payback_year`` (with ``payback_explanation``), ``table``, ``prob_positive``,
        ``tidy()`` (headline estimates: the NPV of the mean flows and the ratio of mean PVs),
        ``plot()``; ``str()`` prints the yearly table.

    Raises
    ------
    DataError
        Negative investment, NaN or infinite flows, flows of mismatched lengths or numbers of
        draws, single numbers without ``years``, a missing ``price_year`` or ``index`` when
        ``price_years`` asks for repricing, a flow without a price year, a bad rate.

    Notes
    -----
    With investment :math:`I_t`, avoided costs :math:`A_t` and discount factors :math:`D_t`
    (:math:`D_0 = 1`), the net flow is :math:`N_t = A_t - I_t`,
    :math:`\text{NPV} = \sum_t D_t N_t = \text{PV}(A) - \text{PV}(I)`, the benefit-cost ratio
    :math:`\text{PV}(A) / \text{PV}(I)`, and the payback year the first :math:`t` with
    :math:`\sum_{s \le t} D_s N_s \ge 0` once some investment has been made (HM Treasury
    2022). With draws, each quantity is computed draw by draw; the point estimates use the
    mean flows (the mean NPV over draws, NPV being linear in the flows; for the benefit-cost
    ratio, the ratio of the mean present values, :math:`\overline{\text{PV}(A)} /
    \overline{\text{PV}(I)}`, which is not the mean of the per-draw ratios returned by
    ``bcr``), intervals are percentiles over draws and :math:`P(\text{NPV} > 0)` is the share
    of positive draws.

    References
    ----------
    HM Treasury (2022). *The Green Book: Central Government Guidance on Appraisal and
    Evaluation*, section 6 and Annex A6.
    Drummond, M. F. et al. (2015). *Methods for the Economic Evaluation of Health Care
    Programmes*, 4th ed. OUP.

    Examples
    --------
    >>> from sosstats.vfm import budget
    >>> view = budget([1_000.0, 0.0, 0.0], [0.0, 600.0, 600.0], rate=0.035)
    >>> round(view.npv, 2), view.payback_year
    (139.82, 2)
    """
    level = check_level(level)
    comps = [(label, kind, where, arr) for kind, flows in (("investment", investment),
                                                           ("avoided", avoided))
             for label, where, arr in _components(flows, kind)]
    labels, n_draws = _shape(comps, years)
    comps = _reprice(comps, price_years, price_year, index)
    rows, n_years = n_draws or 1, len(labels)
    full = [(label, kind, np.broadcast_to(arr if arr.ndim else np.full(n_years, arr),
                                          (rows, n_years)))
            for label, kind, _, arr in comps]
    totals = {k: sum(a for _, kind, a in full if kind == k) for k in ("investment", "avoided")}
    factors = discount(np.ones(n_years), rate, schedule=schedule)
    parts = pd.DataFrame({(kind, label): a.mean(axis=0) for label, kind, a in full},
                         index=labels)
    if rate is None:
        words = ("Green Book schedule (3.5% for years 0-30)" if schedule is None
                 else f"schedule {schedule}")
    else:
        words = f"{rate:.2%} a year" if np.ndim(rate) == 0 else "yearly rates given"
    return BudgetView(years=labels, investment=np.array(totals["investment"], dtype=float),
                      avoided=np.array(totals["avoided"], dtype=float), factors=factors,
                      components=parts, n_draws=n_draws, price_year=price_year, rate=words,
                      level=level)

r"""Deterministic sensitivity analysis: one-way ranges (tornado) and break-even values.

``one_way(model, base, ranges)`` moves one parameter at a time from its base value to the
ends of its range, the others held at base, and ranks the parameters by the swing they cause
in the outcome (the tornado table and plot). ``break_even(model, base, parameter, bracket=...)``
finds the value of one parameter at which the outcome reaches a target (0: the break-even
point of a net present value or net benefit) with Brent's method.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from sosstats._results import TableResult, format_number
from sosstats._validate import check_finite, check_int
from sosstats.errors import ConvergenceError, DataError

__all__ = ["OneWay", "BreakEven", "one_way", "break_even"]


def _check_model_and_base(model: Any, base: Any) -> dict[str, float]:
    if not callable(model):
        raise DataError(f"`model` must be callable; got {type(model).__name__}.")
    if not isinstance(base, Mapping) or not base:
        raise DataError("`base` must be a non-empty mapping of parameter name -> base value.")
    return {str(k): check_finite(v, f"`base['{k}']`") for k, v in base.items()}


def _evaluate(model: Callable[..., Any], params: dict[str, float], where: str) -> float:
    raw = model(**params)
    if np.ndim(raw) != 0:
        raise DataError(f"`model` must return one number; got shape {np.shape(raw)} {where}.")
    return check_finite(raw, f"the outcome {where}")


@dataclass(frozen=True, eq=False)
class OneWay(TableResult):
    """Result of :func:`one_way`: the tornado table (``tidy()``, ``summary()``, ``plot()``).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per parameter, largest swing first: ``base``, ``low``, ``high`` (parameter
        values), ``outcome_low``, ``outcome_high``, ``swing`` (``|outcome_high -
        outcome_low|``) and ``changes_sign`` (the outcome is positive at one end of the range
        and not at the other).
    base_outcome : float
        The outcome with every parameter at its base value.
    name : str
        Name of the outcome.
    """

    table: pd.DataFrame
    base_outcome: float
    name: str = "outcome"
    method: str = "one-way sensitivity analysis"

    @property
    def swing(self) -> pd.Series:
        """Swing of each parameter, largest first."""
        return self.table["swing"].copy()

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return self.table.copy()

    def _title(self) -> str:
        return f"One-way sensitivity analysis of {self.name}"

    def _notes(self) -> list[str]:
        notes = [f"{self.name} at base values: {format_number(self.base_outcome)}. One "
                 "parameter at a time moved to the ends of its range, the others at base; "
                 "sorted by swing."]
        flips = self.table.index[self.table["changes_sign"]].tolist()
        if flips:
            notes.append(f"The sign of {self.name} changes within the range of: "
                         f"{', '.join(map(str, flips))}.")
        return notes

    def plot(self, ax: Any = None, *, money: bool = True) -> Any:
        """Tornado plot: bars from the base outcome to the outcome at each end of the range.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw into; by default a new figure.
        money : bool
            The outcome is money (the default: NPV, cost, net benefit): its axis and the base
            value read in pounds with thousands separators (``£1,250,000``, no offset). False
            shows plain numbers with separators.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from sosstats._plotting import money_axis, money_label, new_axes, plain_axis

        ax = new_axes(ax, figsize=(6, 0.5 * len(self.table) + 1.5))
        t = self.table.iloc[::-1]  # largest swing at the top
        pos = np.arange(len(t))
        b = self.base_outcome
        ax.barh(pos, t["outcome_low"] - b, left=b, color="steelblue", label="low value")
        ax.barh(pos, t["outcome_high"] - b, left=b, color="darkorange", alpha=0.8,
                label="high value")
        ax.axvline(b, color="black", linewidth=1)
        ax.set_yticks(pos)
        ax.set_yticklabels([f"{p} ({_range_number(lo)} to {_range_number(hi)})"
                            for p, lo, hi in zip(t.index, t["low"], t["high"])])
        (money_axis if money else plain_axis)(ax, "x", nbins=5)
        base = money_label(b) if money else _range_number(b)
        ax.set_xlabel(f"{self.name}{' (£)' if money else ''}")
        ax.set_title(f"One-way sensitivity of {self.name} (base {base})")
        ax.legend(loc="best", fontsize="small")
        return ax


def _range_number(value: float) -> str:
    """Plain number for a tornado label: ``750,000``, ``35.33``, ``0.015`` (never ``7.5e+05``)."""
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    text = f"{value:,.4g}"
    return text if "e" not in text else f"{value:,.6f}".rstrip("0").rstrip(".")


def one_way(model: Callable[..., Any], base: Mapping[str, float],
            ranges: Mapping[str, tuple[float, float]], *, name: str = "outcome") -> OneWay:
    r"""One-way sensitivity analysis: the tornado table.

    Parameters
    ----------
    model : callable
        Called with every parameter as a keyword argument (floats); returns one number.
    base : mapping of str to float
        Base value of every parameter of ``model``.
    ranges : mapping of str to (low, high)
        The range of each parameter to vary (a subset of ``base``).
    name : str, default "outcome"
        Name of the outcome.

    Returns
    -------
    OneWay
        ``table`` (sorted by swing), ``base_outcome``, ``summary()``, ``plot()``.

    Raises
    ------
    DataError
        ``model`` not callable, empty ``base`` or ``ranges``, a range for a parameter not in
        ``base``, a range that is not two finite numbers, a model returning a non-finite or
        non-scalar value.

    Notes
    -----
    For parameter :math:`j` with range :math:`(l_j, h_j)` and base values :math:`\theta_0`,
    the table gives :math:`f(\theta_0; \theta_j = l_j)`, :math:`f(\theta_0; \theta_j = h_j)`
    and the swing :math:`|f(\theta_0; \theta_j = h_j) - f(\theta_0; \theta_j = l_j)|`. This
    ignores interactions and assumes the outcome is monotone in each parameter over its
    range; use :func:`sosstats.vfm.psa` for joint uncertainty (Briggs, Claxton & Sculpher
    2006, ch. 4; Drummond et al. 2015, ch. 11).

    References
    ----------
    Briggs, A., Claxton, K. & Sculpher, M. (2006). *Decision Modelling for Health Economic
    Evaluation*. OUP.
    Drummond, M. F. et al. (2015). *Methods for the Economic Evaluation of Health Care
    Programmes*, 4th ed. OUP.

    Examples
    --------
    >>> from sosstats.vfm import one_way
    >>> ow = one_way(lambda a, b: 3 * a - b, {"a": 1.0, "b": 1.0},
    ...              {"a": (0.0, 2.0), "b": (0.0, 1.0)})
    >>> ow.table["swing"].tolist()
    [6.0, 1.0]
    """
    params = _check_model_and_base(model, base)
    if not isinstance(ranges, Mapping) or not ranges:
        raise DataError("`ranges` must be a non-empty mapping of parameter name -> (low, high).")
    unknown = [k for k in ranges if str(k) not in params]
    if unknown:
        raise DataError(f"`ranges` names parameter(s) {unknown} that are not in `base` "
                        f"({', '.join(params)}).")
    base_out = _evaluate(model, params, "at the base values")
    rows = []
    for key, pair in ranges.items():
        if isinstance(pair, str) or np.ndim(pair) != 1 or len(pair) != 2:
            raise DataError(f"`ranges['{key}']` must be a (low, high) pair; got {pair!r}.")
        low, high = (check_finite(v, f"`ranges['{key}']`") for v in pair)
        out = [_evaluate(model, {**params, str(key): v}, f"with {key} = {v:g}")
               for v in (low, high)]
        rows.append({"parameter": str(key), "base": params[str(key)], "low": low,
                     "high": high, "outcome_low": out[0], "outcome_high": out[1]})
    table = pd.DataFrame(rows).set_index("parameter")
    table["swing"] = (table["outcome_high"] - table["outcome_low"]).abs()
    table["changes_sign"] = (table["outcome_low"] > 0) != (table["outcome_high"] > 0)
    table = table.sort_values("swing", ascending=False, kind="mergesort")
    return OneWay(table=table, base_outcome=base_out, name=str(name))


@dataclass(frozen=True, eq=False)
class BreakEven(TableResult):
    """Result of :func:`break_even`; ``float(result)`` is the break-even value.

    ``tidy()`` / ``summary()`` give one row (indexed by ``parameter``): ``value``, ``target``,
    ``base_value``, ``base_outcome``, ``change``, ``bracket_low``, ``bracket_high``,
    ``iterations``, ``function_calls``; the printed summary says it in a sentence.

    Attributes
    ----------
    parameter : str
    value : float
        Value of ``parameter`` at which the outcome equals ``target``.
    target : float
    base_value, base_outcome : float
        The parameter's base value and the outcome there.
    bracket : tuple of float
    iterations, function_calls : int
        From :func:`scipy.optimize.brentq`.
    """

    parameter: str
    value: float
    target: float
    base_value: float
    base_outcome: float
    bracket: tuple[float, float]
    iterations: int
    function_calls: int
    method: str = "break-even value (Brent's method)"

    @property
    def change(self) -> float:
        """Change from the base value needed to reach the target (``value - base_value``)."""
        return self.value - self.base_value

    def __float__(self) -> float:
        return self.value

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return pd.DataFrame({"value": [self.value], "target": [self.target],
                             "base_value": [self.base_value],
                             "base_outcome": [self.base_outcome], "change": [self.change],
                             "bracket_low": [self.bracket[0]],
                             "bracket_high": [self.bracket[1]],
                             "iterations": [self.iterations],
                             "function_calls": [self.function_calls]},
                            index=pd.Index([self.parameter], name="parameter"))

    def _title(self) -> str:
        return f"Break-even value of {self.parameter}"

    def _notes(self) -> list[str]:
        rel = (f" ({self.change / self.base_value:+.1%} from base)" if self.base_value != 0
               else "")
        f = format_number
        return [f"The outcome equals {f(self.target)} when {self.parameter} = "
                f"{f(self.value)}{rel}; at its base value {f(self.base_value)} the outcome "
                f"is {f(self.base_outcome)}. Searched in [{f(self.bracket[0])}, "
                f"{f(self.bracket[1])}] by Brent's method."]


def break_even(model: Callable[..., Any], base: Mapping[str, float], parameter: str,
               target: float = 0.0, *, bracket: tuple[float, float], xtol: float = 2e-12,
               maxiter: int = 200) -> BreakEven:
    r"""Value of one parameter at which the outcome reaches ``target`` (break-even analysis).

    Parameters
    ----------
    model : callable
        Called with every parameter as a keyword argument (floats); returns one number.
    base : mapping of str to float
        Values of the other parameters (and the base value of ``parameter``).
    parameter : str
        The parameter to solve for.
    target : float, default 0
        Outcome to reach (0: net present value or net benefit breaks even).
    bracket : (float, float)
        Interval ``(lo, hi)`` of ``parameter`` where ``model - target`` changes sign.
    xtol : float
        Absolute tolerance on the root (scipy's ``xtol``).
    maxiter : int, default 200
        Maximum number of iterations.

    Returns
    -------
    BreakEven
        ``value`` (also ``float(result)``), ``change`` from base, ``base_outcome``.

    Raises
    ------
    DataError
        ``parameter`` not in ``base``, a bracket that is not two increasing finite numbers, no
        sign change of ``model - target`` across the bracket, a non-finite outcome.
    ConvergenceError
        Brent's method did not converge within ``maxiter`` iterations.

    Notes
    -----
    Solves :math:`g(x) = f(\theta_0; \theta_j = x) - \text{target} = 0` by Brent's method
    (:func:`scipy.optimize.brentq`; Brent 1973), which needs :math:`g(lo)` and :math:`g(hi)` of
    opposite signs and then always converges. When :math:`g` has several roots in the bracket,
    one of them is returned: narrow the bracket.

    References
    ----------
    Brent, R. P. (1973). *Algorithms for Minimization without Derivatives*. Prentice-Hall,
    ch. 4.
    Drummond, M. F. et al. (2015). *Methods for the Economic Evaluation of Health Care
    Programmes*, 4th ed. OUP (threshold analysis).

    Examples
    --------
    >>> from sosstats.vfm import break_even
    >>> be = break_even(lambda saving, cost: 5 * saving - cost, {"saving": 100.0,
    ...                 "cost": 800.0}, "saving", bracket=(0.0, 1_000.0))
    >>> round(be.value, 6)
    160.0
    """
    params = _check_model_and_base(model, base)
    if parameter not in params:
        raise DataError(f"`parameter` {parameter!r} is not in `base` ({', '.join(params)}).")
    target = check_finite(target, "`target`")
    if isinstance(bracket, str) or np.ndim(bracket) != 1 or len(bracket) != 2:
        raise DataError(f"`bracket` must be a (lo, hi) pair; got {bracket!r}.")
    lo, hi = (check_finite(v, "`bracket`") for v in bracket)
    if not lo < hi:
        raise DataError(f"`bracket` must have lo < hi; got ({lo:g}, {hi:g}).")
    maxiter = check_int(maxiter, "maxiter", minimum=1)

    def gap(x: float) -> float:
        return _evaluate(model, {**params, parameter: float(x)},
                         f"with {parameter} = {x:g}") - target

    g_lo, g_hi = gap(lo), gap(hi)
    if np.sign(g_lo) * np.sign(g_hi) > 0:
        raise DataError(f"no sign change in `bracket`: the outcome minus the target is "
                        f"{g_lo:,.6g} at {parameter} = {lo:g} and {g_hi:,.6g} at {hi:g} (same "
                        "sign), so no break-even value is bracketed; widen the bracket or "
                        "check that the target can be reached.")
    root, info = optimize.brentq(gap, lo, hi, xtol=xtol, maxiter=maxiter, full_output=True,
                                 disp=False)
    if not info.converged:
        raise ConvergenceError(f"Brent's method did not converge for {parameter!r} within "
                               f"{maxiter} iterations ({info.flag}); raise `maxiter`.")
    base_out = _evaluate(model, params, "at the base values")
    return BreakEven(parameter=parameter, value=float(root), target=target,
                     base_value=params[parameter], base_outcome=base_out, bracket=(lo, hi),
                     iterations=int(info.iterations), function_calls=int(info.function_calls))

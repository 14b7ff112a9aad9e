"""Inputs that may be numbers, arrays of draws or scipy.stats frozen distributions; printing.

Used by :func:`sosstats.vfm.unit_cost` (and the probabilistic sensitivity analysis to come):
a number is fixed, a 1-D array holds draws made elsewhere, a frozen distribution is drawn here
with the caller's ``rng`` (``dist.rvs(size=n_draws, random_state=rng)``), in the order the
caller asks for them. :func:`fmt_money`, :func:`fmt_number` and :class:`FormattedSummary`
print money without scientific notation (``4,091,234`` rather than ``4.091e+06``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import Summary
from sosstats.errors import DataError

__all__ = ["Amount", "FormattedSummary", "fmt_money", "fmt_number", "is_distribution",
           "n_draws_of", "realise"]


def fmt_number(x: Any) -> str:
    """Format a number: ``1,234,567`` from 1,000 up, else 4 significant digits (``0.1499``)."""
    x = float(x)
    if not np.isfinite(x):
        return "NaN" if np.isnan(x) else str(x)
    if x == 0:
        return "0"
    return f"{x:,.0f}" if abs(x) >= 999.95 else f"{x:.4g}"


def fmt_money(x: Any) -> str:
    """Format money: ``4,091,234`` from 1,000 up, else two decimals (``39.85``)."""
    x = float(x)
    if not np.isfinite(x):
        return "NaN" if np.isnan(x) else str(x)
    x = x + 0.0                                     # no "-0"
    return f"{x:,.0f}" if abs(x) >= 999.995 else f"{x:,.2f}".replace("-0.00", "0.00")


class FormattedSummary(Summary):
    """A :class:`~sosstats._results.Summary` that prints chosen columns with their own format.

    ``to_frame()`` still returns the numbers; only ``str()`` / ``_repr_html_`` format them.

    Parameters
    ----------
    title, table, notes
        As for :class:`~sosstats._results.Summary`.
    formats : mapping of column name to callable
        Each listed column is printed as ``formats[column](value)``.
    """

    def __init__(self, title: str, table: pd.DataFrame, notes: list[str] | None = None, *,
                 formats: dict[str, Callable[[Any], str]] | None = None) -> None:
        super().__init__(title, table, notes)
        self.formats = dict(formats or {})

    def _shown(self) -> Summary:
        shown = self.table.copy()
        for column, fmt in self.formats.items():
            if column in shown.columns:
                shown[column] = shown[column].map(fmt)
        return Summary(self.title, shown, self.notes)

    def __str__(self) -> str:
        return str(self._shown())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self._shown()._repr_html_()


@dataclass(frozen=True)
class Amount:
    """An annual amount of money (not a rate), e.g. ``overheads={"capital": Amount(2_566)}``.

    Parameters
    ----------
    value : float, array of draws or scipy.stats frozen distribution
        Money per year at the result's price year.
    """

    value: Any


def is_distribution(value: Any) -> bool:
    """Whether ``value`` behaves like a scipy.stats frozen distribution (``rvs`` and ``dist``)."""
    return hasattr(value, "rvs") and hasattr(value, "dist")


def _is_array(value: Any) -> bool:
    return isinstance(value, (np.ndarray, list, tuple)) or (
        hasattr(value, "__array__") and not np.isscalar(value) and np.ndim(value) > 0)


def n_draws_of(values: dict[str, Any], n_draws: int | None) -> int | None:
    """Return the number of draws implied by arrays and distributions (None if all fixed).

    Arrays must all have the same length (and match ``n_draws`` when it is given); a
    distribution needs ``n_draws`` unless an array fixes it. Raises :class:`DataError`.
    """
    lengths = {name: np.size(v) for name, v in values.items() if _is_array(v)}
    if any(np.ndim(values[k]) != 1 for k in lengths):
        bad = [k for k in lengths if np.ndim(values[k]) != 1]
        raise DataError(f"`{bad[0]}` must be a number, a 1-D array of draws or a scipy.stats "
                        f"frozen distribution; got an array of shape {np.shape(values[bad[0]])}.")
    sizes = set(lengths.values())
    if len(sizes) > 1:
        shown = ", ".join(f"`{k}` ({n})" for k, n in lengths.items())
        raise DataError(f"arrays of draws must have the same length; got {shown}.")
    if sizes:
        size = sizes.pop()
        if n_draws is not None and n_draws != size:
            raise DataError(f"`n_draws` is {n_draws} but the arrays of draws have {size}.")
        return size
    if any(is_distribution(v) for v in values.values()):
        return 1000 if n_draws is None else n_draws
    return None


def realise(value: Any, name: str, n_draws: int | None, rng: np.random.Generator | None, *,
            minimum: float = 0.0, strict: bool = False, maximum: float | None = None
            ) -> np.ndarray:
    """Return ``value`` as a float array: shape ``()`` when fixed, ``(n_draws,)`` otherwise.

    A distribution is drawn now with ``rng``. Values must be finite and at least ``minimum``
    (greater than it when ``strict``) and at most ``maximum``; the :class:`DataError` names
    ``name``.
    """
    if is_distribution(value):
        out = np.asarray(value.rvs(size=n_draws, random_state=rng), dtype=float)
        source = "draws of"
    else:
        try:
            out = np.array(value, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(f"`{name}` must be a number, a 1-D array of draws or a scipy.stats "
                            f"frozen distribution; got {type(value).__name__}.") from exc
        source = ""
    if np.isnan(out).any():
        raise DataError(f"{source} `{name}` contain NaN." if source else f"`{name}` is NaN "
                        "(or contains NaN).")
    if np.isinf(out).any():
        raise DataError(f"`{name}` is infinite (or contains inf).")
    low = out <= minimum if strict else out < minimum
    if low.any():
        relation = "greater than" if strict else "at least"
        raise DataError(f"{source + ' ' if source else ''}`{name}` must be {relation} {minimum:g}; "
                        f"got {out.min():g}{' (smallest draw)' if out.ndim else ''}.")
    if maximum is not None and (out > maximum).any():
        raise DataError(f"{source + ' ' if source else ''}`{name}` must be at most {maximum:g}; "
                        f"got {out.max():g}{' (largest draw)' if out.ndim else ''}.")
    if n_draws is not None and out.ndim == 0:
        out = np.full(n_draws, float(out))
    return out

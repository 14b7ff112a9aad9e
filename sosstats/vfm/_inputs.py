"""Inputs that may be numbers, arrays of draws or scipy.stats frozen distributions.

Used by :func:`sosstats.vfm.unit_cost`, :func:`~sosstats.vfm.avoided_costs`,
:func:`~sosstats.vfm.budget` and :func:`~sosstats.vfm.psa`: a number is fixed, a 1-D array
holds draws made elsewhere, a frozen distribution is drawn here with the caller's ``rng``
(``dist.rvs(size=n_draws, random_state=rng)``), in the order the caller asks for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sosstats.errors import DataError

__all__ = ["is_distribution", "n_draws_of", "realise"]


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

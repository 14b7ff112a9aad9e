"""Multiplicity adjustments shared by every capability that reports a family of p-values.

Plain numpy on 1-D arrays; NaN entries (tests that could not be run) are left out of the family
and stay NaN. Checked against statsmodels' ``multipletests`` in the tests.
"""

from __future__ import annotations

import numpy as np

from sosstats.errors import DataError

__all__ = ["holm", "benjamini_hochberg", "adjust_pvalues", "ADJUSTMENTS"]

#: names accepted by :func:`adjust_pvalues`, with the label a summary prints
ADJUSTMENTS = {"holm": "Holm (family-wise error rate)",
               "bh": "Benjamini-Hochberg (false discovery rate)",
               "none": "no adjustment"}


def _ordered(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    p = np.asarray(p, dtype=float)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    return p, order, len(ok)


def holm(pvalues: np.ndarray) -> np.ndarray:
    r"""Holm step-down adjusted p-values (NaN entries are left out and stay NaN).

    With ordered :math:`p_{(1)} \le \dots \le p_{(m)}`:
    :math:`\tilde p_{(i)} = \max_{j \le i} \min\{1, (m - j + 1) p_{(j)}\}`.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    *Scandinavian Journal of Statistics* 6(2), 65-70.
    """
    p, order, m = _ordered(pvalues)
    out = np.full(p.shape, np.nan)
    if m:
        scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
        out[order] = np.maximum.accumulate(scaled)
    return out


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    r"""Benjamini-Hochberg step-up adjusted p-values (false discovery rate; NaN kept).

    :math:`\tilde p_{(i)} = \min_{j \ge i} \min\{1, m\,p_{(j)}/j\}`.

    References
    ----------
    Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate. *JRSS B*
    57(1), 289-300.
    """
    p, order, m = _ordered(pvalues)
    out = np.full(p.shape, np.nan)
    if m:
        scaled = np.minimum(1.0, m * p[order] / np.arange(1, m + 1))
        out[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return out


def adjust_pvalues(pvalues: np.ndarray, method: str) -> np.ndarray:
    """Adjust one family of p-values by ``method`` (``"holm"``, ``"bh"`` or ``"none"``)."""
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    if method == "none":
        return np.asarray(pvalues, dtype=float).copy()
    raise DataError(f"`adjust` must be one of {', '.join(map(repr, ADJUSTMENTS))}; "
                    f"got {method!r}.")

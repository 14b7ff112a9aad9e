"""Test inversion of the wild cluster bootstrap: the interval ``{null: p(null) > alpha}``.

Per replicate, ``|t*(d)| > |t(d)|`` compares two quadratics in ``d = estimate - null``
(:class:`_Crossings`); :func:`_invert` brackets the bound by doubling out from the estimate
and finds it with ``brentq`` (the p-value is a step function, so this converges to the jump).
Used by :mod:`sosstats._kernels.wild`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import brentq

if TYPE_CHECKING:
    from sosstats._kernels.wild import _WildSetup

_TIE_RTOL = 1e-10  # |t*| within this relative distance of |t| is a tie (not counted)


class _Crossings:
    """``|t*(d)| > |t(d)|`` for every replicate as two quadratics in ``d``, one matrix product.

    ``numerator*(d)^2 = n0^2 + 2 d n0 n1 + d^2 n1^2`` and ``sum_g Z*_g^2 = Q(d) = q0 + 2 d q1 +
    d^2 q2``; the count is of ``numerator*^2 - c Q > 0`` with ``c = thr(d)^2 ssc``. ``Q`` is a
    sum of squares, so ``q1^2 <= q0 q2`` and ``Q(d) >= 0`` for every ``d``: when rounding keeps
    that true for every replicate, one evaluation is one ``(B, 6) @ (6,)`` product and a count
    (the test inversion evaluates the p-value some 70 times per term); otherwise ``Q`` is
    clipped at 0 as a separate product.
    """

    def __init__(self, comp: np.ndarray, setup: _WildSetup):
        n0, n1, q0, q1, q2 = comp
        self.B = n0.shape[0]
        self.fused = bool(np.all(q1 * q1 <= q0 * q2))
        if self.fused:
            self.coef = np.asfortranarray(      # column-major: a faster matrix-vector product
                np.column_stack([n0 * n0, 2.0 * n0 * n1, n1 * n1, q0, 2.0 * q1, q2]))
        else:
            self.coef = np.vstack([np.column_stack([n0 * n0, 2.0 * n0 * n1, n1 * n1]),
                                   np.column_stack([q0, 2.0 * q1, q2])])
        self.se = setup.std_error
        self.ssc = setup.ssc

    def p_value(self, d: float) -> float:
        """Share of ``|t*(d)| > |t(d)|``, compared as squares; relative ties not counted."""
        thr = abs(d) / self.se * (1.0 + _TIE_RTOL) + _TIE_RTOL
        c = thr * thr * self.ssc
        if self.fused:
            g = self.coef @ np.array([1.0, d, d * d, -c, -c * d, -c * d * d])
            return np.count_nonzero(g > 0.0) / self.B
        both = self.coef @ np.array([1.0, d, d * d])
        num2, den = both[:self.B], both[self.B:]
        np.maximum(den, 0.0, out=den)
        return np.count_nonzero(num2 > c * den) / self.B


def _invert(cross: _Crossings, setup: _WildSetup, alpha: float, side: int) -> float:
    """Bound of ``{null: p(null) > alpha}`` on one side of the estimate (side = -1 lower)."""
    se = setup.std_error

    def f(k: float) -> float:  # null = estimate + side * k * se, so d = -side * k * se
        return cross.p_value(-side * k * se) - alpha

    if f(0.0) <= 0:
        return float("nan")
    lo, hi = 0.0, 1.0
    while f(hi) > 0:
        lo, hi = hi, 2.0 * hi
        if hi > 2.0 ** 40:
            return side * float("inf")
    k = brentq(f, lo, hi, xtol=1e-10 * max(hi, 1.0), rtol=1e-10,
               maxiter=500)
    return setup.estimate + side * k * se

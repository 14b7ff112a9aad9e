"""Likelihood of the cumulative (ordered) logit and the coding of an ordinal outcome.

Shared by :func:`sosstats.panel.ordered_change` and the survey layer's ordered regression.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from sosstats._kernels.cluster_cr2 import group_gram
from sosstats.errors import ConvergenceError, DataError, DesignError


def _ordinal_codes(frame: pd.DataFrame, after: str,
                   categories: Sequence[Any] | None) -> tuple[np.ndarray, list[Any]]:
    s = frame[after]
    if categories is not None:
        cats = list(categories)
    elif isinstance(s.dtype, pd.CategoricalDtype):
        cats = list(s.cat.categories)
    else:
        try:
            cats = sorted(pd.unique(s).tolist())
        except TypeError as exc:
            raise DataError(f"{after!r} is not ordered: pass `categories` in order or use an "
                            "ordered categorical column.") from exc
    pos = {c: i for i, c in enumerate(cats)}
    unknown = sorted({v for v in pd.unique(s).tolist() if v not in pos}, key=str)
    if unknown:
        raise DataError(f"{after!r} has values {unknown[:10]} not in `categories` {cats}.")
    codes = np.fromiter((pos[v] for v in s.tolist()), dtype=np.int64, count=len(s))
    seen = np.unique(codes)
    if seen.size < 2:
        raise DesignError(f"{after!r} takes a single value ({cats[seen[0]]!r}) in the rows used; "
                          "an ordered model needs at least two categories.")
    # categories never observed carry no information on their cut-points: drop them
    remap = np.full(len(cats), -1)
    remap[seen] = np.arange(seen.size)
    return remap[codes], [cats[i] for i in seen]


def _label(value: Any) -> str:
    """Category label for a cut-point name (2.0 -> "2")."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


class _Ordered:
    r"""Per-unit log-likelihood pieces of the cumulative logit, natural parameters.

    :math:`\theta = (\beta, c_1, \dots, c_{K-1})`; unit :math:`i` in category :math:`k` has
    :math:`p_i = F(a_i) - F(b_i)`, :math:`a_i = c_k - x_i^\top\beta`,
    :math:`b_i = c_{k-1} - x_i^\top\beta` (:math:`c_0 = -\infty`, :math:`c_K = \infty`),
    :math:`F` = expit. With :math:`d_a = \partial a / \partial\theta`,
    :math:`d_b = \partial b / \partial\theta` (constant rows), the score is
    :math:`(f(a) d_a - f(b) d_b) / p` and the Hessian
    :math:`(f'(a) d_a d_a^\top - f'(b) d_b d_b^\top) / p - s s^\top`, :math:`f = F(1 - F)`,
    :math:`f' = f (1 - 2F)`: the log-likelihood is concave in :math:`\theta` (Pratt 1981).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, k: int, w: np.ndarray | None) -> None:
        n, p = x.shape
        self.x, self.y, self.k, self.p, self.n = x, y, k, p, n
        self.w = np.ones(n) if w is None else w
        top, bottom = y < k - 1, y > 0
        q = p + k - 1
        self.da = np.zeros((n, q))
        self.db = np.zeros((n, q))
        self.da[top, :p] = -x[top]
        self.da[np.flatnonzero(top), p + y[top]] = 1.0
        self.db[bottom, :p] = -x[bottom]
        self.db[np.flatnonzero(bottom), p + y[bottom] - 1] = 1.0
        self.top, self.bottom = top, bottom

    def _parts(self, theta: np.ndarray, offset: np.ndarray | None
               ) -> tuple[np.ndarray, ...]:
        beta, cuts = theta[:self.p], theta[self.p:]
        eta = self.x @ beta + (0.0 if offset is None else offset)
        a = np.where(self.top, cuts[np.minimum(self.y, self.k - 2)] - eta, np.inf)
        b = np.where(self.bottom, cuts[np.maximum(self.y - 1, 0)] - eta, -np.inf)
        fa, fb = special.expit(a), special.expit(b)
        prob = fa - fb
        return a, b, fa, fb, prob

    def loglik(self, theta: np.ndarray, offset: np.ndarray | None = None) -> float:
        cuts = theta[self.p:]
        if np.any(np.diff(cuts) <= 0):
            return -np.inf
        *_, prob = self._parts(theta, offset)
        with np.errstate(divide="ignore"):
            return float(np.sum(self.w * np.log(prob)))

    def derivatives(self, theta: np.ndarray, offset: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-unit weighted scores (n, q) and the pieces of the information.

        Returns ``scores`` and ``(ca, cb, cs)`` with the unit's information
        ``-w H_i = -ca_i d_a d_a' + cb_i d_b d_b' + w_i s_i s_i'`` (``s_i`` unweighted), so
        cluster sums are three grouped cross products.
        """
        a, b, fa, fb, prob = self._parts(theta, offset)
        ga, gb = fa * (1 - fa), fb * (1 - fb)
        s = (ga[:, None] * self.da - gb[:, None] * self.db) / prob[:, None]
        ca = self.w * ga * (1 - 2 * fa) / prob
        cb = self.w * gb * (1 - 2 * fb) / prob
        return self.w[:, None] * s, ca, cb, s

    def information(self, theta: np.ndarray, codes: np.ndarray | None = None, g: int = 1,
                    offset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores (n, q), information): total (q, q), or per cluster (G, q, q) with codes."""
        ws, ca, cb, s = self.derivatives(theta, offset)
        if codes is None:
            info = (-(self.da * ca[:, None]).T @ self.da + (self.db * cb[:, None]).T @ self.db
                    + ws.T @ s)
            return ws, 0.5 * (info + info.T)
        info = (-group_gram(codes, g, self.da * ca[:, None], self.da)
                + group_gram(codes, g, self.db * cb[:, None], self.db)
                + group_gram(codes, g, ws, s))
        return ws, 0.5 * (info + np.swapaxes(info, 1, 2))

    def start(self) -> np.ndarray:
        counts = np.bincount(self.y, weights=self.w, minlength=self.k)
        cum = np.cumsum(counts)[:-1] / counts.sum()
        return np.concatenate([np.zeros(self.p), special.logit(cum)])

    def fit(self, offset: np.ndarray | None = None, free: np.ndarray | None = None,
            theta0: np.ndarray | None = None, maxiter: int = 200) -> np.ndarray:
        """Maximise the likelihood by Newton's method with step halving.

        ``free`` marks the parameters estimated; the others stay at ``theta0``.
        """
        theta = self.start() if theta0 is None else theta0.copy()
        idx = np.arange(theta.size) if free is None else np.flatnonzero(free)
        ll = self.loglik(theta, offset)
        for _ in range(maxiter):
            ws, info = self.information(theta, offset=offset)
            score = ws.sum(axis=0)[idx]
            step = np.linalg.solve(info[np.ix_(idx, idx)], score)
            t = 1.0
            while True:
                new = theta.copy()
                new[idx] += t * step
                ll_new = self.loglik(new, offset)
                if ll_new >= ll - 1e-12 * abs(ll) or t < 1e-10:
                    break
                t /= 2.0
            theta, ll = new, ll_new
            if np.all(np.abs(t * step) <= 1e-11 * np.maximum(np.abs(theta[idx]), 1.0)):
                return theta
        raise ConvergenceError("the ordered logit did not converge.")

r"""Collapse binary or binomial rows into sufficient statistics (numpy only).

Rows that share a fixed-effect design pattern (the same row of the design matrix) and the same
group in every level (the same group combination) share one linear predictor
:math:`\eta`. The log-likelihood of a logit model then depends on the data only through the
number of successes and trials in each such cell:

.. math::

    \sum_i \{ y_i \eta_{c(i)} - m_i \log(1 + e^{\eta_{c(i)}}) \}
    = \sum_c \{ s_c \eta_c - n_c \log(1 + e^{\eta_c}) \},
    \qquad s_c = \sum_{i: c(i) = c} y_i,\quad n_c = \sum_{i: c(i) = c} m_i,

with :math:`m_i = 1` for Bernoulli rows. The right-hand side is the collapsed binomial
log-likelihood *without* its binomial coefficient :math:`\log\binom{n_c}{s_c}`: that term is
constant in the parameters, and leaving it out makes the collapsed and the row-wise
(Bernoulli) log densities equal exactly, not just up to a constant (for binomial rows the
row-wise constant :math:`\sum_i \log\binom{m_i}{y_i}` is returned by
:func:`row_log_choose` and can be added to both). This is the classical grouping of
binary data into a binomial table (McCullagh & Nelder 1989, *Generalized Linear Models*,
2nd ed., section 4.2; Agresti 2013, *Categorical Data Analysis*, 3rd ed., section 5.2), used
for the cost of each gradient: a national census of 600,000 children with a handful of
categorical covariates collapses to a few cells per worker.

:func:`collapse` groups the rows with one :func:`numpy.unique` on an integer key (mixed radix
of the factorised pattern and group codes), so there is no Python loop over rows; the cells are
sorted by the group codes (first level most significant), so the rows of one group of the first
level are contiguous and a gradient can sum over them with a sorted segment sum
(:func:`segment_sum`) instead of a scatter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from sosstats.errors import DataError

__all__ = ["Collapsed", "collapse", "bernoulli_loglik", "collapsed_loglik", "row_log_choose",
           "segment_sum"]


@dataclass(frozen=True, eq=False)
class Collapsed:
    """Cells of rows sharing a design pattern and a group combination.

    Attributes
    ----------
    patterns : ndarray, shape (P, p)
        The distinct design-matrix rows, in sorted order.
    cell_pattern : ndarray of int64, shape (C,)
        Index into ``patterns`` of each cell.
    cell_groups : ndarray of int64, shape (C, k)
        Group code of each cell in each of the ``k`` levels (as given).
    successes, trials : ndarray of float64, shape (C,)
        Summed outcomes and summed trials of each cell's rows.
    row_cell : ndarray of int64, shape (n,)
        The cell of each input row (``successes == bincount(row_cell, y)``).
    segment_starts : ndarray of int64
        Start of each run of cells with the same first-level group (cells are sorted by the
        group codes), for :func:`segment_sum`; empty when there are no levels.
    """

    patterns: np.ndarray
    cell_pattern: np.ndarray
    cell_groups: np.ndarray
    successes: np.ndarray
    trials: np.ndarray
    row_cell: np.ndarray
    segment_starts: np.ndarray

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.successes.shape[0])

    @property
    def X(self) -> np.ndarray:
        """The design matrix of the cells, ``patterns[cell_pattern]``."""
        return self.patterns[self.cell_pattern]


def _factorise(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, inverse = np.unique(column, return_inverse=True)
    return uniq, inverse.reshape(-1).astype(np.int64)


def _mixed_radix(digits: list[np.ndarray], radices: list[int]) -> np.ndarray | None:
    """One int64 key per row from factor codes, or None when it could overflow."""
    if float(np.prod(np.array(radices, dtype=float))) >= 2.0 ** 62:
        return None
    key = np.zeros(digits[0].shape[0], dtype=np.int64)
    for d, r in zip(digits, radices):
        key = key * r + d
    return key


def _patterns(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``X`` (lexicographic order) and each row's index into them.

    Columns are factorised one at a time and combined into an integer key, which is much
    faster than ``np.unique(X, axis=0)`` on floats for many rows and few distinct values.
    """
    n = X.shape[0]
    if X.shape[1] == 0:
        return np.zeros((1, 0)), np.zeros(n, dtype=np.int64)
    digits, radices = [], []
    for j in range(X.shape[1]):
        uniq, code = _factorise(X[:, j])
        digits.append(code)
        radices.append(len(uniq))
    key = _mixed_radix(digits, radices)
    if key is None:
        patterns, code = np.unique(X, axis=0, return_inverse=True)
        return patterns, code.reshape(-1).astype(np.int64)
    _, first, code = np.unique(key, return_index=True, return_inverse=True)
    return X[first], code.reshape(-1).astype(np.int64)


def collapse(X: np.ndarray, groups: np.ndarray | Sequence[np.ndarray] | None, y: np.ndarray,
             trials: np.ndarray | None = None) -> Collapsed:
    r"""Sum successes and trials over rows sharing a design pattern and a group combination.

    Parameters
    ----------
    X : array_like, shape (n, p)
        Fixed-effect design matrix (``p`` may be 0). Rows equal in every column form one
        pattern; collapsing pays off when the columns are categorical (dummies, small integer
        counts), not continuous.
    groups : array_like of int, shape (n, k), a sequence of ``k`` arrays of length ``n``, or None
        Group code of each row in each level (any integers; nested or crossed).
    y : array_like, shape (n,)
        Outcomes: 0/1 (Bernoulli) or successes out of ``trials``.
    trials : array_like, shape (n,), optional
        Binomial trials per row (default 1).

    Returns
    -------
    Collapsed
        The cells, sorted by group codes then pattern, with :math:`s_c = \sum_{i \in c} y_i`
        and :math:`n_c = \sum_{i \in c} m_i`.

    Raises
    ------
    DataError
        If the shapes disagree, ``y`` is outside ``[0, trials]``, or values are not finite.

    References
    ----------
    McCullagh, P. & Nelder, J. A. (1989). *Generalized Linear Models*, 2nd ed., section 4.2.
    """
    y = np.asarray(y, dtype=float).reshape(-1)
    n = y.shape[0]
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X.reshape(n, -1) if X.size else np.zeros((n, 0))
    if X.ndim != 2 or X.shape[0] != n:
        raise DataError(f"X: expected {n} rows (one per outcome), got shape {X.shape}.")
    if groups is None:
        G = np.zeros((n, 0), dtype=np.int64)
    elif isinstance(groups, np.ndarray):
        G = groups.reshape(-1, 1) if groups.ndim == 1 else groups
    else:
        G = np.column_stack([np.asarray(g).reshape(-1) for g in groups]) if len(groups) \
            else np.zeros((n, 0), dtype=np.int64)
    if G.shape[0] != n:
        raise DataError(f"groups: expected {n} rows (one per outcome), got shape {G.shape}.")
    if not np.issubdtype(G.dtype, np.integer):
        raise DataError(f"groups: group codes must be integers, got dtype {G.dtype}.")
    m = np.ones(n) if trials is None else np.asarray(trials, dtype=float).reshape(-1)
    if m.shape[0] != n:
        raise DataError(f"trials: expected {n} values, got {m.shape[0]}.")
    if not (np.isfinite(X).all() and np.isfinite(y).all() and np.isfinite(m).all()):
        raise DataError("X, y and trials must be finite (no NaN or inf).")
    if (y < 0).any() or (y > m).any():
        raise DataError("y: every outcome must lie in [0, trials] (0/1 for Bernoulli rows).")
    patterns, pattern_code = _patterns(X)
    # Mixed-radix key: group codes (first level most significant), then the pattern.
    digits, radices = [], []
    for j in range(G.shape[1]):
        uniq, code = _factorise(G[:, j])
        digits.append(code)
        radices.append(max(len(uniq), 1))
    digits.append(pattern_code)
    radices.append(max(patterns.shape[0], 1))
    key = _mixed_radix(digits, radices)
    if key is not None:
        _, first, row_cell = np.unique(key, return_index=True, return_inverse=True)
    else:  # too many combinations for one int64 key: unique rows of the digit matrix
        _, first, row_cell = np.unique(np.column_stack(digits), axis=0, return_index=True,
                                       return_inverse=True)
    row_cell = row_cell.reshape(-1).astype(np.int64)
    n_cells = first.shape[0]
    successes = np.bincount(row_cell, weights=y, minlength=n_cells)
    cell_trials = np.bincount(row_cell, weights=m, minlength=n_cells)
    cell_groups = G[first].astype(np.int64)
    if G.shape[1]:
        lead = digits[0][first]
        starts = np.flatnonzero(np.r_[True, lead[1:] != lead[:-1]]).astype(np.int64)
    else:
        starts = np.zeros(0, dtype=np.int64)
    return Collapsed(patterns=patterns, cell_pattern=pattern_code[first], cell_groups=cell_groups,
                     successes=successes, trials=cell_trials, row_cell=row_cell,
                     segment_starts=starts)


def _softplus(eta: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, eta)


def bernoulli_loglik(eta: np.ndarray, y: np.ndarray, trials: np.ndarray | None = None) -> float:
    r"""Row-wise logit log-likelihood :math:`\sum_i \{y_i\eta_i - m_i\log(1+e^{\eta_i})\}`.

    For Bernoulli rows (``trials`` None) this is :math:`\sum_i \log p(y_i \mid \eta_i)` exactly;
    for binomial rows add :func:`row_log_choose`.
    """
    eta = np.asarray(eta, dtype=float)
    y = np.asarray(y, dtype=float)
    m = np.ones_like(y) if trials is None else np.asarray(trials, dtype=float)
    return float(np.dot(y, eta) - np.dot(m, _softplus(eta)))


def collapsed_loglik(eta_cells: np.ndarray, cells: Collapsed, *,
                     with_binomial_coefficient: bool = False) -> float:
    r"""Collapsed log-likelihood :math:`\sum_c \{s_c\eta_c - n_c\log(1+e^{\eta_c})\}`.

    Equal to :func:`bernoulli_loglik` of the rows (with ``eta_cells[row_cell]``) up to rounding.
    ``with_binomial_coefficient`` adds :math:`\sum_c\log\binom{n_c}{s_c}`, the full binomial
    log density of the cell counts (which then differs from the row-wise Bernoulli density by
    that constant).
    """
    eta_cells = np.asarray(eta_cells, dtype=float)
    out = float(np.dot(cells.successes, eta_cells) - np.dot(cells.trials, _softplus(eta_cells)))
    if with_binomial_coefficient:
        s, t = cells.successes, cells.trials
        out += float(np.sum(gammaln(t + 1) - gammaln(s + 1) - gammaln(t - s + 1)))
    return out


def row_log_choose(y: np.ndarray, trials: np.ndarray) -> float:
    r""":math:`\sum_i \log\binom{m_i}{y_i}`, the row-wise binomial constant (0 for Bernoulli)."""
    y = np.asarray(y, dtype=float)
    m = np.asarray(trials, dtype=float)
    return float(np.sum(gammaln(m + 1) - gammaln(y + 1) - gammaln(m - y + 1)))


def segment_sum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum ``values`` over the contiguous runs beginning at ``starts`` (``np.add.reduceat``)."""
    values = np.asarray(values, dtype=float)
    if starts.size == 0:
        return np.zeros(0)
    return np.add.reduceat(values, starts)

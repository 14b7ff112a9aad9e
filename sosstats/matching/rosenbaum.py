r"""Rosenbaum bounds: how much hidden bias would overturn a matched-pairs test.

In a study of :math:`S` matched pairs, suppose that within a pair the odds of treatment of the
two units differ by at most a factor :math:`\Gamma \ge 1` because of an unobserved covariate.
:func:`rosenbaum_bounds` gives, for each :math:`\Gamma`, the largest and smallest one-sided
p-value of the test of no treatment effect that such a bias allows.

Notes
-----
**Continuous outcomes (Wilcoxon signed rank).** Drop pairs with a zero difference
:math:`d_s = y_{Ts} - y_{Cs}`, rank :math:`|d_s|` (average ranks :math:`q_s` for ties) and
let :math:`T = \sum_s q_s 1\{d_s > 0\}`. Under :math:`\Gamma`, :math:`T` is stochastically
bounded by :math:`\bar T^{\pm} = \sum_s q_s U_s` with :math:`U_s` independent Bernoulli with
:math:`p^+ = \Gamma/(1+\Gamma)` (upper bound) or :math:`p^- = 1/(1+\Gamma)` (lower bound), so
:math:`p_{upper} = P(\bar T^+ \ge T)`, :math:`p_{lower} = P(\bar T^- \ge T)`. The normal
approximation uses :math:`E = p \sum q_s`, :math:`V = p(1-p) \sum q_s^2` and
:math:`1 - \Phi((T - E)/\sqrt V)` (no continuity correction, as rbounds ``psens``); the exact
distribution of :math:`\sum q_s U_s` (on the doubled, integer ranks :math:`2q_s`) is the
coefficient list of :math:`\prod_s (1 - p + p\, z^{2 q_s})`, multiplied by FFT (Pagano &
Tritchler 1983), after an exponential tilt that keeps far tails accurate. At
:math:`\Gamma = 1` both bounds equal Wilcoxon's signed rank p-value.

**Binary outcomes (McNemar).** Among the :math:`D` discordant pairs, :math:`T` are those where
the treated unit has the event; :math:`p_{upper} = P(\mathrm{Bin}(D, p^+) \ge T)` and
:math:`p_{lower} = P(\mathrm{Bin}(D, p^-) \ge T)` (at :math:`\Gamma = 1` the exact McNemar /
sign test).

The critical :math:`\Gamma` is the smallest :math:`\Gamma` with :math:`p_{upper} \ge \alpha`
(found by root finding; :math:`p_{upper}` increases with :math:`\Gamma`).

References
----------
Rosenbaum, P. R. (2002). *Observational Studies*, 2nd ed., Springer, ch. 4 (sections 4.3.2
and 4.3.3: McNemar and the signed rank statistic; the lead and smoking examples).
Pagano, M. and Tritchler, D. (1983). On obtaining permutation distributions in polynomial
time. *JASA* 78, 435-440.
Keele, L. (2010). rbounds: an R package for sensitivity analysis with matched data
(``psens``, ``binarysens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sosstats._results import TableResult, plain
from sosstats._validate import check_columns, check_frame, check_option
from sosstats.errors import DataError, DesignError

__all__ = ["RosenbaumResult", "rosenbaum_bounds"]

#: pairs with a non-zero difference up to which ``exact=None`` uses the exact distribution
EXACT_MAX = 50
#: most non-zero pairs for ``exact=True``
EXACT_LIMIT = 500


def _pairs_outcomes(data: pd.DataFrame, pairs: pd.DataFrame, outcome: str
                    ) -> tuple[np.ndarray, np.ndarray]:
    data = check_frame(data)
    check_columns(data, outcome, what="outcome column")
    if not isinstance(pairs, pd.DataFrame) or not {"treated", "control"} <= set(pairs.columns):
        raise DataError("`pairs` must be a DataFrame with columns 'treated' and 'control' "
                        "(index labels of `data`).")
    pr = pairs.loc[pairs["control"].notna()]
    if pr["treated"].duplicated().any() or pr["control"].duplicated().any():
        raise DesignError("Rosenbaum bounds need 1:1 pairs; some treated or control units "
                          "appear in several pairs (ratio > 1 or matching with replacement).")
    it, ic = data.index.get_indexer(pr["treated"]), data.index.get_indexer(pr["control"])
    if (it < 0).any() or (ic < 0).any():
        raise DataError("`pairs` names labels that are not in `data.index`.")
    y = data[outcome]
    if not (pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y)):
        raise DataError(f"outcome column {outcome!r} must be numeric.")
    y = y.to_numpy(dtype=float)
    return y[it], y[ic]


def _as_outcomes(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`{name}` must be numeric.") from exc
    if arr.ndim != 1:
        raise DataError(f"`{name}` must be one-dimensional; got shape {arr.shape}.")
    return arr


def _exact_sf(q2: np.ndarray, p: float, t2: int) -> float:
    """``P(sum q2_s U_s >= t2)``, U_s ~ Bernoulli(p), q2 positive integers.

    The pmf is the product of the pairs' generating polynomials ``1 - p + p z^{q_s}``,
    multiplied as a balanced tree: at each of the ``log2(S)`` levels all pairs of polynomials
    are convolved at once by FFT (:func:`scipy.signal.fftconvolve` along an axis). For a far
    upper tail the distribution is first exponentially tilted (``U_s ~ Bernoulli(p_s)``,
    ``p_s = p e^{theta q_s} / (1 - p + p e^{theta q_s})``, mean ``t2``) so that the tail is
    resolved to relative, not absolute, precision; the tilt is undone exactly:
    ``P(S = s) = P_theta(S = s) e^{-theta s} prod_s (1 - p + p e^{theta q_s})``.
    """
    from scipy.signal import fftconvolve

    theta = 0.0
    if t2 > p * q2.sum():
        def mean_gap(th: float) -> float:
            return float((q2 / (1 + (1 - p) / p * np.exp(-th * q2))).sum()) - t2

        hi = 1.0
        while mean_gap(hi) < 0 and hi < 1e3:
            hi *= 2
        theta = optimize.brentq(mean_gap, 0.0, hi) if mean_gap(hi) >= 0 else hi
    log_norm = np.logaddexp(np.log1p(-p), np.log(p) + theta * q2)      # log(1-p + p e^{th q})
    pt = np.exp(np.log(p) + theta * q2 - log_norm)
    poly = np.zeros((q2.size, int(q2.max()) + 1))
    poly[:, 0] = 1 - pt
    poly[np.arange(q2.size), q2] = pt
    while poly.shape[0] > 1:                             # log2(S) levels, not a row loop
        if poly.shape[0] % 2:
            one = np.zeros((1, poly.shape[1]))
            one[0, 0] = 1.0
            poly = np.vstack([poly, one])
        poly = np.clip(fftconvolve(poly[0::2], poly[1::2], axes=1), 0, None)
        poly = poly[:, :int(q2.sum()) + 1]               # degree never exceeds sum of q
    pmf_t = poly[0]
    s = np.arange(t2, pmf_t.size)
    log_w = -theta * s + log_norm.sum()
    return float(np.clip(np.exp(log_w) @ pmf_t[t2:], 0.0, 1.0))


@dataclass(frozen=True, eq=False, kw_only=True)
class RosenbaumResult(TableResult):
    r"""Result of :func:`rosenbaum_bounds` (a table-style result).

    ``tidy()`` gives one row per Gamma (``gamma``, ``p_upper``, ``p_lower``); ``summary()``
    and ``str()`` add the critical Gamma; ``plot()`` draws the bounds against Gamma.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by ``gamma``: ``p_upper`` and ``p_lower`` (bounds on the one-sided p-value).
    kind : str
        ``"continuous"`` (Wilcoxon signed rank) or ``"binary"`` (McNemar).
    method : str
        ``"exact"`` or ``"normal"``.
    statistic : float
        Signed rank sum :math:`T` (continuous) or treated-event discordant pairs (binary).
    n_pairs : int
        Pairs given; ``n_informative`` of them are non-zero / discordant.
    gamma_critical : float
        Smallest :math:`\Gamma` with ``p_upper >= alpha`` (1.0 when the test is not
        significant even without hidden bias; ``inf`` if never reached).
    alpha : float
        Significance level for ``gamma_critical``.
    alternative : str
        ``"greater"`` (treated higher) or ``"less"``.
    """

    table: pd.DataFrame
    kind: str
    method: str
    statistic: float
    n_pairs: int
    n_informative: int
    gamma_critical: float
    alpha: float
    alternative: str

    @property
    def nobs(self) -> int:
        """Number of pairs given."""
        return self.n_pairs

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return self.table.copy()

    def _title(self) -> str:
        test = "Wilcoxon signed rank" if self.kind == "continuous" else "McNemar (binomial)"
        return f"Rosenbaum bounds: {test}, {self.method}"

    def _notes(self) -> list[str]:
        return [f"{self.n_pairs} pairs, {self.n_informative} informative; statistic "
                f"{self.statistic:g}; alternative {self.alternative}.",
                f"critical Gamma (p_upper reaches {self.alpha:g}): {self.gamma_critical:.4g}."]

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dictionary (JSON-serialisable): the bounds table and the test's facts."""
        out = super().to_dict()
        out.update(kind=self.kind, statistic=plain(float(self.statistic)),
                   n_pairs=self.n_pairs, n_informative=self.n_informative,
                   gamma_critical=float(self.gamma_critical), alpha=self.alpha,
                   alternative=self.alternative)
        return out

    def plot(self, ax: Any = None) -> Any:
        """Upper and lower p-value bounds against Gamma, with alpha and the critical Gamma.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn into: ``ax`` when given, else a new figure's.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 4))
        g = self.table.index.to_numpy(dtype=float)
        ax.plot(g, self.table["p_upper"], marker="o", label="upper bound")
        ax.plot(g, self.table["p_lower"], marker="o", label="lower bound")
        ax.axhline(self.alpha, color="grey", ls="--", lw=0.8)
        if np.isfinite(self.gamma_critical):
            ax.axvline(self.gamma_critical, color="C3", ls=":", lw=1,
                       label=f"critical Gamma {self.gamma_critical:.3g}")
        ax.set_xlabel("Gamma")
        ax.set_ylabel("one-sided p-value")
        ax.legend(loc="best")
        return ax


def rosenbaum_bounds(treated: Any = None, control: Any = None, *,
                     data: pd.DataFrame | None = None, pairs: pd.DataFrame | None = None,
                     outcome: str | None = None,
                     gammas: Sequence[float] = (1, 1.25, 1.5, 2, 3),
                     kind: str = "continuous", exact: bool | None = None,
                     alternative: str = "greater", alpha: float = 0.05) -> RosenbaumResult:
    """Bounds on the one-sided p-value of a matched-pairs test under hidden bias Gamma.

    Parameters
    ----------
    treated, control : array-like, optional
        Outcomes of the treated and control unit of each pair (same length, same order).
    data, pairs, outcome : optional
        Instead of the arrays: a frame, a 1:1 pairs table with columns ``treated`` and
        ``control`` (index labels of ``data``, e.g. ``MatchResult.pairs``) and the outcome
        column.
    gammas : sequence of float
        Values of Gamma (each at least 1).
    kind : {"continuous", "binary"}
        Wilcoxon signed rank or McNemar (outcomes 0/1).
    exact : bool, optional
        Exact or normal-approximation bounds for ``"continuous"`` (default: exact with at
        most 50 non-zero pairs; exact allows at most 500). ``"binary"`` is always exact
        (binomial).
    alternative : {"greater", "less"}
        Treated outcomes higher (default) or lower.
    alpha : float
        Level defining the critical Gamma.

    Returns
    -------
    RosenbaumResult

    Raises
    ------
    DataError
        Mismatched or non-numeric arrays, NaN outcomes, non-0/1 binary outcomes, Gamma < 1,
        bad options.
    DesignError
        No informative pair (all differences zero / no discordant pair), pairs that are not
        1:1, ``exact=True`` with more than 500 non-zero pairs.

    Notes
    -----
    See the module docstring (Rosenbaum 2002, sections 4.3.2-4.3.3).

    Examples
    --------
    >>> res = rosenbaum_bounds([3.0, 5.0, 4.0, 6.0], [1.0, 2.0, 4.5, 1.0], gammas=[1, 2])
    >>> round(float(res.table.loc[1.0, "p_upper"]), 4)
    0.125
    """
    kind = check_option(kind, ("continuous", "binary"), "kind")
    alternative = check_option(alternative, ("greater", "less"), "alternative")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise DataError(f"`alpha` must be strictly between 0 and 1; got {alpha!r}.")
    if data is not None or pairs is not None:
        if treated is not None or control is not None or data is None or pairs is None \
                or outcome is None:
            raise DataError("Give either `treated` and `control` arrays, or `data`, `pairs` "
                            "and `outcome`.")
        yt, yc = _pairs_outcomes(data, pairs, outcome)
    else:
        if treated is None or control is None:
            raise DataError("`treated` and `control` outcomes are required.")
        yt, yc = _as_outcomes(treated, "treated"), _as_outcomes(control, "control")
    if yt.shape != yc.shape:
        raise DataError(f"`treated` and `control` must pair up: {yt.size} treated outcomes "
                        f"but {yc.size} control outcomes.")
    if yt.size == 0:
        raise DataError("no pairs given.")
    bad = ~(np.isfinite(yt) & np.isfinite(yc))
    if bad.any():
        raise DataError(f"{int(bad.sum())} pair(s) have a missing or infinite outcome "
                        f"(positions {', '.join(map(str, np.flatnonzero(bad)[:10]))}).")
    g = np.asarray(gammas, dtype=float).reshape(-1)
    if g.size == 0 or not np.isfinite(g).all() or (g < 1).any():
        raise DataError(f"`gammas` must be finite values of at least 1; got {list(gammas)}.")
    sign = 1.0 if alternative == "greater" else -1.0

    if kind == "binary":
        if not (np.isin(yt, (0, 1)).all() and np.isin(yc, (0, 1)).all()):
            raise DataError("kind='binary' needs 0/1 outcomes.")
        d = sign * (yt - yc)
        n_inf, stat = int((d != 0).sum()), float((d > 0).sum())
        if n_inf == 0:
            raise DesignError("no discordant pair: McNemar's test has no information.")
        method = "exact"

        def p_bound(gam: float, upper: bool) -> float:
            p = gam / (1 + gam) if upper else 1 / (1 + gam)
            return float(stats.binom.sf(stat - 1, n_inf, p))

        guess = None
    else:
        d = sign * (yt - yc)
        d = d[d != 0]
        n_inf = d.size
        if n_inf == 0:
            raise DesignError("every pair has a zero difference: the signed rank test has no "
                              "information.")
        q = stats.rankdata(np.abs(d))
        stat = float(q[d > 0].sum())
        use_exact = n_inf <= EXACT_MAX if exact is None else bool(exact)
        if use_exact and n_inf > EXACT_LIMIT:
            raise DesignError(f"exact=True handles at most {EXACT_LIMIT} non-zero pairs; got "
                              f"{n_inf}. Use exact=False (the normal approximation is accurate "
                              "at this size).")
        method = "exact" if use_exact else "normal"
        q2 = np.rint(2 * q).astype(np.int64)
        t2 = int(round(2 * stat))

        def p_normal(gam: float, upper: bool = True) -> float:
            p = gam / (1 + gam) if upper else 1 / (1 + gam)
            z = (stat - p * q.sum()) / np.sqrt(p * (1 - p) * (q @ q))
            return float(stats.norm.sf(z))

        def p_bound(gam: float, upper: bool) -> float:
            if use_exact:
                return _exact_sf(q2, gam / (1 + gam) if upper else 1 / (1 + gam), t2)
            return p_normal(gam, upper)

        guess = _critical(p_normal, alpha) if use_exact else None

    table = pd.DataFrame({"p_upper": [p_bound(x, True) for x in g],
                          "p_lower": [p_bound(x, False) for x in g]},
                         index=pd.Index(g, name="gamma"))
    return RosenbaumResult(table=table, kind=kind, method=method, statistic=stat,
                           n_pairs=int(yt.size), n_informative=int(n_inf),
                           gamma_critical=_critical(lambda x: p_bound(x, True), alpha, guess),
                           alpha=float(alpha), alternative=alternative)


def _critical(p_upper: Any, alpha: float, guess: float | None = None) -> float:
    """Smallest Gamma >= 1 with ``p_upper(Gamma) >= alpha`` (p_upper increases in Gamma).

    ``guess`` (e.g. the normal-approximation answer for the exact bound) narrows the bracket,
    saving evaluations of an expensive ``p_upper``.
    """
    if p_upper(1.0) >= alpha:
        return 1.0
    lo, factor = 1.0, 2.0
    hi = 2.0
    if guess is not None and np.isfinite(guess) and guess > 1:
        factor = 1.1
        lo, hi = max(1.0, guess / factor), guess * factor
        while lo > 1.0 and p_upper(lo) >= alpha:
            lo = max(1.0, lo / factor)
    while p_upper(hi) < alpha:
        lo, hi = hi, hi * factor
        if hi > 1e8:
            return float("inf")
    return float(optimize.brentq(lambda x: p_upper(x) - alpha, lo, hi, xtol=1e-10,
                                 rtol=1e-10))

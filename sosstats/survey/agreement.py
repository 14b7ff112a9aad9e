r"""Agreement between coders of the same case files: kappa, AC1, alpha, percent agreement.

In the Signs of Safety evaluation case records were coded at Time 1 and re-analysed at Time 2;
a subset was double-coded to check that the coding frame is applied consistently. The
coefficients here measure how far two (or more) coders agree beyond chance on the same files:

- :func:`cohens_kappa`: two coders, nominal or (``weights="linear"``/``"quadratic"``)
  ordered levels (Cohen 1960, 1968);
- :func:`fleiss_kappa`: any number of raters per case, raters exchangeable (Fleiss 1971;
  missing ratings and weights as Gwet 2014);
- :func:`gwet_ac1`: Gwet's AC1 (AC2 with weights), stable when one category dominates
  (Gwet 2008);
- :func:`krippendorff_alpha`: any number of coders, missing ratings, nominal / ordinal /
  interval metrics (Krippendorff 2011);
- :func:`percent_agreement`: the share of agreeing pairs, no chance correction;
- :func:`agreement`: several of them in one table.

Every coefficient has two intervals: the *analytic* one (large-sample variance from the
coefficient's linearised values; with ``cluster=`` the cluster-robust sum over clusters with
t on ``G - 1`` df) and a *bootstrap* that resamples clusters (case files within pilots) or
cases, vectorised over resamples (:mod:`sosstats._kernels.agreement`). Change in an ordinal
rating between T1 and T2 (did the quality of recording improve?) is a different question:
see :func:`sosstats.panel.categorical.stuart_maxwell` and
:func:`sosstats.panel.ordered_change`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from sosstats._kernels import agreement as K
from sosstats._validate import check_level, check_option, check_rng
from sosstats.errors import DesignError
from sosstats.survey._agreement_data import prepare
from sosstats.survey._agreement_infer import (
    WEIGHTS,
    _analytic,
    _bootstrap,
    _common,
    _groups,
    _gwet,
    _p,
    _ratio,
)
from sosstats.survey._agreement_results import (
    AgreementResult,
    AgreementTable,
    CohenKappaResult,
)

__all__ = [
    "cohens_kappa",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "percent_agreement",
    "agreement",
    "AgreementResult",
    "CohenKappaResult",
    "AgreementTable",
]

Weights = Literal["linear", "quadratic"] | None
METRICS = ("nominal", "ordinal", "interval")
DEFAULT_RESAMPLES = 2000



def cohens_kappa(data: pd.DataFrame, rater1: str, rater2: str, *, weights: Weights = None,
                 cluster: str | None = None, levels: Sequence[Any] | None = None,
                 level: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                 rng: int | np.random.Generator | None = None) -> CohenKappaResult:
    r"""Cohen's kappa, or weighted kappa, of two coders of the same cases.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per case (case file), one column per coder.
    rater1, rater2 : str
        The two coders' columns. Rows where either is missing are left out (counted).
    weights : {None, "linear", "quadratic"}
        Agreement weights for ordered levels (None: nominal kappa). The levels' numeric values
        are used when they are numbers, their positions otherwise.
    cluster : str, optional
        Column of the cluster (pilot) each case belongs to; the analytic interval then sums
        the linearised values by cluster (t on ``G - 1`` df) and the bootstrap resamples
        clusters.
    levels : sequence, optional
        Every possible rating in order. Needed when the coders' sets of levels differ (a
        level only one coder used) or when text levels carry an order; an ordered
        Categorical gives them too.
    level : float
        Confidence level of both intervals.
    n_resamples : int
        Bootstrap resamples (0: none).
    rng : int, numpy.random.Generator or None
        Seed of the bootstrap (recorded on the result).

    Returns
    -------
    CohenKappaResult
        ``tidy()``: ``kappa`` with its analytic and bootstrap intervals; ``table``; ``plot()``.

    Raises
    ------
    DataError
        A missing column; the coders' levels differ (the message names the columns and the
        levels only one of them used) without ``levels=``; a value outside ``levels``;
        unordered text levels with weights; a missing cluster ID.
    DesignError
        A single level, a single cluster, or no case that both coders rated.

    Notes
    -----
    With :math:`p_{ij}` the share of cases coded :math:`i` by the first coder and :math:`j`
    by the second and weights :math:`w_{ij}` (identity for nominal kappa;
    :math:`1 - |s_i - s_j|/R` linear, :math:`1 - (s_i - s_j)^2/R^2` quadratic),

    .. math:: \kappa_w = \frac{p_o - p_e}{1 - p_e}, \quad p_o = \sum_{ij} w_{ij} p_{ij},
              \quad p_e = \sum_{ij} w_{ij} p_{i+} p_{+j}.

    The analytic variance is that of Fleiss, Cohen & Everitt (1969),
    :math:`\sum_{ij} p_{ij} z_{ij}^2 / n` with the linearised values
    :math:`z_{ij} = [w_{ij} - p_o - (\bar w_{i+} + \bar w_{+j} - 2p_e)(1-\kappa)]/(1-p_e)`;
    the z test uses the variance under :math:`\kappa = 0`. With clusters the variance is
    :math:`\frac{G}{G-1}\sum_g (\sum_{i \in g} z_i)^2 / n^2`. Kappa depends on the margins: with
    one dominant category it can be low although coders nearly always agree (the "kappa
    paradox"); report :func:`gwet_ac1` and :func:`percent_agreement` beside it.

    References
    ----------
    Cohen, J. (1960). *Educational and Psychological Measurement* 20, 37-46.
    Cohen, J. (1968). Weighted kappa. *Psychological Bulletin* 70, 213-220.
    Fleiss, J. L., Cohen, J. & Everitt, B. S. (1969). *Psychological Bulletin* 72, 323-327.

    Examples
    --------
    >>> import pandas as pd
    >>> from sosstats.survey.agreement import cohens_kappa
    >>> d = pd.DataFrame({"coder1": [1, 2, 3, 3, 2, 1, 3, 2], "coder2": [1, 2, 3, 2, 2, 1, 3, 3]})
    >>> round(cohens_kappa(d, "coder1", "coder2", weights="quadratic", n_resamples=0).estimate, 3)
    0.795
    """
    wname, level, n_resamples = _common(weights, level, n_resamples)
    r = prepare(data, [rater1, rater2], levels=levels, cluster=cluster,
                need_order=f"weights={weights!r}" if wname != "identity" else None,
                same_levels=True)
    keep = (r.codes >= 0).all(axis=1)
    n = int(keep.sum())
    if n < 2:
        raise DesignError(f"{n} case(s) rated by both {rater1!r} and {rater2!r}; kappa needs "
                          "at least two.")
    k = len(r.levels)
    W = K.agreement_weights(r.scores, wname)
    a, b = r.codes[keep, 0], r.codes[keep, 1]
    table = K.cross_tables(a, b, k)[0]
    pe = float(table.sum(axis=1) @ W @ table.sum(axis=0) / n ** 2)
    if pe >= 1 - 1e-12:
        raise DesignError(f"{rater1!r} and {rater2!r} gave every case the same level: chance "
                          "agreement is 1 and kappa is undefined.")
    kappa, z, var, var0 = K.cohen_kappa_scores(table, W)
    po = float((W * table).sum() / n)
    centred = z[a, b]
    codes, n_units, n_clusters = _groups(r, keep)
    se, df, how = _analytic(kappa, centred, codes, n_clusters, cluster, gwet_form=False)
    se0 = float(np.sqrt(var0))
    statistic = _ratio(kappa, se0 if n_clusters is None else se)
    boot, failed = _bootstrap(
        lambda: K.cross_tables(a, b, k, codes, n_units).reshape(n_units, k * k),
        lambda s: K.cohen_kappa_tables(s.reshape(-1, k, k), W)[0], n_resamples,
        check_rng(rng))
    frame = pd.DataFrame(table.astype(np.int64), index=pd.Index(r.levels, name=rater1),
                         columns=pd.Index(r.levels, name=rater2))
    label = "Cohen's kappa" if wname == "identity" else f"Cohen's weighted kappa ({wname})"
    return CohenKappaResult(
        method=label, term="kappa", estimate=float(kappa), std_error=se,
        test_statistic=float(statistic), p_value=_p(statistic, df), df=df, p_observed=po,
        p_expected=pe, nobs=n, n_dropped=int((~keep).sum()), n_raters=2, levels=r.levels,
        weights=wname, cluster=cluster, n_clusters=n_clusters, inference=how, level=level,
        boot=boot, n_resamples=n_resamples, n_boot_failed=failed, rng=rng, table=frame,
        std_error_null=se0)


_SHARED_DOC = """
    Parameters
    ----------
    data : pandas.DataFrame
        One row per case, one column per rater; missing ratings allowed (a case with fewer
        than two ratings adds to the category shares but to no pair).
    raters : sequence of str
        The rater columns (two or more).
    weights : {None, "linear", "quadratic"}
        Agreement weights for ordered levels (None: nominal).
    cluster : str, optional
        Cluster column (pilot): cluster-robust analytic variance, t on ``G - 1`` df, and a
        bootstrap that resamples clusters.
    levels : sequence, optional
        Every possible rating in order.
    level : float
        Confidence level.
    n_resamples : int
        Bootstrap resamples (0: none).
    rng : int, numpy.random.Generator or None
        Seed of the bootstrap.

    Returns
    -------
    AgreementResult
"""


def fleiss_kappa(data: pd.DataFrame, raters: Sequence[str], *, weights: Weights = None,
                 cluster: str | None = None, levels: Sequence[Any] | None = None,
                 level: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                 rng: int | np.random.Generator | None = None) -> AgreementResult:
    r"""Fleiss' kappa for any number of raters per case (raters exchangeable).

    With :math:`r_{ik}` raters putting case :math:`i` in level :math:`k`,
    :math:`r_i = \sum_k r_{ik}`, :math:`p_a` the mean over cases with :math:`r_i \ge 2` of
    :math:`\sum_k r_{ik}(r^\star_{ik} - 1)/(r_i(r_i - 1))` (:math:`r^\star_{ik} = \sum_l
    w_{kl} r_{il}`), :math:`\pi_k` the mean share of level :math:`k` and
    :math:`p_e = \sum_{kl} w_{kl}\pi_k\pi_l`, :math:`\kappa = (p_a - p_e)/(1 - p_e)`. With
    complete data and identity weights it is Fleiss (1971)'s kappa (statsmodels'
    ``fleiss_kappa``); missing ratings and weights follow Gwet (2014). The analytic
    variance is Gwet's linearisation (not Fleiss' null variance), t on ``n - 1`` df.
    """
    return _gwet("fleiss", data, raters, weights, cluster, levels, level, n_resamples, rng)


def gwet_ac1(data: pd.DataFrame, raters: Sequence[str], *, weights: Weights = None,
             cluster: str | None = None, levels: Sequence[Any] | None = None,
             level: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
             rng: int | np.random.Generator | None = None) -> AgreementResult:
    r"""Gwet's AC1 (AC2 with weights): chance agreement that stays small when margins are skewed.

    Same :math:`p_a` as :func:`fleiss_kappa`; chance agreement
    :math:`p_e = T_w \sum_k \pi_k (1 - \pi_k) / (q (q - 1))` with :math:`q` levels and
    :math:`T_w = \sum_{kl} w_{kl}` (:math:`T_w = q` without weights). When one level
    dominates, kappa's :math:`p_e` approaches 1 and kappa collapses although the coders
    agree; AC1's :math:`p_e` goes to 0 instead. Variance: Gwet (2008)'s linearisation,
    t on ``n - 1`` df (as irrCAC).

    References
    ----------
    Gwet, K. L. (2008). *British Journal of Mathematical and Statistical Psychology* 61, 29-48.
    """
    return _gwet("ac1", data, raters, weights, cluster, levels, level, n_resamples, rng)


def percent_agreement(data: pd.DataFrame, raters: Sequence[str], *, weights: Weights = None,
                      cluster: str | None = None, levels: Sequence[Any] | None = None,
                      level: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                      rng: int | np.random.Generator | None = None) -> AgreementResult:
    r"""Share of agreeing rater pairs (weighted: credit :math:`w_{kl}` for near misses).

    :math:`p_a` of :func:`fleiss_kappa` (with two raters, the share of cases both coded
    alike), no chance correction; standard error of a mean over cases
    (:math:`\sum (a_i - p_a)^2 / (n(n-1))`, clustered with ``cluster``). No test statistic.
    """
    return _gwet("percent", data, raters, weights, cluster, levels, level, n_resamples, rng)


for _f in (fleiss_kappa, gwet_ac1, percent_agreement):
    _f.__doc__ = (_f.__doc__ or "") + _SHARED_DOC


def krippendorff_alpha(data: pd.DataFrame, raters: Sequence[str], *,
                       metric: Literal["nominal", "ordinal", "interval"] = "nominal",
                       cluster: str | None = None, levels: Sequence[Any] | None = None,
                       level: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                       rng: int | np.random.Generator | None = None) -> AgreementResult:
    r"""Krippendorff's alpha for any number of coders, missing ratings allowed.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit (case), one column per coder; NaN where a coder did not code it.
    raters : sequence of str
        Coder columns (two or more).
    metric : {"nominal", "ordinal", "interval"}
        Difference function :math:`\delta^2_{ck}`: :math:`1[c \ne k]`; rank-based
        :math:`(\sum_{g=c}^{k} n_g - (n_c + n_k)/2)^2`; :math:`(v_c - v_k)^2` (numeric
        values, positions of ``levels`` for text).
    cluster, levels, level, n_resamples, rng
        As :func:`fleiss_kappa`.

    Returns
    -------
    AgreementResult
        ``term`` is ``alpha``; ``p_observed`` and ``p_expected`` are :math:`1 - D_o/\max\delta^2`
        and :math:`1 - D_e/\max\delta^2`.

    Notes
    -----
    Units with two or more values are pairable; the coincidence matrix is
    :math:`o_{ck} = \sum_u (r_{uc} r_{uk} - 1[c=k] r_{uc})/(m_u - 1)`, :math:`n_c = \sum_k
    o_{ck}`, :math:`n = \sum_c n_c`, and

    .. math:: \alpha = 1 - (n - 1) \frac{\sum_{ck} o_{ck}\delta^2_{ck}}
                                     {\sum_{ck} n_c n_k \delta^2_{ck}}.

    The analytic standard error is Gwet (2014)'s linearisation with agreement weights
    :math:`1 - \delta^2/\max\delta^2` (irrCAC's ``krippen.alpha.raw``; for the ordinal
    metric the differences are held at their sample values), t on ``n - 1`` df; the bootstrap
    resamples units (or clusters) and recomputes every coincidence matrix, ordinal
    differences included.

    References
    ----------
    Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. University of
    Pennsylvania. Hayes, A. F. & Krippendorff, K. (2007). *Communication Methods and
    Measures* 1, 77-89.
    """
    check_option(metric, METRICS, "metric")
    _, level, n_resamples = _common(None, level, n_resamples)
    r = prepare(data, raters, levels=levels, cluster=cluster,
                need_order=f"metric={metric!r}" if metric != "nominal" else None,
                same_levels=False)
    k = len(r.levels)
    counts = K.rating_counts(r.codes, k)
    pair = counts.sum(axis=1) >= 2
    if pair.sum() < 2:
        raise DesignError(f"fewer than two units have two or more values in "
                          f"{', '.join(map(repr, r.raters))}; alpha needs pairable values.")
    o = K.coincidence(counts[pair])[0]
    alpha, do, de = (float(v) for v in K.alpha_from_coincidence(o, r.scores, metric))
    if not np.isfinite(alpha):
        raise DesignError("expected disagreement is 0 (a single value among the pairable "
                          "units): alpha is undefined.")
    delta = K.krippendorff_delta(r.scores, o.sum(axis=1), metric)
    W = 1 - delta / delta.max()
    centred = K.alpha_scores(counts[pair], W)
    codes, n_units, n_clusters = _groups(r, pair)
    se, df, how = _analytic(alpha, centred, codes, n_clusters, cluster, gwet_form=True)
    statistic = _ratio(alpha, se)
    boot, failed = _bootstrap(
        lambda: K.coincidence(counts[pair], codes, n_units).reshape(n_units, k * k),
        lambda s: K.alpha_from_coincidence(s.reshape(-1, k, k), r.scores, metric)[0],
        n_resamples, check_rng(rng))
    return AgreementResult(
        method=f"Krippendorff's alpha ({metric})", term="alpha", estimate=alpha,
        std_error=se, test_statistic=float(statistic), p_value=_p(statistic, df), df=df,
        p_observed=1 - do / delta.max(), p_expected=1 - de / delta.max(),
        nobs=int(pair.sum()), n_dropped=int((~pair).sum()), n_raters=len(r.raters),
        levels=r.levels, weights=metric, cluster=cluster, n_clusters=n_clusters,
        inference=how, level=level, boot=boot, n_resamples=n_resamples, n_boot_failed=failed,
        rng=rng)


METHODS = ("percent", "cohen", "fleiss", "ac1", "alpha")


def agreement(data: pd.DataFrame, raters: Sequence[str], *,
              methods: Sequence[str] = METHODS, weights: Weights = None,
              cluster: str | None = None, levels: Sequence[Any] | None = None,
              level: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
              rng: int | np.random.Generator | None = None) -> AgreementTable:
    """Several agreement coefficients of the same ratings in one table.

    ``methods`` from ``"percent"``, ``"cohen"`` (two raters only), ``"fleiss"``, ``"ac1"``,
    ``"alpha"`` (metric ``"nominal"`` without weights, ``"interval"`` with quadratic weights,
    ``"ordinal"`` with linear ones). Each bootstrap uses a generator spawned from ``rng``.
    Other arguments as :func:`fleiss_kappa`. Returns an :class:`AgreementTable`.
    """
    methods = list(methods)
    for m in methods:
        check_option(m, METHODS, "methods")
    gen = check_rng(rng)
    seeds = gen.spawn(len(methods))
    metric = {None: "nominal", "identity": "nominal", "quadratic": "interval",
              "linear": "ordinal"}[check_option(weights, WEIGHTS, "weights")]
    out: dict[str, AgreementResult] = {}
    common = dict(cluster=cluster, levels=levels, level=level, n_resamples=n_resamples)
    for m, g in zip(methods, seeds):   # one call per coefficient asked for (at most five)
        if m == "cohen":
            if len(list(raters)) != 2:
                raise DesignError(f"Cohen's kappa needs exactly two raters; got "
                                  f"{len(list(raters))}. Use 'fleiss' for more.")
            res: AgreementResult = cohens_kappa(data, *raters, weights=weights, rng=g,
                                                **common)
        elif m == "alpha":
            res = krippendorff_alpha(data, raters, metric=metric, rng=g, **common)
        else:
            res = {"percent": percent_agreement, "fleiss": fleiss_kappa,
                   "ac1": gwet_ac1}[m](data, raters, weights=weights, rng=g, **common)
        out[m] = res
    return AgreementTable(results=out, level=check_level(level))

r"""Design-based comparisons of domains: contrasts of domain means and ordinal trend tests.

:func:`compare` answers "is the 2-year group higher than the others?" and "did cohort 2 rise?":
domain means (or proportions) of an item by a grouping column, estimated as subpopulations
(R's ``svyby``), and linear contrasts of them with design-based standard errors (R's
``svycontrast``), t tests on the design's degrees of freedom and an omnibus Wald test that all
domains are equal (R's ``regTermTest`` on ``svyglm(y ~ by)``). :func:`trend` is the
design-based linear-by-linear (ordinal trend) test of a Likert item across ordered groups.
:meth:`SurveyDesign.compare <sosstats.survey.SurveyDesign.compare>` and
:meth:`SurveyDesign.trend <sosstats.survey.SurveyDesign.trend>` delegate here.

Every estimate comes from one call of :func:`sosstats.survey.estimates._domain_means` (the
``G`` domain means and the ``G`` complements "everyone else", as columns of one item observed
only in its domain), so the covariance of all of them is one design-variance computation.

References
----------
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, sections 2.4 (domains),
5.2 (contrasts, ``svycontrast``) and 6.3. Wiley.
Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., section 3.4.1 (the linear-by-linear
association statistic :math:`M^2`). Wiley.
Korn, E. L. and Graubard, B. I. (1990). Simultaneous testing of regression coefficients with
complex survey data: use of Bonferroni t statistics. *The American Statistician* 44, 270-276.
Korn, E. L. and Graubard, B. I. (1999). *Analysis of Health Surveys*, section 5.2. Wiley.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._multiplicity import ADJUSTMENTS, adjust_pvalues
from sosstats._results import Result
from sosstats._validate import check_columns, check_level, check_not_mixed, check_option
from sosstats.errors import DataError, DesignError
from sosstats.survey.chisq import _check_design, levels_of

if TYPE_CHECKING:   # pragma: no cover
    from sosstats.survey.design import SurveyDesign

__all__ = ["compare", "trend", "DomainContrastResult", "TrendResult", "TrendItemsResult"]

Alternative = Literal["two-sided", "greater", "less"]
#: trend's table of mean item score by group, and its list of item scores, stop at this many
MAX_GROUPS = 50
_ALTERNATIVES = ("two-sided", "greater", "less")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _p_value(t: np.ndarray, df: float, alternative: str) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    ref = stats.t(df) if np.isfinite(df) else stats.norm
    if alternative == "greater":
        return ref.sf(t)
    if alternative == "less":
        return ref.cdf(t)
    return 2 * ref.sf(np.abs(t))


def _item_values(data: pd.DataFrame, y: str, category: Any) -> tuple[np.ndarray, str]:
    """Float values of ``y`` (NaN = missing): numbers, a 0/1 flag or a category's indicator."""
    s = data[y]
    if category is not None:
        present = s.notna().to_numpy()
        values = pd.unique(s[present])
        if not any(v == category for v in values):
            raise DataError(f"`category` {category!r} is not a value of {y!r} (its values: "
                            f"{', '.join(map(repr, sorted(map(str, values))[:8]))}).")
        out = np.where(present, (s == category).to_numpy(dtype=float), np.nan)
        return out, f"proportion {y} = {category!r}"
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float), f"proportion {y}"
    if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s):
        check_not_mixed(s, f"item {y!r}")
        raise DataError(f"item {y!r} is categorical ({s.dtype}); pass `category=` to compare the "
                        f"proportion of one category, or give numeric scores.")
    values = s.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(values).any():
        raise DataError(f"item {y!r} has infinite values.")
    return values, f"mean {y}"


def _domain_codes(data: pd.DataFrame, by: str) -> tuple[np.ndarray, list[Any]]:
    check_not_mixed(data[by], f"`by` column {by!r}")
    return levels_of(data[by], by, role="`by` column", max_levels=None)


def _domain_table(design: SurveyDesign, values: np.ndarray, codes: np.ndarray, G: int,
                  with_rest: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray,
                                            np.ndarray]:
    """Domain means, complement means (``with_rest``) and their joint covariance, one call.

    Without complements the covariance is (G, G) from the G domains of one column; with them
    the G domains and G complements are 2G columns of one item observed only in its domain
    (or only outside it), in the single domain of all rows: (2G, 2G).
    """
    from sosstats.survey.estimates import _domain_means

    inside = codes >= 0
    member = codes[:, None] == np.arange(G)[None, :]                      # (n, G)
    ok = inside & ~np.isnan(values)
    if not with_rest:
        est, cov = _domain_means(design, np.where(ok, values, np.nan)[:, None],
                                 np.where(ok, codes, -1), G)
        return est, None, cov, member & ok[:, None]
    okc = ok[:, None]
    cols = np.hstack([np.where(member & okc, values[:, None], np.nan),
                      np.where(~member & okc, values[:, None], np.nan)])   # (n, 2G)
    est, cov = _domain_means(design, cols, np.where(inside, 0, -1), 1)
    return est[:G], est[G:], cov, member & okc


def _level_key(levels: list[Any], key: Any, by: str) -> int:
    for i, lv in enumerate(levels):
        if lv == key or str(lv) == str(key):
            return i
    raise DataError(f"contrast names {key!r}, which is not a level of {by!r} (levels: "
                    f"{', '.join(map(repr, levels))}).")


def _label(coefs: np.ndarray, levels: list[Any]) -> str:
    parts = []
    for c, lv in zip(coefs, levels):
        if c == 0:
            continue
        mag = "" if abs(c) == 1 else f"{abs(c):g} "
        sign = "-" if c < 0 else "+"
        parts.append(f"{sign} {mag}{lv}")
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else text


def _contrast_matrix(contrast: Any, levels: list[Any], by: str, reference: Any
                     ) -> tuple[np.ndarray, list[str], bool]:
    """Rows of coefficients on [domains, complements], their labels, and whether vs rest."""
    G = len(levels)
    names = [str(lv) for lv in levels]
    if contrast is None:
        ref = 0 if reference is None else _level_key(levels, reference, by)
        L = np.zeros((G - 1, 2 * G))
        others = [g for g in range(G) if g != ref]
        L[np.arange(G - 1), others] = 1.0
        L[:, ref] = -1.0
        return L, [f"{names[g]} - {names[ref]}" for g in others], False
    if isinstance(contrast, str):
        key = contrast.lower().replace("_", " ").replace("-", " ")
        if key == "pairwise":
            a, b = np.triu_indices(G, k=1)
            L = np.zeros((a.size, 2 * G))
            L[np.arange(a.size), b] = 1.0
            L[np.arange(a.size), a] = -1.0
            return L, [f"{names[j]} - {names[i]}" for i, j in zip(a, b)], False
        if key in ("each vs rest", "rest"):
            L = np.hstack([np.eye(G), -np.eye(G)])
            return L, [f"{n} - rest" for n in names], True
        raise DataError("`contrast` must be None, 'pairwise', 'each vs rest' or a dict of "
                        f"coefficients; got {contrast!r}.")
    if isinstance(contrast, Mapping):
        items = dict(contrast)
        single = all(np.isscalar(v) for v in items.values())
        named = {None: items} if single else items
        rows, labels = [], []
        for name, coefs in named.items():
            if not isinstance(coefs, Mapping):
                raise DataError("`contrast` must map level -> coefficient, or name -> "
                                f"{{level: coefficient}}; got {coefs!r} for {name!r}.")
            row = np.zeros(2 * G)
            for key, value in coefs.items():
                where = _level_key(levels, key, by)
                try:
                    row[where] += float(value)
                except (TypeError, ValueError):
                    raise DataError(f"contrast coefficient of {key!r} must be a number; got "
                                    f"{value!r}.") from None
            if not np.isfinite(row).all() or not np.any(row):
                raise DataError(f"contrast {name or coefs!r} has no finite non-zero "
                                "coefficient.")
            rows.append(row)
            labels.append(_label(row[:G], names) if name is None else str(name))
        return np.vstack(rows), labels, False
    raise DataError("`contrast` must be None, 'pairwise', 'each vs rest' or a dict of "
                    f"coefficients; got {type(contrast).__name__}.")


def _wald(theta: np.ndarray, cov: np.ndarray, L: np.ndarray) -> tuple[float, int]:
    """``(W, rank)`` of the hypothesis ``L theta = 0`` (NaN when its covariance is singular)."""
    d = L @ theta
    V = L @ cov @ L.T
    V = (V + V.T) / 2
    eig, vec = np.linalg.eigh(V)
    q = L.shape[0]
    if not eig[0] > 1e-10 * max(eig[-1], 0.0):
        return float("nan"), q
    return float(np.sum((vec.T @ d) ** 2 / eig)), q


def _omnibus(W: float, q: int, nu: float) -> dict[str, float]:
    """Return the adjusted Wald F (Korn-Graubard) and the unadjusted regTermTest form of W."""
    def sf(f: float, a: float, b: float) -> float:
        return float(stats.f.sf(f, a, b)) if b >= 1 and np.isfinite(f) else float("nan")

    den = nu - q + 1
    F = W * den / (q * nu)
    F0 = W / q
    return {"statistic": F, "df_num": float(q), "df_den": den, "p_value": sf(F, q, den),
            "wald": W, "unadjusted_statistic": F0, "unadjusted_df_den": nu - q,
            "unadjusted_p_value": sf(F0, q, nu - q)}


# ---------------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class DomainContrastResult(Result):
    """Contrasts of domain means or proportions (see :func:`compare`).

    Attributes
    ----------
    contrasts : pandas.DataFrame
        One row per contrast (index: its label): ``estimate``, ``std_error``, ``statistic``
        (t), ``p_value``, ``df`` and ``p_adjusted`` when ``adjust`` is not ``"none"``.
    domains : pandas.DataFrame
        The domain estimates (index: level of ``by``): ``estimate``, ``std_error``, ``n``
        (respondents with an observed item) and, for "each vs rest", ``rest`` (everyone
        else's estimate).
    coefficients : pandas.DataFrame
        The contrast matrix on the domain estimates (``rest`` columns for "each vs rest").
    omnibus : dict
        The test that every domain is equal: the adjusted Wald F (``statistic``, ``df_num``,
        ``df_den``, ``p_value``), the Wald ``wald``, and the unadjusted form of R's
        ``regTermTest(svyglm(y ~ by), ~by)`` (``unadjusted_statistic``,
        ``unadjusted_df_den``, ``unadjusted_p_value``).
    """

    contrasts: pd.DataFrame
    domains: pd.DataFrame
    coefficients: pd.DataFrame
    omnibus: dict[str, float]
    y: str
    by: str
    what: str
    alternative: str
    adjust: str
    nobs: int
    design_df: float
    design_label: str
    level: float = 0.95
    method: str = field(default="design-based contrasts of domains")

    def _estimates(self) -> pd.DataFrame:
        return self.contrasts

    def _notes(self) -> list[str]:
        om = self.omnibus
        notes = [self.design_label,
                 f"Estimates: {self.what} by {self.by} (domains as subpopulations); t tests "
                 f"on design df = {self.design_df:g}.",
                 f"All {self.by} domains equal (adjusted Wald): F = {om['statistic']:.4g} on "
                 f"({om['df_num']:g}, {om['df_den']:g}) df, p = {om['p_value']:.3g}; "
                 f"unadjusted (R regTermTest) F = {om['unadjusted_statistic']:.4g} on "
                 f"({om['df_num']:g}, {om['unadjusted_df_den']:g}), p = "
                 f"{om['unadjusted_p_value']:.3g}."]
        if self.alternative != "two-sided":
            notes.append(f"p-values one-sided ({self.alternative}); intervals two-sided.")
        if self.adjust != "none":
            notes.append(f"p_adjusted: {ADJUSTMENTS[self.adjust]} across the "
                         f"{len(self.contrasts)} contrasts.")
        return notes

    def plot(self, ax: Any = None, *, level: float | None = None) -> Any:
        """Forest plot of the contrasts with their intervals (a line at zero).

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn into: ``ax`` when given, else a new figure's.
        """
        import matplotlib.pyplot as plt

        tidy = self.tidy(level)
        if ax is None:
            _, ax = plt.subplots(figsize=(5.5, 0.45 * len(tidy) + 1.2))
        y = np.arange(len(tidy))[::-1]
        ax.errorbar(tidy["estimate"], y,
                    xerr=[tidy["estimate"] - tidy["ci_lower"], tidy["ci_upper"] - tidy["estimate"]],
                    fmt="o", capsize=3, color="C0")
        ax.axvline(0.0, color="grey", lw=0.8, ls="--")
        ax.set_yticks(y, tidy["term"])
        ax.set_xlabel(f"difference in {self.what}")
        ax.set_title(f"{self.what} by {self.by}: {int(round(100 * (level or self.level)))}% "
                     f"intervals, df = {self.design_df:g}", fontsize=9)
        return ax


def compare(design: SurveyDesign, y: str, by: str, *,
            contrast: None | str | Mapping[Any, Any] = None, category: Any = None,
            reference: Any = None, alternative: Alternative = "two-sided",
            adjust: str = "none", level: float = 0.95) -> DomainContrastResult:
    r"""Design-based contrasts between the domains of ``by`` (R's ``svyby`` + ``svycontrast``).

    Parameters
    ----------
    design : SurveyDesign
    y : str
        A numeric item (means), a boolean or 0/1 flag (proportions), or a categorical item
        with ``category=`` (the proportion of that category).
    by : str
        The grouping column; a pandas ``Categorical`` keeps its level order.
    contrast : None, "pairwise", "each vs rest" or dict
        ``None``: every level minus ``reference`` (default the first level). ``"pairwise"``:
        every later level minus every earlier one. ``"each vs rest"``: each domain minus
        everyone else pooled (the mean of the complement domain, not the average of the other
        domains' means). A dict ``{level: coefficient}`` is one contrast; ``{name: {level:
        coefficient}}`` several, named.
    category : scalar, optional
        The value of a categorical ``y`` whose proportion is compared.
    reference : scalar, optional
        The reference level for ``contrast=None``.
    alternative : {"two-sided", "greater", "less"}
        Sidedness of the p-values ("is the 2-year group *higher*": ``"greater"``); intervals
        stay two-sided.
    adjust : {"none", "holm", "BH"}
        Multiplicity adjustment across the contrasts (``p_adjusted``).
    level : float
        Confidence level of the intervals (default 0.95), as everywhere in sosstats.

    Returns
    -------
    DomainContrastResult
        ``tidy()``: one row per contrast with estimate, SE, t, p-value, df and interval;
        ``.domains`` the domain estimates; ``.omnibus`` the test that all domains are equal;
        ``plot()`` a forest plot.

    Raises
    ------
    DataError
        A missing column, ``by`` with fewer than two levels, a domain with no respondent
        observed on ``y`` (named), a categorical ``y`` without ``category``, a contrast naming an
        unknown level, a bad option.
    DesignError
        Fewer than two clusters or no design degrees of freedom.

    Notes
    -----
    Domain :math:`g`'s estimate is the ratio :math:`\hat\theta_g = \sum_i w_i d_{gi} y_i /
    \sum_i w_i d_{gi}`, linearised as :math:`z_{gi} = w_i d_{gi}(y_i - \hat\theta_g) /
    \sum_i w_i d_{gi}` with :math:`d_{gi}` the domain indicator; rows outside a domain keep
    their cluster (never dropped). A contrast :math:`c'\hat\theta` has variance :math:`c'\hat V
    c` and :math:`t = c'\hat\theta / \mathrm{SE}` is referred to :math:`t_\nu`, :math:`\nu` =
    clusters - strata (R's ``svycontrast`` uses the normal; with ten clusters the t is the
    honest choice, Korn and Graubard 1999, 5.2). The omnibus test uses the Wald statistic
    :math:`W = \hat\theta' L'(L \hat V L')^{-1} L \hat\theta` of the :math:`q = G-1`
    differences from the first level, as the adjusted Wald F :math:`W(\nu - q + 1)/(q\nu)` on
    :math:`(q, \nu - q + 1)` df (Korn and Graubard 1990; R's ``svychisq(statistic =
    "adjWald")`` form), which for two domains is exactly the square of the contrast's
    :math:`t_\nu`; the unadjusted :math:`W/q` on :math:`(q, \nu - q)` df of ``regTermTest``
    on ``svyglm(y ~ by)`` (same estimates and covariance) is reported beside it.
    "Each vs rest" contrasts the domain with its complement :math:`\bar g` (one more ratio per
    domain, from the same covariance computation).

    References
    ----------
    Lumley, T. (2010). *Complex Surveys*, sections 2.4 and 5.2. Wiley.
    Korn, E. L. and Graubard, B. I. (1999). *Analysis of Health Surveys*. Wiley.

    Examples
    --------
    >>> from sosstats.datasets import simulate_evaluation
    >>> from sosstats.survey import SurveyDesign
    >>> fam = SurveyDesign(simulate_evaluation(rng=0).family_views, cluster="la_code")
    >>> fam.compare("helpfulness", "cohort").tidy()[["term", "estimate", "p_value"]].round(3)
        term  estimate  p_value
    0  2 - 1     0.283    0.029
    >>> res = fam.compare("helpfulness", "experience", alternative="greater",
    ...                   contrast={"2 years": 1, "new": -0.5, "2 years plus": -0.5})
    """
    _check_design(design)
    check_option(alternative, _ALTERNATIVES, "alternative")
    adjust_key = str(adjust).lower()
    check_option(adjust_key, tuple(ADJUSTMENTS), "adjust")
    level = check_level(level)
    data = design.data
    check_columns(data, [y, by], what="column")
    if y == by:
        raise DataError(f"`y` and `by` are both {y!r}.")
    values, what = _item_values(data, y, category)
    codes, levels = _domain_codes(data, by)
    G = len(levels)
    L, labels, vs_rest = _contrast_matrix(contrast, levels, by, reference)
    means, rest, cov, obs = _domain_table(design, values, codes, G, vs_rest)
    w = np.asarray(design.weights, dtype=float)
    wsum = (obs * w[:, None]).sum(axis=0)
    empty = [repr(levels[g]) for g in range(G) if not wsum[g] > 0]
    if empty:
        raise DataError(f"`by` column {by!r}: level(s) {', '.join(empty)} have no respondent "
                        f"with positive weight and an observed {y!r}; drop the level.")
    if rest is None:   # no complement estimated: zero coefficients on zero placeholders
        theta = np.concatenate([means, np.zeros(G)])
        full = np.zeros((2 * G, 2 * G))
        full[:G, :G] = cov
        cov = full
    else:
        theta = np.concatenate([means, rest])
        # a complement is empty only when all the weight is in one domain
        if not np.all(np.isfinite(rest)):
            theta = np.where(np.isfinite(theta), theta, 0.0)
            cov = np.where(np.isfinite(cov), cov, 0.0)
    est = L @ theta
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", L, cov, L), 0.0, None))
    df = float(design.df)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    p = _p_value(t, df, alternative)
    table = pd.DataFrame({"estimate": est, "std_error": se, "statistic": t, "p_value": p,
                          "df": df}, index=pd.Index(labels, name="term"))
    if adjust_key != "none":
        table["p_adjusted"] = adjust_pvalues(p, adjust_key)
    # omnibus: all G domains equal (differences from the first)
    Lo = np.zeros((G - 1, 2 * G))
    Lo[np.arange(G - 1), np.arange(1, G)] = 1.0
    Lo[:, 0] = -1.0
    W, q = _wald(theta, cov, Lo)
    omnibus = _omnibus(W, q, df)
    dse = np.sqrt(np.clip(np.diag(cov)[:G], 0.0, None))
    domains = pd.DataFrame({"estimate": means, "std_error": dse,
                            "n": obs.sum(axis=0).astype(int)},
                           index=pd.Index(levels, name=by))
    if rest is not None:
        domains["rest"] = rest
    cols = [str(lv) for lv in levels] + [f"rest of {lv}" for lv in levels]
    coef = pd.DataFrame(L, index=pd.Index(labels, name="term"), columns=cols)
    coef = coef.loc[:, (coef != 0).any(axis=0)]
    label = design.describe() if hasattr(design, "describe") else f"design df = {df:g}"
    return DomainContrastResult(contrasts=table, domains=domains, coefficients=coef,
                                omnibus=omnibus, y=y, by=by, what=what,
                                alternative=alternative, adjust=adjust_key,
                                nobs=int(obs.any(axis=1).sum()), design_df=df,
                                design_label=label, level=level)


# ---------------------------------------------------------------------------------------------
# trend
# ---------------------------------------------------------------------------------------------
def _scores(data: pd.DataFrame, column: str, scores: Any, what: str
            ) -> tuple[np.ndarray, list[Any], np.ndarray]:
    """Numeric scores of an ordinal column: (row scores with NaN, levels, level scores)."""
    s = data[column]
    if scores is None:
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes, levels = levels_of(s, column, role=what, max_levels=None)
            lv_scores = np.arange(1.0, len(levels) + 1)
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            values = s.to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(values).any():
                raise DataError(f"{what} {column!r} has infinite values.")
            distinct = np.unique(values[~np.isnan(values)])
            if distinct.size < 2:
                raise DataError(f"{what} {column!r} has {distinct.size} distinct value(s); a "
                                "trend needs at least two.")
            return values, distinct.tolist(), distinct
        else:
            check_not_mixed(s, f"{what} {column!r}")
            raise DataError(f"{what} {column!r} is text, whose sorted order need not be its "
                            "order: make it an ordered pandas Categorical "
                            "(pd.Categorical(x, categories=[...], ordered=True)) or pass "
                            "scores for its levels.")
    else:
        codes, levels = levels_of(s, column, role=what, max_levels=None)
        if isinstance(scores, Mapping):
            lv_scores = np.full(len(levels), np.nan)
            for key, value in scores.items():
                lv_scores[_level_key(levels, key, column)] = float(value)
            missing = [repr(levels[i]) for i in np.flatnonzero(np.isnan(lv_scores))]
            if missing:
                raise DataError(f"scores for {what} {column!r} miss level(s) "
                                f"{', '.join(missing)}.")
        elif isinstance(scores, Sequence) or isinstance(scores, np.ndarray):
            lv_scores = np.asarray(scores, dtype=float)
            if lv_scores.shape != (len(levels),):
                raise DataError(f"scores for {what} {column!r} must give one number per level "
                                f"({len(levels)}: {', '.join(map(repr, levels))}); got "
                                f"{lv_scores.size}.")
        else:
            raise DataError(f"scores for {what} {column!r} must be a dict level -> score or a "
                            f"sequence in level order; got {type(scores).__name__}.")
        if not np.isfinite(lv_scores).all():
            raise DataError(f"scores for {what} {column!r} must be finite numbers.")
    row = np.where(codes >= 0, lv_scores[np.where(codes >= 0, codes, 0)], np.nan)
    return row, levels, lv_scores


@dataclass(frozen=True, repr=False)
class TrendResult(Result):
    r"""Design-based linear-by-linear trend test (see :func:`trend`).

    Attributes
    ----------
    slope, std_error, t, p_value, df : float
        The change in mean item score per unit of group score, its design SE, the t test
        on ``df`` = design df - 1 (as ``svyglm``).
    domains : pandas.DataFrame
        Mean item score per group (design SEs) with the group scores used (empty when the
        group column has more than ``MAX_GROUPS`` = 50 distinct scores).
    naive : dict
        Agresti's :math:`M^2 = (n-1) r^2` on the unweighted respondents (``statistic``,
        ``p_value`` against :math:`\chi^2_1`): what an analysis ignoring the design claims.
    """

    slope: float
    std_error: float
    t: float
    p_value: float
    df: float
    domains: pd.DataFrame
    naive: dict[str, float]
    item: str
    by: str
    item_scores: dict[Any, float]
    alternative: str
    nobs: int
    design_label: str
    level: float = 0.95
    method: str = field(default="design-based linear-by-linear trend")

    def _estimates(self) -> pd.DataFrame:
        return pd.DataFrame({"estimate": [self.slope], "std_error": [self.std_error],
                             "statistic": [self.t], "p_value": [self.p_value],
                             "df": [self.df], "f_statistic": [self.t ** 2],
                             "naive_m2": [self.naive["statistic"]],
                             "naive_p_value": [self.naive["p_value"]]},
                            index=pd.Index([f"trend: {self.item} per step of {self.by}"],
                                           name="term"))

    def _notes(self) -> list[str]:
        sc = (", ".join(f"{k:g}" if isinstance(k, float) and k == v else f"{k}={v:g}"
                        for k, v in self.item_scores.items()) or "its values")
        notes = [self.design_label,
                 f"Slope of the mean {self.item} score (scores {sc}) on the {self.by} score; "
                 f"design-based SE, t on df = design df - 1 = {self.df:g} (as svyglm).",
                 f"Naive linear-by-linear M^2 = (n - 1) r^2 = {self.naive['statistic']:.4g}, "
                 f"p = {self.naive['p_value']:.3g} (unweighted, ignores clustering)."]
        if self.alternative != "two-sided":
            notes.append(f"p-value one-sided ({self.alternative}); interval two-sided.")
        return notes


@dataclass(frozen=True, repr=False)
class TrendItemsResult(Result):
    """Trend tests of many items across one grouping, p-values adjusted across the items."""

    results: dict[str, TrendResult]
    by: str
    adjust: str
    nobs: int
    level: float = 0.95
    method: str = field(default="design-based linear-by-linear trend, many items")

    def _estimates(self) -> pd.DataFrame:
        out = pd.concat([r._estimates() for r in self.results.values()])
        out.index = pd.Index(list(self.results), name="term")
        out.insert(out.columns.get_loc("p_value") + 1, "p_adjusted",
                   adjust_pvalues(out["p_value"].to_numpy(dtype=float), self.adjust))
        return out

    def _notes(self) -> list[str]:
        first = next(iter(self.results.values()))
        return [first.design_label,
                f"Each row: slope of the item's mean score on the {self.by} score, t on "
                f"df = {first.df:g}.",
                f"p_adjusted: {ADJUSTMENTS[self.adjust]} across the {len(self.results)} items."]


def trend(design: SurveyDesign, item: str | list[str], by: str | None = None,
          scores: Any = None, *, by_scores: Any = None, alternative: Alternative = "two-sided",
          adjust: str = "holm", level: float = 0.95) -> TrendResult | TrendItemsResult:
    r"""Design-based ordinal trend (linear-by-linear association) test of an item across groups.

    Parameters
    ----------
    design : SurveyDesign
    item : str or list of str
        The ordinal (Likert) item: numeric scores, a 0/1 flag (a trend in a proportion, the
        design-based Cochran-Armitage test), or an ordered ``Categorical`` (scored 1..K in
        category order unless ``scores`` is given). A list gives one test per item (the same
        ``scores`` for each) with ``adjust`` across them.
    by : str
        The ordered grouping (experience group, cohort, wave); scored like ``item`` (its
        numbers, its categories 1..G, or ``by_scores``). Required.
    scores, by_scores : dict or sequence, optional
        Scores of the item's / the groups' levels (``{"none": 0, "some": 1, "all": 2}``, or a
        list in level order). A text column without them is refused (its sorted order is not
        its order).
    alternative : {"two-sided", "greater", "less"}
        "greater": the mean score rises with the group score.
    adjust : {"holm", "BH", "none"}
        Multiplicity adjustment across a list of items (ignored for one item).
    level : float
        Confidence level of the slope's interval (default 0.95).

    Returns
    -------
    TrendResult or TrendItemsResult
        ``tidy()``: the slope (change in mean item score per step of the group score), its SE,
        t, p-value, df, interval, ``f_statistic`` = t^2, and the naive :math:`M^2` test.

    Raises
    ------
    DataError
        A missing column, no ``by``, a text column without scores, fewer than two distinct
        scores, scores that miss a level.
    DesignError
        Fewer than two clusters, no design df, or no spread in the group scores.

    Notes
    -----
    **Which test, and why.** Agresti's linear-by-linear statistic :math:`M^2 = (n-1)r^2`
    tests independence against a monotone trend by the correlation :math:`r` of the row and
    column scores (Agresti 2013, 3.4.1); it is the natural one-degree-of-freedom test for a
    Likert item across *ordered* groups, with far more power against a trend than the
    :math:`(r-1)(c-1)`-df Rao-Scott test. Under a cluster design :math:`(n-1)r^2` is not
    :math:`\chi^2_1`; the design-based version tests the same population quantity, the slope
    :math:`\beta = \mathrm{Cov}(u, v)/\mathrm{Var}(v)` of item score :math:`u` on group score
    :math:`v` (zero exactly when the covariance is), estimated with the weights,

    .. math::

        \hat\beta = \frac{\sum_i w_i (v_i - \bar v)(u_i - \bar u)}{\sum_i w_i (v_i - \bar v)^2},
        \qquad z_i = \frac{w_i (v_i - \bar v)\,e_i}{\sum_i w_i (v_i - \bar v)^2},
        \quad e_i = u_i - \bar u - \hat\beta (v_i - \bar v),

    with its linearisation (or replicate) variance from the design and :math:`t = \hat\beta /
    \mathrm{SE}` on :math:`\nu - 1` df. This equals the slope test of R's
    ``svyglm(score ~ group_score, design)`` (Lumley 2010, ch. 5), which is how the fixtures
    check it. The estimate is interpretable: the change in mean item score per step of the
    group score. With unordered groups use the mean-score test instead, the omnibus test of
    :func:`compare` on the item score (:math:`G - 1` df).

    References
    ----------
    Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., section 3.4.1. Wiley.
    Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, ch. 5-6. Wiley.
    Binder, D. A. (1983). On the variances of asymptotically normal estimators from complex
    surveys. *International Statistical Review* 51, 279-292.

    Examples
    --------
    >>> from sosstats.datasets import simulate_evaluation
    >>> from sosstats.survey import SurveyDesign
    >>> fam = SurveyDesign(simulate_evaluation(rng=0).family_views, cluster="la_code")
    >>> round(fam.trend("helpfulness", "experience").slope, 3)   # per experience step
    -0.155
    """
    if not isinstance(item, str):
        items = list(item)
        adjust_key = str(adjust).lower()
        check_option(adjust_key, tuple(ADJUSTMENTS), "adjust")
        if not items or len(set(items)) < len(items):
            raise DataError(f"`item` must list distinct columns; got {items!r}.")
        results = {i: trend(design, i, by, scores, by_scores=by_scores,
                            alternative=alternative, level=level) for i in items}
        return TrendItemsResult(results=results, by=str(by), adjust=adjust_key,
                                nobs=max(r.nobs for r in results.values()), level=level)
    _check_design(design)
    check_option(alternative, _ALTERNATIVES, "alternative")
    level = check_level(level)
    if by is None:
        raise DataError("trend needs `by`: the ordered grouping (e.g. experience group, "
                        "cohort) across which the item's mean score may rise or fall.")
    data = design.data
    check_columns(data, [item, by], what="column")
    if item == by:
        raise DataError(f"`item` and `by` are both {item!r}.")
    u, ulev, uscores = _scores(data, item, scores, "item")
    v, vlev, vscores = _scores(data, by, by_scores, "`by` column")
    w = np.asarray(design.weights, dtype=float)
    ok = ~np.isnan(u) & ~np.isnan(v)
    wd = np.where(ok, w, 0.0)
    u0, v0 = np.where(ok, u, 0.0), np.where(ok, v, 0.0)
    sw = wd.sum()
    if not sw > 0:
        raise DataError(f"no respondent with positive weight has both {item!r} and {by!r}.")
    ubar, vbar = wd @ u0 / sw, wd @ v0 / sw
    sxx = wd @ (v0 - vbar) ** 2
    if not sxx > 1e-12 * max(sw, 1.0) * max(np.ptp(vscores), 1.0) ** 2:
        raise DesignError(f"the scores of {by!r} do not vary among the respondents with "
                          f"{item!r}: no trend can be estimated.")
    beta = wd @ ((v0 - vbar) * (u0 - ubar)) / sxx

    def influence() -> np.ndarray:
        e = u0 - ubar - beta * (v0 - vbar)
        return (wd * (v0 - vbar) * e / sxx)[:, None]

    def estimator(W: np.ndarray) -> np.ndarray:
        Wd = W * ok[:, None]
        s = Wd.sum(axis=0)
        vb, ub = (v0 @ Wd) / s, (u0 @ Wd) / s
        sxy = (v0 * u0) @ Wd - s * vb * ub
        sxx_b = (v0 ** 2) @ Wd - s * vb ** 2
        return (sxy / sxx_b)[:, None]

    var = float(np.asarray(design._variance(estimator, influence)).reshape(-1)[0])
    se = float(np.sqrt(max(var, 0.0)))
    df = float(design.df) - 1.0
    if not df >= 1:
        raise DesignError(f"the trend test needs design df >= 2; the design has {design.df}.")
    t = beta / se if se > 0 else float("nan")
    p = float(_p_value(np.array([t]), df, alternative)[0])
    # naive: unweighted linear-by-linear M^2 = (n - 1) r^2
    n = int(np.count_nonzero(ok & (w > 0)))
    keep = ok & (w > 0)
    r = np.corrcoef(u[keep], v[keep])[0, 1] if n > 2 else np.nan
    m2 = (n - 1) * r ** 2
    naive = {"statistic": float(m2), "p_value": float(stats.chi2.sf(m2, 1))}
    # mean item score per group (display), one domain-means call
    from sosstats.survey.estimates import _domain_means

    # mean item score per group score (for display; up to MAX_GROUPS distinct group scores)
    distinct = np.unique(v[ok])
    if distinct.size <= MAX_GROUPS:
        gcodes = np.full(len(v), -1, dtype=np.intp)
        gcodes[ok] = np.searchsorted(distinct, v[ok])
        gm, gcov = _domain_means(design, np.where(ok, u, np.nan), gcodes, distinct.size)
        names = ["/".join(str(lv) for lv, sc in zip(vlev, vscores) if sc == d)
                 for d in distinct]
        domains = pd.DataFrame({"score": distinct, "mean_item_score": gm,
                                "std_error": np.sqrt(np.clip(np.diag(gcov), 0, None)),
                                "n": np.bincount(gcodes[ok], minlength=distinct.size)},
                               index=pd.Index(names, name=by))
    else:
        domains = pd.DataFrame(columns=["score", "mean_item_score", "std_error", "n"])
    item_scores = (dict(zip(ulev, map(float, uscores))) if len(ulev) <= MAX_GROUPS
                   else {})
    label = design.describe() if hasattr(design, "describe") else f"design df = {design.df}"
    return TrendResult(slope=float(beta), std_error=se, t=float(t), p_value=p, df=df,
                       domains=domains, naive=naive, item=item, by=by,
                       item_scores=item_scores,
                       alternative=alternative, nobs=n, design_label=label, level=level)

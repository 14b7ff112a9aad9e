r"""Joint tests and contrasts of fitted models: ``result.wald_test()``, ``result.contrast()``.

Every linear result (panel change models, matched effects, survey and weighted regressions)
keeps a :class:`LinearFit` (its design, residuals, weights, clusters and covariance) and mixes
in :class:`LinearHypotheses`, so a question such as "does experience group matter at all?" is
one call on the fitted result::

    fit = change_model("sdq ~ C(experience)", long, entity="family_id", time="wave",
                       cluster="la_code")
    fit.wald_test("C(experience)")                 # both experience dummies, one hypothesis
    fit.contrast({"C(experience)[T.2 years]": 1, "C(experience)[T.2 years plus]": -1})

A hypothesis is a set of linear restrictions :math:`R\beta = r` (``q`` rows). It can be given
as term names (a list is one joint hypothesis; a factor's name, ``"C(experience)"``, stands
for all its dummies) or as a matrix ``R`` (``q x p``, or a DataFrame with term columns) and
values ``r`` (default 0). The statistic is :math:`Q = (R\hat\beta - r)'(RVR')^{-1}(R\hat\beta - r)`
with the result's own covariance ``V``; the reference distribution follows the inference of the
fit (:mod:`sosstats._kernels.cluster_wald`):

* CR2 (the default with fewer than 42 clusters): Hotelling's :math:`T^2` with total-variance
  degrees of freedom (``test="htz"``; clubSandwich's ``Wald_test(test = "HTZ")``);
* CR0 / CR1 / CR3: :math:`F(q, G - 1)` (``"f"``, clubSandwich's "Naive-F"), or
  :math:`\chi^2_q` (``"chi2"``);
* heteroskedasticity-robust (HC): :math:`F(q, n - p)` or :math:`\chi^2_q`;
* the wild cluster bootstrap (``"wild"``): the restricted wild bootstrap of the CR1 Wald
  statistic (Roodman et al. 2019; fwildclusterboot's ``mboottest``), every sign vector
  enumerated when there are few clusters.

A contrast :math:`c'\beta` is reported with its standard error :math:`\sqrt{c'Vc}` and a t
interval whose df are the Satterthwaite df of :math:`c'Vc` for CR2 (clubSandwich's
``linear_contrast``), ``G - 1`` for the other cluster-robust kinds and ``n - p`` for HC.

References
----------
Tipton, E. and Pustejovsky, J. E. (2015). *J. Educational and Behavioral Statistics* 40(6),
604-634. Pustejovsky, J. E. and Tipton, E. (2018). *JBES* 36(4), 672-683. Roodman, D.,
MacKinnon, J. G., Nielsen, M. O. and Webb, M. D. (2019). Fast and wild: bootstrap inference in
Stata using boottest. *Stata Journal* 19(1), 4-60.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._results import Summary, TableResult, format_number
from sosstats._validate import check_level
from sosstats.errors import DataError, DesignError

__all__ = ["LinearFit", "LinearHypotheses", "WaldTestResult", "ContrastResult"]

TEST_LABELS = {"htz": "Hotelling T^2 (HTZ) with total-variance df",
               "f": "F with G - 1 denominator df", "f_resid": "F with n - p denominator df",
               "chi2": "chi-square", "wild": "wild cluster restricted bootstrap"}


@dataclass(frozen=True, eq=False)
class LinearFit:
    """What a linear result keeps so that any linear hypothesis can be tested after the fit.

    Attributes
    ----------
    X : numpy.ndarray
        (n, p) the design the covariance was computed on (after any within transformation).
    resid : numpy.ndarray
        (n,) residuals on that design (unweighted).
    beta : numpy.ndarray
        (p,) estimates.
    terms : list of str
        Names of the columns of ``X``.
    vcov : numpy.ndarray
        (p, p) the covariance the result reports.
    kind : str
        ``"cr0"``..``"cr3"``, ``"hc0"``..``"hc3"`` or ``"model"`` (model-based, normal
        reference: the kind of ``vcov``).
    clusters : numpy.ndarray or None
        (n,) cluster labels (None for HC errors).
    weights : numpy.ndarray or None
        (n,) regression weights.
    y : numpy.ndarray or None
        (n,) outcome on the same design (the wild bootstrap needs it).
    wild : bool
        The fit's inference was the wild cluster bootstrap (joint tests are bootstrapped too).
    wild_weights : str
        The fit's wild bootstrap weight distribution (the joint test's default).
    removed : dict
        Terms the model could not estimate, with why (e.g. absorbed by fixed effects).
    htz : callable, optional
        ``htz(R, r) -> (F, df_denom, p_value, Q)``: the HTZ test of a model that is not least
        squares (a GLM's CR2, :func:`sosstats._kernels.cluster_glm.glm_wald_htz`).
    contrast_df : callable, optional
        ``contrast_df(c) -> df``: the CR2 Satterthwaite df of ``c'b`` for such a model.
    """

    X: np.ndarray
    resid: np.ndarray
    beta: np.ndarray
    terms: list[str]
    vcov: np.ndarray
    kind: str
    clusters: np.ndarray | None = None
    weights: np.ndarray | None = None
    y: np.ndarray | None = None
    wild: bool = False
    removed: dict = field(default_factory=dict)
    wild_weights: str = "rademacher"
    htz: Callable[[np.ndarray, np.ndarray], tuple[float, float, float, float]] | None = None
    contrast_df: Callable[[np.ndarray], float] | None = None

    @property
    def n_clusters(self) -> int | None:
        """Clusters with a positive weight (None for HC errors)."""
        if self.clusters is None:
            return None
        keep = slice(None) if self.weights is None else self.weights > 0
        return int(pd.unique(np.asarray(self.clusters)[keep]).size)

    @property
    def df_resid(self) -> int:
        """``n - p`` over the rows with a positive weight."""
        n = self.X.shape[0] if self.weights is None else int((self.weights > 0).sum())
        return n - self.X.shape[1]


# ----------------------------------------------------------------------------- restrictions

def _expand(term: str, names: list[str], removed: Mapping[str, str]) -> list[int]:
    if not isinstance(term, str):
        raise DataError(f"a term must be given by its name (a string); got {term!r}.")
    if term in names:
        return [names.index(term)]
    levels = [j for j, n in enumerate(names) if n.startswith(term + "[")]
    if levels:
        return levels
    gone = [n for n in removed if n == term or n.startswith(term + "[")]
    if gone:
        raise DesignError(f"term {term!r} was not estimated ({removed[gone[0]]}): it cannot be "
                          "tested.")
    raise DataError(f"term {term!r} is not in the model; its terms are "
                    f"{', '.join(map(repr, names))}.")


def restrictions(fit: LinearFit, terms: Any, R: Any, r: Any) -> tuple[np.ndarray, np.ndarray,
                                                                       list[str]]:
    """Return ``(R, r, labels)`` from term names or a matrix (one label per restriction)."""
    p = len(fit.terms)
    if (terms is None) == (R is None):
        raise DataError("give the hypothesis as term names (`terms`) or as a matrix (`R=`), "
                        "not both and not neither.")
    if terms is not None:
        names = [terms] if isinstance(terms, str) else list(terms)
        if not names:
            raise DataError("`terms` is empty: name at least one term to test.")
        rows = list(dict.fromkeys(j for t in names for j in _expand(t, fit.terms, fit.removed)))
        Ra = np.eye(p)[rows]
        labels = [fit.terms[j] for j in rows]
    else:
        if isinstance(R, pd.DataFrame):
            unknown = [c for c in R.columns if c not in fit.terms]
            if unknown:
                raise DataError(f"`R` has column(s) {', '.join(map(repr, unknown))} that are not "
                                f"terms of the model ({', '.join(map(repr, fit.terms))}).")
            Ra = R.reindex(columns=fit.terms, fill_value=0.0).to_numpy(dtype=float)
        else:
            try:
                Ra = np.atleast_2d(np.asarray(R, dtype=float))
            except (TypeError, ValueError) as exc:
                raise DataError("`R` must be a numeric matrix (q x p) or a DataFrame with term "
                                "columns.") from exc
        if Ra.ndim != 2 or Ra.shape[1] != p:
            raise DesignError(f"`R` must have {p} columns, one per term "
                              f"({', '.join(map(repr, fit.terms))}); got shape {Ra.shape}.")
        labels = [_combination(row, fit.terms) for row in Ra]
    q = Ra.shape[0]
    if r is None:
        ra = np.zeros(q)
    else:
        try:
            ra = np.asarray(r, dtype=float).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise DataError("`r` must be numbers, one per restriction.") from exc
        if ra.size == 1 and q > 1:
            ra = np.full(q, float(ra[0]))
    if ra.shape[0] != q:
        raise DesignError(f"`r` must have one value per restriction ({q}); got {ra.shape[0]}.")
    if not (np.isfinite(Ra).all() and np.isfinite(ra).all()):
        raise DataError("`R` and `r` must be finite numbers.")
    rank = np.linalg.matrix_rank(Ra)
    if rank < q:
        raise DesignError(f"the {q} restrictions have rank {rank}: they are linearly dependent "
                          "(drop the redundant ones).")
    return Ra, ra, labels


def restrictions_fit_clusters(R: np.ndarray, fit: LinearFit) -> None:
    """A cluster-robust V has rank at most G - 1: refuse more restrictions than that."""
    g = fit.n_clusters
    if g is not None and R.shape[0] > g - 1:
        raise DesignError(f"{R.shape[0]} restrictions but only {g} clusters: a cluster-robust "
                          f"covariance has rank at most G - 1 = {g - 1}, so at most {g - 1} "
                          "restrictions can be tested jointly.")


def _combination(coefs: np.ndarray, names: list[str]) -> str:
    parts = []
    for c, n in zip(coefs, names):
        if c == 0:
            continue
        sign = "-" if c < 0 else "+"
        mag = "" if abs(c) == 1 else f"{format_number(abs(c))} "
        parts.append(f"{sign} {mag}{n}")
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else text


# ----------------------------------------------------------------------------- results

@dataclass(frozen=True, kw_only=True)
class WaldTestResult(TableResult):
    """A joint test of linear restrictions on a fitted model (from ``result.wald_test``).

    Attributes
    ----------
    hypothesis : list of str
        The restrictions, one per row of ``R`` (``"term = value"``).
    label : str
        The hypothesis as asked (the term names given, or ``"R b = r"``).
    test : str
        ``"htz"``, ``"f"``, ``"chi2"`` or ``"wild"`` (see :mod:`sosstats._hypotheses`).
    inference : str
        The covariance the statistic uses (``"cr2"``, ``"cr1"``, ``"hc3"``, ...).
    statistic : float
        The F form: ``Q / q`` (``"f"``, ``"chi2"``), HTZ's ``(nu - q + 1) Q / (nu q)``, or
        ``Q / q`` for the bootstrap (whose p-value does not use an F table).
    wald : float
        ``Q``, the unscaled Wald statistic.
    df_num, df_denom : float
        Numerator (``q``) and denominator df of the F reference (``inf`` for chi-square and
        the bootstrap).
    p_value : float
        p-value of the test.
    n_clusters : int or None
        Clusters (None for HC errors).
    nobs : int
        Observations of the fit.
    R, r : numpy.ndarray
        The restriction matrix (q, p) over ``terms`` and the values (q,).
    terms : list of str
        The model's terms (columns of ``R``).
    info : dict
        The bootstrap's details (draws, weights, enumeration, floor).
    """

    hypothesis: list
    label: str
    test: str
    inference: str
    statistic: float
    wald: float
    df_num: float
    df_denom: float
    p_value: float
    n_clusters: int | None
    nobs: int
    R: np.ndarray = field(repr=False)
    r: np.ndarray = field(repr=False)
    terms: list = field(repr=False)
    info: dict = field(default_factory=dict, repr=False)

    @property
    def method(self) -> str:  # type: ignore[override]
        return f"Wald test ({TEST_LABELS[self.test]})"

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        row = {"test": self.test, "statistic": self.statistic, "df_num": self.df_num,
               "df_denom": self.df_denom, "p_value": self.p_value, "wald": self.wald}
        return pd.DataFrame([row], index=pd.Index([self.label], name="hypothesis"))

    def _title(self) -> str:
        return f"Wald test of {len(self.hypothesis)} restriction(s): {self.inference.upper()}"

    def summary(self, level: float | None = None) -> Summary:
        """Printable summary; a wild bootstrap p-value of 0 prints as its floor (``< 1/B``)."""
        out = super().summary(level)
        if self.test != "wild":
            return out
        table = out.table.astype({"p_value": object})
        table["p_value"] = self.info["p_value_text"]
        return Summary(out.title, table, out.notes)

    def _notes(self) -> list[str]:
        notes = ["H0: " + "; ".join(self.hypothesis) + "."]
        g = f"G = {self.n_clusters} clusters" if self.n_clusters else f"n = {self.nobs}"
        notes.append(f"{TEST_LABELS[self.test]}; {self.inference.upper()} covariance, {g}.")
        if self.test == "wild":
            notes.append("Restricted-bootstrap CR1 Wald statistics W*; " + self.info["note"])
            if self.info["at_floor"]:
                notes.append(f"p < {self.info['floor_text']}: no bootstrap statistic was as large "
                             "as the observed one (the smallest p-value these draws can give).")
        return notes


@dataclass(frozen=True, kw_only=True)
class ContrastResult(TableResult):
    """A named linear combination of a model's coefficients (from ``result.contrast``).

    Attributes
    ----------
    label : str
        The combination, e.g. ``"a - b"``.
    estimate, std_error, statistic, df, p_value : float
        ``c'b - value``'s estimate, standard error ``sqrt(c'Vc)``, t statistic, its df (CR2:
        Satterthwaite; other CR: G - 1; HC: n - p) and two-sided p-value.
    inference : str
        The covariance used.
    level : float
        Level of the t interval.
    n_clusters : int or None
        Clusters (None for HC errors).
    weights : pandas.Series
        ``c`` over the model's terms.
    """

    label: str
    estimate: float
    std_error: float
    statistic: float
    df: float
    p_value: float
    inference: str
    level: float = 0.95
    n_clusters: int | None = None
    nobs: int = 0
    value: float = 0.0
    weights: pd.Series = field(default=None, repr=False)

    method = "linear contrast"

    def _table(self, level: float | None) -> pd.DataFrame:
        level = check_level(self.level if level is None else level)
        half = stats.t.ppf(0.5 + level / 2, self.df) * self.std_error
        row = {"estimate": self.estimate, "std_error": self.std_error,
               "statistic": self.statistic, "df": self.df, "p_value": self.p_value,
               "ci_lower": self.estimate - half, "ci_upper": self.estimate + half}
        return pd.DataFrame([row], index=pd.Index([self.label], name="contrast"))

    def _title(self) -> str:
        return f"Linear contrast: {self.inference.upper()}"

    def _notes(self) -> list[str]:
        df = ("Satterthwaite df" if self.inference == "cr2"
              else "n - p df" if self.inference.startswith("hc")
              else "a normal reference" if self.inference == "model" else "G - 1 df")
        g = f"G = {self.n_clusters} clusters" if self.n_clusters else f"n = {self.nobs}"
        null = f" against {format_number(self.value)}" if self.value else ""
        ref = df if self.inference == "model" else f"t with {df}"
        kind = "model-based" if self.inference == "model" else self.inference.upper()
        return [f"{self.label}{null}: {kind} standard error, {ref}, {g}."]


# ----------------------------------------------------------------------------- the mixin

class LinearHypotheses:
    """Mixin of linear results: :meth:`wald_test` and :meth:`contrast` from a :class:`LinearFit`."""

    def _linear_fit(self) -> LinearFit:
        raise NotImplementedError

    def wald_test(self, terms: str | Sequence[str] | None = None, *, R: Any = None,
                  r: Any = None, test: str | None = None, n_resamples: int = 9999,
                  rng: Any = None, wild_weights: str | None = None) -> WaldTestResult:
        """Joint test of linear restrictions ``R b = r`` with the fit's few-cluster inference.

        Parameters
        ----------
        terms : str or list of str, optional
            Term names, all tested jointly (each ``= 0``, or ``= r``); a factor's name
            (``"C(experience)"``) stands for all its dummies.
        R : array_like or pandas.DataFrame, optional
            Instead of ``terms``: the restriction matrix (q x p over the model's terms, or a
            DataFrame whose columns are term names; absent terms are 0).
        r : float or array_like, optional
            Values of the restrictions (default 0).
        test : {"htz", "f", "chi2", "wild"}, optional
            Reference distribution. Default: ``"htz"`` for CR2, ``"wild"`` when the fit used
            the wild bootstrap, else ``"f"`` (``G - 1`` or ``n - p`` denominator df).
        n_resamples, rng, wild_weights
            The wild bootstrap's draws (Rademacher sign vectors are all enumerated when ``2^G``
            is at most ``n_resamples``), random generator and weight distribution
            (``"rademacher"``, ``"webb"``, ``"mammen"``, ``"normal"``; default: the fit's).

        Returns
        -------
        WaldTestResult

        Raises
        ------
        DataError
            A term that is not in the model, a non-numeric ``R``.
        DesignError
            ``R`` of the wrong shape or rank, a term the model could not estimate (absorbed by
            fixed effects), more restrictions than the clusters can test (``q > G - 1``),
            HTZ without CR2.
        """
        from sosstats._kernels.cluster_wald import WALD_TESTS, cluster_wald_test, wald_statistic

        fit = self._linear_fit()
        Ra, ra, labels = restrictions(fit, terms, R, r)
        hypothesis = [f"{lab} = {format_number(v)}" for lab, v in zip(labels, ra)]
        label = ("R b = r" if terms is None
                 else terms if isinstance(terms, str) else ", ".join(map(str, terms)))
        clustered = fit.clusters is not None
        if test is None:
            test = ("wild" if fit.wild else "htz" if fit.kind == "cr2"
                    else "chi2" if fit.kind == "model" else "f")
        if test not in (*WALD_TESTS, "wild"):
            raise DataError(f"`test` must be one of 'htz', 'f', 'chi2', 'wild'; got {test!r}.")
        common = dict(hypothesis=hypothesis, label=label, inference=fit.kind,
                      n_clusters=fit.n_clusters,
                      nobs=int(fit.X.shape[0]), R=Ra, r=ra, terms=list(fit.terms))
        if test == "wild":
            return self._wild_wald(fit, Ra, ra, common, n_resamples, rng,
                                   wild_weights or fit.wild_weights)
        if clustered and test == "htz" and fit.htz is not None:
            restrictions_fit_clusters(Ra, fit)
            fstat, df2, p, q_stat = fit.htz(Ra, ra)
            return WaldTestResult(test=test, statistic=fstat, wald=q_stat, df_num=Ra.shape[0],
                                  df_denom=df2, p_value=p, **common)
        if not clustered:
            if test == "htz":
                raise DesignError("the HTZ test needs cluster-robust CR2 errors; this fit has "
                                  f"{fit.kind.upper()} (use test='f' or 'chi2').")
            q_stat = wald_statistic(fit.beta, fit.vcov, Ra, ra)
            q = Ra.shape[0]
            df2 = np.inf if test == "chi2" else float(fit.df_resid)
            p = (stats.chi2.sf(q_stat, q) if test == "chi2"
                 else stats.f.sf(q_stat / q, q, df2))
            return WaldTestResult(test=test, statistic=q_stat / q, wald=q_stat, df_num=q,
                                  df_denom=df2, p_value=float(p), **common)
        res = cluster_wald_test(fit.X, fit.resid, fit.clusters, fit.beta, Ra, ra,
                                vcov=fit.vcov, kind=fit.kind, test=test, weights=fit.weights)
        return WaldTestResult(test=test, statistic=res.statistic, wald=res.wald,
                              df_num=res.df_num, df_denom=res.df_denom, p_value=res.p_value,
                              **common)

    def _wild_wald(self, fit: LinearFit, Ra: np.ndarray, ra: np.ndarray, common: dict,
                   n_resamples: int, rng: Any, wild_weights: str) -> WaldTestResult:
        from sosstats._kernels.wild_joint import wild_joint_test

        if fit.y is None or fit.clusters is None or fit.htz is not None:
            raise DesignError("the wild bootstrap of a joint hypothesis needs a clustered "
                              "least-squares fit (use test='htz' or 'f').")
        res = wild_joint_test(fit.X, fit.y, fit.clusters, R=Ra, r=ra, weights=fit.weights,
                              weight_type=wild_weights, n_resamples=n_resamples, rng=rng)
        q = Ra.shape[0]
        info = {"n_resamples": res.n_draws, "enumerated": res.enumerated,
                "weight_type": res.weight_type, "at_floor": res.p_value == 0,
                "p_value_text": res.p_value_text(), "note": res.note(),
                "floor_text": f"1/{res.n_draws:,}"}
        common = {**common, "inference": "cr1"}
        return WaldTestResult(test="wild", statistic=res.statistic / q, wald=res.statistic,
                              df_num=q, df_denom=np.inf, p_value=res.p_value, info=info,
                              **common)

    def contrast(self, weights: Mapping[str, float] | pd.Series, *, value: float = 0.0,
                 level: float | None = None) -> ContrastResult:
        """Estimate, standard error, t test and interval of a linear combination of terms.

        Parameters
        ----------
        weights : dict or pandas.Series
            Term name -> coefficient of the combination, e.g. ``{"a": 1, "b": -1}`` for
            ``a - b`` (a factor's name is not expanded here: name each dummy).
        value : float
            The null value of the combination (default 0).
        level : float, optional
            Interval level (default: the fit's).

        Returns
        -------
        ContrastResult
        """
        from sosstats._kernels.cluster import satterthwaite_df

        fit = self._linear_fit()
        if not isinstance(weights, (Mapping, pd.Series)) or len(weights) == 0:
            raise DataError("`weights` must be a non-empty dict (or Series) term -> "
                            "coefficient, like {'a': 1, 'b': -1}.")
        c = np.zeros(len(fit.terms))
        for term, coef in dict(weights).items():
            rows = _expand(term, fit.terms, fit.removed)
            if len(rows) != 1 or fit.terms[rows[0]] != term:
                raise DataError(f"{term!r} names {len(rows)} terms; a contrast names each "
                                f"term: {', '.join(repr(fit.terms[j]) for j in rows)}.")
            try:
                c[rows[0]] += float(coef)
            except (TypeError, ValueError) as exc:
                raise DataError(f"the weight of {term!r} must be a number; got {coef!r}."
                                ) from exc
        if not np.isfinite(c).all() or not c.any():
            raise DataError("the contrast's weights must be finite and not all zero.")
        try:
            value = float(value)
        except (TypeError, ValueError) as exc:
            raise DataError(f"`value` must be a number; got {value!r}.") from exc
        level = check_level(getattr(self, "level", 0.95) if level is None else level)
        est = float(c @ fit.beta) - value
        se = float(np.sqrt(max(c @ fit.vcov @ c, 0.0)))
        if fit.clusters is None:
            df = np.inf if fit.kind == "model" else float(fit.df_resid)
        elif fit.kind == "cr2" and fit.contrast_df is not None:
            df = float(fit.contrast_df(c))
        elif fit.kind == "cr2":
            df = float(satterthwaite_df(fit.X, fit.clusters, c, weights=fit.weights))
        else:
            df = float(fit.n_clusters - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = est / se
        p = float(2 * stats.t.sf(abs(t), df))
        return ContrastResult(label=_combination(c, fit.terms), estimate=est, std_error=se,
                              statistic=float(t), df=df, p_value=p, inference=fit.kind,
                              level=level, n_clusters=fit.n_clusters, nobs=int(fit.X.shape[0]),
                              value=value, weights=pd.Series(c, index=fit.terms))

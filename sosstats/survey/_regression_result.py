r"""Results of design-based regression (:mod:`sosstats.survey.regression`), with their tests.

:class:`SurveyGlmResult` and :class:`SurveyOlrResult` are :class:`~sosstats._results.Result`
objects (``tidy()``, ``summary()``, ``conf_int()``...) that mix in
:class:`~sosstats._hypotheses.LinearHypotheses`, so ``fit.wald_test("C(stype)")`` and
``fit.contrast({"ell": 1, "meals": -1})`` work on them as on every linear result:

* design-based covariance (``vcov="design"``): the Wald statistic
  :math:`Q = (R\hat\beta - r)'(RVR')^{-1}(R\hat\beta - r)` referred as :math:`Q/q` to
  :math:`F(q, d)` with :math:`d` the model's residual design df (svyglm:
  ``degf(design) + 1 - p``; svyolr: ``degf(design) - p_slopes``, the same count with the
  cut-points in place of the intercept), exactly R survey's ``regTermTest(method = "Wald")``;
  ``test="chi2"`` gives :math:`Q \sim \chi^2_q`. A contrast gets a t interval on ``d`` df
  (``svycontrast`` gives the estimate and SE; the df are ``summary.svyglm``'s);
* few-cluster covariances of a GLM (``vcov="cr2"`` and the other CR kinds, clusters = the
  design's PSUs): the inference of :mod:`sosstats._hypotheses` with the GLM CR2 pieces (HTZ
  test, Satterthwaite df of a contrast; clubSandwich ``Wald_test`` / ``linear_contrast`` on a
  ``glm`` with prior weights);
* the ordinal model with CR kinds: :math:`F(q, G - 1)` (or chi-square); contrasts on
  ``G - 1`` df (the score-form CR2 has per-coefficient Satterthwaite df only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._hypotheses import (
    ContrastResult,
    LinearFit,
    LinearHypotheses,
    WaldTestResult,
    restrictions,
)
from sosstats._results import Result, format_number
from sosstats.errors import DataError, DesignError

__all__ = ["SurveyGlmResult", "SurveyOlrResult", "SurveyWaldTestResult",
           "SurveyContrastResult", "DesignFit"]

_VCOV_TEXT = {
    "design": "design-based (linearisation) sandwich",
    "replicate": "design-based (replicate weights) variance",
    "cr0": "CR0 cluster-robust by PSU",
    "cr1": "CR1 cluster-robust by PSU (G/(G-1) factor)",
    "cr2": "CR2 bias-reduced cluster-robust by PSU (Bell-McCaffrey)",
    "cr3": "CR3 (jackknife) cluster-robust by PSU",
}


@dataclass(frozen=True, eq=False)
class DesignFit(LinearFit):
    """A :class:`~sosstats._hypotheses.LinearFit` whose reference df are the design's.

    ``design_df`` is the residual design df of the model (t tests, contrasts, the
    denominator of the F form of a joint test).
    """

    design_df: float = float("nan")

    @property
    def df_resid(self) -> float:  # type: ignore[override]
        """The model's residual design df (not ``n - p``)."""
        return self.design_df


@dataclass(frozen=True, kw_only=True)
class SurveyWaldTestResult(WaldTestResult):
    """Design-based joint Wald test (R survey's ``regTermTest(method = "Wald")``).

    ``statistic`` is ``Q / q``; ``df_denom`` the model's residual design df (``inf`` for
    ``test="chi2"``). Other attributes as :class:`~sosstats._hypotheses.WaldTestResult`.
    """

    df_note: str = ""

    @property
    def method(self) -> str:  # type: ignore[override]
        ref = "chi-square" if self.test == "chi2" else "F on the design df"
        return f"design-based Wald test ({ref})"

    def _title(self) -> str:
        kind = ("design-based" if self.inference in ("design", "replicate")
                else self.inference.upper())
        return f"Wald test of {len(self.hypothesis)} restriction(s): {kind}"

    def _notes(self) -> list[str]:
        notes = ["H0: " + "; ".join(self.hypothesis) + "."]
        design = self.inference in ("design", "replicate")
        if self.test == "chi2":
            ref = "Q ~ chi-square(q)"
        elif design:
            ref = (f"Q/q ~ F({self.df_num:g}, {format_number(self.df_denom)}), denominator "
                   f"the {self.df_note}; R survey's regTermTest(method = 'Wald')")
        else:
            ref = (f"Q/q ~ F({self.df_num:g}, G - 1 = {format_number(self.df_denom)}) (the "
                   "score-form CR variance of the ordinal model has no HTZ test)")
        notes.append(f"{ref}; {_VCOV_TEXT.get(self.inference, self.inference)} covariance.")
        return notes


@dataclass(frozen=True, kw_only=True)
class SurveyContrastResult(ContrastResult):
    """A linear combination of design-based regression coefficients (``svycontrast``)."""

    df_note: str = ""

    def _title(self) -> str:
        kind = ("design-based" if self.inference in ("design", "replicate")
                else self.inference.upper())
        return f"Linear contrast: {kind}"

    def _notes(self) -> list[str]:
        null = f" against {format_number(self.value)}" if self.value else ""
        return [f"{self.label}{null}: {_VCOV_TEXT.get(self.inference, self.inference)} "
                f"standard error, t on {format_number(self.df)} df ({self.df_note})."]


class _SurveyHypotheses(LinearHypotheses):
    """``wald_test`` / ``contrast`` with the design's reference distributions (module doc)."""

    inference: str
    df_note: str

    def _own_tests(self) -> bool:
        """Say whether this module, not :mod:`sosstats._hypotheses`, refers the tests."""
        return self.inference in ("design", "replicate")

    def _reference_df(self) -> float:
        return float(self._linear_fit().df_resid)

    def wald_test(self, terms: str | Sequence[str] | None = None, *, R: Any = None,
                  r: Any = None, test: str | None = None, n_resamples: int = 9999,
                  rng: Any = None, wild_weights: str | None = None) -> WaldTestResult:
        """Joint Wald test of ``R b = r`` (a list of term names is one hypothesis).

        Parameters
        ----------
        terms : str or list of str, optional
            Term names tested jointly (``= 0`` or ``= r``); a factor's name
            (``"C(stype)"``) stands for all its dummies.
        R : array_like or pandas.DataFrame, optional
            Instead of ``terms``: the restriction matrix (q x p over the terms).
        r : float or array_like, optional
            Values of the restrictions (default 0).
        test : {"f", "chi2", "htz"}, optional
            Design-based fits: ``"f"`` (default; ``Q/q`` on ``F(q, d)``, ``d`` the residual
            design df: ``regTermTest``) or ``"chi2"``. CR2 fits of a GLM: ``"htz"`` (default),
            ``"f"`` (``G - 1``), ``"chi2"``.
        n_resamples, rng, wild_weights
            Not used (no wild bootstrap for design-based regression).

        Returns
        -------
        WaldTestResult
            :class:`SurveyWaldTestResult` for design-based fits.

        Raises
        ------
        DataError
            A term that is not in the model, an unknown ``test``.
        DesignError
            ``R`` of the wrong shape or rank, more restrictions than the design df allow.
        """
        if test == "wild":
            raise DesignError("the wild bootstrap is not offered for design-based regression "
                              "(use test='f', 'chi2' or, with vcov='cr2', 'htz').")
        if not self._own_tests():
            return super().wald_test(terms, R=R, r=r, test=test)
        from sosstats._kernels.cluster_wald import wald_statistic

        test = "f" if test is None else test
        if test not in ("f", "chi2"):
            raise DataError(f"`test` must be 'f' or 'chi2' for a {self.inference} covariance; "
                            f"got {test!r} (HTZ needs vcov='cr2').")
        fit = self._linear_fit()
        Ra, ra, labels = restrictions(fit, terms, R, r)
        q = Ra.shape[0]
        rank_max = self._design_rank()
        if q > rank_max:
            raise DesignError(f"{q} restrictions but the design has only {rank_max} df (PSUs "
                              f"- strata): its covariance has rank at most {rank_max}, so at "
                              f"most {rank_max} restrictions can be tested jointly.")
        q_stat = wald_statistic(fit.beta, fit.vcov, Ra, ra)
        d = self._reference_df()
        if test == "chi2":
            df2, p = np.inf, float(stats.chi2.sf(q_stat, q))
        else:
            df2 = d
            p = float(stats.f.sf(q_stat / q, q, d)) if d > 0 else float("nan")
        label = ("R b = r" if terms is None
                 else terms if isinstance(terms, str) else ", ".join(map(str, terms)))
        return SurveyWaldTestResult(
            hypothesis=[f"{lab} = {format_number(v)}" for lab, v in zip(labels, ra)],
            label=label, test=test, inference=self.inference, statistic=q_stat / q,
            wald=q_stat, df_num=q, df_denom=df2, p_value=p, n_clusters=self.n_clusters,
            nobs=int(self.nobs), R=Ra, r=ra, terms=list(fit.terms), df_note=self.df_note)

    def _design_rank(self) -> int:
        return int(max(self.degf, 0)) if np.isfinite(self.degf) else len(self.params)

    def contrast(self, weights: Mapping[str, float] | pd.Series, *, value: float = 0.0,
                 level: float | None = None) -> ContrastResult:
        """Estimate, standard error, t test and interval of ``sum_k c_k b_k`` (``svycontrast``).

        Parameters
        ----------
        weights : dict or pandas.Series
            Term name -> coefficient, e.g. ``{"ell": 1, "meals": -1}``.
        value : float
            Null value (default 0).
        level : float, optional
            Interval level (default: the fit's).

        Returns
        -------
        ContrastResult
            :class:`SurveyContrastResult` for design-based fits (t on the residual design df).
        """
        res = super().contrast(weights, value=value, level=level)
        if not self._own_tests():
            return res
        values = {f.name: getattr(res, f.name) for f in dataclasses.fields(res)}
        values["inference"] = self.inference
        return SurveyContrastResult(**values, df_note=self._contrast_df_note())

    def _contrast_df_note(self) -> str:
        return self.df_note


def _notes_common(res: Any, what: str) -> list[str]:
    design = (f"{res.n_clusters} PSUs" + (f" in {res.n_strata} strata" if res.n_strata else "")
              if res.n_clusters else "replicate weights")
    dropped = f", {res.n_dropped} with a missing value left out" if res.n_dropped else ""
    domain = f" in the domain {res.domain} (a subpopulation)" if res.domain else ""
    notes = [f"{what}; {res.nobs} rows used{domain}{dropped}; design: {design}.",
             f"Standard errors: {_VCOV_TEXT.get(res.inference, res.inference)}; "
             f"t on {res.df_note}."]
    if res.default_note:
        notes.append(res.default_note)
    if res.inference in ("design", "replicate") and res.n_clusters and res.n_clusters < 42:
        notes.append(f"Only {res.n_clusters} PSUs: design-based intervals under-cover with few "
                     "PSUs; vcov='cr2' gives the bias-reduced (Bell-McCaffrey) errors with "
                     "Satterthwaite df.")
    if res.inference.startswith("cr") and res.n_strata:
        notes.append("CR kinds treat the PSUs as independent clusters: strata and fpc are not "
                     "used (conservative for a stratified design).")
    return notes


@dataclass(frozen=True, eq=False, kw_only=True)
class SurveyGlmResult(_SurveyHypotheses, Result):
    """Design-based generalised linear model (R survey's ``svyglm``).

    Attributes
    ----------
    table : pandas.DataFrame
        Per term: ``estimate, std_error, statistic, p_value, df, deff`` (the design effect:
        the variance over that of a simple random sample of the same size, R's
        ``svyglm(deff = TRUE)``).
    vcov : pandas.DataFrame
        Covariance of the estimates (the one asked for by ``vcov=``).
    formula, family, link : str
        The model.
    inference : str
        ``"design"`` (linearisation), ``"replicate"`` (a replicate design) or a CR kind.
    nobs : int
        Rows used (complete, in the design).
    n_dropped : int
        Rows left out for a missing value (their scores are zero: a domain, not a subset).
    n_clusters, n_strata : int or None
        PSUs and strata of the design (None for replicate designs).
    design_df : float
        The model's residual design df, ``degf(design) + 1 - p`` (svyglm's ``df.residual``).
    degf : float
        The design's df (PSUs - strata, or the replicate rank - 1) over the rows used: the
        most restrictions a joint test can have.
    df_note : str
        How the df were obtained (printed).
    default_note : str
        Set when ``vcov`` was chosen by default (fewer than 42 PSUs: CR2), printed.
    domain : str
        The ``subset`` the model was fitted to (its column name, or ``"<mask>"``), or "".
    level : float
        Default interval level.
    """

    table: pd.DataFrame = field(repr=False)
    vcov: pd.DataFrame = field(repr=False)
    formula: str
    family: str
    link: str
    inference: str
    nobs: int
    n_dropped: int
    n_clusters: int | None
    n_strata: int | None
    design_df: float
    degf: float
    df_note: str
    default_note: str = ""
    domain: str = ""
    level: float = 0.95
    _fit: LinearFit | None = field(default=None, repr=False)

    @property
    def method(self) -> str:  # type: ignore[override]
        return f"survey {self.family} regression ({self.link} link)"

    def _estimates(self) -> pd.DataFrame:
        return self.table.copy()

    def _linear_fit(self) -> LinearFit:
        return self._fit

    def _notes(self) -> list[str]:
        return _notes_common(self, f"{self.family} family, {self.link} link, pseudo-likelihood "
                                   f"fit of {self.formula!r}")


@dataclass(frozen=True, eq=False, kw_only=True)
class SurveyOlrResult(_SurveyHypotheses, Result):
    """Design-based proportional-odds (ordered logit) model (R survey's ``svyolr``).

    ``P(y <= k) = expit(c_k - x'b)``: slopes first (a positive slope moves respondents up),
    then the cut-points ``"a|b"``. Attributes as :class:`SurveyGlmResult`, with
    ``categories`` (the outcome's levels, lowest first) in place of ``family``; ``design_df``
    is svyolr's ``degf(design) - p_slopes``.
    """

    table: pd.DataFrame = field(repr=False)
    vcov: pd.DataFrame = field(repr=False)
    formula: str
    categories: tuple
    inference: str
    nobs: int
    n_dropped: int
    n_clusters: int | None
    n_strata: int | None
    design_df: float
    degf: float
    df_note: str
    default_note: str = ""
    domain: str = ""
    level: float = 0.95
    _fit: LinearFit | None = field(default=None, repr=False)

    method = "survey proportional-odds (ordered logit) regression"

    def _own_tests(self) -> bool:
        return self._linear_fit().htz is None     # CR2: the score-form HTZ of _hypotheses

    def _reference_df(self) -> float:
        if self.inference in ("design", "replicate"):
            return float(self.design_df)
        return float(self.n_clusters - 1)

    def _design_rank(self) -> int:
        if self.inference in ("design", "replicate"):
            return super()._design_rank()
        return int(self.n_clusters - 1)

    def contrast(self, weights: Mapping[str, float] | pd.Series, *, value: float = 0.0,
                 level: float | None = None) -> ContrastResult:
        """Estimate, SE, t test and interval of a combination.

        On the design df (design-based), Satterthwaite df of the score-form CR2 (``cr2``), or
        ``G - 1`` (other CR kinds).
        """
        res = super().contrast(weights, value=value, level=level)
        df = self._reference_df()
        if not self._own_tests() or res.df == df:
            return res
        t = res.statistic
        p = float(2 * stats.t.sf(abs(t), df)) if df > 0 else float("nan")
        return dataclasses.replace(res, df=df, p_value=p)

    def _contrast_df_note(self) -> str:
        if self.inference in ("design", "replicate"):
            return self.df_note
        return ("G - 1 df (CR1 / CR3; with CR2 the contrast takes the score-form Satterthwaite "
                "df)")

    def _estimates(self) -> pd.DataFrame:
        return self.table.copy()

    def _linear_fit(self) -> LinearFit:
        return self._fit

    def _notes(self) -> list[str]:
        levels = ", ".join(map(str, self.categories))
        return _notes_common(self, f"proportional odds, P(y <= k) = expit(c_k - x'b), "
                                   f"categories {levels}; pseudo-likelihood fit of "
                                   f"{self.formula!r}")


def estimate_table(beta: np.ndarray, vcov: np.ndarray, terms: list[str],
                   df: np.ndarray) -> pd.DataFrame:
    """``estimate, std_error, statistic, p_value, df`` per term (t reference; df <= 0: NaN)."""
    se = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    df = np.broadcast_to(np.asarray(df, dtype=float), beta.shape).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        t = beta / se
        ok = df > 0
        p = np.where(ok, 2 * stats.t.sf(np.abs(t), np.where(ok, df, 1.0)), np.nan)
    if not np.all(np.isfinite(beta)):
        raise DataError("the estimates are not finite.")
    return pd.DataFrame({"estimate": beta, "std_error": se, "statistic": t, "p_value": p,
                         "df": df}, index=pd.Index(terms, name="term"))

r"""Design-based regression on a survey design: ``svyglm`` and ``svyolr`` as R survey has them.

``glm(design, "api00 ~ ell + meals", family="gaussian")`` (or ``design.glm(...)``) fits a
linear, logistic or Poisson model by weighted pseudo-maximum likelihood and reports standard
errors from the design (clusters, strata, fpc, calibration or replicate weights), with t tests
on the design's degrees of freedom; ``olr(design, "item ~ group")`` does the same for an
ordinal (Likert) item with the proportional-odds model. ``vcov="cr2"`` gives the few-cluster
alternative of :mod:`sosstats.panel`: the Bell-McCaffrey bias-reduced cluster-robust sandwich
by PSU with Satterthwaite df (and HTZ joint tests). Results have ``wald_test`` and
``contrast`` (:mod:`sosstats.survey._regression_result`). See ``docs/survey.md`` for when to
use which.

References
----------
Binder, D. A. (1983). On the variances of asymptotically normal estimators from complex
surveys. *International Statistical Review* 51(3), 279-292.
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, ch. 5 and 6. Wiley.
Lumley, T. and Scott, A. (2014). Tests for regression models fitted to survey data.
*Australian & New Zealand Journal of Statistics* 56(1), 1-14.
Bell, R. M. and McCaffrey, D. F. (2002). Bias reduction in standard errors for linear
regression with multi-stage samples. *Survey Methodology* 28(2), 169-181.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from sosstats._formula import formula_variables, model_matrix, split_formula
from sosstats._validate import check_level, check_option, shown_values
from sosstats.errors import DataError, DesignError
from sosstats.survey._regression_fit import FAMILIES, family_of, fit_glm
from sosstats.survey._regression_result import (
    DesignFit,
    SurveyGlmResult,
    SurveyOlrResult,
    estimate_table,
)

__all__ = ["glm", "olr", "SurveyGlmResult", "SurveyOlrResult", "VCOV_KINDS"]

#: the ``vcov=`` choices: the design's variance, or a cluster-robust kind by PSU
VCOV_KINDS = ("design", "cr0", "cr1", "cr2", "cr3")


# ----------------------------------------------------------------------------- design access

def _check_design(design: Any) -> None:
    needed = ("data", "weights", "df", "kind", "_variance")
    if any(not hasattr(design, a) for a in needed):
        raise DataError("`design` must be a sosstats.survey.SurveyDesign; got "
                        f"{type(design).__name__}.")


def _psu_codes(design: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(PSU codes, strata codes) of every row, or (None, None) for a replicate design.

    The first stage of the design (PSU labels unique within strata under ``nest=True``; a
    design without clusters has one PSU per row; without strata, one stratum).
    """
    if design.kind != "linearization":
        return None, None
    stages = getattr(design, "_stages", None)
    if stages:
        units = getattr(design, "_units", None)
        psu, strata = stages[0].psu, stages[0].strata
        if units is not None:
            psu, strata = psu[units], strata[units]
        return np.asarray(psu, dtype=np.intp), np.asarray(strata, dtype=np.intp)
    data = design.data                  # a design-like object without stages: its columns
    n = len(data)
    strata_cols = _names(getattr(design, "strata", None))
    cluster_cols = _names(getattr(design, "cluster", None))
    strata = (pd.factorize(data[strata_cols[0]], sort=True)[0] if strata_cols
              else np.zeros(n, dtype=np.intp))
    if cluster_cols:
        keys = pd.MultiIndex.from_arrays([strata, data[cluster_cols[0]]])
        psu = pd.factorize(keys, sort=True)[0]
    else:
        psu = np.arange(n)
    return np.asarray(psu, dtype=np.intp), np.asarray(strata, dtype=np.intp)


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _design_df(design: Any, used: np.ndarray, psu: np.ndarray | None,
               strata: np.ndarray | None) -> float:
    """``degf`` over the rows used: PSUs - strata with a used row (R's ``degf`` of the subset).

    Equal to ``design.df`` unless missing values empty whole PSUs or strata; replicate
    designs: ``design.df``.
    """
    if psu is None:
        return float(design.df)
    n_psu = _present(psu[used])
    n_str = _present(strata[used])
    full = _present(psu) - _present(strata)
    return float(design.df) - (full - (n_psu - n_str))


def _present(codes: np.ndarray) -> int:
    """Count the distinct non-negative integer codes (a bincount, not a sort)."""
    return int(np.count_nonzero(np.bincount(codes))) if codes.size else 0


# ----------------------------------------------------------------------------- inputs

def _formula_parts(design: Any, formula: str, *, intercept: bool = True
                   ) -> tuple[str, np.ndarray, list[str], pd.Series]:
    """Outcome name, model matrix (NaN rows where a variable it reads is missing), terms, y.

    formulaic encodes a missing category as the reference level; a row with any missing
    variable of the formula gets NaN in every column instead, so it is left out.
    """
    example = "api00 ~ ell + meals"
    lhs, rhs = split_formula(formula, example=example)
    data = design.data
    if lhs not in data.columns:
        raise DataError(f"the outcome {lhs!r} of `formula` is not a column of the design's "
                        "data.")
    used = formula_variables(rhs, data)              # names any term not in the data
    X, terms, _ = model_matrix(rhs, data, na_action="ignore", intercept=intercept)
    _refuse_infinite(data, [lhs, *used])
    missing = data[used].isna().any(axis=1).to_numpy() if used else np.zeros(len(data), bool)
    if missing.any():
        X = X.copy()
        X[missing] = np.nan
    return lhs, X, terms, data[lhs]


def _refuse_infinite(data: pd.DataFrame, columns: list[str]) -> None:
    """Raise naming the formula's numeric columns with +-inf (NaN is missing; inf is an error).

    Without this an infinite value fell through ``np.isfinite`` in the complete-case mask and
    the row was silently dropped as if missing.
    """
    bad = []
    for c in dict.fromkeys(columns):
        s = data[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(v).any():
                bad.append(c)
    if bad:
        raise DataError(f"the formula's columns {bad} have infinite values; replace them "
                        "(or set them to NaN to leave those rows out).")


def _outcome(y: pd.Series, name: str, family: str) -> np.ndarray:
    """Return the outcome as floats (NaN where missing), checked against the family."""
    s = y
    if s.dtype == object:
        s = s.infer_objects()
    if pd.api.types.is_bool_dtype(s) or str(s.dtype) == "boolean":
        v = s.astype("float").to_numpy(dtype=float, na_value=np.nan)
    elif pd.api.types.is_numeric_dtype(s):
        v = s.to_numpy(dtype=float, na_value=np.nan)
    else:
        levels = shown_values(pd.unique(s.dropna()))
        hint = ("; for a binary model make a 0/1 or boolean column before building the "
                f"design (e.g. data[{name!r}].eq(<level>))" if family_of(family).base ==
                "binomial" else "; for an ordered item use olr()")
        raise DataError(f"the outcome {name!r} ({s.dtype}) must be numeric (or 0/1 / boolean "
                        f"for family={family!r}); it has values {levels}{hint}.")
    seen = v[np.isfinite(v)]
    base = family_of(family).base
    if family == "binomial" and not np.isin(seen, (0.0, 1.0)).all():
        raise DataError(f"family='binomial' needs a 0/1 (or boolean) outcome; {name!r} has "
                        f"values {shown_values(np.unique(seen))} (use 'quasibinomial' for "
                        "proportions in [0, 1]).")
    if family == "quasibinomial" and ((seen < 0) | (seen > 1)).any():
        raise DataError(f"family='quasibinomial' needs an outcome in [0, 1]; {name!r} has "
                        f"values {shown_values(np.unique(seen[(seen < 0) | (seen > 1)]))}.")
    if base == "poisson" and (seen < 0).any():
        raise DataError(f"family={family!r} needs a non-negative outcome; {name!r} has "
                        f"negative values {shown_values(np.unique(seen[seen < 0]))}.")
    if family == "poisson" and (seen != np.round(seen)).any():
        raise DataError(f"family='poisson' needs counts; {name!r} has non-integer values "
                        "(use 'quasipoisson').")
    return v


def _subset(design: Any, subset: Any) -> np.ndarray:
    """Return the domain mask: all rows, a boolean column of the data, or a boolean array."""
    from sosstats._validate import check_binary

    n = len(design.data)
    if subset is None:
        return np.ones(n, bool)
    if isinstance(subset, str):
        if subset not in design.data.columns:
            raise DataError(f"`subset` {subset!r} is not a column of the design's data.")
        mask = check_binary(design.data[subset], f"`subset` column {subset!r}")
    else:
        arr = np.asarray(subset)
        if arr.shape != (n,) or not (arr.dtype == bool or np.isin(arr, (0, 1)).all()):
            raise DataError(f"`subset` must be a column name or {n} booleans (one per row of "
                            "the design); got "
                            f"{arr.dtype} of shape {arr.shape}.")
        mask = arr.astype(bool)
    if not mask.any():
        raise DataError("`subset` selects no row.")
    return mask


def _domain_label(subset: Any) -> str:
    return "" if subset is None else repr(subset) if isinstance(subset, str) else "<mask>"


def _used_rows(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(complete rows, complete rows with a positive weight)."""
    complete = np.isfinite(y) & np.isfinite(X).all(axis=1)
    return complete, complete & (w > 0)


def _check_rank(X: np.ndarray, terms: list[str], w: np.ndarray | None = None) -> None:
    """Refuse too few rows, all-zero columns and collinear terms (weighted Gram matrix)."""
    n, p = X.shape
    if n <= p:
        raise DesignError(f"need more complete rows with a positive weight than coefficients; "
                          f"got {n} rows for {p} coefficients.")
    gram = (X.T @ X) if w is None else (X * w[:, None]).T @ X
    scale = np.sqrt(np.diag(gram))
    zero = [t for t, s in zip(terms, scale) if not s > 0]
    if zero:
        raise DesignError(f"term(s) {', '.join(map(repr, zero))} are zero in every row used: "
                          "drop them.")
    eig = np.linalg.eigvalsh(gram / np.outer(scale, scale))
    if eig[0] <= 1e-11 * eig[-1]:
        raise DesignError(f"the model matrix of {', '.join(map(repr, terms))} is rank "
                          "deficient (collinear terms) in the rows used: drop one.")


def _resolve_vcov(vcov: str | None, psu: np.ndarray | None, pos: np.ndarray
                  ) -> tuple[str, str]:
    """Return the covariance kind to use and, when chosen by default, the note saying so."""
    from sosstats._kernels.cluster import FEW_CLUSTERS, default_kind

    if vcov is not None:
        return vcov, ""
    if psu is None:
        return "design", ""
    g = _present(psu[pos])
    if default_kind(g) != "cr2":
        return "design", ""
    return "cr2", (f"vcov='cr2' by default: {g} PSUs, fewer than {FEW_CLUSTERS} (with ten "
                   "pilots design-based intervals of a pilot-level term under-cover: 89% for "
                   "95%); CR2 uses the PSUs only (strata, fpc and any calibration are left "
                   "out, which errs on the wide side); vcov='design' gives R survey's svyglm "
                   "/ svyolr errors.")


def _clusters_used(psu: np.ndarray | None, pos: np.ndarray, vcov: str) -> np.ndarray:
    if psu is None:
        raise DesignError(f"vcov={vcov!r} needs the design's PSUs; a replicate design has "
                          "none (use vcov='design').")
    codes = psu[pos]
    if _present(codes) < 2:
        raise DesignError("the rows used lie in fewer than two PSUs: design-based (and "
                          "cluster-robust) standard errors need at least two clusters.")
    return codes


def _df_note(kind: str, degf: float, p: int, *, ordinal: bool = False) -> str:
    """Where the reference df come from, as printed after "t on" / "F(q, d) with d = "."""
    if kind in ("design", "replicate"):
        if ordinal:
            return (f"design df = degf - slopes = {format_df(degf)} - {p} = "
                    f"{format_df(degf - p)} (R survey's svyolr)")
        return (f"design df = degf + 1 - p = {format_df(degf)} + 1 - {p} = "
                f"{format_df(degf + 1 - p)} (R survey's svyglm; degf = PSUs - strata)")
    if kind == "cr2":
        return "Satterthwaite df per term (clubSandwich coef_test)"
    return "G - 1 df"


def format_df(x: float) -> str:
    """Format a df as an integer when it is one."""
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.3g}"


# ----------------------------------------------------------------------------- glm

def glm(design: Any, formula: str, *,
        family: Literal["gaussian", "binomial", "quasibinomial", "poisson",
                        "quasipoisson"] = "gaussian",
        vcov: Literal["design", "cr0", "cr1", "cr2", "cr3"] | None = None,
        subset: str | np.ndarray | pd.Series | None = None, level: float = 0.95) -> SurveyGlmResult:
    r"""Design-based generalised linear model (R survey's ``svyglm``).

    Parameters
    ----------
    design : SurveyDesign
        The survey design (clusters, strata, fpc, weights; linearisation or replicate).
    formula : str
        ``"outcome ~ terms"`` on the design's data (formulaic syntax: ``C(x)`` for a factor,
        ``x1:x2`` interactions, ``- 1`` for no intercept).
    family : {"gaussian", "binomial", "quasibinomial", "poisson", "quasipoisson"}
        Canonical links: identity, logit, log. ``"binomial"`` needs a 0/1 outcome,
        ``"quasibinomial"`` accepts proportions; the estimates and design-based SEs of a
        family and its quasi-family are identical (the dispersion is not used).
    vcov : {"design", "cr0", "cr1", "cr2", "cr3"}, optional
        ``"design"``: the design-based sandwich (Binder 1983; R's ``svyglm``), t tests on
        the residual design df ``degf + 1 - p``; a replicate design uses its replicate
        weights (one refit per replicate). ``"cr2"``: the few-cluster alternative, the
        Bell-McCaffrey CR2 sandwich with the design's PSUs as clusters, Satterthwaite df per
        term, HTZ joint tests (clubSandwich on ``glm(weights = w)``); ``"cr0"``,
        ``"cr1"``, ``"cr3"``: the other kinds, ``G - 1`` df. The CR kinds ignore strata,
        fpc and calibration (conservative for such designs). Default (None): the rule of
        every sosstats entry point (:func:`sosstats._kernels.cluster.default_kind`):
        ``"cr2"`` for a linearisation design with fewer than 42 PSUs among the rows used
        (with ten pilots the design-based 95% intervals of a pilot-level term cover 89% and
        its joint test rejects 16% at 5%; CR2: 95% and 3%, ``benchmarks/survey_regression.py``),
        else ``"design"``; the summary says which was used.
    subset : str or array_like of bool, optional
        A domain: a boolean (or 0/1) column of the design's data, or a boolean array with one
        value per row. The model is fitted to the domain, estimated as a subpopulation (rows
        outside it keep their PSUs with zero scores; R's ``svyglm(subset = )``); the df are
        those of the PSUs and strata the domain reaches.
    level : float
        Default interval level.

    Returns
    -------
    SurveyGlmResult
        ``tidy()`` has estimate, std_error, statistic (t), p_value, df and the interval;
        ``wald_test(...)`` and ``contrast(...)`` test linear hypotheses.

    Raises
    ------
    DataError
        An outcome or term not in the data (named), a non-numeric outcome, a non-binary
        outcome for ``family="binomial"``, an outcome outside the family's range.
    DesignError
        Collinear terms, fewer complete rows than coefficients, fewer than two PSUs among the
        rows used, a CR kind on a replicate design.
    ConvergenceError
        The logit or Poisson fit does not converge (separation).

    Notes
    -----
    **Estimates.** :math:`\hat\beta` solves the weighted (pseudo-likelihood) score equations
    :math:`U(\beta) = \sum_i w_i x_i (y_i - \mu_i(\beta)) = 0` (canonical links), the
    design-consistent estimate of the census regression's coefficients. Rows with a missing
    outcome or term are left out of the fit and get zero scores (a domain of the design: every
    PSU keeps its place in the variance, as R's ``svyglm`` on the subset design).

    **Design-based variance** (Binder 1983; Lumley 2010, section 5.2): the sandwich
    :math:`\hat V = A^{-1} \operatorname{Var}_{design}\{\sum_i z_i\} A^{-1}` with
    :math:`A = \sum_i w_i V(\mu_i) x_i x_i'` and the weighted score contributions
    :math:`z_i = w_i x_i (y_i - \hat\mu_i)`: the design covariance of the totals of the
    influence values :math:`z_i A^{-1}` (``design._variance``: between-PSU variance within
    strata with the fpc, calibration residuals, or replicate weights), exactly R's
    ``svy.varcoef``. With replicate weights the model is refitted for each replicate column
    (all at once, from the full-sample estimate) and the replicate estimates enter the
    design's replicate variance (``svyglm.svyrep.design``). Scaling the weights by a constant
    changes neither the estimates nor the variance.

    **Degrees of freedom.** t tests and intervals use ``degf + 1 - p`` (svyglm's
    ``df.residual``), ``degf`` = PSUs - strata (of the rows used) or the replicate rank - 1;
    joint Wald tests refer :math:`Q/q` to :math:`F(q, degf + 1 - p)` (``regTermTest``).

    **Few clusters** (``vcov="cr2"``): with ten PSUs the design-based sandwich, a CR0-type
    estimator with an ``n_h / (n_h - 1)`` factor, is biased downwards when the PSUs differ in
    leverage; the CR2 adjustment (Bell and McCaffrey 2002, generalised to GLMs as in
    clubSandwich's ``vcovCR.glm``: working model :math:`\operatorname{Var}(y_i) = V(\mu_i) /
    w_i`) removes that bias under the working model, and Satterthwaite df replace
    ``degf + 1 - p`` (:func:`sosstats._kernels.cluster_glm.glm_cluster_vcov`).

    References
    ----------
    Binder, D. A. (1983). *International Statistical Review* 51(3), 279-292.
    Lumley, T. (2010). *Complex Surveys*, ch. 5. Wiley.
    Bell, R. M. and McCaffrey, D. F. (2002). *Survey Methodology* 28(2), 169-181.
    Pustejovsky, J. E. and Tipton, E. (2018). *JBES* 36(4), 672-683.

    Examples
    --------
    >>> from sosstats.datasets import simulate_evaluation
    >>> from sosstats.survey import SurveyDesign
    >>> workers = simulate_evaluation(rng=2017).worker_survey
    >>> design = SurveyDesign(workers, cluster="la_code")
    >>> fit = glm(design, "confidence ~ C(experience)")      # 10 PSUs: CR2 by default
    >>> fit.inference
    'cr2'
    >>> test = fit.wald_test("C(experience)")                 # HTZ joint test
    >>> round(test.p_value, 3)
    0.483
    >>> svyglm = glm(design, "confidence ~ C(experience)", vcov="design")
    >>> round(svyglm.wald_test("C(experience)").p_value, 3)  # regTermTest
    0.237
    """
    _check_design(design)
    family = check_option(family, tuple(FAMILIES), "family")
    if vcov is not None:
        check_option(vcov, VCOV_KINDS, "vcov")
    level = check_level(level)
    fam = family_of(family)
    lhs, X, terms, ycol = _formula_parts(design, formula)
    y = _outcome(ycol, lhs, family)
    w = np.asarray(design.weights, dtype=float)
    complete, pos = _used_rows(X, y, w)
    inside = _subset(design, subset)
    pos &= inside
    n, p = X.shape
    every = bool(pos.all())
    xp, yp, wp = (X, y, w) if every else (X[pos], y[pos], w[pos])
    _check_rank(xp, terms, wp)
    psu, strata = _psu_codes(design)
    if psu is not None and _present(psu[pos]) < 2:
        raise DesignError("the rows used lie in fewer than two PSUs: design-based standard "
                          "errors need at least two clusters.")
    vcov, default_note = _resolve_vcov(vcov, psu, pos)
    beta, mu = _fit_checked(xp, yp, wp, fam, terms, lhs)
    var_mu = fam.variance(mu)
    resid = yp - mu
    kind = "replicate" if design.kind != "linearization" and vcov == "design" else vcov
    if vcov == "design":
        xs = xp * np.sqrt(wp * var_mu)[:, None]
        info = xs.T @ xs                                   # one syrk
        ainv = np.linalg.inv(info)
        ainv = 0.5 * (ainv + ainv.T)
        z = (xp * (wp * resid)[:, None]) @ ainv
        if every:
            infl = z
        else:
            infl = np.zeros((n, p))
            infl[pos] = z

        def estimator(W: np.ndarray) -> np.ndarray:
            Wp = np.asarray(W, dtype=float)
            return fit_glm(xp, yp, Wp if every else Wp[pos], fam, beta0=beta)[0]

        vc = np.asarray(design._variance(estimator, infl), dtype=float).reshape(p, p)
        degf = _design_df(design, pos, psu, strata)
        df = np.full(p, degf + 1 - p)
        fit = DesignFit(X=xp, resid=resid, beta=beta, terms=list(terms), vcov=vc, kind=kind,
                        weights=wp, design_df=degf + 1 - p)
    else:
        from sosstats._kernels.cluster_glm import glm_cluster_vcov

        codes = _clusters_used(psu, pos, vcov)
        cv = glm_cluster_vcov(xp, resid, codes, variance=var_mu, weights=wp, kind=vcov)
        vc, df = cv.vcov, np.asarray(cv.df, dtype=float)
        degf = float(cv.n_clusters - 1)
        fit = _cluster_fit(xp, resid, codes, var_mu, wp, beta, terms, vc, vcov)
    vc = 0.5 * (vc + vc.T)
    table = estimate_table(beta, vc, list(terms), df)
    table["deff"] = _deff(vc, xp, yp, wp, mu, var_mu, fam, float(w[inside].mean()),
                          info if vcov == "design" else None)
    return SurveyGlmResult(
        table=table, vcov=pd.DataFrame(vc, index=terms, columns=terms), formula=formula,
        family=family, link=fam.link, inference=kind, nobs=int(pos.sum()),
        n_dropped=int((~complete & inside).sum()), n_clusters=_count(psu),
        n_strata=_count(strata) if _names(getattr(design, "strata", None)) else None,
        design_df=float(df[0]) if kind in ("design", "replicate") else float("nan"),
        degf=degf, df_note=_df_note(kind, degf, p), default_note=default_note,
        domain=_domain_label(subset), level=level, _fit=fit)


def _fit_checked(X: np.ndarray, y: np.ndarray, w: np.ndarray, fam: Any, terms: list[str],
                 outcome: str) -> tuple[np.ndarray, np.ndarray]:
    """Fit the full sample; a logit that diverges or fits 0/1 is checked for separation.

    Separation is confirmed by the exact linear programme of
    :func:`sosstats.panel._logit._separation` (run only then: it costs more than the fit).
    """
    from sosstats.errors import ConvergenceError

    failure: Exception | None = None
    try:
        beta, mu = fit_glm(X, y, w[:, None], fam)
        beta, mu = beta[0], mu[:, 0]
        if fam.base != "binomial" or not (np.minimum(mu, 1 - mu) < 1e-10).any():
            return beta, mu
    except (ConvergenceError, DesignError) as exc:   # diverging, or V(mu) -> 0 in the fit
        if fam.base != "binomial":
            raise
        failure = exc
    if np.isin(y, (0.0, 1.0)).all():
        from sosstats.panel._logit import _separation, _separation_error

        free = np.ptp(X, axis=0) > 0             # the intercept is the LP's cut-point
        sep = _separation(X[:, free], y.astype(np.intp), 2)
        if sep is not None:
            raise _separation_error(sep, [t for t, f in zip(terms, free) if f], outcome)
    if failure is not None:
        raise failure
    raise DesignError("fitted probabilities of 0 or 1: a term (nearly) perfectly predicts "
                      f"{outcome!r} (quasi-separation); merge categories or drop the term.")


def _deff(vc: np.ndarray, X: np.ndarray, y: np.ndarray, w: np.ndarray, mu: np.ndarray,
          var_mu: np.ndarray, fam: Any, w_mean: float,
          info: np.ndarray | None = None) -> np.ndarray:
    r"""Design effects: the variance over a simple random sample's (``svyglm(deff = TRUE)``).

    :math:`V_{srs} = \phi\, (X' \operatorname{diag}(\tilde w V(\mu)) X)^{-1}` with the
    weights rescaled to mean 1 over the design's rows (``\tilde w = w / \bar w``) and the
    dispersion :math:`\phi = 1` (binomial, Poisson) or the Pearson
    :math:`\sum \tilde w (y - \mu)^2 / V(\mu) / (n - p)` (gaussian, quasi-families):
    R's ``summary(glm)$cov.scaled``. ``deff = diag(V) / diag(V_srs)``. ``info`` is
    :math:`X' \operatorname{diag}(w V(\mu)) X` when the caller has it.
    """
    wt = w / w_mean
    n, p = X.shape
    phi = 1.0
    if fam.base == "gaussian" or fam.quasi:
        phi = float(np.sum(wt * (y - mu) ** 2 / var_mu) / (n - p))
    if info is None:                   # X' diag(w V) X; here with the rescaled weights
        xs = X * np.sqrt(w * var_mu)[:, None]
        info = xs.T @ xs
    info = info / w_mean
    v_srs = phi * np.diag(np.linalg.inv(info))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.diag(vc) / v_srs


def _count(codes: np.ndarray | None) -> int | None:
    return None if codes is None else _present(codes)


def _cluster_fit(X: np.ndarray, resid: np.ndarray, codes: np.ndarray, var_mu: np.ndarray,
                 w: np.ndarray, beta: np.ndarray, terms: list[str], vc: np.ndarray,
                 kind: str) -> DesignFit:
    """Return the GLM in the form :mod:`sosstats._hypotheses` tests (CR2: glm HTZ kernel)."""
    from sosstats._kernels.cluster_glm import glm_satterthwaite_df, glm_wald_htz

    def htz(R: np.ndarray, r: np.ndarray) -> tuple[float, float, float, float]:
        res = glm_wald_htz(X, resid, codes, beta, R, r, variance=var_mu, weights=w)
        return res.statistic, res.df_denom, res.p_value, res.q_stat

    def contrast_df(c: np.ndarray) -> float:
        return float(glm_satterthwaite_df(X, codes, c, variance=var_mu, weights=w))

    cr2 = kind == "cr2"
    return DesignFit(X=X, resid=resid, beta=beta, terms=list(terms), vcov=vc, kind=kind,
                     clusters=codes, weights=w, htz=htz if cr2 else None,
                     contrast_df=contrast_df if cr2 else None,
                     design_df=float(np.unique(codes).size - 1))


# ----------------------------------------------------------------------------- olr

def olr(design: Any, formula: str, *, categories: Sequence[Any] | None = None,
        vcov: Literal["design", "cr0", "cr1", "cr2", "cr3"] | None = None,
        subset: str | np.ndarray | pd.Series | None = None, level: float = 0.95) -> SurveyOlrResult:
    r"""Design-based proportional-odds model of an ordinal item (R survey's ``svyolr``).

    Parameters
    ----------
    design : SurveyDesign
        The survey design.
    formula : str
        ``"item ~ terms"``; the item is numeric codes, an ordered categorical, or any values
        with ``categories`` giving their order. The intercept is replaced by the cut-points.
    categories : sequence, optional
        The item's levels, lowest first (default: the categorical's order, else sorted).
    vcov : {"design", "cr0", "cr1", "cr2", "cr3"}, optional
        ``"design"``: design-based sandwich, t on ``degf - slopes`` df (svyolr's
        ``df.residual``); replicate designs refit per replicate. CR kinds: the score-form
        few-cluster sandwich of :func:`sosstats._kernels.cluster_glm.score_cluster_vcov`
        (as :func:`sosstats.panel.ordered_change`), PSUs as clusters; CR2 with Satterthwaite
        df per coefficient and contrast and HTZ joint tests (score form), the others
        ``G - 1``. Default (None): ``"cr2"`` with fewer than 42 PSUs (linearisation designs),
        else ``"design"``, as :func:`glm`.
    subset : str or array_like of bool, optional
        A domain: a boolean (or 0/1) column of the design's data, or a boolean array with one
        value per row. The model is fitted to the domain, estimated as a subpopulation (rows
        outside it keep their PSUs with zero scores; R's ``svyglm(subset = )``); the df are
        those of the PSUs and strata the domain reaches.
    level : float
        Default interval level.

    Returns
    -------
    SurveyOlrResult
        Slopes (log cumulative odds ratios of a higher category), then cut-points ``"a|b"``.

    Raises
    ------
    DataError
        An item or term not in the data, item values not in ``categories``.
    DesignError
        Fewer than two categories, collinear terms, separation, fewer than two PSUs.

    Notes
    -----
    :math:`P(y_i \le k) = \operatorname{expit}(c_k - x_i'\beta)`, fitted by Newton's method
    on the weighted log-likelihood :math:`\sum_i w_i \log P(y_i)` (concave in
    :math:`(\beta, c)`; the model of :func:`sosstats.panel.ordered_change`). Variance: the
    design covariance of the influence values :math:`w_i s_i H^{-1}` (``s_i`` the unit's
    score, ``H`` the weighted observed information), svyolr's ``svyrecvar(inffun)``. R's
    svyolr maximises with BFGS and differentiates the gradient numerically for ``H``: its
    values carry ~1e-6 of optimisation and differencing error, ours are exact to rounding.

    References
    ----------
    McCullagh, P. (1980). *JRSS B* 42(2), 109-142.
    Lumley, T. (2010). *Complex Surveys*, section 6.3. Wiley.
    """
    from sosstats._kernels.cluster_cr2 import group_sum
    from sosstats.panel._logit import _separation, _separation_error
    from sosstats.panel._ordered_likelihood import _label, _Ordered, _ordinal_codes

    _check_design(design)
    if vcov is not None:
        check_option(vcov, VCOV_KINDS, "vcov")
    level = check_level(level)
    lhs, X, terms, ycol = _formula_parts(design, formula, intercept=False)
    w = np.asarray(design.weights, dtype=float)
    observed = ycol.notna().to_numpy()
    complete = observed & np.isfinite(X).all(axis=1)
    inside = _subset(design, subset)
    pos = complete & (w > 0) & inside
    frame = pd.DataFrame({lhs: ycol[pos]})
    yk, cats = _ordinal_codes(frame, lhs, categories)
    k = len(cats)
    n, p = X.shape
    xp, wp = X[pos], w[pos]
    if p:
        _check_rank(np.column_stack([np.ones(pos.sum()), xp]), ["(cut-points)", *terms])
    if k < 2:
        raise DesignError(f"{lhs!r} has a single category in the rows used.")
    sep = _separation(xp, yk, k)
    if sep is not None:
        raise _separation_error(sep, list(terms), lhs)
    psu, strata = _psu_codes(design)
    if psu is not None and _present(psu[pos]) < 2:
        raise DesignError("the rows used lie in fewer than two PSUs: design-based standard "
                          "errors need at least two clusters.")
    vcov, default_note = _resolve_vcov(vcov, psu, pos)
    model = _Ordered(xp, yk, k, wp)
    theta = model.fit()
    q = theta.size
    labels = [_label(c) for c in cats]
    names = list(terms) + [f"{labels[j]}|{labels[j + 1]}" for j in range(k - 1)]
    kind = "replicate" if design.kind != "linearization" and vcov == "design" else vcov
    hooks: dict[str, Any] = {}
    if vcov == "design":
        ws, info = model.information(theta)
        hinv = np.linalg.inv(info)
        infl = np.zeros((n, q))
        infl[pos] = ws @ hinv

        def estimator(W: np.ndarray) -> np.ndarray:
            Wp = np.asarray(W, dtype=float)[pos]
            out = np.empty((Wp.shape[1], q))
            for b in range(Wp.shape[1]):          # one Newton refit per replicate
                out[b] = _Ordered(xp, yk, k, Wp[:, b]).fit(theta0=theta)
            return out

        vc = np.asarray(design._variance(estimator, infl), dtype=float).reshape(q, q)
        degf = _design_df(design, pos, psu, strata)
        df = np.full(q, degf - p)
        design_df = degf - p
    else:
        from sosstats._kernels.cluster_glm import score_cluster_vcov

        codes = _clusters_used(psu, pos, vcov)
        codes, g = pd.factorize(codes, sort=True)[0], int(np.unique(codes).size)
        ws, info_g = model.information(theta, codes, g)
        cv = score_cluster_vcov(group_sum(codes, g, ws), info_g, kind=vcov)
        vc, df = cv.vcov, np.asarray(cv.df, dtype=float)
        degf, design_df = float(g - 1), float("nan")
        if vcov == "cr2":                        # HTZ / Satterthwaite in score form
            hooks = {**_score_hooks(theta, 0.5 * (cv.vcov + cv.vcov.T), info_g, g),
                     "clusters": codes}
    vc = 0.5 * (vc + vc.T)
    table = estimate_table(theta, vc, names, df)
    fit = DesignFit(X=np.column_stack([xp, np.zeros((xp.shape[0], k - 1))]),
                    resid=np.zeros(xp.shape[0]), beta=theta, terms=names, vcov=vc,
                    kind=kind, weights=wp, design_df=design_df, **hooks)
    return SurveyOlrResult(
        table=table, vcov=pd.DataFrame(vc, index=names, columns=names), formula=formula,
        categories=tuple(cats), inference=kind, nobs=int(pos.sum()),
        n_dropped=int((~complete & inside).sum()), n_clusters=_count(psu),
        n_strata=_count(strata) if _names(getattr(design, "strata", None)) else None,
        design_df=design_df, degf=degf,
        df_note=_df_note(kind, degf, p, ordinal=True) if kind in ("design", "replicate")
        else _df_note(kind, degf, p), default_note=default_note,
        domain=_domain_label(subset), level=level, _fit=fit)


def _score_hooks(theta: np.ndarray, vcov: np.ndarray, info: np.ndarray, g: int
                 ) -> dict[str, Any]:
    """``htz`` and ``contrast_df`` of a score-form CR2 fit (:mod:`sosstats._kernels.score_wald`)."""
    from sosstats._kernels.score_wald import score_htz_nu, score_wald_htz

    def htz(R: np.ndarray, r: np.ndarray) -> tuple[float, float, float, float]:
        res = score_wald_htz(np.zeros((g, theta.size)), info, theta, vcov, R, r)
        return res.statistic, res.df_denom, res.p_value, res.wald

    def contrast_df(c: np.ndarray) -> float:
        return score_htz_nu(info, np.asarray(c, dtype=float)[None, :])

    return {"htz": htz, "contrast_df": contrast_df}

"""Survey tables with design-based inference (issue 15).

:class:`SurveyDesign` describes how respondents were sampled (strata, clusters, weights, finite
population corrections, or replicate weights from :mod:`sosstats.weighting`); its methods give
means, totals, proportions and quantiles by domain with design-based standard errors, design
effects and t intervals on the design's degrees of freedom (``mean``, ``total``,
``proportion``, ``quantile``), Rao-Scott tests of two-way tables (``chisq``), contrasts between
domains and ordinal trend tests (``compare``, ``trend``), calibrated designs (``calibrate``,
``rake``, ``poststratify``) and design-based regression (``glm``, ``olr``). The module
functions take the design as their first argument and are the same calls.

Agreement of coders who rated the same cases is in :func:`cohens_kappa`, :func:`fleiss_kappa`,
:func:`krippendorff_alpha`, :func:`gwet_ac1`, :func:`percent_agreement` and
:func:`agreement` (all of them in one table), with analytic and cluster-bootstrap intervals.
"""

from sosstats.survey.agreement import (
    AgreementResult,
    AgreementTable,
    CohenKappaResult,
    agreement,
    cohens_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
)
from sosstats.survey.calibration import calibrate, poststratify, rake
from sosstats.survey.chisq import ChisqItemsResult, ChisqResult, chisq
from sosstats.survey.contrasts import (
    DomainContrastResult,
    TrendItemsResult,
    TrendResult,
    compare,
    trend,
)
from sosstats.survey.design import SurveyDesign
from sosstats.survey.estimates import mean, proportion, quantile, total
from sosstats.survey.regression import SurveyGlmResult, SurveyOlrResult, glm, olr

__all__ = [
    "SurveyDesign",
    "mean",
    "total",
    "proportion",
    "quantile",
    "chisq",
    "compare",
    "trend",
    "calibrate",
    "rake",
    "poststratify",
    "glm",
    "olr",
    "cohens_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "gwet_ac1",
    "percent_agreement",
    "agreement",
    "AgreementResult",
    "AgreementTable",
    "CohenKappaResult",
    "ChisqResult",
    "ChisqItemsResult",
    "DomainContrastResult",
    "TrendResult",
    "TrendItemsResult",
    "SurveyGlmResult",
    "SurveyOlrResult",
]

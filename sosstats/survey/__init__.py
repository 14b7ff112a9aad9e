"""Survey tables with design-based inference (issue 15).

:class:`SurveyDesign` describes how respondents were sampled (strata, clusters, weights, finite
population corrections, or replicate weights from :mod:`sosstats.weighting`); its methods give
means, totals, proportions and quantiles by domain with design-based standard errors, design
effects and t intervals on the design's degrees of freedom.
"""

from sosstats.survey.design import SurveyDesign

__all__ = ["SurveyDesign"]

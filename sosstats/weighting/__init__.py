"""Weighting for attrition: make the Time 2 respondents stand for the Time 1 sample.

Look (:func:`response_rates`, :func:`nonresponse_tests`), weight (:func:`attrition_weights`),
estimate with honest standard errors (:func:`weighted_mean`, :func:`weighted_proportion`,
:func:`replicate_weights`), check what the weighting changed (:func:`weighting_effect`), bound
what it cannot fix (:func:`manski_bounds`, :func:`lee_bounds`, :func:`tipping_point`), or impute
instead (:func:`impute_chained`, :func:`pool`, :func:`mi_change_model`).
"""

from sosstats.weighting.attrition import METHODS, AttritionWeights, attrition_weights
from sosstats.weighting.effect import WeightingEffect, weighting_effect
from sosstats.weighting.estimates import WeightedMeanResult, weighted_mean, weighted_proportion
from sosstats.weighting.imputation import Imputations, impute_chained, mi_change_model
from sosstats.weighting.nonresponse import (
    NonresponseTests,
    ResponseRates,
    nonresponse_tests,
    response_rates,
)
from sosstats.weighting.replicates import ReplicateWeights, replicate_weights
from sosstats.weighting.rubin import PooledResult, pool, pool_estimates
from sosstats.weighting.sensitivity import (
    LeeBounds,
    ManskiBounds,
    lee_bounds,
    manski_bounds,
)
from sosstats.weighting.tipping import TippingPoint, tipping_point

__all__ = [
    "METHODS",
    "attrition_weights", "AttritionWeights",
    "replicate_weights", "ReplicateWeights",
    "weighted_mean", "weighted_proportion", "WeightedMeanResult",
    "response_rates", "ResponseRates", "nonresponse_tests", "NonresponseTests",
    "weighting_effect", "WeightingEffect",
    "manski_bounds", "ManskiBounds", "lee_bounds", "LeeBounds", "tipping_point", "TippingPoint",
    "impute_chained", "Imputations", "pool", "pool_estimates", "PooledResult",
    "mi_change_model",
]

"""Weighting for attrition: make the Time 2 respondents stand for the Time 1 sample.

Public API: :func:`attrition_weights` and its result :class:`AttritionWeights`.
"""

from sosstats.weighting.attrition import METHODS, AttritionWeights, attrition_weights

__all__ = ["attrition_weights", "AttritionWeights", "METHODS"]

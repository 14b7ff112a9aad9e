"""Bayesian multilevel models of family outcomes in workers in pilots (PyMC, nutpie, ArviZ).

:class:`MultilevelModel` specifies and checks a model (pure numpy / pandas);
:meth:`MultilevelModel.fit` samples it and returns a :class:`MultilevelResult`;
:func:`compare_models` compares fits by PSIS-LOO and :func:`prior_sensitivity` refits (or
power-scales) a model with its priors' scales multiplied. PyMC, nutpie and
ArviZ are imported only when a model is built or fitted, so importing this package is fast.
"""

from __future__ import annotations

from sosstats.multilevel.prior_scaling import scale_priors
from sosstats.multilevel.compare import ModelComparison, compare_models
from sosstats.multilevel.model import MultilevelModel
from sosstats.multilevel.priors import Prior, Priors
from sosstats.multilevel.results import MultilevelResult, PosteriorPredictiveCheck
from sosstats.multilevel.sensitivity import PriorSensitivity, prior_sensitivity

__all__ = ["ModelComparison", "MultilevelModel", "MultilevelResult", "PosteriorPredictiveCheck",
           "Prior", "PriorSensitivity", "Priors", "compare_models", "prior_sensitivity",
           "scale_priors"]

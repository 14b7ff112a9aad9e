"""Bayesian multilevel models of family outcomes in workers in pilots (PyMC, nutpie, ArviZ).

:class:`MultilevelModel` specifies and checks a model (pure numpy / pandas);
:meth:`MultilevelModel.fit` samples it and returns a :class:`MultilevelResult`;
:func:`compare_models` compares fits by PSIS-LOO and :func:`prior_sensitivity` refits (or
power-scales) a model with its priors' scales multiplied; :func:`clear_compiled_cache`,
:func:`set_compiled_cache` and :func:`compiled_cache_info` control the reuse of compiled
models across fits of the same structure. PyMC, nutpie and
ArviZ are imported only when a model is built or fitted, so importing this package is fast.
"""

from __future__ import annotations

from sosstats.multilevel.compare import ModelComparison, compare_models
from sosstats.multilevel.compiled_cache import (
    clear_compiled_cache,
    compiled_cache_info,
    set_compiled_cache,
)
from sosstats.multilevel.model import MultilevelModel
from sosstats.multilevel.prior_scaling import scale_priors
from sosstats.multilevel.priors import Prior, Priors
from sosstats.multilevel.results import MultilevelResult, PosteriorPredictiveCheck
from sosstats.multilevel.sensitivity import PriorSensitivity, prior_sensitivity

__all__ = ["ModelComparison", "MultilevelModel", "MultilevelResult", "PosteriorPredictiveCheck",
           "Prior", "PriorSensitivity", "Priors", "clear_compiled_cache", "compare_models",
           "compiled_cache_info", "prior_sensitivity", "scale_priors", "set_compiled_cache"]

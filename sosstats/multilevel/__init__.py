"""Bayesian multilevel models of family outcomes in workers in pilots (PyMC, nutpie, ArviZ).

:class:`MultilevelModel` specifies and checks a model (pure numpy / pandas);
:meth:`MultilevelModel.fit` samples it and returns a :class:`MultilevelResult`. PyMC, nutpie and
ArviZ are imported only when a model is built or fitted, so importing this package is fast.
"""

from __future__ import annotations

from sosstats.multilevel.model import MultilevelModel
from sosstats.multilevel.priors import Prior, Priors
from sosstats.multilevel.results import MultilevelResult, PosteriorPredictiveCheck

__all__ = ["MultilevelModel", "MultilevelResult", "PosteriorPredictiveCheck", "Prior", "Priors"]

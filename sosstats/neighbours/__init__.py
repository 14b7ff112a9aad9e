"""Statistical nearest neighbours: did pilot LAs do better than LAs like them.

- :class:`StatisticalNeighbours` fits a DfE/CIPFA-style neighbour model (weighted Euclidean
  distance on standardised features); :func:`from_published` uses a published list instead.
- :func:`compare` compares treated LAs with their neighbours on many indicators at once.
- :func:`neighbour_did` and :func:`synthetic_control` follow them over years.
- :func:`rate_per_10k`, :func:`funnel_limits` and :func:`funnel_plot` for rates.
- :func:`reproduce_2016` recomputes the Signs of Safety evaluation's published 2015/16 table.

See ``docs/neighbours.md`` for the maths and references.
"""

from __future__ import annotations

from sosstats.neighbours.ranking import NeighbourRanking
from sosstats.neighbours.stability import NeighbourOverlap, neighbour_recovery, neighbour_stability
from sosstats.neighbours.weights import learn_weights
from sosstats.neighbours.compare import ComparisonResult, compare
from sosstats.neighbours.did import DiDResult, neighbour_did
from sosstats.neighbours.model import FittedNeighbours, StatisticalNeighbours, from_published
from sosstats.neighbours.randomization import RandomizationResult, randomization_distribution
from sosstats.neighbours.rates import funnel_limits, funnel_plot, poisson_interval, rate_per_10k
from sosstats.neighbours.reproduce import reproduce_2016, simulated_comparison
from sosstats.neighbours.synth import SyntheticControlResult, synthetic_control

__all__ = [
    "ComparisonResult",
    "DiDResult",
    "FittedNeighbours",
    "NeighbourOverlap",
    "NeighbourRanking",
    "RandomizationResult",
    "StatisticalNeighbours",
    "SyntheticControlResult",
    "compare",
    "from_published",
    "funnel_limits",
    "funnel_plot",
    "learn_weights",
    "neighbour_did",
    "neighbour_recovery",
    "neighbour_stability",
    "poisson_interval",
    "randomization_distribution",
    "rate_per_10k",
    "reproduce_2016",
    "simulated_comparison",
    "synthetic_control",
]

"""Data for sosstats: a simulator of whole evaluations, and real public DfE data.

- :func:`simulate_evaluation` builds a synthetic evaluation with the Signs of Safety study's
  shape (LAs and their indicators, workers, families at Time 1 and Time 2, memberships, time
  diaries, the social-worker survey, families' views and double-coded case records) and
  returns the true effects used to make it.
- :func:`load_la_indicators`, :func:`load_indicator_dictionary` and
  :func:`load_statistical_neighbours` read the DfE data shipped with the package (Open
  Government Licence v3.0; provenance in ``sosstats/datasets/data/SOURCES.md``); LAIT series
  that copy a children-in-need series are left out (:data:`DUPLICATE_INDICATORS`,
  :func:`find_duplicate_indicators`).
- :func:`signs_of_safety_pilots` and :func:`published_2016` give the study's pilots and its
  published 2015/16 comparison.
- :func:`simulate_census` draws census-shaped child-level data (600,000 children in 20,000
  workers in 152 LAs by default) with a known multilevel logit, for national-scale models.
"""

from __future__ import annotations

from sosstats.datasets.loaders import (
    DUPLICATE_INDICATORS,
    find_duplicate_indicators,
    load_indicator_dictionary,
    load_la_indicators,
    load_statistical_neighbours,
)
from sosstats.datasets._simulate_census import Census, simulate_census
from sosstats.datasets.published import published_2016, signs_of_safety_pilots
from sosstats.datasets.simulate import COVARIATES, Evaluation, simulate_evaluation

__all__ = [
    "COVARIATES",
    "Evaluation",
    "simulate_evaluation",
    "Census",
    "simulate_census",
    "DUPLICATE_INDICATORS",
    "find_duplicate_indicators",
    "load_la_indicators",
    "load_indicator_dictionary",
    "load_statistical_neighbours",
    "published_2016",
    "signs_of_safety_pilots",
]

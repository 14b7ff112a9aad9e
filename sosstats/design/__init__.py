"""Designing a study by simulation (issue 17): power, size, coverage and bias of any estimator.

:func:`simulate_study` runs a design (``design(rng) -> DataFrame``, or a ready-made design
object) and an estimator (``estimator(data) -> sosstats result``) over many replicates, each
with its own child of one ``numpy.random.SeedSequence``, in this process, on a local process
pool (``n_jobs=``) or on a Dask cluster (``client=``), with identical numbers whichever runs
them. It returns a :class:`SimulationResult`: per term bias, RMSE, coverage and rejection rate
with Monte Carlo standard errors (Morris, White & Crowther 2019).

Ready-made designs over ``simulate_evaluation`` (:func:`study_2017`, :func:`matched_la_did`,
:func:`stepped_wedge`, :func:`two_arm`, :func:`restricted_allocations`,
:func:`evaluation_families`) and their analysis (:func:`change_estimator`, which fits a chunk of
replicates at once where the design can simulate one as arrays), power curves and
minimum detectable effects (:func:`power_curve`, :func:`minimum_detectable_effect`,
:func:`combine_estimators`) and simulation-based calibration of Bayesian models (:func:`sbc`,
:func:`posterior_draws`) build on it.
"""

from sosstats.design._study_designs import EvaluationFamilies, evaluation_families
from sosstats.design.designs import (
    AllocationSet,
    MatchedDiD,
    MeanDifferenceResult,
    SteppedWedge,
    Study2017,
    TwoArm,
    matched_la_did,
    restricted_allocations,
    stepped_wedge,
    study_2017,
    two_arm,
)
from sosstats.design.estimators import ChangeEstimator, change_estimator
from sosstats.design.power import (
    MDEResult,
    PowerCurveResult,
    combine_estimators,
    minimum_detectable_effect,
    power_curve,
)
from sosstats.design.result import SimulationResult
from sosstats.design.sbc import SBCResult, posterior_draws, sbc
from sosstats.design.simulate import simulate_study

__all__ = [
    "simulate_study", "SimulationResult",
    "study_2017", "matched_la_did", "stepped_wedge", "two_arm", "restricted_allocations",
    "evaluation_families", "change_estimator",
    "Study2017", "MatchedDiD", "SteppedWedge", "TwoArm", "AllocationSet",
    "EvaluationFamilies", "ChangeEstimator",
    "MeanDifferenceResult",
    "power_curve", "minimum_detectable_effect", "combine_estimators", "PowerCurveResult",
    "MDEResult",
    "sbc", "posterior_draws", "SBCResult",
]

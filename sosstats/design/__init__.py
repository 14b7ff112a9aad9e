"""Designing a study by simulation (issue 17): power, size, coverage and bias of any estimator.

:func:`simulate_study` runs a design (``design(rng) -> DataFrame``, or a ready-made design
object) and an estimator (``estimator(data) -> sosstats result``) over many replicates, each
with its own child of one ``numpy.random.SeedSequence``, in this process, on a local process
pool (``n_jobs=``) or on a Dask cluster (``client=``), with identical numbers whichever runs
them. It returns a :class:`SimulationResult`: per term bias, RMSE, coverage and rejection rate
with Monte Carlo standard errors (Morris, White & Crowther 2019).
"""

from sosstats.design.result import SimulationResult
from sosstats.design.simulate import simulate_study

__all__ = ["simulate_study", "SimulationResult"]

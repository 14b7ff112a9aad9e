"""``simulate_evaluation``'s families table, bit for bit, without the rest of the evaluation.

:func:`sosstats.datasets.simulate_evaluation` seeds each part of the evaluation from its own
child of one ``SeedSequence``: ``root = SeedSequence(gen.integers(0, 2**63))`` and children 0
(LAs), 1 (indicators), 2 (workers), 3 (families), 4 (diaries), then the survey parts. The
families depend only on children 0, 2 and 3: the pilots and their experience groups and child
populations (from the LA draws), the workers' pilots and agency status (the first draws of the
workers' stream) and the family stream itself. :func:`evaluation_family_draws` makes exactly
those draws, in the same order, and skips everything else (the LA frame and names, the 50,000
indicator cells, the workers' tools, diaries, survey, views and case records, the truth
dictionaries): the families' values are the same to the last bit (tested against
``simulate_evaluation`` for several seeds and sizes) at about a twentieth of the cost.

The LA draws repeat the stream of :func:`sosstats.datasets._simulate_las.simulate_las` up to
the pilots' experience groups (regions, latent factors, child population, the covariates'
noise, the pilot sample and the experience permutation); the covariate values themselves are
not needed, but their draws are made so that the pilot draws that follow are the same.
"""

from __future__ import annotations

import numpy as np

from sosstats.datasets._simulate_families import (
    FamilyDraws,
    draw_families,
    draw_worker_allocation,
)
from sosstats.datasets._simulate_las import (
    _COVARIATE_MODEL,
    _EXPERIENCE_SHARES,
    _TYPE_LOG_POP,
    _TYPE_LOG_POP_SD,
    _TYPES,
    COVARIATES,
    REGIONS,
    _largest_remainder,
)

__all__ = ["evaluation_family_draws", "la_codes"]

#: children of simulate_evaluation's root seed used by the families
_LAS, _WORKERS, _FAMILIES = 0, 2, 3


def la_codes(n_las: int) -> np.ndarray:
    """Return the codes ``simulate_las`` gives ``n_las`` LAs (no randomness: prefix + number)."""
    type_counts = _largest_remainder(n_las, [sum(r) for _, r in _TYPES])
    return np.array([f"{prefix}{900001 + k:06d}" for (prefix, _), count in
                     zip(_TYPES, type_counts) for k in range(count)], dtype=object)


def _pilot_draws(rng: np.random.Generator, n_las: int,
                 n_pilots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pilot positions, experience codes and child populations, as ``simulate_las`` draws them."""
    type_counts = _largest_remainder(n_las, [sum(r) for _, r in _TYPES])
    type_idx = np.repeat(np.arange(len(_TYPES)), type_counts)
    for (_, regions), count in zip(_TYPES, type_counts):
        rng.permutation(np.repeat(np.arange(len(REGIONS)),
                                  _largest_remainder(int(count), regions)))
    rng.normal(0.0, 0.5, n_las)                                     # urbanity
    rng.normal(0.0, 0.6, n_las)                                     # deprivation
    log_pop = _TYPE_LOG_POP[type_idx] + _TYPE_LOG_POP_SD[type_idx] * rng.standard_normal(n_las)
    child_population = np.clip(np.round(np.exp(log_pop)), 5_000, 330_000).astype(np.int64)
    for name in COVARIATES:                                         # the covariates' noise
        rng.normal(0.0, _COVARIATE_MODEL[name][3], n_las)
    pilots = np.sort(rng.choice(n_las, size=n_pilots, replace=False))
    exp_counts = _largest_remainder(n_pilots, _EXPERIENCE_SHARES)
    exp = rng.permutation(np.repeat(np.arange(3), exp_counts)).astype(np.int64)
    return pilots, exp, child_population[pilots].astype(float)


def evaluation_family_draws(gen: np.random.Generator, *, n_las: int, n_pilots: int,
                            n_workers: int, n_families: int
                            ) -> tuple[np.ndarray, FamilyDraws]:
    """Draw what ``simulate_evaluation(rng=gen, ...).families`` is made of, and the pilots.

    Parameters
    ----------
    gen : numpy.random.Generator
        Consumed as ``simulate_evaluation`` consumes it (one ``integers`` draw).
    n_las, n_pilots, n_workers, n_families : int
        ``simulate_evaluation``'s sizes (validated by the caller).

    Returns
    -------
    pilots : numpy.ndarray
        Positions of the pilots among the ``n_las`` LAs (their codes: ``la_codes(n_las)[pilots]``).
    draws : FamilyDraws
        The families' arrays (see :class:`sosstats.datasets._simulate_families.FamilyDraws`).
    """
    entropy = int(gen.integers(0, 2**63))

    def child(k: int) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy,
                                                                          spawn_key=(k,))))

    pilots, pilot_exp, pilot_pop = _pilot_draws(child(_LAS), n_las, n_pilots)
    counts, la_idx, agency = draw_worker_allocation(child(_WORKERS), pilot_pop, n_workers)
    draws = draw_families(child(_FAMILIES), n_families, counts, la_idx, pilot_exp, agency,
                          n_pilots)
    return pilots, draws

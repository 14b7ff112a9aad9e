r"""The evaluation's own families as a design: ``simulate_evaluation``'s outcome model, fast.

:func:`evaluation_families` is the design a user writes today as ``design(rng) =
simulate_evaluation(rng=rng).families`` reshaped to the long T1 / T2 frame, with the same
numbers (bit for bit: replicate ``i``'s families are ``simulate_evaluation(rng=rng_i)``'s) but
without simulating the 150 LAs' indicator panels, the workers' tools, the diaries, the survey,
the views and the case records that the families do not depend on
(:mod:`sosstats.design._families`), and with a batched path (``simulate_batch``) that the
batched estimators of :mod:`sosstats.design.estimators` fit a chunk at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sosstats._validate import check_int, check_rng
from sosstats.datasets._simulate_families import OUTCOMES
from sosstats.datasets._simulate_las import EXPERIENCE_LEVELS
from sosstats.design._batched import FamilyBatch, stack_families
from sosstats.design._families import evaluation_family_draws, la_codes
from sosstats.design.designs import _clusters, _Design
from sosstats.design.estimators import ChangeEstimator, change_estimator
from sosstats.errors import DesignError

__all__ = ["EvaluationFamilies", "evaluation_families", "FAMILY_LEVELS"]

#: levels of the family covariates that ``C()`` codes (change_model's order)
FAMILY_LEVELS: dict[str, tuple] = {"experience": EXPERIENCE_LEVELS, "cohort": (1, 2),
                                   "feelings_t1": (1, 2, 3, 4, 5),
                                   "previous_referral": (False, True),
                                   "agency_worker": (False, True)}
_LONG = ["family_id", "wave", "sdq", "la_code", "experience", "cohort", "previous_referral",
         "agency_worker", "feelings_t1", "responded"]


@dataclass(frozen=True, repr=False)
class EvaluationFamilies(_Design):
    """``simulate_evaluation``'s families as a design; see :func:`evaluation_families`."""

    n_las: int
    n_pilots: int
    n_workers: int
    n_families: int
    _repr_fields = ("n_las", "n_pilots", "n_workers", "n_families")

    @property
    def n_clusters(self) -> int:
        """Pilots (the clusters)."""
        return self.n_pilots

    @property
    def truth(self) -> dict[str, float]:
        """The simulator's coefficients of the SDQ change (``time_t2``; 0 for the others).

        SDQ is rounded and clipped to 0-40 at each wave, so the expected change of a group
        differs from these by 0.002 to 0.008 points (numerical integration over the
        simulator's model; docs/design.md).
        """
        return {"Intercept": float(OUTCOMES["sdq"]["coef"][4]),
                "C(experience)[T.2 years]": 0.0, "C(experience)[T.2 years plus]": 0.0,
                "C(cohort)[T.2]": 0.0}

    def _draw(self, gen: np.random.Generator):
        return evaluation_family_draws(gen, n_las=self.n_las, n_pilots=self.n_pilots,
                                       n_workers=self.n_workers, n_families=self.n_families)

    def families(self, rng: int | np.random.Generator | None = None) -> pd.DataFrame:
        """Return the wide families table of one replicate.

        ``simulate_evaluation(rng=rng, ...).families``' columns ``family_id, la_code,
        experience, cohort, previous_referral, agency_worker, sdq_t1, sdq_t2, feelings_t1,
        responded_t2``, equal to them bit for bit (tested).
        """
        gen = check_rng(rng)
        pilots, d = self._draw(gen)
        n = self.n_families
        resp = d.responded
        return pd.DataFrame({
            "family_id": np.arange(1, n + 1, dtype=np.int64),
            "la_code": pd.Categorical.from_codes(d.fam_la,
                                                 categories=list(la_codes(self.n_las)[pilots])),
            "experience": pd.Categorical.from_codes(d.exp, categories=list(EXPERIENCE_LEVELS),
                                                    ordered=True),
            "cohort": np.where(d.cohort2, 2, 1).astype(np.int64),
            "previous_referral": d.prev,
            "agency_worker": d.agency_worker,
            "sdq_t1": d.columns["sdq_t1"].astype(np.int64),
            "sdq_t2": np.where(resp, d.columns["sdq_t2"], np.nan),
            "feelings_t1": d.columns["feelings_t1"].astype(np.int64),
            "responded_t2": resp,
        })

    def simulate(self, rng: int | np.random.Generator | None = None) -> pd.DataFrame:
        """One replicate: the LONG frame, one row per family x wave (1, 2).

        Columns ``family_id, wave, sdq, la_code, experience, cohort, previous_referral,
        agency_worker, feelings_t1, responded`` (as :func:`study_2017`'s); ``sdq`` is missing
        at wave 2 for families not re-interviewed.
        """
        fam = self.families(rng)
        base = fam[["family_id", "la_code", "experience", "cohort", "previous_referral",
                    "agency_worker", "feelings_t1"]]
        resp = fam["responded_t2"].to_numpy()
        long = pd.concat([base.assign(wave=1, sdq=fam["sdq_t1"].to_numpy(float)),
                          base.assign(wave=2, sdq=fam["sdq_t2"].to_numpy(float))],
                         ignore_index=True)
        long["responded"] = np.r_[resp, resp]
        return long[_LONG].sort_values(["family_id", "wave"], kind="stable").reset_index(
            drop=True)

    def simulate_batch(self, generators: Sequence[np.random.Generator]) -> FamilyBatch:
        """Replicates as stacked arrays (each generator consumed as :meth:`simulate` does)."""
        parts = []
        for gen in generators:
            _, d = self._draw(gen)
            parts.append({"cluster": d.fam_la, "t1": d.columns["sdq_t1"],
                          "t2": np.where(d.responded, d.columns["sdq_t2"], np.nan),
                          "responded": d.responded, "experience": d.exp,
                          "cohort": np.where(d.cohort2, 2, 1), "previous_referral": d.prev,
                          "agency_worker": d.agency_worker,
                          "feelings_t1": d.columns["feelings_t1"]})
        return stack_families(parts, self.n_pilots, FAMILY_LEVELS)

    def estimator(self, inference: str = "cr2", *,
                  formula: str = "sdq ~ C(experience) + C(cohort)", n_resamples: int = 9999,
                  wild_weights: str = "rademacher", seed: int = 0) -> ChangeEstimator:
        """Return the first-difference ``change_model`` on the T2 respondents, by pilot.

        :func:`~sosstats.design.change_estimator` with these arguments.
        """
        return change_estimator(formula, inference, n_resamples=n_resamples,
                                wild_weights=wild_weights, seed=seed)


def evaluation_families(*, n_las: int = 152, n_pilots: int = 10, n_workers: int = 200,
                        n_families: int = 270) -> EvaluationFamilies:
    r"""Build the study's families as :func:`~sosstats.datasets.simulate_evaluation` draws them.

    Parameters
    ----------
    n_las, n_pilots, n_workers, n_families : int
        ``simulate_evaluation``'s sizes (152 LAs, 10 pilots, 200 workers, 270 families): at
        least 3 pilots (one per experience group), fewer pilots than LAs, at least one worker
        per pilot, at least one family.

    Returns
    -------
    EvaluationFamilies
        ``simulate(rng)``: the long family x wave frame built from
        ``simulate_evaluation(rng=rng, n_las=..., ...).families`` (the same values bit for
        bit, without simulating the other tables); ``families(rng)``: the wide table;
        ``truth``: the simulator's coefficients of the change; ``estimator(inference)``:
        :func:`~sosstats.design.change_estimator`; ``simulate_batch``: the batched path.

    Raises
    ------
    DataError
        A size that is not an integer.
    DesignError
        Fewer than 3 pilots, ``n_pilots >= n_las``, ``n_workers < n_pilots``, no families.

    Notes
    -----
    The outcome model is ``simulate_evaluation``'s (docs/simulator.md): SDQ at wave
    :math:`T` is :math:`\mathrm{round}(x_f'\beta + \beta_T T + s(\sigma_F a_f + \sigma_P v_p +
    \sigma_W\sum_j w_{fj}z_j) + \varepsilon_{fT})` clipped to [0, 40], so the change has mean
    :math:`\beta_T = -1.5` in every group up to rounding and clipping, and T2 is missing at
    random given T1 data (the study's response model). Unlike :func:`study_2017`, the effect,
    ICC and attrition are the simulator's, not arguments: this is the design to compare with
    a hand-written loop over ``simulate_evaluation`` (``benchmarks/design.py``).
    """
    p = _clusters(n_pilots, "n_pilots", minimum=3)
    las = check_int(n_las, "n_las", minimum=2)
    workers = check_int(n_workers, "n_workers", minimum=1)
    fams = check_int(n_families, "n_families", minimum=1)
    if p >= las:
        raise DesignError(f"`n_pilots` ({p}) must be smaller than `n_las` ({las}).")
    if workers < p:
        raise DesignError(f"`n_workers` ({workers}) must be at least `n_pilots` ({p}): every "
                          "pilot needs a worker.")
    return EvaluationFamilies(las, p, workers, fams)

r"""Ready-made study designs for :func:`sosstats.design.simulate_study`.

Each design is a small frozen object with ``simulate(rng) -> DataFrame`` (one replicate's data),
``truth`` (the true value of each term its default analysis reports) and ``estimator(...)`` (that
default analysis, a picklable callable ``estimator(data) -> Result``), so that

>>> from sosstats.design.designs import study_2017
>>> design = study_2017(effect=-1.0)
>>> design.truth["C(experience)[T.2 years plus]"]
-1.0

- :func:`study_2017`: the 2017 evaluation's family design (pilots in three experience groups, two
  cohorts, families seen by one to three social workers, T1 and T2 interviews with attrition),
  with the T1 to T2 change in SDQ as the outcome and a chosen effect of experience;
- :func:`matched_la_did`: pilots against their statistical nearest neighbours on a published
  indicator over years (the difference in differences of :func:`sosstats.neighbours.neighbour_did`);
- :func:`stepped_wedge`: LAs crossing over to the new practice at staggered starts, allocated
  to sequences by restricted randomisation (:func:`restricted_allocations`);
- :func:`two_arm`: a two-arm (cluster-)randomised comparison of means whose power is known in
  closed form (the known-answer design of the tests and the user guide).

The structure of the first three (LAs, their covariates and indicator panels, pilots, workers,
families, memberships, T1 outcomes) comes from :func:`sosstats.datasets.simulate_evaluation`;
the design then sets what a power analysis varies: the effect, the number of clusters and their
sizes, the intra-class correlation, attrition and its mechanism. See ``docs/design.md``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from sosstats._results import Result
from sosstats._validate import check_int, check_option, check_rng
from sosstats.design.estimators import ChangeEstimator as _ChangeEstimator
from sosstats.errors import DataError, DesignError

__all__ = [
    "Study2017",
    "MatchedDiD",
    "SteppedWedge",
    "TwoArm",
    "AllocationSet",
    "MeanDifferenceResult",
    "study_2017",
    "matched_la_did",
    "stepped_wedge",
    "two_arm",
    "restricted_allocations",
]

COVARIATES: tuple[str, ...] = (
    "deprivation_score", "low_income_children_pct", "lone_parent_pct", "ethnic_minority_pct",
    "population_density", "social_housing_pct", "unemployment_pct", "fsm_pct",
)
_GROUPS: tuple[str, ...] = ("new", "2 years", "2 years plus")
_ATTRITION_MECHANISMS = ("mcar", "mar", "mnar")
_STRUCTURES = ("redraw", "fixed")


# -- small checks --------------------------------------------------------------------------------
def _number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False) -> float:
    """Return a finite real number in a range; the message names the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise DataError(f"`{name}` must be a number; got {value!r}.")
    out = float(value)
    if not math.isfinite(out):
        raise DataError(f"`{name}` must be a finite number; got {value!r}.")
    if low is not None and (out < low or (low_open and out == low)):
        raise DesignError(f"`{name}` must be {'>' if low_open else '>='} {low:g}; got {value!r}.")
    if high is not None and (out > high or (high_open and out == high)):
        raise DesignError(f"`{name}` must be {'<' if high_open else '<='} {high:g}; "
                          f"got {value!r}.")
    return out


def _clusters(value: Any, name: str, minimum: int = 2) -> int:
    """Return a number of clusters: an integer, at least ``minimum`` (a variance needs two)."""
    out = check_int(value, name)
    if out < minimum:
        raise DesignError(f"`{name}` must be at least {minimum} (a between-cluster variance needs "
                          f"{'two' if minimum == 2 else minimum} clusters); got {out}.")
    return out


def _solve_intercept(offset: np.ndarray, target: float) -> float:
    """Solve ``mean(expit(a + offset)) == target`` for ``a`` (Newton; monotone in ``a``)."""
    a = float(special.logit(target) - offset.mean())
    for _ in range(50):
        p = special.expit(a + offset)
        step = (p.mean() - target) / max(float((p * (1 - p)).mean()), 1e-12)
        a -= step
        if abs(step) < 1e-12:
            break
    return a


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, range):
        return f"range({value.start}, {value.stop})"
    return repr(value)


class _Design:
    """Shared behaviour: ``design(rng)`` is ``design.simulate(rng)``; a readable repr."""

    _repr_fields: tuple[str, ...] = ()

    def simulate(self, rng: int | np.random.Generator | None = None) -> pd.DataFrame:
        raise NotImplementedError

    def __call__(self, rng: int | np.random.Generator | None = None) -> pd.DataFrame:
        return self.simulate(rng)

    @property
    def settings(self) -> dict[str, Any]:
        """The design's parameters (printed in a simulation study's summary)."""
        return {k: getattr(self, k) for k in self._repr_fields}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_short(getattr(self, k))}" for k in self._repr_fields)
        return f"{type(self).__name__}({args})"


# -- a result for simple comparisons of means ----------------------------------------------------
@dataclass(frozen=True, repr=False)
class MeanDifferenceResult(Result):
    """Difference of two means with a Student-t test (the :func:`two_arm` analysis).

    Attributes
    ----------
    estimate, std_error, df : float
        Difference (arm 1 minus arm 0), its standard error and the t degrees of freedom.
    nobs : int
        Units analysed (clusters when the analysis is of cluster means).
    method : str
        What was compared.
    """

    estimate: float
    std_error: float
    df: float
    nobs: int
    method: str = "two-sample t test"
    level: float = 0.95

    def _estimates(self) -> pd.DataFrame:
        t = self.estimate / self.std_error if self.std_error > 0 else np.nan
        p = 2 * stats.t.sf(abs(t), self.df) if np.isfinite(t) else np.nan
        return pd.DataFrame({"estimate": [self.estimate], "std_error": [self.std_error],
                             "statistic": [t], "p_value": [p], "df": [self.df]},
                            index=pd.Index(["effect"], name="term"))


@dataclass(frozen=True)
class _ClusterMeansTTest:
    """Pooled-variance t test of arm means of cluster means (``df = G0 + G1 - 2``)."""

    outcome: str = "y"
    arm: str = "arm"
    cluster: str = "cluster"

    def __call__(self, data: pd.DataFrame) -> MeanDifferenceResult:
        codes, _ = pd.factorize(data[self.cluster], sort=False)
        k = int(codes.max()) + 1 if codes.size else 0
        size = np.bincount(codes, minlength=k)
        y = np.bincount(codes, weights=data[self.outcome].to_numpy(float), minlength=k) / size
        arm = np.bincount(codes, weights=data[self.arm].to_numpy(float), minlength=k) / size
        if not np.isin(arm, (0.0, 1.0)).all():
            raise DesignError(f"`{self.arm}` must be 0 or 1 and constant within each "
                              f"`{self.cluster}`.")
        y1, y0 = y[arm == 1], y[arm == 0]
        n1, n0 = y1.size, y0.size
        if n1 < 1 or n0 < 1 or n1 + n0 < 3:
            raise DesignError("the t test needs units in both arms and at least three in all; "
                              f"got {n0} and {n1}.")
        pooled = (((y1 - y1.mean()) ** 2).sum() + ((y0 - y0.mean()) ** 2).sum()) / (n1 + n0 - 2)
        se = math.sqrt(pooled * (1 / n1 + 1 / n0))
        return MeanDifferenceResult(float(y1.mean() - y0.mean()), se, float(n1 + n0 - 2),
                                    int(n1 + n0), method="t test of cluster means")


@dataclass(frozen=True, repr=False)
class TwoArm(_Design):
    r"""Two-arm (cluster-)randomised comparison of means; see :func:`two_arm`."""

    n_clusters: int
    cluster_size: int
    effect: float
    sd: float
    icc: float
    _repr_fields = ("n_clusters", "cluster_size", "effect", "sd", "icc")

    @property
    def truth(self) -> dict[str, float]:
        """``{"effect": effect}``."""
        return {"effect": self.effect}

    @property
    def design_effect(self) -> float:
        r"""Design effect :math:`1 + (m - 1)\rho`."""
        return 1 + (self.cluster_size - 1) * self.icc

    def analytic_power(self, alpha: float = 0.05) -> float:
        r"""Exact power of the two-sided t test of cluster means (noncentral t).

        Equal cluster sizes make the cluster means i.i.d. normal with variance
        :math:`\sigma^2 \mathrm{DE} / m`, so the test of :func:`two_arm`'s estimator is a
        two-sample t test with :math:`G` units per arm and standardised effect
        :math:`\delta / \sqrt{\sigma^2\,\mathrm{DE}/m}`.
        """
        g = self.n_clusters
        d = self.effect / math.sqrt(self.sd ** 2 * self.design_effect / self.cluster_size)
        df = 2 * g - 2
        nc = d * math.sqrt(g / 2)
        q = stats.t.ppf(1 - alpha / 2, df)
        return float(stats.nct.sf(q, df, nc) + stats.nct.cdf(-q, df, nc))

    def simulate(self, rng: int | np.random.Generator | None = None) -> pd.DataFrame:
        """Columns ``cluster, arm, y``: ``n_clusters`` clusters per arm of ``cluster_size``."""
        gen = check_rng(rng)
        g, m = self.n_clusters, self.cluster_size
        arm = np.repeat(np.r_[np.zeros(g, np.int64), np.ones(g, np.int64)], m)
        cl = np.repeat(np.arange(2 * g), m)
        u = gen.standard_normal(2 * g) * self.sd * math.sqrt(self.icc)
        e = gen.standard_normal(2 * g * m) * self.sd * math.sqrt(1 - self.icc)
        return pd.DataFrame({"cluster": cl, "arm": arm, "y": self.effect * arm + u[cl] + e})

    def estimator(self) -> _ClusterMeansTTest:
        """Return the t test of arm means of cluster means (two-sample t when ``m = 1``)."""
        return _ClusterMeansTTest()


def two_arm(n_clusters: int = 20, cluster_size: int = 1, *, effect: float = 0.5,
            sd: float = 1.0, icc: float = 0.0) -> TwoArm:
    r"""Two arms of ``n_clusters`` clusters of ``cluster_size`` units, normal outcome.

    Parameters
    ----------
    n_clusters : int, default 20
        Clusters per arm (at least 2). With ``cluster_size=1`` the units themselves.
    cluster_size : int, default 1
        Units per cluster (at least 1).
    effect : float, default 0.5
        Difference of means, arm 1 minus arm 0 (the truth of term ``"effect"``).
    sd : float, default 1.0
        Total standard deviation of the outcome within an arm (> 0).
    icc : float, default 0.0
        Intra-class correlation :math:`\rho` in [0, 1).

    Returns
    -------
    TwoArm
        ``simulate(rng)`` gives ``cluster, arm, y`` with
        :math:`y_{ij} = \delta\,\text{arm}_i + u_i + e_{ij}`, :math:`u_i \sim N(0, \rho\sigma^2)`,
        :math:`e_{ij} \sim N(0, (1 - \rho)\sigma^2)`; ``estimator()`` the t test of cluster
        means; ``analytic_power(alpha)`` its exact power, which with ``cluster_size=1`` is
        ``statsmodels``' ``TTestIndPower().power(effect / sd, n_clusters, alpha)``.

    Notes
    -----
    The variance of a cluster mean is :math:`\sigma^2\{\rho + (1 - \rho)/m\} = \sigma^2
    \mathrm{DE}/m` with the design effect :math:`\mathrm{DE} = 1 + (m - 1)\rho` (Donner and
    Klar 2000), so the cluster design needs DE times the units of an individually randomised one.

    References
    ----------
    Donner, A. and Klar, N. (2000). *Design and Analysis of Cluster Randomization Trials in
    Health Research*. Arnold, London.
    """
    return TwoArm(_clusters(n_clusters, "n_clusters"),
                  check_int(cluster_size, "cluster_size", minimum=1),
                  _number(effect, "effect"), _number(sd, "sd", low=0, low_open=True),
                  _number(icc, "icc", low=0, high=1, high_open=True))


# -- the 2017 study ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _FamilyStructure:
    """A replicate's (or the fixed) families: pilot, covariates, T1 SDQ, memberships."""

    la: np.ndarray              # pilot code of each family
    la_labels: tuple[str, ...]  # the pilots' LA codes
    exp: np.ndarray
    cohort: np.ndarray
    prev: np.ndarray
    agency: np.ndarray
    feelings: np.ndarray
    sdq_t1: np.ndarray
    fam_idx: np.ndarray         # memberships: family index, worker index, contact share
    w_ids: np.ndarray
    weight: np.ndarray


@dataclass(frozen=True, repr=False)
class Study2017(_Design):
    """The 2017 evaluation's family design; see :func:`study_2017`."""

    n_pilots: int
    families_per_pilot: int
    workers_per_pilot: int
    effects: dict[str, float]
    time_effect: float
    cohort_effect: float
    sd: float
    icc: float
    worker_icc: float
    attrition: float
    attrition_mechanism: str
    mnar_slope: float
    structure: str
    structure_seed: int
    _fixed: Any = field(default=None, compare=False)
    _repr_fields = ("n_pilots", "families_per_pilot", "effects", "icc", "worker_icc",
                    "attrition", "attrition_mechanism", "structure")

    @property
    def n_clusters(self) -> int:
        """Pilots (the clusters)."""
        return self.n_pilots

    @property
    def truth(self) -> dict[str, float]:
        """True coefficients of ``sdq ~ C(experience) + C(cohort)`` on the change."""
        return {"Intercept": self.time_effect,
                "C(experience)[T.2 years]": self.effects["2 years"],
                "C(experience)[T.2 years plus]": self.effects["2 years plus"],
                "C(cohort)[T.2]": self.cohort_effect}

    def _structure(self, seed: Any) -> _FamilyStructure:
        """Families and memberships of ``simulate_evaluation(rng=seed, n_las=p + 1, ...)``.

        Drawn by :func:`sosstats.design._families.evaluation_family_draws`: the same values,
        bit for bit, as that call's ``families`` and ``memberships`` (its LA indicators,
        workers' tools and survey parts are not simulated; the tests compare the two).
        """
        from sosstats.design._families import evaluation_family_draws, la_codes

        p = self.n_pilots
        pilots, d = evaluation_family_draws(np.random.default_rng(seed), n_las=p + 1,
                                            n_pilots=p, n_workers=self.workers_per_pilot * p,
                                            n_families=self.families_per_pilot * p)
        if np.unique(d.exp).size < 3 or np.unique(d.fam_la).size < 2:
            raise DesignError(f"`n_pilots` = {p} left an experience group without families; "
                              "give at least 3 pilots and more families per pilot.")
        n = d.exp.size
        return _FamilyStructure(
            la=d.fam_la.astype(np.int64), la_labels=tuple(la_codes(p + 1)[pilots]),
            exp=d.exp.astype(np.int64), cohort=np.where(d.cohort2, 2, 1).astype(np.int64),
            prev=d.prev, agency=d.agency_worker,
            feelings=d.columns["feelings_t1"].astype(np.int64),
            sdq_t1=d.columns["sdq_t1"].astype(np.int64).astype(float),
            fam_idx=np.broadcast_to(np.arange(n)[:, None], d.valid.shape)[d.valid],
            w_ids=d.workers[d.valid], weight=d.weights[d.valid])

    def _arrays(self, gen: np.random.Generator) -> tuple[_FamilyStructure, np.ndarray,
                                                          np.ndarray]:
        """One replicate's structure, T1 to T2 change and T2 response (draws in order)."""
        if self.structure == "fixed":
            if self._fixed is None:      # built once, on first use, from structure_seed
                object.__setattr__(self, "_fixed", self._structure(self.structure_seed))
            st = self._fixed
        else:
            st = self._structure(int(gen.integers(0, 2**63)))
        n = st.la.size
        z_worker = gen.standard_normal(int(st.w_ids.max()) + 1)
        worker_mix = np.bincount(st.fam_idx, weights=st.weight * z_worker[st.w_ids],
                                 minlength=n)
        v = gen.standard_normal(len(st.la_labels))
        e = gen.standard_normal(n)
        shift = np.array([0.0, self.effects["2 years"], self.effects["2 years plus"]])
        change = (self.time_effect + shift[st.exp]
                  + self.cohort_effect * (st.cohort == 2)
                  + self.sd * (math.sqrt(self.icc) * v[st.la] + math.sqrt(self.worker_icc)
                               * worker_mix + math.sqrt(1 - self.icc - self.worker_icc) * e))
        responded = self._respond(gen, st, change)
        return st, change, responded

    def simulate(self, rng: int | np.random.Generator | None = None) -> pd.DataFrame:
        """One replicate: a LONG frame, one row per family x wave (1, 2).

        Columns ``family_id, wave, sdq, la_code, experience, cohort, previous_referral,
        agency_worker, feelings_t1, responded``; ``sdq`` is missing at wave 2 for families who
        did not respond at T2 (``responded`` is False on both of their rows).
        """
        st, change, responded = self._arrays(check_rng(rng))
        n = st.la.size
        t1 = st.sdq_t1
        t2 = np.where(responded, t1 + change, np.nan)
        two = np.repeat(np.arange(n), 2)
        return pd.DataFrame({
            "family_id": (two + 1).astype(np.int64),
            "wave": np.tile(np.array([1, 2], dtype=np.int64), n),
            "sdq": np.column_stack([t1, t2]).ravel(),
            "la_code": pd.Categorical.from_codes(st.la[two], categories=list(st.la_labels)),
            "experience": pd.Categorical.from_codes(st.exp[two], categories=list(_GROUPS),
                                                    ordered=True),
            "cohort": st.cohort[two], "previous_referral": st.prev[two],
            "agency_worker": st.agency[two], "feelings_t1": st.feelings[two],
            "responded": responded[two]})

    def simulate_batch(self, generators: Sequence[np.random.Generator]) -> Any:
        """Replicates as stacked arrays (each generator consumed as :meth:`simulate` does).

        The batched path of :func:`~sosstats.design.simulate_study` (see
        :mod:`sosstats.design._batched`): with :meth:`estimator`'s ``"cr2"`` or ``"wild"``,
        a chunk of replicates is fitted at once.
        """
        from sosstats.design._batched import stack_families
        from sosstats.design._study_designs import FAMILY_LEVELS

        parts = []
        for gen in generators:
            st, change, responded = self._arrays(gen)
            parts.append({"cluster": st.la, "t1": st.sdq_t1,
                          "t2": np.where(responded, st.sdq_t1 + change, np.nan),
                          "responded": responded, "experience": st.exp, "cohort": st.cohort,
                          "previous_referral": st.prev, "agency_worker": st.agency,
                          "feelings_t1": st.feelings})
        return stack_families(parts, self.n_pilots, FAMILY_LEVELS)

    def _respond(self, gen: np.random.Generator, st: _FamilyStructure,
                 change: np.ndarray) -> np.ndarray:
        n = st.la.size
        target = 1.0 - self.attrition
        if self.attrition == 0:
            return np.ones(n, bool)
        if self.attrition_mechanism == "mcar":
            offset = np.zeros(n)
        elif self.attrition_mechanism == "mar":   # the study's response model (simulator.md)
            offset = (-0.5 * st.prev.astype(float) - 0.6 * st.agency.astype(float)
                      + 0.35 * st.feelings.astype(float))
        else:                                         # depends on the unseen change itself
            offset = self.mnar_slope * (change - self.time_effect) / self.sd
        a = _solve_intercept(offset, target)
        return gen.random(n) < special.expit(a + offset)

    def estimator(self, inference: str = "cr2", *, formula: str = "sdq ~ C(experience) + "
                  "C(cohort)", n_resamples: int = 9999, wild_weights: str = "rademacher",
                  seed: int = 0) -> _ChangeEstimator:
        """First-difference ``change_model`` on the T2 respondents, clustered by pilot.

        ``inference`` is ``change_model``'s (``"cr1"``, ``"cr2"``, ``"cr3"``, ``"wild"``...);
        ``seed`` seeds the wild bootstrap's weights when they are drawn rather than enumerated
        (more than ``log2(n_resamples)`` pilots): fixed across replicates, which is harmless as
        the data differ.
        """
        return _ChangeEstimator(formula, inference, n_resamples, wild_weights, seed)


def _check_effects(effect: float | Mapping[str, float]) -> dict[str, float]:
    if isinstance(effect, Mapping):
        unknown = [k for k in effect if k not in _GROUPS[1:]]
        if unknown:
            raise DataError(f"`effect` has unknown experience groups {unknown}; give "
                            "'2 years' and/or '2 years plus' (each against 'new').")
        return {g: _number(effect.get(g, 0.0), f"effect[{g!r}]") for g in _GROUPS[1:]}
    value = _number(effect, "effect")
    return {g: value for g in _GROUPS[1:]}


def study_2017(*, n_pilots: int = 10, families_per_pilot: int = 27, workers_per_pilot: int = 20,
               effect: float | Mapping[str, float] = 0.0, time_effect: float = -1.5,
               cohort_effect: float = 0.0, sd: float = 5.0, icc: float = 0.05,
               worker_icc: float = 0.02, attrition: float = 0.3,
               attrition_mechanism: str = "mar", mnar_slope: float = -1.0,
               structure: str = "redraw", structure_seed: int = 2017) -> Study2017:
    r"""Build the 2017 evaluation's family design, the T1 to T2 change in SDQ as outcome.

    Parameters
    ----------
    n_pilots : int, default 10
        Pilot LAs (clusters; at least 3 so that each experience group has one), split about
        3/4/3 between "new", "2 years" and "2 years plus" as in the study.
    families_per_pilot : int, default 27
        Average families per pilot at T1 (270 in all at 10 pilots); families go to pilots in
        proportion to their workers, so cluster sizes are unequal (about 7 to 60).
    workers_per_pilot : int, default 20
        Average social workers per pilot.
    effect : float or mapping, default 0.0
        Difference in mean SDQ change (SDQ points; negative is improvement) of the experienced
        groups against "new": a number for both, or ``{"2 years": a, "2 years plus": b}``.
    time_effect : float, default -1.5
        Mean change in the "new" group, cohort 1 (the ``Intercept``).
    cohort_effect : float, default 0.0
        Extra change in cohort 2.
    sd : float, default 5.0
        Standard deviation of the change given the fixed effects (> 0).
    icc : float, default 0.05
        Share of that variance between pilots (the pilot intra-class correlation of the change).
    worker_icc : float, default 0.02
        Share of that variance due to the social workers (a family's worker effect is the
        contact-weighted mix of its one to three workers' effects, the multiple-membership
        structure); ``icc + worker_icc < 1``.
    attrition : float, default 0.3
        Expected share of families not re-interviewed at T2 (the study lost 32%), in [0, 1).
    attrition_mechanism : {"mar", "mcar", "mnar"}, default "mar"
        ``"mcar"``: at random; ``"mar"``: the study's response model on T1 data
        (previous referral, agency worker, feelings about the worker at T1; see
        ``docs/simulator.md``), which leaves the complete-case change unbiased here;
        ``"mnar"``: on the family's own (unobserved at T2) change, ``mnar_slope`` log-odds per
        ``sd``, which biases it.
    mnar_slope : float, default -1.0
        Log-odds of responding per ``sd`` of change under ``"mnar"`` (negative: families whose
        SDQ worsened respond less).
    structure : {"redraw", "fixed"}, default "redraw"
        ``"redraw"``: every replicate draws new LAs, workers, families and memberships from
        :func:`~sosstats.datasets.simulate_evaluation` (unconditional power); ``"fixed"``: the
        structure is drawn once from ``structure_seed`` and only the outcome, random effects and
        attrition are redrawn (power given this study's cluster sizes; about ten times faster).
    structure_seed : int, default 2017
        Seed of the fixed structure.

    Returns
    -------
    Study2017
        ``simulate(rng)``: the long family x wave frame; ``truth``: the coefficients of
        ``sdq ~ C(experience) + C(cohort)`` in the change; ``estimator(inference)``:
        ``change_model`` on the respondents, clustered by pilot.

    Raises
    ------
    DataError
        Non-numeric arguments, an unknown mechanism, structure or experience group.
    DesignError
        Fewer than 3 pilots, sizes below 1, ``icc + worker_icc >= 1``, ``attrition`` outside
        [0, 1).

    Notes
    -----
    Family :math:`f` of pilot :math:`p` keeps its simulated T1 SDQ; its change is

    .. math::

        \Delta_f = \beta_0 + \beta_{E2}[\text{2 years}] + \beta_{E3}[\text{2 years plus}]
        + \beta_C[\text{cohort 2}] + \sigma\bigl(\sqrt{\rho_P}\,v_p + \sqrt{\rho_W}
        \textstyle\sum_j w_{fj} z_j + \sqrt{1 - \rho_P - \rho_W}\,e_f\bigr),

    :math:`v_p, z_j, e_f \sim N(0, 1)`, and ``sdq`` at T2 is T1 plus :math:`\Delta_f` (not
    rounded, so the truths are exact). The probability of responding is
    :math:`\mathrm{expit}(a + x_f^\top\gamma)` with :math:`a` solved in each replicate so that
    the mean probability is ``1 - attrition``. The experience contrasts are between pilots, so
    their precision is driven by the number of pilots and :math:`\rho_P`, the few-cluster
    problem of ``docs/panel.md``.
    """
    p = _clusters(n_pilots, "n_pilots", minimum=3)
    fpp = check_int(families_per_pilot, "families_per_pilot", minimum=1)
    wpp = check_int(workers_per_pilot, "workers_per_pilot", minimum=1)
    icc_v = _number(icc, "icc", low=0, high=1, high_open=True)
    wicc = _number(worker_icc, "worker_icc", low=0, high=1, high_open=True)
    if icc_v + wicc >= 1:
        raise DesignError(f"`icc` + `worker_icc` must be below 1; got {icc_v + wicc:g}.")
    check_option(attrition_mechanism, _ATTRITION_MECHANISMS, "attrition_mechanism")
    check_option(structure, _STRUCTURES, "structure")
    return Study2017(p, fpp, wpp, _check_effects(effect), _number(time_effect, "time_effect"),
                     _number(cohort_effect, "cohort_effect"),
                     _number(sd, "sd", low=0, low_open=True), icc_v, wicc,
                     _number(attrition, "attrition", low=0, high=1, high_open=True),
                     attrition_mechanism, _number(mnar_slope, "mnar_slope"), structure,
                     check_int(structure_seed, "structure_seed", minimum=0))


# -- matched LA difference in differences ------------------------------------------------------
@dataclass(frozen=True)
class _DiDEstimator:
    """Statistical neighbours on the LA covariates, then ``neighbour_did`` (picklable)."""

    indicator: str
    k: int = 10
    features: tuple[str, ...] = COVARIATES

    def __call__(self, data: pd.DataFrame) -> Result:
        from sosstats.neighbours import StatisticalNeighbours, neighbour_did

        las = data.drop_duplicates("la_code")
        pilots = las.loc[las["pilot"].to_numpy(bool)]
        starts = dict(zip(pilots["la_code"], pilots["sos_start_year"].astype(int)))
        nb = StatisticalNeighbours(list(self.features), k=self.k,
                                   exclude=list(starts)).fit(las)
        return neighbour_did(data, list(starts), nb, indicator=self.indicator,
                             start_year=starts, k=self.k)


@dataclass(frozen=True, repr=False)
class MatchedDiD(_Design):
    """Pilots against their statistical neighbours over years; see :func:`matched_la_did`."""

    n_las: int
    n_pilots: int
    years: tuple[int, ...]
    indicator: str
    effect: float
    start_years: dict[str, int]
    k: int
    suppression_share: float
    _repr_fields = ("n_las", "n_pilots", "years", "indicator", "effect", "start_years", "k")

    @property
    def n_clusters(self) -> int:
        """Pilots (the clusters of the DiD)."""
        return self.n_pilots

    @property
    def truth(self) -> dict[str, float]:
        """``did`` and every event time's ``event_<e>`` (the effect from e = 0, else 0)."""
        out = {"did": self.effect}
        events = sorted({y - s for y in self.years for s in self.start_years.values()})
        for e in events:
            if e != -1:
                out[f"event_{e}"] = self.effect if e >= 0 else 0.0
        return out

    def simulate(self, rng: int | np.random.Generator | None = None) -> pd.DataFrame:
        """Simulate one replicate: the long frame of ``indicator``.

        Columns ``la_code, year, indicator, value, flag`` with each LA's ``pilot``,
        ``experience``, ``sos_start_year`` and covariates.
        """
        from sosstats.datasets import simulate_evaluation

        gen = check_rng(rng)
        ev = simulate_evaluation(rng=int(gen.integers(0, 2**63)), n_las=self.n_las,
                                 n_pilots=self.n_pilots, years=list(self.years),
                                 n_workers=self.n_pilots, n_families=1, n_diarists=0,
                                 n_survey=0, n_case_records=0,
                                 suppression_share=self.suppression_share,
                                 pilot_effects={self.indicator: self.effect},
                                 start_years=self.start_years)
        ind = ev.la_indicators
        ind = ind.loc[ind["indicator"].to_numpy() == self.indicator,
                      ["la_code", "year", "indicator", "value", "flag"]]
        las = ev.las[["la_code", "pilot", "experience", "sos_start_year", *COVARIATES]]
        return ind.merge(las, on="la_code", how="left").reset_index(drop=True)

    def estimator(self, k: int | None = None) -> _DiDEstimator:
        """Neighbours on the eight covariates (equal weights), then the pooled DiD."""
        return _DiDEstimator(self.indicator, self.k if k is None else check_int(k, "k", minimum=1))


def matched_la_did(*, n_las: int = 152, n_pilots: int = 10, years: Iterable[int] = range(2012,
                   2018), indicator: str = "icpc_rate_per_10k", effect: float = -15.0,
                   start_years: Mapping[str, int] | int | None = None, k: int = 10,
                   suppression_share: float = 0.015) -> MatchedDiD:
    r"""Pilots against their statistical nearest neighbours on a published indicator over years.

    Parameters
    ----------
    n_las : int, default 152
        LAs in the country (pilots plus possible comparators).
    n_pilots : int, default 10
        Pilot LAs (at least 2: the DiD's standard error is their spread).
    years : iterable of int, default ``range(2012, 2018)``
        Years of the indicator panel.
    indicator : str, default ``"icpc_rate_per_10k"``
        One of the simulated indicators (``docs/simulator.md``).
    effect : float, default -15.0
        The pilot effect on the indicator's own scale from the start year on (the truth of
        ``did``).
    start_years : mapping or int, optional
        Start year by experience group (default ``{"new": 2016, "2 years": 2014,
        "2 years plus": 2013}``), or one year for all.
    k : int, default 10
        Neighbours per pilot; ``n_las - n_pilots >= k``.
    suppression_share : float, default 0.015
        Share of suppressed indicator cells.

    Returns
    -------
    MatchedDiD
        ``simulate(rng)``: the long indicator frame with LA columns; ``truth``: ``did`` and
        ``event_<e>``; ``estimator()``: ``StatisticalNeighbours(COVARIATES, k).fit`` then
        :func:`~sosstats.neighbours.neighbour_did`.

    Notes
    -----
    Trends are exactly parallel in the simulator and pilots are a random sample, so the DiD is
    unbiased for ``effect`` (``docs/simulator.md`` measured -15.02, MC SE 0.13, at -15); its
    SE is the spread of the pilots' own DiDs over :math:`\sqrt{n}` on :math:`n - 1` df.
    """
    n_l = check_int(n_las, "n_las")
    n_p = _clusters(n_pilots, "n_pilots")
    yrs = tuple(int(y) for y in years)
    if len(yrs) < 2:
        raise DesignError(f"`years` needs at least two years (a before and an after); got {yrs}.")
    k_v = check_int(k, "k", minimum=1)
    if n_l - n_p < k_v:
        raise DesignError(f"`n_las` - `n_pilots` ({n_l - n_p}) must be at least `k` ({k_v}): "
                          "every pilot needs k comparison LAs.")
    if isinstance(start_years, Mapping) or start_years is None:
        starts = {"new": 2016, "2 years": 2014, "2 years plus": 2013}
        starts.update({str(g): check_int(v, f"start_years[{g!r}]")
                       for g, v in (start_years or {}).items()})
    else:
        s = check_int(start_years, "start_years")
        starts = {g: s for g in _GROUPS}
    for g, s in starts.items():
        if not yrs[0] < s <= yrs[-1]:
            raise DesignError(f"`start_years[{g!r}]` = {s} leaves no before or no after years "
                              f"in {yrs[0]}..{yrs[-1]}.")
    return MatchedDiD(n_l, n_p, yrs, str(indicator), _number(effect, "effect"), starts, k_v,
                      _number(suppression_share, "suppression_share", low=0, high=1,
                              high_open=True))


# -- restricted randomisation ----------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class AllocationSet:
    """Allowed allocations of units to sequences under a balance constraint.

    Attributes
    ----------
    units : tuple of str
        The units, in the column order of ``allocations``.
    allocations : numpy.ndarray
        ``(n_allocations, n_units)`` sequence index (0 crosses first) of each unit.
    imbalance : numpy.ndarray
        The balance criterion of each allowed allocation.
    sizes : tuple of int
        Units per sequence.
    enumerated : bool
        True when every allocation was examined (the set is complete), False when the set is a
        uniform sample of candidates that passed.
    n_candidates : int
        Allocations examined.
    max_imbalance : float
        The constraint.
    """

    units: tuple[str, ...]
    allocations: np.ndarray
    imbalance: np.ndarray
    sizes: tuple[int, ...]
    enumerated: bool
    n_candidates: int
    max_imbalance: float

    @property
    def acceptance(self) -> float:
        """Share of examined allocations that meet the constraint."""
        return len(self.allocations) / self.n_candidates

    def sample(self, rng: int | np.random.Generator | None = None) -> np.ndarray:
        """One allowed allocation, uniformly at random."""
        gen = check_rng(rng)
        return self.allocations[gen.integers(len(self.allocations))].copy()

    def frame(self) -> pd.DataFrame:
        """Long table ``allocation, unit, sequence`` of every allowed allocation."""
        n, u = self.allocations.shape
        return pd.DataFrame({"allocation": np.repeat(np.arange(n), u),
                             "unit": np.tile(np.asarray(self.units, dtype=object), n),
                             "sequence": self.allocations.ravel()})

    def __repr__(self) -> str:
        how = "all" if self.enumerated else "sampled"
        return (f"AllocationSet({len(self.units)} units into sequences of {list(self.sizes)}: "
                f"{len(self.allocations):,} allowed of {self.n_candidates:,} {how} allocations "
                f"({self.acceptance:.1%}) with imbalance <= {self.max_imbalance:g})")


def _sizes(n_units: int, n_sequences: int) -> tuple[int, ...]:
    base, extra = divmod(n_units, n_sequences)
    return tuple(base + (i < extra) for i in range(n_sequences))


def _imbalance(z: np.ndarray, alloc: np.ndarray, n_seq: int) -> np.ndarray:
    """Largest |sequence mean - overall mean| over sequences and covariates, per allocation.

    ``z`` (units, covariates) standardised; ``alloc`` (allocations, units).
    """
    onehot = alloc[:, None, :] == np.arange(n_seq)[None, :, None]          # (a, s, u)
    counts = onehot.sum(-1)                                                # (a, s)
    means = onehot.astype(float) @ z / counts[..., None]                   # (a, s, k)
    return np.abs(means).max(axis=(1, 2))


def _all_allocations(sizes: Sequence[int]) -> np.ndarray:
    n = sum(sizes)
    rows: list[np.ndarray] = []

    def rec(left: tuple[int, ...], s: int, current: np.ndarray) -> None:
        if s == len(sizes) - 1:
            out = current.copy()
            out[list(left)] = s
            rows.append(out)
            return
        for chosen in itertools.combinations(left, sizes[s]):
            cur = current.copy()
            cur[list(chosen)] = s
            rec(tuple(i for i in left if i not in chosen), s + 1, cur)

    rec(tuple(range(n)), 0, np.full(n, -1, np.int64))
    return np.array(rows, dtype=np.int64)


def restricted_allocations(units: pd.DataFrame, n_sequences: int, *, balance_on: Sequence[str],
                           max_imbalance: float = 0.5, id: str | None = None,
                           sizes: Sequence[int] | None = None, max_enumerate: int = 200_000,
                           n_candidates: int = 20_000,
                           rng: int | np.random.Generator | None = None) -> AllocationSet:
    r"""Allocations of units to sequences that meet a covariate balance constraint.

    Parameters
    ----------
    units : pandas.DataFrame
        One row per unit (e.g. LA) with the ``balance_on`` columns.
    n_sequences : int
        Sequences (groups crossing over at the same time; or arms); at least 2.
    balance_on : list of str
        Numeric unit-level covariates to balance (standardised over the units).
    max_imbalance : float, default 0.5
        Largest allowed absolute difference, in standard deviations, between any sequence's
        mean and the overall mean of any covariate.
    id : str, optional
        Column of unit labels; default the row index.
    sizes : sequence of int, optional
        Units per sequence (summing to the number of units); default as equal as possible.
    max_enumerate : int, default 200,000
        When the number of allocations :math:`N! / \prod_s n_s!` is at most this, all are
        examined and the allowed set is complete; otherwise ``n_candidates`` are drawn.
    n_candidates : int, default 20,000
        Uniformly drawn allocations to examine when there are too many to list.
    rng : int, Generator or None
        Random source of the drawn candidates.

    Returns
    -------
    AllocationSet
        ``.allocations`` (allowed, one row each), ``.sample(rng)``, ``.frame()``.

    Raises
    ------
    DataError
        Missing or non-numeric ``balance_on`` columns, NaN or infinite values in them, an
        ``id`` that is not a column.
    DesignError
        Fewer than two units or sequences, sizes that do not add up, no allocation meeting the
        constraint (the message gives the smallest imbalance seen).

    Notes
    -----
    Restricted (constrained) randomisation draws the allocation uniformly from the allowed
    set; analysis by randomisation inference should then permute within that same set
    (Moulton 2004; Hooper et al. 2016 for stepped wedge trials). Drawing candidates uniformly
    and keeping those that pass gives a uniform sample of the allowed set.

    References
    ----------
    Moulton, L. H. (2004). Covariate-based constrained randomization of group-randomized
    trials. *Clinical Trials* 1, 297-305.
    """
    if not isinstance(units, pd.DataFrame):
        raise DataError(f"`units` must be a DataFrame; got {type(units).__name__}.")
    n_units = len(units)
    if n_units < 2:
        raise DesignError(f"`units` must have at least two rows (clusters); got {n_units}.")
    n_seq = _clusters(n_sequences, "n_sequences")
    cols = list(balance_on)
    missing = [c for c in cols if c not in units.columns]
    if missing:
        raise DataError(f"`balance_on` names columns not in `units`: {missing}.")
    try:
        x = units[cols].to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`balance_on` columns must be numeric: {cols}.") from exc
    if np.isnan(x).any():
        raise DataError(f"`balance_on` columns have missing values: "
                        f"{[c for c, bad in zip(cols, np.isnan(x).any(0)) if bad]}.")
    if not np.isfinite(x).all():
        raise DataError(f"`balance_on` columns have infinite values: "
                        f"{[c for c, bad in zip(cols, ~np.isfinite(x).all(0)) if bad]}.")
    if id is not None and id not in units.columns:
        raise DataError(f"`id` {id!r} is not a column of `units`.")
    sd = x.std(axis=0)
    z = (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)
    if sizes is None:
        size_t = _sizes(n_units, n_seq)
    else:
        size_t = tuple(check_int(s, "sizes", minimum=1) for s in sizes)
        if len(size_t) != n_seq or sum(size_t) != n_units:
            raise DesignError(f"`sizes` {list(size_t)} must have `n_sequences` ({n_seq}) "
                              f"entries summing to the {n_units} units.")
    if min(size_t) < 1:
        raise DesignError(f"{n_units} units cannot fill {n_seq} sequences.")
    limit = _number(max_imbalance, "max_imbalance", low=0, low_open=True)
    labels = tuple(str(v) for v in (units.index if id is None else units[id]))
    total = math.factorial(n_units) // math.prod(math.factorial(s) for s in size_t)
    if total <= check_int(max_enumerate, "max_enumerate", minimum=1):
        cand = _all_allocations(size_t)
        enumerated = True
    else:
        gen = check_rng(rng)
        base = np.repeat(np.arange(n_seq), size_t)
        m = check_int(n_candidates, "n_candidates", minimum=1)
        cand = gen.permuted(np.broadcast_to(base, (m, n_units)), axis=1)
        enumerated = False
    imb = np.concatenate([_imbalance(z, chunk, n_seq)
                          for chunk in np.array_split(cand, max(1, len(cand) // 20_000))])
    keep = imb <= limit
    if not keep.any():
        raise DesignError(f"no allocation meets `max_imbalance` = {limit:g} (smallest seen "
                          f"{imb.min():.3f} of {len(cand):,}); raise it or balance on fewer "
                          "covariates.")
    return AllocationSet(labels, cand[keep], imb[keep], size_t, enumerated, len(cand), limit)


# -- stepped wedge ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _SteppedWedgeEstimator:
    """Two-way fixed effects of ``value ~ treated`` by LA and year, clustered by LA."""

    inference: str = "cr2"

    def __call__(self, data: pd.DataFrame) -> Result:
        import warnings

        from sosstats.errors import SosstatsWarning
        from sosstats.panel import change_model

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SosstatsWarning)
            return change_model("value ~ treated", data, entity="la_code", time="year",
                                method="fixed_effects", cluster="la_code",
                                inference=self.inference, rng=0)


@dataclass(frozen=True, repr=False)
class SteppedWedge(_Design):
    """LAs crossing over at staggered starts; see :func:`stepped_wedge`."""

    n_las: int
    n_sequences: int
    years: tuple[int, ...]
    crossing_years: tuple[int, ...]
    indicator: str
    effect: float
    balance_on: tuple[str, ...]
    max_imbalance: float
    n_candidates: int
    _repr_fields = ("n_las", "n_sequences", "years", "crossing_years", "indicator", "effect",
                    "balance_on", "max_imbalance")

    @property
    def n_clusters(self) -> int:
        """LAs (the clusters)."""
        return self.n_las

    @property
    def truth(self) -> dict[str, float]:
        """``{"treated": effect}``."""
        return {"treated": self.effect}

    def allocations(self, las: pd.DataFrame,
                    rng: int | np.random.Generator | None = None) -> AllocationSet:
        """Return the allowed allocations of these LAs (``la_code``, ``balance_on`` columns)."""
        return restricted_allocations(las, self.n_sequences, balance_on=self.balance_on,
                                      max_imbalance=self.max_imbalance, id="la_code",
                                      n_candidates=self.n_candidates, rng=rng)

    def simulate(self, rng: int | np.random.Generator | None = None) -> pd.DataFrame:
        """Simulate one replicate: new LAs, one allowed allocation drawn uniformly.

        Long frame ``la_code, year, value, sequence, crossing_year, treated`` plus the
        ``balance_on`` covariates; ``effect`` is added from each LA's crossing year on.
        """
        from sosstats.datasets import simulate_evaluation

        gen = check_rng(rng)
        ev = simulate_evaluation(rng=int(gen.integers(0, 2**63)), n_las=self.n_las, n_pilots=1,
                                 years=list(self.years), n_workers=1, n_families=1,
                                 n_diarists=0, n_survey=0, n_case_records=0,
                                 suppression_share=0.0, pilot_effects={self.indicator: 0.0})
        las = ev.las
        alloc = self.allocations(las, gen).sample(gen)
        crossing = np.asarray(self.crossing_years)[alloc]
        ind = ev.la_indicators
        ind = ind.loc[ind["indicator"].to_numpy() == self.indicator, ["la_code", "year", "value"]]
        info = pd.DataFrame({"la_code": las["la_code"].to_numpy(), "sequence": alloc + 1,
                             "crossing_year": crossing})
        info = pd.concat([info, las[list(self.balance_on)].reset_index(drop=True)], axis=1)
        out = ind.merge(info, on="la_code", how="left")
        treated = (out["year"].to_numpy() >= out["crossing_year"].to_numpy()).astype(np.int64)
        out["treated"] = treated
        out["value"] = out["value"].to_numpy(float) + self.effect * treated
        return out.reset_index(drop=True)

    def estimator(self, inference: str = "cr2") -> _SteppedWedgeEstimator:
        """Two-way (LA and year) fixed effects, clustered by LA (``change_model``)."""
        return _SteppedWedgeEstimator(inference)


def stepped_wedge(*, n_las: int = 40, n_sequences: int = 4, years: Iterable[int] = range(2013,
                  2018), indicator: str = "icpc_rate_per_10k", effect: float = -10.0,
                  balance_on: Sequence[str] = ("deprivation_score", "child_population"),
                  max_imbalance: float = 0.5, n_candidates: int = 2_000) -> SteppedWedge:
    r"""Build a stepped wedge across LAs, with restricted randomisation of the sequences.

    Parameters
    ----------
    n_las : int, default 40
        LAs in the trial (clusters; at least ``n_sequences``).
    n_sequences : int, default 4
        Sequences of LAs crossing over together (at least 2).
    years : iterable of int, default ``range(2013, 2018)``
        Years of the panel; the first is a baseline with every LA in control, and the
        sequences cross over at evenly spaced later years (one a year with ``n_sequences + 1``
        years), so every LA is treated in the last year.
    indicator : str, default ``"icpc_rate_per_10k"``
        The simulated indicator used as outcome (no pilot effect of its own).
    effect : float, default -10.0
        Added to the indicator from an LA's crossing year on (truth of ``treated``).
    balance_on : list of str, default ``("deprivation_score", "child_population")``
        LA covariates balanced across sequences by the restricted randomisation.
    max_imbalance : float, default 0.5
        Largest allowed |sequence mean - overall mean| of a standardised covariate.
    n_candidates : int, default 2,000
        Candidate allocations drawn per replicate when they are too many to list.

    Returns
    -------
    SteppedWedge
        ``simulate(rng)``, ``truth`` (``treated``), ``estimator(inference)``: two-way fixed
        effects clustered by LA (``change_model(..., method="fixed_effects")``),
        ``allocations(las)``: the allowed set for given LAs.

    Notes
    -----
    The model is :math:`y_{it} = \mu_{it} + \delta\,1[t \ge c_{s(i)}]` with :math:`\mu_{it}`
    the simulator's LA panel (LA effects, covariates, a common trend), :math:`s(i)` the LA's
    sequence and :math:`c_s` its crossing year. With a common effect the two-way fixed effects
    estimator is unbiased (with effects that grow with exposure it is not: Goodman-Bacon 2021);
    Hussey and Hughes (2007) give the mixed-model power of such designs.

    References
    ----------
    Hussey, M. A. and Hughes, J. P. (2007). Design and analysis of stepped wedge cluster
    randomized trials. *Contemporary Clinical Trials* 28, 182-191.
    """
    n_l = _clusters(n_las, "n_las")
    n_s = _clusters(n_sequences, "n_sequences")
    if n_l < n_s:
        raise DesignError(f"`n_las` ({n_l}) must be at least `n_sequences` ({n_s}).")
    yrs = tuple(int(y) for y in years)
    if len(yrs) < n_s + 1:
        raise DesignError(f"`years` needs at least `n_sequences` + 1 = {n_s + 1} years (a "
                          f"baseline and one crossing per sequence); got {len(yrs)}.")
    idx = np.round(np.linspace(1, len(yrs) - 1, n_s)).astype(int)
    crossing = tuple(yrs[i] for i in idx)
    return SteppedWedge(n_l, n_s, yrs, crossing, str(indicator), _number(effect, "effect"),
                        tuple(balance_on), _number(max_imbalance, "max_imbalance", low=0,
                                                   low_open=True),
                        check_int(n_candidates, "n_candidates", minimum=1))

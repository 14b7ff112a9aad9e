"""A whole synthetic Signs of Safety evaluation with known true effects.

:func:`simulate_evaluation` returns an :class:`Evaluation`: tidy frames with the shape of the 2017
evaluation (152 LAs, 10 pilots, published indicators by year, social workers, 270 families seen
by one to three workers, time diaries, the social-worker survey, families' views at T1 and T2 and
double-coded case records) and the ``truth`` used to make them, so that every module of sosstats
can be tested on whether it recovers that truth.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import check_finite, check_int, check_rng
from sosstats.datasets._simulate_families import (
    simulate_diaries,
    simulate_families,
    simulate_workers,
)
from sosstats.datasets._simulate_las import (
    COVARIATES,
    DEFAULT_START_YEARS,
    EXPERIENCE_LEVELS,
    INDICATORS,
    simulate_indicators,
    simulate_las,
)
from sosstats.datasets._simulate_records import simulate_case_records
from sosstats.datasets._simulate_survey import simulate_family_views, simulate_worker_survey
from sosstats.errors import DataError, DesignError

__all__ = ["COVARIATES", "Evaluation", "simulate_evaluation"]


@dataclass(frozen=True, eq=False, repr=False)
class Evaluation:
    """A simulated evaluation: tidy frames plus the truth that generated them.

    Attributes
    ----------
    las : pandas.DataFrame
        One row per local authority: codes, names, region, child population, pilot status,
        experience group, SoS start year and eight socio-economic covariates.
    la_indicators : pandas.DataFrame
        Long LA x year x indicator frame: ``la_code, la_name, year, indicator, value, count,
        denominator, flag``.
    workers : pandas.DataFrame
        Social workers in the pilot LAs: agency status, training, confidence, tool use.
    families : pandas.DataFrame
        Families with T1 and T2 outcomes (T2 interview outcomes are missing for non-respondents).
    memberships : pandas.DataFrame
        ``family_id, worker_id, weight``: each family's workers and their shares of contact.
    diaries : pandas.DataFrame
        ``worker_id, activity, minutes``: one diary week per diarist.
    truth : dict
        The true values used to generate the data (see :func:`simulate_evaluation`).
    seed : int or None
        The integer passed as ``rng``, or None when a Generator or None was passed.
    rng_state : dict
        State of the bit generator on entry; ``g = numpy.random.default_rng();
        g.bit_generator.state = rng_state`` rebuilds a generator that reproduces the data.
    sizes : dict
        The size arguments used (``n_las``, ``n_pilots``, ..., ``years``).
    worker_survey : pandas.DataFrame
        The social-worker survey: ``respondent_id, la_code, experience``, the seven ``tool_*``
        items (not at all / some families / all families), ``confidence`` (1-10) and
        ``sos_supervision``.
    family_views : pandas.DataFrame
        Families' views, long: one row per family at T1 and per T2 respondent at T2
        (``family_id, la_code, experience, cohort, wave``, ``feelings``,
        ``shared_understanding``, ``concerns`` (T2), ``contact``, ``helpfulness`` (1-5)).
    case_records : pandas.DataFrame
        Double-coded case records, long: ``family_id, la_code, experience, cohort, wave,
        coder_1, coder_2`` (recording quality poor < adequate < good < very good).
    survey_settings : dict
        The survey arguments used (``n_survey``, ``n_case_records``, ``survey_icc``,
        ``survey_effect_scale``, ``coder_error``); ``simulate_evaluation(rng, **sizes,
        **survey_settings)`` rebuilds the evaluation (with ``worker_change_t2`` from
        ``truth["families"]["worker_change"]["share_t2"]`` when it is not 0).
    memberships_by_wave : pandas.DataFrame
        ``family_id, wave, worker_id, weight``: each family's workers at T1 (``wave`` "t1",
        the rows of ``memberships``) and at T2 ("t2"; weights sum to 1 within family x wave),
        for long T1/T2 models (``MultilevelModel(..., membership=ev.memberships_by_wave,
        repeated="family_id")``). T2 rows are given for every family, interviewed at T2 or not.
    """

    las: pd.DataFrame
    la_indicators: pd.DataFrame
    workers: pd.DataFrame
    families: pd.DataFrame
    memberships: pd.DataFrame
    diaries: pd.DataFrame
    truth: dict[str, Any]
    seed: int | None
    rng_state: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, Any] = field(default_factory=dict)
    worker_survey: pd.DataFrame = field(default_factory=pd.DataFrame)
    family_views: pd.DataFrame = field(default_factory=pd.DataFrame)
    case_records: pd.DataFrame = field(default_factory=pd.DataFrame)
    survey_settings: dict[str, Any] = field(default_factory=dict)
    memberships_by_wave: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def pilots(self) -> pd.DataFrame:
        """The pilot rows of :attr:`las`."""
        return self.las[self.las["pilot"]]

    def __repr__(self) -> str:
        frames = ", ".join(f"{name}={len(getattr(self, name)):,} rows" for name in
                           ("las", "la_indicators", "workers", "families", "memberships",
                            "diaries", "worker_survey", "family_views", "case_records"))
        return f"Evaluation(seed={self.seed!r}, {frames})"


def _check_years(years: Iterable[int]) -> np.ndarray:
    try:
        values = list(years)
    except TypeError as exc:
        raise DataError(f"`years` must be an iterable of integers; got {years!r}.") from exc
    if not values:
        raise DataError("`years` is empty; give at least one year, e.g. range(2012, 2018).")
    bad = [y for y in values if isinstance(y, bool) or not isinstance(y, (int, np.integer))]
    if bad:
        raise DataError(f"`years` must be integers (years ending 31 March); got {bad[:5]!r}.")
    arr = np.asarray(values, dtype=np.int64)
    if np.unique(arr).size != arr.size:
        dup = sorted({int(y) for y in arr if (arr == y).sum() > 1})
        raise DataError(f"`years` has duplicates: {dup}.")
    return np.sort(arr)


def _check_scale(value: Any) -> float:
    if isinstance(value, bool):
        raise DataError(f"`survey_effect_scale` must be a finite number; got {value!r}.")
    return check_finite(value, "`survey_effect_scale`")


def _check_share(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not low <= float(value) <= high:
        raise DataError(f"`{name}` must be a number in [{low:g}, {high:g}]; got {value!r}.")
    return float(value)


def _check_effects(pilot_effects: Mapping[str, float] | None) -> dict[str, float]:
    effects = {name: float(spec["effect"]) for name, spec in INDICATORS.items()}
    if pilot_effects is None:
        return effects
    if not isinstance(pilot_effects, Mapping):
        raise DataError("`pilot_effects` must be a mapping of indicator name to effect; "
                        f"got {type(pilot_effects).__name__}.")
    unknown = [k for k in pilot_effects if k not in effects]
    if unknown:
        raise DataError(f"`pilot_effects` has unknown indicators {unknown}; known: "
                        f"{', '.join(effects)}.")
    for key, value in pilot_effects.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not math.isfinite(float(value)):
            raise DataError(f"`pilot_effects[{key!r}]` must be a finite number; got {value!r}.")
        effects[key] = float(value)
    return effects


def _check_start_years(start_years: Mapping[str, int] | None) -> dict[str, int]:
    out = dict(DEFAULT_START_YEARS)
    if start_years is None:
        return out
    if not isinstance(start_years, Mapping):
        raise DataError("`start_years` must map experience groups to years; "
                        f"got {type(start_years).__name__}.")
    unknown = [k for k in start_years if k not in out]
    if unknown:
        raise DataError(f"`start_years` has unknown experience groups {unknown}; known: "
                        f"{', '.join(EXPERIENCE_LEVELS)}.")
    for key, value in start_years.items():
        out[key] = check_int(value, f"start_years[{key!r}]")
    return out


def simulate_evaluation(
    rng: int | np.random.Generator | None = 0,
    *,
    n_las: int = 152,
    n_pilots: int = 10,
    years: Iterable[int] = range(2012, 2018),
    n_workers: int = 200,
    n_families: int = 270,
    n_diarists: int = 121,
    suppression_share: float = 0.015,
    pilot_effects: Mapping[str, float] | None = None,
    start_years: Mapping[str, int] | None = None,
    n_survey: int = 165,
    n_case_records: int | None = None,
    survey_icc: float = 0.1,
    survey_effect_scale: float = 1.0,
    coder_error: float = 0.2,
    worker_change_t2: float = 0.0,
) -> Evaluation:
    r"""Simulate a whole Signs of Safety evaluation with known true effects.

    Parameters
    ----------
    rng : int, numpy.random.Generator or None, default 0
        Seed or generator. The same seed gives the same frames on any machine.
    n_las : int, default 152
        Number of local authorities (152 English LAs in 2016).
    n_pilots : int, default 10
        Number of pilot LAs; must be smaller than ``n_las``. Split about 3/4/3 between the
        experience groups "new", "2 years" and "2 years plus".
    years : iterable of int, default ``range(2012, 2018)``
        Years ending 31 March (2016 means 2015/16) of the indicator panel.
    n_workers : int, default 200
        Social workers, all in pilot LAs (at least one per pilot); at least ``n_pilots``.
    n_families : int, default 270
        Families interviewed at T1; at least 1. Vectorised: one million take 1-2 s.
    n_diarists : int, default 121
        Workers (a random subset, so at most ``n_workers``) who kept a time diary; may be 0.
    suppression_share : float, default 0.015
        Share of indicator cells suppressed (``value`` and ``count`` NaN, ``flag`` one of
        ``"x"``, ``"c"``, ``".."``); in [0, 1).
    pilot_effects : mapping, optional
        Override the true pilot effects for some indicators (own scale), e.g.
        ``{"icpc_rate_per_10k": 0.0}`` for a null simulation.
    start_years : mapping, optional
        Override the SoS start year of an experience group; default
        ``{"new": 2016, "2 years": 2014, "2 years plus": 2013}``.
    n_survey : int, default 165
        Social workers answering the survey (a random sample of the pilots' workforce, drawn
        in proportion to each pilot's workers); may be 0.
    n_case_records : int, optional
        Families whose case records are double-coded at T1 and re-analysed at T2; default
        ``round(262 / 270 * n_families)`` (262 at the study's 270); at most ``n_families``.
    survey_icc : float, default 0.1
        Share of the latent variance of every survey item, view and recording-quality score
        that is between pilots (the pilot intra-class correlation on the latent scale);
        in [0, 0.5].
    survey_effect_scale : float, default 1.0
        Multiplier of every experience-group, cohort and wave shift of the survey items, views
        and recording quality; 0 gives a null simulation (all groups, cohorts and waves share
        the same population proportions).
    coder_error : float, default 0.2
        Probability that a case-record coder reports one level off the true recording
        quality (coder 1 half down, half up; coder 2, lenient, a quarter down, three
        quarters up); in [0, 1].
    worker_change_t2 : float, default 0.0
        Share of families whose workers change between T1 and T2 (the study: a third,
        ``sosstats.datasets._simulate_families.WORKER_CHANGE_T2``); in [0, 1]. A family
        that changes gains a new worker of its LA at T2 (``memberships_by_wave``) and its T2
        outcomes take the T2 workers' effects. 0 (the default) keeps every frame exactly as
        before this option existed: T2 workers are the T1 workers.

    Returns
    -------
    Evaluation
        Frozen dataclass with ``las``, ``la_indicators``, ``workers``, ``families``,
        ``memberships``, ``diaries``, ``truth``, ``seed``, ``rng_state``, ``sizes``,
        ``worker_survey``, ``family_views``, ``case_records``, ``survey_settings`` and
        ``memberships_by_wave``.

    Raises
    ------
    DataError
        A size that is not an integer, bad ``years``, ``suppression_share``, ``survey_icc``
        or ``coder_error`` out of range, a non-finite ``survey_effect_scale``, unknown
        indicators in ``pilot_effects`` or groups in ``start_years``, a bad ``rng``,
        ``worker_change_t2`` outside [0, 1].
    DesignError
        A size below its minimum, ``n_pilots >= n_las``, ``n_workers < n_pilots``,
        ``n_diarists > n_workers`` or ``n_case_records > n_families``.

    Notes
    -----
    **LAs.** Each LA has a latent deprivation factor :math:`D_i` and urbanity factor
    :math:`U_i` (depending on LA type and region); each covariate is
    :math:`x_{ik} = a_k + b_k D_i + c_k U_i + \varepsilon_{ik}` (ethnic-minority share on the
    logit scale, density on the log scale). :math:`z_{ik}` are the covariates standardised
    over LAs. Pilots are a simple random sample of LAs.

    **Indicators.** For LA :math:`i`, year :math:`t` and a rate indicator,

    .. math::

        \mu_{it} = \max\{\exp(\log\beta_0 + z_i^\top\gamma + u_i + e_{it}) + \tau_t
                   + \delta\, P_{it},\ 1\},\quad
        \text{count}_{it} \sim \text{Poisson}(\mu_{it} N_i / 10^4),

    with :math:`u_i \sim N(0, \sigma_u^2)` (correlated 0.36 across indicators),
    :math:`e_{it} \sim N(0, \sigma_e^2)`, :math:`\tau_t` a common linear trend plus year
    shocks (additive, so trends are parallel), :math:`N_i` the child population and
    :math:`P_{it} = 1` for a pilot from its ``sos_start_year`` on. ``value = count / N_i *
    1e4``. Mean-type indicators (``assessment_duration_days``, ``s47_to_icpc_median_wd``) are
    :math:`\beta_0 + z_i^\top\gamma + u_i + \tau_t + e_{it} + \delta P_{it}` (floored at 1,
    rounded to 0.1 day and 1 working day), and ``rereferrals_within_12m_pct`` draws
    ``count ~ Binomial(referrals, p_it / 100)`` with :math:`p_{it}` built the same way. Because
    the expected level is a smooth function of the covariates and pilots are a random sample,
    comparing pilots with their covariate-nearest non-pilots in a post year, or a difference
    in differences (exactly unbiased, as trends are parallel), estimates :math:`\delta`.

    **Families.** With main effects :math:`x_{f}^\top\beta` (cohort, experience group,
    previous referral, agency worker) and time :math:`\beta_T T`, the linear predictor is

    .. math::

        \eta_{fT} = x_f^\top\beta + \beta_T T + s\,(\sigma_F a_f + \sigma_P v_{p(f)}
                    + \sigma_W \textstyle\sum_j w_{fj} z_j),

    with :math:`a_f, v_p, z_j \sim N(0, 1)` shared across outcomes (sign :math:`s`), weights
    :math:`w_{fj}` of the multiple-membership frame summing to one. SDQ is
    :math:`\mathrm{round}(\eta + N(0, \sigma_R^2))` clipped to [0, 40]; binary outcomes are
    logit; ``feelings`` (1..5) and ``concerns_t2`` are ordered logit,
    :math:`P(Y \le k) = \mathrm{expit}(\kappa_k - \eta)`. T2 interview outcomes are missing
    when ``responded_t2`` is False, drawn from the logistic model
    ``truth["families"]["attrition"]`` of T1 covariates (missing at random).

    **truth** (plain nested dicts, numbers only)::

        pilot_effects        {indicator: delta}
        start_years          {experience group: year}
        indicators[name]     pilot_effect, pilot_effect_realised (mean realised change in the
                             expected level over pilot post cells; differs only if a floor
                             binds), base, log_scale (1: gamma, u act on the log rate; 0: on
                             the own scale), sd_la, sd_noise, coef {covariate: gamma per sd},
                             year_effect {year: tau, own scale}, la_effect {la_code: u}
        las                  deprivation_factor, urbanity_factor {la_code: value}
        workers              agency_share, tool_shares {tool: {level: share}},
                             engagement {worker_id: latent}
        families.outcomes[o] intercept, cohort_2, experience_2_years,
                             experience_2_years_plus, time_t2 (both-wave outcomes),
                             previous_referral, agency_worker, sd_family, sd_worker, sd_pilot,
                             sd_residual (sdq), cutpoints {"1|2": ...} (ordinal; no
                             intercept), sign, worker_effect {worker_id: s sd_W z_j},
                             pilot_effect {la_code: s sd_P v_p}
                             for o in sdq, shared_understanding, knows_goals, feelings,
                             concerns (ordered more < same < fewer), rereferred, removed
        families.attrition   intercept, previous_referral, agency_worker, feelings_t1,
                             cohort_2 (logit of responding at T2)
        families.t2_all_means  T2 means over all families before attrition
        families.shares      previous_referral, cohort_2, referral_reason, n_workers
        diaries              activity_shares {activity: share}, mean_total_minutes,
                             sd_total_minutes, concentration
        workers.survey       icc_pilot, var_worker, var_noise, experience_shift, cutpoints,
                             proportions {item: {group: {level: p}}} (population),
                             expected {item: {level: p}} and expected_by_experience
                             (expected sample shares given the realised pilot effects),
                             confidence_mean {group: mean}, icc_observed {item: {group:
                             {"1|2": icc of 1[Y <= 1]}}} (observed-scale pilot ICC),
                             pilot_effect {item: {la_code}}
        families.views       icc_pilot, var_worker, var_family, var_family_item, var_noise,
                             nonresponse, shifts, cutpoints, proportions
                             {item: {wave: {group: {cohort: {level: p}}}}}, by_experience
                             (cohorts 1:1), expected, expected_by_experience,
                             expected_by_cohort {item: {wave: ...}}, expected_all_t2,
                             pilot_effect
        families.case_records  icc_pilot, var_record, var_noise, improvement, cutpoints,
                             coder_error, confusion {coder: {true: {rating: p}}}, proportions
                             and expected {wave: {level: p}}, mean_score, joint
                             {T1/T2/pooled: {coder_1 level: {coder_2 level: p}}}, agreement,
                             kappa {T1/T2/pooled: {unweighted, linear, quadratic}},
                             agreement_expected, kappa_expected, icc_observed
                             {wave: {"1|2": ...}}, pilot_effect

    **Survey, views and case records.** Every item is an ordered probit whose latent has
    variance one in each cell of experience group :math:`g`, cohort :math:`c` and wave
    :math:`t`: :math:`L = \mu_{gct} + \sqrt{\rho}\,v_p + (\text{other unit effects}) +
    \text{noise}`, with :math:`\rho` = ``survey_icc``, so the population proportions are
    :math:`P(Y \le k) = \Phi(\kappa_k - \mu_{gct})` exactly (``proportions``) and, given the
    realised pilot effects, :math:`\Phi((\kappa_k - \mu - \sqrt{\rho}v_p)/\sqrt{1 - \rho})`
    (``expected``: the expected sample share). The families' views reuse the outcome
    model's pilot and worker effects (the worker part is the family's membership mix
    standardised to variance one, latent variance 0.05). Case-record coders report the true
    level or one level off (``confusion``), independently given the true level, so the
    coders' joint distribution is :math:`\sum_k \pi_k C^{(1)}_{ka} C^{(2)}_{kb}` and the
    true kappas follow from it. These parts draw from their own child seeds: every other
    frame is the same as without them.

    A family's worker effect on outcome ``o`` is
    ``sum(weight * truth["families"]["outcomes"][o]["worker_effect"][worker_id])`` over its
    memberships; its variance is :math:`\sigma_W^2 \sum_j w_{fj}^2`, not :math:`\sigma_W^2`.

    **Workers by wave.** ``memberships_by_wave`` (``family_id, wave, worker_id, weight``) gives
    each family's workers at T1 (the rows of ``memberships``) and at T2. With
    ``worker_change_t2 = c`` a family changes worker between the waves with probability
    :math:`c` (if its LA has another worker): a new worker :math:`j'` of its LA joins, with
    share :math:`s \sim \mathrm{Beta}(2, 2k)` (:math:`k` T1 workers) and the T1 shares
    scaled by :math:`1 - s`; the T2 linear predictor uses the T2 weights,
    :math:`\sigma_W \sum_j w_{f2j} z_j`. ``truth["families"]["worker_change"]`` has
    ``share_t2`` (:math:`c`) and ``realised_t2`` (the share that changed).

    References
    ----------
    Baginsky, M., Moriarty, J., Manthorpe, J. et al. (2017). *Evaluation of Signs of Safety in
    10 pilots*. Department for Education, Children's Social Care Innovation Programme.

    Browne, W. J., Goldstein, H. and Rasbash, J. (2001). Multiple membership multiple
    classification (MMMC) models. *Statistical Modelling* 1(2), 103-124.

    Cohen, J. (1968). Weighted kappa: nominal scale agreement with provision for scaled
    disagreement or partial credit. *Psychological Bulletin* 70(4), 213-220.

    Examples
    --------
    >>> from sosstats.datasets.simulate import simulate_evaluation
    >>> ev = simulate_evaluation(rng=1)
    >>> ev.las.shape[0], int(ev.las["pilot"].sum())
    (152, 10)
    >>> ev.truth["pilot_effects"]["icpc_rate_per_10k"]
    -15.0
    """
    sizes = {
        "n_las": check_int(n_las, "n_las", minimum=2),
        "n_pilots": check_int(n_pilots, "n_pilots", minimum=1),
        "n_workers": check_int(n_workers, "n_workers", minimum=1),
        "n_families": check_int(n_families, "n_families", minimum=1),
        "n_diarists": check_int(n_diarists, "n_diarists", minimum=0),
    }
    if sizes["n_pilots"] >= sizes["n_las"]:
        raise DesignError(f"`n_pilots` ({n_pilots}) must be smaller than `n_las` ({n_las}): "
                          "comparison LAs are needed.")
    if sizes["n_workers"] < sizes["n_pilots"]:
        raise DesignError(f"`n_workers` ({n_workers}) must be at least `n_pilots` "
                          f"({n_pilots}): every pilot LA needs a worker.")
    if sizes["n_diarists"] > sizes["n_workers"]:
        raise DesignError(f"`n_diarists` ({n_diarists}) cannot exceed `n_workers` "
                          f"({n_workers}): diarists are a subset of the workers.")
    year_arr = _check_years(years)
    if isinstance(suppression_share, bool) or not isinstance(
            suppression_share, (int, float, np.number)) or not 0 <= suppression_share < 1:
        raise DataError("`suppression_share` must be a number in [0, 1); "
                        f"got {suppression_share!r}.")
    effects = _check_effects(pilot_effects)
    starts = _check_start_years(start_years)

    n_records_default = round(262 / 270 * sizes["n_families"])
    settings = {
        "n_survey": check_int(n_survey, "n_survey", minimum=0),
        "n_case_records": (n_records_default if n_case_records is None else
                           check_int(n_case_records, "n_case_records", minimum=0)),
        "survey_icc": _check_share(survey_icc, "survey_icc", 0.0, 0.5),
        "survey_effect_scale": _check_scale(survey_effect_scale),
        "coder_error": _check_share(coder_error, "coder_error", 0.0, 1.0),
    }
    if settings["n_case_records"] > sizes["n_families"]:
        raise DesignError(f"`n_case_records` ({n_case_records}) cannot exceed `n_families` "
                          f"({n_families}): case records are those of interviewed families.")

    change = _check_share(worker_change_t2, "worker_change_t2", 0.0, 1.0)

    gen = check_rng(rng)
    rng_state = gen.bit_generator.state
    root = np.random.SeedSequence(int(gen.integers(0, 2**63)))
    g_las, g_ind, g_workers, g_fam, g_diary = (np.random.default_rng(s) for s in root.spawn(5))
    # later parts draw from further children, so the frames above do not change
    g_survey, g_views, g_records = (np.random.default_rng(s) for s in root.spawn(3))
    g_change = np.random.default_rng(root.spawn(1)[0])   # T2 memberships

    las, z, las_truth = simulate_las(g_las, sizes["n_las"], sizes["n_pilots"], starts)
    indicators, ind_truth = simulate_indicators(g_ind, las, z, year_arr, effects,
                                                float(suppression_share))
    pilots = las[las["pilot"]]
    pilot_codes = pilots["la_code"].to_numpy(dtype=object)
    pilot_exp = pilots["experience"].cat.codes.to_numpy().astype(np.int64)
    workers, counts, la_idx, worker_truth = simulate_workers(
        g_workers, pilot_codes, pilots["child_population"].to_numpy(dtype=float), pilot_exp,
        sizes["n_workers"])
    families, memberships, family_truth, memberships_by_wave = simulate_families(
        g_fam, sizes["n_families"], counts, la_idx, pilot_codes, pilot_exp,
        workers["agency"].to_numpy(), change_rng=g_change, worker_change=change)
    diaries, diary_truth = simulate_diaries(g_diary, sizes["n_diarists"], sizes["n_workers"])

    icc, scale = settings["survey_icc"], settings["survey_effect_scale"]
    worker_survey, survey_truth = simulate_worker_survey(
        g_survey, settings["n_survey"], pilot_codes, pilot_exp, counts.astype(float), icc, scale)
    # the outcome model's standard-normal pilot and worker effects (shared by all outcomes)
    feel = family_truth["outcomes"]["feelings"]
    pilot_z = (np.array([feel["pilot_effect"][c] for c in pilot_codes.tolist()])
               / (feel["sign"] * feel["sd_pilot"]))
    worker_z = (np.fromiter(feel["worker_effect"].values(), dtype=float, count=la_idx.size)
                / (feel["sign"] * feel["sd_worker"]))
    fam_la = families["la_code"].cat.codes.to_numpy().astype(np.int64)
    family_views, views_truth = simulate_family_views(
        g_views, families, memberships, fam_la, pilot_codes, pilot_z, worker_z, icc, scale)
    case_records, records_truth, _ = simulate_case_records(
        g_records, settings["n_case_records"], families, fam_la, pilot_codes, icc, scale,
        settings["coder_error"])
    worker_truth["survey"] = survey_truth
    family_truth["views"] = views_truth
    family_truth["case_records"] = records_truth

    truth = {
        "pilot_effects": dict(effects),
        "start_years": {k: float(v) for k, v in starts.items()},
        "indicators": ind_truth,
        "las": las_truth,
        "workers": worker_truth,
        "families": family_truth,
        "diaries": diary_truth,
    }
    sizes["years"] = year_arr.tolist()
    sizes["suppression_share"] = float(suppression_share)
    seed = int(rng) if isinstance(rng, (int, np.integer)) else None
    return Evaluation(las=las, la_indicators=indicators, workers=workers, families=families,
                      memberships=memberships, diaries=diaries, truth=truth, seed=seed,
                      rng_state=rng_state, sizes=sizes, worker_survey=worker_survey,
                      family_views=family_views, case_records=case_records,
                      survey_settings=settings, memberships_by_wave=memberships_by_wave)

"""Reliability sweep: bad inputs and invariances over the public functions of every capability.

Driven by one table, :data:`CASES`, keyed by the public names of the sub-packages' ``__all__``:
``test_every_public_name_is_entered`` fails when a capability exports a name that is in neither
:data:`CASES` nor :data:`EXEMPT` (with a reason), so a new public function cannot be added
without entering it here.

For each entry: a good call on small simulated data, then table-driven mutations of its inputs.

- bad inputs (NaN / inf, empty frame, one row, one cluster, missing column, text where numbers
  are expected, negative weights, ``level=95``, ``k=0``) must raise a
  :class:`sosstats.errors.SosstatsError` whose message names the column or argument (NaN and one
  row / one cluster may also be handled, by dropping or warning, but never with a raw
  ``KeyError`` / ``IndexError`` / ``LinAlgError`` / ``TypeError`` from inside);
- invariances: the caller's frame is never modified; shuffled rows, a non-default or duplicated
  index, pandas nullable dtypes (``Int64``, ``Float64``, ``boolean``) and categoricals give the
  same point estimates; the same ``rng`` gives identical results.

Known failures are marked ``xfail(strict=True)`` with what they raise now, so the list is visible
and a fix shows up as XPASS (a failure) until the marker is removed.
"""

from __future__ import annotations

import copy
import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sosstats.errors import SosstatsError

SUBPACKAGES = ["datasets", "neighbours", "matching", "panel", "weighting", "multilevel", "vfm",
               "survey", "design", "report"]


# ----------------------------------------------------------------------------- shared data
@lru_cache(maxsize=1)
def _evaluation():
    from sosstats.datasets import simulate_evaluation

    return simulate_evaluation(rng=3)


@lru_cache(maxsize=1)
def _fitted_neighbours():
    from sosstats.datasets import COVARIATES
    from sosstats.neighbours import StatisticalNeighbours

    ev = _evaluation()
    pilots = ev.las.loc[ev.las["pilot"], "la_code"].tolist()
    return StatisticalNeighbours(COVARIATES, k=6, exclude=pilots).fit(ev.las), pilots


def families() -> pd.DataFrame:
    fam = _evaluation().families.copy()
    fam["cohort2"] = (fam["cohort"] == 2).astype(int)
    fam["responded"] = fam["responded_t2"].astype(int)
    fam["w"] = np.linspace(0.5, 1.5, len(fam))
    fam["w_t2"] = fam["w"] * fam["responded"]          # weights of the T2 respondents only
    fam["score"] = np.random.default_rng(4).normal(size=len(fam))   # a covariate without ties
    return fam


def families_long() -> pd.DataFrame:
    from sosstats.panel import wide_to_long

    return wide_to_long(families()[["family_id", "la_code", "cohort", "w", "sdq_t1",
                                    "sdq_t2"]], id="family_id")


def indicators() -> pd.DataFrame:
    """The simulated indicators of the analysed year (2017): mutations hit analysed rows."""
    ind = _evaluation().la_indicators
    return ind[ind["year"] == 2017].reset_index(drop=True)


def icpc_panel() -> pd.DataFrame:
    """The ICPC rate of every simulated year, for the over-time estimators."""
    ind = _evaluation().la_indicators
    return ind[ind["indicator"] == "icpc_rate_per_10k"].reset_index(drop=True)


def cea_frame() -> pd.DataFrame:
    fam = families()
    rng = np.random.default_rng(0)
    return pd.DataFrame({"cost": 1000 + 300 * fam["cohort2"] + rng.normal(0, 100, len(fam)),
                         "effect": fam["sdq_t1"].to_numpy() / 10,
                         "arm": np.where(fam["cohort2"] == 1, "sos", "usual"),
                         "la_code": fam["la_code"]})


# ----------------------------------------------------------------------------- the table
@dataclass
class Case:
    """One public callable: how to call it well, and which inputs to break.

    ``call(data, **overrides)`` runs it on the frame ``data`` (made by ``make``). ``numeric``
    are numeric columns it reads, ``required`` columns whose removal must be named, ``weights``
    a weights column, ``cluster`` a cluster column; ``params`` (result -> 1-D numbers) gives
    the point estimates the invariances compare; ``options`` names the keyword arguments that
    exist (``level``, ``k``, ``rng``).
    """

    make: Callable[[], pd.DataFrame]
    call: Callable[..., Any]
    numeric: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    weights: str | None = None
    cluster: str | None = None
    options: tuple[str, ...] = ()
    params: Callable[[Any], Any] = lambda r: r.params
    order_free: bool = True  # point estimates do not depend on row order
    frame: bool = True  # takes a DataFrame (False: columns of ``make()`` passed as arrays)
    xfail: dict[str, str] = field(default_factory=dict)


def _nb_compare(data, **kw):
    from sosstats.neighbours import compare

    fitted, pilots = _fitted_neighbours()
    kw.setdefault("n_draws", 200)
    kw.setdefault("n_resamples", 200)
    return compare(data, pilots, fitted, year=2017, **kw)


def _nb_did(data, **kw):
    from sosstats.neighbours import neighbour_did

    fitted, pilots = _fitted_neighbours()
    return neighbour_did(data, pilots, fitted, indicator="icpc_rate_per_10k",
                         start_year=2016, **kw)


def _nb_fit(data, **kw):
    from sosstats.datasets import COVARIATES
    from sosstats.neighbours import StatisticalNeighbours

    return StatisticalNeighbours(COVARIATES, k=kw.pop("k", 5)).fit(data)


def _nb_rate(data, **kw):
    from sosstats.neighbours import rate_per_10k

    return rate_per_10k(data["count"], data["population"], **kw)


def _match(data, **kw):
    from sosstats.matching import match

    return match(data, treatment="cohort2", covariates=["sdq_t1", "previous_referral"], **kw)


def _balance(data, **kw):
    from sosstats.matching import balance_table

    return balance_table(data, "cohort2", ["sdq_t1", "previous_referral"], **kw)


def _matched_effect(data, **kw):
    from sosstats.matching import matched_effect

    return matched_effect(data, "sdq_t1", "cohort2", weights="w", cluster=None, **kw)


def _change(data, **kw):
    from sosstats.panel import change_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return change_model("sdq ~ C(cohort)", data, entity="family_id", time="wave",
                            cluster="la_code", inference=kw.pop("inference", "cr2"), **kw)


def _mcnemar(data, **kw):
    from sosstats.panel import mcnemar

    return mcnemar(data, "shared_understanding_t1", "shared_understanding_t2", **kw)


def _reliable(data, **kw):
    from sosstats.panel import reliable_change

    return reliable_change(data, "sdq_t1", "sdq_t2", reliability=0.8, better="lower", **kw)


def _attrition(data, **kw):
    from sosstats.weighting import attrition_weights

    return attrition_weights(data, responded="responded", covariates=["sdq_t1", "cohort2"],
                             **kw)


def _wmean(data, **kw):
    from sosstats.weighting import weighted_mean

    return weighted_mean(data, "sdq_t1", weights="w", **kw)


def _rates(data, **kw):
    from sosstats.weighting import response_rates

    return response_rates(data, "responded", by="cohort", **kw)


def _nonresponse(data, **kw):
    from sosstats.weighting import nonresponse_tests

    return nonresponse_tests(data, "responded", ["sdq_t1", "previous_referral"], **kw)


def _manski(data, **kw):
    from sosstats.weighting import manski_bounds

    return manski_bounds(data, "shared_understanding_t2", "responded", **kw)


def _cea(data, **kw):
    from sosstats.vfm import cea

    kw.setdefault("n_resamples", 200)
    kw.setdefault("rng", 1)
    return cea(data, cost="cost", effect="effect", group="arm", reference="usual", **kw)


def _diary(data, **kw):
    from sosstats.vfm import diary_costs

    kw.setdefault("n_resamples", 50)
    kw.setdefault("rng", 1)
    return diary_costs(data, 40.0, **kw)


def _present_value(data, **kw):
    from sosstats.vfm import present_value

    return present_value(data["flow"], 0.035, **kw)


def _ml_build(data, **kw):
    pytest.importorskip("pymc")
    from sosstats.multilevel import MultilevelModel

    return MultilevelModel("sdq_t1 ~ cohort2", data, levels=["la_code"], **kw).build()



def _synth(data, **kw):
    from sosstats.neighbours import synthetic_control

    fitted, pilots = _fitted_neighbours()
    kw.setdefault("n_draws", 100)
    return synthetic_control(data, pilots[:2], indicator="icpc_rate_per_10k", start_year=2016,
                             donors="neighbours", neighbours=fitted, placebo=False, **kw)


def _stuart(data, **kw):
    from sosstats.panel import stuart_maxwell

    return stuart_maxwell(data, "feelings_t1", "feelings_t2", **kw)


def _clogit(data, **kw):
    from sosstats.panel import conditional_logit

    return conditional_logit(data, "knows_goals_t1", "knows_goals_t2", covariates="cohort2",
                             cluster="la_code", **kw)


def _wide_to_long(data, **kw):
    from sosstats.panel import wide_to_long

    return wide_to_long(data, id="family_id", stubs=["sdq"], **kw)


def _wprop(data, **kw):
    from sosstats.weighting import weighted_proportion

    return weighted_proportion(data, "shared_understanding_t2", weights="w", **kw)


def _weff(data, **kw):
    from sosstats.weighting import weighting_effect

    return weighting_effect(data, "sdq_t2", "w_t2", **kw)


def _lee(data, **kw):
    from sosstats.weighting import lee_bounds

    return lee_bounds(data, "sdq_t2", "cohort", "responded", reference=1, **kw)


def _abadie(data, **kw):
    from sosstats.matching import abadie_imbens_se

    # a continuous covariate: with ties the k-d tree's order decides the M matches (documented)
    return abadie_imbens_se(data, "sdq_t1", "cohort2", ["score", "feelings_t1"], **kw)


def _impute(data, **kw):
    from sosstats.weighting import impute_chained

    kw.setdefault("rng", 1)
    return impute_chained(data, ["sdq_t2"], predictors=["sdq_t1", "cohort2"], n_imputations=2,
                          n_iter=2, **kw)


def _tidy_numbers(result) -> np.ndarray:
    t = result.tidy()
    return t.select_dtypes("number").to_numpy(dtype=float)


CASES: dict[str, Case] = {
    "neighbours.compare": Case(indicators, _nb_compare, numeric=["value"],
                               required=["value", "la_code", "indicator"],
                               options=("level", "k", "rng"),
                               params=lambda r: r.params.sort_index().to_numpy()),
    "neighbours.neighbour_did": Case(icpc_panel, _nb_did, numeric=["value"],
                                     required=["value", "year"], options=("level", "k")),
    "neighbours.StatisticalNeighbours": Case(lambda: _evaluation().las.copy(), _nb_fit,
                                             numeric=["deprivation_score"],
                                             required=["deprivation_score", "la_code"],
                                             options=("k",),
                                             params=lambda r: r.neighbours_["distance"]
                                             .to_numpy(), order_free=False),
    "neighbours.rate_per_10k": Case(lambda: pd.DataFrame({"count": [5, 10, 0, 40],
                                                          "population": [1e4, 2e4, 5e3, 8e4]}),
                                    _nb_rate, numeric=["count", "population"],
                                    options=("level",), params=lambda r: r.iloc[:, 0].to_numpy(),
                                    order_free=False, frame=False),
    "matching.match": Case(families, _match, numeric=["sdq_t1"],
                           required=["sdq_t1", "cohort2"], options=("rng",),
                           params=lambda r: np.sort(r.weights.to_numpy()), order_free=False),
    "matching.balance_table": Case(families, _balance, numeric=["sdq_t1"],
                                   required=["sdq_t1", "cohort2"],
                                   params=_tidy_numbers),
    "matching.matched_effect": Case(families, _matched_effect, numeric=["sdq_t1", "w"],
                                    required=["sdq_t1", "cohort2", "w"], weights="w",
                                    options=("level",)),
    "panel.change_model": Case(families_long, _change, numeric=["sdq"],
                               required=["sdq", "family_id", "wave", "la_code"],
                               cluster="la_code", options=("level",)),
    "panel.mcnemar": Case(families, _mcnemar, numeric=["shared_understanding_t1"],
                          required=["shared_understanding_t1", "shared_understanding_t2"],
                          params=lambda r: np.array([r.tidy()["statistic"].iloc[0]])),
    "panel.reliable_change": Case(families, _reliable, numeric=["sdq_t1"],
                                  required=["sdq_t1", "sdq_t2"], options=("level",)),
    "weighting.attrition_weights": Case(families, _attrition, numeric=["sdq_t1"],
                                        required=["sdq_t1", "responded"],
                                        params=lambda r: np.asarray(r.weights, dtype=float),
                                        order_free=False),
    "weighting.weighted_mean": Case(families, _wmean, numeric=["sdq_t1", "w"],
                                    required=["sdq_t1", "w"], weights="w",
                                    options=("level",)),
    "weighting.response_rates": Case(families, _rates, required=["responded", "cohort"],
                                     options=("level",), params=_tidy_numbers),
    "weighting.nonresponse_tests": Case(families, _nonresponse, numeric=["sdq_t1"],
                                        required=["sdq_t1", "responded"],
                                        params=_tidy_numbers),
    "weighting.manski_bounds": Case(families, _manski,
                                    required=["responded", "shared_understanding_t2"],
                                    options=("level",), params=_tidy_numbers),
    "vfm.cea": Case(cea_frame, _cea, numeric=["cost", "effect"],
                    required=["cost", "effect", "arm"], cluster="la_code",
                    options=("level", "rng"), params=lambda r: r.params.to_numpy()),
    "vfm.diary_costs": Case(lambda: _evaluation().diaries.copy(), _diary, numeric=["minutes"],
                            required=["minutes", "worker_id", "activity"],
                            options=("level", "rng"), params=lambda r: r.params.to_numpy()),
    "vfm.present_value": Case(lambda: pd.DataFrame({"flow": [100.0, 100.0, 100.0]}),
                              _present_value, numeric=["flow"],
                              params=lambda r: np.atleast_1d(np.asarray(r, dtype=float)),
                              order_free=False, frame=False),
    "neighbours.synthetic_control": Case(icpc_panel, _synth, numeric=["value"],
                                         required=["value", "year"], options=("k", "rng"),
                                         params=lambda r: r.params.sort_index().to_numpy()),
    "panel.stuart_maxwell": Case(families, _stuart,  # any values are categories: no numeric
                                 required=["feelings_t1", "feelings_t2"],
                                 params=lambda r: np.array([r.tidy()["statistic"].iloc[0]])),
    "panel.conditional_logit": Case(families, _clogit, numeric=["knows_goals_t1"],
                                    required=["knows_goals_t1", "knows_goals_t2", "la_code"],
                                    cluster="la_code", options=("level",)),
    # a stub observed at one wave only is NaN at the other (documented): sdq_t1 may go
    "panel.wide_to_long": Case(families, _wide_to_long, required=["family_id"],
                               params=lambda r: np.sort(r["sdq"].to_numpy(dtype=float,
                                                                          na_value=np.nan)),
                               order_free=False),
    "weighting.weighted_proportion": Case(families, _wprop, numeric=["w"],
                                          required=["shared_understanding_t2", "w"],
                                          weights="w", options=("level",)),
    "weighting.weighting_effect": Case(families, _weff, numeric=["sdq_t2", "w_t2"],
                                       required=["sdq_t2", "w_t2"], weights="w_t2",
                                       options=("level",)),
    "weighting.lee_bounds": Case(families, _lee, required=["sdq_t2", "cohort", "responded"],
                                 options=("level",), params=_tidy_numbers),
    "matching.abadie_imbens_se": Case(families, _abadie, numeric=["sdq_t1", "score"],
                                      required=["sdq_t1", "cohort2", "score"],
                                      options=("level",)),
    "weighting.impute_chained": Case(families, _impute, numeric=["sdq_t1"],
                                     required=["sdq_t1", "sdq_t2", "cohort2"],
                                     options=("rng",),
                                     params=lambda r: np.sort(np.concatenate(
                                         [d["sdq_t2"].to_numpy(dtype=float) for d in r])),
                                     order_free=False),
    "multilevel.MultilevelModel": Case(families, _ml_build, numeric=["sdq_t1"],
                                       required=["sdq_t1", "cohort2", "la_code"],
                                       params=lambda r: np.array([1.0]), order_free=False),
}

#: Public names not driven by the table above, and why.
EXEMPT: dict[str, str] = {}

# ----------------------------------------------------------------------------- survey / design
# Every survey estimate goes through SurveyDesign(data, cluster=..., weights=...), so the sweep
# tests the seam from the user's frame: the design validates the columns it reads, and the
# estimator those it is asked for.
_POP_COHORT = {1: 3000.0, 2: 3500.0}
_POP_EXPERIENCE = {"new": 2000.0, "2 years": 2500.0, "2 years plus": 2000.0}


def _svy(data, cluster="la_code", weights="w"):
    from sosstats.survey import SurveyDesign

    return SurveyDesign(data, cluster=cluster, weights=weights)


def _svy_call(method: str, *args, **fixed):
    def call(data, **kw):
        import sosstats.survey as survey

        return getattr(survey, method)(_svy(data), *args, **fixed, **kw)
    return call


def _svy_then_mean(method: str, *args, **fixed):
    def call(data, **kw):
        import sosstats.survey as survey

        return getattr(survey, method)(_svy(data), *args, **fixed).mean("sdq_t1", **kw)
    return call


def _agree(method: str, raters, **fixed):
    def call(data, **kw):
        import sosstats.survey as survey

        kw.setdefault("n_resamples", 50)
        kw.setdefault("rng", 1)
        return getattr(survey, method)(data, raters, cluster="la_code", **fixed, **kw)
    return call


def case_records() -> pd.DataFrame:
    return _evaluation().case_records.iloc[:200].copy()


def _kappa(data, **kw):
    from sosstats.survey import cohens_kappa

    kw.setdefault("n_resamples", 50)
    kw.setdefault("rng", 1)
    return cohens_kappa(data, "coder_1", "coder_2", cluster="la_code", **kw)


def _allocations(data, **kw):
    from sosstats.design import restricted_allocations

    kw.setdefault("rng", 1)
    return restricted_allocations(data, 3, balance_on=["deprivation_score", "child_population"],
                                  id="la_code", **kw)


def _params_sorted(r):
    return r.params.sort_index().to_numpy(dtype=float)


def _first_statistic(r):
    return np.array([r.tidy()["statistic"].iloc[0]], dtype=float)


_SVY = dict(weights="w", cluster="la_code", options=("level",))
_AGREE = dict(required=["coder_1", "coder_2", "la_code"], cluster="la_code",
              options=("level", "rng"), params=lambda r: r.params.to_numpy(dtype=float))

CASES.update({
    "survey.mean": Case(families, _svy_call("mean", "sdq_t1", by="cohort"),
                        numeric=["sdq_t1", "w"], required=["sdq_t1", "cohort", "w", "la_code"],
                        params=_params_sorted, **_SVY),
    "survey.total": Case(families, _svy_call("total", "sdq_t1"), numeric=["sdq_t1", "w"],
                         required=["sdq_t1", "w", "la_code"], params=_params_sorted, **_SVY),
    "survey.proportion": Case(families, _svy_call("proportion", "shared_understanding_t1",
                                                  by="cohort"),
                              numeric=["w"], required=["shared_understanding_t1", "cohort"],
                              params=_params_sorted, **_SVY),
    "survey.quantile": Case(families, _svy_call("quantile", "score", q=0.5),
                            numeric=["score", "w"], required=["score"],
                            params=_params_sorted, **_SVY),
    "survey.chisq": Case(families, _svy_call("chisq", "feelings_t1", "experience"),
                         numeric=["w"], required=["feelings_t1", "experience"],
                         weights="w", cluster="la_code", params=_first_statistic),
    "survey.compare": Case(families, _svy_call("compare", "sdq_t1", "cohort"),
                           numeric=["sdq_t1", "w"], required=["sdq_t1", "cohort"],
                           params=_params_sorted, **_SVY),
    "survey.trend": Case(families, _svy_call("trend", "feelings_t1", by="cohort"),
                         numeric=["feelings_t1", "w"], required=["feelings_t1", "cohort"],
                         params=_params_sorted, **_SVY),
    "survey.calibrate": Case(families, _svy_then_mean("calibrate", "~ cohort2",
                                                      {"(Intercept)": 6500.0,
                                                       "cohort2": 3500.0}),
                             numeric=["sdq_t1", "cohort2", "w"], required=["cohort2", "w"],
                             params=_params_sorted, **_SVY),
    "survey.rake": Case(families, _svy_then_mean("rake", {"cohort": _POP_COHORT,
                                                          "experience": _POP_EXPERIENCE}),
                        numeric=["w"], required=["cohort", "experience", "w"],
                        params=_params_sorted, **_SVY),
    "survey.poststratify": Case(families, _svy_then_mean("poststratify", "cohort",
                                                         _POP_COHORT),
                                numeric=["w"], required=["cohort", "w"],
                                params=_params_sorted, **_SVY),
    "survey.glm": Case(families, _svy_call("glm", "sdq_t1 ~ cohort2"),
                       numeric=["sdq_t1", "cohort2", "w"], required=["sdq_t1", "cohort2"],
                       params=_params_sorted, **_SVY),
    "survey.olr": Case(families, _svy_call("olr", "feelings_t1 ~ score"),
                       numeric=["score", "w"], required=["feelings_t1", "score"],
                       params=_params_sorted, **_SVY),
    "survey.cohens_kappa": Case(case_records, _kappa, **_AGREE),
    "survey.fleiss_kappa": Case(case_records, _agree("fleiss_kappa", ["coder_1", "coder_2"]),
                                **_AGREE),
    "survey.krippendorff_alpha": Case(case_records, _agree("krippendorff_alpha",
                                                           ["coder_1", "coder_2"]), **_AGREE),
    "survey.gwet_ac1": Case(case_records, _agree("gwet_ac1", ["coder_1", "coder_2"]),
                            **_AGREE),
    "survey.percent_agreement": Case(case_records, _agree("percent_agreement",
                                                          ["coder_1", "coder_2"]), **_AGREE),
    "survey.agreement": Case(case_records, _agree("agreement", ["coder_1", "coder_2"]),
                             required=["coder_1", "coder_2", "la_code"], cluster="la_code",
                             options=("level", "rng"), params=_tidy_numbers),
    "design.restricted_allocations": Case(
        lambda: _evaluation().las.iloc[:12].copy(), _allocations,
        numeric=["deprivation_score", "child_population"],
        required=["deprivation_score", "child_population", "la_code"], options=("rng",),
        params=lambda r: np.sort(np.asarray(r.imbalance, dtype=float))),
})

EXEMPT.update({
    "multilevel.clear_compiled_cache": "takes no data (empties the compiled-model cache); "
                                       "tests/multilevel/test_multilevel_compiled_reuse.py",
    "multilevel.compiled_cache_info": "takes no data; tests/multilevel",
    "multilevel.set_compiled_cache": "takes two keyword options, no frame; tests/multilevel",
    "survey.SurveyDesign": "entered through every survey case above: each builds "
                           "SurveyDesign(data, cluster=, weights=) from the mutated frame",
    "design.simulate_study": "takes callables (design, estimator), not a frame; its bad inputs "
                             "are tested in tests/design/test_design_simulate.py",
    "design.power_curve": "takes a design factory and an estimator; tested in tests/design",
    "design.minimum_detectable_effect": "takes a design factory or a PowerCurveResult; tested "
                                        "in tests/design",
    "design.combine_estimators": "takes a mapping of callables; tested in tests/design",
    "design.sbc": "takes prior / simulate / fit callables; tested in tests/design",
    "design.posterior_draws": "takes a fitted model object; tested in tests/design",
    "design.study_2017": "a design factory of keyword numbers, no frame; tested in tests/design",
    "design.matched_la_did": "a design factory of keyword numbers, no frame; tested in "
                             "tests/design",
    "design.stepped_wedge": "a design factory of keyword numbers, no frame; tested in "
                            "tests/design",
    "design.two_arm": "a design factory of keyword numbers, no frame; tested in tests/design",
    "design.Study2017": "a design object made by study_2017 (input to simulate_study)",
    "design.MatchedDiD": "a design object made by matched_la_did (input to simulate_study)",
    "design.SteppedWedge": "a design object made by stepped_wedge (input to simulate_study)",
    "design.TwoArm": "a design object made by two_arm (input to simulate_study)",
    "survey.AgreementTable": "a result class (a TableResult) built by agreement()",
    "design.AllocationSet": "the allocations made by restricted_allocations (entered above)",
    "design.MeanDifferenceResult": "the result of the ready-made designs' estimator, built by "
                                   "simulate_study's replicates, not by users from data",
    "design.evaluation_families": "a design factory of keyword numbers, no frame; tested in "
                                  "tests/design/test_design_batched.py",
    "design.change_estimator": "an estimator factory (a formula and options, no frame); tested "
                               "in tests/design/test_design_batched.py",
    "design.EvaluationFamilies": "a design object made by evaluation_families (input to "
                                 "simulate_study)",
    "design.ChangeEstimator": "an estimator made by change_estimator (input to simulate_study)",
    "report.reproduce": "takes strand names and user frames, not one frame; unknown strands, a "
                        "non-integer seed, bad formats, an unwritable folder and a user frame "
                        "missing a column are tested in tests/report/test_report_api.py",
    "report.render_html": "renders a Report or Section (no user frame); tests/report",
    "report.render_markdown": "renders a Report or Section (no user frame); tests/report",
    "report.Report": "the result of reproduce (a container of sections), not built from data",
    "report.Section": "a data class a strand fills in (renderers read it); tests/report",
    "report.StrandContext": "the inputs handed to every strand (seed, quick, frames); its frames "
                            "are checked by reproduce against each strand's FRAMES",
    "report.StrandFailure": "a record of a strand that raised (key, error, traceback)",
})

_RESULTS = ("Result", "Comparison", "Sensitivity", "Balance", "Overlap", "Ranking", "Bounds", "Rates", "Tests",
            "Point", "Weights", "Imputations", "Costs", "Cost", "View", "Amount", "Even",
            "OneWay", "Evaluation", "Census", "Check", "Prior", "Priors", "Ratio", "Probability",
            "Parameter", "Neighbours", "Effect")
_CONSTANTS = {"COVARIATES", "DUPLICATE_INDICATORS", "METHODS", "DEFAULT_WTP", "GREEN_BOOK",
              "QUADRANTS"}
_COVERED_IN_MODULE_TESTS = {
    # array-level calculators and lower-traffic entry points: their bad inputs are tested in
    # the capability's own test module; entering them here is the next step of the sweep
    "datasets": {"find_duplicate_indicators", "load_indicator_dictionary", "load_la_indicators",
                 "load_statistical_neighbours", "published_2016", "signs_of_safety_pilots",
                 "simulate_evaluation", "simulate_census"},
    "neighbours": {"from_published", "funnel_limits", "funnel_plot", "learn_weights",
                   "neighbour_recovery", "neighbour_stability", "poisson_interval",
                   "randomization_distribution", "reproduce_2016", "simulated_comparison"},
    "matching": {"rosenbaum_bounds"},
    "panel": {"all_assignments", "change_means", "change_plot", "coefficient_plot",
              "jacobson_truax_cutoffs", "long_to_wide",
              "mcnemar_from_table", "n_assignments", "ordered_change", "paired_table",
              "randomization_test", "stuart_maxwell_from_table"},
    "weighting": {"mi_change_model", "pool", "pool_estimates", "replicate_weights",
                  "tipping_point"},
    "multilevel": {"compare_models", "prior_sensitivity", "scale_priors"},
    "vfm": {"annuity", "avoided_costs", "beta_probability", "break_even", "budget",
            "discount", "discount_factors", "discount_rates", "gamma_cost",
            "incremental_analysis", "lognormal_ratio", "normal", "one_way", "psa", "quadrant",
            "reprice", "training_cost", "unit_cost", "evppi"},
}


def _public_names() -> dict[str, str]:
    out = {}
    for sub in SUBPACKAGES:
        mod = importlib.import_module(f"sosstats.{sub}")
        for name in mod.__all__:
            out[f"{sub}.{name}"] = sub
    return out


def _exemption(qualified: str) -> str | None:
    sub, name = qualified.split(".")
    if name in _CONSTANTS:
        return "a constant"
    obj = getattr(importlib.import_module(f"sosstats.{sub}"), name)
    if isinstance(obj, type) and name.endswith(_RESULTS) and qualified not in CASES:
        return "a result or value class: built by an entry point, not by users from data"
    if name in _COVERED_IN_MODULE_TESTS.get(sub, set()):
        return "bad inputs tested in the capability's own tests; not yet entered here"
    return EXEMPT.get(qualified)


def test_every_public_name_is_entered():
    names = _public_names()
    missing = sorted(q for q in names if q not in CASES and _exemption(q) is None)
    assert not missing, ("public names neither in CASES nor exempt (enter them in "
                         f"tests/test_public_api_inputs.py): {missing}")
    both = sorted(q for q in CASES
                  if q.split(".")[1] in _COVERED_IN_MODULE_TESTS.get(q.split(".")[0], ()))
    assert not both, f"entered in CASES and still listed as not yet entered: {both}"
    stale = sorted(q for q in CASES if q not in names)
    assert not stale, f"CASES names that are no longer public: {stale}"


# ----------------------------------------------------------------------------- mutations
def _quiet(case: Case, data: pd.DataFrame, **kw) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return case.call(data, **kw)


def _raises_named(case: Case, data: pd.DataFrame, names: list[str], *, may_work: bool = False,
                  **kw) -> None:
    """The call raises a SosstatsError naming one of ``names`` (or works, if ``may_work``)."""
    try:
        _quiet(case, data, **kw)
    except SosstatsError as exc:
        msg = str(exc)
        assert any(n in msg for n in names), f"message does not name {names}: {msg}"
        return
    except Exception as exc:  # noqa: BLE001 - the point is to catch raw errors
        pytest.fail(f"raw {type(exc).__name__} instead of a sosstats error: {exc}")
    if not may_work:
        pytest.fail(f"no error for a bad input (expected one naming {names})")


def _set_first(data: pd.DataFrame, column: str, value: Any) -> pd.DataFrame:
    out = data.copy()
    rows = out.index[out[column].notna()][:3]
    out[column] = out[column].astype(float) if value is not None else out[column]
    out.loc[rows, column] = value
    return out


def _bad_inputs():
    for name, case in CASES.items():
        for col in case.numeric:
            yield name, f"nan_in_{col}", col
            yield name, f"inf_in_{col}", col
            yield name, f"text_in_{col}", col
        for col in case.required:
            yield name, f"missing_{col}", col
        for what in ("empty_frame", "one_row", "not_a_frame") if case.frame else ("empty",):
            yield name, what, None
        if case.weights:
            yield name, "negative_weights", case.weights
        if case.cluster:
            yield name, "one_cluster", case.cluster
        if "level" in case.options:
            yield name, "level_95", "level"
        if "k" in case.options:
            yield name, "k_0", "k"


def _param(name: str, what: str, col: str | None):
    case = CASES[name]
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail[what])] if what in case.xfail \
        else []
    return pytest.param(name, what, col, id=f"{name}-{what}", marks=marks)


@pytest.mark.parametrize(("name", "what", "col"), [_param(*c) for c in _bad_inputs()])
def test_bad_input_gets_a_named_sosstats_error(name, what, col):
    case = CASES[name]
    data = case.make()
    if what.startswith("nan_in_"):
        # missing values may be dropped (with a warning) or refused, never a raw error
        _raises_named(case, _set_first(data, col, np.nan), [col], may_work=True)
    elif what.startswith("inf_in_"):
        _raises_named(case, _set_first(data, col, np.inf), [col])
    elif what.startswith("text_in_"):
        bad = data.copy()
        bad[col] = bad[col].astype(object)
        bad.loc[bad.index[0], col] = "n/a"
        _raises_named(case, bad, [col])
    elif what.startswith("missing_"):
        _raises_named(case, data.drop(columns=col), [col])
    elif what in ("empty_frame", "empty"):
        # an array calculator may map empty input to empty output, as numpy does
        _raises_named(case, data.iloc[:0], ["data", "rows", "empty", "no ", "`"],
                      may_work=not case.frame)
    elif what == "one_row":
        _raises_named(case, data.iloc[:1], ["`", "'", "row", "unit", "cluster"], may_work=True)
    elif what == "not_a_frame":
        _raises_named(case, data.to_dict("list"), ["DataFrame", "data"])
    elif what == "negative_weights":
        _raises_named(case, _set_first(data, col, -1.0), [col])
    elif what == "one_cluster":
        one = data.assign(**{col: data[col].iloc[0]})
        _raises_named(case, one, [col, "cluster"], may_work=True)
    elif what == "level_95":
        _raises_named(case, data, ["level"], level=95)
    elif what == "k_0":
        _raises_named(case, data, ["`k`", "k "], k=0)


# ----------------------------------------------------------------------------- invariances
def _estimates(case: Case, data: pd.DataFrame, **kw) -> np.ndarray:
    return np.asarray(case.params(_quiet(case, data, **kw)), dtype=float)


def _invariances():
    for name, case in CASES.items():
        yield name, "frame_not_modified"
        yield name, "default_vs_shifted_index"
        yield name, "duplicated_index"
        yield name, "nullable_dtypes"
        yield name, "categorical_text"
        if case.order_free:
            yield name, "shuffled_rows"
        if "rng" in case.options:
            yield name, "same_rng_same_result"


def _nullable(data: pd.DataFrame) -> pd.DataFrame:
    out = data.copy()
    for c in out.columns:
        s = out[c]
        if pd.api.types.is_bool_dtype(s):
            out[c] = s.astype("boolean")
        elif pd.api.types.is_integer_dtype(s):
            out[c] = s.astype("Int64")
        elif pd.api.types.is_float_dtype(s):
            out[c] = s.astype("Float64")
    return out


def _categorical(data: pd.DataFrame) -> pd.DataFrame:
    out = data.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype("category")
    return out


def _iparam(name: str, what: str):
    case = CASES[name]
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail[what])] if what in case.xfail \
        else []
    return pytest.param(name, what, id=f"{name}-{what}", marks=marks)


@pytest.mark.parametrize(("name", "what"), [_iparam(*c) for c in _invariances()])
def test_invariances(name, what):
    case = CASES[name]
    data = case.make()
    if what == "frame_not_modified":
        before = copy.deepcopy(data)
        _quiet(case, data)
        pd.testing.assert_frame_equal(data, before)
        return
    base = _estimates(case, data)
    if what == "default_vs_shifted_index":
        other = data.set_axis(pd.RangeIndex(1000, 1000 + len(data))[::-1], axis=0)
    elif what == "duplicated_index":
        other = data.set_axis(np.zeros(len(data), dtype=int), axis=0)
    elif what == "nullable_dtypes":
        other = _nullable(data)
    elif what == "categorical_text":
        other = _categorical(data)
    elif what == "shuffled_rows":
        other = data.sample(frac=1.0, random_state=5)
    elif what == "same_rng_same_result":
        a, b = _quiet(case, data, rng=11), _quiet(case, data, rng=11)
        if hasattr(a, "tidy"):
            pd.testing.assert_frame_equal(a.tidy(), b.tidy())
        np.testing.assert_array_equal(np.asarray(case.params(a), dtype=float),
                                      np.asarray(case.params(b), dtype=float))
        return
    try:
        got = _estimates(case, other)
    except SosstatsError as exc:
        if what == "duplicated_index":  # refusing a duplicated index with a clear error is fine
            assert "index" in str(exc) or "duplicate" in str(exc), str(exc)
            return
        raise
    np.testing.assert_allclose(got, base, rtol=1e-8, atol=1e-10, err_msg=f"{name}: {what}")

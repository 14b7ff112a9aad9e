"""Every panel result sits on Result or TableResult, with no copies of the base (issue 13)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sosstats.panel as panel
from sosstats._kernels.wild_result import WildBootResult
from sosstats._results import Result, TableResult
from sosstats.datasets import simulate_evaluation

MINE = [name for name in panel.__all__ if name.endswith("Result")
        and name != "RandomizationResult"]     # randomisation results: unified elsewhere


@pytest.fixture(scope="module")
def families():
    return simulate_evaluation(rng=2, n_families=270).families


@pytest.mark.parametrize("name", MINE + ["WildBootResult"])
def test_on_one_of_the_two_bases_without_copies(name):
    cls = WildBootResult if name == "WildBootResult" else getattr(panel, name)
    assert issubclass(cls, (Result, TableResult))
    for klass in cls.__mro__:
        if klass in (Result, TableResult, object):
            break
        own = vars(klass)
        assert "__str__" not in own and "conf_int" not in own and "t_interval" not in own
        assert "tidy" not in own and "to_dict" not in own


def test_plot_exists_only_where_there_is_a_picture():
    assert callable(panel.ChangeResult.plot)
    assert callable(panel.OrderedChangeResult.plot)
    assert callable(panel.ReliableChangeResult.plot)
    for cls in (panel.ConditionalLogitResult, panel.McNemarResult, panel.StuartMaxwellResult,
                WildBootResult):
        assert not hasattr(cls, "plot")


def test_paired_tests_are_table_results(families):
    res = panel.mcnemar(families, "shared_understanding_t1", "shared_understanding_t2")
    tidy = res.tidy()
    assert list(tidy.columns[:6]) == ["test", "statistic", "df", "p_value", "nobs",
                                     "n_dropped"]
    assert tidy.loc[0, "n_up"] == res.n_up and tidy.loc[0, "nobs"] == res.nobs
    assert pd.isna(tidy.loc[0, "df"])                    # exact test: no df
    text = str(res)
    assert res.method in text and "shared_understanding_t2" in text
    json.dumps(res.to_dict())
    sm = panel.stuart_maxwell(families, "feelings_t1", "feelings_t2")
    assert sm.tidy().loc[0, "df"] == sm.df and sm.p_value == sm.tidy().loc[0, "p_value"]
    json.dumps(sm.to_dict())


def test_unclustered_logit_has_normal_intervals_from_df_inf(families):
    res = panel.conditional_logit(families, "shared_understanding_t1",
                                  "shared_understanding_t2")
    tidy = res.tidy()
    assert np.isinf(tidy["df"]).all()
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(tidy["ci_upper"], tidy["estimate"] + z * tidy["std_error"])
    assert np.isfinite(tidy["ci_lower"]).all()


def test_change_result_intervals_come_from_the_base(families):
    long = panel.wide_to_long(families, id="family_id")
    with pytest.warns(Warning):
        res = panel.change_model("sdq ~ cohort", long, entity="family_id", time="wave",
                                 cluster="la_code", inference="cr2")
    ci = res.conf_int(0.9)
    t = stats.t.ppf(0.95, res.table["df"])
    np.testing.assert_allclose(ci["upper"], res.params + t * res.std_errors)


def test_reliable_change_summary_leaves_out_the_all_nan_test_columns(families):
    rc = panel.reliable_change(families, "sdq_t1", "sdq_t2", reliability=0.8, better="lower")
    table = rc.summary().to_frame()
    assert "p_value" not in table.columns and "statistic" not in table.columns
    assert "p_value" in rc.tidy().columns and rc.tidy()["count"].dtype.kind == "i"

"""Every matching result sits on one of the two result bases (issue 13: one result protocol)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from sosstats._results import Result, TableResult
from sosstats.errors import SosstatsWarning
from sosstats.matching import (
    AbadieImbensResult,
    Balance,
    MatchedEffectResult,
    MatchResult,
    RosenbaumResult,
    abadie_imbens_se,
    match,
    rosenbaum_bounds,
)


@pytest.fixture(scope="module")
def results():
    rng = np.random.default_rng(11)
    n = 160
    x = rng.normal(size=n)
    t = (rng.random(n) < 1 / (1 + np.exp(-0.5 * x))).astype(int)
    frame = pd.DataFrame({"t": t, "x": x, "b": rng.random(n) < 0.4,
                          "y": x + 0.5 * t + rng.normal(size=n)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        m = match(frame, treatment="t", covariates=["x", "b"])
        return {"match": m, "balance": m.balance(), "effect": m.estimate_effect("y"),
                "abadie_imbens": abadie_imbens_se(frame, "y", "t", ["x"]),
                "rosenbaum": rosenbaum_bounds(data=frame, pairs=m.pairs, outcome="y",
                                              gammas=[1, 1.5, 2])}


BASES = {MatchResult: TableResult, Balance: TableResult, RosenbaumResult: TableResult,
         MatchedEffectResult: Result, AbadieImbensResult: Result}


@pytest.mark.parametrize("cls", list(BASES), ids=lambda c: c.__name__)
def test_every_result_is_on_a_base_without_copies(cls):
    assert issubclass(cls, BASES[cls])
    # __str__ comes from the base; intervals from Result's df column; no to_frame copies
    assert "__str__" not in cls.__dict__
    assert "_interval" not in cls.__dict__
    assert "to_frame" not in cls.__dict__


@pytest.mark.parametrize("name, first_column", [
    ("match", "sample"), ("balance", "covariate"), ("rosenbaum", "gamma"),
    ("effect", "term"), ("abadie_imbens", "term")])
def test_tidy_summary_to_dict(results, name, first_column):
    res = results[name]
    tidy = res.tidy()
    assert isinstance(tidy, pd.DataFrame) and tidy.columns[0] == first_column
    assert str(res) == str(res.summary())
    json.dumps(res.to_dict())                              # plain Python values only
    assert res._repr_html_().startswith("<h4>")


def test_match_result_rows_are_named(results):
    tidy = results["match"].tidy()
    assert tidy["sample"].tolist() == ["all", "matched", "matched (ESS)", "unmatched",
                                       "discarded"]
    assert results["match"].to_dict()["nobs"] == results["match"].nobs


def test_only_results_with_a_picture_have_plot(results):
    for name in ("match", "balance", "rosenbaum"):
        assert callable(results[name].plot)
    for name in ("effect", "abadie_imbens"):
        assert not hasattr(results[name], "plot")
    import matplotlib.pyplot as plt

    plt.close("all")


def test_effect_interval_is_student_t_from_the_df_column(results):
    from scipy import stats

    res = results["effect"]
    row = res.table.iloc[0]
    q = stats.t.ppf(0.95, row["df"])
    ci = res.conf_int(0.9).iloc[0]
    assert ci["lower"] == pytest.approx(row["estimate"] - q * row["std_error"], rel=1e-12)
    assert ci["upper"] == pytest.approx(row["estimate"] + q * row["std_error"], rel=1e-12)


def test_exported_names_live_in_public_modules():
    import importlib

    import sosstats.matching as pkg

    for name in pkg.__all__:
        module = getattr(pkg, name).__module__
        assert not any(part.startswith("_") for part in module.split(".")[1:]), (name, module)
        assert getattr(importlib.import_module(module), name) is getattr(pkg, name)

"""change_model on panels of more than two waves (issue 14): first differences over
consecutive waves (plm's fd) and panel methods without forced wave effects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sosstats.errors import DataError, DesignError
from sosstats.panel import change_model

FIX = Path(__file__).resolve().parents[1] / "fixtures"
CASES = {"fd": dict(method="first_difference", time_effects=False),
         "fd_time": dict(method="first_difference"),
         "within": dict(method="fixed_effects", time_effects=False)}


@pytest.fixture(scope="module")
def panel():
    return pd.read_csv(FIX / "multiwave_reference_input.csv")


@pytest.mark.parametrize("model", list(CASES))
@pytest.mark.parametrize("inference,col", [("cr1", "se_cr1"), ("cr2", "se_cr2")])
def test_matches_plm_and_clubsandwich(panel, model, inference, col):
    ref = pd.read_csv(FIX / "multiwave_reference_r.csv")
    ref = ref[ref.model == model].set_index("term")
    fit = change_model("y ~ x + z", panel, entity="id", time="t", cluster="cl",
                       inference=inference, **CASES[model])
    got = fit.table.loc[["x", "z"]]
    np.testing.assert_allclose(got["estimate"], ref["estimate"], rtol=1e-12)
    np.testing.assert_allclose(got["std_error"], ref[col], rtol=1e-10)
    if inference == "cr2":
        np.testing.assert_allclose(got["df"], ref["df_cr2"], rtol=1e-10)


def test_first_differences_layout(panel):
    fit = change_model("y ~ x + z", panel, entity="id", time="t", cluster="cl")
    assert fit.nobs == 60 * 3 and fit.n_entities == 60
    assert list(fit.table.index) == ["Intercept", "t[w3]", "t[w4]", "x", "z"]
    frame = fit.design
    assert list(frame["t"].unique()) == ["w2", "w3", "w4"]          # labelled by later wave
    first = panel[panel.id == "e01"].set_index("t")
    row = frame[(frame.id == "e01") & (frame.t == "w3")].iloc[0]
    assert row["y_change"] == pytest.approx(first.loc["w3", "y"] - first.loc["w2", "y"])
    assert row["x"] == pytest.approx(first.loc["w3", "x"] - first.loc["w2", "x"])
    # the change periods are one joint hypothesis
    w = fit.wald_test("t")
    assert w.df_num == 2 and w.test == "htz"


def test_time_invariant_regressor_enters_as_level(panel):
    d = panel.assign(group=(panel["cl"].str[-1].astype(int) % 2))
    fit = change_model("y ~ x + group", d, entity="id", time="t", cluster="cl")
    frame = fit.design
    grid = d.sort_values(["id", "t"]).groupby("id")["group"].first()
    assert (frame.groupby("id")["group"].first() == grid).all()


def test_two_waves_unchanged_by_time_effects(panel):
    two = panel[panel.t.isin(["w1", "w2"])]
    a = change_model("y ~ x", two, entity="id", time="t", cluster="cl")
    b = change_model("y ~ x", two, entity="id", time="t", cluster="cl", time_effects=False)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.nobs == 60


def test_fixed_effects_without_wave_effects_refuses_time_invariant(panel):
    d = panel.assign(group=(panel["cl"].str[-1].astype(int) % 2))
    with pytest.raises(DesignError, match="'group' are constant within entities.*time_effects"):
        change_model("y ~ x + group", d, entity="id", time="t", method="fixed_effects",
                     time_effects=False)
    re = change_model("y ~ x + group", d, entity="id", time="t", method="random_effects",
                      time_effects=False, cluster="cl")
    assert list(re.table.index) == ["Intercept", "group", "x"]


def test_weights_varying_within_entity_refused_for_first_differences(panel):
    d = panel.assign(w=np.where(panel.t == "w3", 2.0, 1.0))
    with pytest.raises(DataError, match="'w' varies within id"):
        change_model("y ~ x", d, entity="id", time="t", weights="w")
    ancova = panel[panel.t.isin(["w1", "w2", "w3"])]
    with pytest.raises(DataError, match="needs exactly two waves"):
        change_model("y ~ x", ancova, entity="id", time="t", method="ancova")


def test_default_clusters_by_entity_and_weights(panel):
    d = panel.assign(w=panel["id"].str[-1].astype(int) + 1.0)
    fit = change_model("y ~ x + z", d, entity="id", time="t", weights="w")
    assert fit.n_clusters == 60 and fit.inference == "cr1"         # 60 entities: CR1
    manual = d.sort_values(["id", "t"]).copy()
    g = manual.groupby("id")
    dy, dx, dz = g["y"].diff(), g["x"].diff(), g["z"].diff()
    keep = dy.notna()
    per = pd.get_dummies(manual.loc[keep, "t"], drop_first=True, dtype=float)
    X = np.column_stack([np.ones(keep.sum()), per, dx[keep], dz[keep]])
    wv = manual.loc[keep, "w"].to_numpy()
    beta = np.linalg.solve(X.T @ (X * wv[:, None]), X.T @ (wv * dy[keep].to_numpy()))
    np.testing.assert_allclose(fit.params.to_numpy(), beta, rtol=1e-10)

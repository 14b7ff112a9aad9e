"""CR2 of fixed-effects fits against clubSandwich's dummy-variable form (issue 14).

Unweighted (and with weights constant within entity) the absorbed within form that
change_model computes equals clubSandwich's lm with state and year dummies. With weights that
vary within an entity (population by year) the two working models differ: the absorbed form's
adjustment blocks are those of the demeaned design, the dummy form's are P_jj G_j P_jj' (P the
weighted within-entity demeaning). These tests pin the size of that documented difference
(MortalityRates: about 0.2% in the SEs) so a change either way is seen, and check that
``fe_form="dummies"`` reproduces clubSandwich's dummy-variable form (SEs, df, HTZ Wald test).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sosstats.panel import change_model

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def _dense_module():
    """tests/_kernels/test_cluster_wald.py, for its dense HTZ reference ``dense_htz_nu``."""
    path = Path(__file__).resolve().parents[1] / "_kernels" / "test_cluster_wald.py"
    spec = importlib.util.spec_from_file_location("cluster_wald_dense_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mortality():
    d = pd.read_csv(FIX / "cr2_weighted_fe_reference_input.csv", skipinitialspace=True)
    ref = pd.read_csv(FIX / "cr2_weighted_fe_reference_r.csv", skipinitialspace=True)
    return d, ref


def _ref(ref, model, quantity):
    sub = ref[(ref.model == model) & (ref.quantity == quantity)].set_index("term")["value"]
    return sub.loc[["legal", "beertaxa"]].to_numpy(dtype=float)


def _fit(d, weights, **kw):
    kw.setdefault("inference", "cr2")
    return change_model("mrate ~ legal + beertaxa", d, entity="state", time="year",
                        method="fixed_effects", cluster="state", weights=weights, **kw)


def test_unweighted_fixed_effects_cr2_equals_the_dummy_variable_form(mortality):
    d, ref = mortality
    fit = _fit(d, None)
    got = fit.table.loc[["legal", "beertaxa"]]
    np.testing.assert_allclose(got["estimate"], _ref(ref, "ols", "coef"), rtol=1e-10)
    np.testing.assert_allclose(got["std_error"], _ref(ref, "ols", "se"), rtol=1e-9)
    np.testing.assert_allclose(got["df"], _ref(ref, "ols", "df"), rtol=1e-8)


def test_weighted_fixed_effects_cr2_is_the_absorbed_form(mortality):
    d, ref = mortality
    fit = _fit(d, "pop")
    got = fit.table.loc[["legal", "beertaxa"]]
    np.testing.assert_allclose(got["estimate"], _ref(ref, "wls", "coef"), rtol=1e-10)
    rel = got["std_error"].to_numpy() / _ref(ref, "wls", "se") - 1
    # the absorbed form's SEs are 0.16% and 0.20% above the dummy form's here (known, open)
    assert np.all(rel > 1e-3) and np.all(rel < 3e-3), rel


@pytest.mark.parametrize("weights, model", [("pop", "wls"), (None, "ols")])
def test_dummy_form_equals_clubsandwich_lm_with_dummies(mortality, weights, model):
    d, ref = mortality
    before = d.copy()
    fit = _fit(d, weights, fe_form="dummies")
    pd.testing.assert_frame_equal(d, before)
    got = fit.table.loc[["legal", "beertaxa"]]
    np.testing.assert_allclose(got["estimate"], _ref(ref, model, "coef"), rtol=1e-10)
    np.testing.assert_allclose(got["std_error"], _ref(ref, model, "se"), rtol=1e-10)
    np.testing.assert_allclose(got["df"], _ref(ref, model, "df"), rtol=1e-9)
    sub = ref[(ref.model == model) & (ref.quantity == "vcov")]
    np.testing.assert_allclose(fit.vcov.loc["legal", "beertaxa"],
                               sub[(sub.term == "legal") & (sub.col == "beertaxa")]["value"],
                               rtol=1e-10)
    w = fit.wald_test(["legal", "beertaxa"]).tidy().iloc[0]
    assert w["test"] == "htz"
    if weights is None:
        htz = ref[(ref.model == model) & (ref.quantity == "htz")].set_index("term")["value"]
        np.testing.assert_allclose([w["statistic"], w["df_num"], w["df_denom"], w["p_value"]],
                                   htz.loc[["Fstat", "df_num", "df_denom", "p_val"]],
                                   rtol=1e-9)
    else:
        # clubSandwich 0.5.8's Wald_test on this weighted lm is not a usable reference: it
        # returns NaN for either one-constraint test (whose HTZ df must equal coef_test's
        # Satterthwaite df, 8.52 and 6.85, which we match above) and df_denom 19.6 for the
        # pair. The reference is the dense n x n transcription of its total_variance_mat.
        full, _, _ = fit._dummies
        R = np.zeros((2, full.X.shape[1]))
        R[0, full.terms.index("legal")] = R[1, full.terms.index("beertaxa")] = 1.0
        nu = _dense_module().dense_htz_nu(full.X, full.clusters, R, full.weights)
        np.testing.assert_allclose(w["df_denom"], nu - 1, rtol=1e-10)
    assert list(fit.table.index) == list(_fit(d, weights).table.index)  # no dummy rows shown
    assert "entity-dummy design" in str(fit.summary())


def test_dummy_form_is_refused_where_it_does_not_apply(mortality, monkeypatch):
    from sosstats.errors import DataError, DesignError
    from sosstats.panel import _dummy_form

    d, _ = mortality
    with pytest.raises(DataError, match="fe_form"):
        _fit(d, "pop", fe_form="lsdv")
    with pytest.raises(DataError, match="CR2 / CR3"):
        _fit(d, "pop", fe_form="dummies", inference="cr1")
    with pytest.raises(DataError, match="method='fixed_effects'"):
        change_model("mrate ~ legal", d[d.year <= 1971], entity="state", time="year",
                     fe_form="dummies", inference="cr2")
    monkeypatch.setattr(_dummy_form, "MAX_CELLS", 1000)
    with pytest.raises(DesignError, match="dense"):
        _fit(d, "pop", fe_form="dummies")


def test_dummy_form_without_inference_named_is_cr2(mortality):
    d, _ = mortality
    fit = change_model("mrate ~ legal + beertaxa", d, entity="state", time="year",
                       method="fixed_effects", cluster="state", weights="pop",
                       fe_form="dummies")                 # 50 states: the default would be CR1
    assert fit.inference == "cr2"
    assert "the default below 42" not in str(fit.summary())   # chosen by fe_form, not G

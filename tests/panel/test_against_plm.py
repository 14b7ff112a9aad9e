"""change_model's panel estimators against R's plm (frozen fixture, no R needed to run).

Fixture: ``tests/fixtures/plm_reference.R`` fits, on ``plm_reference_input.csv`` (178 families of
``simulate_evaluation(rng=0)`` x two waves, with a synthetic time-varying ``z``), plm's random
effects (Swamy-Arora), within (individual and two-way) and first-difference models.

Term naming. One formula ``sdq ~ cohort2 + z`` means "how does the change in sdq depend on
cohort2 (and z)". change_model names the wave effect ``wave[t2]`` and the time-invariant
regressor's effect on change ``cohort2:wave[t2]``; in plm the same columns are written out by hand
as ``post`` and ``cohort2_post``; plm's FD model differences ``cohort2_post`` into ``cohort2``
and its intercept is the mean change (change_model FD's ``Intercept``).

What is comparable. Coefficients and the RE variance components are the same numbers, to 1e-8.
Standard errors: change_model reports cluster-robust errors only; its ``cr0`` (clustered by family,
the default) is plm's ``vcovHC(method="arellano", type="HC0", cluster="group")`` exactly, and its
``cr1`` is that times the Stata factor ``G/(G-1) (n-1)/(n-p)`` (plm's ``HC1`` uses ``n/(n-k)``
instead: not compared). plm's default (non-robust) errors use its own residual df (RE ``n - K``,
within ``n - N - K``, FD ``N - K``); change_model has none, so the test rebuilds them from
change_model's public output (``design``, ``params``, ``info["theta"]``) with plm's df, which
checks that the transformed regressions are the same. The ``df`` column of change_model (``G - 1``
for cr0 / cr1) is a different convention from plm's residual df and is not compared.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sosstats.panel.change import change_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOL = {"rtol": 1e-8, "atol": 1e-10}
# change_model term -> plm term, per plm model
RE_TERMS = {"Intercept": "(Intercept)", "cohort2": "cohort2", "wave[t2]": "post",
            "cohort2:wave[t2]": "cohort2_post", "z": "z"}
FE_TERMS = {"wave[t2]": "post", "cohort2:wave[t2]": "cohort2_post", "z": "z"}
FD_TERMS = {"Intercept": "(Intercept)", "cohort2": "cohort2_post", "z": "z"}
METHOD_OF = {"re": "random_effects", "fe": "fixed_effects", "fe2": "fixed_effects",
             "fd": "first_difference"}
TERMS_OF = {"re": RE_TERMS, "fe": FE_TERMS, "fe2": FE_TERMS, "fd": FD_TERMS}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "plm_reference_input.csv")


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    out = pd.read_csv(FIXTURES / "plm_reference_r.csv", keep_default_na=False)
    out["value"] = out["value"].astype(float)
    return out


def _ref(ref: pd.DataFrame, model: str, quantity: str) -> pd.Series:
    sub = ref[(ref.model == model) & (ref.quantity == quantity)]
    return pd.Series(sub.value.to_numpy(), index=sub.term.to_numpy())


def _fit(data: pd.DataFrame, model: str, inference: str = "cr0"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # few-cluster warning is not raised (178)
        return change_model("sdq ~ cohort2 + z", data, entity="family_id", time="wave",
                            method=METHOD_OF[model], inference=inference)


def _matched(series: pd.Series, terms: dict[str, str]) -> tuple[np.ndarray, list[str]]:
    return series.loc[list(terms)].to_numpy(), list(terms.values())


@pytest.mark.parametrize("model", ["re", "fe", "fe2", "fd"])
def test_coefficients_match_plm(data, ref, model):
    fit = _fit(data, model)
    terms = TERMS_OF[model]
    assert list(fit.params.index) == list(terms)
    ours, names = _matched(fit.params, terms)
    np.testing.assert_allclose(ours, _ref(ref, model, "coef").loc[names].to_numpy(), **TOL)


def test_random_effects_variance_components_match_plm(data, ref):
    info = _fit(data, "re").info
    np.testing.assert_allclose(info["sigma2_e"], _ref(ref, "re", "sigma2_idios").iloc[0], **TOL)
    np.testing.assert_allclose(info["sigma2_u"], _ref(ref, "re", "sigma2_id").iloc[0], **TOL)
    theta = np.unique(np.round(np.asarray(info["theta"], dtype=float), 14))
    assert theta.size == 1                       # balanced: one theta for every family
    np.testing.assert_allclose(theta[0], _ref(ref, "re", "theta").iloc[0], **TOL)
    s2u, s2e = info["sigma2_u"], info["sigma2_e"]
    np.testing.assert_allclose(info["rho"], s2u / (s2u + s2e), **TOL)


@pytest.mark.parametrize("model", ["re", "fe", "fe2", "fd"])
def test_cr0_by_family_is_plm_arellano_hc0(data, ref, model):
    fit = _fit(data, model, "cr0")
    ours, names = _matched(fit.std_errors, TERMS_OF[model])
    if model == "fe2":                           # plm's two-way fit has no SE for the wave effect
        ours, names = ours[1:], names[1:]
    np.testing.assert_allclose(ours, _ref(ref, model, "se_hc0").loc[names].to_numpy(), **TOL)


@pytest.mark.parametrize("model", ["re", "fe", "fd"])
def test_cr1_is_hc0_times_stata_factor(data, ref, model):
    fit = _fit(data, model, "cr1")
    G, n, p = fit.n_clusters, fit.nobs, len(fit.params)
    assert G == 178
    factor = G / (G - 1) * (n - 1) / (n - p)
    ours, names = _matched(fit.std_errors, TERMS_OF[model])
    expected = _ref(ref, model, "se_hc0").loc[names].to_numpy() * np.sqrt(factor)
    np.testing.assert_allclose(ours, expected, **TOL)
    assert np.all(fit.table["df"] == G - 1)


def _entity_demean(frame: pd.DataFrame, cols: list[str], share: np.ndarray | float
                   ) -> np.ndarray:
    """``x_it - share * mean_i(x)`` for the columns ``cols`` of the panel design frame."""
    values = frame[cols].to_numpy(dtype=float)
    means = frame.groupby("family_id", sort=False)[cols].transform("mean").to_numpy(dtype=float)
    return values - np.reshape(share, (-1, 1)) * means


@pytest.mark.parametrize("model", ["re", "fe", "fd"])
def test_non_robust_errors_with_plm_df(data, ref, model):
    """Classical (non-robust) errors of plm, rebuilt from change_model's public output."""
    fit = _fit(data, model)
    terms = list(fit.params.index)
    frame = fit.design
    if model == "fd":
        X, y = frame[terms].to_numpy(dtype=float), frame["sdq_change"].to_numpy(dtype=float)
    else:
        theta = (np.asarray(fit.info["theta"], dtype=float)[0] if model == "re" else 1.0)
        X = _entity_demean(frame, terms, theta)
        y = _entity_demean(frame, ["sdq"], theta)[:, 0]
    resid = y - X @ fit.params.to_numpy()
    df_resid = _ref(ref, model, "df_residual").iloc[0]
    expected_df = {"re": fit.nobs - len(terms),
                   "fe": fit.nobs - fit.n_entities - len(terms),
                   "fd": fit.nobs - len(terms)}[model]
    assert df_resid == expected_df
    se = np.sqrt(resid @ resid / df_resid * np.diag(np.linalg.inv(X.T @ X)))
    ours, names = _matched(pd.Series(se, index=terms), TERMS_OF[model])
    np.testing.assert_allclose(ours, _ref(ref, model, "se").loc[names].to_numpy(), **TOL)


def test_fd_and_fe_give_the_same_change_coefficients(ref):
    """The fixture itself: plm's FD, within and two-way within agree (balanced, two waves)."""
    fd = _ref(ref, "fd", "coef")
    for model in ("fe", "fe2"):
        fe = _ref(ref, model, "coef")
        np.testing.assert_allclose(fe[["post", "cohort2_post", "z"]].to_numpy(),
                                   fd[["(Intercept)", "cohort2_post", "z"]].to_numpy(),
                                   rtol=1e-10)


def test_input_frame_not_modified(data):
    before = data.copy()
    _fit(data, "re")
    pd.testing.assert_frame_equal(data, before)

"""evppi(): closed form on a linear-Gaussian model, mgcv (BCEA's method), properties, bad input."""

import importlib.util
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sosstats.errors import DataError, DesignError
from sosstats.vfm import EVPPIResult, cea, evppi
from sosstats.vfm._smooth import Smoother, basis

matplotlib.use("Agg")

FIXTURES = Path(__file__).parents[1] / "fixtures"
WTP = np.array([10_000.0, 20_000.0, 30_000.0, 50_000.0])
MU_E, SD_E, MU_C, SD_C = 0.05, 0.03, 1000.0, 400.0


def _emax0(m, s):
    """E[max(0, X)] for X ~ N(m, s^2): m Phi(m/s) + s phi(m/s)."""
    m, s = np.broadcast_arrays(np.asarray(m, float), np.asarray(s, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = m * stats.norm.cdf(m / s) + s * stats.norm.pdf(m / s)
    return np.where(s > 0, out, np.maximum(m, 0.0))


def _linear_gaussian(S, seed):
    """Draw a model with INB(lambda) = lambda t1 - t2 (t1, t2 normal; t3 irrelevant)."""
    rng = np.random.default_rng(seed)
    t1, t2, t3 = rng.normal(MU_E, SD_E, S), rng.normal(MU_C, SD_C, S), rng.normal(0, 1, S)
    wide = pd.DataFrame({("cost", "usual"): np.full(S, 2000.0), ("cost", "sos"): 2000.0 + t2,
                         ("effect", "usual"): np.full(S, 0.5), ("effect", "sos"): 0.5 + t1})
    wide.columns = pd.MultiIndex.from_tuples(wide.columns)
    return wide, pd.DataFrame({"t1": t1, "t2": t2, "t3": t3})


def _expected(S):
    """Return the closed form of the estimator's expectation with S draws (both terms).

    E(INB | phi) ~ N(m, s_phi^2) with m = 0.05 lambda - 1000 and s_phi^2 the variance phi
    explains, so EVPPI = E max(0, N(m, s_phi^2)) - max(0, m). The estimator's second term,
    max(0, mean of S draws of INB), has expectation E max(0, N(m, s_all^2 / S)), not max(0, m):
    it is subtracted here so that the comparison is of like with like.
    """
    m = MU_E * WTP - MU_C
    s_all = np.hypot(SD_E * WTP, SD_C)
    second = _emax0(m, s_all / np.sqrt(S))
    return pd.DataFrame({"t1": _emax0(m, SD_E * WTP) - second,
                         "t2": _emax0(m, SD_C) - second,
                         "t1 + t2": _emax0(m, s_all) - second}, index=WTP), s_all


def test_linear_gaussian_closed_form_within_monte_carlo_error():
    S, seeds = 20_000, 4
    est = []
    for seed in range(seeds):
        wide, par = _linear_gaussian(S, seed)
        res = evppi(cea(draws=wide, reference="usual", wtp=WTP), par,
                    groups=["t1", "t2", "t3", ["t1", "t2"]])
        est.append(res.evppi.to_numpy())
    est = np.mean(est, axis=0)
    exp, s_all = _expected(S)
    # Monte Carlo SE of the mean over seeds: SD of max(0, INB | phi) is below s_all
    se = s_all / np.sqrt(S * seeds)
    for j, name in enumerate(["t1", "t2", "t1 + t2"]):
        col = [0, 1, 3][j]
        np.testing.assert_array_less(np.abs(est[:, col] - exp[name].to_numpy()),
                                     4 * se + 0.002 * exp["t1 + t2"].to_numpy())
    # an irrelevant parameter is worth (nearly) nothing: under 1% of the EVPI
    np.testing.assert_array_less(est[:, 2], 0.01 * exp["t1 + t2"].to_numpy())


def test_properties_evppi_below_evpi_all_parameters_reach_it_and_relabelling():
    wide, par = _linear_gaussian(5_000, 11)
    res = cea(draws=wide, reference="usual", wtp=WTP)
    out = evppi(res, par, groups={"t1": "t1", "t2": "t2", "all": ["t1", "t2", "t3"]})
    evpi = out.evpi.to_numpy()
    np.testing.assert_allclose(evpi, res.evpi.to_numpy(), rtol=1e-9)
    assert (out.evppi.to_numpy() <= evpi[:, None] + 1e-9).all()
    assert (out.evppi.to_numpy() >= 0).all()
    np.testing.assert_allclose(out.evppi["all"], evpi, rtol=1e-6)   # exact: INB is additive
    # relabelling / reordering the draws (jointly) changes nothing
    perm = np.random.default_rng(0).permutation(len(par))
    again = evppi(cea(draws=wide.iloc[perm].reset_index(drop=True), reference="usual", wtp=WTP),
                  par.iloc[perm].set_index(pd.RangeIndex(len(par)) + 1000),
                  groups={"t1": "t1", "t2": "t2", "all": ["t1", "t2", "t3"]})
    # to rounding: X'X is summed in another order, and for an exactly linear response
    # (RSS ~ 1e-20 at every smoothing) GCV's choice among rounding-level ties moves the fit
    # by ~1e-7 relative
    np.testing.assert_allclose(again.evppi.to_numpy(), out.evppi.to_numpy(), rtol=1e-6,
                               atol=1e-6)


def test_linear_smoother_is_least_squares():
    wide, par = _linear_gaussian(2_000, 3)
    res = cea(draws=wide, reference="usual", wtp=WTP)
    out = evppi(res, par, groups=[["t1", "t3"]], smoother="linear")
    X = np.column_stack([np.ones(len(par)), par[["t1", "t3"]]])
    de = wide[("effect", "sos")] - wide[("effect", "usual")]
    dc = wide[("cost", "sos")] - wide[("cost", "usual")]
    fe = X @ np.linalg.lstsq(X, de, rcond=None)[0]
    fc = X @ np.linalg.lstsq(X, dc, rcond=None)[0]
    g = WTP[None, :] * fe[:, None] - fc[:, None]
    ref = np.maximum(g, 0).mean(axis=0) - np.maximum(g.mean(axis=0), 0)
    np.testing.assert_allclose(out.evppi.iloc[:, 0], ref, rtol=1e-9)
    assert out.smoother == "linear"


def _fixture_model():
    spec = importlib.util.spec_from_file_location(
        "evppi_reference_input", FIXTURES / "evppi_reference_input.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.model


def test_agrees_with_mgcv_as_bcea_computes_it():
    """Strong et al.'s GAM method with mgcv 1.8-41 (tests/fixtures/evppi_reference.R).

    Three options, net benefits non-linear in the parameters (logistic effects). mgcv fits
    thin-plate / tensor splines by GCV.Cp, sosstats P-splines by GCV: different smoothers of
    the same draws, so the two agree to regression error (observed: within 0.3% of the EVPI
    at the thresholds where it is large), not to rounding.
    """
    par = pd.read_csv(FIXTURES / "evppi_reference_input.csv")
    ref = pd.read_csv(FIXTURES / "evppi_reference_r.csv")
    wide = _fixture_model()(par)
    wtp = np.sort(ref["wtp"].unique()).astype(float)
    res = cea(draws=wide, reference="control", wtp=wtp)
    groups = {g: (g.split(" + ") if "+" in g else g) for g in pd.unique(ref["group"])}
    out = evppi(res, par, groups=groups)
    got = out.tidy().merge(ref, on=["group", "wtp"], suffixes=("", "_r"))
    assert len(got) == len(ref)
    np.testing.assert_allclose(got["evpi"], got["evpi_r"], rtol=1e-9, atol=1e-9)
    tol = 0.015 * got["evpi"] + 0.25
    assert (np.abs(got["evppi"] - got["evppi_r"]) <= tol).all(), got


def test_nonlinear_conditional_mean_against_the_oracle():
    rng = np.random.default_rng(5)
    S = 8_000
    x, y = rng.normal(0, 1, S), rng.normal(0, 1, S)
    # incremental effect exp(x)/10 (non-linear), incremental cost 150 + 100 y
    wide = pd.DataFrame({("cost", "a"): np.zeros(S), ("cost", "b"): 150 + 100 * y,
                         ("effect", "a"): np.zeros(S), ("effect", "b"): np.exp(x) / 10})
    wide.columns = pd.MultiIndex.from_tuples(wide.columns)
    wtp = np.array([500.0, 1_000.0, 1_500.0, 3_000.0])
    out = evppi(cea(draws=wide, wtp=wtp), pd.DataFrame({"x": x, "y": y}),
                groups=["x", "y"])
    g = wtp[None, :] * np.exp(x)[:, None] / 10 - 150            # E(INB | x), known exactly
    inb = wtp[None, :] * np.exp(x)[:, None] / 10 - 150 - 100 * y[:, None]
    oracle = np.maximum(g, 0).mean(axis=0) - np.maximum(inb.mean(axis=0), 0)
    np.testing.assert_allclose(out.evppi["x"], oracle, rtol=0.02, atol=0.5)
    linear = evppi(cea(draws=wide, wtp=wtp), pd.DataFrame({"x": x}), smoother="linear")
    assert (linear.evppi["x"].to_numpy() < out.evppi["x"].to_numpy()).any()  # biased low


def test_from_draws_and_inference_data_parameters():
    az = pytest.importorskip("arviz")
    wide, par = _linear_gaussian(1_000, 2)
    idata = az.from_dict(posterior={
        "cost": wide["cost"][["sos", "usual"]].to_numpy().reshape(2, 500, 2),
        "effect": wide["effect"][["sos", "usual"]].to_numpy().reshape(2, 500, 2),
        "t1": par["t1"].to_numpy().reshape(2, 500),
        "theta": par[["t2", "t3"]].to_numpy().reshape(2, 500, 2)},
        coords={"option": ["sos", "usual"], "k": ["a", "b"]},
        dims={"cost": ["option"], "effect": ["option"], "theta": ["k"]})
    a = evppi(idata, idata, groups={"t1": "t1", "t2": "theta[a]"}, wtp=WTP, reference="usual")
    b = evppi(cea(draws=wide, reference="usual", wtp=WTP), par, groups={"t1": "t1", "t2": "t2"})
    np.testing.assert_allclose(a.evppi.to_numpy(), b.evppi.to_numpy(), rtol=1e-9, atol=1e-9)


def test_result_table_summary_and_plot():
    wide, par = _linear_gaussian(1_000, 4)
    out = evppi(cea(draws=wide, reference="usual", wtp=WTP), par)
    assert isinstance(out, EVPPIResult)
    assert list(out.evppi.columns) == ["t1", "t2", "t3"]
    tidy = out.tidy()
    assert list(tidy.columns) == ["group", "wtp", "evppi", "evpi", "share_of_evpi"]
    assert len(tidy) == 3 * WTP.size
    assert "EVPI" in str(out.summary()) and out.nobs == 1_000
    assert set(out.edf.columns) == {"effect[sos]", "cost[sos]"}
    import matplotlib.pyplot as plt

    ax = out.plot()
    assert len(ax.get_lines()) == 4
    assert ax.yaxis.get_major_formatter()(1000.0, 0).startswith("£")
    plt.close(ax.figure)


def test_smoother_gcv_picks_a_line_for_linear_data_and_follows_a_curve():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, 3_000)
    X, P = basis(x[:, None])
    fitted, edf = Smoother(X, P).fit(np.column_stack([3 * x + 1, np.sin(2 * x)]))
    np.testing.assert_allclose(fitted[:, 0], 3 * x + 1, atol=1e-8)
    assert edf[0] == pytest.approx(2.0, abs=0.01)
    np.testing.assert_allclose(fitted[:, 1], np.sin(2 * x), atol=0.01)


# ---------------------------------------------------------------------------- bad input
def test_bad_input_is_refused_by_name():
    wide, par = _linear_gaussian(500, 1)
    res = cea(draws=wide, reference="usual", wtp=WTP)
    with pytest.raises(DataError, match=r"parameter column\(s\) \['t9'\] of group 't9'"):
        evppi(res, par, groups="t9")
    with pytest.raises(DataError, match=r"\['zz'\] of group 'pair'"):
        evppi(res, par, groups={"pair": ["t1", "zz"]})
    with pytest.raises(DataError, match="499 rows but there are 500 draws"):
        evppi(res, par.iloc[1:])
    bad = par.copy()
    bad.loc[7, "t2"] = np.nan
    with pytest.raises(DataError, match="'t2' .* non-finite"):
        evppi(res, bad, groups="t2")
    with pytest.raises(DataError, match="do not vary"):
        evppi(res, par.assign(t3=1.0), groups="t3")
    with pytest.raises(DataError, match="must be numeric"):
        evppi(res, par.assign(t3="x"), groups="t3")
    with pytest.raises(DataError, match="`smoother`"):
        evppi(res, par, smoother="gam")
    with pytest.raises(DataError, match="`groups` is empty"):
        evppi(res, par, groups={})
    with pytest.raises(DataError, match="`parameters` must be"):
        evppi(res, par.to_numpy())
    small = cea(draws=wide.iloc[:60], reference="usual", wtp=WTP)
    with pytest.raises(DesignError, match="at least 100 draws"):
        evppi(small, par.iloc[:60])
    mid = cea(draws=wide.iloc[:150], reference="usual", wtp=WTP)
    with pytest.raises(DesignError, match="150 draws for a regression with 64"):
        evppi(mid, par.iloc[:150], groups=[["t1", "t2"]])
    with pytest.raises(DataError, match="mismatched options"):
        w2 = wide.copy()
        w2.columns = pd.MultiIndex.from_tuples([("cost", "usual"), ("cost", "sos"),
                                                ("effect", "usual"), ("effect", "new")])
        evppi(w2, par)
    before = par.copy()
    evppi(res, par)
    pd.testing.assert_frame_equal(par, before)

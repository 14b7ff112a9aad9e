"""Checks of the frozen lme4 fixtures (tests/fixtures/lme4_reference_*), independent of sosstats.

The fixtures are made by ``tests/fixtures/lme4_reference.py`` (inputs, truth) and
``tests/fixtures/lme4_reference.R`` (lme4 1.1-31 fits). These tests re-derive lme4's numbers
without R, so that the Bayesian tests can lean on them:

* the inputs are rebuilt from their documented simulations;
* gaussian REML fits: at lme4's variance components the closed forms give lme4's fixed effects
  (GLS), standard errors, REML log-likelihood and conditional modes, the REML gradient is zero,
  and statsmodels ``MixedLM`` (nested variance components, REML) refits to the same optimum;
* the glmer fit: a numpy Laplace approximation reproduces lme4's log-likelihood and modes at
  lme4's estimates and, maximised by scipy from a neutral start, returns lme4's estimates.

Notes
-----
For a gaussian model with variance components, V = sigma^2 I + sum_l s_l^2 Z_l Z_l', the REML
log-likelihood is -1/2 [(n - p) log 2 pi + log|V| + log|X' V^-1 X| + r' V^-1 r] with r = y - X b
and b = (X' V^-1 X)^-1 X' V^-1 y; the conditional modes are b_l = s_l^2 Z_l' V^-1 r and their
conditional variances s_l^2 - s_l^4 diag(Z_l' V^-1 Z_l) (Bates et al. 2015, J Stat Softw 67(1),
sections 3.4-3.6; Harville 1977, JASA 72, 320-338).
"""

from __future__ import annotations

import importlib.util
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GAUSSIAN = ("nested_gaussian", "sdq_t1", "longitudinal")
ALL = (*GAUSSIAN, "nested_logit")
INPUT = {"nested_gaussian": "nested", "nested_logit": "nested", "sdq_t1": "sdq_t1",
         "longitudinal": "longitudinal"}


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"lme4_reference_{name}.json").read_text())


def _input(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"lme4_reference_{INPUT[name]}_input.csv")


def _script():
    spec = importlib.util.spec_from_file_location("lme4_reference_script",
                                                  FIXTURES / "lme4_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _design(df: pd.DataFrame, terms: list[str]) -> np.ndarray:
    cols = []
    for term in terms:
        col = np.ones(len(df))
        if term != "Intercept":
            for part in term.split(":"):
                col = col * df[part].to_numpy(float)
        cols.append(col)
    return np.column_stack(cols)


def _arrays(name: str, df: pd.DataFrame | None = None):
    fx = _fixture(name)
    df = _input(name) if df is None else df
    top, low = fx["levels"]
    x = _design(df, list(fx["fixed_effects"]))
    top_labels, top_codes = np.unique(df[top].astype(str).to_numpy(), return_inverse=True)
    low_labels, low_codes = np.unique(df[low].astype(str).to_numpy(), return_inverse=True)
    return fx, df[fx["outcome"]].to_numpy(float), x, (top_labels, top_codes), \
        (low_labels, low_codes)


def _reml(y, x, top_codes, low_codes, s_top, s_low, sigma):
    """REML log-likelihood, GLS fit and conditional modes of a two-level nested model.

    With Z = [Z_top, Z_low], G = diag(s_top^2, s_low^2) and M = Z'Z + sigma^2 G^-1:
    V^-1 = (I - Z M^-1 Z') / sigma^2 and log|V| = 2 (n - q) log sigma + log|G| + log|M|.
    Each low group lies in one top group, so M^-1 follows from two diagonal eliminations.
    """
    n, p = x.shape
    n_top, n_low = top_codes.max() + 1, low_codes.max() + 1
    parent = np.zeros(n_low, dtype=np.int64)
    parent[low_codes] = top_codes
    n_l = np.bincount(low_codes, minlength=n_low).astype(float)
    d_l = n_l + (sigma / s_low) ** 2
    s_t = np.bincount(top_codes, minlength=n_top) + (sigma / s_top) ** 2 \
        - np.bincount(parent, n_l**2 / d_l, n_top)

    def zt(a):          # Z' a for a of shape (n, k)
        return (np.stack([np.bincount(top_codes, col, n_top) for col in a.T], axis=1),
                np.stack([np.bincount(low_codes, col, n_low) for col in a.T], axis=1))

    def m_solve(rt, rl):    # M^-1 [rt; rl]
        wt = (rt - np.stack([np.bincount(parent, c, n_top) for c in (n_l[:, None] * rl
                                                                      / d_l[:, None]).T],
                            axis=1)) / s_t[:, None]
        return wt, (rl - n_l[:, None] * wt[parent]) / d_l[:, None]

    def vinv(a, b):         # a' V^-1 b
        at, al = zt(a)
        bt, bl = zt(b)
        wt, wl = m_solve(bt, bl)
        return (a.T @ b - at.T @ wt - al.T @ wl) / sigma**2

    xy = np.column_stack([x, y])
    gram = vinv(xy, xy)
    cov = np.linalg.inv(gram[:p, :p])
    beta = cov @ gram[:p, p]
    r = (y - x @ beta)[:, None]
    quad = vinv(r, r)[0, 0]
    logdet = (2 * (n - n_top - n_low) * math.log(sigma) + 2 * n_top * math.log(s_top)
              + 2 * n_low * math.log(s_low) + np.log(d_l).sum() + np.log(s_t).sum())
    loglik = -0.5 * ((n - p) * math.log(2 * math.pi) + logdet + np.linalg.slogdet(gram[:p, :p])[1]
                     + quad)
    top_mode, low_mode = m_solve(*zt(r))
    top_var = sigma**2 / s_t
    low_var = sigma**2 * (1 / d_l + (n_l / d_l) ** 2 / s_t[parent])
    return dict(loglik=loglik, beta=beta, se=np.sqrt(np.diag(cov)),
                top=(top_mode[:, 0], top_var), low=(low_mode[:, 0], low_var))


def _assert_same(a, b) -> None:
    """Assert two JSON trees are equal, numbers to 1e-14 relative."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b)
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for u, v in zip(a, b):
            _assert_same(u, v)
    elif isinstance(a, (int, float)) and not isinstance(a, bool):
        assert b == pytest.approx(a, rel=1e-14, abs=1e-300)
    else:
        assert a == b


def _lme4_sds(fx: dict) -> tuple[float, float, float]:
    top, low = fx["levels"]
    sd = fx["random_effect_sd"]
    return sd[top], sd[low], fx["residual_sd"]


def _modes(fx: dict, level: str, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    entry = fx["conditional_modes"][level]
    return (np.array([entry[k]["mode"] for k in labels]),
            np.array([entry[k]["cond_sd"] for k in labels]))


@pytest.mark.parametrize("which", ["nested", "sdq_t1", "longitudinal"])
def test_inputs_rebuild_from_their_simulations(which):
    script = _script()
    build = {"nested": script.simulate_nested, "sdq_t1": script.sdq_t1_frame,
             "longitudinal": script.longitudinal_frame}[which]
    frame, truth = build()
    stored = pd.read_csv(FIXTURES / f"lme4_reference_{which}_input.csv")
    frozen = json.loads((FIXTURES / "lme4_reference_truth.json").read_text())
    assert list(stored.columns) == list(frame.columns)
    for col in frame.columns:
        if frame[col].dtype.kind == "f":
            np.testing.assert_allclose(stored[col], frame[col], rtol=1e-15, atol=0)
        else:
            assert (stored[col].astype(str).to_numpy() == frame[col].astype(str).to_numpy()).all()
    for name, entry in truth.items() if which == "nested" else [(which, truth)]:
        assert json.loads(json.dumps(entry)) == frozen[name]


def test_main_worker_is_the_largest_share_lowest_id_on_ties():
    from sosstats.datasets import simulate_evaluation

    mem = simulate_evaluation(rng=2017).memberships
    main = _input("sdq_t1").set_index("family_id")["main_worker"]
    top = mem["weight"].groupby(mem["family_id"]).transform("max")
    best = mem[mem["weight"] == top].groupby("family_id")["worker_id"].min()
    assert (best.reindex(main.index).to_numpy() == main.to_numpy()).all()
    assert main.index.is_unique and len(main) == 270


@pytest.mark.parametrize("name", ALL)
def test_fixture_metadata_matches_its_input(name):
    fx, df = _fixture(name), _input(name)
    truth = json.loads((FIXTURES / "lme4_reference_truth.json").read_text())[name]
    assert fx["versions"]["lme4"] == "1.1.31" and fx["fixture"] == name
    assert fx["convergence_messages"] == [] and not fx["singular"]
    assert fx["input"] == f"lme4_reference_{INPUT[name]}_input.csv"
    assert fx["nobs"] == len(df) and df[fx["outcome"]].notna().all()
    assert fx["n_groups"] == {lev: df[lev].nunique() for lev in fx["levels"]}
    _assert_same(fx["truth"], truth)    # jsonlite writes 15 significant digits
    assert fx["reml"] is (name in GAUSSIAN)
    assert fx["method"] == ("REML" if name in GAUSSIAN else "Laplace")
    # nesting: each lower-level group lies in one top-level group
    top, low = fx["levels"]
    assert (df.groupby(low)[top].nunique() == 1).all()
    # theta is each SD relative to the residual SD (1 for the logit)
    scale = fx["residual_sd"] if name in GAUSSIAN else 1.0
    for key, value in fx["theta"].items():
        assert value == pytest.approx(fx["random_effect_sd"][key.split(".")[0]] / scale,
                                      rel=1e-12)
    n_fe = len(fx["fixed_effects"])
    assert fx["df_loglik"] == n_fe + 2 + (name in GAUSSIAN)
    assert all(v["std_error"] > 0 for v in fx["fixed_effects"].values())


@pytest.mark.parametrize("name", GAUSSIAN)
def test_gaussian_closed_forms_at_lme4_estimates(name):
    fx, y, x, (top_labels, top_codes), (low_labels, low_codes) = _arrays(name)
    top, low = fx["levels"]
    out = _reml(y, x, top_codes, low_codes, *_lme4_sds(fx))
    fe = fx["fixed_effects"]
    np.testing.assert_allclose(out["beta"], [v["estimate"] for v in fe.values()],
                               rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(out["se"], [v["std_error"] for v in fe.values()], rtol=1e-7)
    assert out["loglik"] == pytest.approx(fx["loglik"], abs=1e-7)
    mode, csd = _modes(fx, top, top_labels)
    np.testing.assert_allclose(out["top"][0], mode, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.sqrt(out["top"][1]), csd, rtol=1e-6)
    if low in fx["conditional_modes"]:
        mode, csd = _modes(fx, low, low_labels)
        np.testing.assert_allclose(out["low"][0], mode, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(np.sqrt(out["low"][1]), csd, rtol=1e-6)


@pytest.mark.parametrize("name", GAUSSIAN)
def test_lme4_variance_components_maximise_the_reml_likelihood(name):
    fx, y, x, (_, top_codes), (_, low_codes) = _arrays(name)
    log_sd = np.log(_lme4_sds(fx))
    h = 1e-4

    def ll(v):
        return _reml(y, x, top_codes, low_codes, *np.exp(v))["loglik"]

    grad = [(ll(log_sd + h * e) - ll(log_sd - h * e)) / (2 * h) for e in np.eye(3)]
    # a 1e-4 relative error in the residual SD would give a gradient of about 0.5 here
    np.testing.assert_allclose(grad, 0.0, atol=5e-3)
    assert ll(log_sd) > max(ll(log_sd + 0.01 * e) for e in np.eye(3))


def _statsmodels_refit(name: str):
    import statsmodels.formula.api as smf

    fx, df = _fixture(name), _input(name)
    top, low = fx["levels"]
    rhs = " + ".join(t for t in fx["fixed_effects"] if t != "Intercept")
    model = smf.mixedlm(f"{fx['outcome']} ~ {rhs}", df, groups=df[top], re_formula="1",
                        vc_formula={low: f"0 + C({low})"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # statsmodels' boundary / convergence chatter
        start = model.fit(reml=True, method="nm")
        res = model.fit(reml=True, method="bfgs", start_params=start.params_object, gtol=1e-11)
    fe = pd.Series({k: v["estimate"] for k, v in fx["fixed_effects"].items()})
    np.testing.assert_allclose(res.fe_params[fe.index], fe, rtol=1e-5, atol=1e-5)
    sd = fx["random_effect_sd"]
    assert math.sqrt(res.cov_re.iloc[0, 0]) == pytest.approx(sd[top], rel=1e-5)
    assert math.sqrt(res.vcomp[0]) == pytest.approx(sd[low], rel=1e-5)
    assert math.sqrt(res.scale) == pytest.approx(fx["residual_sd"], rel=1e-5)
    assert res.llf == pytest.approx(fx["loglik"], abs=1e-5)


@pytest.mark.parametrize("name", ["nested_gaussian", "sdq_t1"])
def test_statsmodels_mixedlm_reml_refit_agrees(name):
    _statsmodels_refit(name)


@pytest.mark.slow
def test_statsmodels_mixedlm_reml_refit_agrees_longitudinal():
    _statsmodels_refit("longitudinal")    # about a minute: 3,000 family components


def _laplace(beta, sds, y, x, codes, n_groups, u0=None):
    """Laplace log-likelihood of a two-level nested logit random-intercept model.

    As in lme4 (Bates et al. 2015, section 5 of the lme4 "Computational methods" vignette):
    spherical effects u, b = Lambda u, Newton steps on the penalised log-likelihood
    l(y | u) - u'u / 2, then l(y | u^) - u^'u^ / 2 - log|H| / 2 with
    H = Lambda Z' W Z Lambda + I. Each low group lies in one top group, so H is solved by
    eliminating the (diagonal) low block. Returns the log-likelihood, the modes b^ and their
    conditional SDs per level, and u^.
    """
    top_codes, low_codes = codes
    n_top, n_low = n_groups
    s_t, s_l = sds
    parent = np.zeros(n_low, dtype=np.int64)
    parent[low_codes] = top_codes
    u_t, u_l = (np.zeros(n_top), np.zeros(n_low)) if u0 is None else (u0[:n_top], u0[n_top:])
    xb = x @ beta
    for _ in range(100):
        eta = xb + s_t * u_t[top_codes] + s_l * u_l[low_codes]
        mu = 1.0 / (1.0 + np.exp(-eta))
        w_t = np.bincount(top_codes, mu * (1.0 - mu), n_top)
        w_l = np.bincount(low_codes, mu * (1.0 - mu), n_low)
        g_t = s_t * np.bincount(top_codes, y - mu, n_top) - u_t
        g_l = s_l * np.bincount(low_codes, y - mu, n_low) - u_l
        h_l = 1.0 + s_l**2 * w_l
        c_l = s_t * s_l * w_l                       # H[top(l), l]
        h_s = 1.0 + s_t**2 * w_t - np.bincount(parent, c_l**2 / h_l, n_top)
        d_t = (g_t - np.bincount(parent, c_l * g_l / h_l, n_top)) / h_s
        d_l = (g_l - c_l * d_t[parent]) / h_l
        u_t, u_l = u_t + d_t, u_l + d_l
        if max(np.abs(d_t).max(), np.abs(d_l).max()) < 1e-12:
            break
    eta = xb + s_t * u_t[top_codes] + s_l * u_l[low_codes]
    loglik = ((y * eta - np.logaddexp(0.0, eta)).sum() - 0.5 * (u_t @ u_t + u_l @ u_l)
              - 0.5 * (np.log(h_l).sum() + np.log(h_s).sum()))
    var_t, var_l = 1.0 / h_s, 1.0 / h_l + (c_l / h_l) ** 2 / h_s[parent]
    return (loglik, (s_t * u_t, s_l * u_l), (s_t * np.sqrt(var_t), s_l * np.sqrt(var_l)),
            np.concatenate([u_t, u_l]))


def _logit_arrays():
    fx, y, x, (top_labels, top_codes), (low_labels, low_codes) = _arrays("nested_logit")
    top, low = fx["levels"]
    sds = np.array([fx["random_effect_sd"][top], fx["random_effect_sd"][low]])
    beta = np.array([v["estimate"] for v in fx["fixed_effects"].values()])
    return fx, y, x, (top_codes, low_codes), np.array([top_labels.size, low_labels.size]), \
        sds, beta, (top_labels, low_labels)


def test_glmer_laplace_likelihood_and_modes_at_lme4_estimates():
    fx, y, x, codes, n_groups, sds, beta, labels = _logit_arrays()
    loglik, b, csd, _ = _laplace(beta, sds, y, x, codes, n_groups)
    assert loglik == pytest.approx(fx["loglik"], abs=1e-7)
    for level, lab, b_level, csd_level in zip(fx["levels"], labels, b, csd):
        mode, sd = _modes(fx, level, lab)
        np.testing.assert_allclose(b_level, mode, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(csd_level, sd, rtol=1e-6)


def test_glmer_laplace_refit_from_neutral_start_agrees():
    fx, y, x, codes, n_groups, sds, beta, _ = _logit_arrays()
    state = {"u": None}

    def neg(theta):
        ll, _, _, u = _laplace(theta[:-2], np.exp(theta[-2:]), y, x, codes, n_groups, state["u"])
        state["u"] = u
        return -ll

    start = np.zeros(beta.size + 2)
    start[-2:] = np.log(0.5)
    res = optimize.minimize(neg, start, method="BFGS", options={"gtol": 1e-7})
    np.testing.assert_allclose(res.x[:-2], beta, atol=5e-5)
    np.testing.assert_allclose(np.exp(res.x[-2:]), sds, rtol=5e-5)
    assert -res.fun == pytest.approx(fx["loglik"], abs=1e-7)


@pytest.mark.parametrize("name", ALL)
def test_lme4_estimates_are_near_the_simulation_truth(name):
    """Fixed effects within 3 SE; SDs of levels with 150+ groups within 15% of the truth.

    Pilot-level SDs (10 or 30 pilots) are compared with the SD of the simulated pilot effects,
    within 40%: with so few groups their sampling error is of that order.
    """
    fx = _fixture(name)
    truth = fx["truth"]
    for term, value in truth["fixed_effects"].items():
        est = fx["fixed_effects"][term]
        assert abs(est["estimate"] - value) < 3.0 * est["std_error"], term
    top = fx["levels"][0]
    for level, value in truth["sd"].items():
        if level != top:
            assert fx["random_effect_sd"][level] == pytest.approx(value, rel=0.15), level
    if "residual_sd" in truth:
        assert fx["residual_sd"] == pytest.approx(truth["residual_sd"], rel=0.05)
    true = truth["pilot_effect"]
    realised = np.std(list(true.values()), ddof=1)
    assert fx["random_effect_sd"][top] == pytest.approx(realised, rel=0.4)
    modes = fx["conditional_modes"][top]
    corr = np.corrcoef([modes[k]["mode"] for k in true], list(true.values()))[0, 1]
    assert corr > 0.5, corr


@settings(max_examples=15, deadline=None)
@given(order=st.permutations(range(270)), relabel=st.permutations(range(10)))
def test_reml_closed_form_invariant_to_row_order_and_group_labels(order, relabel):
    df = _input("sdq_t1")
    labels = np.sort(df["la_code"].unique())
    mapping = dict(zip(labels, [f"LA{j}" for j in relabel]))
    shuffled = df.iloc[list(order)].assign(la_code=lambda d: d["la_code"].map(mapping),
                                           main_worker=lambda d: -d["main_worker"])
    fx, y, x, (top_l, top_c), (_, low_c) = _arrays("sdq_t1", shuffled)
    out = _reml(y, x, top_c, low_c, *_lme4_sds(fx))
    assert out["loglik"] == pytest.approx(fx["loglik"], abs=1e-8)
    np.testing.assert_allclose(out["beta"], [v["estimate"] for v in fx["fixed_effects"].values()],
                               rtol=1e-8, atol=1e-9)
    inverse = {v: k for k, v in mapping.items()}
    mode, _ = _modes(fx, "la_code", np.array([inverse[t] for t in top_l]))
    np.testing.assert_allclose(out["top"][0], mode, rtol=1e-6, atol=1e-8)

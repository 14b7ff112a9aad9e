"""Design, response, level, membership, collapsing and prior checks (no sampling)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import gammaln

from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.multilevel import MultilevelModel, Prior
from sosstats.multilevel._design import build_design, collapse_rows


@pytest.fixture(scope="module")
def ev(evaluation):
    return evaluation  # simulate_evaluation(rng=7), shared (conftest.py)


def _frame(n=120, seed=0):
    rng = np.random.default_rng(seed)
    pilot = rng.integers(0, 4, n)
    worker = pilot * 10 + rng.integers(0, 3, n)  # workers nested in pilots
    return pd.DataFrame({
        "pilot": np.array(["P1", "P2", "P3", "P4"])[pilot], "worker": worker,
        "x": rng.normal(size=n), "g": rng.integers(0, 2, n),
        "y": rng.normal(size=n), "b": rng.integers(0, 2, n),
        "fid": np.arange(n)})


# -- levels and codes --------------------------------------------------------------------------
def test_codes_and_labels_sorted_numerically():
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "w": [10, 2, 3, 2, 10, 3]})
    d = build_design("y ~ 1", df, levels=["w"])
    lev = d.level("w")
    assert list(lev.labels) == ["2", "3", "10"]
    assert lev.codes.tolist() == [2, 0, 1, 0, 2, 1]
    assert lev.group_size().tolist() == [2, 2, 2]
    assert d.terms == ["Intercept"]


def test_fixed_effects_at_every_level_and_no_mutation():
    df = _frame()
    df["pilot_exp"] = df["pilot"].map({"P1": 0, "P2": 1, "P3": 1, "P4": 2})
    before = df.copy()
    d = build_design("y ~ x + C(pilot_exp) + g", df, levels=["pilot", "worker"])
    pd.testing.assert_frame_equal(df, before)
    assert d.terms == ["Intercept", "x", "C(pilot_exp)[T.1]", "C(pilot_exp)[T.2]", "g"]
    assert d.rows.X.shape == (120, 5)
    assert [lev.kind for lev in d.levels] == ["group", "group"]


def test_nesting_error_names_the_worker_and_cross_classified_passes():
    df = _frame()
    df.loc[0, "worker"] = 31  # worker 31 belongs to P4 elsewhere
    df.loc[0, "pilot"] = "P1"
    if not (df["worker"] == 31).sum() > 1:
        df.loc[1, ["worker", "pilot"]] = [31, "P4"]
    with pytest.raises(DataError, match=r"worker 31 appears in more than one pilot \(P1, P4"):
        build_design("y ~ x", df, levels=["pilot", "worker"])
    d = build_design("y ~ x", df, levels=["pilot", "worker"], cross_classified=True)
    assert d.level("worker").n_groups == df["worker"].nunique()


def test_single_group_is_a_design_error():
    df = _frame()
    df["one"] = "A"
    with pytest.raises(DesignError, match="level 'one' has 1 group"):
        build_design("y ~ x", df, levels=["one"])


def test_bad_levels_and_formula():
    df = _frame()
    with pytest.raises(DataError, match="level 'nope' is not a column"):
        build_design("y ~ x", df, levels=["nope"])
    with pytest.raises(DesignError, match="at least one grouping level"):
        build_design("y ~ x", df, levels=[])
    with pytest.raises(DataError, match="column.*'zz'.*not in `data`"):
        build_design("y ~ zz", df, levels=["pilot"])
    with pytest.raises(DataError, match="one '~'"):
        build_design("y x", df, levels=["pilot"])
    with pytest.raises(DesignError, match="collinear"):
        df2 = df.assign(x2=2 * df["x"])
        build_design("y ~ x + x2", df2, levels=["pilot"])
    with pytest.raises(DataError, match="`family`"):
        build_design("y ~ x", df, levels=["pilot"], family="gamma")


def test_missing_values():
    df = _frame()
    df.loc[[3, 5], "y"] = np.nan
    with pytest.warns(SosstatsWarning, match="2 row"):
        d = build_design("y ~ x", df, levels=["pilot"])
    assert d.rows.n == 118 and d.n_dropped == 2
    with pytest.raises(DataError, match="2 missing"):
        build_design("y ~ x", df, levels=["pilot"], missing="raise")
    df = _frame()
    df.loc[4, "x"] = np.nan
    with pytest.raises(DataError, match="'x' has 1 missing"):
        build_design("y ~ x", df, levels=["pilot"])


# -- outcomes per family ------------------------------------------------------------------------
@pytest.mark.parametrize(("family", "values", "message"), [
    ("gaussian", ["a", "b"] * 60, "must be numeric"),
    ("gaussian", [np.inf] + [1.0] * 119, "infinite"),
    ("bernoulli", [0, 1, 2] * 40, "must be 0/1"),
    ("poisson", [-1, 2, 3] * 40, "non-negative"),
    ("poisson", [0.5, 2, 3] * 40, "whole numbers"),
    ("negative_binomial", [-2, 0, 3] * 40, "non-negative"),
    ("ordinal", pd.Categorical(["a", "b", "c"] * 40), "unordered categorical"),
    ("ordinal", [1, 2] * 60, "at least 3"),
])
def test_outcome_outside_support(family, values, message):
    df = _frame().assign(out=values)
    with pytest.raises(DataError, match=message):
        build_design("out ~ x", df, levels=["pilot"], family=family)


def test_shared_formula_weights_and_binary_checks():
    import sosstats._formula
    import sosstats.multilevel._design as design_module

    # one formula parser, one model-matrix builder, one weights check: no private copies
    assert design_module.split_formula is sosstats._formula.split_formula
    for name in ("formula_matrix", "_weights"):
        assert not hasattr(design_module, name), name
    df = _frame()
    with pytest.raises(DataError, match="`formula` must be a string with one '~', like "
                                        "'sdq ~ cohort'"):
        build_design("y x", df, levels=["pilot"])
    with pytest.raises(DataError, match="non-finite values in term.*'np.log"), \
            np.errstate(divide="ignore"):
        build_design("y ~ np.log(x)", df.assign(x=df["x"].abs() * 0.0), levels=["pilot"])
    # weights: the shared check names the column and counts the offending rows
    with pytest.raises(DataError, match="weights column 'w' must be non-negative; 1 are"):
        build_design("y ~ x", df.assign(w=np.r_[-1.0, np.ones(119)]), levels=["pilot"],
                     weights="w")
    with pytest.raises(DataError, match="weights column 'w' must be numeric; got dtype bool"):
        build_design("y ~ x", df.assign(w=True), levels=["pilot"], weights="w")
    nullable = df.assign(w=pd.array(np.arange(1, 121), dtype="Float64"))
    w = build_design("y ~ x", nullable, levels=["pilot"], weights="w").rows.weights
    assert w.sum() == pytest.approx(120) and w.dtype == np.float64  # rescaled to sum to n
    # a 0/1 outcome through the shared binary check: text and nullable dtypes
    with pytest.raises(DataError, match="outcome 'out'.*must be 0/1 or boolean; it has values "
                                        "'yes', 'no'.*family='binomial'"):
        build_design("out ~ x", df.assign(out=["yes", "no"] * 60), levels=["pilot"],
                     family="bernoulli")
    for values in (pd.array([True, False] * 60, dtype="boolean"),
                   pd.array([1, 0] * 60, dtype="Int64")):
        d = build_design("out ~ x", df.assign(out=values), levels=["pilot"],
                         family="bernoulli", collapse=False)
        assert d.rows.y.tolist() == [1, 0] * 60 and d.rows.y.dtype == np.int64


def test_binomial_checks():
    df = _frame().assign(n=3, k=np.arange(120) % 5)
    with pytest.raises(DataError, match="needs `trials=`"):
        build_design("k ~ x", df, levels=["pilot"], family="binomial")
    with pytest.raises(DataError, match="between 0 and the trials"):
        build_design("k ~ x", df, levels=["pilot"], family="binomial", trials="n")
    with pytest.raises(DataError, match="only used with family='binomial'"):
        build_design("y ~ x", df, levels=["pilot"], trials="n")
    ok = build_design("k ~ x", df.assign(n=5), levels=["pilot"], family="binomial", trials="n")
    assert ok.rows.trials.tolist() == [5] * 120


def test_ordinal_codes():
    cats = ["fewer", "same", "more"]
    df = _frame().assign(c=pd.Categorical(np.array(cats)[np.arange(120) % 3], categories=cats,
                                          ordered=True), s=(np.arange(120) % 4) * 2 + 1)
    d = build_design("c ~ x", df, levels=["pilot"], family="ordinal")
    assert d.categories == cats and d.rows.y[:4].tolist() == [0, 1, 2, 0]
    assert "Intercept" not in d.terms and d.centred
    d = build_design("s ~ x", df, levels=["pilot"], family="ordinal")
    assert d.categories == ["1", "3", "5", "7"] and d.rows.y[:4].tolist() == [0, 1, 2, 3]


# -- membership ---------------------------------------------------------------------------------
def test_membership_arrays_match_a_groupby(ev):
    d = build_design("sdq_t1 ~ cohort", ev.families, levels=["la_code", "worker_id"],
                     membership=ev.memberships)
    lev = d.level("worker_id")
    assert lev.kind == "membership" and d.unit == "family_id"
    assert np.allclose(lev.mm_weight.sum(axis=1), 1.0)
    u = np.random.default_rng(1).normal(size=lev.n_groups)
    idx, w = lev.row_membership()
    fast = (u[idx] * w).sum(axis=1)
    mm = ev.memberships.assign(u=u[pd.Index(lev.labels).get_indexer(
        ev.memberships["worker_id"].astype(str))])
    slow = (mm["u"] * mm["weight"]).groupby(mm["family_id"]).sum()
    assert np.allclose(fast, slow.loc[d.frame["family_id"]].to_numpy())
    expected = (ev.memberships["weight"] ** 2).groupby(ev.memberships["family_id"]).sum().mean()
    assert lev.mean_sum_sq_weights() == pytest.approx(expected)


def test_membership_weights_normalised_or_strict(ev):
    mm = ev.memberships.assign(weight=ev.memberships["weight"] * 2)
    with pytest.warns(SosstatsWarning, match="rescaled to sum to 1"):
        d = build_design("sdq_t1 ~ cohort", ev.families, levels=["la_code", "worker_id"],
                         membership=mm)
    assert np.allclose(d.level("worker_id").mm_weight.sum(axis=1), 1.0)
    with pytest.raises(DataError, match="must sum to 1"):
        build_design("sdq_t1 ~ cohort", ev.families, levels=["la_code", "worker_id"],
                     membership=mm, membership_weights="strict")


def test_membership_unknown_and_missing_families(ev):
    extra = pd.DataFrame({"family_id": [99999], "worker_id": [1], "weight": [1.0]})
    with pytest.raises(DataError, match="not in `data`: 99999"):
        build_design("sdq_t1 ~ cohort", ev.families, levels=["la_code", "worker_id"],
                     membership=pd.concat([ev.memberships, extra]))
    first = ev.families["family_id"].iloc[0]
    short = ev.memberships[ev.memberships["family_id"] != first]
    with pytest.raises(DataError, match=f"no row in `membership`: {first}"):
        build_design("sdq_t1 ~ cohort", ev.families, levels=["la_code", "worker_id"],
                     membership=short)
    neg = ev.memberships.assign(weight=-ev.memberships["weight"])
    with pytest.raises(DataError, match="non-negative"):
        build_design("sdq_t1 ~ cohort", ev.families, levels=["la_code", "worker_id"],
                     membership=neg)
    with pytest.raises(DataError, match="exactly one column named in `levels`"):
        build_design("sdq_t1 ~ cohort", ev.families, levels=["la_code"],
                     membership=ev.memberships)


def test_repeated_measures_and_slopes(ev):
    from sosstats.panel import wide_to_long

    long = wide_to_long(ev.families, id="family_id", stubs=["sdq"])
    with pytest.warns(SosstatsWarning, match="missing outcome"):
        d = build_design("sdq ~ wave + cohort", long, levels=["la_code"], repeated="family_id",
                         random_slopes={"la_code": ["wave"]})
    assert d.level_names == ["la_code", "family_id"]
    assert d.level("family_id").kind == "repeated"
    assert [(s.level, s.term) for s in d.slopes] == [("la_code", "wave[T.t2]")]
    with pytest.raises(DataError, match="not a fixed-effect term"):
        build_design("sdq ~ cohort", long.dropna(subset=["sdq"]), levels=["la_code"],
                     repeated="family_id", random_slopes={"la_code": ["wave"]})
    with pytest.raises(DesignError, match="multiple-membership"):
        build_design("sdq ~ wave", long.dropna(subset=["sdq"]), levels=["la_code", "worker_id"],
                     repeated="family_id", membership=ev.memberships,
                     random_slopes={"worker_id": ["wave"]})
    moved = long.dropna(subset=["sdq"]).copy()
    t2 = moved["wave"] == "t2"
    fam = moved.loc[t2, "family_id"].iloc[0]
    home = moved.loc[t2, "la_code"].iloc[0]
    other = [c for c in moved["la_code"].cat.categories if c != home][0]
    moved.loc[(moved["family_id"] == fam) & t2, "la_code"] = other
    with pytest.raises(DataError, match=f"family_id {fam} appears in more than one la_code"):
        build_design("sdq ~ wave", moved, levels=["la_code"], repeated="family_id")
    crossed = build_design("sdq ~ wave", moved, levels=["la_code"], repeated="family_id",
                           cross_classified=True)
    assert crossed.level("family_id").n_groups == moved["family_id"].nunique()


# -- collapsing ---------------------------------------------------------------------------------
def test_collapse_only_when_allowed(ev):
    df = _frame(400)
    d = build_design("b ~ g", df, levels=["pilot"], family="bernoulli")
    assert d.collapsed and d.fit.n == len(df.groupby(["g", "pilot"]))
    assert d.collapse_ratio == pytest.approx(d.fit.n / 400)
    assert d.fit.y.sum() == df["b"].sum() and d.fit.trials.sum() == 400
    w = build_design("b ~ g", df.assign(w=1.0), levels=["pilot"], family="bernoulli",
                     weights="w")
    assert not w.collapsed and w.fit.n == 400
    off = build_design("b ~ g", df, levels=["pilot"], family="bernoulli", collapse=False)
    assert not off.collapsed
    mm = build_design("rereferred_t2 ~ cohort", ev.families, levels=["la_code", "worker_id"],
                      family="bernoulli", membership=ev.memberships)
    assert not mm.collapsed
    gauss = build_design("y ~ g", df, levels=["pilot"])
    assert not gauss.collapsed


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 5))
def test_collapse_keeps_sufficient_statistics(seed, n_groups):
    rng = np.random.default_rng(seed)
    n = 60
    df = pd.DataFrame({"b": rng.integers(0, 2, n), "g": rng.integers(0, 2, n),
                       "h": rng.integers(0, 3, n),
                       "grp": np.arange(n) % n_groups})
    d = build_design("b ~ g + C(h)", df, levels=["grp"], family="bernoulli", collapse=False)
    c = collapse_rows(d.rows)
    # X'y and X'n per group are what the likelihood depends on
    for code in range(n_groups):
        full = d.rows.codes["grp"] == code
        short = c.codes["grp"] == code
        assert np.allclose(d.rows.X[full].T @ d.rows.y[full], c.X[short].T @ c.y[short])
        assert np.allclose(d.rows.X[full].sum(axis=0), c.X[short].T @ c.trials[short])


def test_collapsed_log_likelihood_equals_uncollapsed():
    pytest.importorskip("pymc")
    from sosstats.multilevel._pymc import build_model

    df = _frame(300, seed=3)
    full = MultilevelModel("b ~ g", df, levels=["pilot", "worker"], family="bernoulli",
                           collapse=False)
    short = MultilevelModel("b ~ g", df, levels=["pilot", "worker"], family="bernoulli")
    assert short.design.collapsed and not full.design.collapsed
    m_full = build_model(full.design, full.priors)
    m_short = build_model(short.design, short.priors)
    rng = np.random.default_rng(0)
    point = {k: rng.normal(size=np.shape(v)) for k, v in m_full.initial_point().items()}
    logp_full = m_full.compile_logp(mode="FAST_COMPILE")(point)
    logp_short = m_short.compile_logp(mode="FAST_COMPILE")(point)
    k, n = short.design.fit.y, short.design.fit.trials
    constant = np.sum(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1))
    assert logp_short == pytest.approx(logp_full + constant, rel=1e-10, abs=1e-8)


@pytest.mark.parametrize("collapse, weights, trials",
                         [(False, None, False), (True, None, False), (False, "w", False),
                          (False, None, True), (False, "w", True)])
def test_logit_potential_matches_observed_binomial(collapse, weights, trials):
    """The sampling model's ``loglik`` potential has pm.Binomial's log density and gradient."""
    pytest.importorskip("pymc")
    from sosstats.multilevel._pymc import build_model

    df = _frame(300, seed=5)
    gen = np.random.default_rng(1)
    df = df.assign(w=gen.uniform(0.2, 3, len(df)), n=gen.integers(1, 9, len(df)))
    df = df.assign(k=gen.binomial(df["n"], 0.4))
    formula = "b ~ g" if collapse else "b ~ g + x"
    if trials:
        m = MultilevelModel("k ~ g + x", df, levels=["pilot", "worker"], family="binomial",
                            trials="n", weights=weights)
    else:
        m = MultilevelModel(formula, df, levels=["pilot", "worker"], family="bernoulli",
                            collapse=collapse, weights=weights)
    assert m.design.collapsed == collapse
    fast = build_model(m.design, m.priors)
    slow = build_model(m.design, m.priors, predictive=True)
    potential = "weighted_loglik" if weights else "loglik"
    assert [p.name for p in fast.potentials] == [potential] and not fast.observed_RVs
    assert [v.name for v in slow.observed_RVs] == ([] if weights else ["y"])
    # pm.Binomial(logit_p=) goes through p = expit(eta) and log(1 - p), which loses about
    # 1e-10 relative on these sums (and overflows to -inf for eta > ~37 when y < trials); the
    # potential uses softplus directly. Points are kept moderate so the observed form is finite.
    rng = np.random.default_rng(0)
    compiled = [model.compile_logp(mode="FAST_COMPILE") for model in (fast, slow)]
    gradients = [model.compile_dlogp(mode="FAST_COMPILE") for model in (fast, slow)]
    for _ in range(3):
        point = {k: rng.normal(0, 0.7, size=np.shape(v))
                 for k, v in fast.initial_point().items()}
        assert compiled[0](point) == pytest.approx(compiled[1](point), rel=1e-9)
        np.testing.assert_allclose(gradients[0](point), gradients[1](point), rtol=1e-8,
                                   atol=1e-8)


def test_likelihood_weights_enter_linearly():
    pytest.importorskip("pymc")
    from sosstats.multilevel._pymc import build_model

    df = _frame(80, seed=4)
    rng = np.random.default_rng(2)
    wa = rng.uniform(0.2, 3, 80)
    wb = rng.uniform(0.2, 3, 80)
    wa, wb = wa * 80 / wa.sum(), wb * 80 / wb.sum()
    df = df.assign(one=1.0, wa=wa, wb=wb, wm=(wa + wb) / 2)

    def logp(weights):
        m = MultilevelModel("y ~ x", df, levels=["pilot"], weights=weights)
        model = build_model(m.design, m.priors)
        point = {k: np.full(np.shape(v), 0.3) for k, v in model.initial_point().items()}
        return model.compile_logp(mode="FAST_COMPILE")(point)

    plain = logp(None)
    assert logp("one") == pytest.approx(plain, rel=1e-12)
    # sum_i w_i log p_i is linear in w (all weights sum to n, so none is rescaled)
    assert logp("wa") + logp("wb") == pytest.approx(2 * logp("wm"), rel=1e-10)
    assert logp("wa") != pytest.approx(plain, rel=1e-6)
    with pytest.raises(DataError, match="non-negative"):
        MultilevelModel("y ~ x", df.assign(bad=-df["wa"]), levels=["pilot"], weights="bad")


@settings(max_examples=10, deadline=None)
@given(st.permutations(list(range(40))))
def test_row_order_does_not_change_groups(perm):
    df = _frame(40)
    a = build_design("y ~ x", df, levels=["pilot", "worker"])
    b = build_design("y ~ x", df.iloc[list(perm)], levels=["pilot", "worker"])
    for name in ("pilot", "worker"):
        assert list(a.level(name).labels) == list(b.level(name).labels)
        assert np.array_equal(a.level(name).group_size(), b.level(name).group_size())


# -- priors -------------------------------------------------------------------------------------
def test_default_priors_gaussian_and_logit():
    df = _frame(200)
    m = MultilevelModel("y ~ x + g", df, levels=["pilot", "worker"])
    p = m.priors
    sd_y = df["y"].std(ddof=0)
    assert p["Intercept"] == Prior("normal", {"mu": pytest.approx(df["y"].mean()),
                                              "sigma": pytest.approx(2.5 * sd_y)})
    assert p["beta[x]"].params["sigma"] == pytest.approx(2.5 * sd_y / df["x"].std(ddof=0))
    assert p["sigma_pilot"].params == {"sigma": pytest.approx(sd_y)}
    assert p["sigma"] == Prior("exponential", {"lam": pytest.approx(1 / sd_y)})
    table = p.to_frame()
    assert list(table.index) == ["Intercept", "beta[x]", "beta[g]", "sigma_pilot",
                                 "sigma_worker", "sigma"]
    assert "HalfNormal" in str(p) and "centred" in str(p)
    lg = MultilevelModel("b ~ x", df, levels=["pilot"], family="bernoulli").priors
    assert lg["Intercept"].params == {"mu": 0.0, "sigma": 2.5}
    assert lg["sigma_pilot"].params == {"sigma": 1.0}
    assert lg["beta[x]"].params["sigma"] == pytest.approx(2.5 / df["x"].std(ddof=0))
    assert "sigma" not in lg


def test_prior_overrides_and_errors():
    df = _frame(200)
    m = MultilevelModel("y ~ x + g", df, levels=["pilot"], priors={
        "sigma_pilot": ("halfnormal", {"sigma": 0.5}),
        "beta": {"x": ("normal", {"mu": 0, "sigma": 1})},
        "Intercept": ("studentt", {"nu": 3, "mu": 0, "sigma": 10})})
    assert m.priors["sigma_pilot"].params == {"sigma": 0.5}
    assert m.priors["beta[x]"] == Prior("normal", {"mu": 0.0, "sigma": 1.0})
    assert m.priors["beta[g]"].params["sigma"] > 1  # untouched default
    assert m.priors["Intercept"].dist == "studentt"
    allb = MultilevelModel("y ~ x + g", df, levels=["pilot"],
                           priors={"beta": ("normal", {"mu": 0, "sigma": 2})})
    assert allb.priors["beta[x]"] == allb.priors["beta[g]"] == Prior("normal",
                                                                     {"mu": 0.0, "sigma": 2.0})
    again = MultilevelModel("y ~ x + g", df, levels=["pilot"], priors=m.priors.to_dict())
    assert again.priors.to_frame().equals(m.priors.to_frame())
    bad = [({"sigma_nope": ("halfnormal", {"sigma": 1})}, "not a parameter of this model"),
           ({"beta": {"zz": ("normal", {"mu": 0, "sigma": 1})}}, "term 'zz'"),
           ({"sigma_pilot": ("normal", {"mu": 0, "sigma": 1})}, "must be one of"),
           ({"sigma_pilot": ("halfnormal", {"sigma": -1})}, "must be positive"),
           ({"sigma_pilot": ("halfnormal", {"scale": 1})}, "takes parameters sigma"),
           ({"Intercept": "normal"}, "pair"),
           (["x"], "must be a dict")]
    for spec, message in bad:
        with pytest.raises(DataError, match=message):
            MultilevelModel("y ~ x + g", df, levels=["pilot"], priors=spec)


def test_model_import_is_lazy_and_fit_arguments_checked():
    import subprocess
    import sys

    code = ("import sys, sosstats.multilevel; "
            "print(any(m.split('.')[0] in ('pymc', 'arviz', 'nutpie') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    m = MultilevelModel("y ~ x", _frame(), levels=["pilot"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match="`sampler`"):
            m.fit(sampler="stan")
        with pytest.raises(DataError, match="target_accept"):
            m.fit(target_accept=1.5)
        with pytest.raises(DesignError, match="`chains` must be at least 1"):
            m.fit(chains=0)


def test_centring_auto_and_explicit():
    rng = np.random.default_rng(5)
    n = 20_000
    big = pd.DataFrame({"b": rng.integers(0, 2, n), "x": rng.normal(size=n),
                        "pilot": rng.integers(0, 4, n), "worker": rng.integers(0, 2000, n)})
    m = MultilevelModel("b ~ x", big, levels=["pilot", "worker"], family="bernoulli",
                        cross_classified=True)
    # r = 5000 rows x 0.25 x 1 for pilots, 10 x 0.25 for workers
    assert m.centred == ("pilot",)
    small = MultilevelModel("y ~ x", _frame(), levels=["pilot", "worker"])
    assert small.centred == ()
    assert MultilevelModel("y ~ x", _frame(), levels=["pilot", "worker"],
                           centred=["worker"]).centred == ("worker",)
    assert MultilevelModel("y ~ x", _frame(), levels=["pilot"], centred=True).centred == (
        "pilot",)
    with pytest.raises(DataError, match="`centred` names 'la'"):
        MultilevelModel("y ~ x", _frame(), levels=["pilot"], centred=["la"])
    pytest.importorskip("pymc")
    model = MultilevelModel("y ~ x", _frame(), levels=["pilot", "worker"],
                            centred=["pilot"]).build()
    free = {v.name for v in model.free_RVs}
    # the centred pilot level absorbs the intercept: its group means are the free variables
    assert {"mean_pilot", "z_worker"} <= free and not {"u_pilot", "z_pilot", "u_worker"} & free
    assert {"u_pilot", "z_pilot", "u_worker"} <= {v.name for v in model.deterministics}
    no_intercept = MultilevelModel("y ~ 0 + x", _frame(), levels=["pilot", "worker"],
                                   centred=["pilot"]).build()
    assert "u_pilot" in {v.name for v in no_intercept.free_RVs}


def test_hierarchical_centring_has_the_same_density(monkeypatch):
    """Absorbing the intercept is a shift with unit Jacobian: the log densities agree."""
    pytest.importorskip("pymc")
    import sosstats.multilevel._pymc as mlpymc

    spec = MultilevelModel("y ~ x", _frame(), levels=["pilot", "worker"], centred=["pilot"])
    absorbed = spec.build()
    monkeypatch.setattr(mlpymc, "_absorbing_level", lambda design, centred: None)
    plain = spec.build()
    rng = np.random.default_rng(3)
    point = {name: np.asarray(value) for name, value in plain.initial_point().items()}
    point = {k: v + rng.normal(0, 0.3, v.shape) for k, v in point.items()}
    moved = dict(point)
    moved["mean_pilot"] = point["intercept_centred"] + moved.pop("u_pilot")
    lp_plain = plain.compile_logp()(point)
    lp_absorbed = absorbed.compile_logp()(moved)
    assert np.isfinite(lp_plain)
    np.testing.assert_allclose(lp_absorbed, lp_plain, rtol=1e-10)


def test_columns_named_like_formulaic_helpers():
    """``exp2`` / ``log`` columns are data, not formulaic's functions (they were dropped)."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"y": rng.normal(size=40), "exp2": rng.normal(size=40),
                          "log": rng.normal(size=40), "g": np.repeat(np.arange(8), 5)})
    design = MultilevelModel("y ~ exp2 + log", frame, levels=["g"]).design
    assert design.terms == ["Intercept", "exp2", "log"]
    np.testing.assert_allclose(design.rows.X[:, 1], frame["exp2"].to_numpy())


def test_exported_names_live_in_public_modules():
    import sosstats.multilevel as ml

    for name in ml.__all__:
        module = getattr(ml, name).__module__
        assert not any(part.startswith("_") for part in module.split(".")), (name, module)

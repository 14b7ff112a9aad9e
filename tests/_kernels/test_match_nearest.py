"""Greedy and optimal matching kernels against plain loops, brute force and R's MatchIt.

The vectorised greedy matcher must give exactly the pairs of the straightforward loop below
(treated in the given order, each taking its nearest still-available eligible control, ties to
the lowest control position; ``ratio`` passes). Small integer-valued problems (hypothesis) make
ties everywhere; the module's knobs are turned down so the list-growth and skip paths run.
"""

import itertools
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import cholesky, solve_triangular
from scipy.spatial.distance import cdist

from sosstats._kernels import match_candidates as mc
from sosstats._kernels import match_deferred as md
from sosstats._kernels import match_nearest as mn
from sosstats._kernels import match_sweep as ms
from sosstats._kernels import match_optimal as mo
from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError

FIX = "tests/fixtures/"


# ------------------------------------------------------------------------------ references
def loop_greedy(xt, xc, perm, *, ratio=1, replace=False, caliper=None, st_=None, sc_=None,
                box=None):
    """Match by the plain greedy loop (ties: lowest control position)."""
    xt, xc = (np.asarray(a, float).reshape(len(a), -1) for a in (xt, xc))
    n_t, n_c = len(xt), len(xc)
    st_ = np.zeros(n_t) if st_ is None else st_
    sc_ = np.zeros(n_c) if sc_ is None else sc_
    mm, dd = np.full((n_t, ratio), -1), np.full((n_t, ratio), np.nan)
    taken = np.zeros(n_c, bool)
    for r in range(1 if replace else ratio):
        for i in perm:
            if r and mm[i, r - 1] < 0:
                continue
            diff = xc - xt[i]
            d = np.sqrt(np.einsum("jk,jk->j", diff, diff))
            ok = (sc_ == st_[i]) & ~taken
            if caliper is not None:
                ok &= d <= caliper
            if box is not None:
                ok &= (np.abs(box[1] - box[0][i]) <= box[2]).all(axis=1)
            cand = np.flatnonzero(ok)
            cand = cand[np.lexsort((cand, d[cand]))]
            if replace:
                mm[i, :cand.size], dd[i, :cand.size] = cand[:ratio], d[cand[:ratio]]
            elif cand.size:
                mm[i, r], dd[i, r], taken[cand[0]] = cand[0], d[cand[0]], True
    return mm, dd


def loop_matchit(vt, vc, rows_t, rows_c, perm, *, ratio=1, caliper=None):
    """Match by MatchIt 4.5's scan for a score.

    Sort all units by (score, row); from the treated unit walk down and up to the nearest
    available control on each side; take the lower one unless the upper one is strictly nearer.
    """
    v = np.r_[vt, vc]
    n_t = len(vt)
    order = np.lexsort((np.r_[rows_t, rows_c], v))
    where = np.argsort(order)
    free = np.r_[np.zeros(n_t, bool), np.ones(len(vc), bool)]
    mm = np.full((n_t, ratio), -1)
    for r in range(ratio):
        for i in perm:
            side = []
            for step in (-1, 1):
                k = where[i] + step
                while 0 <= k < len(v) and not free[order[k]]:
                    k += step
                ok = 0 <= k < len(v) and (caliper is None or abs(v[order[k]] - v[i]) <= caliper)
                side.append(order[k] if ok else None)
            lo, hi = side
            if lo is not None and hi is not None:
                u = lo if abs(v[lo] - v[i]) <= abs(v[hi] - v[i]) else hi
            else:
                u = lo if lo is not None else hi
            if u is not None:
                mm[i, r], free[u] = u - n_t, False
    return mm


@contextmanager
def knobs(k0, sweep=True):
    """Small first lists and blocks, so that list growth and blocks are exercised.

    ``sweep=False`` turns off the one-score sweep, so deferred acceptance does every case.
    """
    old = mc.INITIAL_K, ms._sweep, md.MIN_BLOCK
    mc.INITIAL_K, md.MIN_BLOCK = k0, k0  # blocks of 1-3 ranks: block after block
    if not sweep:
        ms._sweep = lambda *args: None
    try:
        yield
    finally:
        mc.INITIAL_K, ms._sweep, md.MIN_BLOCK = old


@st.composite
def problems(draw, one_column=False):
    p = 1 if one_column else draw(st.integers(1, 3))
    n_t, n_c = draw(st.integers(1, 10)), draw(st.integers(1, 16))
    grid = st.integers(0, 4)
    xt = np.array(draw(st.lists(grid, min_size=n_t * p, max_size=n_t * p)), float)
    xc = np.array(draw(st.lists(grid, min_size=n_c * p, max_size=n_c * p)), float)
    return xt.reshape(n_t, p), xc.reshape(n_c, p)


# ------------------------------------------------------------------------ greedy vs loops
@settings(max_examples=300, deadline=None)
@given(problems(), st.integers(1, 3), st.booleans(), st.sampled_from([None, 0.0, 1.0, 2.0]),
       st.sampled_from(["data", "largest", "smallest", "random"]), st.booleans(),
       st.booleans(), st.integers(1, 3), st.booleans(), st.data())
def test_greedy_equals_plain_loop(prob, ratio, replace, caliper, order, strata, boxed, k0,
                                  sweep, data):
    xt, xc = prob
    n_t, n_c = len(xt), len(xc)
    key = np.array(data.draw(st.lists(st.integers(0, 2), min_size=n_t, max_size=n_t)), float)
    st_ = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n_t, max_size=n_t))) \
        if strata else None
    sc_ = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n_c, max_size=n_c))) \
        if strata else None
    box = (xt[:, :1] % 3, xc[:, :1] % 3, np.array([1.0])) if boxed else None
    with knobs(k0, sweep):
        m, d = mn.greedy_nearest(xt, xc, ratio=ratio, replace=replace, caliper=caliper,
                                 order=order, order_key=key, rng=3, strata_t=st_,
                                 strata_c=sc_, caliper_covs=box)
    perm = np.arange(n_t) if replace else mn.treated_order(n_t, order, key, 3)
    rm, rd = loop_greedy(xt, xc, perm, ratio=ratio, replace=replace, caliper=caliper,
                         st_=st_, sc_=sc_, box=box)
    np.testing.assert_array_equal(m, rm)
    np.testing.assert_array_equal(d, rd)
    if caliper == 0.0:  # a zero caliper matches exact ties only
        assert np.all(d[m >= 0] == 0)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 12), st.integers(1, 18), st.booleans(), st.integers(1, 2),
       st.sampled_from([None, 0.0, 1.0, 3.0]), st.sampled_from(["largest", "smallest"]),
       st.booleans(), st.booleans(), st.data())
def test_one_score_in_score_order(n_t, n_c, distinct, ratio, caliper, order, strata, sweep,
                                  data):
    """The sweep (one score, processed by that score) against the loop, ties included."""
    xt = np.array(data.draw(st.lists(st.integers(0, 19), min_size=n_t, max_size=n_t)), float)
    xc = (np.array(data.draw(st.permutations(range(40))))[:n_c] if distinct else np.array(
        data.draw(st.lists(st.integers(0, 11), min_size=n_c, max_size=n_c)))) / 2.0
    st_ = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n_t, max_size=n_t))) \
        if strata else None
    sc_ = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n_c, max_size=n_c))) \
        if strata else None
    with knobs(2, sweep):
        m, d = mn.greedy_nearest(xt, xc, ratio=ratio, caliper=caliper, order=order,
                                 strata_t=st_, strata_c=sc_)
    rm, rd = loop_greedy(xt, xc, mn.treated_order(n_t, order, xt), ratio=ratio,
                         caliper=caliper, st_=st_, sc_=sc_)
    np.testing.assert_array_equal(m, rm)
    np.testing.assert_array_equal(d, rd)


@settings(max_examples=300, deadline=None)
@given(problems(one_column=True), st.integers(1, 2), st.sampled_from([None, 0.0, 1.0]),
       st.sampled_from(["largest", "smallest", "data"]), st.integers(1, 3), st.booleans(),
       st.booleans(), st.data())
def test_matchit_ties_equal_matchit_scan(prob, ratio, caliper, order, k0, strata, sweep,
                                         data):
    xt, xc = prob
    n_t, n_c = len(xt), len(xc)
    rows = np.array(data.draw(st.permutations(range(n_t + n_c))))
    st_ = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n_t, max_size=n_t))) \
        if strata else np.zeros(n_t, int)
    sc_ = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n_c, max_size=n_c))) \
        if strata else np.zeros(n_c, int)
    with knobs(k0, sweep):
        m, d = mn.greedy_nearest(xt, xc, ratio=ratio, caliper=caliper, order=order,
                                 ties="matchit", rows_t=rows[:n_t], rows_c=rows[n_t:],
                                 strata_t=st_, strata_c=sc_)
    perm = mn.treated_order(n_t, order, xt[:, 0])
    ref = np.full((n_t, ratio), -1)
    for s in (0, 1):  # MatchIt matches each exact stratum on its own
        ti, ci = np.flatnonzero(st_ == s), np.flatnonzero(sc_ == s)
        if not (ti.size and ci.size):
            continue
        sub = loop_matchit(xt[ti, 0], xc[ci, 0], rows[:n_t][ti], rows[n_t:][ci],
                           np.argsort(np.argsort(perm)[ti], kind="stable"), ratio=ratio,
                           caliper=caliper)
        ref[ti] = np.where(sub >= 0, ci[np.maximum(sub, 0)], -1)
    np.testing.assert_array_equal(m, ref)
    np.testing.assert_array_equal(d[m >= 0], np.abs(xt[:, 0][:, None] - xc[:, 0][m])[m >= 0])


def test_score_order_uses_the_sweep(monkeypatch):
    rng = np.random.default_rng(6)
    xt, xc = rng.random(300), rng.random(500) * 0.8
    expect, _ = mn.greedy_nearest(xt, xc, order="largest", caliper=0.05)
    monkeypatch.setattr(md, "_accept", None)  # deferred acceptance would fail now
    m, _ = mn.greedy_nearest(xt, xc, order="largest", caliper=0.05)
    np.testing.assert_array_equal(m, expect)
    rm, _ = loop_greedy(xt, xc, mn.treated_order(300, "largest", xt), caliper=0.05)
    np.testing.assert_array_equal(m, rm)


def _cases():
    rng = np.random.default_rng(11)
    lp_t, lp_c = rng.normal(1, 1, 300), rng.normal(-1, 1, 700)
    ps_t, ps_c = 1 / (1 + np.exp(-lp_t)), 1 / (1 + np.exp(-lp_c))
    dense_t = rng.normal(size=(300, 3)) + 1.0
    dense_c = rng.normal(size=(700, 3))
    dup_t = rng.integers(0, 3, (300, 3)).astype(float)
    dup_c = rng.integers(0, 3, (700, 3)).astype(float)
    return {
        "dense 3-D, data order": (dense_t, dense_c, dict(order="data")),
        "dense 3-D, 1:3": (dense_t, dense_c, dict(order="random", rng=5, ratio=3)),
        "dense 3-D, caliper": (dense_t, dense_c, dict(order="data", caliper=0.3)),
        "duplicated points": (dup_t, dup_c, dict(order="data", ratio=2)),
        "duplicated points, strata": (dup_t, dup_c, dict(
            order="data", strata_t=np.arange(300) % 4, strata_c=np.arange(700) % 3)),
        "separated scores, largest": (ps_t, ps_c, dict(order="largest")),
        "separated scores, 1:2, caliper": (ps_t, ps_c, dict(order="largest", ratio=2,
                                                            caliper=0.02)),
        "rounded scores": (np.round(ps_t, 2), np.round(ps_c, 2), dict(order="smallest")),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_larger_problems_equal_plain_loop(name):
    xt, xc, kw = _cases()[name]
    m, d = mn.greedy_nearest(xt, xc, **kw)
    key = xt if np.ndim(xt) == 1 else None
    perm = mn.treated_order(len(xt), kw["order"], key, kw.get("rng"))
    rm, rd = loop_greedy(xt, xc, perm, ratio=kw.get("ratio", 1), caliper=kw.get("caliper"),
                         st_=kw.get("strata_t"), sc_=kw.get("strata_c"))
    np.testing.assert_array_equal(m, rm)
    np.testing.assert_allclose(d, rd, rtol=1e-12)


def test_simulated_families_with_ties_and_strata():
    """Match cohort 2 families to cohort 1 on whole-number covariates within referral reason.

    The real shape of the problem, with ties everywhere.
    """
    f = simulate_evaluation(rng=4, n_families=600).families
    x = f[["sdq_t1", "feelings_t1", "previous_referral"]].to_numpy(float)
    codes = f["referral_reason"].cat.codes.to_numpy()
    t = f["cohort"].to_numpy() == 2
    for order, ratio in [("data", 1), ("random", 2)]:
        m, d = mn.greedy_nearest(x[t], x[~t], ratio=ratio, order=order, rng=9,
                                 strata_t=codes[t], strata_c=codes[~t])
        perm = mn.treated_order(t.sum(), order, None, 9)
        rm, rd = loop_greedy(x[t], x[~t], perm, ratio=ratio, st_=codes[t], sc_=codes[~t])
        np.testing.assert_array_equal(m, rm)
        assert np.all(codes[~t][m[m >= 0]] == np.broadcast_to(codes[t][:, None], m.shape)[m >= 0])


def test_with_replacement_is_the_k_nearest():
    rng = np.random.default_rng(2)
    xt, xc = rng.normal(size=(200, 4)), rng.normal(size=(900, 4))
    m, d = mn.greedy_nearest(xt, xc, ratio=3, replace=True)
    full = cdist(xt, xc)
    np.testing.assert_array_equal(m, np.argsort(full, axis=1, kind="stable")[:, :3])
    np.testing.assert_allclose(d, np.sort(full, axis=1)[:, :3], rtol=1e-12)


# ----------------------------------------------------------------------- MatchIt fixture
def test_matchit_fixture_pairs():
    """Order and tie conventions agree with MatchIt 4.5.1.

    Fixture: tests/fixtures/matchit_kernel_nearest.R. The default tie rule ("index") differs
    from MatchIt's on tied scores.
    """
    d = pd.read_csv(FIX + "matchit_kernel_input.csv")
    pairs = pd.read_csv(FIX + "matchit_kernel_pairs.csv")
    t = d["treat"].to_numpy() == 1
    ids_t, ids_c = d["id"].to_numpy()[t], d["id"].to_numpy()[~t]
    rows = np.arange(len(d))
    x = d[["x1", "x2"]].to_numpy()
    xc = x.copy()
    for g in (t, ~t):
        xc[g] -= xc[g].mean(axis=0)
    chol = cholesky(xc.T @ xc / (len(d) - 2), lower=True)  # pooled within-group covariance
    z = solve_triangular(chol, x.T, lower=True).T
    score = d["score"].to_numpy(float)
    runs = {
        "score_largest": dict(order="largest"), "score_smallest": dict(order="smallest"),
        "score_data": dict(order="data"), "score_caliper2": dict(order="largest", caliper=2.0),
        "score_caliper0": dict(order="largest", caliper=0.0)}
    for name, sub in pairs.groupby("config"):
        if name.startswith("score"):
            m, _ = mn.greedy_nearest(score[t], score[~t], ties="matchit", rows_t=rows[t],
                                     rows_c=rows[~t], **runs[name])
        else:
            m, _ = mn.greedy_nearest(z[t], z[~t], order="data",
                                     replace=name.endswith("replace"))
        got = {(ids_t[i], s + 1, ids_c[m[i, s]]) for i, s in zip(*np.nonzero(m >= 0))}
        assert got == set(zip(sub["treated"], sub["slot"], sub["control"])), name
    m_index, _ = mn.greedy_nearest(score[t], score[~t], order="largest")
    m_matchit, _ = mn.greedy_nearest(score[t], score[~t], order="largest", ties="matchit",
                                     rows_t=rows[t], rows_c=rows[~t])
    assert (m_index != m_matchit).any()


def test_whitened_distances_are_mahalanobis():
    rng = np.random.default_rng(8)
    cov = np.array([[2.0, 0.8, 0.1], [0.8, 1.0, -0.3], [0.1, -0.3, 0.5]])
    x = rng.multivariate_normal(np.zeros(3), cov, 500)
    chol = cholesky(cov, lower=True)
    z = solve_triangular(chol, x.T, lower=True).T
    m, d = mn.greedy_nearest(z[:100], z[100:], order="data")
    ref = cdist(x[:100], x[100:][m[:, 0]], metric="mahalanobis", VI=np.linalg.inv(cov))
    np.testing.assert_allclose(d[:, 0], np.diag(ref), rtol=1e-10)


# --------------------------------------------------------------------------- order, edges
def test_treated_order_is_stable_like_r():
    key = np.array([1, 2, 2, 1, 3, 2.0])
    # R: order(c(1,2,2,1,3,2), decreasing = TRUE) is 5 2 3 6 1 4
    np.testing.assert_array_equal(mn.treated_order(6, "largest", key), [4, 1, 2, 5, 0, 3])
    np.testing.assert_array_equal(mn.treated_order(6, "smallest", key), [0, 3, 1, 2, 5, 4])
    np.testing.assert_array_equal(mn.treated_order(6, "data"), np.arange(6))
    a, b = mn.treated_order(50, "random", rng=1), mn.treated_order(50, "random", rng=1)
    np.testing.assert_array_equal(a, b)
    assert sorted(a) == list(range(50)) and not np.array_equal(a, mn.treated_order(
        50, "random", rng=2))


def test_edges_and_inputs_untouched():
    xt, xc = np.array([[0.0, 1.0], [2.0, 2.0]]), np.array([[0.0, 1.1]])
    before = xt.copy(), xc.copy()
    m, d = mn.greedy_nearest(xt, xc, ratio=2, order="data")
    np.testing.assert_array_equal(m, [[0, -1], [-1, -1]])
    assert np.isnan(d[1]).all() and np.isnan(d[0, 1])
    np.testing.assert_array_equal(xt, before[0])
    np.testing.assert_array_equal(xc, before[1])
    m, _ = mn.greedy_nearest(xt, np.empty((0, 2)), order="data")
    assert (m == -1).all()
    m, d = mn.greedy_nearest(np.empty((0, 2)), xc, ratio=3, order="data")
    assert m.shape == (0, 3) and d.shape == (0, 3)
    m, _ = mn.greedy_nearest(xt, xc, order="data", strata_t=[1, 2], strata_c=[2])
    np.testing.assert_array_equal(m[:, 0], [-1, 0])  # no control in stratum 1


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(treated_X=[[np.nan, 1.0]]), DataError, "treated_X"),
    (dict(control_X=[[1.0, 2.0, 3.0]]), DataError, "columns"),
    (dict(treated_X=np.zeros((1, 1, 2))), DataError, "`treated_X` must be a 2-D array"),
    (dict(caliper=-1.0), DataError, "caliper"),
    (dict(order="closest"), DataError, "order"),
    (dict(order="largest"), DataError, "order_key"),
    (dict(order="largest", order_key=[1.0, 2.0]), DataError, "order_key"),
    (dict(strata_t=[1]), DataError, "strata"),
    (dict(strata_t=[1, 2], strata_c=[1]), DataError, "strata"),
    (dict(ratio=0), DesignError, "ratio"),
    (dict(ratio=1.5), DataError, "ratio"),
    (dict(ties="lowest"), DataError, "ties"),
    (dict(caliper_covs=([1.0, 2.0], [1.0, 2.0], [1.0])), DataError, "caliper_covs"),
    (dict(caliper_covs=([1.0], [1.0, 2.0, 3.0], [1.0])), DataError, "caliper_covs"),
    (dict(caliper_covs=(1.0, 2.0)), DataError, "caliper_covs"),
    (dict(caliper_covs=([[1.0]], [[1.0], [2.0]], [-1.0])), DataError, "caliper_covs"),
])
def test_bad_input(kwargs, error, match):
    args = dict(treated_X=[[0.0, 1.0]], control_X=[[0.0, 1.0], [1.0, 1.0]], order="data")
    args.update(kwargs)
    with pytest.raises(error, match=match):
        mn.greedy_nearest(args.pop("treated_X"), args.pop("control_X"), **args)


def test_matchit_ties_need_rows():
    with pytest.raises(DataError, match="rows_t"):
        mn.greedy_nearest([0.1, 0.2], [0.3], ties="matchit")
    with pytest.raises(DataError, match="row number"):
        mn.greedy_nearest([0.1, 0.2], [0.3], ties="matchit", rows_t=[0], rows_c=[2])


# ------------------------------------------------------------------------------- optimal
@settings(max_examples=100, deadline=None)
@given(st.integers(1, 3), st.integers(0, 2), st.integers(1, 2), st.integers(0, 10 ** 6))
def test_optimal_pairs_minimise_total_cost(n_t, extra, ratio, seed):
    rng = np.random.default_rng(seed)
    n_c = n_t * ratio + extra
    cost = rng.random((n_t, n_c))
    m, d = mo.optimal_pairs(cost=cost, ratio=ratio)
    assert (m >= 0).all() and len(set(m.ravel())) == m.size  # every slot, no control twice
    np.testing.assert_allclose(d, cost[np.arange(n_t)[:, None], m])
    assert np.all(np.diff(d, axis=1) >= 0)
    best = min(sum(cost[i // ratio, c] for i, c in enumerate(perm))
               for perm in itertools.permutations(range(n_c), n_t * ratio))
    assert d.sum() == pytest.approx(best)


def test_optimal_pairs_strata_points_and_errors():
    rng = np.random.default_rng(4)
    xt, xc = rng.normal(size=(6, 2)), rng.normal(size=(9, 2))
    s_t, s_c = np.array([0, 0, 1, 1, 1, 2]), np.array([0, 0, 0, 1, 1, 1, 1, 3, 3])
    m, d = mo.optimal_pairs(xt, xc, strata_t=s_t, strata_c=s_c)
    assert m[5, 0] == -1 and np.isnan(d[5, 0])  # stratum 2 has no control
    assert np.all(s_c[m[:5, 0]] == s_t[:5])
    np.testing.assert_allclose(d[:5, 0], np.linalg.norm(xt[:5] - xc[m[:5, 0]], axis=1))
    for s in (0, 1):  # each stratum's assignment is optimal on its own
        ti, ci = np.flatnonzero(s_t == s), np.flatnonzero(s_c == s)
        c = cdist(xt[ti], xc[ci])
        best = min(sum(c[i, p] for i, p in enumerate(perm))
                   for perm in itertools.permutations(range(ci.size), ti.size))
        assert d[ti, 0].sum() == pytest.approx(best)
    assert mn.optimal_pairs is mo.optimal_pairs
    m, _ = mo.optimal_pairs(xt, xc[:2], ratio=2)  # too few controls: the best two pairs
    assert (m >= 0).sum() == 2
    with pytest.raises(DataError, match="ratio"):
        mo.optimal_pairs(xt, xc, ratio=0)
    with pytest.raises(DataError, match="cost"):
        mo.optimal_pairs(cost=np.array([[np.nan]]))
    with pytest.raises(DataError, match="treated_X"):
        mo.optimal_pairs(xt)
    with pytest.raises(DataError, match="columns"):
        mo.optimal_pairs(xt, xc[:, :1])
    with pytest.raises(DataError, match="strata"):
        mo.optimal_pairs(xt, xc, strata_t=s_t)
    with pytest.raises(DesignError, match="forbidden"):
        mo.optimal_pairs(cost=np.array([[1.0, np.inf], [np.inf, np.inf]]))


def test_optimal_pairs_refuses_huge_problems(monkeypatch):
    monkeypatch.setattr(mo, "MAX_ENTRIES", 10)
    with pytest.raises(DesignError, match="MAX_ENTRIES"):
        mo.optimal_pairs(cost=np.ones((4, 4)))


def test_optimal_points_checked_by_the_shared_2d_check():
    from sosstats._validate import check_array_2d

    with pytest.raises(DataError) as shared:
        check_array_2d([[0.0, 1.0, 2.0]], "control_X", columns=2)
    with pytest.raises(DataError) as got:
        mo.optimal_pairs([[0.0, 1.0]], [[0.0, 1.0, 2.0]])
    assert str(got.value) == str(shared.value)


def test_matching_kernels_are_split_along_their_seams():
    # issue 13: the 644-line match_nearest.py is an entry point over three kernels
    from pathlib import Path

    files = sorted(Path(mn.__file__).parent.glob("match_*.py"))
    assert {f.stem for f in files} >= {"match_nearest", "match_candidates", "match_deferred",
                                       "match_sweep", "match_optimal"}
    for f in files:
        assert len(f.read_text().splitlines()) < 450, f.name

"""Tests of sosstats.matching.rosenbaum (rosenbaum_bounds).

Reference values: tests/fixtures/matching_effects_reference.R computes the bounds of Rosenbaum
(2002, ch. 4) for the lead example (Morton et al. 1982, the rbounds ``psens`` example) and the
smoking example (110 of 122 discordant pairs, the rbounds ``binarysens`` example) with a plain
R loop (normal approximation as ``psens``; exact distribution by repeated convolution).
"""

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sosstats.errors import DataError, DesignError
from sosstats.matching.rosenbaum import rosenbaum_bounds

matplotlib.use("Agg")

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "matching_effects_reference_"
TRT = [38, 23, 41, 18, 37, 36, 23, 62, 31, 34, 24, 14, 21, 17, 16, 20, 15, 10, 45, 39, 22, 35,
       49, 48, 44, 35, 43, 39, 34, 13, 73, 25, 27]
CTL = [16, 18, 18, 24, 19, 11, 10, 15, 16, 18, 18, 13, 19, 10, 16, 16, 24, 13, 9, 14, 21, 19,
       7, 18, 19, 12, 11, 22, 25, 16, 13, 11, 13]
SMOKE_T = np.r_[np.ones(110), np.zeros(12), np.ones(5), np.zeros(7)]
SMOKE_C = np.r_[np.zeros(110), np.ones(12), np.ones(5), np.zeros(7)]    # + concordant pairs


@pytest.fixture(scope="module")
def ref():
    return pd.read_csv(f"{FIX}rosenbaum.csv")


def _bounds(ref, example, col):
    r = ref[ref.example == example]
    return (r[r.bound == "upper"].set_index("gamma")[col],
            r[r.bound == "lower"].set_index("gamma")[col])


@pytest.mark.parametrize("exact, col", [(False, "p_normal"), (True, "p_exact")])
def test_lead_example_matches_reference(ref, exact, col):
    up, lo = _bounds(ref, "lead", col)
    res = rosenbaum_bounds(TRT, CTL, gammas=up.index, exact=exact)
    assert res.statistic == 499 and res.n_pairs == 33 and res.n_informative == 32
    assert res.method == ("exact" if exact else "normal")
    np.testing.assert_allclose(res.table["p_upper"], up, rtol=1e-10)
    np.testing.assert_allclose(res.table["p_lower"], lo, rtol=1e-10)    # down to 1e-21


def test_smoking_example_matches_reference(ref):
    up, lo = _bounds(ref, "smoking", "p_exact")
    res = rosenbaum_bounds(SMOKE_T, SMOKE_C, gammas=up.index, kind="binary")
    assert res.statistic == 110 and res.n_informative == 122 and res.n_pairs == 134
    np.testing.assert_allclose(res.table["p_upper"], up, rtol=1e-10)
    np.testing.assert_allclose(res.table["p_lower"], lo, rtol=1e-10)
    # Rosenbaum (2002, sec. 4.3.2): the association is explained only by a bias near Gamma 6
    assert 5 < res.gamma_critical < 6


def test_critical_gamma_solves_alpha():
    res = rosenbaum_bounds(TRT, CTL, exact=False)
    assert 4.25 < res.gamma_critical < 4.5                # the table: 0.044 at 4.25, 0.052 at 4.5
    at = rosenbaum_bounds(TRT, CTL, gammas=[res.gamma_critical], exact=False)
    assert at.table["p_upper"].iloc[0] == pytest.approx(0.05, abs=1e-9)
    ex = rosenbaum_bounds(TRT, CTL, gammas=[1, 2], exact=True)
    at = rosenbaum_bounds(TRT, CTL, gammas=[ex.gamma_critical], exact=True)
    assert at.table["p_upper"].iloc[0] == pytest.approx(0.05, abs=1e-9)
    flat = rosenbaum_bounds([1.0, -2.0, 3.0, -1.5], [0.0] * 4)
    assert flat.gamma_critical == 1.0                     # not significant without bias


def test_gamma_one_is_wilcoxon_and_mcnemar():
    d = np.array(TRT) - np.array(CTL)
    res = rosenbaum_bounds(TRT, CTL, gammas=[1], exact=False)
    w = stats.wilcoxon(d, alternative="greater", method="approx", correction=False)
    assert res.table["p_upper"].iloc[0] == pytest.approx(w.pvalue, rel=1e-12)
    assert res.table["p_lower"].iloc[0] == pytest.approx(w.pvalue, rel=1e-12)
    rng = np.random.default_rng(4)
    x = rng.normal(0.4, 1, 18)                            # no ties: scipy's exact applies
    res = rosenbaum_bounds(x, np.zeros(18), gammas=[1])
    w = stats.wilcoxon(x, alternative="greater", method="exact")
    assert res.method == "exact"
    assert res.table["p_upper"].iloc[0] == pytest.approx(w.pvalue, rel=1e-10)
    less = rosenbaum_bounds(x, np.zeros(18), gammas=[1], alternative="less")
    w = stats.wilcoxon(x, alternative="less", method="exact")
    assert less.table["p_upper"].iloc[0] == pytest.approx(w.pvalue, rel=1e-10)
    b = rosenbaum_bounds(SMOKE_T, SMOKE_C, gammas=[1], kind="binary")
    assert b.table["p_upper"].iloc[0] == pytest.approx(
        stats.binomtest(110, 122, 0.5, alternative="greater").pvalue, rel=1e-12)


def test_exact_agrees_with_normal_in_large_samples():
    rng = np.random.default_rng(9)
    x = rng.normal(0.3, 1, 150)
    e = rosenbaum_bounds(x, np.zeros(150), gammas=[1, 1.5], exact=True)
    n = rosenbaum_bounds(x, np.zeros(150), gammas=[1, 1.5], exact=False)
    assert e.table["p_upper"].iloc[1] == pytest.approx(n.table["p_upper"].iloc[1], rel=0.05)
    assert e.gamma_critical == pytest.approx(n.gamma_critical, rel=0.01)
    with pytest.raises(DesignError, match="at most 500"):
        rosenbaum_bounds(rng.normal(size=501), np.zeros(501), exact=True)


def test_data_and_pairs_input():
    d = pd.DataFrame({"y": TRT + CTL}, index=[f"u{i}" for i in range(66)])
    pairs = pd.DataFrame({"treated": d.index[:33], "control": d.index[33:]})
    a = rosenbaum_bounds(data=d, pairs=pairs, outcome="y", gammas=[1, 3])
    b = rosenbaum_bounds(TRT, CTL, gammas=[1, 3])
    pd.testing.assert_frame_equal(a.table, b.table)
    p2 = pd.concat([pairs, pd.DataFrame({"treated": ["u0"], "control": ["u40"]})])
    with pytest.raises(DesignError, match="1:1 pairs"):
        rosenbaum_bounds(data=d, pairs=p2, outcome="y")
    with pytest.raises(DataError, match="not in"):
        rosenbaum_bounds(data=d, outcome="y",
                         pairs=pairs.assign(control=[f"z{i}" for i in range(33)]))
    with pytest.raises(DataError, match="either"):
        rosenbaum_bounds(TRT, data=d, pairs=pairs, outcome="y")


def test_result_vocabulary_and_plot():
    res = rosenbaum_bounds(TRT, CTL, gammas=[1, 2, 4, 6], exact=False)
    assert "critical Gamma" in str(res) and res.tidy()["gamma"].tolist() == [1, 2, 4, 6]
    dct = res.to_dict()
    assert dct["gamma_critical"] == pytest.approx(res.gamma_critical)
    assert len(dct["table"]) == 4 and dct["nobs"] == res.n_pairs
    ax = res.plot()
    assert len(ax.lines) == 4                             # two bounds, alpha, critical Gamma
    import matplotlib.pyplot as plt
    plt.close("all")


pair_values = st.lists(st.tuples(st.integers(-6, 6), st.integers(-6, 6)), min_size=3,
                       max_size=25)


@settings(max_examples=40, deadline=None)
@given(pair_values, st.integers(0, 10**6), st.booleans())
def test_bound_properties(pairs, seed, exact):
    yt, yc = np.array(pairs, dtype=float).T
    if np.all(yt == yc):
        with pytest.raises(DesignError):
            rosenbaum_bounds(yt, yc)
        return
    g = [1, 1.2, 1.5, 2, 3, 5]
    res = rosenbaum_bounds(yt, yc, gammas=g, exact=exact)
    up, lo = res.table["p_upper"].to_numpy(), res.table["p_lower"].to_numpy()
    assert np.all(np.diff(up) >= -1e-12) and np.all(np.diff(lo) <= 1e-12)
    assert np.all(lo <= up + 1e-12) and up[0] == pytest.approx(lo[0], rel=1e-9, abs=1e-15)
    assert np.all((up >= 0) & (up <= 1))
    perm = np.random.default_rng(seed).permutation(len(yt))
    shifted = rosenbaum_bounds(yt[perm] + 7, yc[perm] + 7, gammas=g, exact=exact)
    np.testing.assert_allclose(shifted.table.to_numpy(), res.table.to_numpy(), rtol=1e-9,
                               atol=1e-15)
    swapped = rosenbaum_bounds(yc, yt, gammas=g, exact=exact, alternative="less")
    np.testing.assert_allclose(swapped.table.to_numpy(), res.table.to_numpy(), rtol=1e-9,
                               atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=2, max_size=60))
def test_binary_properties(pairs):
    yt, yc = np.array(pairs, dtype=float).T
    if np.all(yt == yc):
        with pytest.raises(DesignError, match="discordant"):
            rosenbaum_bounds(yt, yc, kind="binary")
        return
    res = rosenbaum_bounds(yt, yc, kind="binary", gammas=[1, 2, 4])
    t, dd = ((yt == 1) & (yc == 0)).sum(), (yt != yc).sum()
    assert res.table["p_upper"].iloc[1] == pytest.approx(stats.binom.sf(t - 1, dd, 2 / 3))
    assert np.all(np.diff(res.table["p_upper"]) >= -1e-15)


@pytest.mark.parametrize("args, kwargs, exc, match", [
    (([1.0, 2.0, 3.0], [1.0, 2.0]), {}, DataError, "3 treated outcomes but 2 control"),
    (([1.0, np.nan, 3.0], [0.0, 0.0, 0.0]), {}, DataError, "missing or infinite"),
    (([1.0, 2.0], [0.0, 0.0]), {"gammas": [0.5, 1]}, DataError, "at least 1"),
    (([1.0, 2.0], [0.0, 0.0]), {"gammas": []}, DataError, "at least 1"),
    (([1.0, 2.0], [0.0, 0.0]), {"kind": "ordinal"}, DataError, "`kind`"),
    (([1.0, 2.0], [0.0, 0.0]), {"alternative": "two-sided"}, DataError, "`alternative`"),
    (([1.0, 2.0], [0.0, 0.0]), {"alpha": 1.5}, DataError, "`alpha`"),
    (([1.0, 2.0], [0.0, 0.0]), {"kind": "binary"}, DataError, "0/1"),
    (([["a"], ["b"]], [0.0, 0.0]), {}, DataError, "numeric"),
    (([2.0, 2.0], [2.0, 2.0]), {}, DesignError, "zero difference"),
    ((None, [0.0]), {}, DataError, "required"),
    (([], []), {}, DataError, "no pairs"),
])
def test_bad_inputs(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        rosenbaum_bounds(*args, **kwargs)

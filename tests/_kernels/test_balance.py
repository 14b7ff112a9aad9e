"""Tests of the balance and weight diagnostics kernel (sosstats._kernels.balance)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats._kernels.balance import (
    design_effect,
    kish_ess,
    standardized_mean_differences,
    trim_to_design_effect,
    trim_weights,
    variance_ratios,
)
from sosstats.errors import DataError


def test_smd_hand_example():
    X = np.array([[1.0], [2.0], [3.0], [4.0]])
    mask = np.array([0, 0, 1, 1], dtype=bool)
    # respondents' mean 3.5, full mean 2.5, full SD (ddof=1) sqrt(5/3)
    assert standardized_mean_differences(X, mask)[0] == pytest.approx(1 / np.sqrt(5 / 3))
    w = np.array([0, 0, 3.0, 1.0])  # weighted mean 3.25
    assert standardized_mean_differences(X, w)[0] == pytest.approx(0.75 / np.sqrt(5 / 3))


def test_smd_binary_raw_and_constant():
    X = np.array([[0, 5.0], [1, 5.0], [1, 5.0], [0, 5.0]])
    w = np.array([1.0, 1.0, 1.0, 0.0])
    smd = standardized_mean_differences(X, w, binary="raw")
    assert smd[0] == pytest.approx(2 / 3 - 0.5)
    assert smd[1] == 0.0
    std = standardized_mean_differences(X, w)
    assert std[0] == pytest.approx((2 / 3 - 0.5) / np.std([0, 1, 1, 0], ddof=1))


def test_variance_ratio_closed_form():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    mask = np.zeros(50)
    mask[:30] = 1
    vr = variance_ratios(X, mask)
    np.testing.assert_allclose(vr, X[:30].var(0, ddof=1) / X.var(0, ddof=1))
    # frequency weights of integers give the reliability-weight variance formula
    w = rng.integers(0, 4, 50).astype(float)
    m = w @ X / w.sum()
    vw = (w @ (X - m) ** 2) * w.sum() / (w.sum() ** 2 - w @ w)
    np.testing.assert_allclose(variance_ratios(X, w), vw / X.var(0, ddof=1))


def test_ess_and_deff_closed_forms():
    w = np.array([1.0, 2.0, 3.0, 0.0])
    assert kish_ess(w) == pytest.approx(36 / 14)
    assert design_effect(w) == pytest.approx(3 * 14 / 36)
    assert design_effect(np.ones(7)) == pytest.approx(1.0)
    cv2 = np.var(w[:3]) / np.mean(w[:3]) ** 2
    assert design_effect(w) == pytest.approx(1 + cv2)


def test_trim_max_ratio_hand_example():
    w = np.array([1.0, 1.0, 1.0, 9.0])  # mean 3, cap 2*3 = 6
    out = trim_weights(w, max_ratio=2.0)
    # 9 -> 6; the other three share the 3 removed: 1 * 2 each
    np.testing.assert_allclose(out, [2.0, 2.0, 2.0, 6.0])
    np.testing.assert_allclose(trim_weights(w, max_ratio=2.0, renormalise=False),
                               [1.0, 1.0, 1.0, 6.0])


def test_trim_quantiles_and_zeros():
    rng = np.random.default_rng(1)
    w = np.concatenate([rng.lognormal(0, 1, 200), np.zeros(20)])
    out = trim_weights(w, lower_q=0.05, upper_q=0.95)
    assert (out[200:] == 0).all()
    assert out.sum() == pytest.approx(w.sum())
    assert out[:200].min() >= np.quantile(w[:200], 0.05) * (1 - 1e-12)
    assert out.max() <= np.quantile(w[:200], 0.95) * (1 + 1e-12)


def test_trim_to_design_effect():
    rng = np.random.default_rng(2)
    w = rng.lognormal(0, 1.2, 500)
    res = trim_to_design_effect(w, 1.5)
    assert res.design_effect <= 1.5
    assert res.design_effect == pytest.approx(design_effect(res.weights))
    assert res.design_effect == pytest.approx(1.5, abs=1e-6)  # smallest trimming: just under
    assert res.weights.max() == pytest.approx(res.cap)
    assert res.weights.sum() == pytest.approx(w.sum())
    # equal to trim_weights with that cap as a max ratio
    np.testing.assert_allclose(trim_weights(w, max_ratio=res.cap / w.mean()), res.weights,
                               rtol=1e-9)
    # a looser cap breaks the target
    looser = trim_weights(w, max_ratio=res.cap * (1 + 1e-6) / w.mean())
    assert design_effect(looser) > 1.5
    same = trim_to_design_effect(w, 100.0)
    np.testing.assert_array_equal(same.weights, w)
    assert same.cap == np.inf


weights_st = st.lists(st.floats(0.01, 100.0), min_size=2, max_size=60).map(np.array)


@settings(max_examples=40, deadline=None)
@given(w=weights_st, q=st.floats(0.5, 0.99), r=st.floats(1.0, 5.0))
def test_property_weights(w, q, r):
    n = w.size
    assert kish_ess(w) <= n * (1 + 1e-12)
    assert design_effect(w) >= 1 - 1e-12
    for out in (trim_weights(w, upper_q=q) if np.quantile(w, q) >= w.mean() else w,
                trim_weights(w, max_ratio=r)):
        assert out.max() <= w.max() * (1 + 1e-12)
        assert out.sum() == pytest.approx(w.sum(), rel=1e-10)
        assert (out >= 0).all()
    target = 1 + (design_effect(w) - 1) / 2
    res = trim_to_design_effect(w, target)
    assert res.design_effect <= target * (1 + 1e-12)
    assert res.weights.max() <= w.max() * (1 + 1e-12)
    assert res.weights.sum() == pytest.approx(w.sum(), rel=1e-10)


@pytest.mark.parametrize("bad", [np.array([1.0, -1.0]), np.array([1.0, np.nan]),
                                 np.zeros(3), np.ones((2, 2))])
def test_bad_weights(bad):
    for f in (kish_ess, design_effect, trim_weights):
        with pytest.raises(DataError):
            f(bad)
    with pytest.raises(DataError):
        trim_to_design_effect(bad, 2.0)


def test_bad_options():
    w = np.array([1.0, 2.0, 10.0])
    X = np.ones((3, 1))
    with pytest.raises(DataError, match="upper_q"):
        trim_weights(w, upper_q=1.5)
    with pytest.raises(DataError, match="lower_q"):
        trim_weights(w, lower_q=0.6, upper_q=0.5)
    with pytest.raises(DataError, match="max_ratio"):
        trim_weights(w, max_ratio=0.5)
    with pytest.raises(DataError, match="mean"):
        trim_weights(w, upper_q=0.2)
    with pytest.raises(DataError, match="target"):
        trim_to_design_effect(w, 0.9)
    with pytest.raises(DataError, match="entries"):
        standardized_mean_differences(X, np.ones(4))
    with pytest.raises(DataError, match="binary"):
        standardized_mean_differences(X, np.ones(3), binary="x")
    with pytest.raises(DataError, match="NaN"):
        variance_ratios(np.array([[1.0], [np.nan], [2.0]]), np.ones(3))


def test_inputs_not_modified():
    w = np.array([1.0, 1.0, 1.0, 9.0])
    w0 = w.copy()
    trim_weights(w, max_ratio=2.0)
    trim_to_design_effect(w, 1.1)
    np.testing.assert_array_equal(w, w0)


def test_trim_target_one_within_rounding():
    """Equal weights have a design effect of 1 up to rounding (hypothesis found 1 - 1e-16)."""
    w = np.full(7, 0.3)
    res = trim_to_design_effect(w, 1 + (design_effect(w) - 1) / 2)
    np.testing.assert_allclose(res.weights, w)
    with pytest.raises(DataError, match="at least 1"):
        trim_to_design_effect(w, 0.99)


def test_two_d_and_weights_checks_are_the_shared_ones():
    # issue 13: X through _validate.check_array_2d, weights through _validate.check_weights
    from sosstats._validate import check_array_2d, check_weights

    X3 = np.zeros((4, 2, 2))
    with pytest.raises(DataError) as shared:
        check_array_2d(X3, "X")
    with pytest.raises(DataError) as got:
        standardized_mean_differences(X3, np.ones(4))
    assert str(got.value) == str(shared.value)
    w = np.array([1.0, np.nan, 1.0, 1.0])
    with pytest.raises(DataError) as shared:
        check_weights(w, "`weights`")
    with pytest.raises(DataError) as got:
        standardized_mean_differences(np.ones((4, 1)), w)
    assert str(got.value) == str(shared.value)

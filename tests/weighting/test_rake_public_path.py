"""The raking public path: cells formed once from the frame, diagnostics safe from later edits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sosstats._kernels.calibrate import rake
from sosstats.errors import DataError
from sosstats.weighting import attrition_weights


def _frame(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"a": rng.integers(0, 3, n), "b": rng.integers(1, 5, n),      # codes 1..4
                      "c": pd.Categorical(rng.choice(["x", "y", "z"], n),
                                          categories=["z", "y", "x", "unused"]),
                      "d": rng.random(n) < 0.3})
    f["responded"] = rng.random(n) < 0.4 + 0.1 * f["a"]
    return f


def test_rake_matches_the_kernel_on_the_respondents_and_meets_margins():
    f = _frame()
    res = attrition_weights(f, responded="responded", covariates=["a", "b", "c", "d"],
                            method="rake")
    r = f["responded"].to_numpy()
    codes = [pd.factorize(f[c], sort=True)[0] for c in "abd"]
    codes.insert(2, pd.Categorical(f["c"], categories=["z", "y", "x"]).codes.astype(np.intp))
    n_r, n = r.sum(), len(f)
    targets = [np.bincount(c) * n_r / n for c in codes]   # T1 counts scaled to respondents
    ref = rake([c[r] for c in codes], targets).weights
    w = res.weights.to_numpy()[r]
    np.testing.assert_allclose(w * targets[0].sum() / w.sum(), ref, rtol=1e-12)
    for c, t in zip(codes, targets):
        got = np.bincount(c[r], weights=w, minlength=t.size)
        np.testing.assert_allclose(got / got.sum(), t / t.sum(), rtol=0, atol=1e-10)


def test_diagnostics_do_not_follow_later_edits_of_the_callers_frame():
    f = _frame(2_000)
    res = attrition_weights(f, responded="responded", covariates=["a", "b"], method="rake")
    before = res.diagnostics().copy()
    f.loc[f.index[:500], "a"] = 2
    pd.testing.assert_frame_equal(res.diagnostics(), before)


def test_an_empty_respondent_category_is_named():
    f = _frame(2_000)
    f.loc[f["b"] == 4, "responded"] = False
    with pytest.raises(DataError, match=r"covariate 'b': no respondent is in category 4"):
        attrition_weights(f, responded="responded", covariates=["a", "b"], method="rake")


@pytest.mark.parametrize("values", [[-2, 0, 3, 3, -2], [5, 7, 7, 9, 5], [0, 1, 2, 2, 0],
                                    [10**9, 3, 3, 10**9, 3]])
def test_category_codes_of_integer_columns(values):
    from sosstats.weighting._formula import category_codes

    s = pd.DataFrame({"x": np.array(values, dtype=np.int64)})
    codes, levels, counts = category_codes(s, "x")
    ref_codes, ref_levels = pd.factorize(s["x"], sort=True)
    np.testing.assert_array_equal(codes, ref_codes)
    assert levels == list(ref_levels)
    np.testing.assert_array_equal(counts, np.bincount(ref_codes))


@pytest.mark.parametrize("shift", [0, -3, 2])   # codes 0..K-1, negative codes, a gap at 0..1
def test_integer_columns_rake_as_their_categories(shift):
    f = _frame(3_000, seed=2)
    cats = f.assign(a=f["a"].astype(str), b=f["b"].astype(str))
    ints = f.assign(a=f["a"] + shift, b=f["b"] * (1 if shift >= 0 else -1))
    kw = dict(responded="responded", covariates=["a", "b", "d"], method="rake")
    np.testing.assert_allclose(attrition_weights(ints, **kw).weights,
                               attrition_weights(cats, **kw).weights, rtol=1e-12)

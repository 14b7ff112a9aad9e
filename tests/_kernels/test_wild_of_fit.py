"""The wild bootstrap of a fit handed over by the caller equals the checked public kernel."""

from __future__ import annotations

import numpy as np
import pytest

from sosstats._kernels.wild import wild_cluster_bootstrap_terms, wild_terms_of_fit
from sosstats.errors import DesignError


def _data(G, seed=0, n=200):
    rng = np.random.default_rng(seed)
    codes = np.sort(rng.integers(0, G, n))
    codes[:G] = np.arange(G)                  # every cluster present
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    y = X @ np.array([0.3, 0.2, 0.0]) + rng.normal(size=G)[codes] + rng.normal(size=n)
    return X, y, codes


@pytest.mark.parametrize("G, weight_type", [(10, "rademacher"), (5, "webb"), (12, "mammen")])
def test_equals_the_public_kernel(G, weight_type):
    X, y, codes = _data(G)
    XtX = X.T @ X
    beta = np.linalg.solve(XtX, X.T @ y)
    resid = y - X @ beta
    ours = wild_terms_of_fit(X, resid, beta, XtX, codes, G, weight_type=weight_type,
                             n_resamples=999, rng=3, level=0.9)
    ref = wild_cluster_bootstrap_terms(X, y, codes, weight_type=weight_type, n_resamples=999,
                                       rng=3, level=0.9)
    assert len(ours) == len(ref) == 3
    for a, b in zip(ours, ref):
        assert a.p_value == b.p_value
        assert a.n_resamples == b.n_resamples and a.enumerated == b.enumerated
        np.testing.assert_allclose([a.statistic, a.ci_lower, a.ci_upper],
                                   [b.statistic, b.ci_lower, b.ci_upper], rtol=1e-9)


def test_exact_fit_is_refused():
    X, _, codes = _data(10)
    beta = np.array([1.0, 2.0, 3.0])
    with pytest.raises(DesignError, match="exactly"):
        wild_terms_of_fit(X, np.zeros(X.shape[0]), beta, X.T @ X, codes, 10,
                          weight_type="rademacher", n_resamples=99, rng=0, level=0.95)


def test_fused_and_clipped_p_values_agree():
    """The one-product p-value (Q >= 0 for every replicate) equals the clipped two-product one."""
    from sosstats._kernels.wild import _Fit, _WildSetup
    from sosstats._kernels.wild_invert import _Crossings
    from sosstats._kernels.wild_weights import weight_enumeration

    X, y, codes = _data(10, seed=4)
    setup = _WildSetup(_Fit(X, y, codes, 10), 1)
    comp = setup.components(weight_enumeration("rademacher", 10), 4096)
    fused = _Crossings(comp, setup)
    assert fused.fused
    clipped = _Crossings(comp, setup)
    object.__setattr__(clipped, "fused", False)
    n0, n1, q0, q1, q2 = comp
    clipped.coef = np.vstack([np.column_stack([n0 * n0, 2 * n0 * n1, n1 * n1]),
                              np.column_stack([q0, 2 * q1, q2])])
    for d in np.linspace(-3, 3, 41) * setup.std_error:
        assert fused.p_value(d) == clipped.p_value(d)

"""Compiled-model reuse (issue 18): one nutpie compile per model structure.

A fit through the cache must give the same draws as a fresh compile with the same seed, on
new data (other rows, another number of groups within the same padded capacity) and new
prior scales; the key must separate structures and join data sets; padded groups never
reach the results.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sosstats.errors import DataError, DesignError
from tests.multilevel.conftest import pilots_frame

pytest.importorskip("pymc")

FIT = {"draws": 200, "tune": 200, "chains": 2, "sampler": "nutpie"}


@pytest.fixture
def cache():
    pytest.importorskip("nutpie")
    from sosstats.multilevel import compiled_cache as cc

    cc.clear_compiled_cache()
    cc.set_compiled_cache(enabled=True, maxsize=cc.MAXSIZE)
    yield cc
    cc.clear_compiled_cache()
    cc.set_compiled_cache(enabled=True, maxsize=cc.MAXSIZE)


def model(seed: int, pilots: int, per: int, **kw):
    from sosstats.multilevel import MultilevelModel

    return MultilevelModel("y ~ x + expg", pilots_frame(seed, pilots, per), levels=["pilot"],
                           centred=None, **kw)


def fit(m, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.fit(**(FIT | kw))


def key(m, priors=None):
    from sosstats.multilevel._pymc import build_model
    from sosstats.multilevel.compiled_cache import structure_key

    return structure_key(build_model(m.design, priors or m.priors, centred=m.centred,
                                     pad=True))


def test_group_capacity_pads_non_centred_levels_only():
    from sosstats.multilevel._pymc import group_capacity

    assert group_capacity(model(1, 11, 12).design) == {"pilot": 12}
    assert group_capacity(model(1, 10, 12).design) == {"pilot": 10}
    assert group_capacity(model(1, 11, 12).design, centred=("pilot",)) == {"pilot": 11}
    ev_sizes = {177: 192, 183: 192, 129: 160, 3: 3}
    for n, cap in ev_sizes.items():
        step = 2 ** max(0, int(np.floor(np.log2(n))) - 2)
        assert (-(-n // step) * step if n >= 4 else n) == cap
        assert cap - n <= 0.25 * n


def test_key_joins_data_sets_and_separates_structures():
    from sosstats.multilevel import scale_priors

    a, b = model(1, 11, 12), model(2, 12, 9)  # other rows, 11 vs 12 pilots: both 12 slots
    assert a.nobs != b.nobs
    assert key(a) == key(b)
    assert key(a) == key(a, scale_priors(a.priors, 2.0))  # prior scales are inputs
    assert key(a) != key(model(1, 13, 12))  # 14 pilot slots
    assert key(a) != key(model(1, 11, 12, priors={"sigma": ("halfnormal", {"sigma": 1.0})}))
    from sosstats.multilevel import MultilevelModel

    frame = pilots_frame(1, 11, 12)
    other = MultilevelModel("y ~ x", frame, levels=["pilot"], centred=None)
    assert key(a) != key(other)


def test_reused_fit_equals_fresh_fit_on_new_data_and_priors(cache):
    from sosstats.multilevel import scale_priors

    first = fit(model(1, 11, 12), rng=5)
    assert first.idata.posterior.attrs["sosstats_compiled_reused"] == 0
    assert cache.compiled_cache_info()["size"] == 1
    new = model(2, 12, 9)
    new = new.with_priors(scale_priors(new.priors, 0.5))
    reused = fit(new, rng=4)
    assert reused.idata.posterior.attrs["sosstats_compiled_reused"] == 1
    assert cache.compiled_cache_info()["hits"] == 1
    fresh = fit(new, rng=4, reuse=False)
    assert fresh.idata.posterior.attrs["sosstats_compiled_reused"] == 0
    info = cache.compiled_cache_info()  # reuse=False neither reads nor fills the cache
    assert (info["size"], info["hits"], info["misses"]) == (1, 1, 1)
    a, b = reused.idata.posterior, fresh.idata.posterior
    assert set(a.data_vars) == set(b.data_vars)
    for v in a.data_vars:
        np.testing.assert_array_equal(a[v].values, b[v].values, err_msg=v)
    # the padded 12th slot of the 11-pilot model never reaches the result
    assert first.idata.posterior.sizes["pilot"] == 11
    assert not any(str(g).startswith("__pad") for g in first.idata.posterior["pilot"].values)
    assert reused.idata.posterior.sizes["pilot"] == 12
    assert list(reused.idata.posterior["pilot"].values) == list(new.design.level("pilot").labels)


def test_cache_can_be_turned_off_bounded_and_cleared(cache):
    for k in "abc":  # stand-ins for compiled models: the bookkeeping only
        cache._CACHE[k] = (None, {})
    cache.set_compiled_cache(maxsize=2)
    assert list(cache._CACHE) == ["b", "c"]  # least recently used dropped first
    assert cache.compiled_cache_info()["maxsize"] == 2
    cache.set_compiled_cache(enabled=False)
    assert cache.compiled_cache_info()["size"] == 0
    assert not cache.compiled_cache_info()["enabled"]
    cache._CACHE["d"] = (None, {})
    cache.clear_compiled_cache()
    assert cache.compiled_cache_info()["size"] == 0
    with pytest.raises(DataError, match="enabled"):
        cache.set_compiled_cache(enabled="no")
    with pytest.raises(DesignError, match="maxsize"):
        cache.set_compiled_cache(maxsize=-1)
    with pytest.raises(DataError, match="reuse"):
        model(1, 10, 8).fit(reuse="yes")


@pytest.mark.slow
def test_prior_sensitivity_refits_compile_once(cache):
    from sosstats.multilevel import prior_sensitivity

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sens = prior_sensitivity(model(3, 10, 15), draws=200, tune=200, chains=2, rng=2,
                                 sampler="nutpie")
    info = cache.compiled_cache_info()
    assert (info["misses"], info["hits"]) == (1, 2)
    reused = [r.idata.posterior.attrs["sosstats_compiled_reused"] for r in sens.results.values()]
    assert sorted(reused) == [0, 1, 1]

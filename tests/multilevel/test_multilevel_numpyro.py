"""The optional JAX backend: ``fit(sampler="numpyro")`` (PyMC's JAX sampler, NumPyro's NUTS).

Runs where ``jax`` and ``numpyro`` are installed (``pip install 'sosstats[jax]'``); CI has
neither, so there only the clear error of a missing backend is checked.
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest

from sosstats.errors import DataError

pytest.importorskip("pymc")


def test_missing_jax_is_a_clear_error(pilot_model, monkeypatch):
    real = importlib.util.find_spec

    def no_jax(name, *args, **kwargs):
        return None if name in ("jax", "numpyro") else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", no_jax)
    with pytest.raises(DataError, match=r"'numpyro' needs jax and numpyro.*sosstats\[jax\]"):
        pilot_model.fit(draws=10, tune=10, chains=1, sampler="numpyro")


def test_numpyro_posterior_matches_nutpie(pilot_model, pilot_fit):
    """Same model, another sampler: posterior means within a quarter of a posterior SD."""
    pytest.importorskip("jax")
    pytest.importorskip("numpyro")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = pilot_model.fit(draws=1000, tune=1000, chains=2, rng=5, sampler="numpyro")
    assert res.sampler == "numpyro"
    assert res.idata.posterior.attrs["sampler"] == "numpyro"
    a = res.tidy().set_index("term")
    b = pilot_fit.tidy().set_index("term")
    assert list(a.index) == list(b.index)
    gap = np.abs(a["estimate"] - b["estimate"]) / b["std_error"]
    assert (gap < 0.25).all(), gap

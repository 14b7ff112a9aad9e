"""Weighting results: public homes of the public names, and the one result protocol."""

from __future__ import annotations

import importlib

import pytest

import sosstats.weighting as weighting


@pytest.mark.parametrize("module, names", [
    ("sosstats.weighting.effect", ["WeightingEffect", "weighting_effect"]),
    ("sosstats.weighting.tipping", ["TippingPoint", "tipping_point"]),
    ("sosstats.weighting.rubin", ["PooledResult", "pool", "pool_estimates"]),
])
def test_public_names_live_in_public_modules(module, names):
    mod = importlib.import_module(module)
    for name in names:
        obj = getattr(mod, name)
        assert obj is getattr(weighting, name)          # from sosstats.weighting import X
        assert obj.__module__ == module
        assert name in mod.__all__


def test_no_public_weighting_name_is_defined_in_a_private_module():
    for name in weighting.__all__:
        obj = getattr(weighting, name)
        home = getattr(obj, "__module__", "sosstats.weighting")
        assert not any(part.startswith("_") for part in home.split(".")), (name, home)

"""Data sets and fits shared by the multilevel test modules, each built once per session.

- ``pilot_data``: ten pilots of 15 families, a family-level covariate ``x`` (well identified,
  0.5 per sd) and a pilot-level group ``expg`` (pilots alternate), pilot SD 0.4, residual 1;
- ``pilot_model`` / ``pilot_fit``: ``y ~ x + expg`` with a pilot intercept, 2 chains x
  (300 + 400), seed 3 (the base fit of the prior-sensitivity tests and the better model of
  the comparison tests); ``pilot_fit_intercept_only``: ``y ~ 1`` on the same rows, seed 2;
- ``evaluation``: ``simulate_evaluation(rng=7)`` (270 families, memberships).

Results are frozen and models are never modified by a fit, so sharing them across modules is
safe; a test that needs a changed design builds a new result with ``dataclasses.replace``.
Fits run with warnings silenced (short chains warn about ESS by design).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

FIT = {"draws": 400, "tune": 300, "chains": 2}


def quiet_fit(model, rng: int, **kwargs):
    """Fit ``model`` with the short ``FIT`` settings (overridable), warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(rng=rng, **(FIT | kwargs))


def pilots_frame(seed: int = 21, pilots: int = 10, per: int = 15) -> pd.DataFrame:
    """Ten pilots: a family-level covariate x (well identified), a pilot-level group expg."""
    rng = np.random.default_rng(seed)
    pilot = np.repeat(np.arange(pilots), per)
    expg = (np.arange(pilots) % 2)[pilot]
    x = rng.normal(size=pilot.size)
    y = (1.0 + 0.5 * x + 0.3 * expg + rng.normal(0, 0.4, pilots)[pilot]
         + rng.normal(size=pilot.size))
    return pd.DataFrame({"y": y, "x": x, "expg": expg, "pilot": pilot})


@pytest.fixture(scope="session")
def pilot_data() -> pd.DataFrame:
    return pilots_frame()


@pytest.fixture(scope="session")
def pilot_model(pilot_data):
    from sosstats.multilevel import MultilevelModel

    return MultilevelModel("y ~ x + expg", pilot_data, levels=["pilot"])


@pytest.fixture(scope="session")
def pilot_fit(pilot_model):
    pytest.importorskip("pymc")
    return quiet_fit(pilot_model, rng=3)


@pytest.fixture(scope="session")
def pilot_fit_intercept_only(pilot_data):
    pytest.importorskip("pymc")
    from sosstats.multilevel import MultilevelModel

    return quiet_fit(MultilevelModel("y ~ 1", pilot_data, levels=["pilot"]), rng=2)


@pytest.fixture(scope="session")
def evaluation():
    from sosstats.datasets import simulate_evaluation

    return simulate_evaluation(rng=7)

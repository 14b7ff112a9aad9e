r"""Simulation-based calibration of MultilevelModel's hierarchical logit as one sbc() call.

Slow: 37 s on two shared cores with nutpie and the compiled-model cache (81 s with PyMC's
NUTS, which compiles inside every pm.sample).

The same check as tests/multilevel/test_multilevel_sbc.py (Talts et al. 2018): model
:math:`\mathrm{logit}\,P(y_{ij} = 1) = \alpha + \beta x_{ij} + u_j`, :math:`u_j \sim N(0,
\sigma^2)`, 10 groups of 30 rows, the model's own default priors (read from ``model.priors``;
the intercept prior is on the centred intercept :math:`\alpha_c = \alpha + \beta\bar x`),
nutpie with 2 chains x 200 draws thinned by 4; ranks of :math:`\alpha`, :math:`\beta`,
:math:`\sigma` and :math:`u_0` tested for uniformity. Here the prior draw, the simulation and
the fit are three small functions and ``sbc`` does the rest (seeding, ranks, thinning,
the tests, the process pool).
"""

from __future__ import annotations

import logging
import os
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymc")

from sosstats.design.sbc import sbc  # noqa: E402
from sosstats.errors import SosstatsWarning  # noqa: E402

N_GROUPS, PER_GROUP = 10, 30
N_SIMS = 80
CHAINS, DRAWS, THIN = 2, 200, 4
RANKED = ["beta[Intercept]", "beta[x]", "sigma_grp", "u_grp[0]"]
# nutpie: each of the two worker processes compiles the model once and reuses it for every
# later replicate (multilevel compiled-model cache: new data swapped in); 37 s here where
# PyMC's own NUTS, compiling inside every pm.sample, took 81 s
SAMPLER = "nutpie"


def design() -> pd.DataFrame:
    grp = np.repeat(np.arange(N_GROUPS), PER_GROUP)
    x = np.tile([0, 1], N_GROUPS * PER_GROUP // 2)
    return pd.DataFrame({"x": x, "grp": grp})


def model(frame: pd.DataFrame):
    from sosstats.multilevel import MultilevelModel

    return MultilevelModel("y ~ x", frame, levels=["grp"], family="bernoulli")


def _draw(p, rng: np.random.Generator) -> float:
    if p.dist == "normal":
        return float(rng.normal(p.params["mu"], p.params["sigma"]))
    assert p.dist == "halfnormal", p
    return float(abs(rng.normal(0.0, p.params["sigma"])))


def prior(rng: np.random.Generator) -> dict:
    frame = design()
    priors = model(frame.assign(y=np.arange(len(frame)) % 2)).priors
    alpha_c = _draw(priors["Intercept"], rng)
    beta = _draw(priors["beta[x]"], rng)
    sigma = _draw(priors["sigma_grp"], rng)
    return {"beta[Intercept]": alpha_c - beta * frame["x"].mean(), "beta[x]": beta,
            "sigma_grp": sigma, "u_grp": sigma * rng.standard_normal(N_GROUPS)}


def simulate(theta: dict, rng: np.random.Generator) -> pd.DataFrame:
    frame = design()
    eta = (theta["beta[Intercept]"] + theta["beta[x]"] * frame["x"].to_numpy()
           + np.asarray(theta["u_grp"])[frame["grp"].to_numpy()])
    return frame.assign(y=(rng.random(len(frame)) < 1 / (1 + np.exp(-eta))).astype(int))


def fit(data: pd.DataFrame, rng: np.random.Generator):
    logging.getLogger("pymc").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        return model(data).fit(draws=DRAWS, tune=300, chains=CHAINS,
                               rng=int(rng.integers(2**31)), sampler=SAMPLER, cores=1)


@pytest.mark.slow
def test_multilevel_logit_is_calibrated_as_one_sbc_call():
    res = sbc(prior, simulate, fit, N_SIMS, parameters=RANKED, thin=THIN, bins=10,
              rng=20170705, n_jobs=min(2, os.cpu_count() or 1))
    tab = res.tidy().set_index("parameter")
    assert list(tab.index) == RANKED
    assert (tab["n"] == N_SIMS).all() and (tab["draws"] == CHAINS * DRAWS // THIN).all()
    assert (tab["p_value"] > 0.001).all(), tab
    assert (abs(tab["mean_rank"] - 0.5) < 4 * tab["mean_rank_mcse"]).all(), tab

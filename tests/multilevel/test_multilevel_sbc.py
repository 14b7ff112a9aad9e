r"""Simulation-based calibration of the hierarchical logit of :class:`MultilevelModel` (issue 5).

Notes
-----
Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018,
arXiv:1804.06788; Modrák et al. 2023, *Bayesian Analysis*): draw parameters
:math:`\theta^\ast` from the prior, data :math:`y \sim p(y \mid \theta^\ast)`, and
:math:`L` posterior draws given :math:`y`. If the model (priors, likelihood,
parameterisation, the centring of the intercept and the collapsing of rows into binomial
counts) is implemented correctly and the sampler is exact, the rank of
:math:`\theta^\ast` among the :math:`L` draws is uniform on :math:`0, \dots, L`, so
:math:`(r + U) / (L + 1)` with :math:`U \sim U(0, 1)` is uniform on (0, 1). The ranks are
binned in 10 equal bins and a chi-square test of uniformity is run for each quantity with
:math:`\alpha = 0.001` (lenient: a fixed seed, about 80 simulations).

Model: :math:`\mathrm{logit}\,P(y_{ij} = 1) = \alpha + \beta x_{ij} + u_j`,
:math:`u_j \sim N(0, \sigma^2)`, 10 groups of 30 rows, :math:`x` a 0/1 treatment in half of
each group's rows. The design is fixed across simulations (SBC conditional on the design);
the priors are the model's own defaults, read from ``model.priors``; they depend on
:math:`x` only, which is checked. The default intercept prior is on the intercept at the mean
of the predictors, :math:`\alpha_c = \alpha + \beta \bar x`, so :math:`\alpha_c` and
:math:`\beta` are drawn and the reported (uncentred) :math:`\alpha = \alpha_c - \beta\bar x`
is ranked. PyMC's NUTS samples each fit (``sampler="pymc"``): its compiled C operations are
cached between models, whereas nutpie compiles every new model with numba (about 7 s each),
and SBC checks the model, not the sampler. The fits run on two processes when there are two
cores (181 s here instead of 324 s).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("pymc")

from sosstats.errors import SosstatsWarning  # noqa: E402
from sosstats.multilevel import MultilevelModel  # noqa: E402

N_GROUPS, PER_GROUP = 10, 30
N_SIMS = 80
CHAINS, DRAWS, THIN = 2, 200, 4      # 100 thinned draws per fit: ranks 0..100
BINS = 10
ALPHA = 0.001


def _design() -> pd.DataFrame:
    grp = np.repeat(np.arange(N_GROUPS), PER_GROUP)
    x = np.tile([0, 1], N_GROUPS * PER_GROUP // 2)
    return pd.DataFrame({"x": x, "grp": grp})


def _draw(prior, gen: np.random.Generator) -> float:
    """One draw of a default prior (normal or half-normal; anything else fails the test)."""
    if prior.dist == "normal":
        return float(gen.normal(prior.params["mu"], prior.params["sigma"]))
    assert prior.dist == "halfnormal", prior
    return float(abs(gen.normal(0.0, prior.params["sigma"])))


def _model(frame: pd.DataFrame) -> MultilevelModel:
    return MultilevelModel("y ~ x", frame, levels=["grp"], family="bernoulli")


def _fit(task: tuple[pd.DataFrame, int]) -> tuple[dict[str, np.ndarray], int]:
    """Fit one simulated data set; return the draws of the ranked quantities and divergences."""
    frame, sim = task
    logging.getLogger("pymc").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        res = _model(frame).fit(draws=DRAWS, tune=300, chains=CHAINS, rng=sim, sampler="pymc",
                                cores=1)
    post = res.idata.posterior
    draws = {"Intercept": post["beta"].sel(term="Intercept").values,
             "x": post["beta"].sel(term="x").values,
             "sigma_grp": post["sigma_grp"].values,
             "u_grp[0]": post["u_grp"].values[..., 0]}
    return draws, int(res.diagnostics().divergences.sum())


def _ranks(n_sims: int, seed: int) -> tuple[pd.DataFrame, int]:
    """Normalised ranks of the true values, one row per simulation; and the divergences.

    The truths and data are drawn first, the fits run on up to two processes (each fit is
    seeded by its index, so the ranks do not depend on how many), and the rank jitter is drawn
    last, in simulation order.
    """
    gen = np.random.default_rng(seed)
    frame = _design()
    x, grp = frame["x"].to_numpy(float), frame["grp"].to_numpy()
    # the priors depend on x only: read them from a model with a placeholder outcome
    priors = _model(frame.assign(y=np.arange(len(frame)) % 2)).priors
    x_mean = x.mean()
    truths, tasks = [], []
    for sim in range(n_sims):
        alpha_c = _draw(priors["Intercept"], gen)
        beta = _draw(priors["beta[x]"], gen)
        sigma = _draw(priors["sigma_grp"], gen)
        u = sigma * gen.standard_normal(N_GROUPS)
        intercept = alpha_c - beta * x_mean
        eta = intercept + beta * x + u[grp]
        y = (gen.random(len(frame)) < 1 / (1 + np.exp(-eta))).astype(int)
        data = frame.assign(y=y)
        assert str(_model(data).priors) == str(priors)
        truths.append({"Intercept": intercept, "x": beta, "sigma_grp": sigma, "u_grp[0]": u[0]})
        tasks.append((data, sim))
    workers = min(2, os.cpu_count() or 1)
    if workers > 1:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            fits = list(pool.map(_fit, tasks))
    else:
        fits = [_fit(task) for task in tasks]
    records, divergent = [], 0
    for truth, (draws, n_divergent) in zip(truths, fits):
        divergent += n_divergent
        rec = {}
        for name, d in draws.items():
            kept = d[:, ::THIN].ravel()
            rank = np.sum(kept < truth[name])
            rec[name] = (rank + gen.random()) / (kept.size + 1)
        records.append(rec)
    return pd.DataFrame.from_records(records), divergent


@pytest.mark.slow
def test_hierarchical_logit_ranks_are_uniform():
    logging.getLogger("pymc").setLevel(logging.ERROR)
    ranks, divergent = _ranks(N_SIMS, seed=20170705)
    assert ranks.shape == (N_SIMS, 4)
    assert ranks.to_numpy().min() > 0 and ranks.to_numpy().max() < 1
    pvalues = {}
    for name, col in ranks.items():
        counts = np.bincount(np.floor(col.to_numpy() * BINS).astype(int), minlength=BINS)
        pvalues[name] = stats.chisquare(counts).pvalue
        # and no gross bias: the mean normalised rank of a calibrated quantity is 1/2 with
        # sd sqrt(1/12 / N_SIMS) = 0.032
        assert abs(col.mean() - 0.5) < 4 * np.sqrt(1 / 12 / N_SIMS), (name, col.mean())
    # Measured with this seed (truths drawn before the fits, jitter after): chi-square
    # p = 0.51 (Intercept), 0.81 (x), 0.66 (sigma_grp), 0.29 (u_grp[0]); mean normalised ranks
    # 0.51, 0.49, 0.54, 0.51. (The earlier sequential draw order gave p = 0.15, 0.35, 0.64,
    # 0.83 and means 0.43, 0.59, 0.49, 0.48; 100 simulations with seed 7 gave 0.50, 0.50,
    # 0.51, 0.49.)
    assert min(pvalues.values()) > ALPHA, pvalues
    # divergences would distort the ranks; measured 0 in 32,000 draws here (1 in 32,000 with
    # the earlier draw order, 2 in 40,000 with seed 7)
    assert divergent < 0.0005 * N_SIMS * CHAINS * DRAWS

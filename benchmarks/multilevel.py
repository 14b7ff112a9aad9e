"""Effective samples per second of sosstats' multilevel fits beside PyMC's default sampler.

Run with ``python benchmarks/multilevel.py`` (both models at full size; ``--quick``: 10,000
families, 400 workers and short chains; ``--skip-pymc`` times sosstats only). Requires the
``bayes`` extra (PyMC, nutpie, ArviZ).

Models (issue 5):

1. Three-level logit, ``n`` families (default 50,000) in ``J`` workers (2,000) in 10 pilots,
   a family-level binary treatment and a continuous covariate:
   ``logit P(y=1) = a + 0.4 treat + 0.3 x + u_pilot + u_worker``, ``u_pilot ~ N(0, 0.3)``,
   ``u_worker ~ N(0, 0.5)``. sosstats: ``MultilevelModel("y ~ treat + x", data,
   levels=["pilot", "worker"], family="bernoulli").fit(sampler="nutpie")`` with its automatic
   parameterisation (the 5,000-family pilots are centred and absorb the intercept; workers
   non-centred). PyMC: the same likelihood and priors written non-centred at every level
   (``MultilevelModel(..., centred=None).build(predictive=True)``: ``pm.Bernoulli(logit_p=eta,
   observed=y)`` as a PyMC user writes it), sampled by ``pm.sample`` with its defaults
   (jitter+adapt_diag, target_accept 0.8) and 4 chains of 250 + 250 as in the issue.
2. The 270-family evaluation: ``sdq_t1 ~ cohort + C(experience) + previous_referral +
   agency_worker`` with random intercepts for the 10 pilots and, by multiple membership, the
   177 workers the families saw (``simulate_evaluation(rng=1)``). Both samplers run the same
   PyMC model, 4 chains of 1000 + 2000 (at 1000 draws the worker SD's R-hat sits near 1.01).

Printed per sampler: wall time (nutpie's includes compiling, 5-15 s however small the
model), sampling time, R-hat and bulk ESS per second of wall time for the treatment effect,
the worker SD and the pilot effects (the smallest over the ten), and their ratio
sosstats / PyMC, end to end and per second of sampling (without nutpie's compile, which is
most of the wall time on the 270-family model). Requirement (issue 5): at least 5x the PyMC
figure on each, with every R-hat <= 1.01 on the sosstats side.

National scale (issue 18): ``benchmarks/multilevel_census.py`` fits the census-shaped logit
(600,000 children, 20,000 workers, 152 LAs) through ``MultilevelModel.fit``'s worker x pattern
likelihood beside PyMC's default; the model above has a continuous covariate, so it keeps the
rows.
"""

from __future__ import annotations

import os

# One BLAS thread per chain for both samplers, set before numpy loads OpenBLAS: nutpie runs
# chains on threads and pm.sample in processes, and BLAS threads on top oversubscribe the cores
# (PyMC measured 16% faster this way, nutpie 2.9x). sosstats limits BLAS threads itself while
# nutpie samples; setting it here for both keeps that out of the ratio.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sosstats.datasets import simulate_evaluation  # noqa: E402
from sosstats.multilevel import MultilevelModel  # noqa: E402

CORES = min(4, os.cpu_count() or 1)  # chains in parallel, the same for both samplers


def logit_data(n: int, workers: int, pilots: int = 10, seed: int = 0) -> pd.DataFrame:
    """Simulate the three-level logit of the module notes."""
    rng = np.random.default_rng(seed)
    pilot_of_worker = np.repeat(np.arange(pilots), workers // pilots)
    worker = rng.integers(0, pilot_of_worker.size, n)
    treat = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    eta = (-0.5 + 0.4 * treat + 0.3 * x + rng.normal(0, 0.3, pilots)[pilot_of_worker[worker]]
           + rng.normal(0, 0.5, pilot_of_worker.size)[worker])
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "treat": treat, "x": x, "worker": worker,
                         "pilot": pilot_of_worker[worker]})


def summarise(fit: dict, effect: str, worker: str, pilot: str) -> dict[str, float]:
    """R-hat and bulk ESS per second (of wall time) of the three quantities the issue names.

    ``sample_s`` is the time spent sampling: nutpie's without its compile, PyMC's the whole
    ``pm.sample`` call (its C compile is cached and takes about a second).
    """
    import arviz as az

    post = fit["idata"].posterior
    parts = {"effect": post["beta"].sel(term=effect), "worker_sd": post[f"sigma_{worker}"],
             "pilot_effects": post[f"u_{pilot}"]}
    out: dict[str, float] = {"wall_s": fit["wall"], "sample_s": fit["sample"]}
    for key, draws in parts.items():
        ess = np.atleast_1d(az.ess(draws, method="bulk").to_array().values.squeeze())
        rhat = np.atleast_1d(az.rhat(draws).to_array().values.squeeze())
        out[f"{key}_ess"] = float(ess.min())
        out[f"{key}_ess_s"] = float(ess.min()) / fit["wall"]
        out[f"{key}_rhat"] = float(rhat.max())
    return out


def run_sosstats(model: MultilevelModel, draws: int, tune: int, seed: int) -> dict:
    """Fit with sosstats (nutpie) and time it end to end."""
    start = time.perf_counter()
    result = model.fit(draws=draws, tune=tune, chains=4, rng=seed, sampler="nutpie",
                       progress=False, cores=CORES)
    return {"idata": result.idata, "wall": time.perf_counter() - start,
            "sample": result.timings["sample_s"]}


def run_pymc(model: MultilevelModel, draws: int, tune: int, seed: int) -> dict:
    """Sample the same PyMC model with ``pm.sample``'s defaults."""
    import pymc as pm

    start = time.perf_counter()
    pm_model = model.build(predictive=True)  # pm.Bernoulli(logit_p=eta, observed=y), as usual
    idata = pm.sample(draws=draws, tune=tune, chains=4, cores=CORES, random_seed=seed,
                      progressbar=False, compute_convergence_checks=False, model=pm_model)
    wall = time.perf_counter() - start
    return {"idata": idata, "wall": wall, "sample": wall}


def report(name: str, ours: dict[str, float], peer: dict[str, float] | None) -> None:
    """Print one model's figures and the sosstats / PyMC ratios."""
    print(f"\n{name}")
    rows = {"sosstats (nutpie)": ours} | ({"PyMC pm.sample": peer} if peer else {})
    frame = pd.DataFrame(rows).T
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 160):
        print(frame.to_string())
    if peer:
        for key in ("effect", "worker_sd", "pilot_effects"):
            ratio = ours[f"{key}_ess_s"] / peer[f"{key}_ess_s"]
            sampling = (ours[f"{key}_ess"] / ours["sample_s"]) / (
                peer[f"{key}_ess"] / peer["sample_s"])
            print(f"  ESS/s ratio {key}: {ratio:.1f}x end to end, {sampling:.1f}x sampling "
                  "only (without nutpie's compile)")
    ok = all(ours[f"{k}_rhat"] <= 1.01 for k in ("effect", "worker_sd", "pilot_effects"))
    print(f"  sosstats R-hat <= 1.01 on all three: {ok}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 families, short chains")
    parser.add_argument("--n", type=int, default=50_000, help="families in the logit model")
    parser.add_argument("--workers", type=int, default=2_000)
    parser.add_argument("--draws", type=int, default=1000, help="sosstats draws per chain")
    parser.add_argument("--tune", type=int, default=1000, help="sosstats tuning per chain")
    parser.add_argument("--pymc-draws", type=int, default=250)
    parser.add_argument("--pymc-tune", type=int, default=250)
    parser.add_argument("--eval-draws", type=int, default=2000,
                        help="draws per chain of the 270-family model (both samplers)")
    parser.add_argument("--skip-pymc", action="store_true")
    parser.add_argument("--only", choices=("logit", "evaluation"), default=None)
    args = parser.parse_args()
    if args.quick:
        args.n, args.workers, args.draws, args.tune = 10_000, 400, 500, 500
    warnings.simplefilter("ignore")
    import logging

    logging.getLogger("pymc").setLevel(logging.ERROR)
    import nutpie  # noqa: F401  (imported before either sampler is timed)
    import pymc  # noqa: F401

    if args.only in (None, "logit"):
        data = logit_data(args.n, args.workers)
        ours_model = MultilevelModel("y ~ treat + x", data, levels=["pilot", "worker"],
                                     family="bernoulli")
        fit = run_sosstats(ours_model, args.draws, args.tune, seed=1)
        ours = summarise(fit, "treat", "worker", "pilot")
        peer = None
        if not args.skip_pymc:
            plain = MultilevelModel("y ~ treat + x", data, levels=["pilot", "worker"],
                                    family="bernoulli", centred=None)
            fit = run_pymc(plain, args.pymc_draws, args.pymc_tune, seed=1)
            peer = summarise(fit, "treat", "worker", "pilot")
        report(f"Three-level logit: {args.n:,} families, {args.workers:,} workers, 10 pilots "
               f"(sosstats 4 x ({args.tune} + {args.draws}); PyMC 4 x ({args.pymc_tune} + "
               f"{args.pymc_draws}))", ours, peer)

    if args.only in (None, "evaluation"):
        ev = simulate_evaluation(rng=1)
        model = MultilevelModel(
            "sdq_t1 ~ cohort + C(experience) + previous_referral + agency_worker",
            ev.families, levels=["la_code", "worker_id"], membership=ev.memberships)
        fit = run_sosstats(model, args.eval_draws, 1000, seed=1)
        ours = summarise(fit, "cohort", "worker_id", "la_code")
        peer = None
        if not args.skip_pymc:
            fit = run_pymc(model, args.eval_draws, 1000, seed=1)
            peer = summarise(fit, "cohort", "worker_id", "la_code")
        report(f"270-family evaluation (Gaussian SDQ, 10 pilots, "
               f"{ev.memberships.worker_id.nunique()} workers by multiple membership; both "
               f"4 x (1000 + {args.eval_draws}))", ours, peer)


if __name__ == "__main__":
    main()

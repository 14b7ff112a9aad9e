"""National scale (issue 18): the census-shaped logit, collapsed, beside PyMC's default.

Run with ``python benchmarks/multilevel_census.py`` (600,000 children, 20,000 workers, 152
LAs, 10 pilots) or ``--quick`` (60,000 children, 2,000 workers, 152 LAs; a few minutes).
Requires the ``bayes`` extra (PyMC, nutpie, ArviZ).

Model (``sosstats.datasets.simulate_census``): ``logit P(rereferred) = a + C(age_band) +
previous_referral + pilot + u_la + u_worker``. sosstats side, the public call a user makes
from the children's frame: ``MultilevelModel(formula, children, levels=["la_code",
"worker_id"], family="bernoulli").fit(likelihood="census", target_accept=0.8)``, which
samples the worker x pattern table of successes and trials with nutpie
(``sosstats.multilevel._census_fit``; exactly the row-wise Bernoulli likelihood; the default
centring then centres the LAs, about 4,000 children each, and not the workers). If R-hat <=
1.01 and bulk ESS >= 400 are not met on every reported parameter (``beta``: intercept, 3 age
bands, previous referral, pilot; ``sigma_la_code``, ``sigma_worker_id``; the 152
``u_la_code``) the fit is repeated with twice the draws, and the time to the criteria
counts every attempt. The 20,000 worker effects are summarised too (minimum ESS, maximum
R-hat), but not part of the criterion: over 20,000 parameters the largest R-hat of a
converged chain set exceeds 1.01 by chance alone.

PyMC side: the row-wise model as a PyMC user writes it (``pm.Bernoulli(logit_p=eta,
observed=y)`` with gathers ``u_worker[worker]`` and ``u_la[la]``, non-centred at both levels,
the same priors), sampled by ``pm.sample`` with its defaults (jitter+adapt_diag, target_accept
0.8, 2 chains on this 2-core machine) but shorter chains (``--pymc-tune``/``--pymc-draws``,
250 + 250) to cap its run time. ESS per second is the smallest bulk ESS over the reported
parameters divided by wall time (sosstats: simulation excluded, collapsing + compile +
sampling included; PyMC: model build + sampling).

At full size PyMC's default would take hours, so ``--pymc extrapolate`` (the default at full
size) does not run it there: it runs ``pm.sample`` on the ``--quick`` census (60,000 children,
2,000 workers), times PyMC's compiled log density and gradient (the C backend ``pm.sample``
uses) at both sizes, and estimates the full-size ESS per second as the quick run's ESS over
its wall time scaled by the ratio of gradient costs (the number of leapfrog steps per draw
and the ESS per draw are assumed the same at both sizes; labelled "extrapolated").

Peak memory: ``resource.getrusage`` maximum resident set size of this process and of its
children (``pm.sample`` samples in child processes), printed after each phase.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from sosstats.datasets import simulate_census  # noqa: E402
from sosstats.multilevel import MultilevelModel  # noqa: E402

FORMULA = "rereferred ~ C(age_band) + previous_referral + pilot"
REPORTED = ("beta", "sigma_la_code", "sigma_worker_id", "u_la_code")
CORES = min(2, os.cpu_count() or 1)


def peak_mb() -> str:
    """Peak resident memory of this process and of its (finished) children, in MB."""
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return f"peak RSS {me:,.0f} MB (this process), {kids:,.0f} MB (largest child)"


def diagnostics(idata, reported=REPORTED, workers="u_worker_id") -> dict:
    """Smallest bulk ESS and largest R-hat over the reported parameters (and the workers)."""
    import arviz as az

    post = idata.posterior
    out = {}
    ess = az.ess(post[list(reported)], method="bulk")
    rhat = az.rhat(post[list(reported)])
    out["min_ess"] = float(min(ess[v].values.min() for v in reported))
    out["max_rhat"] = float(max(rhat[v].values.max() for v in reported))
    out["per_param"] = {v: (float(ess[v].values.min()), float(rhat[v].values.max()))
                        for v in reported}
    if workers in post:
        out["worker_min_ess"] = float(az.ess(post[workers], method="bulk")[workers].min())
        out["worker_max_rhat"] = float(az.rhat(post[workers])[workers].max())
    steps = idata.sample_stats.get("n_steps", idata.sample_stats.get("tree_size"))
    out["grads"] = float(steps.sum()) if steps is not None else float("nan")
    return out


def run_sosstats(children, draws: int, tune: int, chains: int, max_attempts: int,
                 sampler: str = "nutpie") -> dict:
    """Specify (checks, collapsing) and fit until the criteria hold (doubling draws).

    Every attempt is timed; the table's collapsing happens inside each ``fit``.
    """
    start = time.perf_counter()
    model = MultilevelModel(FORMULA, children, levels=["la_code", "worker_id"],
                            family="bernoulli")
    print(f"  MultilevelModel: {model.nobs:,} rows, {model.design.fit.n:,} after collapsing "
          f"identical rows, centred levels {model.centred or 'none'}, in "
          f"{time.perf_counter() - start:.1f} s; {peak_mb()}")
    attempts = []
    for attempt in range(max_attempts):
        res = model.fit(draws=draws, tune=tune, chains=chains, rng=1, cores=CORES,
                        target_accept=0.8, likelihood="census", sampler=sampler)
        idata, timings = res.idata, res.timings
        diag = diagnostics(idata)
        attempts.append((draws, timings, diag))
        print(f"  attempt {attempt + 1}: {chains} x ({tune} + {draws}): compile "
              f"{timings['compile_s']:.0f} s, sampling {timings['sample_s']:.0f} s; min bulk "
              f"ESS {diag['min_ess']:.0f}, max R-hat {diag['max_rhat']:.3f}; {peak_mb()}")
        if diag["min_ess"] >= 400 and diag["max_rhat"] <= 1.01:
            break
        draws *= 2
    wall = time.perf_counter() - start
    return {"idata": idata, "wall": wall, "diag": diag, "attempts": attempts,
            "ok": diag["min_ess"] >= 400 and diag["max_rhat"] <= 1.01}


def rowwise_model(children):
    """Build the row-wise PyMC model of the module notes (as a PyMC user writes it)."""
    import pymc as pm

    ch = children
    age = ch["age_band"].cat.codes.to_numpy()
    X = np.column_stack([(age == k) for k in (1, 2, 3)] + [ch["previous_referral"]]).astype(float)
    x_mean = X.mean(axis=0)
    x_sd = X.std(axis=0)
    pilot = ch["pilot"].to_numpy(float)
    p_sd = pilot.std()
    w_cat = ch["worker_id"].cat.remove_unused_categories()
    l_cat = ch["la_code"].cat.remove_unused_categories()
    w = w_cat.cat.codes.to_numpy()
    la = l_cat.cat.codes.to_numpy()
    y = ch["rereferred"].to_numpy()
    coords = {"la": list(l_cat.cat.categories), "worker": list(w_cat.cat.categories)}
    with pm.Model(coords=coords) as model:
        alpha = pm.Normal("intercept_centred", 0.0, 2.5)
        b = pm.Normal("b", 0.0, 2.5 / x_sd, shape=X.shape[1])
        delta = pm.Normal("pilot_effect", 0.0, 2.5 / p_sd)
        sigma_la = pm.HalfNormal("sigma_la", 1.0)
        sigma_w = pm.HalfNormal("sigma_worker", 1.0)
        u_la = pm.Deterministic("u_la", sigma_la * pm.Normal("z_la", 0, 1, dims="la"),
                                dims="la")
        u_w = pm.Deterministic("u_worker", sigma_w * pm.Normal("z_worker", 0, 1, dims="worker"),
                               dims="worker")
        eta = alpha + pm.math.dot(X - x_mean, b) + delta * (pilot - pilot.mean()) + u_la[la] \
            + u_w[w]
        pm.Deterministic("beta", pm.math.concatenate([
            (alpha - pm.math.dot(x_mean, b) - delta * pilot.mean())[None], b, delta[None]]))
        pm.Bernoulli("y", logit_p=eta, observed=y)
    return model


def run_pymc(children, draws: int, tune: int) -> dict:
    """``pm.sample`` with its defaults (shorter chains) on the row-wise model."""
    import pymc as pm

    start = time.perf_counter()
    model = rowwise_model(children)
    idata = pm.sample(draws=draws, tune=tune, random_seed=1, progressbar=False,
                      compute_convergence_checks=False, model=model)
    wall = time.perf_counter() - start
    diag = diagnostics(idata, reported=("beta", "sigma_la", "sigma_worker", "u_la"),
                       workers="u_worker")
    return {"wall": wall, "diag": diag, "ess_per_grad": diag["min_ess"] / diag["grads"],
            "chains": idata.posterior.sizes["chain"]}


def gradient_seconds(children, repeats: int = 5) -> float:
    """Seconds per log density + gradient evaluation of the row-wise model (C backend)."""
    model = rowwise_model(children)
    fn = model.logp_dlogp_function(ravel_inputs=True)
    fn.set_extra_values({})
    x = np.concatenate([np.ravel(v) for v in model.initial_point().values()])
    fn(x)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="60,000 children, 2,000 workers")
    parser.add_argument("--children", type=int, default=600_000)
    parser.add_argument("--workers", type=int, default=20_000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=800)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--sampler", choices=("nutpie", "numpyro"), default="nutpie",
                        help="sosstats' sampler: nutpie (default) or the optional JAX backend "
                             "(needs the jax extra)")
    parser.add_argument("--pymc-draws", type=int, default=250)
    parser.add_argument("--pymc-tune", type=int, default=250)
    parser.add_argument("--pymc", choices=("run", "extrapolate", "skip"), default=None,
                        help="run pm.sample at this size, extrapolate from the quick size "
                             "(default at full size), or skip")
    args = parser.parse_args()
    if args.quick:
        args.children, args.workers = 60_000, 2_000
    if args.pymc is None:
        args.pymc = "run" if args.children <= 60_000 else "extrapolate"
    warnings.simplefilter("ignore")
    logging.getLogger("pymc").setLevel(logging.ERROR)
    import nutpie  # noqa: F401
    import pymc  # noqa: F401

    print(f"Census logit: {args.children:,} children, {args.workers:,} workers, 152 LAs, "
          f"10 pilots; {os.cpu_count()} cores (shared: timings depend on the machine's load, "
          f"load average now {os.getloadavg()[0]:.1f})")
    census = simulate_census(0, n_children=args.children, n_workers=args.workers)
    t = census.truth
    ours = run_sosstats(census.children, args.draws, args.tune, args.chains, args.attempts,
                        args.sampler)
    d = ours["diag"]
    ess_s = d["min_ess"] / ours["wall"]
    print(f"\nsosstats (MultilevelModel.fit, census likelihood, {args.sampler}): "
          f"{ours['wall']:.0f} s to "
          f"{'R-hat <= 1.01 and bulk ESS >= 400' if ours['ok'] else 'the last attempt (NOT met)'}"
          f" ({ours['wall'] / 60:.1f} min; goal 30 min); min bulk ESS {d['min_ess']:.0f}, max "
          f"R-hat {d['max_rhat']:.3f}; {ess_s:.2f} ESS/s; worker effects: min ESS "
          f"{d['worker_min_ess']:.0f}, max R-hat {d['worker_max_rhat']:.3f}")
    for name, (e, r) in d["per_param"].items():
        print(f"  {name:>13}: min bulk ESS {e:7.0f}, max R-hat {r:.3f}")
    post = ours["idata"].posterior
    truths = [("Intercept", t["intercept"]), *[(f"C(age_band)[T.{k}]", v)
                                              for k, v in t["age_band"].items()],
              ("previous_referral", t["previous_referral"]), ("pilot", t["pilot_effect"])]
    print("  recovery (posterior mean [95% interval] vs truth):")
    for term, truth in truths:
        draws = post["beta"].sel(term=term).values.ravel()
        lo, hi = np.quantile(draws, [0.025, 0.975])
        print(f"    {term:>22}: {draws.mean():7.3f} [{lo:6.3f}, {hi:6.3f}]  truth {truth:6.3f}")
    for name, key in (("sigma_la_code", "sigma_la"), ("sigma_worker_id", "sigma_worker")):
        draws = post[name].values.ravel()
        lo, hi = np.quantile(draws, [0.025, 0.975])
        print(f"    {name:>22}: {draws.mean():7.3f} [{lo:6.3f}, {hi:6.3f}]  truth {t[key]:6.3f}")
    print(f"  {peak_mb()}")

    if args.pymc == "skip":
        return
    if args.pymc == "run":
        peer = run_pymc(census.children, args.pymc_draws, args.pymc_tune)
        label = "measured"
        peer_ess_s = peer["diag"]["min_ess"] / peer["wall"]
        print(f"\nPyMC pm.sample (row-wise Bernoulli, defaults, {peer['chains']} chains x "
              f"({args.pymc_tune} + {args.pymc_draws})): {peer['wall']:.0f} s, min bulk ESS "
              f"{peer['diag']['min_ess']:.0f}, max R-hat {peer['diag']['max_rhat']:.3f}, "
              f"{peer_ess_s:.3f} ESS/s; {peer['diag']['grads']:,.0f} gradients; {peak_mb()}")
    else:
        small = simulate_census(0, n_children=60_000, n_workers=2_000)
        peer = run_pymc(small.children, args.pymc_draws, args.pymc_tune)
        t_small = gradient_seconds(small.children)
        t_full = gradient_seconds(census.children, repeats=3)
        scale = t_full / t_small
        peer_ess_s = peer["diag"]["min_ess"] / (peer["wall"] * scale)
        label = "extrapolated"
        print(f"\nPyMC pm.sample on the 60,000-child census (defaults: {peer['chains']} chains, "
              f"run one after another as PyMC's default cores = cpu_count // 2 = "
              f"{max(1, (os.cpu_count() or 2) // 2)} here; {args.pymc_tune} + {args.pymc_draws}): "
              f"{peer['wall']:.0f} s, min bulk ESS {peer['diag']['min_ess']:.0f}. One log density "
              f"+ gradient (C backend): {t_small * 1e3:.1f} ms at 60,000 rows, "
              f"{t_full * 1e3:.1f} ms at {args.children:,} rows ({scale:.1f}x). Extrapolated "
              f"full-size ESS/s = ESS / (wall x {scale:.1f}) = {peer_ess_s:.4f} (assumes the same "
              f"steps per draw and ESS at both sizes; by post-warmup gradients instead, "
              f"{peer['ess_per_grad'] / t_full:.4f}); {peak_mb()}")
    print(f"\nESS/s ratio sosstats / PyMC default ({label}): {ess_s / peer_ess_s:.1f}x "
          "(goal >= 5x)")


if __name__ == "__main__":
    main()

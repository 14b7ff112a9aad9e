"""simulate_study on the study's design vs the hand-written loop a user writes today.

The design is the Signs of Safety evaluation as ``simulate_evaluation`` draws it: 270 families
in ten pilot LAs, SDQ at T1 and T2 with the simulator's outcome model, about 32% lost at T2.
Each replicate fits the first-difference change model ``sdq ~ C(experience) + C(cohort)`` on
the respondents, clustered by pilot. The truth: SDQ falls by 1.5 for every family (the
intercept of the change) and experience and cohort shift levels, not changes (0).

What each side computes, per replicate (the same replicates: replicate ``i`` of both draws
its data from ``SeedSequence(SEED).spawn(n)[i]``, so they fit the same data sets and the
script checks that their point estimates agree):

* the peer (``peer_loop``): ``simulate_evaluation(rng=rng_i)`` (the whole evaluation: 152 LAs'
  indicator panels, workers, families, diaries, survey, views, case records), then
  ``statsmodels`` OLS of the change with ``cov_type="cluster"`` (CR1 with the small-sample
  factor, normal p-values and intervals), rows collected in a list of dicts and summarised
  with pandas at the end;
* sosstats (the public path): ``simulate_study(evaluation_families(), design.estimator(kind),
  n)`` with ``kind = "cr2"`` (Bell-McCaffrey CR2 covariance, Satterthwaite df per term, t
  intervals) or ``"wild"`` (wild cluster restricted bootstrap per term over all 1,024 sign
  vectors: p-value and interval by test inversion, CR1 SE), and the study's summary (bias,
  RMSE, coverage, rejection with Monte Carlo SEs). ``evaluation_families`` simulates only the
  families table (bit for bit ``simulate_evaluation``'s) and the estimator fits a chunk of
  replicates at once: CR2 in one stacked kernel call, wild with change_model's kernel per
  replicate on arrays built without formulaic.

So sosstats does more inference per replicate (CR2 and its df; or 1,024 bootstrap fits and
two root searches per term) and less simulation (only what the estimator reads). The
attribution rows split the speed-up: the same public estimator on the per-replicate path,
with ``simulate_evaluation``'s whole evaluation and with the families-only design.

Printed: per-replicate cost of each, the ratio to the peer, the process pool and a 2-worker
Dask LocalCluster with their scheduling overhead, Dask with 1 worker (scaling 1 -> 2), and
whether every backend gave the same numbers bit for bit.

``python benchmarks/design.py --quick`` (under a minute): 1,000 replicates of sosstats per
run, the peer on 200. ``python benchmarks/design.py`` : 10,000 replicates per sosstats run and
the peer on 1,000 (``--peer-n 10000`` for the issue's full figure: about 7 minutes more).
BLAS runs one thread for both sides (what simulate_study's runner does; it favours the peer,
whose small statsmodels fits slow down with two threads on a busy machine). The in-process
rows print CPU time too: on a shared machine the load changes between the peer's run and
sosstats', which moves the wall-time ratio; the CPU-time ratio moves much less.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

from sosstats.datasets import simulate_evaluation
from sosstats.design import evaluation_families, simulate_study
from sosstats.design._execution import one_blas_thread
from sosstats.design._seeds import RootSeed

SEED = 20170901
DESIGN = evaluation_families()
TRUTH = DESIGN.truth


def evaluation_long(rng: np.random.Generator) -> pd.DataFrame:
    """Attribution only: the same long frame, from the whole simulate_evaluation."""
    fam = simulate_evaluation(rng=rng).families
    n = len(fam)
    two = np.repeat(np.arange(n), 2)
    long = fam[["family_id", "la_code", "experience", "cohort"]].iloc[two].reset_index(
        drop=True)
    return long.assign(wave=np.tile([1, 2], n),
                       sdq=fam[["sdq_t1", "sdq_t2"]].to_numpy(float).ravel(),
                       responded=np.repeat(fam["responded_t2"].to_numpy(), 2))


# -- the peer: the loop a user writes today ---------------------------------------------------
def peer_fit(fam: pd.DataFrame) -> list[dict]:
    """Statsmodels OLS of the change on the respondents, cluster-robust by pilot."""
    import statsmodels.formula.api as smf

    d = fam.dropna(subset=["sdq_t1", "sdq_t2"]).assign(change=lambda f: f.sdq_t2 - f.sdq_t1)
    fit = smf.ols("change ~ C(experience) + C(cohort)", d).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(d["la_code"])[0]})
    ci = fit.conf_int()
    return [{"term": t, "estimate": fit.params[t], "std_error": fit.bse[t],
             "p_value": fit.pvalues[t], "ci_lower": ci.loc[t, 0], "ci_upper": ci.loc[t, 1]}
            for t in fit.params.index]


def peer_loop(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the hand loop: replicate i from the same seed as simulate_study's replicate i."""
    root = RootSeed(SEED)
    rows = []
    for r in range(n):
        fam = simulate_evaluation(rng=root.generator(r)).families
        for row in peer_fit(fam):
            row["replicate"] = r
            rows.append(row)
    out = pd.DataFrame(rows)
    truth = out["term"].map(TRUTH)
    out["covered"] = (out.ci_lower <= truth) & (truth <= out.ci_upper)
    out["rejected"] = out.p_value <= 0.05
    summary = out.groupby("term")[["covered", "rejected"]].mean()
    return out, summary


def line(label: str, wall: float, n: int, peer_per: float | None, extra: str = "") -> str:
    ratio = f"{peer_per / (wall / n):6.1f}x the peer" if peer_per else ""
    return f"  {label:<44} {wall:8.2f} s  {1e3 * wall / n:8.2f} ms/rep  {ratio}{extra}"


def backend_line(label: str, res, workers: int, base_wall: float, peer_per: float) -> str:
    t = res.timing
    overhead = t["wall_s"] - t["compute_s"] / workers
    return line(label, t["wall_s"], res.n_replicates, peer_per,
                f"  speed-up {base_wall / t['wall_s']:4.2f}x; overhead {overhead:6.2f} s "
                f"({1e3 * overhead / res.n_replicates:5.2f} ms/rep)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 replicates; peer 200")
    ap.add_argument("--n", type=int, default=None, help="sosstats replicates per run")
    ap.add_argument("--peer-n", type=int, default=None, help="peer replicates")
    ap.add_argument("--estimators", default="cr2,wild")
    ap.add_argument("--skip-dask", action="store_true")
    args = ap.parse_args()
    n = args.n or (1_000 if args.quick else 10_000)
    m = args.peer_n or (200 if args.quick else 1_000)
    attr = 50 if args.quick else 200
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cores available: {len(os.sched_getaffinity(0))}; load average {load:.2f}; "
          f"sosstats {n:,} replicates per run, the peer {m:,}")
    warnings.simplefilter("ignore")      # statsmodels' and the few-cluster notes

    with one_blas_thread():
        t0, c0 = time.perf_counter(), time.process_time()
        peer_rows, peer_summary = peer_loop(m)
        peer_wall, peer_cpu = time.perf_counter() - t0, time.process_time() - c0
    peer_per = peer_wall / m
    print("\n== the peer: simulate_evaluation + statsmodels OLS, cluster SEs (CR1, normal) ==")
    print(line(f"hand loop, {m} replicates", peer_wall, m, None,
               f"  CPU {1e3 * peer_cpu / m:.2f} ms/rep"))
    print(peer_summary.rename(columns={"covered": "coverage", "rejected": "rejection"})
          .to_string(float_format=lambda v: f"{v:.3f}"))

    client = None
    if not args.skip_dask:
        from distributed import Client, LocalCluster

        t0 = time.perf_counter()
        cluster2 = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                dashboard_address=":0")
        client = Client(cluster2)
        print(f"\nDask LocalCluster(n_workers=2, threads_per_worker=1) started in "
              f"{time.perf_counter() - t0:.1f} s (not counted below)")

    results, dask_wall = {}, {}
    for kind in args.estimators.split(","):
        est = DESIGN.estimator(kind)
        print(f"\n== sosstats: simulate_study(evaluation_families(), "
              f"estimator({kind!r}), n) ==")
        c0 = time.process_time()
        here = simulate_study(DESIGN, est, n, rng=SEED)
        cpu = time.process_time() - c0
        assert here.settings["batched"] == n
        print(line(f"in-process, batched ({n:,})", here.timing["wall_s"], n, peer_per,
                   f"  CPU {1e3 * cpu / n:.2f} ms/rep: {peer_cpu / m / (cpu / n):.1f}x "
                   "the peer's CPU time"))
        check = here.replicates[here.replicates.replicate < m].reset_index(drop=True)
        mine = check.set_index(["replicate", "term"])["estimate"]
        theirs = peer_rows.set_index(["replicate", "term"])["estimate"].reindex(mine.index)
        print(f"  same data sets as the peer: max |estimate difference| over {m} replicates "
              f"{np.nanmax(np.abs(mine.to_numpy() - theirs.to_numpy())):.1e}")
        # attribution: the same public estimator per replicate
        per_fam = simulate_study(DESIGN.simulate, est, attr, rng=SEED)
        per_ev = simulate_study(evaluation_long, est, attr, rng=SEED)
        print(line(f"  per replicate, families-only design ({attr})",
                   per_fam.timing["wall_s"], attr, peer_per))
        print(line(f"  per replicate, whole simulate_evaluation ({attr})",
                   per_ev.timing["wall_s"], attr, peer_per))
        pool = simulate_study(DESIGN, est, n, rng=SEED, n_jobs=2)
        print(backend_line("process pool, n_jobs=2", pool, 2, here.timing["wall_s"], peer_per))
        same = [here.replicates.equals(pool.replicates)]
        if client is not None:
            dask = simulate_study(DESIGN, est, n, rng=SEED, client=client)
            print(backend_line("Dask, 2 workers", dask, 2, here.timing["wall_s"], peer_per))
            same.append(here.replicates.equals(dask.replicates))
            dask_wall[kind] = dask.timing["wall_s"]
        print(f"  identical bit for bit on every backend: {all(same)}")
        t = here.tidy().set_index("term")
        print(t[["n_ok", "bias", "coverage", "coverage_mcse", "rejection_rate",
                 "rejection_rate_mcse"]].to_string(float_format=lambda v: f"{v:.4f}"))
        results[kind] = here

    if client is not None:
        from distributed import Client, LocalCluster

        client.close()
        cluster2.close()
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster1, Client(cluster1) as c1:
            for kind, res in results.items():
                one = simulate_study(DESIGN, DESIGN.estimator(kind), n, rng=SEED, client=c1)
                print(f"\nDask with 1 worker ({kind}): wall {one.timing['wall_s']:.2f} s; "
                      f"2 workers {dask_wall[kind]:.2f} s (scaling 1 -> 2: "
                      f"{one.timing['wall_s'] / dask_wall[kind]:.2f}x); in-process "
                      f"{res.timing['wall_s']:.2f} s")


if __name__ == "__main__":
    main()

"""simulate_study on the study's design: in-process vs process pool vs Dask, and a hand loop.

The design is the Signs of Safety evaluation as ``simulate_evaluation`` draws it (270 families
in ten pilot LAs, 30% attrition at T2); each replicate reshapes the families' SDQ to the long
two-wave frame (five columns, numpy) and fits ``change_model("sdq ~ C(cohort) +
C(experience)", ..., cluster="la_code")`` with ``inference="cr2"`` and with ``"wild"`` (all
1,024 sign vectors). The truth: SDQ falls by 1.5 for every family (the intercept of the change)
and cohort and experience shift levels, not changes (true coefficients 0).

Printed for each backend: wall time, compute time inside the replicates (summed over workers),
per-replicate cost and the scheduling overhead (wall - compute / workers), the speed-up from 1
to 2 workers, and that every backend gave the same numbers bit for bit. Beside it the peer a
user writes today: a loop over ``simulate_evaluation`` + statsmodels OLS of the change with
cluster-robust (CR1-type, normal) SEs, collecting rows in a list of dicts. Both loops spend most
of their time in the simulator, so the estimator step (the same pre-drawn data sets) is timed
alone as well.

Run ``python benchmarks/design.py`` (10,000 replicates of each estimator on each backend: about
6-7 minutes a run in one process on 2 cores, half that on 2 workers, 45 minutes in all);
``--n 1000`` for about 5 minutes, ``--estimators cr2`` for one, ``--skip-dask`` without
dask.distributed. On a shared machine the wall times vary by up to 2x between runs.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

from sosstats.datasets import simulate_evaluation
from sosstats.design import simulate_study
from sosstats.panel.change import change_model

FORMULA = "sdq ~ C(cohort) + C(experience)"
TRUTH = {"Intercept": -1.5, "C(cohort)[T.2]": 0.0, "C(experience)[T.2 years]": 0.0,
         "C(experience)[T.2 years plus]": 0.0}
SEED = 20170901


def study_design(rng: np.random.Generator) -> pd.DataFrame:
    """One evaluation's families as a long two-wave frame (family, LA, cohort, experience, sdq)."""
    fam = simulate_evaluation(rng=rng).families
    n = len(fam)
    twice = np.repeat(np.arange(n), 2)          # (categoricals keep their level order)
    long = fam[["family_id", "la_code", "cohort", "experience"]].iloc[twice]
    return long.reset_index(drop=True).assign(
        wave=np.tile(np.array(["t1", "t2"], dtype=object), n),
        sdq=fam[["sdq_t1", "sdq_t2"]].to_numpy(dtype=float).ravel())


def fit_cr2(data: pd.DataFrame):
    return change_model(FORMULA, data, entity="family_id", time="wave", cluster="la_code",
                        inference="cr2")


def fit_wild(data: pd.DataFrame):
    return change_model(FORMULA, data, entity="family_id", time="wave", cluster="la_code",
                        inference="wild")


def fit_cr1(data: pd.DataFrame):
    return change_model(FORMULA, data, entity="family_id", time="wave", cluster="la_code",
                        inference="cr1")


ESTIMATORS = {"cr2": fit_cr2, "wild": fit_wild}


# -- the peer: the loop a user writes today ---------------------------------------------------
def peer_fit(fam: pd.DataFrame) -> list[dict]:
    import statsmodels.formula.api as smf

    d = fam.dropna(subset=["sdq_t1", "sdq_t2"]).assign(change=lambda f: f.sdq_t2 - f.sdq_t1)
    fit = smf.ols("change ~ C(cohort) + C(experience)", d).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(d["la_code"])[0]})
    ci = fit.conf_int()
    return [{"term": t, "estimate": fit.params[t], "std_error": fit.bse[t],
             "p_value": fit.pvalues[t], "ci_lower": ci.loc[t, 0], "ci_upper": ci.loc[t, 1]}
            for t in fit.params.index]


def peer_loop(n: int) -> pd.DataFrame:
    rows = []
    for r in range(n):
        fam = simulate_evaluation(rng=np.random.default_rng([SEED, r])).families
        for row in peer_fit(fam):
            row["replicate"] = r
            rows.append(row)
    out = pd.DataFrame(rows)
    truth = out["term"].map({"Intercept": -1.5, "C(cohort)[T.2]": 0.0,
                             "C(experience)[T.2 years]": 0.0,
                             "C(experience)[T.2 years plus]": 0.0})
    out["covered"] = (out.ci_lower <= truth) & (truth <= out.ci_upper)
    return out.groupby("term")["covered"].mean()


def line(label: str, res, workers: int, base_wall: float | None = None) -> str:
    t = res.timing
    overhead = t["wall_s"] - t["compute_s"] / workers
    speed = f"{base_wall / t['wall_s']:5.2f}x" if base_wall else "     -"
    return (f"  {label:<26} wall {t['wall_s']:8.2f} s  compute {t['compute_s']:8.2f} s  "
            f"{1e3 * t['per_replicate_s']:7.1f} ms/rep  overhead {overhead:7.2f} s "
            f"({1e3 * overhead / res.n_replicates:6.2f} ms/rep)  speed-up {speed}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="replicates per run (10,000)")
    ap.add_argument("--estimators", default="cr2,wild")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--skip-peer", action="store_true")
    args = ap.parse_args()
    n = args.n
    print(f"cores available: {len(os.sched_getaffinity(0))}; {n:,} replicates per run")
    warnings.simplefilter("ignore")      # attrition's "families dropped" note, every replicate

    client = cluster1 = cluster2 = None
    if not args.skip_dask:
        from distributed import Client, LocalCluster

        t0 = time.perf_counter()
        cluster2 = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                dashboard_address=":0")
        client = Client(cluster2)
        print(f"Dask LocalCluster(n_workers=2, threads_per_worker=1) started in "
              f"{time.perf_counter() - t0:.1f} s (not counted below)")

    results = {}
    for name in args.estimators.split(","):
        est = ESTIMATORS[name]
        print(f"\n== change_model(inference={name!r}) on simulate_evaluation's families ==")
        here = simulate_study(study_design, est, n, truth=TRUTH, rng=SEED)
        print(line("in-process", here, 1))
        pool = simulate_study(study_design, est, n, truth=TRUTH, rng=SEED, n_jobs=2)
        print(line("process pool, n_jobs=2", pool, 2, here.timing["wall_s"]))
        same = [here.replicates.equals(pool.replicates)]
        if client is not None:
            dask = simulate_study(study_design, est, n, truth=TRUTH, rng=SEED, client=client)
            print(line("Dask, 2 workers", dask, 2, here.timing["wall_s"]))
            same.append(here.replicates.equals(dask.replicates))
        print(f"  identical bit for bit on every backend: {all(same)}")
        t = here.tidy().set_index("term")
        print(t[["n_ok", "bias", "bias_mcse", "coverage", "coverage_mcse", "rejection_rate",
                 "rejection_rate_mcse"]].to_string(float_format=lambda v: f"{v:.4f}"))
        results[name] = here

    if client is not None:
        client.close()
        cluster2.close()
        from distributed import Client, LocalCluster

        cluster1 = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                dashboard_address=":0")
        with Client(cluster1) as c1:
            name = args.estimators.split(",")[0]
            one = simulate_study(study_design, ESTIMATORS[name], n, truth=TRUTH, rng=SEED,
                                 client=c1)
            print(f"\nDask with 1 worker ({name}): wall {one.timing['wall_s']:.2f} s; "
                  f"in-process {results[name].timing['wall_s']:.2f} s")
        cluster1.close()

    # the estimator step alone, on the same pre-drawn data sets, with one BLAS thread for all
    # (as simulate_study's runner; a 2-thread BLAS slows these small fits 1.5-3x here)
    from sosstats.design._execution import one_blas_thread

    with one_blas_thread():
        timings, sim, k = estimator_step(n, args.skip_peer)
    print(f"\n== estimator step alone, {k} pre-drawn data sets, one BLAS thread ==")
    print(f"  simulate_evaluation + long frame     {1e3 * sim:8.1f} ms / replicate")
    for name, s in timings.items():
        print(f"  {name:<36} {1e3 * s:8.1f} ms / fit")
    peer_summary(n, args.skip_peer, results, timings)


def estimator_step(n: int, skip_peer: bool) -> tuple[dict[str, float], float, int]:
    k = min(n, 100)
    fams = [simulate_evaluation(rng=np.random.default_rng([SEED, r])).families for r in range(k)]
    t0 = time.perf_counter()
    for _ in range(k):
        study_design(np.random.default_rng(0))
    sim = (time.perf_counter() - t0) / k
    longs = [study_design(np.random.default_rng(r)) for r in range(k)]
    timings = {}
    for name, est in {**ESTIMATORS, "cr1 (the peer's kind)": fit_cr1}.items():
        t0 = time.perf_counter()
        for d in longs:
            est(d)
        timings[name] = (time.perf_counter() - t0) / k
    if not skip_peer:
        t0 = time.perf_counter()
        for f in fams:
            peer_fit(f)
        timings["peer (statsmodels OLS, cluster SE)"] = (time.perf_counter() - t0) / k
    return timings, sim, k


def peer_summary(n: int, skip_peer: bool, results: dict, timings: dict[str, float]) -> None:
    if not skip_peer:
        m = min(n, 400)
        t0 = time.perf_counter()
        cov = peer_loop(m)
        wall_peer = time.perf_counter() - t0
        print(f"\n== the peer's whole loop, {m} replicates: {wall_peer:.2f} s "
              f"({1e3 * wall_peer / m:.1f} ms/rep); its normal-theory CR1 coverage: ==")
        print(cov.to_string(float_format=lambda v: f"{v:.3f}"))
        for name, res in results.items():
            per = res.timing["wall_per_replicate_s"]
            print(f"  sosstats {name} in-process {1e3 * per:.1f} ms/rep: "
                  f"{wall_peer / m / per:.2f}x the peer's speed (whole loop); estimator step "
                  f"{timings['peer (statsmodels OLS, cluster SE)'] / timings[name]:.2f}x")


if __name__ == "__main__":
    main()

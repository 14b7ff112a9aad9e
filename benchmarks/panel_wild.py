"""Benchmark: wild cluster restricted bootstrap, sosstats vs wildboottest and pyfixest.

Two paths are timed. **Public path** (what a user calls): from the LONG frame (one row per
family x wave), ``change_model("sdq ~ cohort", long, entity=..., time=..., cluster="la_code",
inference="wild")``, which differences, drops incomplete families and bootstraps every term
(p-value and interval for the intercept and cohort), beside the peer doing the same job from the
same long frame: pandas pivot to one row per family and the change, then pyfixest's
``feols(...).wildboottest(param="cohort")`` (or wildboottest on a statsmodels OLS), for one term
and no interval. **Kernel path**: the arrays already built.

Run ``python benchmarks/panel_wild.py``. Data: ``simulate_evaluation(n_families=...)``, families
with both SDQ waves; y = SDQ change (T2 - T1), x = cohort, clusters = the 10 pilot LAs
(``la_code``). Model ``y ~ 1 + x``; H0: coefficient of x = 0; WCR, Rademacher weights, CR1,
9,999 replicates requested (with 10 clusters every method enumerates the 1,024 sign vectors).

Peers (bench extra only): ``wildboottest`` on a statsmodels OLS, and pyfixest's
``Feols.wildboottest()`` (which calls wildboottest), each fed the same arrays. Timings are
best-of ``repeats`` after one warm-up call (numba compilation excluded); "ours" is timed with
and without the test-inversion CI (the peers give no CI). Ratios: peer time / our time.
"""

from __future__ import annotations

import warnings

import _timing as timing
import numpy as np
import pandas as pd

from sosstats._kernels.wild import wild_cluster_bootstrap
from sosstats.datasets import simulate_evaluation
from sosstats.panel import change_model, wide_to_long

B = 9999


def best_of(fn, repeats):
    """Best wall time and best CPU time (all threads) of ``repeats`` calls after a warm-up.

    CPU time is less disturbed by other processes on a shared machine; the peers' numba
    kernels run in parallel threads, whose CPU time is summed.
    """
    return timing.best_of(fn, repeats, warmup=True)


def data(n_families: int) -> pd.DataFrame:
    f = simulate_evaluation(rng=0, n_families=n_families).families
    f = f.dropna(subset=["sdq_t1", "sdq_t2"])
    return pd.DataFrame({"y": (f["sdq_t2"] - f["sdq_t1"]).to_numpy(float),
                         "x": f["cohort"].to_numpy(float),
                         "cl": pd.factorize(f["la_code"], sort=True)[0]})


def long_frame(n_families: int) -> pd.DataFrame:
    """The LONG frame a user has: one row per family x wave, SDQ missing where not re-interviewed."""
    f = simulate_evaluation(rng=0, n_families=n_families).families
    return wide_to_long(f, id="family_id")[["family_id", "wave", "la_code", "cohort", "sdq"]]


def public_ours(long: pd.DataFrame, repeats: int) -> tuple[tuple[float, float], object]:
    def call():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return change_model("sdq ~ cohort", long, entity="family_id", time="wave",
                                cluster="la_code", inference="wild", n_resamples=B, rng=1)
    return best_of(call, repeats)


def public_peer(long: pd.DataFrame, repeats: int) -> list[tuple[str, tuple[float, float], float,
                                                                float]]:
    """The peers from the same long frame: pivot, difference, drop incomplete, bootstrap x."""
    def change_frame() -> pd.DataFrame:
        wide = long.pivot(index="family_id", columns="wave", values="sdq")
        keys = long.drop_duplicates("family_id").set_index("family_id")[["la_code", "cohort"]]
        d = keys.join((wide["t2"] - wide["t1"]).rename("y")).dropna(subset=["y"])
        return d.assign(cl=pd.factorize(d["la_code"], sort=True)[0],
                        x=d["cohort"].astype(float))

    rows = []
    try:
        import pyfixest as pf

        def pfx():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                d = change_frame()
                fit = pf.feols("y ~ x", data=d, vcov={"CRV1": "cl"})
                return fit.wildboottest(param="x", reps=B, seed=1)

        t, out = best_of(pfx, repeats)
        rows.append(("pyfixest", t, float(out["t value"]), float(out["Pr(>|t|)"])))
    except ImportError as exc:  # pragma: no cover - bench extra not installed
        print(f"  pyfixest unavailable: {exc}")
    try:
        import statsmodels.api as sm
        from wildboottest.wildboottest import wildboottest

        def wb():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                d = change_frame()
                X = pd.DataFrame({"Intercept": 1.0, "x": d["x"].to_numpy()})
                model = sm.OLS(d["y"].to_numpy(), X)
                return wildboottest(model, B=B, cluster=d["cl"].to_numpy(), param="x", seed=1,
                                    show=False)

        t, out = best_of(wb, repeats)
        rows.append(("wildboottest", t, float(np.ravel(out["statistic"].iloc[0])[0]),
                     float(out["p-value"].iloc[0])))
    except ImportError as exc:  # pragma: no cover - bench extra not installed
        print(f"  wildboottest unavailable: {exc}")
    return rows


def public_report(n_families: int, repeats: int, kernel_ratios: dict) -> None:
    """Print the public-path timings and, per peer, the public-path ratio beside the kernel's."""
    long = long_frame(n_families)
    (wall0, cpu0), res = public_ours(long, repeats)
    row = res.tidy().set_index("term").loc["cohort"]
    print(f"\npublic path, {n_families:,} families ({len(long):,} long rows), B = {B:,} "
          f"requested, {res.n_clusters} clusters")
    print(f"  {'method':50s} {'wall (s)':>9s} {'cpu (s)':>9s} {'t':>9s} {'p':>8s}")
    print(f"  {'sosstats change_model(inference=wild), 2 terms':50s} {wall0:9.5f} {cpu0:9.5f} "
          f"{row['statistic']:9.5f} {row['p_value']:8.5f}")
    for name, (wall, cpu), stat, p in public_peer(long, repeats):
        label = f"{name} (pivot + difference + 1 term, no CI)"
        print(f"  {label:50s} {wall:9.5f} {cpu:9.5f} {stat:9.5f} {p:8.5f}")
        kw, kc = kernel_ratios.get(name, (float("nan"), float("nan")))
        print(f"    ratio vs {name}: public path wall {wall / wall0:6.1f}x cpu "
              f"{cpu / max(cpu0, 1e-9):6.1f}x | kernel wall {kw:6.1f}x cpu {kc:6.1f}x")


def ours(n_families: int, repeats: int) -> dict:
    d = data(n_families)
    X = np.column_stack([np.ones(len(d)), d["x"].to_numpy()])
    y = d["y"].to_numpy()
    cl = d["cl"].to_numpy()
    t_ci, res = best_of(lambda: wild_cluster_bootstrap(X, y, cl, term=1, n_resamples=B,
                                                       rng=1), repeats)
    t_noci, _ = best_of(lambda: wild_cluster_bootstrap(X, y, cl, term=1, n_resamples=B,
                                                       rng=1, ci=False), repeats)
    t_webb, rw = best_of(lambda: wild_cluster_bootstrap(X, y, cl, term=1, n_resamples=B,
                                                        rng=1, weight_type="webb"), repeats)
    rows = [("sosstats (p + CI)", t_ci, res.statistic, res.p_value),
            ("sosstats (p only)", t_noci, res.statistic, res.p_value),
            ("sosstats webb, 9,999 drawn (p+CI)", t_webb, rw.statistic, rw.p_value)]
    return {"d": d, "X": X, "y": y, "cl": cl, "res": res, "rows": rows, "t_ours": t_ci}


def peers(case: dict, repeats: int) -> None:
    d, X, y, cl = case["d"], case["X"], case["y"], case["cl"]
    try:
        import statsmodels.api as sm
        from wildboottest.wildboottest import wildboottest

        model = sm.OLS(y, pd.DataFrame(X, columns=["Intercept", "x"]))

        def wb():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return wildboottest(model, B=B, cluster=cl, param="x", seed=1, show=False)

        t_wb, out = best_of(wb, repeats)
        stat = np.ravel(out["statistic"].iloc[0])[0]
        case["rows"].append(("wildboottest (statsmodels)", t_wb, float(stat),
                             float(out["p-value"].iloc[0])))
    except ImportError as exc:  # pragma: no cover - bench extra not installed
        print(f"  wildboottest unavailable: {exc}")
    try:
        import pyfixest as pf

        def pfx():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = pf.feols("y ~ x", data=d, vcov={"CRV1": "cl"})
                return fit.wildboottest(param="x", reps=B, seed=1)

        t_pf, out = best_of(pfx, repeats)
        case["rows"].append(("pyfixest (fit + wildboottest)", t_pf, float(out["t value"]),
                             float(out["Pr(>|t|)"])))
    except ImportError as exc:  # pragma: no cover - bench extra not installed
        print(f"  pyfixest unavailable: {exc}")


def report(n_families: int, case: dict) -> dict[str, tuple[float, float]]:
    d, res = case["d"], case["res"]
    wall0, cpu0 = case["t_ours"]
    print(f"\n{n_families:,} families simulated, {len(d):,} with both waves, "
          f"{d['cl'].nunique()} clusters, B = {B:,} requested")
    print(f"  {'method':34s} {'wall (s)':>9s} {'cpu (s)':>9s} {'t':>9s} {'p':>8s} "
          f"{'wall x':>8s} {'cpu x':>8s}")
    ratios = {}
    for name, (wall, cpu), stat, p in case["rows"]:
        rw, rc = wall / wall0, cpu / max(cpu0, 1e-9)
        print(f"  {name:34s} {wall:9.5f} {cpu:9.5f} {stat:9.5f} {p:8.5f} {rw:7.1f}x "
              f"{rc:7.1f}x")
        if not name.startswith("sosstats"):
            ratios[name] = (rw, rc)
    print(f"  (x = time / our time with CI; ours enumerated={res.enumerated}, B used = "
          f"{res.n_resamples}; CI {res.ci_lower:.4f} to {res.ci_upper:.4f})")
    return ratios


def main(sizes: tuple[tuple[int, int], ...] = ((270, 7), (100_000, 3))) -> None:
    # ours first, before any peer has started numba / thread pools
    cases = {size: ours(size, 50) for size, _ in sizes}
    for size, repeats in sizes:
        peers(cases[size], repeats)
    ratios = {size: report(size, cases[size]) for size, _ in sizes}
    for size, repeats in sizes:
        public_report(size, repeats, {("pyfixest" if k.startswith("pyfixest") else
                                       "wildboottest"): v for k, v in ratios[size].items()})
    print("\nRequirement: ours >= 30x faster than pyfixest + wildboottest at both sizes")
    for size, r in ratios.items():
        for peer, (rw, rc) in r.items():
            flag = "OK" if min(rw, rc) >= 30 else ("OK (cpu)" if rc >= 30 else "BELOW 30x")
            print(f"  {size:>7,} families  vs {peer:30s} wall {rw:7.1f}x  cpu {rc:7.1f}x  "
                  f"{flag}")


if __name__ == "__main__":
    import sys

    main(((270, 5),) if "--quick" in sys.argv else ((270, 7), (100_000, 3)))

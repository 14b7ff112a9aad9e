"""Benchmark: percentile bootstrap of an ICER, sosstats.vfm.cea vs scipy.stats.bootstrap.

Run ``python benchmarks/vfm.py [n_patients] [n_resamples] [repeats]`` (default 10,000 patients
in two arms of 5,000 and 10,000 replicates). Data: gamma costs and normal effects, simulated here.

- ours (``cea``): the public function end to end: mean cost and effect per arm, incremental cost
  and effect, ICER, their percentile intervals, and the NMB mean, CEAC, EVPI and incremental NMB
  percentile interval at each of 101 WTP thresholds (0 to 50,000), all from the same replicates.
- ours (kernel): :func:`sosstats._kernels.bootstrap_cea.bootstrap_cea` alone (same outputs, no
  input checks or tables), its default ("fast": full-range 16-bit words through a table).
- kernel, scipy draws: the same with ``draws="scipy"`` (int64 indices, scipy's draws, as the
  kernel drew before).
- draws alone: the 10^8 16-bit words of raw bit-generator output the fast draws take, in the
  kernel's blocks (the floor of the fast draws).
- scipy percentile / BCa: ``scipy.stats.bootstrap`` of the ICER alone, two independent samples
  (indices of each arm), vectorised statistic, default ``batch`` (all replicates at once).
- numpy loop: one ``rng.integers`` draw per arm per replicate in a Python loop, ICER only.

Timings are best-of ``repeats`` interleaved rounds in one process (wall and CPU seconds; CPU is
less disturbed by other processes on a shared machine). Two ratios are printed: the public path
(scipy percentile time / ``cea`` from the DataFrame) and the kernel (scipy percentile time /
``bootstrap_cea`` on arrays). With ``draws="scipy"`` and the same seed, scipy's percentile
interval and the kernel's agree to rounding (printed as a check); the default fast draws give
other, equally valid, replicates.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._kernels.bootstrap_cea import bootstrap_cea, draw_block_rows
from sosstats.vfm import cea

WTP = np.linspace(0, 50_000, 101)


def best_of(fns, repeats):
    """Best wall and CPU time of each function over ``repeats`` interleaved rounds.

    Every round times every function once, so a burst of load from other processes on a shared
    machine hits all of them alike; returns ``{name: (wall, cpu)}`` and the last outputs.
    """
    walls = {name: [] for name in fns}
    cpus = {name: [] for name in fns}
    outs = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            outs[name] = fn()
            walls[name].append(time.perf_counter() - t0)
            cpus[name].append(time.process_time() - c0)
    return {name: (min(walls[name]), min(cpus[name])) for name in fns}, outs


def make_data(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(2026)
    arm = np.repeat(["control", "sos"], [n // 2, n - n // 2])
    sos = arm == "sos"
    return pd.DataFrame({"arm": arm,
                         "cost": rng.gamma(2.0, 1_000.0, n) + 400.0 * sos,
                         "effect": rng.normal(0.6, 0.25, n) + 0.08 * sos})


def main(n: int = 10_000, n_resamples: int = 10_000, repeats: int = 5) -> dict:
    df = make_data(n)
    c, e = df["cost"].to_numpy(), df["effect"].to_numpy()
    i0 = np.flatnonzero(df["arm"] == "control")
    i1 = np.flatnonzero(df["arm"] == "sos")
    c0, e0, c1, e1 = c[i0], e[i0], c[i1], e[i1]
    codes = (df["arm"] == "sos").to_numpy().astype(np.intp)

    def icer(a, b, axis=-1):
        return (c1[b].mean(axis) - c0[a].mean(axis)) / (e1[b].mean(axis) - e0[a].mean(axis))

    def ours():
        return cea(df, cost="cost", effect="effect", group="arm", n_resamples=n_resamples,
                   rng=1, wtp=WTP)

    def kernel(draws="fast"):
        return bootstrap_cea(c, e, codes, n_groups=2, n_resamples=n_resamples,
                             rng=np.random.default_rng(1), wtp=WTP,
                             probs=np.array([0.025, 0.975]), draws=draws)

    def draws():
        rng = np.random.default_rng(1)
        for size in (i0.size, i1.size):
            rows = draw_block_rows(size)
            for b0 in range(0, n_resamples, rows):
                rng.bit_generator.random_raw(-(-min(rows, n_resamples - b0) * size // 4))

    def scipy_boot(method):
        return stats.bootstrap((np.arange(i0.size), np.arange(i1.size)), icer,
                               n_resamples=n_resamples, method=method,
                               rng=np.random.default_rng(1), vectorized=True)

    def loop():
        rng = np.random.default_rng(1)
        out = np.empty(n_resamples)
        for b in range(n_resamples):
            a = rng.integers(0, i0.size, i0.size)
            bb = rng.integers(0, i1.size, i1.size)
            out[b] = (c1[bb].mean() - c0[a].mean()) / (e1[bb].mean() - e0[a].mean())
        return np.quantile(out, [0.025, 0.975])

    kernel()  # warm-up (imports, page faults)
    times, outs = best_of({"ours (cea)": ours, "ours (kernel)": kernel,
                           "kernel, scipy draws": lambda: kernel("scipy"), "draws alone": draws,
                           "scipy percentile": lambda: scipy_boot("percentile"),
                           "scipy BCa": lambda: scipy_boot("BCa"), "numpy loop": loop},
                          repeats)
    res = outs["ours (cea)"]
    ours_ci = res.conf_int().loc["icer[sos vs control]"].to_numpy()
    same = np.quantile(outs["kernel, scipy draws"].icer[:, 1], [0.025, 0.975])
    sp = outs["scipy percentile"].confidence_interval
    print(f"ICER bootstrap: {n:,} patients (two arms), {n_resamples:,} replicates, "
          f"best of {repeats} interleaved rounds in one process")
    print("  (on a shared machine the timings are noisy: compare the ratios)")
    print(f"  ICER {res.icer['sos']:,.0f}; cea 95% CI [{ours_ci[0]:,.1f}, {ours_ci[1]:,.1f}]")
    print(f"  kernel with scipy draws [{same[0]:,.1f}, {same[1]:,.1f}] = scipy percentile "
          f"[{sp.low:,.1f}, {sp.high:,.1f}] (same seed, same draws)")
    base_wall, base_cpu = times["ours (cea)"]
    print(f"  {'method':<20}{'wall s':>9}{'cpu s':>9}{'wall ratio':>12}{'cpu ratio':>11}")
    for name, (wall, cpu) in times.items():
        print(f"  {name:<20}{wall:9.3f}{cpu:9.3f}{wall / base_wall:12.2f}{cpu / base_cpu:11.2f}")
    speedup = times["scipy percentile"][0] / base_wall
    kernel_speedup = times["scipy percentile"][0] / times["ours (kernel)"][0]
    print(f"  public path (cea from a DataFrame) vs scipy percentile: {speedup:.1f}x faster (wall)")
    print(f"  kernel (bootstrap_cea on arrays) vs scipy percentile:   {kernel_speedup:.1f}x faster")
    return {"times": times, "speedup": speedup, "kernel_speedup": kernel_speedup}


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    main(*args)

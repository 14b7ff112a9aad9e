"""Benchmarks of ``sosstats`` weighting kernels beside the peers, on the same data.

Run with ``python benchmarks/weighting.py`` (1,000,000 respondents; ``--quick``: 100,000;
``--n N`` for any size). Peers: ``benchmarks/weighting_peers.py`` says how each is installed
and called; one that does not import here is run by ``--peer-python PYTHON`` (an interpreter
that has it) as a worker on the same arrays, or skipped. R's survey package is run through
``Rscript`` where it is installed (``--no-r`` skips it), timed inside R.

Data: a simulated T1 sample of ``N = n / 0.8`` units, of whom exactly ``n`` respond at T2 (an
exponential-key draw without replacement with a logistic response propensity in the
covariates), with four correlated categorical variables of 3, 4, 5 and 6 levels and ten
covariates (four normal, two gamma, four binary).

1. Raking the ``n`` respondents to four margins: random population totals (Dirichlet
   proportions times ``N``). Ours: ``sosstats._kernels.calibrate.rake(codes, targets)`` (the
   kernel, tolerance 1e-10) and the public ``attrition_weights(frame, method="rake",
   margins=...)`` on the ``N``-row frame (codes built from the columns, diagnostics included).
   Peers: balance and samplics raking, each at its tightest settings (1e-12) and at its
   defaults. Requirement (issue 4): the kernel at least 20x faster than the fastest peer run,
   its margins met to 1e-10 (largest ``|sum w - T| / T``).
2. Entropy balancing of the respondents' ten covariate means to the full sample's:
   ``sosstats._kernels.entropy.entropy_balance`` and the public ``method="entropy"`` path,
   beside empirical_calibration, ebal's Newton solver and scipy's BFGS / trust-exact on the
   same dual. Requirement: the dual solved in under a second, means met to 1e-8.
3. Calibration to the full-sample totals of (1, three continuous, two binary columns):
   ``sosstats._kernels.calibrate.calibrate`` with ``calfun="linear"`` and ``"logit"`` (bounds
   ``BOUNDS`` on ``w / d``), beside R's ``survey::calibrate`` (same calfun, bounds, epsilon
   1e-10) and samplics' linear ``calibrate``, which builds an ``n x n`` matrix and so is timed
   on the first ``--small-n`` respondents, against ours on the same subsample.

Timings are the best of ``--repeats`` (ours, after one warm-up) or ``--peer-repeats`` (peers,
no warm-up) runs, wall and CPU time. Ratio: peer wall time / our kernel's wall time. ``agree``:
largest ``|w_peer / w_ours - 1|`` (all these problems have one solution).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import weighting_peers as peers  # noqa: E402

from sosstats._kernels.calibrate import calibrate, rake  # noqa: E402
from sosstats._kernels.entropy import entropy_balance  # noqa: E402
from sosstats.weighting import attrition_weights  # noqa: E402

LEVELS = (3, 4, 5, 6)
CONT = ["x0", "x1", "x2", "x3", "x4", "x5", "b0", "b1", "b2", "b3"]
CALIB = ["x0", "x1", "x4", "b0", "b2"]
BOUNDS = (0.6, 1.7)
RAKE_TOL, ENTROPY_TOL = 1e-10, 1e-8


def simulate(n: int, seed: int = 0) -> dict:
    """Simulate a T1 sample of ``round(n / 0.8)`` units, exactly ``n`` respondents (see module)."""
    rng = np.random.default_rng(seed)
    N = int(round(n / 0.8))
    m = len(LEVELS)
    latent = rng.standard_normal((N, m)) @ np.linalg.cholesky(
        0.5 * np.ones((m, m)) + 0.5 * np.eye(m)).T
    codes = np.empty((m, N), dtype=np.int64)
    for j, k in enumerate(LEVELS):
        cuts = np.quantile(latent[:, j], np.cumsum(rng.dirichlet(np.full(k, 3.0)))[:-1])
        codes[j] = np.searchsorted(cuts, latent[:, j])
    x = np.empty((N, len(CONT)))
    x[:, :4] = 0.5 * latent + rng.standard_normal((N, 4))
    x[:, 4:6] = rng.gamma(2.0, 1.0, (N, 2))
    x[:, 6:] = rng.random((N, 4)) < np.array([0.2, 0.4, 0.5, 0.7])
    eta = 1.6 + 0.8 * x[:, 0] - 0.6 * x[:, 1] + 0.4 * (x[:, 4] - 2) + 0.8 * x[:, 6] \
        - 0.6 * x[:, 8] + 0.3 * latent[:, 3]
    key = np.log(rng.random(N)) * (1.0 + np.exp(-eta))   # log(u) / p: keep the n largest
    resp = np.zeros(N, dtype=bool)
    resp[np.argpartition(-key, n - 1)[:n]] = True
    targets = [rng.dirichlet(np.full(k, 3.0)) * N for k in LEVELS]
    return {"N": N, "codes": codes, "x": x, "resp": resp, "targets": targets}


def row(who: str, wall: float, cpu: float, ref: float | None, err: float,
        agree: float | None, where: str = "") -> str:
    ratio = f"{wall / ref:8.1f}x" if ref else f"{'':>9s}"
    ag = f"{agree:9.1e}" if agree is not None else f"{'':>9s}"
    return f"  {who:36s} {wall:9.3f} {cpu:9.3f} {ratio} {err:11.1e} {ag}  {where}"


def header(err: str) -> str:
    return (f"  {'who':36s} {'wall (s)':>9s} {'cpu (s)':>9s} {'ratio':>9s} {err:>11s} "
            f"{'agree':>9s}")


def agreement(w: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(w / ref - 1.0)))


def peer_rows(names, d, ref_w, ref_t, err_fn, args, suffix: str = ""
              ) -> tuple[list[str], dict]:
    lines, walls = [], {}
    for name in names:
        res = peers.run(name, d, args.peer_repeats, args.peer_python)
        if "error" in res:
            lines.append(f"  {name + suffix:36s} unavailable: {res['error']}")
            continue
        w = res["weights"]
        walls[name] = res["wall"]
        where = res["where"] if res["where"] != "same process" else ""
        lines.append(row(name + suffix, res["wall"], res["cpu"], ref_t, err_fn(w),
                         agreement(w, ref_w), where))
    return lines, walls


def muted(fn):
    def call():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    return call


# ----------------------------------------------------------------------------- 1. raking

def raking_section(s: dict, args) -> list[str]:
    r = s["resp"]
    codes = s["codes"][:, r]
    targets = s["targets"]

    def err(w):
        return max(float(np.max(np.abs(np.bincount(c, weights=w, minlength=t.size) - t) / t))
                   for c, t in zip(codes, targets))

    (t0, c0), fit = peers.best_of(lambda: rake(list(codes), targets), args.repeats, True)
    frame = pd.DataFrame({f"v{j}": c for j, c in enumerate(s["codes"])})
    frame["responded"] = r.astype(np.int8)
    margins = {f"v{j}": {k: float(t[k]) for k in range(t.size)} for j, t in enumerate(targets)}
    (t1, c1), res = peers.best_of(muted(lambda: attrition_weights(
        frame, responded="responded", covariates=list(margins), method="rake",
        margins=margins)), args.repeats, True)
    w_pub = res.weights.to_numpy()[r] * res.population_total / res.n_respondents
    print(f"{codes.shape[1]:,} respondents of {s['N']:,}, {len(LEVELS)} margins of "
          f"{LEVELS} levels ({int(np.prod(LEVELS))} cells); kernel: {fit.iterations} sweeps")
    print(header("max rel err"))
    print(row("sosstats rake (kernel)", t0, c0, None, err(fit.weights), None))
    print(row("sosstats attrition_weights", t1, c1, None, err(w_pub),
              agreement(w_pub, fit.weights), f"public path: {t1 / t0:.0f}x the kernel"))
    d = {"codes": codes, **{f"target_{m}": t for m, t in enumerate(targets)}}
    names = ["balance rake (tight)", "balance rake (default)", "samplics rake (tight)",
             "samplics rake (default)"]
    lines, walls = peer_rows(names, d, fit.weights, t0, err, args)
    print("\n".join(lines))
    if not walls:
        return ["  raking: no peer available"]
    best = min(walls, key=walls.get)
    ok = walls[best] / t1 >= 20 and max(err(fit.weights), err(w_pub)) <= RAKE_TOL
    return [f"  raking: public path (attrition_weights from the frame) {walls[best] / t1:.1f}x "
            f"the fastest peer run ({best}, {walls[best]:.3f} s; 20x required), kernel "
            f"{walls[best] / t0:.0f}x; max rel margin error {err(w_pub):.1e}  "
            f"{'OK' if ok else 'BELOW REQUIREMENT'}"]


# ----------------------------------------------------------------------------- 2. entropy

def entropy_section(s: dict, args) -> list[str]:
    r = s["resp"]
    X = s["x"][r]
    t = s["x"].mean(axis=0)
    sd = X.std(axis=0)

    def err(w):
        return float(np.max(np.abs(X.T @ w / w.sum() - t)))

    (t0, c0), fit = peers.best_of(lambda: entropy_balance(X, t), args.repeats, True)
    frame = pd.DataFrame(s["x"], columns=CONT)
    frame["responded"] = r.astype(np.int8)
    (t1, c1), res = peers.best_of(muted(lambda: attrition_weights(
        frame, responded="responded", covariates=CONT, method="entropy")), args.repeats, True)
    w_pub = res.weights.to_numpy()[r]
    print(f"{X.shape[0]:,} respondents x {X.shape[1]} covariates; largest imbalance before "
          f"weighting {np.max(np.abs(X.mean(axis=0) - t) / sd):.3f} SD; kernel: "
          f"{fit.iterations} Newton steps")
    print(header("max |d mean|"))
    print(row("sosstats entropy_balance", t0, c0, None, err(fit.weights), None))
    print(row("sosstats attrition_weights", t1, c1, None, err(w_pub),
              agreement(w_pub, fit.weights), "public path"))
    names = ["empirical_calibration", "ebal (Newton solver)", "scipy BFGS", "scipy trust-exact"]
    lines, walls = peer_rows(names, {"X": X, "t": t}, fit.weights, t0, err, args)
    print("\n".join(lines))
    ok = t0 < 1.0 and err(fit.weights) <= ENTROPY_TOL
    faster = ", ".join(f"{k} {v / t0:.1f}x" for k, v in walls.items())
    return [f"  entropy balancing: {t0:.3f} s (< 1 s required), max |d mean| "
            f"{err(fit.weights):.1e}  {'OK' if ok else 'BELOW REQUIREMENT'}; ratios: {faster}"]


# ----------------------------------------------------------------------------- 3. calibration

R_SCRIPT = r"""
suppressMessages(library(survey))
a <- commandArgs(trailingOnly = TRUE)
n <- as.integer(a[2]); p <- as.integer(a[3]); reps <- as.integer(a[4])
Z <- matrix(readBin(file.path(a[1], "Z.bin"), "double", n * p), n, p)
T <- readBin(file.path(a[1], "T.bin"), "double", p)
df <- data.frame(Z[, -1, drop = FALSE]); df$d <- 1
des <- svydesign(ids = ~1, weights = ~d, data = df)
f <- as.formula(paste("~", paste(names(df)[1:(p - 1)], collapse = " + ")))
pop <- T; names(pop) <- c("(Intercept)", names(df)[1:(p - 1)])
b <- as.numeric(a[5:6])
for (cf in c("linear", "logit")) {
  best <- Inf
  for (i in seq_len(reps)) {
    tm <- system.time(cal <- if (cf == "linear")
      calibrate(des, f, pop, calfun = "linear", epsilon = 1e-10, maxit = 100) else
      calibrate(des, f, pop, calfun = "logit", bounds = b, epsilon = 1e-10, maxit = 100))
    best <- min(best, tm[["elapsed"]])
  }
  writeBin(as.numeric(weights(cal)), file.path(a[1], paste0("w_", cf, ".bin")))
  cat(cf, best, "\n")
}
"""


def r_calibrate(Z: np.ndarray, T: np.ndarray, repeats: int) -> dict:
    """survey::calibrate (linear, logit) in Rscript; best elapsed time measured inside R."""
    if shutil.which("Rscript") is None:
        return {"error": "Rscript not found"}
    with tempfile.TemporaryDirectory() as tmp:
        Z.T.tofile(os.path.join(tmp, "Z.bin"))           # column-major, as R reads it
        T.tofile(os.path.join(tmp, "T.bin"))
        script = os.path.join(tmp, "cal.R")
        with open(script, "w") as fh:
            fh.write(R_SCRIPT)
        proc = subprocess.run(["Rscript", script, tmp, str(Z.shape[0]), str(Z.shape[1]),
                               str(repeats), str(BOUNDS[0]), str(BOUNDS[1])],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return {"error": (proc.stderr.strip().splitlines() or ["R failed"])[-1]}
        out = {}
        for line in proc.stdout.split("\n"):
            parts = line.split()
            if len(parts) == 2 and parts[0] in ("linear", "logit"):
                w = np.fromfile(os.path.join(tmp, f"w_{parts[0]}.bin"))
                out[parts[0]] = (float(parts[1]), w)
        return out


def calibration_section(s: dict, args) -> list[str]:
    r = s["resp"]
    cols = [CONT.index(c) for c in CALIB]
    Z = np.column_stack([np.ones(int(r.sum())), s["x"][r][:, cols]])
    T = np.concatenate([[float(s["N"])], s["x"][:, cols].sum(axis=0)])

    def err_for(Zm, Tm):
        return lambda w: float(np.max(np.abs(Zm.T @ w - Tm) / np.abs(Tm)))

    err = err_for(Z, T)
    print(f"{Z.shape[0]:,} respondents x {Z.shape[1]} columns (1, {', '.join(CALIB)}), totals "
          f"of the {s['N']:,}-unit T1 sample; logit bounds {BOUNDS} on w / d")
    print(header("max rel err"))
    ours, lines = {}, []
    for calfun in ("linear", "logit"):
        b = BOUNDS if calfun == "logit" else None
        (t0, c0), fit = peers.best_of(lambda: calibrate(Z, T, calfun=calfun, bounds=b),
                                      args.repeats, True)
        ours[calfun] = (t0, fit.weights)
        print(row(f"sosstats calibrate ({calfun})", t0, c0, None, err(fit.weights), None,
                  f"{fit.iterations} Newton steps"))
        frame = pd.DataFrame(s["x"][:, cols], columns=CALIB)
        frame["responded"] = r.astype(np.int8)
        (t1, c1), res = peers.best_of(muted(lambda: attrition_weights(
            frame, responded="responded", covariates=CALIB, method="calibrate",
            calfun=calfun, bounds=b)), args.repeats, True)
        w_pub = res.weights.to_numpy()[r] * res.population_total / res.n_respondents
        print(row("sosstats attrition_weights", t1, c1, None, err(w_pub),
                  agreement(w_pub, fit.weights), "public path"))
    if args.no_r:
        print(f"  {'R survey::calibrate':36s} skipped (--no-r)")
    else:
        rr = r_calibrate(Z, T, args.peer_repeats)
        if "error" in rr:
            print(f"  {'R survey::calibrate':36s} unavailable: {rr['error']}")
        for calfun, (wall, w) in ((k, v) for k, v in rr.items() if k != "error"):
            t0, w0 = ours[calfun]
            print(row(f"R survey::calibrate ({calfun})", wall, float("nan"), t0, err(w),
                      agreement(w, w0), "Rscript, timed inside R"))
            lines.append(f"  calibration ({calfun}): {wall / t0:.1f}x faster than "
                         "survey::calibrate")
    m = min(args.small_n, Z.shape[0])
    Zs, Ts = Z[:m], T * (m / Z.shape[0])
    (ts, cs), fs = peers.best_of(lambda: calibrate(Zs, Ts), args.repeats, True)
    print(row(f"sosstats calibrate (linear) n={m:,}", ts, cs, None, err_for(Zs, Ts)(fs.weights),
              None, "subsample for samplics"))
    got, _ = peer_rows(["samplics calibrate (linear)"], {"Z": Zs, "T": Ts}, fs.weights, ts,
                       err_for(Zs, Ts), args, suffix=f" n={m:,}")
    print("\n".join(got))
    print(f"  (samplics builds an n x n diagonal matrix: {Z.shape[0]:,} units would need "
          f"{8 * Z.shape[0] ** 2 / 2**30:,.0f} GiB)")
    return lines


def main(argv: list[str] | None = None) -> None:
    """Parse the options, run the three sections and print the requirement checks."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000, help="respondents (default 1,000,000)")
    p.add_argument("--quick", action="store_true", help="100,000 respondents")
    p.add_argument("--repeats", type=int, default=5, help="timed runs of ours (best taken)")
    p.add_argument("--peer-repeats", type=int, default=2, help="timed runs of each peer")
    p.add_argument("--peer-python", default=None,
                   help="interpreter with the peers that do not import here")
    p.add_argument("--small-n", type=int, default=5_000, help="subsample for samplics calibrate")
    p.add_argument("--no-r", action="store_true", help="skip R's survey::calibrate")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    n = 100_000 if args.quick else args.n
    start = time.perf_counter()
    print(f"cores available: {len(os.sched_getaffinity(0))}; numpy {np.__version__}, "
          f"pandas {pd.__version__}")
    s = simulate(n, args.seed)
    print(f"data simulated in {time.perf_counter() - start:.1f} s")
    print("\n== 1. raking to four margins ==")
    lines = raking_section(s, args)
    print("\n== 2. entropy balancing, ten covariate means ==")
    lines += entropy_section(s, args)
    print("\n== 3. linear and bounded logit calibration ==")
    lines += calibration_section(s, args)
    print("\nRequirements (issue 4):")
    print("\n".join(lines))
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()

"""Benchmark of design-based domain means: ``sosstats.survey`` beside R survey and samplics.

Run with ``python benchmarks/survey.py`` (1,000,000 respondents in 2,000 clusters and 50
strata, 20 items, 10 domains; ``--quick``: 100,000 respondents; ``--n``, ``--clusters``, ...
for other sizes; ``--no-r`` / ``--no-samplics`` skip a peer).

Data: a stratified cluster sample: 50 strata of 40 PSUs each, PSU sizes drawn from a
multinomial (unequal clusters), weights log-normal with a PSU factor, 20 items with a PSU
random effect plus noise (so design effects are well above 1), and a domain (10 levels) that
cuts across PSUs. Written once to a CSV file that R reads with ``data.table::fread``.

The call timed:

- sosstats: ``design.mean(items, by="domain")`` on ``SurveyDesign(data, cluster="psu",
  strata="stratum", weights="w")`` (the public path: column checks, the 200 domain means,
  their full 200 x 200 design covariance, design effects, t intervals, the result object);
  the design's construction is timed separately.
- R survey: ``svyby(~item_1 + ... + item_20, ~domain, design, svymean)`` on
  ``svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = d)``, timed inside R with
  ``system.time`` (the design, also timed separately, and the file read are not counted).
  It gives the same 200 means and their SEs (not their covariances).
- samplics (``pip install samplics``; archived upstream): ``TaylorEstimator(PopParam.mean)
  .estimate(y, samp_weight=w, stratum=, psu=, domain=)`` once per item (its API takes one
  variable per call).

Timings are the best of ``--repeats`` runs (wall time; CPU time, all threads, in brackets:
on a shared machine CPU time is the steadier of the two). Agreement: the
largest relative difference of the estimates and of the standard errors from R's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import best_of  # noqa: E402

from sosstats.survey import SurveyDesign  # noqa: E402

R_SCRIPT = r"""
suppressMessages({library(survey); library(data.table)})
args <- commandArgs(trailingOnly = TRUE)
d <- as.data.frame(fread(args[1]))
items <- grep("^item_", names(d), value = TRUE)
repeats <- as.integer(args[3])
tdesign <- system.time(des <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = d))
f <- as.formula(paste("~", paste(items, collapse = " + ")))
best <- Inf; bestcpu <- Inf
for (r in seq_len(repeats)) {
  tt <- system.time(res <- svyby(f, ~domain, des, svymean))
  best <- min(best, tt[["elapsed"]]); bestcpu <- min(bestcpu, tt[["user.self"]] + tt[["sys.self"]])
}
est <- coef(res); se <- sqrt(diag(vcov(res)))
out <- data.frame(term = names(est), estimate = sprintf("%.17g", est), se = sprintf("%.17g", se))
write.csv(out, args[2], row.names = FALSE)
cat(sprintf("TIMING %.6f %.6f %.6f\n", best, bestcpu, tdesign[["elapsed"]]))
cat(sprintf("VERSION %s %s\n", R.version$version.string, packageVersion("survey")))
"""


def simulate(n: int, clusters: int, strata: int, items: int, domains: int,
             seed: int = 15) -> pd.DataFrame:
    """Simulate the benchmark sample (see the module docstring)."""
    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(n - clusters, rng.dirichlet(np.full(clusters, 4.0))) + 1
    psu = np.repeat(np.arange(clusters), sizes)
    stratum = psu * strata // clusters
    w = np.exp(rng.normal(0, 0.3, clusters))[psu] * np.exp(rng.normal(3, 0.4, n))
    domain = rng.integers(0, domains, n)
    cols = {"psu": psu + 1, "stratum": stratum + 1, "w": np.round(w, 6), "domain": domain + 1}
    effect = rng.normal(0, 1, (clusters, items))
    for j in range(items):
        y = 50 + 5 * effect[psu, j] + 0.8 * domain + rng.normal(0, 10, n)
        cols[f"item_{j + 1}"] = np.round(y, 4)
    return pd.DataFrame(cols)


def run_r(path: str, repeats: int) -> tuple[pd.DataFrame, float, float, float, str] | None:
    if shutil.which("Rscript") is None:
        print("R: Rscript not found, skipped")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "bench.R")
        out = os.path.join(tmp, "out.csv")
        with open(script, "w") as fh:
            fh.write(R_SCRIPT)
        proc = subprocess.run(["Rscript", script, path, out, str(repeats)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print("R failed:", proc.stderr[-2000:])
            return None
        timing = [ln for ln in proc.stdout.splitlines() if ln.startswith("TIMING")][0].split()
        version = [ln for ln in proc.stdout.splitlines() if ln.startswith("VERSION")][0][8:]
        res = pd.read_csv(out)
    return res, float(timing[1]), float(timing[2]), float(timing[3]), version


def run_samplics(data: pd.DataFrame, items: list[str], repeats: int
                 ) -> tuple[float, float, pd.DataFrame] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from samplics import PopParam, TaylorEstimator
    except ImportError:
        print("samplics: not installed (pip install samplics), skipped")
        return None

    def once() -> pd.DataFrame:
        rows = []
        for item in items:
            est = TaylorEstimator(PopParam.mean)
            est.estimate(y=data[item].to_numpy(), samp_weight=data["w"].to_numpy(),
                         stratum=data["stratum"].to_numpy(), psu=data["psu"].to_numpy(),
                         domain=data["domain"].to_numpy())
            for dom, value in est.point_est.items():
                rows.append((item, dom, value, est.stderror[dom]))
        return pd.DataFrame(rows, columns=["item", "domain", "estimate", "se"])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (wall, cpu), out = best_of(once, repeats)
    return wall, cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--strata", type=int, default=50)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--domains", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peer-repeats", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="100,000 respondents")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--no-samplics", action="store_true")
    args = ap.parse_args()
    n = 100_000 if args.quick else args.n
    data = simulate(n, args.clusters, args.strata, args.items, args.domains)
    items = [f"item_{j + 1}" for j in range(args.items)]
    print(f"{n:,} respondents, {args.clusters:,} clusters in {args.strata} strata, "
          f"{args.items} items x {args.domains} domains; best of {args.repeats} "
          f"(peers: {args.peer_repeats}); {os.cpu_count()} CPU(s) visible")

    (dwall, _), design = best_of(lambda: SurveyDesign(data, cluster="psu", strata="stratum",
                                                      weights="w"), args.repeats)
    (wall, cpu), res = best_of(lambda: design.mean(items, by="domain"), args.repeats,
                               warmup=True)
    print(f"sosstats  design.mean(items, by='domain'): {wall:8.3f} s wall ({cpu:.3f} s CPU);"
          f" SurveyDesign(...) {dwall:.3f} s")
    tidy = res.tidy()
    ours = pd.DataFrame({"item": tidy["variable"], "domain": tidy["domain"].astype(int),
                         "estimate": tidy["estimate"], "se": tidy["std_error"]})

    if not args.no_r:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "survey_bench.csv")
            data.to_csv(path, index=False, float_format="%.17g")
            got = run_r(path, args.peer_repeats)
        if got is not None:
            r, rwall, rcpu, rdesign, version = got
            # svyby terms are "<domain>:<item>"
            dom = r["term"].str.split(":").str[0].astype(int)
            item = r["term"].str.split(":").str[1]
            rr = pd.DataFrame({"item": item, "domain": dom, "estimate_r": r["estimate"],
                               "se_r": r["se"]})
            m = ours.merge(rr, on=["item", "domain"])
            e_diff = float(np.max(np.abs(m["estimate"] / m["estimate_r"] - 1)))
            s_diff = float(np.max(np.abs(m["se"] / m["se_r"] - 1)))
            print(f"R survey  svyby(~items, ~domain, svymean):  {rwall:8.3f} s wall "
                  f"({rcpu:.3f} s CPU); svydesign {rdesign:.3f} s; {version}")
            print(f"  {len(m)} estimates compared: max rel. diff estimate {e_diff:.1e}, "
                  f"SE {s_diff:.1e}")
            print(f"  ratio R / sosstats: {rwall / wall:.1f}x (wall), {rcpu / cpu:.1f}x (CPU)")
    if not args.no_samplics:
        got = run_samplics(data, items, args.peer_repeats)
        if got is not None:
            swall, scpu, s = got
            s = s.assign(domain=s["domain"].astype(int))
            m = ours.merge(s, on=["item", "domain"], suffixes=("", "_s"))
            e_diff = float(np.max(np.abs(m["estimate"] / m["estimate_s"] - 1)))
            s_diff = float(np.max(np.abs(m["se"] / m["se_s"] - 1)))
            print(f"samplics  TaylorEstimator(PopParam.mean) x {len(items)} items: {swall:8.3f} s "
                  f"wall ({scpu:.3f} s CPU); max rel. diff estimate {e_diff:.1e}, "
                  f"SE {s_diff:.1e}")
            print(f"  ratio samplics / sosstats: {swall / wall:.1f}x (wall), "
                  f"{scpu / cpu:.1f}x (CPU)")


if __name__ == "__main__":
    main()

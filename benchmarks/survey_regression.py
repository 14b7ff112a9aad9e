"""Benchmark: design-based regression (``sosstats.survey.regression.glm``) beside its peers.

A stratified cluster sample (default 200,000 respondents in 1,000 PSUs within 20 strata,
unequal weights, six numeric regressors and a three-level factor) fitted as a linear and a
logistic model with design-based standard errors:

* sosstats: ``glm(design, formula, family=...)`` on a prebuilt :class:`SurveyDesign`
  (formula parsing, fit, design variance, result), and the design construction alone;
* R survey: ``svyglm`` on ``svydesign(id = ~psu, strata = ~stratum, weights = ~w, nest =
  TRUE)``, timed inside R (``system.time``, best of the repeats; reading the CSV and building
  the design not timed); its coefficients and SEs are compared with sosstats';
* statsmodels: ``smf.glm(formula, data, var_weights = w).fit(cov_type = "cluster")``, the
  Python tool a user would otherwise reach for: cluster-robust SEs by PSU, without strata
  (different SEs, the same coefficients), timed from the same frame.

The few-cluster option (``vcov="cr2"``, Bell-McCaffrey with Satterthwaite df) is timed on a
smaller survey with ten clusters (default 5,000 respondents), the pilot case; ``--coverage B``
adds a coverage study with ten pilots (:func:`coverage`).

Run: ``python3 benchmarks/survey_regression.py [--n 200000] [--clusters 1000] [--strata 20]
[--repeats 5] [--no-r] [--coverage 1000]``. Prints one table of best-of wall and CPU times
(CPU: all threads of the process, less disturbed on a shared machine) and the ratios
peer / sosstats.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import best_of  # noqa: E402

from sosstats.survey import SurveyDesign  # noqa: E402
from sosstats.survey.regression import glm  # noqa: E402

FORMULA_RHS = "x1 + x2 + x3 + x4 + x5 + x6 + C(grp)"


def simulate(n: int, clusters: int, strata: int, seed: int = 20261207) -> pd.DataFrame:
    """Simulate a stratified cluster sample: PSU effects, unequal weights, continuous y, 0/1 b."""
    rng = np.random.default_rng(seed)
    psu = np.sort(rng.integers(0, clusters, n))
    stratum = psu % strata
    u = rng.normal(0, 0.5, clusters)[psu]
    X = rng.normal(size=(n, 6)) + 0.3 * rng.normal(size=(clusters, 6))[psu]
    grp = rng.integers(0, 3, n)
    eta = X @ np.array([0.5, -0.3, 0.2, 0.0, 0.1, -0.2]) + 0.3 * (grp == 1) + u
    return pd.DataFrame({
        "psu": psu, "stratum": stratum, "w": rng.uniform(1.0, 6.0, n).round(3),
        **{f"x{j + 1}": X[:, j].round(6) for j in range(6)},
        "grp": np.array(["a", "b", "c"])[grp],
        "y": (2.0 + eta + rng.normal(0, 1.0, n)).round(6),
        "b": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int),
    })


R_SCRIPT = r"""
suppressPackageStartupMessages(library(survey))
args <- commandArgs(TRUE)
d <- read.csv(args[1]); reps <- as.integer(args[3])
d$grp <- factor(d$grp)
des <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, nest = TRUE, data = d)
out <- NULL
for (fam in c("gaussian", "binomial")) {
  f <- if (fam == "gaussian") y ~ x1 + x2 + x3 + x4 + x5 + x6 + grp
       else b ~ x1 + x2 + x3 + x4 + x5 + x6 + grp
  family <- if (fam == "gaussian") gaussian() else quasibinomial()
  best <- Inf; best_cpu <- Inf
  for (i in seq_len(reps)) {
    t <- system.time(m <- svyglm(f, design = des, family = family,
                                 control = glm.control(epsilon = 1e-12)))
    best <- min(best, t[["elapsed"]])
    best_cpu <- min(best_cpu, t[["user.self"]] + t[["sys.self"]])
  }
  # the values compared: refitted from the converged coefficients (glm keeps the working
  # weights of the previous iterate; not timed)
  assign(".start", coef(m), envir = globalenv())
  m <- svyglm(f, design = des, family = family, control = glm.control(epsilon = 1e-12),
              start = .start)
  out <- rbind(out, data.frame(family = fam, term = names(coef(m)), estimate = coef(m),
                               se = sqrt(diag(vcov(m))), seconds = best, cpu = best_cpu))
}
write.csv(out, args[2], row.names = FALSE)
"""


def run_r(data: pd.DataFrame, repeats: int) -> pd.DataFrame | None:
    """Time svyglm inside R; None when Rscript or survey is missing."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst, script = (os.path.join(tmp, f) for f in ("d.csv", "out.csv", "b.R"))
        data.to_csv(src, index=False)
        Path(script).write_text(R_SCRIPT)
        try:
            subprocess.run(["Rscript", script, src, dst, str(repeats)], check=True,
                           capture_output=True, timeout=1800)
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"R survey not run: {exc}", file=sys.stderr)
            return None
        return pd.read_csv(dst)


def statsmodels_fit(data: pd.DataFrame, family: str):
    """Fit statsmodels' GLM with cluster-robust SEs by PSU (no strata), from the frame."""
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    fam = sm.families.Gaussian() if family == "gaussian" else sm.families.Binomial()
    lhs = "y" if family == "gaussian" else "b"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smf.glm(f"{lhs} ~ {FORMULA_RHS}", data, family=fam, var_weights=data["w"])
        return model.fit(cov_type="cluster", cov_kwds={"groups": data["psu"].to_numpy()})


SIZES = np.array([6, 9, 11, 13, 14, 16, 18, 22, 26, 30])        # 165 respondents, 10 pilots
EXPER = np.array(["new", "2y", "2y+", "new", "2y", "2y+", "new", "2y", "2y+", "2y"])


def coverage(reps: int, seed: int = 1) -> pd.DataFrame:
    """Coverage of 95% intervals and size of the joint test with ten pilots, design vs CR2.

    Each replicate draws a survey of 165 respondents in the ten pilots (the study's unequal
    sizes), a pilot-level three-level factor (the experience group, the null of no effect
    true), a respondent-level x (true slope 0.5 linear, 0.7 logit), a pilot random effect
    (ICC about 0.1 on the latent scale) and unequal weights; fits a linear and a logistic model
    with ``vcov="design"`` and ``"cr2"``; counts the 95% intervals covering the true x slope
    and the pilot-level coefficient (0), and the 5% rejections of the joint test of the
    experience dummies (design F on degf + 1 - p df; CR2 HTZ).
    """
    rng = np.random.default_rng(seed)
    pilot = np.repeat(np.arange(10), SIZES)
    exper = EXPER[pilot]
    n = pilot.size
    hits: dict[tuple[str, str], np.ndarray] = {}
    for r in range(reps):
        u = rng.normal(0, 0.35, 10)[pilot]
        x = rng.normal(size=n) + 0.5 * rng.normal(size=10)[pilot]
        frame = pd.DataFrame({"pilot": pilot, "exper": exper, "x": x,
                              "w": rng.uniform(1, 3, n),
                              "y": 1 + 0.5 * x + u + rng.normal(size=n),
                              "b": (rng.random(n) < 1 / (1 + np.exp(-(0.7 * x + u)))).astype(int)})
        design = SurveyDesign(frame, cluster="pilot", weights="w")
        for family, lhs, slope in (("gaussian", "y", 0.5), ("binomial", "b", 0.7)):
            for vcov in ("design", "cr2"):
                fit = glm(design, f"{lhs} ~ x + C(exper)", family=family, vcov=vcov)
                ci = fit.conf_int()
                row = np.array([ci.loc["x", "lower"] <= slope <= ci.loc["x", "upper"],
                                ci.loc["C(exper)[T.2y+]", "lower"] <= 0
                                <= ci.loc["C(exper)[T.2y+]", "upper"],
                                fit.wald_test("C(exper)").p_value < 0.05], dtype=float)
                key = (family, vcov)
                hits[key] = hits.get(key, 0.0) + row
    out = pd.DataFrame({f"{fam} {vc}": v / reps for (fam, vc), v in hits.items()},
                       index=["coverage, x slope (respondent level)",
                              "coverage, experience 2y+ (pilot level)",
                              "rejection at 5%, joint test of experience (H0 true)"]).T
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--clusters", type=int, default=1_000)
    ap.add_argument("--strata", type=int, default=20)
    ap.add_argument("--small-n", type=int, default=5_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--coverage", type=int, default=0,
                    help="replicates of the ten-pilot coverage study (0: not run)")
    args = ap.parse_args()
    if args.coverage:
        import time

        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cov = coverage(args.coverage)
        print(f"Ten pilots, 165 respondents, {args.coverage} replicates "
              f"({time.perf_counter() - t0:.0f} s); nominal 95% intervals, 5% tests:")
        with pd.option_context("display.width", 140, "display.float_format", "{:.3f}".format):
            print(cov.to_string())
        print()

    data = simulate(args.n, args.clusters, args.strata)
    t_design, design = best_of(
        lambda: SurveyDesign(data, cluster="psu", strata="stratum", weights="w", nest=True),
        args.repeats)
    rows = [("design construction", "sosstats", *t_design, None, None)]
    ours, times = {}, {}
    for family, lhs in (("gaussian", "y"), ("binomial", "b")):
        t, res = best_of(lambda: glm(design, f"{lhs} ~ {FORMULA_RHS}", family=family),
                         args.repeats, warmup=True)
        ours[family], times[family] = res, t
        rows.append((f"glm {family}", "sosstats", *t, None, None))
        ts, sm_res = best_of(lambda: statsmodels_fit(data, family), args.repeats)
        rows.append((f"glm {family}", "statsmodels GLM, cluster SEs", *ts, ts[0] / t[0],
                     ts[1] / t[1]))
        np.testing.assert_allclose(sm_res.params.reindex(res.params.index).to_numpy(),
                                   res.params.to_numpy(), rtol=1e-6, atol=1e-9)
    if not args.no_r:
        r = run_r(data, args.repeats)
        if r is not None:
            for family in ("gaussian", "binomial"):
                sub = r[r["family"] == family]
                t_r, c_r = float(sub["seconds"].iloc[0]), float(sub["cpu"].iloc[0])
                t = times[family]
                rows.append((f"glm {family}", "R survey svyglm (inside R)", t_r, c_r,
                             t_r / t[0], c_r / t[1]))
                est = ours[family].params.to_numpy()
                se = ours[family].std_errors.to_numpy()
                print(f"{family}: max relative difference from svyglm: estimates "
                      f"{np.max(np.abs(est / sub['estimate'].to_numpy() - 1)):.1e}, SEs "
                      f"{np.max(np.abs(se / sub['se'].to_numpy() - 1)):.1e}")
    small = simulate(args.small_n, 10, 1, seed=7)
    small_design = SurveyDesign(small, cluster="psu", weights="w")
    for vcov in ("design", "cr2"):
        t, _ = best_of(lambda: glm(small_design, f"b ~ {FORMULA_RHS}", family="binomial",
                                   vcov=vcov), args.repeats)
        rows.append((f"logit, {args.small_n:,} in 10 PSUs, vcov={vcov!r}", "sosstats", *t,
                     None, None))
    table = pd.DataFrame(rows, columns=["task", "tool", "wall s", "cpu s", "ratio (wall)",
                                        "ratio (cpu)"])
    print(f"\n{args.n:,} respondents, {args.clusters:,} PSUs, {args.strata} strata, "
          f"p = 9; best of {args.repeats}; {os.cpu_count()} CPUs visible\n")
    with pd.option_context("display.width", 120, "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()

"""Benchmark: regression-based EVPPI (Strong, Oakley & Brennan 2014), sosstats.vfm.evppi vs peers.

Run ``python benchmarks/vfm_evppi.py [n_draws] [repeats]`` (default 5,000 draws, best of 3).
Draws: the three-option model of ``tests/fixtures/evppi_reference_input.py`` (logistic effects,
costs linear in an hourly cost; five parameters), made here with its formulas and a new seed.
Work: the EVPPI of each of the five parameters alone, at 101 thresholds (0 to 50,000).

- ours: ``evppi(cea(draws=...), parameters)`` end to end (the CEA of the draws included):
  P-splines with GCV for each option's incremental effect and cost, combined at every WTP.
- statsmodels OLS spline: what a Python user would write first: ``smf.ols("y ~ bs(x, df=10)")``
  (an unpenalised cubic regression spline, 10 df, as Strong et al.'s GAM with its smoothing
  fixed) of each incremental effect and cost on the parameter, combined at every WTP in numpy
  the same way. (``scipy.interpolate.make_smoothing_spline``, scipy's GCV smoothing spline, was
  tried first: at 5,000 draws it raised "Seems like the problem is ill-posed" for 9 of the 20
  regressions, also with the parameter standardised, and took 2.5 minutes, so it is not
  timed.)
- statsmodels: ``GLMGam`` with a cubic ``BSplines`` basis (12 df); its GCV selection
  (``select_penweight(criterion="gcv")``) fails in statsmodels 0.15.0 (``AttributeError:
  'GLMGam' object has no attribute 'scale'``), so the penalty is chosen by its
  ``select_penweight_kfold`` (5 folds), as its documentation suggests; one parameter only (it
  takes about a minute a parameter), and its time is scaled by 5 for the ratio.
- mgcv (R, BCEA's method): ``gam(y ~ s(x))`` per response, timed inside R (``system.time``,
  without R's start-up or reading the CSV), when ``Rscript`` and mgcv are installed.

Each peer's EVPPIs are compared with ours (the largest difference, as a share of the EVPI).
Timings are best-of ``repeats`` wall and CPU seconds in one process (CPU is less disturbed by
other work on a shared machine); the ratio printed is peer time / ours.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best_of  # noqa: E402

from sosstats.vfm import cea, evppi  # noqa: E402

WTP = np.linspace(0, 50_000, 101)
PARAMS = ["p0", "lor_sos", "lor_light", "c_unit", "z"]
OTHERS = ["sos", "light"]


def simulate(S: int, seed: int = 2026) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw the fixture's model: parameters and wide (quantity, option) costs and effects."""
    rng = np.random.default_rng(seed)
    par = pd.DataFrame({"p0": rng.beta(30, 120, S), "lor_sos": rng.normal(0.5, 0.3, S),
                        "lor_light": rng.normal(0.2, 0.2, S),
                        "c_unit": rng.gamma(25.0, 20.0, S), "z": rng.normal(0, 1, S)})
    cols = {}
    for option, lor, hours in (("control", 0.0, 0.0), ("sos", par["lor_sos"], 10.0),
                               ("light", par["lor_light"], 4.0)):
        eff = expit(logit(par["p0"]) + lor)
        cols[("effect", option)] = eff
        cols[("cost", option)] = hours * par["c_unit"] + 3000.0 * (1.0 - eff)
    wide = pd.DataFrame(cols)
    wide.columns = pd.MultiIndex.from_tuples(wide.columns)
    return par, wide


def increments(wide: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Incremental effects and costs against control, ``(S, 2)`` each."""
    de = np.column_stack([wide[("effect", o)] - wide[("effect", "control")] for o in OTHERS])
    dc = np.column_stack([wide[("cost", o)] - wide[("cost", "control")] for o in OTHERS])
    return de, dc


def combine(fe: np.ndarray, fc: np.ndarray) -> np.ndarray:
    """EVPPI at every WTP from fitted incremental effects and costs ``(S, D)``."""
    g = WTP[None, :, None] * fe[:, None, :] - fc[:, None, :]
    return np.maximum(g.max(axis=2), 0).mean(axis=0) - np.maximum(g.mean(axis=0).max(axis=1), 0)


def ours(par: pd.DataFrame, wide: pd.DataFrame) -> pd.DataFrame:
    """Run the public path end to end."""
    return evppi(cea(draws=wide, reference="control", wtp=WTP), par, groups=PARAMS).evppi


def ols_peer(par: pd.DataFrame, wide: pd.DataFrame) -> pd.DataFrame:
    """Fit statsmodels OLS on a bs(x, df=10) basis for each incremental effect and cost."""
    import statsmodels.formula.api as smf

    de, dc = increments(wide)
    data = par.assign(de_sos=de[:, 0], de_light=de[:, 1], dc_sos=dc[:, 0], dc_light=dc[:, 1])
    out = {}
    for name in PARAMS:
        fits = np.column_stack([
            smf.ols(f"{r} ~ bs({name}, df=10)", data=data).fit().fittedvalues.to_numpy()
            for r in ("de_sos", "de_light", "dc_sos", "dc_light")])
        out[name] = combine(fits[:, :2], fits[:, 2:])
    return pd.DataFrame(out, index=WTP)


def statsmodels_peer(par: pd.DataFrame, wide: pd.DataFrame, name: str = "lor_sos"
                     ) -> pd.Series:
    """GLMGam with B-splines, penalty by 5-fold cross-validation: one parameter."""
    from statsmodels.gam.api import BSplines, GLMGam

    de, dc = increments(wide)
    x = par[[name]].to_numpy()
    basis = BSplines(x, df=[12], degree=[3])
    fits = []
    for y in np.hstack([de, dc]).T:
        alpha, _ = GLMGam(y, smoother=basis).select_penweight_kfold(k_folds=5)
        fits.append(GLMGam(y, smoother=basis, alpha=alpha).fit().fittedvalues)
    fits = np.column_stack(fits)
    return pd.Series(combine(fits[:, :2], fits[:, 2:]), index=WTP, name=name)


R_CODE = r"""
suppressPackageStartupMessages(library(mgcv))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); reps <- as.integer(args[3])
params <- c("p0", "lor_sos", "lor_light", "c_unit", "z")
resp <- c("de_sos", "de_light", "dc_sos", "dc_light")
wtp <- seq(0, 50000, length.out = 101)
run <- function() {
  sapply(params, function(p) {
    f <- sapply(resp, function(r) fitted(gam(as.formula(sprintf("%s ~ s(%s)", r, p)), data = d)))
    sapply(wtp, function(l) {
      inb <- l * f[, 1:2] - f[, 3:4]
      mean(pmax(0, apply(inb, 1, max))) - max(0, max(colMeans(inb)))
    })
  })
}
times <- replicate(reps, system.time(out <<- run()))
write.csv(out, args[2], row.names = FALSE)
cat(min(times["elapsed", ]), min(times["user.self", ] + times["sys.self", ]), "\n")
"""


def mgcv_peer(par: pd.DataFrame, wide: pd.DataFrame, repeats: int
              ) -> tuple[tuple[float, float], pd.DataFrame] | None:
    """BCEA's engine, mgcv::gam(y ~ s(x)), timed inside R; None without Rscript / mgcv."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    de, dc = increments(wide)
    with tempfile.TemporaryDirectory() as tmp:
        data = par.assign(de_sos=de[:, 0], de_light=de[:, 1], dc_sos=dc[:, 0],
                          dc_light=dc[:, 1])
        data.to_csv(Path(tmp) / "in.csv", index=False, float_format="%.17g")
        (Path(tmp) / "run.R").write_text(R_CODE)
        done = subprocess.run([rscript, str(Path(tmp) / "run.R"), str(Path(tmp) / "in.csv"),
                               str(Path(tmp) / "out.csv"), str(repeats)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"  (mgcv not run: {done.stderr.strip()[-200:]})")
            return None
        wall, cpu = map(float, done.stdout.split())
        out = pd.read_csv(Path(tmp) / "out.csv")
    out.index = WTP
    return (wall, cpu), out


def main() -> None:
    """Time ours and the peers, print the table and the ratios."""
    S = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    par, wide = simulate(S)
    print(f"EVPPI of 5 single parameters, 3 options, {S:,} draws, {WTP.size} WTP thresholds; "
          f"best of {repeats}")
    (t_ours, mine) = best_of(lambda: ours(par, wide), repeats, warmup=True)
    evpi = evppi(cea(draws=wide, reference="control", wtp=WTP), par, groups="z").evpi
    scale = float(evpi.max())
    rows = [("ours (evppi, public path)", *t_ours, "", 1.0)]
    (t_sp, sp) = best_of(lambda: ols_peer(par, wide), repeats)
    rows.append(("statsmodels OLS bs(x, df=10)", *t_sp,
                 f"{float((sp - mine).abs().max().max()) / scale:.2%}", 1.0))
    (t_sm, sm) = best_of(lambda: statsmodels_peer(par, wide), 1)
    rows.append(("statsmodels GLMGam k-fold (1 param)", *t_sm,
                 f"{float((sm - mine['lor_sos']).abs().max()) / scale:.2%}", 5.0))
    got = mgcv_peer(par, wide, repeats)
    if got is not None:
        (t_r, r_out) = got
        rows.append(("mgcv gam s(x) in R (BCEA's method)", *t_r,
                     f"{float((r_out.to_numpy() - mine.to_numpy()).__abs__().max()) / scale:.2%}",
                     1.0))
    print(f"  (max EVPI {scale:,.1f}; 'differs' = largest |EVPPI - ours| over groups and WTP, "
          "as a share of it)")
    print(f"  {'method':38s} {'wall s':>8s} {'cpu s':>8s} {'differs':>8s} {'wall ratio':>11s} "
          f"{'cpu ratio':>10s}")
    for name, wall, cpu, diff, mult in rows:
        print(f"  {name:38s} {wall:8.3f} {cpu:8.3f} {diff:>8s} "
              f"{wall * mult / t_ours[0]:10.1f}x {cpu * mult / t_ours[1]:9.1f}x")
    print("  (statsmodels' ratio is for all 5 parameters: its one-parameter time x 5)")


if __name__ == "__main__":
    main()

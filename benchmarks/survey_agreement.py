"""Agreement statistics: coverage with ten pilots, and speed beside statsmodels / krippendorff.

**Coverage.** Double-coded case files as in the Signs of Safety evaluation: 262 files in ten
pilots of unequal sizes (9 to 50 files), a 4-level recording-quality rating. In pilot ``g`` the
true level is a latent ``N(mu_g, 1)`` cut at -1, 0, 1 (``mu_g ~ N(0, 0.5^2)``); each of the two
coders reports it with probability ``theta_g = expit(logit(0.75) + u_g)``, ``u_g ~ N(0, 0.8^2)``,
else a near miss one level up or down (reflected at the ends), independently given the truth.
So coders agree better in some pilots than others, and cases are correlated within pilots.
The estimand is the coefficient of the expected pooled coder1 x coder2 table
(``E[P] = E_g[R_g' diag(q_g) R_g]``, by 400,000 Monte Carlo pilots). Each replicate records
whether the 95% intervals of quadratic-weighted kappa, AC1 and interval alpha cover it:

* ``naive``: analytic variance treating the 262 files as independent (FCE 1969 / Gwet);
* ``cluster_t``: the same linearised values summed by pilot, t on 9 df (``cluster="pilot"``);
* ``cluster_boot``: percentile interval of 999 bootstrap resamples of the ten pilots;
* ``boot_se_t``: estimate +/- t(9) x the bootstrap standard error (``boot_se``), for comparison.

**Speed** (one process, best of 5): the public calls beside the peer a user would pick, on
the same data: ``pd.crosstab`` + statsmodels ``cohens_kappa``, statsmodels
``aggregate_raters`` + ``fleiss_kappa``, the ``krippendorff`` package's ``alpha``; and the
cluster bootstrap (2,000 resamples of ten pilots in one vectorised pass) beside a plain loop
over resamples with pandas + statsmodels (timed on 200 resamples and scaled to 2,000).

Run ``python benchmarks/survey_agreement.py`` (``--reps`` replicates, default 1,000; about a
minute on 2 cores; ``--quick`` for 200).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best_of  # noqa: E402

from sosstats.survey.agreement import (  # noqa: E402
    cohens_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
)

SIZES = np.array([9, 12, 15, 18, 21, 25, 30, 37, 45, 50])     # 262 files
K = 4
CUTS = np.array([-1.0, 0.0, 1.0])
LEVELS = [1, 2, 3, 4]


def _report_matrix(theta: np.ndarray) -> np.ndarray:
    """R[g, t, r]: probability a coder reports r given truth t in a pilot with accuracy theta."""
    miss = np.zeros((K, K))
    for t in range(K):             # the 4 x 4 near-miss pattern, not a loop over data
        nb = [x for x in (t - 1, t + 1) if 0 <= x < K]
        miss[t, nb] = 1 / len(nb)
    th = theta[:, None, None]
    return th * np.eye(K) + (1 - th) * miss


def _truth_dist(mu: np.ndarray) -> np.ndarray:
    c = norm.cdf(CUTS[None, :] - mu[:, None])
    return np.diff(np.column_stack([np.zeros(len(mu)), c, np.ones(len(mu))]), axis=1)


def _draw_pilots(rng: np.random.Generator, g: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(0, 0.5, g), expit(logit(0.75) + rng.normal(0, 0.8, g))


def true_values() -> dict[str, float]:
    rng = np.random.default_rng(99)
    mu, theta = _draw_pilots(rng, 400_000)
    q = _truth_dist(mu)
    R = _report_matrix(theta)
    P = np.einsum("gtr,gt,gts->rs", R, q, R) / len(mu)
    s = np.arange(1, K + 1, dtype=float)
    W = 1 - (s[:, None] - s[None, :]) ** 2 / (s[-1] - s[0]) ** 2
    r, c = P.sum(1), P.sum(0)
    kappa = ((W * P).sum() - r @ W @ c) / (1 - r @ W @ c)
    pi = (r + c) / 2
    pa = np.trace(P)
    pe = (pi * (1 - pi)).sum() / (K - 1)
    ac1 = (pa - pe) / (1 - pe)
    o = P + P.T
    nc = o.sum(1)
    d = (s[:, None] - s[None, :]) ** 2
    alpha = 1 - (o * d).sum() / ((nc[:, None] * nc[None, :] * d).sum() / o.sum())
    return {"kappa_quadratic": float(kappa), "ac1": float(ac1), "alpha_interval": float(alpha)}


def simulate(rng: np.random.Generator) -> pd.DataFrame:
    mu, theta = _draw_pilots(rng, len(SIZES))
    pilot = np.repeat(np.arange(len(SIZES)), SIZES)
    latent = rng.normal(mu[pilot], 1.0)
    truth = np.searchsorted(CUTS, latent)
    R = _report_matrix(theta)[pilot, truth]                  # (n, K) report probabilities
    cum = np.cumsum(R, axis=1)
    c1 = (rng.random(len(pilot))[:, None] > cum).sum(1)
    c2 = (rng.random(len(pilot))[:, None] > cum).sum(1)
    return pd.DataFrame({"coder1": c1 + 1, "coder2": c2 + 1, "pilot": pilot})


def coverage(reps: int) -> pd.DataFrame:
    truth = true_values()
    calls = {
        "kappa_quadratic": lambda d, **kw: cohens_kappa(d, "coder1", "coder2",
                                                        weights="quadratic", levels=LEVELS,
                                                        **kw),
        "ac1": lambda d, **kw: gwet_ac1(d, ["coder1", "coder2"], levels=LEVELS, **kw),
        "alpha_interval": lambda d, **kw: krippendorff_alpha(d, ["coder1", "coder2"],
                                                             metric="interval",
                                                             levels=LEVELS, **kw),
    }
    from scipy.stats import t as student

    q9 = student.ppf(0.975, 9)
    hits = {(s, m): 0 for s in calls
            for m in ("naive", "cluster_t", "cluster_boot", "boot_se_t")}
    widths = {key: 0.0 for key in hits}
    for r in range(reps):          # Monte Carlo replicates, each a set of public calls
        d = simulate(np.random.default_rng([2026, r]))
        for name, f in calls.items():
            t = truth[name]
            a = f(d, n_resamples=0).tidy().iloc[0]
            b = f(d, cluster="pilot", n_resamples=999, rng=[2026, r]).tidy().iloc[0]
            for m, lo, hi in (("naive", a.ci_lower, a.ci_upper),
                              ("cluster_t", b.ci_lower, b.ci_upper),
                              ("cluster_boot", b.boot_lower, b.boot_upper),
                              ("boot_se_t", b.estimate - q9 * b.boot_se,
                               min(1.0, b.estimate + q9 * b.boot_se))):
                hits[(name, m)] += int(lo <= t <= hi)
                widths[(name, m)] += (hi - lo) / reps
    rows = [{"statistic": s, "truth": truth[s], "interval": m, "coverage": hits[(s, m)] / reps,
             "mc_se": np.sqrt(0.95 * 0.05 / reps), "mean_width": widths[(s, m)]}
            for (s, m) in hits]
    return pd.DataFrame(rows)


def timings() -> pd.DataFrame:
    from statsmodels.stats.inter_rater import aggregate_raters
    from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    rng = np.random.default_rng(1)
    n = 100_000
    truth = rng.integers(1, 6, n)
    cols = {f"c{j}": np.where(rng.random(n) < 0.7, truth, rng.integers(1, 6, n))
            for j in range(1, 5)}
    d = pd.DataFrame(cols)
    rows = []

    def add(task, ours, peer, peer_name, check):
        (tw, _), a = best_of(ours, 5)
        (pw, _), b = best_of(peer, 5)
        diff = abs(check(a) - (b if np.isscalar(b) else check(b)))
        rows.append({"task": task, "sosstats_ms": 1e3 * tw, "peer": peer_name,
                     "peer_ms": 1e3 * pw, "ratio": pw / tw, "abs_diff": diff})

    add("Cohen quadratic kappa + SE, 100,000 files",
        lambda: cohens_kappa(d, "c1", "c2", weights="quadratic", n_resamples=0),
        lambda: sm_kappa(pd.crosstab(d.c1, d.c2).to_numpy(), wt="quadratic").kappa,
        "pd.crosstab + statsmodels cohens_kappa", lambda r: r.estimate)
    add("Fleiss kappa + SE, 100,000 files x 4 raters",
        lambda: fleiss_kappa(d, ["c1", "c2", "c3", "c4"], n_resamples=0),
        lambda: sm_fleiss(aggregate_raters(d.to_numpy())[0]),
        "statsmodels aggregate_raters + fleiss_kappa (no SE)", lambda r: r.estimate)
    try:
        import krippendorff

        add("Krippendorff alpha (interval) + SE, 100,000 files x 4 raters",
            lambda: krippendorff_alpha(d, ["c1", "c2", "c3", "c4"], metric="interval",
                                       n_resamples=0),
            lambda: krippendorff.alpha(reliability_data=d.to_numpy(dtype=float).T,
                                       level_of_measurement="interval"),
            "krippendorff 0.9.0 alpha (no SE)", lambda r: r.estimate)
    except ImportError:
        print("krippendorff not installed: its timing is left out")

    small = simulate(np.random.default_rng(5))

    def ours_boot():
        return cohens_kappa(small, "coder1", "coder2", weights="quadratic", cluster="pilot",
                            n_resamples=2000, rng=0)

    def loop_boot(B=200):
        g = np.random.default_rng(0)
        parts = [small[small.pilot == p] for p in range(10)]
        out = []
        for _ in range(B):
            take = pd.concat([parts[i] for i in g.integers(0, 10, 10)])
            t = pd.crosstab(pd.Categorical(take.coder1, LEVELS),
                            pd.Categorical(take.coder2, LEVELS), dropna=False).to_numpy()
            out.append(sm_kappa(t, wt="quadratic").kappa)
        return np.array(out)

    (tw, _), res = best_of(ours_boot, 5)
    (pw, _), _ = best_of(loop_boot, 2)
    pw *= 10
    rows.append({"task": "cluster bootstrap, 2,000 resamples of 10 pilots (262 files)",
                 "sosstats_ms": 1e3 * tw, "peer": "loop: pandas + statsmodels (200, x10)",
                 "peer_ms": 1e3 * pw, "ratio": pw / tw, "abs_diff": np.nan})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    reps = 200 if args.quick else args.reps
    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 20)
    t0 = time.perf_counter()
    cov = coverage(reps)
    print(f"Coverage of nominal 95% intervals, 262 files in 10 pilots, {reps} replicates "
          f"({time.perf_counter() - t0:.0f} s):")
    print(cov.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print()
    tim = timings()
    print("Timings (best of 5, wall; ratio = peer / sosstats):")
    print(tim.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()

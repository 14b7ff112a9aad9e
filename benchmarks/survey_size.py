"""Size at nominal 5% of sosstats.survey's tests with ten clusters, independence true.

Each replicate draws ten clusters of 8 to 25 respondents, a three-level row item and a
three-level (ordered) column item that are independent but each clustered (a cluster effect
``N(0, 0.8^2)`` on each latent scale), and a numeric item unrelated to the column. It records
whether each test rejects at 5%: every ``chisq`` statistic (Rao-Scott F, first- and second-order
chi-square, lincom, saddlepoint, Wald, adjusted Wald) and the naive Pearson test, the first
pairwise ``compare`` contrast and the omnibus test, the ``trend`` test and its naive M^2, and a
naive Welch t test. Written by helper-17 for issue 15 (first in docs/survey.md's appendix).

Run ``python benchmarks/survey_size.py`` (``--reps N``, default 4,000: about 10 minutes on 2
cores; ``--reps 500`` for a quick look).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from sosstats.survey import SurveyDesign, chisq

CHISQ = ["F", "Chisq", "second_order", "lincom", "saddlepoint", "Wald", "adjWald", "pearson"]
OTHER = ["contrast_t", "omnibus", "trend", "naive_welch", "naive_m2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    G = 10
    rej = dict.fromkeys(CHISQ + OTHER, 0)
    nan = dict.fromkeys(rej, 0)
    t0 = time.time()
    for _ in range(args.reps):
        sizes = rng.integers(8, 26, G)
        cl = np.repeat(np.arange(G), sizes)
        n = cl.size
        a = rng.normal(0, 0.8, G)[cl]
        b = rng.normal(0, 0.8, G)[cl]
        row = np.digitize(a + rng.normal(size=n), [-0.6, 0.6])
        col = np.digitize(b + rng.normal(size=n), [-0.5, 0.5])
        y = a + rng.normal(size=n)
        d = SurveyDesign(pd.DataFrame({"cl": cl, "row": row, "col": col, "y": y}), cluster="cl")
        try:
            res = chisq(d, "row", "col")
        except Exception:  # a degenerate table (an empty level): counted, not fatal
            for k in CHISQ:
                nan[k] += 1
        else:
            for k, t in res.tests.items():
                if np.isfinite(t.p_value):
                    rej[k] += t.p_value < 0.05
                else:
                    nan[k] += 1
            rej["pearson"] += res.pearson_p_value < 0.05
        c = d.compare("y", "col", contrast="pairwise")
        rej["contrast_t"] += c.pvalues.iloc[0] < 0.05
        om = c.omnibus["p_value"]
        if np.isfinite(om):
            rej["omnibus"] += om < 0.05
        else:
            nan["omnibus"] += 1
        tr = d.trend("y", "col")
        rej["trend"] += tr.p_value < 0.05
        rej["naive_m2"] += tr.naive["p_value"] < 0.05
        rej["naive_welch"] += stats.ttest_ind(y[col == 1], y[col == 0],
                                              equal_var=False).pvalue < 0.05
    print(f"{args.reps} replicates, {G} clusters, nominal 5%; {time.time() - t0:.0f} s")
    for k in rej:
        used = args.reps - nan[k]
        p = rej[k] / used
        print(f"{k:14s} {100 * p:5.1f}%  (MC SE {100 * np.sqrt(p * (1 - p) / used):.1f}; "
              f"{nan[k]} not computable)")


if __name__ == "__main__":
    main()

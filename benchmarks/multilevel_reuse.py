"""Compiled-model reuse (issue 18): first fit, a second fit on a new evaluation, prior sensitivity.

Run with ``python benchmarks/multilevel_reuse.py`` (``--quick``: 2 chains of 300 + 300).
Model: the 270-family evaluation of ``benchmarks/multilevel.py``, ``sdq_t1 ~ cohort +
C(experience) + previous_referral + agency_worker`` with random intercepts for the 10 pilots
and, by multiple membership, the workers the families saw, 4 chains of 1000 + 1000 with nutpie.

Printed, end to end (model construction included):

1. the first fit on ``simulate_evaluation(rng=1)`` with an empty cache (compiles);
2. a second fit on a *new* simulated evaluation (``rng=3``: other families, another number of
   workers within the same padded capacity), which reuses the compiled model;
3. the same second fit with ``reuse=False`` (a fresh compile), whose draws must equal (2)'s;
4. ``prior_sensitivity`` with 3 scales (0.5, 1, 2) on a third evaluation (``rng=4``), starting
   from a cold cache; compared with one cold fit (1).

Goals (issue 18): (1) / (2) at least 5, (4) / (1) below 2. The first fit of a process also
pays numba's own start-up, so the ratios are printed against (3), a fresh compile in a warm
process, too.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from sosstats.datasets import simulate_evaluation  # noqa: E402
from sosstats.multilevel import MultilevelModel, prior_sensitivity  # noqa: E402
from sosstats.multilevel.compiled_cache import (  # noqa: E402
    clear_compiled_cache,
    compiled_cache_info,
)

FORMULA = "sdq_t1 ~ cohort + C(experience) + previous_referral + agency_worker"


def evaluation_model(seed: int) -> MultilevelModel:
    ev = simulate_evaluation(rng=seed)
    return MultilevelModel(FORMULA, ev.families, levels=["la_code", "worker_id"],
                           membership=ev.memberships)


def timed(fn):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    kw = {"draws": 1000, "tune": 1000, "chains": 4, "sampler": "nutpie"}
    if args.quick:
        kw.update(draws=300, tune=300, chains=2)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()}")
    clear_compiled_cache()
    t1, first = timed(lambda: evaluation_model(1).fit(rng=1, **kw))
    t2, second = timed(lambda: evaluation_model(3).fit(rng=1, **kw))
    t3, fresh = timed(lambda: evaluation_model(3).fit(rng=1, reuse=False, **kw))
    a, b = second.idata.posterior, fresh.idata.posterior
    diff = max(float(np.max(np.abs(a[v].values - b[v].values))) for v in a.data_vars)
    clear_compiled_cache()
    t4, _ = timed(lambda: prior_sensitivity(evaluation_model(4), rng=1, **kw))
    info = compiled_cache_info()
    n1 = first.n_groups["worker_id"]
    n2 = second.n_groups["worker_id"]
    print(f"settings: {kw}")
    print(f"1. first fit (compiles), {n1} workers:          {t1:7.1f} s "
          f"(compile {first.timings['compile_s']:.1f} s, sample {first.timings['sample_s']:.1f} s)")
    print(f"2. second fit, new evaluation, {n2} workers:    {t2:7.1f} s "
          f"(reused: {second.idata.posterior.attrs['sosstats_compiled_reused']}, "
          f"sample {second.timings['sample_s']:.1f} s)")
    print(f"3. same as 2 with reuse=False:                 {t3:7.1f} s "
          f"(max |draw difference| vs 2: {diff:.3g})")
    print(f"4. prior_sensitivity, 3 scales, cold cache:    {t4:7.1f} s "
          f"(cache after: {info['misses']} compile, {info['hits']} reuses)")
    print(f"ratio first / second fit:             {t1 / t2:5.1f}  (goal >= 5; the first fit "
          "also pays the process's first numba compile)")
    print(f"ratio fresh (warm process) / reused:  {t3 / t2:5.1f}  (goal >= 5)")
    print(f"ratio prior_sensitivity / first fit:  {t4 / t1:5.2f}  (goal < 2)")
    print(f"ratio prior_sensitivity / fresh fit:  {t4 / t3:5.2f}  (goal < 2)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

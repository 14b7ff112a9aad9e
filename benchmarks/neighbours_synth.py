"""Benchmark: synthetic-control weights, sosstats' Wolfe kernel vs a plain SLSQP loop.

The work of a placebo-in-space study: every one of ``J`` donors is fitted from the other
``J - 1`` on ``T`` pre-period years (weights >= 0 summing to one). The peer is what a user would
otherwise write: ``scipy.optimize.minimize(method="SLSQP")`` with the analytic gradient, one
problem at a time, started from equal weights, on data scaled to a maximum of one. Both run in
this process on the same data; the script prints the times, their ratio and how far apart the
attained objectives are.

Run: ``python benchmarks/neighbours_synth.py [J] [T]`` (defaults 140 donors, 5 years: about 150
English LAs less the pilots, with the 2013-2017 pre-period of the published indicators).

It also times the public path: :func:`sosstats.neighbours.synthetic_control` from a long
DataFrame (one treated LA, the ``J`` donors, ``T`` pre-period years and one post year, with its
``J`` placebo fits), beside the SLSQP peer doing the same ``J + 1`` fits (the loop's time scaled
by ``(J + 1) / J``; the peer gets its arrays for free).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from sosstats._kernels.simplex import simplex_lstsq_placebo


def slsqp_placebo(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out synthetic controls by SLSQP, one problem after another.

    The data are scaled to a maximum of one first: unscaled, SLSQP stops early on a good share
    of these problems (objectives up to 40% of max y^2 above the optimum).
    """
    n = Z.shape[1]
    s = np.abs(Z).max()
    Z = Z / s
    W, obj = np.zeros((n, n)), np.zeros(n)
    for j in range(n):
        others = np.arange(n) != j
        X, y = Z[:, others], Z[:, j]
        res = minimize(lambda w: float(np.sum((X @ w - y) ** 2)), np.full(n - 1, 1 / (n - 1)),
                       jac=lambda w: 2 * X.T @ (X @ w - y), method="SLSQP",
                       bounds=[(0.0, None)] * (n - 1),
                       constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0,
                                     "jac": lambda w: np.ones_like(w)}],
                       options={"ftol": 1e-12, "maxiter": 500})
        w = np.clip(res.x, 0.0, None)
        w /= w.sum()  # make SLSQP's answer feasible before comparing objectives
        W[j, others], obj[j] = w, np.sum((X @ w - y) ** 2) * s**2
    return W, obj


def main(n_donors: int = 140, n_years: int = 5, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    # LA-like paths: level differences, a shared trend, LA-specific slopes and noise
    level = rng.lognormal(np.log(60), 0.35, n_donors)
    t = np.arange(n_years)
    Z = (level[None, :] * (1 + 0.03 * t[:, None]) + rng.normal(0, 1.5, n_donors)[None, :]
         * t[:, None] + rng.normal(0, 4, (n_years, n_donors)))
    t0 = time.perf_counter()
    W_ours, obj_ours, conv = simplex_lstsq_placebo(Z)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    W_peer, obj_peer = slsqp_placebo(Z)
    t_peer = time.perf_counter() - t0
    scale = np.abs(Z).max() ** 2
    worse = (obj_ours - obj_peer) / scale
    print(f"placebo study: {n_donors} leave-one-out problems, {n_years} pre-period years")
    print(f"  sosstats (Wolfe active set)  {t_ours:8.3f} s   all converged: {bool(conv.all())}")
    print(f"  scipy SLSQP loop             {t_peer:8.3f} s")
    print(f"  speed ratio (SLSQP / ours)   {t_peer / t_ours:8.1f}x")
    print(f"  objective, ours minus SLSQP (relative to max y^2): max {worse.max():.2e}, "
          f"min {worse.min():.2e}; ours lower in {(obj_ours < obj_peer).sum()} of {n_donors}")
    t_public = public_path(Z, rng)
    t_peer_public = t_peer * (n_donors + 1) / n_donors
    print(f"  public path: synthetic_control(DataFrame, 1 treated + {n_donors} placebos) "
          f"{t_public:.3f} s; SLSQP peer {t_peer_public:.3f} s; ratio "
          f"{t_peer_public / t_public:.1f}x (kernel ratio {t_peer / t_ours:.1f}x)")


def public_path(Z: np.ndarray, rng: np.random.Generator) -> float:
    """Time ``synthetic_control`` from a long frame: one treated LA inside the donors' range."""
    import warnings

    from sosstats.errors import SosstatsWarning
    from sosstats.neighbours import synthetic_control

    n_years, n_donors = Z.shape
    post = Z[-1] * 1.02                                       # one post-period year
    paths = np.vstack([Z, post])                              # (T + 1, J)
    treated = paths @ rng.dirichlet(np.ones(n_donors)) + rng.normal(0, 2, n_years + 1)
    years = 2013 + np.arange(n_years + 1)
    codes = ["T"] + [f"D{j:03d}" for j in range(n_donors)]
    values = np.column_stack([treated, paths])                # (T + 1, J + 1)
    frame = pd.DataFrame({"la_code": np.repeat(codes, len(years)),
                          "year": np.tile(years, len(codes)), "indicator": "rate",
                          "value": values.T.ravel()})
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SosstatsWarning)  # more donors than years: warned
            synthetic_control(frame, "T", indicator="rate", start_year=int(years[-1]),
                              progress=False)
        best = min(best, time.perf_counter() - t0)
    return best


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)

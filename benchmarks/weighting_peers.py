"""Peer tools for ``benchmarks/weighting.py``: raking, entropy balancing and calibration.

Each peer is fed the same arrays as sosstats and returns its weights; the caller times it and
measures the margins it meets. A peer runs in the benchmark's own process when it can be
imported there; otherwise, when ``--peer-python`` names another interpreter that has it (e.g. a
virtual environment kept apart because the peer pins old versions of numpy or brings pyarrow),
this file is run there as a worker on the same data, written to a temporary ``.npz``::

    python benchmarks/weighting_peers.py PEER IN.npz OUT.npz REPEATS

and the worker's own best-of timings come back with the weights.

Peers
-----
* ``balance`` 0.23 (Meta; ``balance.weighting_methods.rake.rake``): IPF on the cells of a
  pandas group-by, fed the sample frame and a target frame holding the cross product of the
  margins' categories (weighted by the product of the margins' proportions, so its margins are
  the targets exactly); ``transformations=None`` (its default lumps rare categories). Its
  metadata pins ``numpy<2``, ``scipy<1.14`` and ``scikit-learn<1.4`` on Python < 3.12, which a
  plain install would downgrade to; raking runs on numpy 2, so it is installed with
  ``pip install --no-deps balance`` then ``pip install plotly`` (the one import missing; it
  also imports matplotlib, seaborn, ipython, patsy, statsmodels and scikit-learn). It is about
  four times faster when pyarrow is installed (pandas 3 then stores strings in pyarrow).
* ``samplics`` 0.6 (``SampleWeight().rake`` and ``SampleWeight().calibrate``, the latter linear
  only and building an ``n x n`` diagonal matrix, so it is run on a subsample);
  ``pip install samplics`` brings polars and pyarrow and downgrades nothing.
* ``empirical_calibration`` 0.12 (Google; ``calibrate(objective=Objective.ENTROPY)``, scipy
  ``fsolve`` on the entropy dual with its default tolerance) and ``ebal`` 1.0 (a port of
  Hainmueller's R ``ebal``; its Newton solver ``ebal_bin._eb`` timed alone, without the PCA
  and weighted regression its ``ebalance`` adds): ``pip install empirical-calibration ebal``.
* scipy baselines: ``scipy.optimize.minimize`` on the same entropy dual as sosstats.

To keep pyarrow away from other work on a shared machine, the last three can live in a
virtual environment that sees the system packages, and the whole benchmark be run there::

    python3 -m venv --system-site-packages /tmp/bench_env
    /tmp/bench_env/bin/python -m pip install samplics empirical-calibration ebal
    /tmp/bench_env/bin/python benchmarks/weighting.py
"""

from __future__ import annotations

import contextlib
import importlib
import io
import itertools
import json
import logging
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
from _timing import best_of  # noqa: F401  (weighting.py calls peers.best_of)

Data = dict[str, np.ndarray]


def rake_targets(d: Data) -> list[np.ndarray]:
    """Return the margins' target totals, stored as ``target_0``, ``target_1``, ... in ``d``."""
    return [d[f"target_{m}"] for m in range(d["codes"].shape[0])]


# ----------------------------------------------------------------------------- raking

def _import_balance():
    """Import balance with its start-up banner muted, keeping its warnings on stderr."""
    with contextlib.redirect_stderr(io.StringIO()):
        from balance.weighting_methods.rake import rake
    log = logging.getLogger("balance")
    log.setLevel(logging.WARNING)
    for h in log.handlers:
        if isinstance(h, logging.StreamHandler):
            h.setStream(sys.stderr)
    return rake


def balance_rake(d: Data, tight: bool = True) -> np.ndarray:
    """Run balance's ``rake`` on the sample frame against a target frame with the same margins."""
    import pandas as pd

    rake = _import_balance()
    codes, targets = d["codes"], rake_targets(d)
    names = [f"v{m}" for m in range(codes.shape[0])]
    sample = pd.DataFrame({nm: c for nm, c in zip(names, codes)})
    total = float(targets[0].sum())
    grid = np.array(list(itertools.product(*[range(t.size) for t in targets])))
    tw = np.full(len(grid), total)
    for m, t in enumerate(targets):
        tw *= t[grid[:, m]] / total
    target = pd.DataFrame(grid, columns=names)
    kw = dict(convergence_rate=1e-12, rate_tolerance=0.0, max_iteration=100_000) if tight \
        else {}
    res = rake(sample, pd.Series(np.ones(codes.shape[1])), target, pd.Series(tw),
               transformations=None, **kw)
    return res["weight"].sort_index().to_numpy(dtype=float)


def samplics_rake(d: Data, tight: bool = True) -> np.ndarray:
    """Run samplics' ``SampleWeight().rake`` with control totals for every category."""
    from samplics.weighting import SampleWeight

    codes, targets = d["codes"], rake_targets(d)
    margins = {f"v{m}": c for m, c in enumerate(codes)}
    control = {f"v{m}": {k: float(t[k]) for k in range(t.size)} for m, t in enumerate(targets)}
    kw = dict(tol=1e-12, ctrl_tol=1e-12, max_iter=100_000) if tight else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = SampleWeight().rake(np.ones(codes.shape[1]), margins, control=control, **kw)
    return np.asarray(w, dtype=float)


# ----------------------------------------------------------------------------- calibration

def samplics_calibrate(d: Data) -> np.ndarray:
    """Run samplics' linear (GREG) ``SampleWeight().calibrate`` to the totals ``T`` of ``Z``."""
    from samplics.weighting import SampleWeight

    Z, T = d["Z"], d["T"]
    control = {f"c{j}": float(T[j]) for j in range(T.size)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = SampleWeight().calibrate(np.ones(Z.shape[0]), Z, control)
    return np.asarray(w, dtype=float)


# ----------------------------------------------------------------------------- entropy

def ec_entropy(d: Data) -> np.ndarray:
    """Run empirical_calibration's entropy balancing of ``X`` to the means ``t``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import empirical_calibration as ec

        w, _ = ec.calibrate(d["X"], d["t"][None, :], objective=ec.Objective.ENTROPY)
    return np.asarray(w, dtype=float) * d["X"].shape[0]


def ebal_entropy(d: Data) -> np.ndarray:
    """Run ebal's Newton solver (``ebal_bin._eb``) with tolerance 1e-10 on the mean imbalance."""
    from ebal import ebal_bin

    X, t = d["X"], d["t"]
    n, k = X.shape
    e = ebal_bin(constraint_tolerance=1e-10, max_iterations=500, print_level=-1, PCA=False)
    e.coefs = np.zeros(k + 1)
    w = e._eb(np.concatenate([[1.0], t]), np.column_stack([np.ones(n), X]), np.ones(n))
    return np.asarray(w, dtype=float) * n


def _entropy_dual(d: Data):
    C = d["X"] - d["t"]

    def fun(lam):
        eta = C @ lam
        top = eta.max()
        e = np.exp(eta - top)
        s = e.sum()
        return top + np.log(s), C.T @ (e / s)

    def hess(lam):
        eta = C @ lam
        e = np.exp(eta - eta.max())
        p = e / e.sum()
        g = C.T @ p
        return C.T @ (C * p[:, None]) - np.outer(g, g)

    def weights(lam):
        eta = C @ lam
        e = np.exp(eta - eta.max())
        return e * (C.shape[0] / e.sum())

    return fun, hess, weights


def scipy_bfgs_entropy(d: Data) -> np.ndarray:
    """Minimise the dual by ``minimize(method="BFGS")``, analytic gradient, gtol 1e-10."""
    from scipy.optimize import minimize

    fun, _, weights = _entropy_dual(d)
    res = minimize(fun, np.zeros(d["X"].shape[1]), jac=True, method="BFGS",
                   options={"gtol": 1e-10, "maxiter": 1000})
    return weights(res.x)


def scipy_trust_entropy(d: Data) -> np.ndarray:
    """Minimise the dual by ``minimize(method="trust-exact")``, analytic gradient and Hessian."""
    from scipy.optimize import minimize

    fun, hess, weights = _entropy_dual(d)
    res = minimize(fun, np.zeros(d["X"].shape[1]), jac=True, hess=hess, method="trust-exact",
                   options={"gtol": 1e-10, "maxiter": 1000})
    return weights(res.x)


# ----------------------------------------------------------------------------- dispatch

#: name -> (module that must import, function of the data)
PEERS = {
    "balance rake (tight)": ("balance", lambda d: balance_rake(d, tight=True)),
    "balance rake (default)": ("balance", lambda d: balance_rake(d, tight=False)),
    "samplics rake (tight)": ("samplics", lambda d: samplics_rake(d, tight=True)),
    "samplics rake (default)": ("samplics", lambda d: samplics_rake(d, tight=False)),
    "samplics calibrate (linear)": ("samplics", samplics_calibrate),
    "empirical_calibration": ("empirical_calibration", ec_entropy),
    "ebal (Newton solver)": ("ebal", ebal_entropy),
    "scipy BFGS": ("scipy", scipy_bfgs_entropy),
    "scipy trust-exact": ("scipy", scipy_trust_entropy),
}


def available(module: str) -> bool:
    """Whether ``module`` imports in this process (balance's banner muted)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module(module)
    except Exception:  # noqa: BLE001 - a peer that fails to import for any reason is absent
        return False
    return True


def run(name: str, d: Data, repeats: int, python: str | None = None) -> dict:
    """Time peer ``name`` on ``d``: here if it imports, else in ``python`` as a worker.

    Returns ``{"wall", "cpu", "weights", "where"}`` or ``{"error": reason}``.
    """
    module, fn = PEERS[name]
    if available(module):
        (wall, cpu), w = best_of(lambda: fn(d), repeats)
        return {"wall": wall, "cpu": cpu, "weights": w, "where": "same process"}
    if not python:
        return {"error": f"{module} not importable here (pass --peer-python)"}
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(src, **d)
        proc = subprocess.run([python, os.path.abspath(__file__), name, src, dst, str(repeats)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            return {"error": f"worker failed: {tail[0]}"}
        out = np.load(dst)
        timing = json.loads(proc.stdout.strip().splitlines()[-1])
        return {"wall": timing["wall"], "cpu": timing["cpu"], "weights": out["weights"],
                "where": f"worker ({python})"}


def _worker(argv: list[str]) -> None:
    name, src, dst, repeats = argv[0], argv[1], argv[2], int(argv[3])
    d = dict(np.load(src))
    _, fn = PEERS[name]
    (wall, cpu), w = best_of(lambda: fn(d), repeats)
    np.savez(dst, weights=w)
    print(json.dumps({"wall": wall, "cpu": cpu}))


if __name__ == "__main__":
    _worker(sys.argv[1:])

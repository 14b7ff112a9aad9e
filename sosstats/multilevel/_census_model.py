r"""National-scale logit: children in workers in LAs, fitted on collapsed binomial counts.

At census scale (600,000 children, 20,000 workers, 152 LAs) a row-wise Bernoulli model spends
each gradient on 600,000-element gathers and scatters. With categorical child covariates and
workers nested in LAs, every child of worker :math:`j` with covariate pattern :math:`p` shares
one linear predictor, so the likelihood depends on the data only through the
worker-by-pattern table of successes :math:`S_{jp}` and trials :math:`N_{jp}`
(:func:`sosstats.multilevel._collapse.collapse`; exactly equal to the row-wise Bernoulli log
density, see that module):

.. math::

    \eta_{jp} = v_j + x_p^\top b,\qquad v_j = m_{l(j)} + \sigma_W z_j,\qquad
    m_l \sim N(\alpha + \delta (P_l - \bar P), \sigma_{LA}),\qquad z_j \sim N(0, 1),

    \ell = \sum_{j,p} \{ S_{jp}\eta_{jp} - N_{jp}\log(1 + e^{\eta_{jp}}) \}.

The table is dense (workers x patterns; empty cells have :math:`N_{jp} = 0` and add nothing),
so :math:`\eta` is a broadcast sum, with no gather over children or cells, and the gradient in
:math:`v_j` is the row sum of the residual table, a contiguous (sorted) segment sum. The
linear term is precomputed: :math:`\sum_{jp} S_{jp}\eta_{jp} = \sum_j S_{j\cdot} v_j +
\sum_p S_{\cdot p} x_p^\top b`. The only gather left is the LAs' means onto their workers
(20,000 elements from 152).

Parameterisation: workers non-centred (about 30 binary outcomes each: weakly identified),
LAs centred with hierarchical centring of the intercept and the LA-level pilot effect
(about 4,000 children each: strongly identified, where non-centring mixes badly;
Papaspiliopoulos, Roberts & Skold 2007, *Statistical Science* 22(1); Gelfand, Sahu & Carlin
1995, *Biometrika* 82(3)). ``la="non-centred"`` gives :math:`m_l = \alpha + \delta(P_l -
\bar P) + \sigma_{LA} z_l` instead. Predictors are centred at their child-weighted means;
the reported intercept is that of the uncentred model.

Priors (sosstats' logit defaults): intercept :math:`N(0, 2.5)`, each coefficient and the
pilot effect :math:`N(0, 2.5 / s_x)`, both SDs :math:`\mathrm{HalfNormal}(1)`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats.errors import DataError
from sosstats.multilevel._collapse import collapse

__all__ = ["CensusTable", "census_table", "build_census_model", "fit_census"]


@dataclass(frozen=True, eq=False)
class CensusTable:
    """Worker-by-pattern sufficient statistics of a binary outcome (see :func:`census_table`)."""

    successes: np.ndarray      # (W, P)
    trials: np.ndarray         # (W, P)
    patterns: np.ndarray       # (P, q) dummy columns
    terms: tuple[str, ...]     # names of the q columns
    worker_la: np.ndarray      # (W,) LA code of each worker
    la_pilot: np.ndarray       # (L,) 0/1
    workers: tuple[str, ...]
    las: tuple[str, ...]
    n_rows: int
    n_cells: int               # non-empty cells

    @property
    def pilot_mean(self) -> float:
        """Child-weighted share of children in pilot LAs."""
        per_worker = self.trials.sum(axis=1)
        return float(np.dot(per_worker, self.la_pilot[self.worker_la]) / per_worker.sum())


def _dummies(data: pd.DataFrame, column: str) -> tuple[np.ndarray, list[str]]:
    values = data[column]
    if values.isna().any():
        raise DataError(f"{column}: {int(values.isna().sum())} missing values; drop or impute "
                        "them before fitting.")
    if pd.api.types.is_bool_dtype(values) or (pd.api.types.is_numeric_dtype(values)
                                              and set(np.unique(values)) <= {0, 1}):
        return values.to_numpy(dtype=float).reshape(-1, 1), [column]
    cat = values.astype("category")
    codes = cat.cat.codes.to_numpy()
    levels = list(cat.cat.categories)
    if len(levels) > 50:
        raise DataError(f"{column}: {len(levels)} levels; the census model takes categorical "
                        "covariates with few levels (collapsing needs shared patterns).")
    cols = [(codes == k).astype(float) for k in range(1, len(levels))]
    X = np.column_stack(cols) if cols else np.zeros((len(values), 0))
    return X, [f"C({column})[T.{lev}]" for lev in levels[1:]]


def census_table(data: pd.DataFrame, outcome: str, covariates: Sequence[str], *, worker: str,
                 la: str, pilot: str) -> CensusTable:
    r"""Collapse child rows to the worker-by-pattern table of successes and trials.

    Parameters
    ----------
    data : DataFrame
        One row per child (not modified).
    outcome : str
        Binary 0/1 (or bool) column.
    covariates : sequence of str
        Categorical or binary child-level columns (treatment-coded, first level reference).
    worker, la : str
        Group columns; each worker must belong to one LA.
    pilot : str
        Binary LA-level column (constant within an LA).

    Returns
    -------
    CensusTable

    Raises
    ------
    DataError
        On a missing column, a non-binary outcome, a worker in two LAs or a pilot flag that
        varies within an LA.
    """
    cols = [outcome, *covariates, worker, la, pilot]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataError(f"data: missing column(s) {missing}.")
    y = data[outcome]
    if y.isna().any() or not set(np.unique(y.to_numpy(dtype=float))) <= {0.0, 1.0}:
        raise DataError(f"{outcome}: the census model needs a binary 0/1 outcome with no "
                        "missing values.")
    w_cat = data[worker].astype("category").cat.remove_unused_categories()
    l_cat = data[la].astype("category").cat.remove_unused_categories()
    w_code = w_cat.cat.codes.to_numpy().astype(np.int64)
    l_code = l_cat.cat.codes.to_numpy().astype(np.int64)
    W, L = len(w_cat.cat.categories), len(l_cat.cat.categories)
    worker_la = np.full(W, -1, dtype=np.int64)
    worker_la[w_code] = l_code
    if (worker_la[w_code] != l_code).any():
        bad = w_cat.cat.categories[np.unique(w_code[worker_la[w_code] != l_code])][:3]
        raise DataError(f"{worker}: workers must be nested in {la}; {list(bad)} appear in more "
                        "than one LA.")
    p = data[pilot].to_numpy(dtype=float)
    la_pilot = np.zeros(L)
    la_pilot[l_code] = p
    if (la_pilot[l_code] != p).any() or not set(np.unique(p)) <= {0.0, 1.0}:
        raise DataError(f"{pilot}: must be 0/1 and constant within each {la}.")
    parts, terms = [], []
    for c in covariates:
        X, names = _dummies(data, c)
        parts.append(X)
        terms.extend(names)
    X = np.column_stack(parts) if parts else np.zeros((len(data), 0))
    cells = collapse(X, [w_code], y.to_numpy(dtype=float))
    P = cells.patterns.shape[0]
    S = np.zeros((W, P))
    N = np.zeros((W, P))
    S[cells.cell_groups[:, 0], cells.cell_pattern] = cells.successes
    N[cells.cell_groups[:, 0], cells.cell_pattern] = cells.trials
    return CensusTable(successes=S, trials=N, patterns=cells.patterns, terms=tuple(terms),
                       worker_la=worker_la, la_pilot=la_pilot,
                       workers=tuple(map(str, w_cat.cat.categories)),
                       las=tuple(map(str, l_cat.cat.categories)), n_rows=len(data),
                       n_cells=cells.n_cells)


def build_census_model(table: CensusTable, *, la: str = "centred",
                       worker: str = "non-centred") -> Any:
    """The PyMC model of the module notes on ``table``.

    ``la`` and ``worker`` are each ``"centred"`` or ``"non-centred"``; a centred worker level
    draws the workers' means ``v_j ~ N(m_{l(j)}, sigma_W)`` directly.

    Posterior names: ``beta`` (dims ``term``: ``Intercept``, the covariate terms, ``pilot``),
    ``sigma_la``, ``sigma_worker``, ``u_la`` (dims ``la``), ``u_worker`` (dims ``worker``);
    the likelihood is the ``loglik`` potential.
    """
    import pymc as pm
    import pytensor.tensor as pt

    for name, value in (("la", la), ("worker", worker)):
        if value not in ("centred", "non-centred"):
            raise DataError(f"{name}: expected 'centred' or 'non-centred', got {value!r}.")
    S, N, Xp = table.successes, table.trials, table.patterns
    n_pattern = N.sum(axis=0)
    x_mean = (n_pattern @ Xp) / n_pattern.sum() if Xp.shape[1] else np.zeros(0)
    Xc = Xp - x_mean
    x_sd = np.sqrt((n_pattern @ (Xc ** 2)) / n_pattern.sum()) if Xp.shape[1] else np.zeros(0)
    p_mean = table.pilot_mean
    p_sd = max(np.sqrt(p_mean * (1 - p_mean)), 1e-3)
    pc = table.la_pilot - p_mean
    S_worker = S.sum(axis=1)
    S_pattern = S.sum(axis=0)
    Nf = N  # float table; empty cells contribute 0
    coords = {"term": ["Intercept", *table.terms, "pilot"], "coef": list(table.terms),
              "la": list(table.las), "worker": list(table.workers)}
    with pm.Model(coords=coords) as model:
        alpha = pm.Normal("intercept_centred", 0.0, 2.5)
        delta = pm.Normal("pilot_effect", 0.0, 2.5 / p_sd)
        sigma_la = pm.HalfNormal("sigma_la", 1.0)
        sigma_w = pm.HalfNormal("sigma_worker", 1.0)
        la_mean = alpha + delta * pc
        if la == "centred":
            m = pm.Normal("mean_la", la_mean, sigma_la, dims="la")
            u_la = pm.Deterministic("u_la", m - la_mean, dims="la")
        else:
            z_la = pm.Normal("z_la", 0.0, 1.0, dims="la")
            u_la = pm.Deterministic("u_la", sigma_la * z_la, dims="la")
            m = la_mean + u_la
        if worker == "centred":
            v = pm.Normal("mean_worker", m[table.worker_la], sigma_w, dims="worker")
            pm.Deterministic("u_worker", v - m[table.worker_la], dims="worker")
        else:
            z_w = pm.Normal("z_worker", 0.0, 1.0, dims="worker")
            u_w = pm.Deterministic("u_worker", sigma_w * z_w, dims="worker")
            v = m[table.worker_la] + u_w
        if Xp.shape[1]:
            b = pm.Normal("b", 0.0, 2.5 / np.maximum(x_sd, 1e-3), dims="coef")
            xb = pt.dot(Xc, b)
            eta = v[:, None] + xb[None, :]
            linear = pt.dot(S_worker, v) + pt.dot(S_pattern, xb)
            shift = pt.dot(x_mean, b)
            beta = pt.concatenate([pt.reshape(alpha - shift - delta * p_mean, (1,)), b,
                                   pt.reshape(delta, (1,))])
        else:
            eta = v[:, None]
            linear = pt.dot(S_worker, v)
            beta = pt.stack([alpha - delta * p_mean, delta])
        pm.Potential("loglik", linear - pt.sum(Nf * pt.softplus(eta)))
        pm.Deterministic("beta", beta, dims="term")
    return model


def fit_census(table: CensusTable, *, draws: int = 1000, tune: int = 1000, chains: int = 2,
               seed: int = 0, cores: int | None = None, target_accept: float = 0.8,
               la: str = "centred", worker: str = "non-centred",
               progress: bool = False) -> tuple[Any, dict[str, float]]:
    """Build and sample the census model with nutpie; return ``(idata, timings)``.

    ``timings``: ``compile_s``, ``sample_s``, ``total_s`` (seconds), as
    :func:`sosstats.multilevel._pymc.sample_model`.
    """
    from sosstats.multilevel._pymc import sample_model

    t0 = time.perf_counter()
    model = build_census_model(table, la=la, worker=worker)
    build_s = time.perf_counter() - t0
    idata, timings = sample_model(model, draws=draws, tune=tune, chains=chains, seed=seed,
                                  sampler="nutpie", target_accept=target_accept,
                                  progress=progress, cores=cores)
    timings = dict(timings, build_s=build_s, total_s=timings["total_s"] + build_s)
    return idata, timings

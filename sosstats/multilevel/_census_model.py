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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats.errors import DataError, DesignError
from sosstats.multilevel._collapse import collapse

__all__ = ["CensusTable", "census_table", "table_from_design", "build_census_model",
           "fit_census"]


@dataclass(frozen=True, eq=False)
class CensusTable:
    """Worker-by-pattern sufficient statistics of a binary outcome (see :func:`census_table`).

    ``successes`` and ``trials`` are ``(W, P)`` (workers x row-level covariate patterns);
    ``patterns`` is ``(P, q)`` with column names ``terms``; ``la_X`` is ``(L, r)``, the
    LA-level covariates (the pilot flag) named ``la_terms``; ``worker_la`` the LA of each
    worker. ``worker_name`` / ``la_name`` name the posterior variables (``sigma_<name>``,
    ``u_<name>``) and ``term_order`` the entries of ``beta``.
    """

    successes: np.ndarray
    trials: np.ndarray
    patterns: np.ndarray
    terms: tuple[str, ...]
    la_X: np.ndarray
    la_terms: tuple[str, ...]
    worker_la: np.ndarray
    workers: tuple[str, ...]
    las: tuple[str, ...]
    n_rows: int
    n_cells: int
    worker_name: str = "worker"
    la_name: str = "la"
    term_order: tuple[str, ...] = ()

    @property
    def la_trials(self) -> np.ndarray:
        """Trials (children) per LA."""
        return np.bincount(self.worker_la, weights=self.trials.sum(axis=1),
                           minlength=len(self.las))

    @property
    def pilot_mean(self) -> float:
        """Child-weighted mean of the first LA-level covariate (the share in pilot LAs)."""
        n = self.la_trials
        return float(np.dot(n, self.la_X[:, 0]) / n.sum()) if self.la_X.shape[1] else 0.0


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


def _nesting(lower: np.ndarray, upper: np.ndarray, n_lower: int) -> np.ndarray | None:
    """Return the upper group of each lower group (None: ``lower`` not nested in ``upper``)."""
    parent = np.full(n_lower, -1, dtype=np.int64)
    parent[lower] = upper
    return parent if bool((parent[lower] == upper).all()) else None


def _la_constant(Z: np.ndarray, l_code: np.ndarray, n_las: int) -> np.ndarray | None:
    """``(L, r)`` LA values of row columns ``Z``, or None when one varies within an LA."""
    out = np.zeros((n_las, Z.shape[1]))
    out[l_code] = Z
    return out if bool((out[l_code] == Z).all()) else None


def _build_table(Xrow: np.ndarray, terms: Sequence[str], la_X: np.ndarray,
                 la_terms: Sequence[str], w_code: np.ndarray, worker_la: np.ndarray,
                 y: np.ndarray, trials: np.ndarray | None, workers: Sequence[str],
                 las: Sequence[str], max_cells: int | None = None, **names: Any) -> CensusTable:
    cells = collapse(Xrow, [w_code], y, trials)
    W, P = len(workers), cells.patterns.shape[0]
    if max_cells is not None and W * P > max_cells:
        raise DesignError(f"the row-level covariates take {P:,} patterns, so the worker x "
                          f"pattern table would have {W * P:,} cells (at most {max_cells:,} "
                          "here): the table pays off only with categorical covariates of few "
                          "patterns, not with a continuous one")
    S = np.zeros((W, P))
    N = np.zeros((W, P))
    S[cells.cell_groups[:, 0], cells.cell_pattern] = cells.successes
    N[cells.cell_groups[:, 0], cells.cell_pattern] = cells.trials
    order = names.pop("term_order", None) or ("Intercept", *terms, *la_terms)
    return CensusTable(successes=S, trials=N, patterns=cells.patterns, terms=tuple(terms),
                       la_X=la_X, la_terms=tuple(la_terms), worker_la=worker_la,
                       workers=tuple(map(str, workers)), las=tuple(map(str, las)),
                       n_rows=int(y.shape[0]), n_cells=cells.n_cells, term_order=tuple(order),
                       **names)


def census_table(data: pd.DataFrame, outcome: str, covariates: Sequence[str], *, worker: str,
                 la: str, la_covariates: str | Sequence[str] = ()) -> CensusTable:
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
    la_covariates : str or sequence of str
        Numeric or binary LA-level columns (constant within an LA), e.g. the pilot flag.

    Returns
    -------
    CensusTable

    Raises
    ------
    DataError
        On a missing column, a non-binary outcome, a worker in two LAs or an LA-level column
        that varies within an LA.
    """
    la_cols = [la_covariates] if isinstance(la_covariates, str) else list(la_covariates)
    cols = [outcome, *covariates, worker, la, *la_cols]
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
    worker_la = _nesting(w_code, l_code, W)
    if worker_la is None:
        parent = np.full(W, -1, dtype=np.int64)
        parent[w_code] = l_code
        bad = w_cat.cat.categories[np.unique(w_code[parent[w_code] != l_code])][:3]
        raise DataError(f"{worker}: workers must be nested in {la}; {list(bad)} appear in more "
                        "than one LA.")
    Z = np.zeros((len(data), len(la_cols)))
    for k, c in enumerate(la_cols):
        if not (pd.api.types.is_bool_dtype(data[c]) or pd.api.types.is_numeric_dtype(data[c])) \
                or data[c].isna().any():
            raise DataError(f"{c}: an LA-level covariate must be numeric or bool, with no "
                            "missing values.")
        Z[:, k] = data[c].to_numpy(dtype=float)
    la_X = _la_constant(Z, l_code, L)
    if la_X is None:
        raise DataError(f"{la_cols}: LA-level covariates must be constant within each {la}.")
    parts, terms = [], []
    for c in covariates:
        X, names = _dummies(data, c)
        parts.append(X)
        terms.extend(names)
    X = np.column_stack(parts) if parts else np.zeros((len(data), 0))
    return _build_table(X, terms, la_X, la_cols, w_code, worker_la, y.to_numpy(dtype=float),
                        None, w_cat.cat.categories, l_cat.cat.categories)


def table_from_design(design: Any, max_cells: int | None = None) -> CensusTable | None:
    """Return the census table of a ``MultilevelModel`` design (None: the design is not one).

    A design qualifies when it is a Bernoulli/binomial logit with an intercept, no likelihood
    weights, no random slopes and exactly two grouping levels (data columns), one nested in
    the other. Columns of the design matrix constant within every upper-level group enter
    at the upper level (``la_X``); the others define the row patterns. Posterior names follow
    the design (``sigma_<level>``, ``u_<level>``, ``beta`` over ``design.terms``).
    A dense table of more than ``max_cells`` cells (workers x patterns) raises DesignError
    before it is allocated.
    """
    if design.family not in ("bernoulli", "binomial") or not design.has_intercept:
        return None
    rows = design.rows
    if rows.weights is not None or design.slopes or len(design.levels) != 2:
        return None
    if any(lev.kind != "group" for lev in design.levels):
        return None
    a, b = design.levels
    parent = _nesting(a.codes, b.codes, len(a.labels))
    lower, upper = (a, b) if parent is not None else (b, a)
    if parent is None:
        parent = _nesting(b.codes, a.codes, len(b.labels))
        if parent is None:
            return None
    if len(lower.labels) == len(upper.labels):
        return None
    cols = [j for j, t in enumerate(design.terms) if t != "Intercept"]
    X = rows.X[:, cols]
    L = len(upper.labels)
    la_cols, row_cols = [], []
    for k, j in enumerate(cols):
        (la_cols if _la_constant(X[:, [k]], upper.codes, L) is not None else row_cols).append(k)
    la_X = _la_constant(X[:, la_cols], upper.codes, L)
    terms = [design.terms[cols[k]] for k in row_cols]
    la_terms = [design.terms[cols[k]] for k in la_cols]
    return _build_table(X[:, row_cols], terms, la_X, la_terms, lower.codes.astype(np.int64),
                        parent, rows.y.astype(float), rows.trials, lower.labels, upper.labels,
                        worker_name=lower.name, la_name=upper.name,
                        term_order=tuple(design.terms), max_cells=max_cells)


def build_census_model(table: CensusTable, *, la: str = "centred",
                       worker: str = "non-centred", priors: Any = None,
                       centre: Mapping[str, float] | None = None) -> Any:
    """Build the PyMC model of the module notes on ``table``.

    ``la`` and ``worker`` are each ``"centred"`` or ``"non-centred"``; a centred worker level
    draws the workers' means ``v_j ~ N(m_{l(j)}, sigma_W)`` directly. ``priors`` (the
    resolved :class:`~sosstats.multilevel.Priors` of the design the table came from; see
    :mod:`sosstats.multilevel._census_fit`) replaces the default priors of the module notes:
    the intercept's, each coefficient's and each level's SD prior, as ``MultilevelModel``
    uses them. ``centre`` (term -> value) is the point at which the sampled intercept
    ``intercept_centred`` sits (default: the trial-weighted means of the predictors); give
    the design's predictor means so that the intercept's prior is on the row-wise model's
    parameter.

    Posterior names (with the default level names): ``beta`` (dims ``term``, in
    ``table.term_order``: ``Intercept``, the covariate terms, the LA-level terms),
    ``sigma_la``, ``sigma_worker``, ``u_la`` (dims ``la``), ``u_worker`` (dims ``worker``);
    the likelihood is the ``loglik`` potential.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from sosstats.multilevel._pymc import _DIST

    for name, value in (("la", la), ("worker", worker)):
        if value not in ("centred", "non-centred"):
            raise DataError(f"{name}: expected 'centred' or 'non-centred', got {value!r}.")
    wn, ln = table.worker_name, table.la_name
    S, N, Xp, Z = table.successes, table.trials, table.patterns, table.la_X
    n_pattern = N.sum(axis=0)
    total = n_pattern.sum()
    x_mean = (n_pattern @ Xp) / total
    x_sd = np.sqrt((n_pattern @ ((Xp - x_mean) ** 2)) / total)
    if centre is not None:
        x_mean = np.array([centre[t] for t in table.terms], dtype=float)
    Xc = Xp - x_mean
    n_la = table.la_trials
    z_mean = (n_la @ Z) / total
    z_sd = np.sqrt((n_la @ ((Z - z_mean) ** 2)) / total)
    if centre is not None:
        z_mean = np.array([centre[t] for t in table.la_terms], dtype=float)
    Zc = Z - z_mean
    S_worker = S.sum(axis=1)
    S_pattern = S.sum(axis=0)
    coords = {"term": list(table.term_order), wn: list(table.workers), ln: list(table.las)}

    def rv(name: str, entries: Sequence[str], default: tuple[str, dict[str, Any]],
           **kwargs: Any) -> Any:
        if priors is None:
            dist, params = default
        else:
            chosen = [priors[e] for e in entries]
            dist = chosen[0].dist
            params = {k: (np.array([c.params[k] for c in chosen]) if "shape" in kwargs
                          else chosen[0].params[k]) for k in chosen[0].params}
        return _DIST[dist](name, **params, **kwargs)

    with pm.Model(coords=coords) as model:
        alpha = rv("intercept_centred", ["Intercept"], ("normal", {"mu": 0.0, "sigma": 2.5}))
        sigma_la = rv(f"sigma_{ln}", [f"sigma_{ln}"], ("halfnormal", {"sigma": 1.0}))
        sigma_w = rv(f"sigma_{wn}", [f"sigma_{wn}"], ("halfnormal", {"sigma": 1.0}))
        la_mean: Any = alpha
        g = None
        if Z.shape[1]:
            g = rv("b_la", [f"beta[{t}]" for t in table.la_terms],
                   ("normal", {"mu": 0.0, "sigma": 2.5 / np.maximum(z_sd, 1e-3)}),
                   shape=Z.shape[1])
            la_mean = alpha + pt.dot(Zc, g)
        if la == "centred":
            m = pm.Normal(f"mean_{ln}", la_mean, sigma_la, dims=ln)
            pm.Deterministic(f"u_{ln}", m - la_mean, dims=ln)
        else:
            z_la = pm.Normal(f"z_{ln}", 0.0, 1.0, dims=ln)
            u_la = pm.Deterministic(f"u_{ln}", sigma_la * z_la, dims=ln)
            m = la_mean + u_la
        if worker == "centred":
            v = pm.Normal(f"mean_{wn}", m[table.worker_la], sigma_w, dims=wn)
            pm.Deterministic(f"u_{wn}", v - m[table.worker_la], dims=wn)
        else:
            z_w = pm.Normal(f"z_{wn}", 0.0, 1.0, dims=wn)
            u_w = pm.Deterministic(f"u_{wn}", sigma_w * z_w, dims=wn)
            v = m[table.worker_la] + u_w
        b = None
        if Xp.shape[1]:
            b = rv("b", [f"beta[{t}]" for t in table.terms],
                   ("normal", {"mu": 0.0, "sigma": 2.5 / np.maximum(x_sd, 1e-3)}),
                   shape=Xp.shape[1])
            xb = pt.dot(Xc, b)
            eta = v[:, None] + xb[None, :]
            linear = pt.dot(S_worker, v) + pt.dot(S_pattern, xb)
        else:
            eta = v[:, None]
            linear = pt.dot(S_worker, v)
        pm.Potential("loglik", linear - pt.sum(N * pt.softplus(eta)))
        intercept = alpha
        if b is not None:
            intercept = intercept - pt.dot(x_mean, b)
        if g is not None:
            intercept = intercept - pt.dot(z_mean, g)
        entries = {"Intercept": intercept}
        for k, t in enumerate(table.terms):
            entries[t] = b[k]
        for k, t in enumerate(table.la_terms):
            entries[t] = g[k]
        pm.Deterministic("beta", pt.stack([entries[t] for t in table.term_order]), dims="term")
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

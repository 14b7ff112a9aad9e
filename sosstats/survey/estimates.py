r"""Design-based means, totals, proportions and quantiles, overall and by domain.

Every estimate is a ratio (or total) of weighted group sums, linearised into scores whose
design covariance comes from :meth:`SurveyDesign._variance`; domains are subpopulations (rows
outside a domain keep their PSU in the variance with a zero score, never dropped: Lumley 2010,
sec. 2.3).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._kernels.cluster_cr2 import group_sum
from sosstats._kernels.survey_variance import unit_domain_covariance
from sosstats._validate import as_list, check_columns, check_level, check_not_mixed, check_option
from sosstats.errors import DataError
from sosstats.survey._inputs import factor
from sosstats.survey.intervals import (
    PROPORTION_METHODS,
    proportion_interval,
    t_quantile,
    weighted_quantile,
)
from sosstats.survey.results import SurveyEstimate

__all__ = ["mean", "total", "proportion", "quantile"]

#: largest number of (unit x domain x column) PSU totals held as one dense array
DENSE_LIMIT = 40_000_000
#: rows per batch of the cell sums (buffers of CHUNK x m floats, reused)
CHUNK = 65_536


def _domain_sums(codes: np.ndarray, K: int, values: np.ndarray) -> np.ndarray:
    """Sum rows of ``values`` (n, m) by domain codes (-1 = no domain) -> (K, m)."""
    inside = codes >= 0
    if inside.all():
        return group_sum(codes, K, values)
    return group_sum(np.where(inside, codes, K), K + 1, values)[:K]


def _domain_means(design: Any, values: np.ndarray, domains: np.ndarray, n_domains: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    r"""Ratio means of every (domain, column) pair and their full design covariance.

    Parameters
    ----------
    design : SurveyDesign
    values : ndarray, shape (n, m)
        Float values; NaN = not observed for that column (the row leaves that column's
        estimates, not the design).
    domains : ndarray of int, shape (n,)
        Domain code ``0 .. K-1`` of each row, -1 outside every domain.
    n_domains : int
        ``K``.

    Returns
    -------
    estimates : ndarray, shape (K * m,)
        :math:`\hat\theta_{kj} = \sum_{i \in k, j} w_i y_{ij} / \sum_{i \in k, j} w_i`,
        domain-major (all columns of domain 0, then domain 1, ...); NaN for an empty cell.
    covariance : ndarray, shape (K * m, K * m)
        Design covariance of the linearised scores
        :math:`z_{i,kj} = w_i 1[i \in k, y_{ij}\ \text{observed}] (y_{ij} - \hat\theta_{kj}) /
        \sum_{i \in k, j} w_i`; rows and columns of empty cells are NaN. Replicate designs:
        the replicate covariance of the re-computed means.

    Notes
    -----
    Linearisation designs never form the ``n x K m`` score matrix: the centred weighted values
    (n, m) are summed once into (finest unit x domain) cells, giving the (U, K m) unit totals
    that the design's multistage kernel uses (a calibrated design residualises row-level
    scores first, so it forms them).
    """
    return _domain_stats(design, values, domains, n_domains, total=False)


def _domain_stats(design: Any, values: np.ndarray, domains: np.ndarray, n_domains: int, *,
                  total: bool) -> tuple[np.ndarray, np.ndarray]:
    r"""Means (``total=False``) or totals of every (domain, column) cell, with covariance.

    Totals: :math:`\hat t_{kj} = \sum_{i \in k, j} w_i y_{ij}`, scores
    :math:`w_i 1[i \in k] y_{ij}`; otherwise as :func:`_domain_means`.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    domains = np.asarray(domains, dtype=np.intp)
    K, m = int(n_domains), values.shape[1]
    obs = ~np.isnan(values)
    y0 = np.where(obs, values, 0.0)

    def replicate(W: np.ndarray) -> np.ndarray:
        """(B, K*m) estimates for weight columns W (n, B)."""
        B = W.shape[1]
        out = np.empty((B, K, m))
        for j in range(m):          # one pass per item column (not per row, PSU or domain)
            num = _domain_sums(domains, K, W * y0[:, j:j + 1])
            if total:
                out[:, :, j] = num.T
                continue
            den = _domain_sums(domains, K, W * obs[:, j:j + 1])
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, :, j] = (num / den).T
        return out.reshape(B, K * m)

    w = design.weights
    wobs = obs * w[:, None]
    S = _domain_sums(domains, K, wobs)                          # (K, m) domain weight sums
    num = _domain_sums(domains, K, wobs * y0)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = num if total else num / S
    empty = ~(S > 0)
    est = theta.reshape(-1)
    if design.kind == "replicate":
        cov = design._replicate_covariance(replicate)
    else:
        inside = domains >= 0
        dk = np.where(inside, domains, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            e = (wobs * y0 if total else wobs * (y0 - theta[dk]) / S[dk])
            e = np.where(obs & inside[:, None], e, 0.0)
        e = np.nan_to_num(e, nan=0.0, posinf=0.0, neginf=0.0)
        cov = _domain_score_covariance(design, e, domains, K)
    bad = empty.reshape(-1) & (not total)
    if bad.any():
        cov = cov.copy()
        cov[bad, :] = np.nan
        cov[:, bad] = np.nan
    return est, cov


def _estimate_cells(design: Any, values: np.ndarray, domains: np.ndarray, n_domains: int, *,
                    total: bool, nan_free: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Estimates, covariance and the (K, m) cell counts ``n``, weight sums ``N``, ``s^2``.

    Linearisation designs without calibration take one route through (finest unit x domain)
    cells: the weighted sums :math:`\sum w`, :math:`\sum w 	ilde y`, :math:`\sum w 	ilde
    y^2` of every cell (:math:`	ilde y = y - c_j`, a column shift that keeps the sums of
    squares well conditioned), from which the domain estimates, the unit totals of the
    linearised scores,

    .. math:: T_{u,kj} = \Big(\sum_{i \in u,k} w_i 	ilde y_{ij}
              - \hat	heta'_{kj} \sum_{i \in u,k} w_i\Big) / \sum_{i \in k} w_i,

    and the weighted variances follow without forming any ``n x m`` score matrix. Other
    designs (replicate, calibrated, or too many unit x domain cells) use
    :func:`_domain_stats` and :func:`_cells`.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    domains = np.asarray(domains, dtype=np.intp)
    K, m = int(n_domains), values.shape[1]
    U = design._n_units
    if (design.kind == "replicate" or design._calibration is not None
            or U * K * m > DENSE_LIMIT):
        est, cov = _domain_stats(design, values, domains, K, total=total)
        n, N, s2 = _cells(design, values, domains, K)
        return est, cov, n, N, s2
    n_rows = values.shape[0]
    w = design.weights
    unit = np.arange(n_rows, dtype=np.intp) if design._units is None else design._units
    inside = domains >= 0
    P = U * K
    code = np.where(inside, unit * K + np.where(inside, domains, 0), P)
    step = max(1, n_rows // 2000)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sample = values[::step]
        shift = np.nan_to_num(np.nanmean(sample, axis=0))   # (m,) a typical value
        # 0/1 indicators (proportions) are not shifted: 0% and 100% stay exact
        binary = np.all(np.isnan(sample) | (sample == 0) | (sample == 1), axis=0)
        shift = np.where(binary, 0.0, shift)
    # row batches of CHUNK rows: two reused (CHUNK, m) buffers instead of n x m temporaries
    Y1 = np.zeros((P + 1, m))
    Y2 = np.zeros((P + 1, m))
    W1 = np.zeros((P + 1, m))
    C1 = np.zeros((P + 1, m))
    rows = min(CHUNK, n_rows)
    ys_buf, wy_buf = np.empty((rows, m)), np.empty((rows, m))
    positive = (w > 0).astype(float)
    any_missing = False
    for a in range(0, n_rows, CHUNK):           # a loop over batches of rows, not rows
        b = min(a + CHUNK, n_rows)
        ys, wy = ys_buf[: b - a], wy_buf[: b - a]
        np.subtract(values[a:b], shift, out=ys)     # C order whatever the layout of values
        wa, ca = w[a:b, None], code[a:b]
        nan = None if nan_free else np.isnan(ys)
        if nan is not None and nan.any():
            any_missing = True
            ys[nan] = 0.0
            obs = ~nan
            W1 += group_sum(ca, P + 1, obs * wa)
            C1 += group_sum(ca, P + 1, obs * positive[a:b, None])
        else:
            W1 += np.bincount(ca, w[a:b], P + 1)[:, None]
            C1 += np.bincount(ca, positive[a:b], P + 1)[:, None]
        np.multiply(ys, wa, out=wy)
        Y1 += group_sum(ca, P + 1, wy)
        np.multiply(wy, ys, out=wy)                 # w y~^2
        Y2 += group_sum(ca, P + 1, wy)
    del any_missing
    Y1, Y2, W1, C1 = Y1[:P], Y2[:P], W1[:P], C1[:P]
    W1 = W1.reshape(U, K, m)
    Y1 = Y1.reshape(U, K, m)
    N = W1.sum(axis=0)                                               # (K, m)
    n = C1.reshape(U, K, m).sum(axis=0)
    sy = Y1.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta_s = sy / N                                             # shifted means
        if total:
            est = (sy + shift * N).reshape(-1)
            T = Y1 + shift * W1
        else:
            est = (theta_s + shift).reshape(-1)
            T = (Y1 - theta_s * W1) / N
        ss = Y2.reshape(U, K, m).sum(axis=0) - theta_s ** 2 * N
        s2 = np.maximum(ss, 0.0) / N * n / (n - 1)
    T = np.nan_to_num(T, nan=0.0, posinf=0.0, neginf=0.0).reshape(U, K * m)
    cov = design._unit_covariance(T)
    if not total:
        bad = ~(N > 0).reshape(-1)
        if bad.any():
            cov[bad, :] = np.nan
            cov[:, bad] = np.nan
    return est, cov, n, N, s2


def _domain_score_covariance(design: Any, e: np.ndarray, domains: np.ndarray, K: int
                             ) -> np.ndarray:
    """Design covariance (K m, K m) of domain-blocked scores ``e`` (n, m), row i in block d_i.

    The score of row ``i`` for cell ``(k, j)`` is ``e[i, j]`` when ``domains[i] == k`` and 0
    otherwise (rows with domain -1 score 0 everywhere but keep their PSU).
    """
    n, m = e.shape
    inside = domains >= 0
    if design._calibration is not None:
        Z = np.zeros((n, K * m))
        rows = np.flatnonzero(inside)
        cols = domains[rows][:, None] * m + np.arange(m)[None, :]
        Z[rows[:, None], cols] = e[rows]
        return design._covariance(Z)
    U = design._n_units
    units = design._units
    unit = np.arange(n, dtype=np.intp) if units is None else units
    if U * K * m <= DENSE_LIMIT:
        code = np.where(inside, unit * K + np.where(inside, domains, 0), U * K)
        T = group_sum(code, U * K + 1, e)[: U * K].reshape(U, K * m)
        return design._unit_covariance(T)
    if units is None and len(design._stages) == 1:
        # every row its own PSU: block-diagonal cross products, no (n, K m) array
        st = design._stages[0]
        return unit_domain_covariance(e, domains, K, st.strata, st.fraction,
                                      design.lonely_psu, stratum_labels=st.labels)
    # many units and domains: sum the columns block by block of domains
    step = max(1, DENSE_LIMIT // (2 * U * m))     # two blocks of domains at a time
    V = np.empty((K * m, K * m))
    blocks = [np.arange(a, min(a + step, K)) for a in range(0, K, step)]
    # the design covariance is bilinear in the scores: V[a, b] from the stacked pair of blocks
    for ia, A in enumerate(blocks):
        for B_ in blocks[ia:]:
            sel = np.union1d(A, B_)
            remap = np.full(K, -1, dtype=np.intp)
            remap[sel] = np.arange(len(sel))
            dsel = np.where(inside, remap[np.where(inside, domains, 0)], -1)
            ok = dsel >= 0
            Ks = len(sel)
            code = np.where(ok, unit * Ks + np.where(ok, dsel, 0), U * Ks)
            T = group_sum(code, U * Ks + 1, e)[: U * Ks].reshape(U, Ks * m)
            Vs = design._unit_covariance(T)
            idx = (sel[:, None] * m + np.arange(m)[None, :]).reshape(-1)
            V[np.ix_(idx, idx)] = Vs
    return V


# ============================================================================ public estimators

def _check_design(design: Any) -> None:
    from sosstats.survey.design import SurveyDesign

    if not isinstance(design, SurveyDesign):
        raise DataError(f"`design` must be a SurveyDesign; got {type(design).__name__}.")


def _domains(design: Any, by: Any) -> tuple[np.ndarray, list, tuple[str, ...], int]:
    """Domain codes (-1: a missing ``by`` value), labels, the by columns, rows left out."""
    cols = as_list(by)
    n = design.nobs
    if not cols:
        return np.zeros(n, dtype=np.intp), [None], (), 0
    data = design.data
    check_columns(data, cols, what="`by` column")
    missing = data[cols].isna().any(axis=1).to_numpy()
    parts = []
    for c in cols:
        s = data[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy().astype(np.intp)
            parts.append((codes, list(s.cat.categories)))
        else:
            codes, levels = factor(s)
            parts.append((codes, list(levels)))
    if len(cols) == 1:
        codes, levels = parts[0]
        present = np.flatnonzero(np.bincount(codes[~missing & (codes >= 0)],
                                             minlength=len(levels)))
        remap = np.full(len(levels) + 1, -1, dtype=np.intp)
        remap[present] = np.arange(len(present))
        labels = [levels[i] for i in present]
        dom = np.where(missing, -1, remap[np.where(codes >= 0, codes, len(levels))])
    else:
        stacked = np.column_stack([p[0] for p in parts])
        keys, inv = np.unique(stacked[~missing], axis=0, return_inverse=True)
        dom = np.full(n, -1, dtype=np.intp)
        dom[~missing] = inv.reshape(-1)
        labels = [tuple(parts[j][1][k[j]] for j in range(len(cols))) for k in keys]
    labels = [v.item() if isinstance(v, np.generic) else v for v in labels]
    return dom.astype(np.intp), labels, tuple(cols), int(missing.sum())


def _levels(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return list(s.cat.categories)
    levels = [v.item() if isinstance(v, np.generic) else v for v in factor(s.dropna())[1]]
    if levels and all(isinstance(v, float) and v.is_integer() for v in levels):
        levels = [int(v) for v in levels]          # a 0/1 float column: levels 0 and 1
    return levels


def _numeric_block(design: Any, y: Any, kind: str) -> tuple[list, np.ndarray, bool] | None:
    """All-numeric (non-boolean) columns for a mean / total / quantile: one (n, m) block.

    Read in one call (for a frame whose columns share one float block this is a view, not a
    copy), with whether it is free of NaN; None when a column needs the per-level treatment of
    :func:`_columns`.
    """
    cols = as_list(y)
    if kind == "proportion" or not cols or not all(isinstance(c, str) for c in cols):
        return None
    data = design.data
    check_columns(data, cols, what="variable")
    if len(set(cols)) != len(cols):
        return None
    for c in cols:
        s = data[c]
        if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
                and not isinstance(s.dtype, pd.CategoricalDtype)):
            return None
    values = data[cols].to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values)
    if finite.all():                               # one pass: no inf and no NaN
        return [(c, None, None) for c in cols], values, True
    inf = np.isinf(values)
    if inf.any():
        c = cols[int(np.flatnonzero(inf.any(axis=0))[0])]
        raise DataError(f"variable {c!r} has {int(np.isinf(data[c]).sum())} infinite value(s).")
    return [(c, None, None) for c in cols], values, False


def _columns(design: Any, y: Any, kind: str) -> list[tuple[str, Any, np.ndarray]]:
    """(variable, level or None, float values with NaN) per estimated column.

    Numeric columns give one column; a text, categorical or boolean column
    gives one 0/1 indicator per level (``kind="proportion"``: every column is split by level).
    """
    cols = as_list(y)
    if not cols:
        raise DataError("give at least one variable `y`.")
    data = design.data
    check_columns(data, cols, what="variable")
    out: list[tuple[str, Any, np.ndarray]] = []
    for c in cols:
        s = data[c]
        check_not_mixed(s, f"variable {c!r}")
        numeric = (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
                   and not isinstance(s.dtype, pd.CategoricalDtype))
        if numeric and kind != "proportion":
            v = s.to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(v).any():
                raise DataError(f"variable {c!r} has {int(np.isinf(v).sum())} infinite "
                                "value(s).")
            out.append((c, None, v))
            continue
        if kind == "quantile":
            raise DataError(f"variable {c!r} ({s.dtype}) must be numeric for a quantile.")
        levels = _levels(s)
        if not levels:
            raise DataError(f"variable {c!r} has no observed values.")
        miss = s.isna().to_numpy()
        for lev in levels:
            v = (s == lev).to_numpy(dtype=float, na_value=0.0)
            out.append((c, lev, np.where(miss, np.nan, v)))
    return out


def _stack(columns: list[np.ndarray]) -> np.ndarray:
    """Columns (n,) into one C-ordered (n, m) float array."""
    out = np.empty((len(columns[0]), len(columns)))
    for j, c in enumerate(columns):
        out[:, j] = c
    return out


def _cells(design: Any, values: np.ndarray, dom: np.ndarray, K: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (domain, column): rows with the value and positive weight, weight sum, s^2.

    ``s^2`` is survey's ``svyvar``: ``sum w (y - mean)^2 / sum w * n / (n - 1)``.
    """
    w = design.weights
    obs = ~np.isnan(values) & (w > 0)[:, None]
    y0 = np.where(obs, values, 0.0)
    wo = obs * w[:, None]
    n = _domain_sums(dom, K, obs.astype(float))
    N = _domain_sums(dom, K, wo)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = _domain_sums(dom, K, wo * y0) / N
        dk = np.where(dom >= 0, dom, 0)
        dev2 = np.where(obs, wo * (y0 - mean[dk]) ** 2, 0.0)
        s2 = _domain_sums(dom, K, dev2) / N * n / (n - 1)
    return n, N, s2


def _deff(V: np.ndarray, n: np.ndarray, N: np.ndarray, s2: np.ndarray, total: bool,
          rule: str) -> np.ndarray:
    """Design effect: design variance over the SRS variance of the same n (R survey's deff).

    ``rule="noreplace"``: ``s^2 (N - n) / (N n)`` (x ``N^2`` for totals), R's ``deff=TRUE``;
    ``"replace"``: ``s^2 / n`` (x ``N^2``), R's ``deff="replace"``.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        srs = s2 / n if rule == "replace" else s2 * (N - n) / (N * n)
        if total:
            srs = srs * N ** 2
        return V / srs


def _deff_rule(design: Any, deff: str) -> str:
    check_option(deff, ("auto", "noreplace", "replace"), "deff")
    if deff != "auto":
        return deff
    w = design.weights
    return "noreplace" if w.sum() > (w > 0).sum() * (1 + 1e-9) else "replace"


def _term(variable: str, level: Any, q: float | None, by: tuple[str, ...], dom: Any) -> str:
    base = variable if level is None else f"{variable}={level}"
    if q is not None:
        base = f"{base}@{q:g}"
    if not by:
        return base
    vals = dom if isinstance(dom, tuple) else (dom,)
    return base + "[" + ", ".join(f"{b}={v}" for b, v in zip(by, vals)) + "]"


def _design_note(design: Any, deff_rule: str, left_out: int) -> tuple[str, tuple[str, ...]]:
    notes = []
    if deff_rule == "replace":
        notes.append("deff against sampling with replacement (the weights do not sum to more "
                     "than the sample, so no population size for a finite-population SRS).")
    if left_out:
        notes.append(f"{left_out} row(s) with a missing `by` value are in no domain (kept in "
                     "the design).")
    return design.describe(), tuple(notes)


def _assemble(design: Any, kind: str, cols: list, est: np.ndarray, cov: np.ndarray,
              labels: list, by: tuple[str, ...], n: np.ndarray, N: np.ndarray,
              deff: np.ndarray, level: float, interval: str, notes: tuple[str, ...],
              dfs: tuple[np.ndarray, np.ndarray], ci: Any = None,
              quantiles: list | None = None, df_rule: str = "design") -> SurveyEstimate:
    rows = []
    df, ddf = dfs
    for k, dom in enumerate(labels):
        for j, (var, lev, *rest) in enumerate(cols):
            q = quantiles[j] if quantiles is not None else None
            rows.append((_term(var, lev, q, by, dom), var, lev, q, dom))
    terms = [r[0] for r in rows]
    se = np.sqrt(np.maximum(np.diag(cov), 0.0)) if cov.size else np.zeros(0)
    se = np.where(np.isnan(np.diag(cov)), np.nan, se) if cov.size else se
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = est / se
        p = np.where(df >= 1, 2 * stats.t.sf(np.abs(stat), np.where(df >= 1, df, 1.0)),
                     np.nan)
    if kind in ("proportion", "quantile"):
        stat = np.full(est.shape, np.nan)
        p = np.full(est.shape, np.nan)
    nn, NN, dd = n.reshape(-1), N.reshape(-1), deff.reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ess = nn / dd
    table = pd.DataFrame({"estimate": est, "std_error": se, "statistic": stat, "p_value": p,
                          "df": df, "variable": [r[1] for r in rows],
                          "level": [r[2] for r in rows], "domain": [r[4] for r in rows],
                          "n": nn.astype(np.int64), "sum_weights": NN, "deff": dd,
                          "ess": ess, "domain_df": ddf}, index=pd.Index(terms, name="term"))
    if kind == "quantile":
        table.insert(6, "quantile", [r[3] for r in rows])
    if kind != "proportion" and all(r[2] is None for r in rows):
        table = table.drop(columns="level")         # no categorical variable among them
    if not by:
        table = table.drop(columns="domain").assign(domain=None)
    covf = pd.DataFrame(cov, index=terms, columns=terms)
    return SurveyEstimate(statistic_kind=kind, interval=interval, table=table, covariance=covf,
                          design_note=notes[0], by=by, nobs=design.nobs, level=level,
                          notes=notes[1], df_rule=df_rule, _ci=ci)


def _dfs(design: Any, values: np.ndarray, dom: np.ndarray, K: int, rule: str,
         nan_free: bool = False) -> tuple[tuple[np.ndarray, np.ndarray], tuple[str, ...]]:
    """(df used, domain df) per estimate, and a note when domains rest on fewer PSUs."""
    check_option(rule, ("design", "domain"), "df")
    positive = (design.weights > 0)[:, None]
    nan = None if nan_free else np.isnan(values)
    if nan is not None and nan.any():
        present = ~nan & positive
    else:                                         # one pattern: every column observed
        present = np.broadcast_to(positive, values.shape)
    ddf = design._domain_df(present, dom, K).reshape(-1)
    full = np.full(ddf.shape, float(design.df))
    notes: tuple[str, ...] = ()
    if rule == "design" and (ddf < full).any():
        notes = (f"domain_df (PSUs - strata with data in the domain) is below the design's "
                 f"{design.df} for some estimates (down to {int(np.nanmin(ddf))}): a domain "
                 "that lives in few clusters has a variance on few df; df='domain' uses "
                 "them for the intervals.",)
    return ((full if rule == "design" else ddf), ddf), notes


def _mean_or_total(design: Any, y: Any, by: Any, level: float, deff: str, total: bool,
                   df: str = "design") -> SurveyEstimate:
    _check_design(design)
    level = check_level(level)
    rule = _deff_rule(design, deff)
    block = _numeric_block(design, y, "total" if total else "mean")
    if block is None:
        cols = _columns(design, y, "total" if total else "mean")
        values = _stack([c[2] for c in cols])
        nan_free = False
    else:
        cols, values, nan_free = block
    dom, labels, bycols, left = _domains(design, by)
    K = len(labels)
    est, cov, n, N, s2 = _estimate_cells(design, values, dom, K, total=total,
                                         nan_free=nan_free)
    d = _deff(np.diag(cov).reshape(K, -1), n, N, s2, total, rule)
    dfs, more = _dfs(design, values, dom, K, df, nan_free=nan_free)
    note = _design_note(design, rule, left)
    return _assemble(design, "total" if total else "mean", cols, est, cov, labels, bycols, n,
                     N, d, level, "t", (note[0], note[1] + more), dfs, df_rule=df)


def mean(design: Any, y: str | list[str], by: str | list[str] | None = None, *,
         level: float = 0.95, deff: str = "auto", df: str = "design") -> SurveyEstimate:
    r"""Design-based means of ``y``, overall or by domain (R ``svymean`` / ``svyby``).

    Parameters
    ----------
    design : SurveyDesign
    y : str or list of str
        Numeric columns; a text, categorical or boolean column gives the
        proportion of each of its levels, as ``svymean`` on a factor. A missing value leaves the
        row out of that variable's estimate only (R's ``na.rm = TRUE``).
    by : str or list of str, optional
        Domain column(s): one estimate per domain (per combination), as subpopulations.
    level : float
        Confidence level of the intervals.
    deff : {"auto", "noreplace", "replace"}
        Reference of the design effect: simple random sampling without replacement from a
        population of :math:`\sum w` (R ``deff=TRUE``), or with replacement (R
        ``deff="replace"``); ``"auto"`` uses the first unless the weights sum to no more than
        the sample (weights scaled to the sample size).
    df : {"design", "domain"}
        Degrees of freedom of the t intervals and tests: the design's (clusters - strata,
        default, as the issue and Lumley 2010 sec. 2.3 use) or each domain's own (its PSUs -
        its strata: R ``svyciprop`` on a subset design), smaller when a domain lives in few
        clusters (an experience group of three pilots). Both are in ``tidy()`` (``df``,
        ``domain_df``).

    Returns
    -------
    SurveyEstimate
        ``tidy()``: estimate, SE, t test of 0, interval on the design df, ``deff``, ``ess``,
        ``n``, ``sum_weights`` per term; ``cov`` the full design covariance (all domains and
        variables).

    Raises
    ------
    DataError
        An unknown column, a column mixing numbers and text, infinite values, a bad option.

    Notes
    -----
    The domain mean :math:`\hat\theta_k = \sum_i w_i d_{ik} y_i / \sum_i w_i d_{ik}`
    (:math:`d_{ik}` = 1 in domain :math:`k` with :math:`y_i` observed) is a ratio; its
    linearised scores :math:`z_i = w_i d_{ik}(y_i - \hat\theta_k)/\sum_i w_i d_{ik}` go into
    the design variance of :class:`SurveyDesign` (every PSU counts, with a zero score outside
    the domain: Lumley 2010, sec. 2.3.1; Wolter 2007, ch. 6). The design effect is
    :math:`\hat V / V_{SRS}` with :math:`V_{SRS} = s^2 (N - n)/(N n)`, :math:`s^2` the weighted
    variance of :math:`y` in the domain with factor :math:`n/(n-1)` and :math:`N = \sum w`
    (Kish 1965; R ``survey``'s ``deff``); the effective sample size is :math:`n/\text{deff}`.
    Intervals are :math:`\hat\theta \pm t_{df}\,SE` with df = clusters - strata of the whole
    design.

    References
    ----------
    Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
    Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed. Springer.

    Examples
    --------
    >>> import pandas as pd
    >>> from sosstats.survey import SurveyDesign
    >>> d = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3], "w": [2.0] * 6,
    ...                   "y": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0]})
    >>> res = SurveyDesign(d, cluster="psu", weights="w").mean("y")
    >>> round(float(res.params["y"]), 3), round(float(res.std_errors["y"]), 3)
    (3.667, 1.302)
    """
    return _mean_or_total(design, y, by, level, deff, total=False, df=df)


def total(design: Any, y: str | list[str], by: str | list[str] | None = None, *,
          level: float = 0.95, deff: str = "auto", df: str = "design") -> SurveyEstimate:
    r"""Design-based population totals of ``y``, overall or by domain (R ``svytotal``).

    Parameters
    ----------
    design, y, by, level, deff, df
        As :func:`mean`.

    Returns
    -------
    SurveyEstimate

    Raises
    ------
    DataError
        As :func:`mean`.

    Notes
    -----
    :math:`\hat t_k = \sum_i w_i d_{ik} y_i`, scores :math:`w_i d_{ik} y_i`; design effect
    against :math:`N^2 s^2 (N - n)/(N n)` (R ``svytotal(deff=TRUE)``). Lumley (2010), ch. 2.
    """
    return _mean_or_total(design, y, by, level, deff, total=True, df=df)


def proportion(design: Any, y: str | list[str], by: str | list[str] | None = None, *,
               method: str = "logit", level: float = 0.95, deff: str = "auto",
               df: str = "design") -> SurveyEstimate:
    r"""Design-based proportions of every level of ``y``, with intervals that stay in [0, 1].

    Parameters
    ----------
    design : SurveyDesign
    y : str or list of str
        Categorical, Likert, text, boolean or 0/1 column(s): every level is estimated in one
        call (the all / some / none table by group: ``proportion("use", by="group")``).
        Missing values leave the row out of that variable. A categorical column keeps its
        category order (and shows unused categories as 0%).
    by : str or list of str, optional
        Domain column(s).
    method : {"logit", "wilson", "beta", "mean", "xlogit"}
        Interval: logit-scale (R ``svyciprop`` default), Wilson score at the effective n,
        Korn-Graubard beta (gives an interval at 0% and 100%), symmetric, or logit by the
        delta method (see :func:`sosstats.survey.intervals.proportion_interval`).
    level : float
        Confidence level.
    deff : {"auto", "noreplace", "replace"}
        As :func:`mean`.
    df : {"design", "domain"}
        As :func:`mean` (the t of the logit, Wilson and mean intervals; the beta interval's
        effective-n adjustment always uses the domain's df, as R ``svyciprop``).

    Returns
    -------
    SurveyEstimate
        One row per (domain, variable, level); ``summary()`` prints percentages, ``wide()``
        gives the domain x level table, ``plot()`` a stacked bar by domain with intervals.

    Raises
    ------
    DataError
        An unknown column or option, a column with no observed value.

    Notes
    -----
    Each level's proportion is the domain mean of its indicator (:func:`mean`); the SE is
    design-based, the design effect as R ``svymean(deff=TRUE)``. For ``method="beta"``
    (Korn & Graubard 1998) the effective sample size is
    :math:`n^* = \hat p(1-\hat p)/\hat V \cdot (t_{n-1}/t_{df})^2` (R ``svyciprop``); at
    :math:`\hat p \in \{0, 1\}` it uses design effect 1 (R returns NaN there).

    References
    ----------
    Korn, E. L. and Graubard, B. I. (1998). *Survey Methodology* 24, 193-201.
    Lumley, T. (2010). *Complex Surveys*, Wiley, sec. 2.9.
    """
    _check_design(design)
    level = check_level(level)
    check_option(method, PROPORTION_METHODS, "method")
    rule = _deff_rule(design, deff)
    cols = _columns(design, y, "proportion")
    dom, labels, bycols, left = _domains(design, by)
    K = len(labels)
    values = _stack([c[2] for c in cols])
    est, cov, n, N, s2 = _estimate_cells(design, values, dom, K, total=False)
    d = _deff(np.diag(cov).reshape(K, -1), n, N, s2, False, rule)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    # n of the domain for the variable (rows with the variable observed, positive weight)
    nd = n.reshape(-1).astype(float)
    dfs, more = _dfs(design, values, dom, K, df)
    tdf, ddf = dfs

    def ci(lev: float) -> pd.DataFrame:
        lo, hi = proportion_interval(est, se, tdf, nd, lev, method, beta_df=ddf)
        return pd.DataFrame({"lower": lo, "upper": hi}, index=terms)

    note = _design_note(design, rule, left)
    res = _assemble(design, "proportion", cols, est, cov, labels, bycols, n, N, d, level,
                    method, (note[0], note[1] + more), dfs, df_rule=df)
    terms = res.table.index
    object.__setattr__(res, "_ci", ci)
    return res


def quantile(design: Any, y: str | list[str], q: float | list[float] = 0.5,
             by: str | list[str] | None = None, *, level: float = 0.95,
             interval_type: str = "mean", df: str = "design") -> SurveyEstimate:
    r"""Design-based quantiles with Woodruff intervals (R ``svyquantile``'s defaults).

    Parameters
    ----------
    design : SurveyDesign
    y : str or list of str
        Numeric column(s); missing values leave the row out of that variable.
    q : float or list of float
        Probabilities in [0, 1].
    by : str or list of str, optional
        Domain column(s).
    level : float
        Confidence level.
    interval_type : {"mean", "beta", "xlogit"}
        Interval of the proportion below the estimate (``svyquantile``'s ``interval.type``;
        default ``"mean"``, a t interval).
    df : {"design", "domain"}
        As :func:`mean`.

    Returns
    -------
    SurveyEstimate
        Per (domain, variable, q): the quantile, the SE R reports (interval width / (2 t)),
        Woodruff's interval, and the design effect of the proportion below the quantile.

    Raises
    ------
    DataError
        A non-numeric column, ``q`` outside [0, 1], a bad option.

    Notes
    -----
    The estimate is the inverse of the weighted ECDF of the domain, :math:`\hat Q(p) =
    \min\{x : \hat F(x) \ge p\}` (``qrule = "math"``). Woodruff (1952): with
    :math:`\hat p = \hat F(\hat Q(p))` (a domain mean of :math:`1[y \le \hat Q]`, with its
    design SE), the interval is :math:`[\hat Q(\hat p - t\,SE), \hat Q(\hat p + t\,SE)]`
    (NaN where a bound of the proportion leaves [0, 1]); :math:`SE = \text{width}/(2t)`.
    Matches ``svyquantile(..., ci = TRUE)`` of survey 4.x except when a probability is below the
    smallest observation's weight share, where survey returns the second-smallest value (see
    :func:`sosstats.survey.intervals.weighted_quantile`).

    References
    ----------
    Woodruff, R. S. (1952). *JASA* 47, 635-646. Lumley, T. (2010). *Complex Surveys*, sec. 2.8.
    """
    _check_design(design)
    level = check_level(level)
    check_option(interval_type, ("mean", "beta", "xlogit"), "interval_type")
    qs = [float(v) for v in np.atleast_1d(np.asarray(q, dtype=float))]
    if not qs or any(not (0 <= v <= 1) for v in qs):
        raise DataError(f"`q` must be probabilities in [0, 1]; got {q!r}.")
    cols = _columns(design, y, "quantile")
    dom, labels, bycols, left = _domains(design, by)
    K = len(labels)
    w = design.weights
    qcols, qvals, ind, base = [], [], [], []
    probs = np.asarray(qs)[None, :].repeat(K, axis=0)
    dk = np.where(dom >= 0, dom, 0)
    for var, _, v in cols:
        Q = weighted_quantile(v, w, dom, K, probs)              # (K, r)
        for j, p in enumerate(qs):
            qcols.append((var, None, v))
            qvals.append(Q[:, j])
            with np.errstate(invalid="ignore"):
                ind.append(np.where(np.isnan(v), np.nan, (v <= Q[dk, j]).astype(float)))
            base.append(v)
    est = np.column_stack(qvals).reshape(-1)                    # (K * m,) domain-major
    U = np.column_stack(ind)
    pest, pcov, n, N, s2 = _estimate_cells(design, U, dom, K, total=False)
    d = _deff(np.diag(pcov).reshape(K, -1), n, N, s2, False, "noreplace"
              if _deff_rule(design, "auto") == "noreplace" else "replace")
    pse = np.sqrt(np.maximum(np.diag(pcov), 0.0))
    dfs, more = _dfs(design, U, dom, K, df)
    tdf, ddf = dfs
    nd = n.reshape(-1).astype(float)
    m = len(qcols)

    def bounds(lev: float) -> tuple[np.ndarray, np.ndarray]:
        lo_p, hi_p = proportion_interval(pest, pse, tdf, nd, lev, interval_type, beta_df=ddf)
        lo_p = np.where(lo_p < 0, np.nan, lo_p).reshape(K, m)
        hi_p = np.where(hi_p > 1, np.nan, hi_p).reshape(K, m)
        lo, hi = np.empty((K, m)), np.empty((K, m))
        for j in range(m):     # one vectorised quantile rule per (variable, q) column
            lo[:, j] = weighted_quantile(base[j], w, dom, K, lo_p[:, j:j + 1])[:, 0]
            hi[:, j] = weighted_quantile(base[j], w, dom, K, hi_p[:, j:j + 1])[:, 0]
        return lo.reshape(-1), hi.reshape(-1)

    lo, hi = bounds(level)
    with np.errstate(invalid="ignore"):
        se = (hi - lo) / (2 * t_quantile(level, tdf))
    cov = np.diag(se ** 2)

    def ci(lev: float) -> pd.DataFrame:
        a, b = (lo, hi) if np.isclose(lev, level) else bounds(lev)
        return pd.DataFrame({"lower": a, "upper": b}, index=terms)

    note = _design_note(design, _deff_rule(design, "auto"), left)
    res = _assemble(design, "quantile", qcols, est, cov, labels, bycols, n, N, d, level,
                    "woodruff", (note[0], note[1] + more), dfs, quantiles=qs * len(cols),
                    df_rule=df)
    terms = res.table.index
    object.__setattr__(res, "_ci", ci)
    return res

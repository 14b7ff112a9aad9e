"""Every weighting method of :func:`sosstats.weighting.attrition_weights`, in one module.

The data run attrition (checks) -> ``_formula`` (the covariate design) -> here (the method) ->
a kernel, once: response-propensity weights (logit / probit, optionally within cells;
:func:`propensity_weights`), entropy balancing, raking and calibration (linear, raking-ratio and
bounded-logit) to T1 or user totals (:func:`balancing_weights`), with the margin checks they
need. With base (design) weights ``d`` every method adjusts ``d``: the propensity weights are
``d a`` for the adjustment ``a``; entropy balancing, raking and calibration start from ``d``
(``g = w / d``, the bounds on ``g``) and meet the ``d``-weighted T1 totals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sosstats._kernels.calibrate import CALFUNS, calibrate, rake, rake_cells
from sosstats._kernels.entropy import entropy_balance
from sosstats._validate import as_list, check_columns, check_option
from sosstats.errors import DataError, DesignError
from sosstats.weighting._formula import additive_variables, category_codes, is_categorical
from sosstats.weighting._propensity import fit_propensity


def margin_targets(col: str, levels: list, counts: np.ndarray,
                    margins: dict | None) -> np.ndarray:
    if margins is None or col not in margins:
        return counts.astype(float)
    spec = margins[col]
    if not isinstance(spec, dict):
        raise DataError(f"margins[{col!r}] must be a dict category -> total.")
    unknown = [k for k in spec if k not in levels]
    if unknown:
        raise DataError(f"margins[{col!r}] names categories absent from the data: "
                        f"{', '.join(map(repr, unknown))}.")
    missing = [lev for lev in levels if lev not in spec]
    if missing:
        raise DataError(f"margins[{col!r}] gives no total for categories "
                        f"{', '.join(map(repr, missing))} present in the data.")
    return np.array([float(spec[lev]) for lev in levels])


def check_margins(margins: Any, covariates: list[str]) -> float | None:
    if margins is None:
        return None
    if not isinstance(margins, dict) or not margins:
        raise DataError("`margins` must be a non-empty dict column -> {category: total}.")
    extra = [k for k in margins if k not in covariates]
    if extra:
        raise DataError(f"margins given for {', '.join(map(repr, extra))}, which are not among "
                        "the covariates.")
    totals = {k: float(sum(v.values())) if isinstance(v, dict) else np.nan
              for k, v in margins.items()}
    vals = np.array(list(totals.values()))
    if not np.all(np.isfinite(vals)) or np.ptp(vals) > 1e-9 * max(1.0, np.abs(vals).max()):
        raise DataError("margins do not sum to the same total: "
                        + ", ".join(f"{k!r} {v:g}" for k, v in totals.items()) + ".")
    return float(vals[0])


# ----------------------------------------------------------------------------- methods

def refuse(method: str, **given: Any) -> None:
    """DataError naming the options given that ``method`` does not use."""
    bad = [k for k, v in given.items() if v is not None]
    if bad:
        raise DataError(f"option(s) {', '.join(f'`{b}`' for b in bad)} are not used by "
                        f"method={method!r}; remove them.")



def ipw_weights(X: np.ndarray, names: list[str], r: np.ndarray, link: str,
                cells: np.ndarray | None, by: str | None, stabilize: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    """Inverse response-propensity weights (and the propensities), fitted within ``cells``."""
    p = np.empty(len(r))
    w = np.zeros(len(r))
    groups = [(None, np.ones(len(r), bool))] if cells is None else [
        (k, cells == k) for k in pd.unique(cells)]
    for key, mask in groups:
        rc = r[mask]
        if rc.all() or not rc.any():
            lack = "no non-respondents" if rc.all() else "no respondents"
            raise DesignError(f"cell {by}={key!r} has {lack}; the response model cannot be "
                              "fitted within it.")
        label = "" if key is None else f"{by}={key!r}"
        pc = fit_propensity(X[mask], rc, names, link=link, label=label)
        p[mask] = pc
        rate = rc.mean() if stabilize else 1.0
        w[mask] = np.where(rc, rate / pc, 0.0)
    return w, p


def formula_calibration_weights(X: np.ndarray, names: list[str], r: np.ndarray, calfun: str,
                                bounds: tuple[float, float] | None,
                                base: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Calibrate respondents to the full sample's totals of a formula's columns (and the count).

    With ``base`` the totals are the ``base``-weighted T1 totals and ``base`` the start.
    """
    n = len(r)
    Z = np.column_stack([np.ones(n), X])
    totals = Z.sum(axis=0) if base is None else base @ Z
    fit = calibrate(Z[r], totals, base=None if base is None else base[r], calfun=calfun,
                    bounds=bounds, names=["(total)", *names])
    return fit.weights, float(totals[0])


def calibration_weights(data, covs, r, method, calfun, bounds, margins, base=None):
    """Raking or calibration of the respondents to T1 (or ``margins``) totals of ``covs``.

    With ``base`` (design weights of the whole T1 sample) the T1 totals are ``base``-weighted
    and the respondents' ``base`` weights are the start ``d`` of the kernel.
    """
    N_user = check_margins(margins, covs)
    n = len(r)
    n_eff = float(n) if base is None else float(base.sum())
    N = N_user if N_user is not None else n_eff
    if method == "rake":
        if base is not None:
            return _rake_base(data, covs, r, margins, N, base), N
        return _rake(data, covs, r, margins, N), N
    cols, tots, names = [], [], []
    has_cat = False
    for c in covs:
        s = data[c]
        if is_categorical(s) or (margins is not None and c in margins):
            cd, levels, counts = category_codes(data, c)
            if base is not None:
                counts = np.bincount(cd, weights=base, minlength=len(levels))
            t = margin_targets(c, levels, counts * (N / n_eff), margins)
            for k, lev in enumerate(levels):
                cols.append((cd[r] == k).astype(float))
                tots.append(t[k])
                names.append(f"{c}[{lev}]")
            has_cat = True
        else:
            if s.isna().any():
                raise DataError(f"covariate {c!r} has {int(s.isna().sum())} missing value(s) "
                                "(NaN); drop or impute those rows first.")
            v = s.to_numpy(dtype=float)
            cols.append(v[r])
            mean = v.mean() if base is None else float(base @ v) / n_eff
            tots.append(mean * N)
            names.append(c)
    if not has_cat:
        cols.insert(0, np.ones(int(r.sum())))
        tots.insert(0, N)
        names.insert(0, "(total)")
    X = np.column_stack(cols)
    fit = calibrate(X, np.array(tots), base=None if base is None else base[r], calfun=calfun,
                    bounds=bounds, names=names)
    return fit.weights, N


def _rake_base(data: pd.DataFrame, covs: list[str], r: np.ndarray, margins: dict | None,
               N: float, base: np.ndarray) -> np.ndarray:
    """Raking from the respondents' base weights to the ``base``-weighted T1 counts.

    The kernel collapses the respondents to the cells of the margins' cross-classification
    itself (:func:`sosstats._kernels.calibrate.rake` with ``base``).
    """
    rows = np.flatnonzero(r)
    total = float(base.sum())
    codes_r, targets, counts_r = [], [], []
    for c in covs:
        cd, levels, _ = category_codes(data, c)
        wcounts = np.bincount(cd, weights=base, minlength=len(levels))
        targets.append(margin_targets(c, levels, wcounts * (N / total), margins))
        codes_r.append(cd[rows])
        counts_r.append(np.bincount(cd[rows], minlength=len(levels)))
    _check_respondents(covs, data, counts_r, targets)
    return rake(codes_r, targets, base=base[rows]).weights


def _rake(data: pd.DataFrame, covs: list[str], r: np.ndarray, margins: dict | None,
          N: float) -> np.ndarray:
    """Raking of the respondents to ``covs``' T1 counts (scaled to ``N``) or ``margins``.

    The frame is read once per margin (integer codes and counts), the units' cells of the
    margins' cross-classification are formed in one ``ravel_multi_index`` and gathered once for
    the respondents, and the kernel iterates on the cell totals
    (:func:`sosstats._kernels.calibrate.rake_cells`); very sparse cross-classifications go
    through :func:`~sosstats._kernels.calibrate.rake` unit by unit.
    """
    n = len(r)
    rows = np.flatnonzero(r)
    fast = _integer_cells(data, covs, max(4 * rows.size, 2**16))
    if fast is not None:          # integer codes 0..K-1: counts from one table of cells
        cell_all, sizes, counts_all = fast
        targets = [margin_targets(c, list(range(k)), cnt * (N / n), margins)
                   for c, k, cnt in zip(covs, sizes, counts_all)]
        return _rake_on_cells(covs, data, cell_all[rows], sizes, targets)
    codes, targets, sizes = [], [], []
    for c in covs:
        cd, levels, counts = category_codes(data, c)
        codes.append(cd)
        targets.append(margin_targets(c, levels, counts * (N / n), margins))
        sizes.append(len(levels))
    n_cells = float(np.prod(np.asarray(sizes, dtype=float)))
    if n_cells > max(4 * rows.size, 2**16):           # sparse: rake unit by unit
        codes_r = [cd[rows] for cd in codes]
        _check_respondents(covs, data, [np.bincount(c, minlength=k)
                                        for c, k in zip(codes_r, sizes)], targets)
        return rake(codes_r, targets).weights
    return _rake_on_cells(covs, data, np.ravel_multi_index(codes, sizes)[rows], sizes, targets)


def _margin_sums(cell: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Units per cell and, from that table, units per category of each margin."""
    per_cell = np.bincount(cell, minlength=int(np.prod(sizes)))
    table = per_cell.reshape(sizes)
    axes = range(len(sizes))
    return per_cell, [table.sum(axis=tuple(a for a in axes if a != m)) for m in axes]


def _rake_on_cells(covs: list[str], data: pd.DataFrame, cell_r: np.ndarray, sizes: list[int],
                   targets: list[np.ndarray]) -> np.ndarray:
    per_cell, counts_r = _margin_sums(cell_r, sizes)
    _check_respondents(covs, data, counts_r, targets)
    return rake_cells(cell_r, sizes, targets, cell_totals=per_cell).weights


def _integer_cells(data: pd.DataFrame, covs: list[str], max_cells: int
                   ) -> tuple[np.ndarray, list[int], list[np.ndarray]] | None:
    """Cells and category counts when every margin is a numpy integer column of codes 0..K-1.

    One ``max`` per column, one ``ravel_multi_index`` and one ``bincount`` over the units: the
    category counts are the margins of the cell table. None (the general path) when a column
    is not such a column: another dtype, negative values, a gap in the codes, too many cells.
    """
    codes, sizes = [], []
    for c in covs:
        s = data[c]
        if not (isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu") or len(s) == 0:
            return None
        v = s.to_numpy()
        codes.append(v)
        sizes.append(int(v.max()) + 1)
    if float(np.prod(np.asarray(sizes, dtype=float))) > max_cells:
        return None
    try:
        cell = np.ravel_multi_index(codes, sizes)
    except ValueError:            # negative codes
        return None
    _, counts = _margin_sums(cell, sizes)
    if any((k == 0).any() for k in counts):
        return None
    return cell, sizes, counts


def _check_respondents(covs: list[str], data: pd.DataFrame, counts_r: list[np.ndarray],
                       targets: list[np.ndarray]) -> None:
    """A category the margin needs (positive target) but no respondent is in: a DataError."""
    for c, got, t in zip(covs, counts_r, targets):
        empty = (t > 0) & (got == 0)
        if empty.any():
            _, levels, _ = category_codes(data, c)
            shown = ", ".join(repr(levels[k]) for k in np.flatnonzero(empty)[:5])
            raise DataError(f"covariate {c!r}: no respondent is in categor"
                            f"{'y' if empty.sum() == 1 else 'ies'} {shown}, which "
                            "the margin needs; band the column into coarser categories, "
                            "or use method='calibrate' / 'entropy' for a numeric column.")


# ----------------------------------------------------------------------------- by method

def propensity_weights(data, design, r, method, by, stabilize, base=None):
    cells = None
    if by is not None:
        check_columns(data, by, what="cell column `by`")
        if data[by].isna().any():
            raise DataError(f"cell column {by!r} has missing values.")
        cells = data[by].to_numpy()
    stab = True if stabilize is None else bool(stabilize)
    w, p = ipw_weights(design.X, design.names, r, method, cells, by, stab)
    if base is not None:        # the adjustment multiplies the design weights
        w = w * base
    if stab:
        w = w * ((r.sum() if base is None else base.sum()) / w.sum())
    N = float(len(r)) if base is None else float(base.sum())
    return w, pd.Series(p, index=data.index, name="propensity"), N


def _entropy_targets(design, variances, base=None):
    X = design.X
    keep = np.ptp(X, axis=0) > 0
    names = [nm for nm, k in zip(design.names, keep) if k]
    X = X[:, keep]
    if base is None:
        means = X.mean(axis=0)
    else:
        means = (base @ X) / base.sum()
    if variances is None or variances is False:
        return X, names, means, None
    binary = np.array([np.isin(X[:, j], (0.0, 1.0)).all() for j in range(X.shape[1])])
    if variances is True:
        chosen = ~binary
    else:
        wanted = as_list(variances)
        unknown = [v for v in wanted if v not in names]
        if unknown:
            raise DataError(f"`variances` names {', '.join(map(repr, unknown))}, which are not "
                            f"numeric covariate columns ({', '.join(map(repr, names))}).")
        chosen = np.isin(names, wanted)
        if (chosen & binary).any():
            raise DataError("`variances` names binary column(s) "
                            f"{', '.join(repr(n) for n, c in zip(names, chosen & binary) if c)}"
                            ", whose variance is fixed by the mean.")
    if not chosen.any():
        raise DataError("`variances=True` but no covariate is numeric and non-binary.")
    var = X.var(axis=0) if base is None else (base @ (X - means) ** 2) / base.sum()
    return X, names, means, np.where(chosen, var, np.nan)


def balancing_weights(data, design, r, method, margins, calfun, bounds, variances,
                      base=None):
    """Entropy, raking or calibration weights; with ``base`` on the base weights' scale.

    Without ``base`` the respondents' weights are scaled to sum to their number; with it they
    are ``d g`` and meet the ``base``-weighted T1 totals (or ``margins``) themselves.
    """
    N = float(len(r)) if base is None else float(base.sum())
    if method == "entropy":
        refuse(method, margins=margins, calfun=calfun, bounds=bounds)
        X, names, means, target_vars = _entropy_targets(design, variances, base)
        w_r = entropy_balance(X[r], means, target_vars=target_vars,
                              base=None if base is None else base[r], names=names).weights
    else:
        if method == "rake":
            if calfun not in (None, "raking"):
                raise DataError(f"method='rake' uses calfun='raking'; got calfun={calfun!r} "
                                "(use method='calibrate').")
            refuse(method, bounds=bounds)
        elif calfun is not None:
            check_option(calfun, CALFUNS, "calfun")
        if design.formula is not None and method == "calibrate":
            if margins is not None:
                raise DataError("`margins` need `covariates=` (one margin per column), not a "
                                "formula.")
            w_r, N = formula_calibration_weights(design.X, design.names, r,
                                                 calfun or "linear", bounds, base)
        else:
            covs = additive_variables(design) if method == "rake" else design.variables
            w_r, N = calibration_weights(data, covs, r, method, calfun or "linear", bounds,
                                         margins, base)
    w_r = np.asarray(w_r, dtype=float)
    rows = np.flatnonzero(r)
    w = np.zeros(len(r))
    w[rows] = w_r              # positions, not a boolean mask: a third of the time at 1e6 rows
    if base is None:
        w *= rows.size / w_r.sum()
    elif method == "entropy":  # entropy weights sum to n_r: back to the base weights' total
        w *= N / w_r.sum()
    return w, N

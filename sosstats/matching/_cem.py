r"""Coarsened exact matching and propensity-score subclassification (MatchIt conventions).

Both methods end in subclasses; :func:`sosstats.matching._inputs.subclass_weights` turns them
into MatchIt's weights.

Notes
-----
**Coarsened exact matching** (Iacus, King and Porro 2012). Each numeric covariate is cut into
bins and every other covariate (categories, strings, booleans) is kept as it is; units are
stratified on the full cross of the coarsened values and strata lacking either group are
dropped. Bins follow MatchIt 4's ``cutpoints``: a number of bins :math:`k` gives :math:`k`
equal-width bins between the minimum and the maximum (the outer edges open); ``"sturges"`` (the
default) uses :math:`k = \lceil \log_2 n + 1 \rceil`, ``"scott"``
:math:`k = \lceil \mathrm{range} / (3.5\, s\, n^{-1/3}) \rceil`, ``"fd"``
:math:`k = \lceil \mathrm{range} / (2\, \mathrm{IQR}\, n^{-1/3}) \rceil`, ``"q4"`` cuts at the
quartiles (any ``"qK"``); a sequence of numbers gives the interior cut points. A value equal to
a cut point goes to the bin above it (bins are closed on the left). ``0`` bins keeps a numeric
covariate exact and ``1`` bin ignores it.

**Subclassification** (Rosenbaum and Rubin 1984). Cut points are the :math:`0, 1/K, \ldots, 1`
quantiles (type 7) of the score among the treated (ATT), the controls (ATC) or everyone (ATE);
each unit falls in the interval containing its score, values outside the range joining the end
intervals. A subclass lacking a treated or a control unit borrows the nearest unit of that
group from a neighbouring subclass, on the side with more to spare (MatchIt's
``subclass_scoot``), so every subclass has both groups.

**Weights** (MatchIt's ``weights.subclass``). With :math:`n_{1s}, n_{0s}` the treated and
control units of subclass :math:`s`: for the ATT treated units get 1 and controls
:math:`n_{1s}/n_{0s}`; for the ATC controls get 1 and treated :math:`n_{0s}/n_{1s}`; for the
ATE treated get :math:`(n_{1s}+n_{0s})/n_{1s}` and controls :math:`(n_{1s}+n_{0s})/n_{0s}`. The
weights of each group not fixed at 1 are then rescaled to sum to its number of matched units.
Units outside every subclass get 0.

References
----------
Iacus, S. M., King, G. and Porro, G. (2012). Causal inference without balance checking:
coarsened exact matching. *Political Analysis* 20(1), 1-24.

Rosenbaum, P. R. and Rubin, D. B. (1984). Reducing bias in observational studies using
subclassification on the propensity score. *JASA* 79(387), 516-524.

MatchIt 4.5 reference manual: ``method_cem``, ``method_subclass``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sosstats.errors import DataError, DesignError, SosstatsWarning

__all__ = ["cem_strata", "subclassify", "n_bins"]


def n_bins(x: np.ndarray, rule: str) -> int:
    """Count equal-width bins for ``x`` by ``rule`` ("sturges", "scott" or "fd")."""
    n = x.shape[0]
    if rule == "sturges":
        return int(np.ceil(np.log2(n) + 1))
    span = float(np.ptp(x))
    if rule == "scott":
        h = 3.5 * np.std(x, ddof=1) * n ** (-1 / 3)
    else:  # "fd", with R's fallback to wider quantile ranges when the IQR is 0
        q = np.quantile(x, [0.25, 0.75])
        h, al = 2 * (q[1] - q[0]), 0.25
        while h == 0 and (al := al / 2) >= 1 / 512:
            q = np.quantile(x, [al, 1 - al])
            h = 2 * (q[1] - q[0]) / (1 - 2 * al)
        h *= n ** (-1 / 3)
    return max(1, int(np.ceil(span / h))) if h > 0 else 1


def _breaks(x: np.ndarray, spec: Any, column: str) -> np.ndarray | None:
    """Interior cut points for ``x`` (None: keep exact; empty: one bin)."""
    if isinstance(spec, str):
        rule = spec.lower()
        m = re.fullmatch(r"q(\d+)", rule)
        if m:
            k = int(m.group(1))
            if k < 1:
                raise DataError(f"`cutpoints` for {column!r}: {spec!r} needs at least 1 bin.")
            return np.quantile(x, np.arange(1, k) / k)
        if rule not in ("sturges", "scott", "fd"):
            raise DataError(f"`cutpoints` for {column!r} must be a number of bins, a list of cut "
                            "points, 'sturges', 'scott', 'fd' or 'qK' (K quantile bins); got "
                            f"{spec!r}.")
        spec = n_bins(x, rule)
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if spec < 0:
            raise DataError(f"`cutpoints` for {column!r} must be at least 0; got {spec}.")
        if spec == 0:
            return None
        return np.linspace(x.min(), x.max(), int(spec) + 1)[1:-1]
    try:
        cuts = np.unique(np.asarray(spec, dtype=float).reshape(-1))
    except (TypeError, ValueError) as exc:
        raise DataError(f"`cutpoints` for {column!r} must be a number of bins, a list of cut "
                        f"points or a rule name; got {spec!r}.") from exc
    if not np.isfinite(cuts).all():
        raise DataError(f"`cutpoints` for {column!r} must be finite.")
    return cuts


def cem_strata(data: pd.DataFrame, covariates: list[str], treat: np.ndarray,
               cutpoints: Any = None) -> np.ndarray:
    """CEM subclass of every row (1, 2, ...; 0 where the stratum lacks a group).

    Parameters
    ----------
    data : DataFrame
        Covariates without missing values.
    covariates : list of str
        Columns to coarsen (numeric) or match exactly (everything else).
    treat : ndarray of 0/1
    cutpoints : None, str, int or mapping
        One rule for every numeric covariate, or a mapping from column to rule (columns left out
        use ``"sturges"``); see the module Notes.

    Raises
    ------
    DataError
        A ``cutpoints`` entry for an unknown column or of an unknown form.
    DesignError
        No stratum holds both a treated and a control unit.
    """
    if isinstance(cutpoints, Mapping):
        unknown = [c for c in cutpoints if c not in covariates]
        if unknown:
            raise DataError(f"`cutpoints` names {', '.join(map(repr, unknown))}, not among the "
                            f"covariates {covariates}.")
        rules = {c: cutpoints.get(c, "sturges") for c in covariates}
    else:
        rules = {c: "sturges" if cutpoints is None else cutpoints for c in covariates}
    codes = []
    for col in covariates:
        s = data[col]
        numeric = (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
                   and not isinstance(s.dtype, pd.CategoricalDtype))
        if numeric:
            x = s.to_numpy(dtype=float)
            cuts = _breaks(x, rules[col], col)
            codes.append(np.searchsorted(cuts, x, side="right") if cuts is not None
                         else pd.factorize(x)[0])
        else:
            codes.append(pd.factorize(s.astype(object), use_na_sentinel=False)[0])
    if not codes:
        raise DataError("`covariates` is empty; CEM needs at least one covariate.")
    key = pd.DataFrame(np.column_stack(codes)).groupby(list(range(len(codes)))).ngroup()
    key = key.to_numpy()
    has_t = np.bincount(key, weights=treat == 1, minlength=key.max() + 1) > 0
    has_c = np.bincount(key, weights=treat == 0, minlength=key.max() + 1) > 0
    both = has_t & has_c
    if not both.any():
        raise DesignError("coarsened exact matching found no stratum with both treated and "
                          "control units; coarsen further (`cutpoints`) or use fewer "
                          "covariates.")
    kept = both[key]
    # number strata 1, 2, ... by first appearance in the data
    _, first = np.unique(key[kept], return_index=True)
    order = np.argsort(first, kind="stable")
    label = np.zeros(key.max() + 1, dtype=int)
    label[np.unique(key[kept])[order]] = np.arange(1, order.size + 1)
    return np.where(kept, label[key], 0)


def _scoot(sub: np.ndarray, treat: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Move units between neighbouring subclasses until each has both groups (module Notes)."""
    levels = np.unique(sub)
    nsub = levels.size
    sub = np.searchsorted(levels, sub)  # 0 .. nsub-1
    groups = pd.unique(treat)
    for g in groups:
        if (treat == g).sum() < nsub:
            raise DesignError(f"not enough {'treated' if g == 1 else 'control'} units to put "
                              "one in each subclass; ask for fewer subclasses (`subclass`).")
    for g in groups:
        if (treat == g).sum() == nsub:
            sub[treat == g] = np.arange(nsub)
    for g in groups:
        in_g = treat == g
        tab = np.bincount(sub[in_g], minlength=nsub)
        while (tab == 0).any():
            f = int(np.flatnonzero(tab == 0)[0])
            left = np.arange(f)
            right = np.arange(f + 1, nsub)
            spare_left = np.sum(np.maximum(tab[left] - 1, 0) / np.abs(f - left))
            spare_right = np.sum(np.maximum(tab[right] - 1, 0) / np.abs(f - right))
            if f == nsub - 1 or (f != 0 and spare_left >= spare_right):
                src = int(left[tab[left] > 0].max())
                cand = np.flatnonzero(in_g & (sub == src))
                move = cand[np.argmax(x[cand])]
            else:
                src = int(right[tab[right] > 0].min())
                cand = np.flatnonzero(in_g & (sub == src))
                move = cand[np.argmin(x[cand])]
            sub[move] = f
            tab[f] += 1
            tab[src] -= 1
    return sub + 1


def subclassify(score: np.ndarray, treat: np.ndarray, keep: np.ndarray, n_subclasses: Any,
                estimand: str) -> tuple[np.ndarray, np.ndarray]:
    """Propensity subclass of every row (1..K; 0 where discarded) and the quantile cut points.

    ``n_subclasses`` is a number of subclasses (at least 2) or a sequence of quantiles in
    [0, 1] (0 and 1 are added).
    """
    if isinstance(n_subclasses, Sequence) and not isinstance(n_subclasses, str):
        probs = np.unique(np.asarray(n_subclasses, dtype=float))
        if probs.size == 0 or probs.min() < 0 or probs.max() > 1:
            raise DataError("`subclass` quantiles must lie in [0, 1]; got "
                            f"{list(n_subclasses)}.")
        probs = np.unique(np.concatenate([[0.0], probs, [1.0]]))
    else:
        if isinstance(n_subclasses, bool) or not isinstance(n_subclasses, (int, np.integer)):
            raise DataError(f"`subclass` must be an integer >= 2 or a list of quantiles; got "
                            f"{n_subclasses!r}.")
        if n_subclasses < 2:
            raise DesignError(f"`subclass` must be at least 2; got {n_subclasses}.")
        probs = np.linspace(0, 1, int(n_subclasses) + 1)
    ref = {"ATT": treat == 1, "ATC": treat == 0}.get(estimand, np.ones_like(keep))
    q = np.quantile(score[ref], probs)
    inner = np.searchsorted(q, score[keep], side="right")
    sub_k = np.clip(inner, 1, q.size - 1)
    if np.unique(sub_k).size < q.size - 1:
        warnings.warn("ties in the distance produced fewer subclasses than requested.",
                      SosstatsWarning, stacklevel=3)
    tk = treat[keep]
    counts = pd.crosstab(tk, sub_k)
    if counts.shape[0] < 2 or (counts.to_numpy() < 1).any():
        sub_k = _scoot(sub_k, tk, score[keep])
    else:
        sub_k = np.searchsorted(np.unique(sub_k), sub_k) + 1
    out = np.zeros(score.shape[0], dtype=int)
    out[keep] = sub_k
    return out, q

"""Grouping levels of a multilevel model: integer codes, nesting, multiple membership.

A level is either a column of the data (each row belongs to one group), the ``repeated`` unit
column (a random intercept per family for long T1/T2 data), or the grouping column of a
``membership`` table (each unit belongs to several groups with weights summing to one, as in
MLwiN's multiple-membership models and brms' ``mm()``). Pure numpy / pandas.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sosstats._validate import check_columns, check_frame
from sosstats.errors import DataError, DesignError, SosstatsWarning

__all__ = ["Level", "factor_codes", "membership_level", "column_level", "check_nesting"]


@dataclass(frozen=True, eq=False)
class Level:
    """One grouping level.

    Attributes
    ----------
    name : str
        Column name (the posterior names ``sigma_<name>``, ``z_<name>``, ``u_<name>``).
    kind : str
        ``"group"`` (a data column), ``"repeated"`` (the unit of repeated measures) or
        ``"membership"`` (multiple membership).
    labels : numpy.ndarray
        Group labels as strings, sorted by the column's values (numbers numerically).
    codes : numpy.ndarray or None
        Group code of each data row (``group`` and ``repeated`` levels).
    mm_index, mm_weight : numpy.ndarray or None
        Membership levels: ``(n_units, K)`` group codes and weights, padded with weight 0
        (``K`` is the largest number of groups of one unit).
    row_unit : numpy.ndarray or None
        Membership levels: the unit code of each data row (with ``wave``, the code of its
        unit x wave pair: rows of ``mm_index`` are then unit x wave pairs).
    wave : str or None
        Membership levels: the wave column of wave-specific memberships (None when a unit's
        groups are the same at every wave).
    pair_unit : numpy.ndarray or None
        Wave-specific membership levels: the unit code of each row of ``mm_index`` (each
        unit x wave pair).
    """

    name: str
    kind: str
    labels: np.ndarray
    codes: np.ndarray | None = None
    mm_index: np.ndarray | None = None
    mm_weight: np.ndarray | None = None
    row_unit: np.ndarray | None = None
    wave: str | None = None
    pair_unit: np.ndarray | None = None

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return int(self.labels.size)

    def row_membership(self) -> tuple[np.ndarray, np.ndarray]:
        """``(index, weight)`` arrays of shape ``(n_rows, K)``: each row's groups and weights."""
        if self.kind == "membership":
            return self.mm_index[self.row_unit], self.mm_weight[self.row_unit]
        return self.codes[:, None], np.ones((self.codes.size, 1))

    def group_size(self) -> np.ndarray:
        """Rows per group (for a membership level, the sum of the rows' weights)."""
        idx, w = self.row_membership()
        return np.bincount(idx.ravel(), weights=w.ravel(), minlength=self.n_groups)

    def mean_sum_sq_weights(self) -> float:
        """Mean over units (unit x wave pairs) of ``sum_j w_j**2`` (1 when not membership)."""
        if self.kind != "membership":
            return 1.0
        return float(np.mean(np.sum(self.mm_weight ** 2, axis=1)))


    def mean_shared_weights(self) -> float:
        r"""Mean weight two rows of one unit at different waves share at this level.

        For wave-specific memberships, the covariance of the level's effects on the rows of
        unit :math:`i` at waves :math:`t \ne t'` is :math:`\sigma^2 \sum_j w_{itj} w_{it'j}`;
        this is its mean over pairs of waves within units, then over units with at least two
        waves (``nan`` when none has). Otherwise the rows share all their groups:
        :meth:`mean_sum_sq_weights` (1 when not membership).
        """
        if self.kind != "membership" or self.pair_unit is None:
            return self.mean_sum_sq_weights()
        from scipy import sparse

        n_units = int(self.pair_unit.max()) + 1 if self.pair_unit.size else 0
        # (units x groups) summed weights, sparse: a census has 10^5-10^6 units x 10^4 groups
        per_unit = sparse.coo_matrix(
            (self.mm_weight.ravel(), (np.repeat(self.pair_unit, self.mm_index.shape[1]),
                                      self.mm_index.ravel())),
            shape=(n_units, self.n_groups)).tocsr()
        sq = np.bincount(self.pair_unit, weights=np.sum(self.mm_weight ** 2, axis=1),
                         minlength=n_units)
        n_w = np.bincount(self.pair_unit, minlength=n_units)
        ok = n_w >= 2
        if not ok.any():
            return float("nan")
        total_sq = np.asarray(per_unit.multiply(per_unit).sum(axis=1)).ravel()
        cross = (total_sq - sq)[ok] / (n_w * (n_w - 1))[ok]
        return float(np.mean(cross))


def factor_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and sorted string labels of a column (categorical: category order)."""
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64), np.asarray([str(u) for u in uniques], dtype=object)


def _single_group(name: str, n_groups: int) -> None:
    if n_groups < 2:
        raise DesignError(f"level {name!r} has {n_groups} group; a random effect needs at least "
                          "two groups (drop the level or use a fixed effect).")


def column_level(frame: pd.DataFrame, name: str, kind: str = "group") -> Level:
    """Level from a data column: codes per row, labels sorted; one group is a DesignError."""
    if frame[name].isna().any():
        raise DataError(f"level column {name!r} has {int(frame[name].isna().sum())} missing "
                        "value(s); every row needs a group.")
    codes, labels = factor_codes(frame[name])
    _single_group(name, labels.size)
    return Level(name, kind, labels, codes=codes)


def _shown(values: np.ndarray, limit: int = 10) -> str:
    """Up to ``limit`` values, comma separated, with ``...`` when there are more."""
    return f"{', '.join(map(str, values[:limit]))}{' ...' if values.size > limit else ''}"


def membership_level(membership: pd.DataFrame, *, name: str, unit: str, weight: str,
                     data_units: pd.Series, kept_units: pd.Series,
                     membership_weights: str = "normalise", wave: str | None = None,
                     data_waves: pd.Series | None = None,
                     kept_waves: pd.Series | None = None) -> Level:
    r"""Multiple-membership level from a long ``(unit, group, weight[, wave])`` table.

    Parameters
    ----------
    membership : pandas.DataFrame
        One row per unit x group (x wave) with columns ``unit``, ``name`` and ``weight``
        (and ``wave`` for wave-specific memberships).
    name, unit, weight : str
        Grouping column (also in ``levels``), unit ID column (also in the data), weight column.
    data_units : pandas.Series
        Unit IDs of every row of the data as given (before rows with a missing outcome are
        dropped): membership units not among them are an error.
    kept_units : pandas.Series
        Unit IDs of the rows used in the fit, in row order.
    membership_weights : {"normalise", "strict"}
        Weights that do not sum to one per unit (per unit x wave) are rescaled with a
        warning, or raise.
    wave : str, optional
        Wave column of ``membership`` and of the data (wave-specific multiple membership):
        a data row at wave :math:`t` of unit :math:`i` takes the groups and weights of the
        membership rows of ``(i, t)``, so a family's worker set may change between waves.
        The "units" of the level are then the unit x wave pairs of the data.
    data_waves, kept_waves : pandas.Series, optional
        With ``wave``: the wave of every data row as given, and of the rows used in the fit.
        Membership rows of a unit x wave pair with no row in the fit (a wave at which the
        family was not interviewed) are ignored; wave values that appear nowhere in the data
        are an error.

    Raises
    ------
    DataError
        Missing columns or values, negative or non-finite weights, a repeated unit x group
        (x wave) row, units in ``membership`` that are not in the data (named), wave values
        that are not in the data's wave column (named), units (unit x wave pairs) of the data
        with no membership row (named), weights summing to zero, or (``"strict"``) weights
        that do not sum to one.
    DesignError
        Fewer than two groups among the units used.

    Notes
    -----
    With :math:`w_{itj}` the weight of group :math:`j` for unit :math:`i` at wave :math:`t`,
    normalised to :math:`\sum_j w_{itj} = 1` within each unit x wave, the level adds
    :math:`\sum_j w_{itj} u_j` to the linear predictor of the row of unit :math:`i` at wave
    :math:`t` (Browne, Goldstein & Rasbash 2001, with memberships indexed by occasion).
    """
    membership = check_frame(membership, "membership")
    key_cols = [unit] if wave is None else [unit, wave]
    check_columns(membership, [*key_cols, name, weight], name="membership")
    for col in (*key_cols, name, weight):
        if membership[col].isna().any():
            raise DataError(f"`membership` column {col!r} has missing values.")
    w = membership[weight]
    if not pd.api.types.is_numeric_dtype(w) or pd.api.types.is_bool_dtype(w):
        raise DataError(f"`membership` weight column {weight!r} must be numeric.")
    w = w.to_numpy(dtype=float)
    if not np.isfinite(w).all() or (w < 0).any():
        raise DataError(f"`membership` weight column {weight!r} must be finite and "
                        "non-negative.")
    dup = membership.duplicated([*key_cols, name], keep=False)
    if dup.any():
        pairs = membership.loc[dup, [*key_cols, name]].drop_duplicates().head(5)
        shown = ", ".join("(" + ", ".join(map(repr, row)) + ")"
                          for row in pairs.itertuples(index=False))
        what = "pairs" if wave is None else "rows"
        raise DataError(f"`membership` repeats {' x '.join([*key_cols, name])} {what}: {shown}; "
                        f"give each {what[:-1]} once.")
    known = pd.Index(pd.unique(data_units))
    unknown = ~membership[unit].isin(known).to_numpy()
    if unknown.any():
        names = pd.unique(membership[unit].to_numpy()[unknown])
        raise DataError(f"`membership` has {names.size} {unit} value(s) that are not in `data`: "
                        f"{_shown(names)}.")
    if wave is None:
        unit_codes, unit_labels = pd.factorize(kept_units, sort=True)
        mm_key = membership[unit].to_numpy()
        key_text = unit
        pair_unit = None
    else:
        data_wave_values = pd.Index(pd.unique(np.asarray(data_waves, dtype=object)))
        mm_wave = data_wave_values.get_indexer(np.asarray(membership[wave], dtype=object))
        if (mm_wave < 0).any():
            bad = pd.unique(np.asarray(membership[wave], dtype=object)[mm_wave < 0])
            raise DataError(f"`membership` wave column {wave!r} has {bad.size} value(s) that "
                            f"are not in `data`'s {wave!r} column: "
                            f"{', '.join(map(repr, bad[:10]))}; the data's waves are "
                            f"{', '.join(map(repr, data_wave_values[:10]))}.")
        kept_wave = data_wave_values.get_indexer(np.asarray(kept_waves, dtype=object))
        kept_key = pd.MultiIndex.from_arrays([np.asarray(kept_units), kept_wave])
        unit_codes, unit_labels = kept_key.factorize(sort=True)
        pair_unit = pd.factorize(unit_labels.get_level_values(0), sort=True)[0]
        mm_key = pd.MultiIndex.from_arrays([membership[unit].to_numpy(), mm_wave])
        key_text = f"{unit} x {wave}"
    mm_all = unit_labels.get_indexer(mm_key)
    keep = mm_all >= 0
    mm_unit = mm_all[keep]
    have = np.bincount(mm_unit, minlength=unit_labels.size) > 0
    if not have.all():
        missing = unit_labels[~have]
        if wave is not None:
            missing = pd.Index([f"({u}, {data_wave_values[t]})" for u, t in missing[:11]])
        raise DataError(f"{int((~have).sum())} {key_text} value(s) of `data` have no row in "
                        f"`membership`: {_shown(np.asarray(missing))}.")
    group_codes, labels = factor_codes(membership[name][keep])
    _single_group(name, labels.size)
    w = w[keep]
    totals = np.bincount(mm_unit, weights=w, minlength=unit_labels.size)

    def unit_text(i: np.ndarray) -> list[str]:
        if wave is None:
            return [str(u) for u in unit_labels[i]]
        return [f"({u}, {data_wave_values[t]})" for u, t in unit_labels[i]]

    if (totals <= 0).any():
        zero = np.flatnonzero(totals <= 0)
        raise DataError(f"membership weights sum to zero for {key_text} "
                        f"{', '.join(unit_text(zero[:10]))}.")
    off = np.abs(totals - 1.0) > 1e-6
    if off.any():
        idx = np.flatnonzero(off)[:5]
        shown = ", ".join(f"{u} ({t:.3g})" for u, t in zip(unit_text(idx), totals[idx]))
        if membership_weights == "strict":
            raise DataError(f"membership weights must sum to 1 for each {key_text}; they do "
                            f"not for {int(off.sum())} unit(s): {shown}.")
        warnings.warn(f"membership weights do not sum to 1 for {int(off.sum())} {key_text} "
                      f"value(s) ({shown}); rescaled to sum to 1. Pass "
                      "membership_weights='strict' to make this an error.",
                      SosstatsWarning, stacklevel=4)
    w = w / totals[mm_unit]
    order = np.lexsort((group_codes, mm_unit))
    mm_unit, group_codes, w = mm_unit[order], group_codes[order], w[order]
    counts = np.bincount(mm_unit, minlength=unit_labels.size)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(mm_unit.size) - starts[mm_unit]
    width = int(counts.max())
    mm_index = np.zeros((unit_labels.size, width), dtype=np.int64)
    mm_weight = np.zeros((unit_labels.size, width))
    mm_index[mm_unit, slot] = group_codes
    mm_weight[mm_unit, slot] = w
    return Level(name, "membership", labels, mm_index=mm_index, mm_weight=mm_weight,
                 row_unit=np.asarray(unit_codes, dtype=np.int64), wave=wave,
                 pair_unit=None if pair_unit is None else np.asarray(pair_unit, dtype=np.int64))


def check_nesting(levels: list[Level], *, cross_classified: bool) -> None:
    """Check that each column level is nested in the one listed before it.

    Levels are listed from highest to lowest; a lower-level group found in two higher-level
    groups (a worker in two pilots) raises :class:`DataError` naming it, unless
    ``cross_classified``. Membership levels are not checked: they are treated as crossed with
    the other levels.
    """
    if cross_classified:
        return
    chain = [lev for lev in levels if lev.kind != "membership"]
    for upper, lower in zip(chain[:-1], chain[1:]):
        pairs = np.unique(np.column_stack([lower.codes, upper.codes]), axis=0)
        n_upper = np.bincount(pairs[:, 0], minlength=lower.n_groups)
        bad = np.flatnonzero(n_upper > 1)
        if bad.size:
            first = bad[0]
            where = upper.labels[pairs[pairs[:, 0] == first, 1]]
            raise DataError(
                f"levels are not nested: {lower.name} {lower.labels[first]} appears in more than "
                f"one {upper.name} ({', '.join(map(str, where[:5]))})"
                f"{f' and {bad.size - 1} other {lower.name} value(s) too' if bad.size > 1 else ''}"
                f". List `levels` from highest to lowest with unique IDs at each level, or pass "
                "cross_classified=True to treat the levels as crossed.")

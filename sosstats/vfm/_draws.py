r"""Draws of costs and effects per option: reading them, and the CEA result made from them.

:func:`sosstats.vfm.cea` with ``draws=`` and :func:`sosstats.vfm.evppi` read draws here. Three
shapes are accepted (names of the cost and effect variables and of the option dimension are
those of ``cost=``, ``effect=`` and ``group=``; defaults ``"cost"``, ``"effect"``,
``"option"``):

* an ArviZ ``InferenceData`` (its ``posterior`` group) or an ``xarray.Dataset`` (e.g.
  ``idata.posterior_predictive``) with variables ``cost`` and ``effect`` of dims
  ``(chain, draw, option)`` (``chain`` may be absent); the option labels are the ``option``
  coordinate, and draws are taken chain by chain (chain 0's draws first), as ArviZ stacks them;
* a long frame: one row per draw and option, columns ``draw`` (``draw_id=``: a column or a list
  of columns, e.g. ``["chain", "draw"]``), ``option``, ``cost``, ``effect``; draws in the order
  their ids first appear;
* a wide frame with two column levels ``(quantity, option)``, quantity ``cost`` or ``effect``:
  one row per draw (the layout of :attr:`sosstats.vfm.CEAResult.replicates`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats.errors import DataError, DesignError
from sosstats.vfm.cea_result import CEAResult

__all__ = ["Draws", "DrawsCEAResult", "is_dataset", "read_draws", "dataset_columns"]


@dataclass(frozen=True)
class Draws:
    """Draws read by :func:`read_draws`: ``cost`` and ``effect`` are ``(S, G)``."""

    cost: np.ndarray
    effect: np.ndarray
    options: list[Any]
    source: str


def _plain(value: Any) -> Any:
    """Return a numpy scalar as a Python one (messages read ``3``, not ``np.int64(3)``)."""
    return value.item() if isinstance(value, np.generic) else value


def is_dataset(obj: Any) -> bool:
    """Whether ``obj`` is an ArviZ InferenceData (with ``posterior``) or an xarray Dataset."""
    return not isinstance(obj, pd.DataFrame) and (
        hasattr(obj, "posterior") or (hasattr(obj, "data_vars") and hasattr(obj, "dims")))


def _dataset(obj: Any) -> tuple[Any, str]:
    if hasattr(obj, "posterior") and not hasattr(obj, "data_vars"):
        return obj.posterior, "InferenceData posterior"
    return obj, "xarray Dataset"


def _sample_dims(var: Any, name: str, extra: tuple[str, ...]) -> list[str]:
    sample = [d for d in ("chain", "draw") if d in var.dims]
    if "draw" not in sample:
        raise DataError(f"variable {name!r} of `draws` has dims {tuple(var.dims)}; it needs a "
                        "'draw' dimension (and optionally 'chain').")
    other = [d for d in var.dims if d not in sample and d not in extra]
    if other:
        raise DataError(f"variable {name!r} of `draws` has dims {tuple(var.dims)}: besides "
                        f"'chain' and 'draw' only {list(extra) or 'none'} is allowed; select "
                        f"or average over {other} first.")
    return sample


def _from_dataset(obj: Any, cost: str, effect: str, option: str) -> Draws:
    ds, source = _dataset(obj)
    names = list(ds.data_vars)
    missing = [v for v in (cost, effect) if v not in names]
    if missing:
        raise DataError(f"`draws` has no variable(s) {missing}; its variables are "
                        f"{names[:20]} (name them with cost= and effect=).")
    arrays, labels = [], []
    for name in (cost, effect):
        var = ds[name]
        if option not in var.dims:
            raise DataError(f"variable {name!r} of `draws` has dims {tuple(var.dims)} and no "
                            f"option dimension {option!r}; name it with group=.")
        sample = _sample_dims(var, name, (option,))
        labels.append([v.item() if isinstance(v, np.generic) else v
                       for v in np.asarray(var[option].values)])
        arrays.append(var.transpose(*sample, option))
    if set(map(repr, labels[0])) != set(map(repr, labels[1])) or len(labels[0]) != len(labels[1]):
        raise DataError(f"draws with mismatched options: {cost!r} has options {labels[0]} and "
                        f"{effect!r} has {labels[1]}.")
    eff = arrays[1].sel({option: labels[0]})
    c = np.asarray(arrays[0].values, dtype=float).reshape(-1, len(labels[0]))
    e = np.asarray(eff.values, dtype=float).reshape(-1, len(labels[0]))
    if c.shape != e.shape:
        raise DataError(f"variables {cost!r} and {effect!r} of `draws` have different numbers "
                        f"of draws ({c.shape[0]} and {e.shape[0]}).")
    return Draws(c, e, labels[0], source)


def _numeric(frame: pd.DataFrame, column: Any, label: str) -> np.ndarray:
    col = frame[column]
    if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
        raise DataError(f"{label} of `draws` must be numeric; got {col.dtype}.")
    return col.to_numpy(dtype=float)


def _from_wide(frame: pd.DataFrame, cost: str, effect: str) -> Draws:
    cols = frame.columns
    if cols.nlevels != 2:
        raise DataError("a wide `draws` frame needs two column levels (quantity, option); "
                        f"it has {cols.nlevels}.")
    top = list(pd.unique(cols.get_level_values(0)))
    missing = [q for q in (cost, effect) if q not in top]
    if missing:
        raise DataError(f"a wide `draws` frame has no {missing} columns; its quantities are "
                        f"{top[:20]} (name them with cost= and effect=).")
    sub_c, sub_e = frame[cost], frame[effect]
    oc, oe = list(sub_c.columns), list(sub_e.columns)
    if set(map(repr, oc)) != set(map(repr, oe)) or len(oc) != len(oe):
        raise DataError(f"draws with mismatched options: {cost!r} has options {oc} and "
                        f"{effect!r} has {oe}.")
    c = np.column_stack([_numeric(sub_c, o, f"column ({cost!r}, {o!r})") for o in oc])
    e = np.column_stack([_numeric(sub_e, o, f"column ({effect!r}, {o!r})") for o in oc])
    return Draws(c, e, [o.item() if isinstance(o, np.generic) else o for o in oc],
                 "draws frame (wide)")


def _from_long(frame: pd.DataFrame, cost: str, effect: str, option: str,
               draw_id: str | list[str]) -> Draws:
    ids = [draw_id] if isinstance(draw_id, str) else list(draw_id)
    need = ids + [option, cost, effect]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise DataError(f"column(s) {missing} not found in `draws`; a long draws frame needs "
                        f"{need} (draw id, option, cost, effect: name them with draw_id=, "
                        f"group=, cost=, effect=); its columns are {list(frame.columns[:20])}.")
    if len(set(need)) != len(need):
        raise DataError(f"the draw id, option, cost and effect columns must differ; got {need}.")
    for col in ids + [option]:
        if frame[col].isna().any():
            raise DataError(f"column {col!r} of `draws` has {int(frame[col].isna().sum())} "
                            "missing label(s).")
    c = _numeric(frame, cost, f"column {cost!r}")
    e = _numeric(frame, effect, f"column {effect!r}")
    key = (frame[ids[0]] if len(ids) == 1
           else pd.MultiIndex.from_frame(frame[ids]).to_flat_index().to_series(index=frame.index))
    dcode, dlabels = pd.factorize(key, sort=False)
    ocode, olabels = pd.factorize(frame[option], sort=False)
    n_d, n_o = len(dlabels), len(olabels)
    cell = dcode * n_o + ocode
    counts = np.bincount(cell, minlength=n_d * n_o).reshape(n_d, n_o)
    if (counts > 1).any():
        d, o = np.argwhere(counts > 1)[0]
        raise DataError(f"`draws` has {int((counts > 1).sum())} duplicated (draw, option) "
                        f"pair(s), e.g. draw {_plain(dlabels[d])!r} option "
                        f"{_plain(olabels[o])!r}: one row per draw and option.")
    if (counts == 0).any():
        gaps = np.argwhere(counts == 0)
        shown = ", ".join(f"draw {_plain(dlabels[d])!r} lacks {_plain(olabels[o])!r}"
                          for d, o in gaps[:5])
        raise DataError(f"draws with mismatched options: every draw needs a row for every "
                        f"option ({[_plain(o) for o in olabels]}); {len(gaps)} (draw, option) "
                        f"pair(s) are missing ({shown}).")
    cm = np.empty((n_d, n_o))
    em = np.empty((n_d, n_o))
    cm[dcode, ocode] = c
    em[dcode, ocode] = e
    labels = [v.item() if isinstance(v, np.generic) else v for v in olabels]
    return Draws(cm, em, labels, "draws frame (long)")


def read_draws(draws: Any, *, cost: str = "cost", effect: str = "effect",
               option: str = "option", draw_id: str | list[str] = "draw") -> Draws:
    """Read draws of each option's mean cost and effect (see the module docstring).

    Raises
    ------
    DataError
        Not one of the three shapes, missing variables or columns, mismatched options between
        cost and effect (or a draw without every option), duplicated (draw, option) rows,
        non-numeric or non-finite draws.
    DesignError
        Fewer than two draws or two options.
    """
    if is_dataset(draws):
        out = _from_dataset(draws, cost, effect, option)
    elif isinstance(draws, pd.DataFrame):
        if draws.shape[0] == 0:
            raise DataError("`draws` has no rows.")
        out = (_from_wide(draws, cost, effect) if draws.columns.nlevels > 1
               else _from_long(draws, cost, effect, option, draw_id))
    else:
        raise DataError("`draws` must be an arviz.InferenceData, an xarray.Dataset or a pandas "
                        f"DataFrame of draws; got {type(draws).__name__}.")
    for name, arr in ((cost, out.cost), (effect, out.effect)):
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise DataError(f"draws of {name!r} have {int(bad.sum())} non-finite value(s) (NaN "
                            f"or inf), in draw(s) {rows[:10].tolist()} (0-based, in the order "
                            "read); drop those draws or fix the model that made them.")
    if out.cost.shape[0] < 2:
        raise DesignError(f"`draws` holds {out.cost.shape[0]} draw; at least two are needed.")
    if len(out.options) < 2:
        raise DesignError(f"`draws` has one option ({out.options[0]!r}); a cost-effectiveness "
                          "analysis compares two or more.")
    return out


def dataset_columns(obj: Any, what: str = "parameters") -> pd.DataFrame:
    """Flatten the variables of an InferenceData's posterior (or a Dataset) into draw columns.

    A variable of dims ``(chain, draw)`` becomes one column named as the variable; one with a
    further dimension becomes a column per coordinate, ``name[coord]``. Draws are in the order
    of :func:`read_draws` (chain by chain). Variables with two or more further dimensions are
    left out.
    """
    ds, _ = _dataset(obj)
    cols: dict[str, np.ndarray] = {}
    for name in ds.data_vars:
        var = ds[name]
        sample = [d for d in ("chain", "draw") if d in var.dims]
        if "draw" not in sample:
            continue
        extra = [d for d in var.dims if d not in sample]
        if not extra:
            cols[str(name)] = np.asarray(var.transpose(*sample).values, dtype=float).ravel()
        elif len(extra) == 1:
            arr = np.asarray(var.transpose(*sample, extra[0]).values, dtype=float)
            arr = arr.reshape(-1, arr.shape[-1])
            for j, coord in enumerate(np.asarray(var[extra[0]].values)):
                cols[f"{name}[{coord}]"] = arr[:, j]
    if not cols:
        raise DataError(f"`{what}` has no variables with a 'draw' dimension.")
    return pd.DataFrame(cols)


@dataclass(frozen=True, eq=False, kw_only=True)
class DrawsCEAResult(CEAResult):
    """A :class:`~sosstats.vfm.CEAResult` made from draws (``cea(draws=...)``).

    Everything is computed from the draws as the unit-level path computes it from bootstrap
    replicates; ``n_resamples`` and ``nobs`` are the number of draws, ``n_units`` is the number
    of draws per option. ``source`` says what the draws came from and ``point_source`` whether
    the point estimates are the draws' means or were given (``point=``).
    """

    source: str = "draws"
    point_source: str = "mean of the draws"
    method: str = "cost-effectiveness (draws)"

    @property
    def means(self) -> pd.DataFrame:
        """Per option: ``cost``, ``cost_se``, ``effect``, ``effect_se`` (SDs), ``n_draws``."""
        out = super().means
        return out.rename(columns={"n_units": "n_draws"})

    def _notes(self) -> list[str]:
        notes = super()._notes()
        notes[0] = (f"Increments are option minus {self.reference!r}; {self.n_resamples} draws "
                    f"({self.source}); point estimates: {self.point_source}; standard errors "
                    "are SDs and intervals percentiles of the draws.")
        return notes

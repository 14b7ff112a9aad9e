"""Replicates as stacked arrays: the batched path of :func:`sosstats.design.simulate_study`.

A design that can simulate a chunk of replicates as arrays has ``simulate_batch(generators)``
(one ``numpy.random.Generator`` per replicate, each consumed exactly as ``simulate(gen)``
consumes it, so replicate ``i``'s data are the same on both paths); an estimator that can fit
them all at once has ``fit_batch(batch, level)``. When both exist, the runner calls them once
per chunk instead of ``estimator(design.simulate(rng_i))`` per replicate; a replicate the batch
fit cannot handle (``ok`` False) is rerun on the per-replicate path, so its result or its error
is the per-replicate one.

:class:`FamilyBatch` is the batch of the family designs (:func:`~sosstats.design.study_2017`,
:func:`~sosstats.design.evaluation_families`): one row per family of every replicate, with the
replicate index, pilot (cluster) code, SDQ at T1 and T2, the T2 response and the covariates.
:func:`parse_formula` and :func:`model_matrix` build the first-difference regression of a
simple formula on it without formulaic (the cost of a ``change_model`` fit on 180 families is
mostly formulaic building the model matrix): the same columns, names and order as
``change_model`` gives, tested equal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = ["FamilyBatch", "BatchFit", "FormulaSpec", "parse_formula", "model_matrix",
           "stack_families"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_C_TERM = re.compile(rf"^C\(\s*({_NAME})\s*\)$")
_BARE = re.compile(rf"^({_NAME})$")


@dataclass(frozen=True, eq=False)
class FamilyBatch:
    """Families of ``n_replicates`` replicates as stacked arrays (one row per family).

    Attributes
    ----------
    n_replicates : int
        Replicates in the batch (``replicate`` runs ``0..n_replicates-1``, non-decreasing).
    n_clusters : int
        Pilot codes run ``0..n_clusters-1`` in every replicate (a pilot without respondents
        in a replicate is an empty cluster there).
    replicate, cluster : numpy.ndarray
        (N,) int64.
    t1, t2 : numpy.ndarray
        (N,) SDQ at T1 and T2 (T2 NaN for families lost to attrition).
    responded : numpy.ndarray
        (N,) bool, re-interviewed at T2.
    columns : dict
        Covariates per family: ``experience`` (codes 0..2), ``cohort`` (1, 2),
        ``previous_referral``, ``agency_worker`` (bool), ``feelings_t1`` (1..5).
    levels : dict
        For each column that ``C(...)`` can code: its levels, in ``change_model``'s order
        (the categories for a categorical; the possible values, sorted, for an integer).
    categorical : tuple
        Columns held as codes of ``levels`` (a pandas categorical in the per-replicate frame).
    outcome : str
        Name of the outcome in the per-replicate frame (``"sdq"``).
    """

    n_replicates: int
    n_clusters: int
    replicate: np.ndarray
    cluster: np.ndarray
    t1: np.ndarray
    t2: np.ndarray
    responded: np.ndarray
    columns: dict[str, np.ndarray]
    levels: dict[str, tuple]
    categorical: tuple[str, ...] = ("experience",)
    outcome: str = "sdq"


def stack_families(parts: Sequence[dict[str, Any]], n_clusters: int,
                   levels: dict[str, tuple]) -> FamilyBatch:
    """Stack per-replicate dicts (keys ``cluster, t1, t2, responded`` and the covariates)."""
    cols = [k for k in parts[0] if k not in ("cluster", "t1", "t2", "responded")]
    sizes = [len(p["t1"]) for p in parts]
    return FamilyBatch(
        n_replicates=len(parts), n_clusters=int(n_clusters),
        replicate=np.repeat(np.arange(len(parts), dtype=np.int64), sizes),
        cluster=np.concatenate([p["cluster"] for p in parts]).astype(np.int64),
        t1=np.concatenate([p["t1"] for p in parts]).astype(float),
        t2=np.concatenate([p["t2"] for p in parts]).astype(float),
        responded=np.concatenate([p["responded"] for p in parts]).astype(bool),
        columns={c: np.concatenate([p[c] for p in parts]) for c in cols},
        levels=dict(levels))


class BatchFit(NamedTuple):
    """What ``fit_batch`` returns: per-term values of every replicate of the batch."""

    terms: tuple[str, ...]
    values: np.ndarray    # (B, p, 5): estimate, std_error, p_value, ci_lower, ci_upper
    ok: np.ndarray        # (B,) False: rerun this replicate on the per-replicate path


@dataclass(frozen=True)
class FormulaSpec:
    """A parsed simple formula: the outcome and the terms (``("C", col)`` or ``("x", col)``)."""

    outcome: str
    terms: tuple[tuple[str, str], ...] = field(default=())


def parse_formula(formula: str) -> FormulaSpec | None:
    """Parse ``"y ~ a + C(b) + ..."``; None for anything else (the per-replicate path then).

    Supported: an outcome name, ``~``, terms separated by ``+`` that are a column name or
    ``C(column)``, and an optional ``1``. Not supported (None): interactions, functions other
    than ``C()`` with one argument, ``0`` / ``-1`` (first differences always have an
    intercept), repeated terms.
    """
    if not isinstance(formula, str) or formula.count("~") != 1:
        return None
    lhs, rhs = (s.strip() for s in formula.split("~"))
    if not _BARE.match(lhs) or "-" in rhs:
        return None
    terms: list[tuple[str, str]] = []
    for raw in rhs.split("+"):
        tok = raw.strip()
        if tok == "1":
            continue
        m = _C_TERM.match(tok)
        if m:
            terms.append(("C", m.group(1)))
            continue
        m = _BARE.match(tok)
        if not m or tok == "0":
            return None
        terms.append(("x", m.group(1)))
    if len(set(terms)) != len(terms) or len({c for _, c in terms}) != len(terms):
        return None
    return FormulaSpec(lhs, tuple(terms))


def model_matrix(spec: FormulaSpec, batch: FamilyBatch,
                 rows: np.ndarray) -> tuple[np.ndarray, list[str]] | None:
    """First-difference regressors of ``spec`` on the families ``rows`` of ``batch``.

    ``[Intercept, terms...]`` with ``change_model``'s names: ``C(col)[T.level]`` (treatment
    coding against the first level) and, for a bare column, ``col[T.level]`` if it is
    categorical, else the column itself as a number. None when a term names an unknown
    column or ``C()`` of a column without declared levels.
    """
    n = int(np.count_nonzero(rows))
    cols = [np.ones(n)]
    names = ["Intercept"]
    for kind, col in spec.terms:
        if col not in batch.columns:
            return None
        values = batch.columns[col][rows]
        coded = col in batch.categorical
        if kind == "C" or coded:
            levels = batch.levels.get(col)
            if levels is None:
                return None
            label = f"C({col})" if kind == "C" else col
            for j, level in enumerate(levels[1:], start=1):
                target = j if coded else level
                cols.append((values == target).astype(float))
                names.append(f"{label}[T.{level}]")
        else:
            cols.append(values.astype(float))
            names.append(col)
    return np.column_stack(cols), names

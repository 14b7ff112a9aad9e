"""The least-squares dummy-variable (LSDV) working model of a fixed-effects fit, for CR2 / CR3.

``change_model(..., method="fixed_effects", fe_form="dummies")`` computes the CR2 or CR3
adjustment matrices from the design with one dummy per entity, ``[X, D]``, as clubSandwich does
on an ``lm`` with the dummies, instead of from the within-transformed ``X`` (the default
``fe_form="absorbed"``). By Frisch-Waugh-Lovell both give the same coefficients and residuals;
without weights, or with weights constant within entity, they give the same CR2 covariance
(Pustejovsky & Tipton 2018, JBES 36(4), Theorem 2, with entities nested in clusters); with
weights that vary within an entity they differ slightly (about 0.2% in the SEs on
clubSandwich's MortalityRates with population weights, pinned in the tests).

The dummy design is dense, ``n x (p + N)``: it is refused above :data:`MAX_CELLS` cells.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from sosstats.errors import DataError, DesignError

FE_FORMS = ("absorbed", "dummies")
MAX_CELLS = 50_000_000   # 400 MB of float64


def dummy_design(design: Any) -> Any:
    """Return the :class:`~sosstats.panel._design.Design` of the LSDV regression of a FE fit.

    Columns: the undemeaned regressors of the fixed-effects model (wave effects included),
    then one dummy per entity, named ``entity[k]``; ``y`` undemeaned; rows and weights as the
    within design (entity-major, every wave).
    """
    X = design.info.get("undemeaned_X")
    if X is None:
        raise DataError("fe_form='dummies' needs method='fixed_effects'.")
    n, p = X.shape
    N = design.n_entities
    if n * (p + N) > MAX_CELLS:
        raise DesignError(f"fe_form='dummies' would build a dense {n:,} x {p + N:,} design "
                          f"({N:,} entity dummies); use the default fe_form='absorbed' (equal "
                          "without weights, or with weights constant within entity).")
    T = n // N
    ent = np.repeat(np.arange(N), T)
    D = np.zeros((n, N))
    D[np.arange(n), ent] = 1.0
    y = design.info["undemeaned_y"]
    return replace(design, X=np.column_stack([X, D]), y=y, gram=None,
                   terms=list(design.terms) + [f"entity[{k}]" for k in range(N)])


def check_fe_form(fe_form: Any, method: str, inference: str) -> None:
    """Refuse an unknown form, or the dummy form outside fixed effects with CR2 / CR3."""
    from sosstats._validate import check_option

    check_option(fe_form, FE_FORMS, "fe_form")
    if fe_form == "dummies":
        if method != "fixed_effects":
            raise DataError(f"fe_form='dummies' applies to method='fixed_effects'; got "
                            f"method={method!r}.")
        if inference not in ("cr2", "cr3"):
            raise DataError("fe_form='dummies' changes only the CR2 / CR3 adjustment "
                            f"matrices; got inference={inference!r}.")

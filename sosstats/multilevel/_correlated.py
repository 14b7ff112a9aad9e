r"""Correlated random effects: which levels correlate their intercept and slopes, and checks.

``MultilevelModel(..., random_slopes={"Subject": ["Days"]}, correlated_slopes=True)`` is the
``(1 + Days | Subject)`` of lme4: at a correlated level :math:`l` with :math:`p = 1 + k`
effects (the random intercept and :math:`k` slope terms) the group effects are

.. math::

    (u_g, v_{g1}, \dots, v_{gk})^\top = \operatorname{diag}(\tau)\, L_\Omega\, z_g,
    \qquad z_g \sim N(0, I_p),

with :math:`\tau` the SDs (the same data-scaled half-normal priors as independent effects),
:math:`L_\Omega` the Cholesky factor of the correlation matrix
:math:`\Omega = L_\Omega L_\Omega^\top \sim \mathrm{LKJ}(\eta)` (Lewandowski, Kurowicka & Joe
2009, *Journal of Multivariate Analysis* 100(9), 1989-2001), whose density is
:math:`\propto \det(\Omega)^{\eta - 1}`: :math:`\eta = 1` is uniform over correlation
matrices, :math:`\eta > 1` shrinks towards independence (default :math:`\eta = 2`, as in
brms' and Stan's recommendations for weakly informative priors). The product
:math:`L = \operatorname{diag}(\tau) L_\Omega` is PyMC's ``LKJCholeskyCov``; sampling the
standard normal :math:`z` rather than the effects is the non-centred parameterisation, which
avoids the funnel between the SDs and the effects when groups carry little data.

A correlation needs at least two effects (an intercept and one slope), slopes on a variable
that varies within some group (otherwise the slope is the intercept again), and a level
whose groups have one effect each per row: multiple-membership levels take no slopes, so
they cannot be correlated. Pure numpy: nothing here imports PyMC.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sosstats.errors import DataError, DesignError

__all__ = ["DEFAULT_ETA", "resolve_correlated", "check_slope_variation", "effect_names",
           "pair_labels", "pair_index"]

DEFAULT_ETA = 2.0


def resolve_correlated(correlated_slopes: Any, slopes: list[Any], levels: list[Any]) -> tuple[
        str, ...]:
    """Levels whose intercept and slopes are correlated, in the order of ``levels``.

    Parameters
    ----------
    correlated_slopes : bool, str, list of str or dict
        False / None: none (independent slopes); True: every level with random slopes; a level
        name or a list of them; a dict ``{level: bool}`` (the levels given True).
    slopes : list of Slope
        The model's random slopes (see :func:`sosstats.multilevel._design.build_design`).
    levels : list of Level
        The model's levels.

    Raises
    ------
    DataError
        A value of another type, or a level name that is not among ``levels``.
    DesignError
        ``True`` with no random slope anywhere, or a named level without random slopes (an
        LKJ prior on a single effect), or a multiple-membership level.
    """
    if correlated_slopes is None or correlated_slopes is False:
        return ()
    names = [lev.name for lev in levels]
    kinds = {lev.name: lev.kind for lev in levels}
    with_slopes = {s.level for s in slopes}
    if correlated_slopes is True:
        if not with_slopes:
            raise DesignError(
                "correlated_slopes=True but the model has no random slopes: an LKJ prior on the "
                "correlation needs at least two effects per level (the intercept and a slope). "
                "Add random_slopes={level: [term, ...]} or drop correlated_slopes.")
        return tuple(n for n in names if n in with_slopes)
    if isinstance(correlated_slopes, str):
        chosen = [correlated_slopes]
    elif isinstance(correlated_slopes, dict):
        bad = [k for k, v in correlated_slopes.items() if not isinstance(v, (bool, np.bool_))]
        if bad:
            raise DataError(f"`correlated_slopes` as a dict maps levels to True / False; got "
                            f"{correlated_slopes[bad[0]]!r} for {bad[0]!r}.")
        chosen = [k for k, v in correlated_slopes.items() if v]
    elif isinstance(correlated_slopes, (list, tuple)):
        chosen = list(correlated_slopes)
    else:
        raise DataError("`correlated_slopes` must be True / False, a level name, a list of level "
                        f"names or a dict {{level: bool}}; got {type(correlated_slopes).__name__}.")
    for name in chosen:
        if not isinstance(name, str) or name not in kinds:
            raise DataError(f"`correlated_slopes` names level {name!r}, which is not among "
                            f"`levels` ({', '.join(names)}).")
        if kinds[name] == "membership":
            raise DesignError(
                f"`correlated_slopes` names the multiple-membership level {name!r}: random slopes "
                "(and so their correlation with the intercept) are not supported at a "
                "multiple-membership level.")
        if name not in with_slopes:
            raise DesignError(
                f"`correlated_slopes` names level {name!r}, which has no random slopes: an LKJ "
                "prior on a single effect (the intercept alone) has no correlation to estimate. "
                f"Add random_slopes={{{name!r}: [term, ...]}} or leave {name!r} out.")
    return tuple(n for n in names if n in set(chosen))


def check_slope_variation(slopes: list[Any], X: np.ndarray, levels: list[Any]) -> None:
    """Raise :class:`DesignError` for a slope whose term is constant within every group.

    Within a group the slope :math:`v_g x_{i}` is then :math:`v_g c_g`, the group's intercept
    again, so the slope's SD (and its correlation with the intercept) is not identified.
    """
    codes = {lev.name: lev.codes for lev in levels if lev.codes is not None}
    for s in slopes:
        g = codes.get(s.level)
        if g is None:
            continue
        x = X[:, s.column]
        n_groups = int(g.max()) + 1
        n = np.bincount(g, minlength=n_groups)
        mean = np.bincount(g, x, minlength=n_groups) / np.maximum(n, 1)
        if np.max(np.abs(x - mean[g])) <= 1e-9 * (1.0 + np.max(np.abs(x))):
            raise DesignError(
                f"random slope {s.term!r} at level {s.level!r}: {s.term!r} is constant within "
                f"every {s.level} group, so its slope is not identified (it duplicates the "
                f"{s.level} intercept). Drop it from random_slopes; keep it as a fixed effect.")


def effect_names(slopes: list[Any], level: str) -> list[str]:
    """Effects of a correlated level: ``"Intercept"`` then the slope terms, in order."""
    return ["Intercept", *[s.term for s in slopes if s.level == level]]


def pair_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices ``(i, j)``, ``i < j``, of the correlations of ``p`` effects.

    Ordered (0, 1), (0, 2), ..., (1, 2), ...: the order of :func:`pair_labels`.
    """
    return np.triu_indices(p, 1)


def pair_labels(slopes: list[Any], level: str) -> list[str]:
    """Labels ``"<level>: corr(<a>, <b>)"`` of each correlation, as in :func:`pair_index`."""
    names = effect_names(slopes, level)
    a, b = pair_index(len(names))
    return [f"{level}: corr({names[i]}, {names[j]})" for i, j in zip(a, b)]

r"""Prior scaling and prior log densities for :func:`sosstats.multilevel.prior_sensitivity`.

A public module: :func:`scale_priors` is exported as ``sosstats.multilevel.scale_priors``, and
the helpers below are what :mod:`sosstats.multilevel.sensitivity` builds on.
:func:`scale_priors` multiplies the scale parameters of chosen priors by a factor (location
and shape parameters unchanged; an exponential's rate is divided); :func:`prior_logpdf`
evaluates a prior's log density in numpy, for the importance weights of power-scaling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from sosstats._validate import as_list
from sosstats.errors import DataError
from sosstats.multilevel.priors import Prior, Priors

__all__ = ["scale_priors", "check_scales", "prior_targets", "prior_draws", "prior_logpdf"]


def check_scales(scales: Any) -> tuple[float, ...]:
    """Prior scale factors as sorted unique floats with 1 included.

    Raises
    ------
    DataError
        A factor that is not a positive, finite number, or no factor at all.
    """
    values = [scales] if isinstance(scales, (int, float, np.number)) else scales
    try:
        arr = np.asarray(list(values), dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`scales` must be positive numbers such as (0.5, 1, 2); got "
                        f"{scales!r}.") from exc
    bad = arr[~(np.isfinite(arr) & (arr > 0))]
    if arr.size == 0 or bad.size:
        raise DataError(f"`scales` must be positive, finite numbers such as (0.5, 1, 2); got "
                        f"{', '.join(map(repr, bad.tolist())) or 'none'}.")
    return tuple(sorted(set(arr.tolist()) | {1.0}))


def prior_targets(priors: Priors, names: str | Sequence[str] | None) -> list[str]:
    """Names of the priors to scale, as in ``priors.names()`` (None: every prior).

    ``"beta"`` stands for every coefficient and a bare term ``"cohort"`` for
    ``"beta[cohort]"``; a name without a prior raises :class:`DataError` listing the priors.
    """
    every = priors.names()
    if names is None:   # an LKJ correlation prior has no scale: it is left as it is
        return [n for n in every if priors[n].dist != "lkj"]
    out: list[str] = []
    for name in as_list(names):
        coefs = [k for k in every if k.startswith("beta[")]
        if name == "beta" and coefs:
            out += coefs
        elif name in every:
            out.append(name)
        elif f"beta[{name}]" in every:
            out.append(f"beta[{name}]")
        else:
            extra = " (or beta for all coefficients)" if coefs else ""
            raise DataError(f"`priors` names {name!r}, which has no prior in this model; the "
                            f"priors are {', '.join(every)}{extra}.")
    return list(dict.fromkeys(out))


def scale_priors(priors: Priors, factor: float,
                 names: str | Sequence[str] | None = None) -> Priors:
    """Return ``priors`` with the scale of each named prior multiplied by ``factor``.

    Parameters
    ----------
    priors : Priors
        E.g. ``model.priors``; not modified.
    factor : float
        Positive multiplier of the scales (see :meth:`Prior.scaled`).
    names : str or list of str, optional
        Priors to scale, as in ``priors.names()`` (``"sigma_la_code"``, ``"beta[cohort]"`` or
        just ``"cohort"``, ``"beta"`` for every coefficient); default all.

    Raises
    ------
    DataError
        A non-positive factor or a name without a prior.
    """
    if isinstance(factor, bool) or not (isinstance(factor, (int, float, np.number))
                                        and np.isfinite(factor) and factor > 0):
        raise DataError(f"`factor` must be a positive, finite number; got {factor!r}.")
    factor = float(factor)
    targets = set(prior_targets(priors, names))
    entries = {k: priors[k].scaled(factor) if k in targets else priors[k]
               for k in priors.names()}
    roles = priors.to_frame()["role"].to_dict()
    return Priors(entries, roles, priors.terms, priors.notes)


def prior_draws(post: Any, name: str) -> np.ndarray:
    """``(S, m)`` draws of the variable that prior ``name`` is placed on in the sampler."""
    if name == "Intercept":
        da = post["intercept_centred"]
    elif name == "cutpoints":
        da = post["cutpoints_centred"]
    elif name.startswith("beta["):
        da = post["beta"].sel(term=name[5:-1])
    else:
        da = post[name]
    arr = np.asarray(da.values, dtype=float)
    return arr.reshape(arr.shape[0] * arr.shape[1], -1)


LOGPDF = {
    "normal": lambda x, p: stats.norm.logpdf(x, p["mu"], p["sigma"]),
    "studentt": lambda x, p: stats.t.logpdf(x, p["nu"], p["mu"], p["sigma"]),
    "halfnormal": lambda x, p: stats.halfnorm.logpdf(x, scale=p["sigma"]),
    "exponential": lambda x, p: stats.expon.logpdf(x, scale=1.0 / p["lam"]),
    "halfstudentt": lambda x, p: np.log(2.0) + stats.t.logpdf(x, p["nu"], 0.0, p["sigma"]),
    "halfcauchy": lambda x, p: stats.halfcauchy.logpdf(x, scale=p["beta"])}


def prior_logpdf(prior: Prior, x: np.ndarray) -> np.ndarray:
    """Log density of ``prior`` at ``x`` (numpy / scipy; the same as PyMC's ``logp``)."""
    return LOGPDF[prior.dist](x, prior.params)

r"""Weakly informative default priors for multilevel models, scaled to the data, and overrides.

Defaults follow the spirit of rstanarm's (Gabry & Goodrich, *Prior distributions for rstanarm
models*): wide normal priors on the coefficients, scaled by the spread of the outcome (Gaussian)
and of each predictor, half-normal priors on the standard deviations of the group effects, an
exponential prior on the residual standard deviation. They are printed by
``MultilevelModel(...).priors`` and any of them can be replaced through ``priors=``.

Notes
-----
With :math:`s_y` the standard deviation of the outcome and :math:`s_x` that of a design column
(1 when it is zero), the defaults are

========================  ================================  ==================================
parameter                 Gaussian                          logit / ordinal / log link
========================  ================================  ==================================
``Intercept``             :math:`N(\bar y, 2.5 s_y)`        :math:`N(0, 2.5)`; log link
                                                            :math:`N(\log \bar y, 2.5)`
``beta[term]``            :math:`N(0, 2.5 s_y / s_x)`       :math:`N(0, 2.5 / s_x)`
``sigma_<level>``         :math:`\text{HalfNormal}(s_y)`    :math:`\text{HalfNormal}(1)`
``slope_sigma_<l>_<t>``   :math:`\text{HalfNormal}(s_y/s_x)`  :math:`\text{HalfNormal}(1/s_x)`
``sigma`` (residual)      :math:`\text{Exponential}(1/s_y)`
``cutpoints`` (ordinal)                                     :math:`N(0, 2.5)`, ordered
``alpha`` (neg. binomial)                                   :math:`\text{Exponential}(1)`
``corr_<level>``          :math:`\mathrm{LKJ}(\eta = 2)`    :math:`\mathrm{LKJ}(\eta = 2)`
========================  ================================  ==================================

``corr_<level>`` exists only for a level with ``correlated_slopes``: the LKJ prior
(Lewandowski, Kurowicka & Joe 2009) on the correlation matrix of the level's intercept and
slopes, written ``("lkj", {"eta": ...})`` (density :math:`\propto \det(\Omega)^{\eta-1}`;
:math:`\eta = 1` uniform, larger values favour weaker correlations). The SD priors of such a
level (``sigma_<level>``, ``slope_sigma_<level>_<term>``) are the usual ones but must share
one distribution family (they form one vector ``sd_dist`` of PyMC's ``LKJCholeskyCov``).

The intercept (and the ordinal cutpoints) are those at the mean of the predictors: the sampler
works with centred predictors, as rstanarm and brms do, and reports the intercept of the
uncentred formula. ``alpha`` is the negative binomial "size" (variance ``mu + mu**2 / alpha``),
whose rstanarm default (``reciprocal_dispersion``) is Exponential(1).

References
----------
Gabry, J. & Goodrich, B. (2020). Prior distributions for rstanarm models. rstanarm vignette.
Gelman, A., Jakulin, A., Pittau, M. G. & Su, Y.-S. (2008). A weakly informative default prior
distribution for logistic and other regression models. *Annals of Applied Statistics* 2(4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats.errors import DataError
from sosstats.multilevel._correlated import DEFAULT_ETA, effect_names
from sosstats.multilevel._design import Design

__all__ = ["Prior", "Priors", "default_priors", "resolve_priors", "correlated_sd_prior"]

LOCATION = {"normal": ("mu", "sigma"), "studentt": ("nu", "mu", "sigma")}
SCALE = {"halfnormal": ("sigma",), "exponential": ("lam",), "halfstudentt": ("nu", "sigma"),
         "halfcauchy": ("beta",)}
CORRELATION = {"lkj": ("eta",)}
_POSITIVE = {"sigma", "lam", "nu", "beta", "eta"}
_PRETTY = {"normal": "Normal", "studentt": "StudentT", "halfnormal": "HalfNormal",
           "exponential": "Exponential", "halfstudentt": "HalfStudentT",
           "halfcauchy": "HalfCauchy", "lkj": "LKJCorr"}


@dataclass(frozen=True)
class Prior:
    """A prior distribution: ``dist`` (a PyMC distribution name in lower case) and its ``params``.

    Location parameters (intercept, coefficients, cutpoints) take ``"normal"`` (``mu``,
    ``sigma``) or ``"studentt"`` (``nu``, ``mu``, ``sigma``); standard deviations and
    ``alpha`` take ``"halfnormal"`` (``sigma``), ``"exponential"`` (``lam``),
    ``"halfstudentt"`` (``nu``, ``sigma``) or ``"halfcauchy"`` (``beta``); the correlations of
    a level with ``correlated_slopes`` take ``"lkj"`` (``eta``).
    """

    dist: str
    params: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:.3g}" for k, v in self.params.items())
        return f"{_PRETTY.get(self.dist, self.dist)}({args})"

    def scaled(self, factor: float) -> Prior:
        """Return the prior with its scale multiplied by ``factor`` (``lam`` divided by it)."""
        out = dict(self.params)
        for key in ("sigma", "beta"):
            if key in out:
                out[key] = out[key] * factor
        if "lam" in out:
            out["lam"] = out["lam"] / factor
        return Prior(self.dist, out)


def _check_prior(name: str, spec: Any, kind: str) -> Prior:
    allowed = {"location": LOCATION, "scale": SCALE, "correlation": CORRELATION}[kind]
    if isinstance(spec, Prior):
        dist, params = spec.dist, dict(spec.params)
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Mapping):
        dist, params = spec[0], dict(spec[1])
    else:
        raise DataError(f"prior for {name!r} must be a (distribution, parameters) pair such as "
                        f"('halfnormal', {{'sigma': 1.0}}) or a Prior; got {spec!r}.")
    dist = str(dist).lower()
    if dist not in allowed:
        raise DataError(f"prior for {name!r} must be one of {', '.join(allowed)}; got {dist!r}.")
    if set(params) != set(allowed[dist]):
        raise DataError(f"prior {dist!r} for {name!r} takes parameters "
                        f"{', '.join(allowed[dist])}; got {', '.join(params) or 'none'}.")
    clean: dict[str, float] = {}
    for key in allowed[dist]:
        try:
            value = float(params[key])
        except (TypeError, ValueError) as exc:
            raise DataError(f"prior parameter {key!r} for {name!r} must be a number; got "
                            f"{params[key]!r}.") from exc
        if not np.isfinite(value) or (key in _POSITIVE and value <= 0):
            raise DataError(f"prior parameter {key!r} for {name!r} must be "
                            f"{'positive' if key in _POSITIVE else 'finite'}; got {value!r}.")
        clean[key] = value
    return Prior(dist, clean)


class Priors:
    """The priors of a model, by parameter name; printed as a table.

    ``str(priors)`` or ``priors.to_frame()`` shows them; ``priors["sigma_la_code"]`` returns
    one; ``priors.to_dict()`` gives them in the ``priors=`` override format.
    """

    def __init__(self, entries: dict[str, Prior], roles: dict[str, str], terms: list[str],
                 notes: list[str] | None = None) -> None:
        self._entries = dict(entries)
        self._roles = dict(roles)
        self.terms = list(terms)
        self.notes = list(notes or [])

    def __getitem__(self, name: str) -> Prior:
        if name not in self._entries:
            raise DataError(f"no prior named {name!r}; the priors are "
                            f"{', '.join(self._entries)}.")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        """Parameter names, in table order."""
        return list(self._entries)

    def coefficient(self, term: str) -> Prior:
        """Prior of fixed-effect ``term`` (``"Intercept"`` or a coefficient)."""
        return self[term if term == "Intercept" else f"beta[{term}]"]

    def to_frame(self) -> pd.DataFrame:
        """Table ``parameter, prior, role``."""
        return pd.DataFrame({"prior": [str(p) for p in self._entries.values()],
                             "role": [self._roles[k] for k in self._entries]},
                            index=pd.Index(list(self._entries), name="parameter"))

    def to_dict(self) -> dict[str, Any]:
        """Return the priors in the ``priors=`` override format."""
        out: dict[str, Any] = {}
        beta: dict[str, Any] = {}
        for name, prior in self._entries.items():
            spec = (prior.dist, dict(prior.params))
            if name.startswith("beta[") and name.endswith("]"):
                beta[name[5:-1]] = spec
            else:
                out[name] = spec
        if beta:
            out["beta"] = beta
        return out

    def __str__(self) -> str:
        body = self.to_frame().to_string()
        return "\n".join(["Priors", "=" * max(len(line) for line in body.splitlines()), body]
                         + self.notes)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        notes = "".join(f"<p>{n}</p>" for n in self.notes)
        return f"<h4>Priors</h4>{self.to_frame().to_html()}{notes}"


def _scales(design: Design) -> tuple[float, float, np.ndarray]:
    rows = design.rows
    y = rows.y.astype(float)
    if design.family == "binomial":
        y = y / rows.trials
    sd_x = rows.X.std(axis=0)
    sd_x = np.where(sd_x > 0, sd_x, 1.0)
    return float(np.mean(y)), float(np.std(y)), sd_x


def default_priors(design: Design) -> tuple[dict[str, Prior], dict[str, str]]:
    """Default priors and a short role for each, by parameter name (see the module notes)."""
    fam = design.family
    mean_y, sd_y, sd_x = _scales(design)
    gaussian = fam == "gaussian"
    scale = sd_y if gaussian else 1.0
    entries: dict[str, Prior] = {}
    roles: dict[str, str] = {}
    if design.has_intercept:
        if gaussian:
            loc = mean_y
        elif fam in ("poisson", "negative_binomial"):
            loc = float(np.log(mean_y)) if mean_y > 0 else 0.0
        else:
            loc = 0.0
        entries["Intercept"] = Prior("normal", {"mu": loc, "sigma": 2.5 * scale})
        roles["Intercept"] = "intercept at the mean of the predictors"
    for j, term in enumerate(design.terms):
        if term == "Intercept":
            continue
        entries[f"beta[{term}]"] = Prior("normal", {"mu": 0.0, "sigma": 2.5 * scale / sd_x[j]})
        roles[f"beta[{term}]"] = "coefficient"
    for lev in design.levels:
        entries[f"sigma_{lev.name}"] = Prior("halfnormal", {"sigma": scale})
        roles[f"sigma_{lev.name}"] = f"sd of {lev.name} effects ({lev.kind})"
    for s in design.slopes:
        key = f"slope_sigma_{s.level}_{s.term}"
        entries[key] = Prior("halfnormal", {"sigma": scale / sd_x[s.column]})
        roles[key] = f"sd of {s.level} slopes of {s.term}"
    if gaussian:
        entries["sigma"] = Prior("exponential", {"lam": 1.0 / sd_y})
        roles["sigma"] = "residual sd"
    if fam == "ordinal":
        entries["cutpoints"] = Prior("normal", {"mu": 0.0, "sigma": 2.5})
        roles["cutpoints"] = (f"{len(design.categories) - 1} ordered cutpoints at the mean of "
                              "the predictors")
    if fam == "negative_binomial":
        entries["alpha"] = Prior("exponential", {"lam": 1.0})
        roles["alpha"] = "negative binomial size (var = mu + mu^2/alpha)"
    for name in design.correlated:
        effects = ", ".join(effect_names(design.slopes, name))
        entries[f"corr_{name}"] = Prior("lkj", {"eta": DEFAULT_ETA})
        roles[f"corr_{name}"] = f"correlations of {name} effects ({effects})"
    return entries, roles


def correlated_sd_prior(priors: Priors, design: Design, level: str) -> tuple[str, dict[str,
                                                                                    np.ndarray]]:
    """One distribution family and stacked parameters of a correlated level's SD priors.

    Raises
    ------
    DataError
        The level's SD priors (``sigma_<level>`` and ``slope_sigma_<level>_<term>``) use
        different distribution families.
    """
    names = [f"sigma_{level}"] + [f"slope_sigma_{s.level}_{s.term}" for s in design.slopes
                                  if s.level == level]
    found = [priors[n] for n in names]
    dists = {p.dist for p in found}
    if len(dists) > 1:
        shown = ", ".join(f"{n}: {p}" for n, p in zip(names, found))
        raise DataError(f"the SD priors of the correlated level {level!r} must share one "
                        f"distribution family (they form one vector in LKJCholeskyCov); got "
                        f"{shown}.")
    dist = found[0].dist
    return dist, {k: np.array([p.params[k] for p in found]) for k in found[0].params}


def resolve_priors(design: Design, overrides: Mapping[str, Any] | None = None) -> Priors:
    """Defaults for ``design`` with ``overrides`` applied (see :class:`MultilevelModel`).

    Raises
    ------
    DataError
        An unknown parameter name or term (the message lists the valid ones), a distribution
        that does not suit the parameter, or invalid distribution parameters.
    """
    entries, roles = default_priors(design)
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, Mapping):
        raise DataError(f"`priors` must be a dict of parameter name -> prior; got "
                        f"{type(overrides).__name__}.")
    coef_names = [k for k in entries if k.startswith("beta[")]
    valid = [k for k in entries if not k.startswith("beta[")] + (["beta"] if coef_names else [])
    for name, spec in overrides.items():
        if name == "beta" and coef_names:
            if isinstance(spec, Mapping):
                for term, sub in spec.items():
                    key = f"beta[{term}]"
                    if key not in entries:
                        raise DataError(f"`priors['beta']` names term {term!r}, which is not a "
                                        "coefficient; the terms are "
                                        f"{', '.join(k[5:-1] for k in coef_names)}.")
                    entries[key] = _check_prior(key, sub, "location")
            else:
                prior = _check_prior("beta", spec, "location")
                for key in coef_names:
                    entries[key] = prior
            continue
        if name in coef_names:
            entries[name] = _check_prior(name, spec, "location")
            continue
        if name not in entries:
            raise DataError(f"`priors` names {name!r}, which is not a parameter of this model; "
                            f"the names are {', '.join(valid)}.")
        kind = "location" if name in ("Intercept", "cutpoints") else "scale"
        if entries[name].dist == "lkj":
            kind = "correlation"
        entries[name] = _check_prior(name, spec, kind)
    notes = ["Intercept and cutpoints are at the mean of the predictors (centred design)."] \
        if design.centred else []
    priors = Priors(entries, roles, design.terms, notes)
    for name in design.correlated:
        correlated_sd_prior(priors, design, name)
    return priors

r"""Choice between the non-centred and the centred parameterisation of each level.

Notes
-----
The non-centred form :math:`u = \sigma z,\ z \sim N(0, 1)` samples well when the data say
little about each group (strong pooling); when every group has a lot of data the posterior of
:math:`z` is narrow and tied to :math:`\sigma`, and the centred form
:math:`u \sim N(0, \sigma)` samples better (Papaspiliopoulos, Roberts & Skold 2007, *Statistical
Science* 22(1); Betancourt & Girolami 2015, in *Current Trends in Bayesian Methodology with
Applications*). ``centred="auto"`` centres a level when

.. math:: r = \bar n \, I \, s^2 > 100,

with :math:`\bar n` the mean rows per group (summed weights for multiple membership),
:math:`I` the Fisher information of one row about the linear predictor at the overall mean
(Gaussian :math:`1/\mathrm{Var}(y)`; logit :math:`\bar m\,p(1-p)` with :math:`\bar m` trials per
row; Poisson :math:`\bar y`; negative binomial :math:`\bar y/(1+\bar y)`; cumulative logit
:math:`(1-\sum_k p_k^3)/3`, Whitehead 1993, *Statistics in Medicine* 12(24)) and :math:`s` the
scale of the level's SD prior: :math:`r` is the ratio of the data's to the prior's precision
for one group effect, so :math:`1/(1+r)` is a typical pooling factor. The threshold keeps the
non-centred default for every level of the 270-family evaluation and centres, for example, ten
pilots of 5,000 families each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sosstats._validate import as_list
from sosstats.errors import DataError
from sosstats.multilevel._design import Design
from sosstats.multilevel.priors import Prior, Priors

__all__ = ["THRESHOLD", "information_ratio", "resolve_centring"]

THRESHOLD = 100.0


def _prior_scale(prior: Prior) -> float:
    p = prior.params
    if prior.dist == "exponential":
        return 1.0 / p["lam"]
    return float(p.get("sigma", p.get("beta", 1.0)))


def _row_information(design: Design) -> float:
    rows = design.rows
    y = rows.y.astype(float)
    fam = design.family
    if fam == "gaussian":
        return 1.0 / max(float(np.var(y)), 1e-12)
    if fam in ("bernoulli", "binomial"):
        trials = rows.trials if rows.trials is not None else np.ones(rows.n)
        p = y.sum() / trials.sum()
        return float(trials.mean() * p * (1 - p))
    if fam == "poisson":
        return float(y.mean())
    if fam == "negative_binomial":
        return float(y.mean() / (1 + y.mean()))
    share = np.bincount(rows.y, minlength=len(design.categories)) / rows.n
    return float((1 - np.sum(share ** 3)) / 3)


def information_ratio(design: Design, priors: Priors) -> dict[str, float]:
    """Compute the ratio :math:`r` of the module notes for every level."""
    info = _row_information(design)
    out = {}
    for lev in design.levels:
        s = _prior_scale(priors[f"sigma_{lev.name}"])
        out[lev.name] = float(lev.group_size().mean() * info * s ** 2)
    return out


def resolve_centring(design: Design, priors: Priors, centred: Any) -> tuple[str, ...]:
    """Levels to sample in the centred form: ``"auto"``, None / False (none) or a list."""
    names = design.level_names
    if centred is None or centred is False:
        return ()
    if isinstance(centred, str) and centred == "auto":
        ratio = information_ratio(design, priors)
        return tuple(n for n in names if ratio[n] > THRESHOLD)
    if centred is True:
        return tuple(names)
    chosen = as_list(centred)
    unknown = [c for c in chosen if c not in names]
    if unknown:
        raise DataError(f"`centred` names {', '.join(map(repr, unknown))}, which are not levels "
                        f"({', '.join(names)}); give 'auto', None, True or a list of levels.")
    return tuple(chosen)

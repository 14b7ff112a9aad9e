r"""Summaries of a fitted multilevel model: variance components, VPC / ICC, group effects.

Notes
-----
Variance partition coefficients (Goldstein, Browne & Rasbash 2002, *Understanding Statistics*
1(4); Snijders & Bosker 2012, ch. 17) are computed per posterior draw and summarised by the
posterior mean and an equal-tailed interval. With level variances :math:`\sigma_l^2` and
level-1 variance :math:`\sigma_e^2` on the latent scale (see
:func:`~sosstats.multilevel._posterior.latent_residual_variance`),
:math:`\mathrm{VPC}_l = \sigma_l^2 / (\sum_k \sigma_k^2 + \sigma_e^2)`. For a
multiple-membership level the variance a unit receives is :math:`\sigma_m^2 \sum_j w_j^2`
(Browne, Goldstein & Rasbash 2001, *Statistical Modelling* 1(2)); the membership-aware VPC
replaces :math:`\sigma_m^2` by :math:`\sigma_m^2\,\overline{\sum_j w_j^2}`, the average over
units, in numerator and denominator. Random slopes are left out (VPCs at covariate 0).

The pooling factor of group :math:`j` at level :math:`l` is
:math:`\mathrm{Var}(u_j \mid y) / E(\sigma_l^2 \mid y)`: 0 when the data alone fix the effect,
1 when it is pulled entirely to zero (Gelman & Hill 2007, sec. 12.5 and 21.6; Gelman & Pardoe
2006, *Technometrics* 48(2)).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from sosstats.multilevel._correlated import pair_labels
from sosstats.multilevel._design import Design
from sosstats.multilevel._posterior import (
    latent_residual_variance,
    level_contribution,
    linear_predictor,
    stack,
)

__all__ = ["interval_frame", "variance_components", "correlation_table", "vpc_table",
           "icc_table", "group_table"]


def interval_frame(draws: np.ndarray, labels: list[str], level: float,
                   prefix: str = "") -> pd.DataFrame:
    """Posterior mean, sd and equal-tailed interval of each column of ``draws`` ``(S, P)``."""
    q = np.quantile(draws, [0.5 - level / 2, 0.5 + level / 2], axis=0)
    return pd.DataFrame({f"{prefix}mean": draws.mean(axis=0),
                         f"{prefix}sd": draws.std(axis=0, ddof=1),
                         f"{prefix}lower": q[0], f"{prefix}upper": q[1]},
                        index=pd.Index(labels))


def _scale_draws(design: Design, posterior: Any) -> tuple[list[str], np.ndarray]:
    names = [f"sigma_{lev.name}" for lev in design.levels]
    names += [f"slope_sigma_{s.level}_{s.term}" for s in design.slopes]
    if design.family == "gaussian":
        names.append("sigma")
    return names, np.column_stack([stack(posterior, n) for n in names])


def variance_components(design: Design, posterior: Any, level: float) -> pd.DataFrame:
    """SD and variance of every random effect (and the Gaussian residual): mean, sd, interval.

    A model with ``correlated_slopes`` adds, per correlated level, one row per pair of its
    effects, ``"<level>: corr(Intercept, <term>)"``, holding the posterior of the correlation
    in the columns ``corr_mean, corr_sd, corr_lower, corr_upper``, ``corr_median`` (its SD
    and variance columns are NaN, as the correlation columns are on the SD rows).
    """
    names, sd = _scale_draws(design, posterior)
    out = interval_frame(sd, names, level, "sd_")
    var = interval_frame(sd ** 2, names, level, "var_")
    out = pd.concat([out, var], axis=1)
    if design.correlated:
        out = pd.concat([out, correlation_table(design, posterior, level)])
    out.index.name = "component"
    return out


def correlation_table(design: Design, posterior: Any, level: float) -> pd.DataFrame:
    r"""Posterior of each correlation of a correlated level's effects (one row per pair).

    The draws are :math:`\Omega_{ab} = (L_\Omega L_\Omega^\top)_{ab}` from the LKJ-Cholesky
    factor (see :mod:`sosstats.multilevel._correlated`); rows are labelled
    ``"<level>: corr(<a>, <b>)"``.
    """
    parts = []
    for name in design.correlated:
        draws = stack(posterior, f"corr_{name}")
        table = interval_frame(draws, pair_labels(design.slopes, name), level, "corr_")
        table["corr_median"] = np.median(draws, axis=0)
        parts.append(table)
    return pd.concat(parts)


def _level_variances(design: Design, posterior: Any) -> tuple[np.ndarray, np.ndarray]:
    v = np.column_stack([stack(posterior, f"sigma_{lev.name}") ** 2 for lev in design.levels])
    m = np.array([lev.mean_sum_sq_weights() for lev in design.levels])
    return v, m


def vpc_table(design: Design, posterior: Any, level: float) -> pd.DataFrame:
    """VPC per level and the level-1 share: nominal and (with membership) membership-aware."""
    v, m = _level_variances(design, posterior)
    names = [lev.name for lev in design.levels] + ["residual"]
    resid = latent_residual_variance(design, posterior, v.sum(axis=1))
    full = np.column_stack([v, resid])
    out = interval_frame(full / full.sum(axis=1, keepdims=True), names, level, "vpc_")
    out = out.rename(columns={"vpc_mean": "vpc"}).drop(columns="vpc_sd")
    if any(lev.kind == "membership" for lev in design.levels):
        aware = np.column_stack([v * m, resid])
        mm = interval_frame(aware / aware.sum(axis=1, keepdims=True), names, level,
                            "vpc_membership_")
        out["vpc_membership"] = mm["vpc_membership_mean"]
        out["vpc_membership_lower"] = mm["vpc_membership_lower"]
        out["vpc_membership_upper"] = mm["vpc_membership_upper"]
        out["mean_sum_sq_weights"] = np.append(m, np.nan)
    out.index.name = "level"
    return out


def icc_table(design: Design, posterior: Any, level: float) -> pd.DataFrame:
    r"""Correlation (latent scale) of two rows that share a group at each level.

    Two rows in the same group of a nested level share that level and every nested level
    above it; two units of a membership level are taken to share one group with weight 1;
    two rows of the same ``repeated`` unit also share the unit's membership effects
    (typical :math:`\sum_j w_j^2`).
    """
    v, m = _level_variances(design, posterior)
    resid = latent_residual_variance(design, posterior, v.sum(axis=1))
    total = (v * m).sum(axis=1) + resid
    cols, names = [], []
    for k, lev in enumerate(design.levels):
        if lev.kind == "membership":
            shared = v[:, k]
        else:
            above = [j for j in range(k + 1) if design.levels[j].kind != "membership"]
            shared = v[:, above].sum(axis=1)
            if lev.kind == "repeated":
                mm = [j for j, other in enumerate(design.levels) if other.kind == "membership"]
                # two rows of one family share the weight their waves' worker sets have in
                # common (all of it, sum w^2, when memberships are not wave-specific)
                shared_w = np.array([design.levels[j].mean_shared_weights() for j in mm])
                shared = shared + (v[:, mm] * shared_w).sum(axis=1)
        cols.append(shared / total)
        names.append(lev.name)
    out = interval_frame(np.column_stack(cols), names, level, "icc_")
    out = out.rename(columns={"icc_mean": "icc"}).drop(columns="icc_sd")
    out.index.name = "level"
    return out


def _raw_effect(design: Design, name: str, offset: np.ndarray, idx: np.ndarray,
                w: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    rows = design.rows
    fam = design.family

    def gsum(values: np.ndarray) -> np.ndarray:
        return np.bincount(idx.ravel(), weights=(w * values[:, None]).ravel(),
                           minlength=n_groups)

    size = gsum(np.ones(rows.n))
    trials = rows.trials if rows.trials is not None else np.ones(rows.n)
    y = rows.y.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw_mean = gsum(y) / (gsum(trials) if fam == "binomial" else size)
        if fam == "gaussian":
            effect = gsum(y - offset) / size
        elif fam in ("bernoulli", "binomial"):
            n = gsum(trials)
            observed = logit((gsum(y) + 0.5) / (n + 1.0))
            effect = observed - logit(gsum(trials * expit(offset)) / n)
        elif fam in ("poisson", "negative_binomial"):
            effect = np.log((gsum(y) + 0.5) / gsum(np.exp(offset)))
        else:
            effect = np.full(n_groups, np.nan)
    return raw_mean, effect


def group_table(design: Design, posterior: Any, name: str, level: float) -> pd.DataFrame:
    """Per group of level ``name``: size, posterior effect, raw mean and effect, pooling.

    ``raw_effect`` is the group's no-pooling deviation on the link scale, given the fixed part
    and the other levels' effects at their posterior means (Gaussian: mean residual; logit:
    empirical logit with 0.5 added, minus the fitted logit; log link: log of observed over
    fitted counts; NaN for ordinal).
    """
    lev = design.level(name)
    u = stack(posterior, f"u_{name}")
    out = interval_frame(u, list(lev.labels), level)
    out = out.rename(columns={"mean": "estimate", "sd": "std_error"})
    out.insert(0, "n", lev.group_size())
    one = np.array([0])
    stub = posterior.mean(("chain", "draw")).expand_dims(("chain", "draw"))
    eta = linear_predictor(design, stub, design.rows, one)[0]
    offset = eta - level_contribution(design, stub, name, design.rows, one)[0]
    idx, w = lev.row_membership()
    raw_mean, raw_effect = _raw_effect(design, name, offset, idx, w, lev.n_groups)
    out["raw_mean"] = raw_mean
    out["raw_effect"] = raw_effect
    sigma2 = float(np.mean(stack(posterior, f"sigma_{name}") ** 2))
    out["pooling"] = np.clip(u.var(axis=0) / sigma2, 0.0, 1.0)
    out.index.name = name
    return out


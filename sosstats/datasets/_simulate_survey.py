r"""Simulated survey data: the social-worker survey and families' views at T1 and T2.

Used by ``simulate_evaluation``. Every item is an ordered probit: a latent normal with variance
one in each design cell (experience group x cohort x wave), made of a pilot random effect, other
random effects and noise, cut at fixed cut points. Because the latent's marginal variance is one,
the population proportions of a cell are exactly :math:`\Phi(\kappa_k - \mu_{cell})`
differences, which are returned as the truth; the proportions expected in the simulated sample
given its realised pilot (and worker) effects are returned as well. Vectorised over respondents
and families; loops run only over the handful of items.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from sosstats.datasets._simulate_families import TOOL_LEVELS, TOOLS
from sosstats.datasets._simulate_las import EXPERIENCE_LEVELS

__all__ = [
    "SURVEY_ITEMS",
    "VIEW_ITEMS",
    "VIEW_WAVES",
    "WAVES",
    "expected_probabilities",
    "observed_icc",
    "ordinal_probabilities",
    "simulate_worker_survey",
    "simulate_family_views",
]

_Z = NormalDist()
_EXPERIENCE_DTYPE = pd.CategoricalDtype(list(EXPERIENCE_LEVELS), ordered=True)
_TOOL_DTYPE = pd.CategoricalDtype(list(TOOL_LEVELS), ordered=True)
WAVES: tuple[str, ...] = ("T1", "T2")
#: Names of the two waves in the frames (ordered categories).
VIEW_WAVES = WAVES

# ----------------------------------------------------------------------------- worker survey

#: Survey items in column order: the seven tools, confidence (1-10) and SoS-aligned supervision.
SURVEY_ITEMS: tuple[str, ...] = (*TOOLS, "confidence", "sos_supervision")
#: Latent shift of each item by experience group (new, 2 years, 2 years plus), before scaling.
_SURVEY_SHIFT: dict[str, tuple[float, float, float]] = {
    **{tool: (-0.3, 0.1, 0.25) for tool in TOOLS},
    "confidence": (-0.3, 0.1, 0.3),
    "sos_supervision": (-0.35, 0.15, 0.25),
}
_SURVEY_VAR_WORKER = 0.3              # latent variance of a worker's effect shared by all items
_CONFIDENCE_CENTRE, _CONFIDENCE_SCALE = 6.5, 1.8    # confidence = clip(round(6.5 + 1.8 L), 1, 10)
_SUPERVISION_SHARE = 0.76


def _ndtr(x: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(x)


def ordinal_probabilities(cuts: np.ndarray, mu: np.ndarray, scale: float = 1.0) -> np.ndarray:
    r"""Ordered-probit level probabilities, shape ``mu.shape + (len(cuts) + 1,)``.

    :math:`P(Y = k) = \Phi((\kappa_{k} - \mu)/s) - \Phi((\kappa_{k-1} - \mu)/s)` with
    :math:`\kappa_0 = -\infty` and :math:`\kappa_K = \infty`.
    """
    mu = np.asarray(mu, dtype=float)
    cdf = _ndtr((np.asarray(cuts, dtype=float) - mu[..., None]) / scale)
    zeros = np.zeros(mu.shape + (1,))
    return np.diff(np.concatenate([zeros, cdf, zeros + 1.0], axis=-1), axis=-1)


def observed_icc(cuts: np.ndarray, mu: np.ndarray, rho: float) -> np.ndarray:
    r"""Intra-class correlation of the indicators :math:`1[Y \le k]` (shape ``mu.shape + (K-1,)``).

    Two units whose unit-variance latents share a component with correlation :math:`\rho`
    (two respondents of one pilot) have :math:`P(both \le k) = \Phi_2(h, h; \rho)` with
    :math:`h = \kappa_k - \mu`, and :math:`\Phi_2(h, h; \rho) = \Phi(h) - 2 T(h,
    \sqrt{(1 - \rho)/(1 + \rho)})` (Owen 1956, :math:`T` Owen's T function), so the
    correlation of the two indicators is :math:`(\Phi_2 - p^2)/(p(1 - p))`, :math:`p = \Phi(h)`.
    """
    from scipy.special import owens_t

    h = np.asarray(cuts, dtype=float) - np.asarray(mu, dtype=float)[..., None]
    p = _ndtr(h)
    both = p - 2.0 * owens_t(h, np.sqrt((1.0 - rho) / (1.0 + rho)))
    return (both - p * p) / (p * (1.0 - p))


def _cuts_from_shares(shares: tuple[float, ...], centre: float = 0.0) -> np.ndarray:
    cum = np.cumsum(shares)[:-1]
    return np.array([_Z.inv_cdf(float(min(max(c, 1e-12), 1 - 1e-12))) for c in cum]) + centre


def _group_means(probs: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of the rows of ``probs`` (n, K) within each group code: (n_groups, K); NaN if empty."""
    n = np.bincount(groups, minlength=n_groups).astype(float)
    sums = np.stack([np.bincount(groups, weights=probs[:, k], minlength=n_groups)
                     for k in range(probs.shape[1])], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / n[:, None]


def expected_probabilities(cuts: np.ndarray, x: np.ndarray, scale: float,
                           groups: np.ndarray | None = None, n_groups: int = 1) -> np.ndarray:
    r"""Mean over units (within each group) of their ordered-probit level probabilities.

    ``x`` holds each unit's conditional latent mean; the result, (n_groups, K), is the
    difference of the group means of :math:`\Phi((\kappa_k - x_i)/s)` (a mean of differences is
    a difference of means, so only the K - 1 cumulative columns are evaluated). An empty group
    gives NaN.
    """
    x = np.asarray(x, dtype=float)
    return _probabilities_from_cdf(_ndtr((np.asarray(cuts)[None, :] - x[:, None]) / scale),
                                   groups, n_groups)


def _probabilities_from_cdf(cdf: np.ndarray, groups: np.ndarray | None = None,
                            n_groups: int = 1) -> np.ndarray:
    """Group means of unit cumulative probabilities (n, K - 1) turned into level shares."""
    if groups is None:
        groups = np.zeros(cdf.shape[0], dtype=np.int64)
    mean_cdf = _group_means(cdf, groups, n_groups)
    edge = np.zeros((n_groups, 1))
    return np.diff(np.concatenate([edge, mean_cdf, edge + 1.0], axis=1), axis=1)


def _level_dict(levels: tuple, values: np.ndarray) -> dict:
    return {level: float(v) for level, v in zip(levels, values)}


def simulate_worker_survey(rng: np.random.Generator, n_survey: int, pilot_codes: np.ndarray,
                           pilot_exp: np.ndarray, workforce: np.ndarray, icc: float,
                           effect_scale: float) -> tuple[pd.DataFrame, dict]:
    """Draw the social-worker survey frame and its truth.

    Respondents are a random sample of the pilots' workforce: each respondent's pilot is drawn
    with probability proportional to ``workforce`` (the pilot's number of workers).
    """
    n_pilots, n_items = pilot_codes.size, len(SURVEY_ITEMS)
    la = np.sort(rng.choice(n_pilots, size=n_survey, p=workforce / workforce.sum()))
    exp = pilot_exp[la]
    v = rng.standard_normal((n_pilots, n_items))
    worker = rng.standard_normal(n_survey)
    noise = rng.standard_normal((n_survey, n_items))
    shift = effect_scale * np.array([_SURVEY_SHIFT[item] for item in SURVEY_ITEMS]).T  # (3, k)
    sd_noise = np.sqrt(1.0 - icc - _SURVEY_VAR_WORKER)
    pilot_part = np.sqrt(icc) * v                                                      # (p, k)
    latent = (shift[exp] + pilot_part[la] + np.sqrt(_SURVEY_VAR_WORKER) * worker[:, None]
              + sd_noise * noise)

    cuts: dict[str, np.ndarray] = {}
    levels: dict[str, tuple] = {}
    for tool, (p_all, p_some, p_none) in TOOLS.items():
        cuts[tool] = _cuts_from_shares((p_none, p_some, p_all))
        levels[tool] = TOOL_LEVELS                       # not at all < some < all families
    cuts["confidence"] = (np.arange(1, 10) + 0.5 - _CONFIDENCE_CENTRE) / _CONFIDENCE_SCALE
    levels["confidence"] = tuple(range(1, 11))
    cuts["sos_supervision"] = _cuts_from_shares((1 - _SUPERVISION_SHARE, _SUPERVISION_SHARE))
    levels["sos_supervision"] = ("no", "yes")

    columns: dict[str, object] = {
        "respondent_id": np.arange(1, n_survey + 1, dtype=np.int64),
        "la_code": pd.Categorical.from_codes(la, categories=list(pilot_codes)),
        "experience": pd.Categorical.from_codes(exp, dtype=_EXPERIENCE_DTYPE),
    }
    cond_scale = np.sqrt(1.0 - icc)
    proportions, expected, expected_by, cutpoints, pilot_effect = {}, {}, {}, {}, {}
    for k, item in enumerate(SURVEY_ITEMS):
        code = np.searchsorted(cuts[item], latent[:, k])
        if item == "confidence":
            columns[item] = (code + 1).astype(np.int64)
        elif item == "sos_supervision":
            columns[item] = code == 1
        else:
            columns[item] = pd.Categorical.from_codes(code, dtype=_TOOL_DTYPE)
        pop = ordinal_probabilities(cuts[item], shift[:, k])                       # (3, K)
        x = shift[exp, k] + pilot_part[la, k]
        proportions[item] = {g: _level_dict(levels[item], pop[i])
                             for i, g in enumerate(EXPERIENCE_LEVELS)}
        expected[item] = _level_dict(levels[item],
                                     expected_probabilities(cuts[item], x, cond_scale)[0])
        by = expected_probabilities(cuts[item], x, cond_scale, exp, len(EXPERIENCE_LEVELS))
        expected_by[item] = {g: _level_dict(levels[item], by[i])
                             for i, g in enumerate(EXPERIENCE_LEVELS)}
        cutpoints[item] = {f"{j + 1}|{j + 2}": float(c) for j, c in enumerate(cuts[item])}
        pilot_effect[item] = dict(zip(pilot_codes.tolist(), pilot_part[:, k].tolist()))
    frame = pd.DataFrame(columns)
    scores = np.arange(1, 11, dtype=float)
    conf_pop = ordinal_probabilities(cuts["confidence"], shift[:, SURVEY_ITEMS.index("confidence")])
    truth = {
        "icc_pilot": float(icc),
        "var_worker": _SURVEY_VAR_WORKER,
        "var_noise": float(sd_noise**2),
        "experience_shift": {item: {g: float(shift[i, k]) for i, g in enumerate(EXPERIENCE_LEVELS)}
                             for k, item in enumerate(SURVEY_ITEMS)},
        "cutpoints": cutpoints,
        "proportions": proportions,
        "expected": expected,
        "expected_by_experience": expected_by,
        "confidence_mean": {g: float(conf_pop[i] @ scores)
                            for i, g in enumerate(EXPERIENCE_LEVELS)},
        "icc_observed": {item: {g: {f"{j + 1}|{j + 2}": float(v) for j, v in enumerate(row)}
                                for g, row in zip(EXPERIENCE_LEVELS, observed_icc(
                                    cuts[item], shift[:, k], icc))}
                         for k, item in enumerate(SURVEY_ITEMS)},
        "pilot_effect": pilot_effect,
    }
    return frame, truth


# ----------------------------------------------------------------------------- family views

#: Families' view items. ``levels`` run from the lowest to the highest latent value and
#: ``shares`` are the target shares among responders at T1 (T2 for ``concerns``) over the
#: nominal mix of groups (0.3 / 0.4 / 0.3) and cohorts (1:1); ``shift`` gives the latent effects:
#: experience group (new, 2 years, 2 years plus), cohort 2, time (T2) and the extra change of the
#: 2-year group at T2; ``nonresponse`` is the share of item non-response (missing at random).
VIEW_ITEMS: dict[str, dict] = {
    "feelings": dict(levels=("very negative", "negative", "no strong feelings", "positive",
                             "very positive"),
                     shares=(0.18, 0.20, 0.175, 0.25, 0.195), nonresponse=0.03,
                     experience=(-0.1, 0.2, -0.05), cohort_2=0.15, time_t2=0.0,
                     two_years_t2=-0.1, waves=WAVES),
    "shared_understanding": dict(levels=("no", "not sure", "yes"), shares=(0.39, 0.08, 0.53),
                                 nonresponse=0.0, experience=(-0.1, 0.15, 0.0), cohort_2=0.1,
                                 time_t2=-0.1, two_years_t2=0.0, waves=WAVES),
    "concerns": dict(levels=("more", "same", "fewer"), shares=(0.12, 0.25, 0.63),
                     nonresponse=0.0, experience=(0.0, 0.15, 0.1), cohort_2=0.1, time_t2=0.0,
                     two_years_t2=0.0, waves=("T2",)),
    "contact": dict(levels=("unhelpful", "mixed", "helpful"),
                    shares=(0.29 / 0.95, 0.18 / 0.95, 0.48 / 0.95), nonresponse=0.05,
                    experience=(-0.25, 0.55, -0.2), cohort_2=0.3, time_t2=-0.05,
                    two_years_t2=-0.55, waves=WAVES),
    "helpfulness": dict(levels=(1, 2, 3, 4, 5), shares=(0.12, 0.17, 0.20, 0.30, 0.21),
                        nonresponse=0.0, experience=(-0.25, 0.5, -0.2), cohort_2=0.25,
                        time_t2=-0.05, two_years_t2=-0.5, waves=WAVES),
}
_VIEW_GROUP_MIX = np.array([0.3, 0.4, 0.3])
#: Latent variance components of the views (the pilot's is ``survey_icc``; noise takes the rest).
_VIEW_VAR_WORKER = 0.05       # the families' own worker effects (standardised membership mix)
_VIEW_VAR_FAMILY = 0.25       # a family effect shared by all items and both waves
_VIEW_VAR_FAMILY_ITEM = 0.15  # a family x item effect shared by the two waves

# category order of each frame column, as indices into ``levels`` (low -> high latent order)
_COLUMN_ORDER = {
    "feelings": (0, 1, 2, 3, 4),             # ordered very negative < ... < very positive
    "shared_understanding": (2, 0, 1),       # yes, no, not sure
    "concerns": (2, 1, 0),                   # ordered fewer < same < more, as in `families`
    "contact": (2, 1, 0),                    # helpful, mixed, unhelpful (+ "no answer")
}
_MISSING_LABEL = {"feelings": "missing", "contact": "no answer"}


def _view_shift(spec: dict, scale: float, exp: np.ndarray, cohort2: np.ndarray,
                t2: np.ndarray) -> np.ndarray:
    e = np.asarray(spec["experience"])
    return scale * (e[exp] + spec["cohort_2"] * cohort2 + spec["time_t2"] * t2
                    + spec["two_years_t2"] * ((exp == 1) & t2))


def simulate_family_views(rng: np.random.Generator, families: pd.DataFrame,
                          memberships: pd.DataFrame, fam_la: np.ndarray, pilot_codes: np.ndarray,
                          pilot_z: np.ndarray, worker_z: np.ndarray, icc: float,
                          effect_scale: float) -> tuple[pd.DataFrame, dict]:
    """Draw the long frame of families' views (T1: every family; T2: respondents) and its truth.

    ``pilot_z`` and ``worker_z`` are the standard-normal pilot and worker effects of the family
    outcome model, reused so that the views go with the outcomes of the same pilots and workers.
    """
    n = len(families)
    exp_f = families["experience"].cat.codes.to_numpy().astype(np.int64)
    cohort2_f = families["cohort"].to_numpy() == 2
    resp = families["responded_t2"].to_numpy()
    idx = np.concatenate([np.arange(n), np.flatnonzero(resp)])
    t2 = np.arange(idx.size) >= n
    exp, cohort2, la = exp_f[idx], cohort2_f[idx], fam_la[idx]
    # the family's worker effect: its membership mix of the outcome model's worker effects,
    # standardised to variance one (sum_j w_j z_j / sqrt(sum_j w_j^2))
    fid = memberships["family_id"].to_numpy() - 1
    w = memberships["weight"].to_numpy()
    mix = np.bincount(fid, weights=w * worker_z[memberships["worker_id"].to_numpy() - 1],
                      minlength=n)
    worker_f = mix / np.sqrt(np.bincount(fid, weights=w * w, minlength=n))
    n_items = len(VIEW_ITEMS)
    family = rng.standard_normal(n)
    family_item = rng.standard_normal((n, n_items))
    noise = rng.standard_normal((idx.size, n_items))
    missing_u = rng.random((idx.size, n_items))
    var_noise = 1.0 - icc - _VIEW_VAR_WORKER - _VIEW_VAR_FAMILY - _VIEW_VAR_FAMILY_ITEM
    cluster_part = np.sqrt(icc) * pilot_z[la] + np.sqrt(_VIEW_VAR_WORKER) * worker_f[idx]
    cond_scale = np.sqrt(1.0 - icc - _VIEW_VAR_WORKER)

    wave = pd.Categorical.from_codes(t2.astype(np.int64), categories=list(WAVES), ordered=True)
    columns: dict[str, object] = {
        "family_id": families["family_id"].to_numpy()[idx],
        "la_code": pd.Categorical.from_codes(la, categories=list(pilot_codes)),
        "experience": pd.Categorical.from_codes(exp, dtype=_EXPERIENCE_DTYPE),
        "cohort": np.where(cohort2, 2, 1).astype(np.int64),
        "wave": wave,
    }
    truth: dict = {
        "icc_pilot": float(icc), "var_worker": _VIEW_VAR_WORKER, "var_family": _VIEW_VAR_FAMILY,
        "var_family_item": _VIEW_VAR_FAMILY_ITEM, "var_noise": float(var_noise),
        "nonresponse": {}, "shifts": {}, "cutpoints": {}, "proportions": {},
        "by_experience": {}, "expected": {}, "expected_by_experience": {},
        "expected_by_cohort": {}, "expected_all_t2": {},
        "pilot_effect": dict(zip(pilot_codes.tolist(), (np.sqrt(icc) * pilot_z).tolist())),
    }
    grid_e, grid_c = np.meshgrid(np.arange(3), [False, True], indexing="ij")   # (3, 2)
    for k, (item, spec) in enumerate(VIEW_ITEMS.items()):
        ref_t2 = spec["waves"] == ("T2",)
        # centre the cut points on the mean shift of the reference wave's nominal population
        centre = float(np.sum(_VIEW_GROUP_MIX[:, None] * 0.5 * _view_shift(
            spec, effect_scale, grid_e, grid_c, np.full((3, 2), ref_t2))))
        cuts = _cuts_from_shares(spec["shares"], centre)
        mu = _view_shift(spec, effect_scale, exp, cohort2, t2)
        latent = (mu + cluster_part + np.sqrt(_VIEW_VAR_FAMILY) * family[idx]
                  + np.sqrt(_VIEW_VAR_FAMILY_ITEM) * family_item[idx, k]
                  + np.sqrt(var_noise) * noise[:, k])
        code = np.searchsorted(cuts, latent)
        nr = spec["nonresponse"]
        missing = missing_u[:, k] < nr
        present = t2 if ref_t2 else np.ones(idx.size, dtype=bool)
        levels = spec["levels"]
        if item == "helpfulness":
            columns[item] = (code + 1).astype(np.int64)
        else:
            order = _COLUMN_ORDER[item]
            to_column = np.argsort(order)                 # latent index -> category code
            col = to_column[code]
            cats = [levels[i] for i in order]
            if item == "contact":
                col = np.where(missing, len(cats), col)
                cats.append("no answer")
            elif item == "feelings":
                col = np.where(missing, -1, col)
            col = np.where(present, col, -1)
            columns[item] = pd.Categorical.from_codes(col, categories=cats,
                                                      ordered=item in ("feelings", "concerns"))
        # truth: population proportions by cell, and expected sample shares given the
        # realised pilot and worker effects
        keys = list(levels) + ([_MISSING_LABEL[item]] if nr > 0 else [])

        def with_nr(p: np.ndarray) -> np.ndarray:
            return np.concatenate([p * (1 - nr), np.full(p.shape[:-1] + (1,), nr)], axis=-1) \
                if nr > 0 else p

        waves = spec["waves"]
        truth["nonresponse"][item] = float(nr)
        truth["shifts"][item] = {
            **{g: float(effect_scale * spec["experience"][i])
               for i, g in enumerate(EXPERIENCE_LEVELS)},
            "cohort_2": float(effect_scale * spec["cohort_2"]),
            "time_t2": float(effect_scale * spec["time_t2"]),
            "two_years_t2": float(effect_scale * spec["two_years_t2"]),
        }
        truth["cutpoints"][item] = {f"{j + 1}|{j + 2}": float(c) for j, c in enumerate(cuts)}
        props, by_exp = {}, {}
        for wv in waves:
            at_t2 = wv == "T2"
            pop = with_nr(ordinal_probabilities(cuts, _view_shift(
                spec, effect_scale, grid_e, grid_c, np.full((3, 2), at_t2))))      # (3, 2, K)
            props[wv] = {g: {c: _level_dict(keys, pop[i, j]) for j, c in enumerate((1, 2))}
                         for i, g in enumerate(EXPERIENCE_LEVELS)}
            by_exp[wv] = {g: _level_dict(keys, pop[i].mean(axis=0))
                          for i, g in enumerate(EXPERIENCE_LEVELS)}
        truth["proportions"][item] = props
        truth["by_experience"][item] = by_exp
        exp_all, exp_g, exp_c = {}, {}, {}
        for wv in waves:
            rows = t2 if wv == "T2" else ~t2
            cdf = _ndtr((cuts[None, :] - (mu[rows] + cluster_part[rows])[:, None]) / cond_scale)
            exp_all[wv] = _level_dict(keys, with_nr(_probabilities_from_cdf(cdf))[0])
            by = with_nr(_probabilities_from_cdf(cdf, exp[rows], 3))
            exp_g[wv] = {g: _level_dict(keys, by[i]) for i, g in enumerate(EXPERIENCE_LEVELS)}
            byc = with_nr(_probabilities_from_cdf(cdf, cohort2[rows].astype(np.int64), 2))
            exp_c[wv] = {c: _level_dict(keys, byc[j]) for j, c in enumerate((1, 2))}
        truth["expected"][item] = exp_all
        truth["expected_by_experience"][item] = exp_g
        truth["expected_by_cohort"][item] = exp_c
        # what the T2 shares would have been had every family been interviewed at T2
        all_t2 = with_nr(expected_probabilities(
            cuts, _view_shift(spec, effect_scale, exp_f, cohort2_f, np.ones(n, dtype=bool))
            + np.sqrt(icc) * pilot_z[fam_la] + np.sqrt(_VIEW_VAR_WORKER) * worker_f,
            cond_scale))
        truth["expected_all_t2"][item] = _level_dict(keys, all_t2[0])
    return pd.DataFrame(columns), truth

"""Simulated social workers, families, worker memberships and time diaries.

Used by ``simulate_evaluation``; everything is vectorised over workers, families and
memberships (loops run only over the seven practice tools, the handful of outcomes and the six
diary activities).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

__all__ = [
    "TOOLS",
    "TOOL_LEVELS",
    "TRAINING_LEVELS",
    "REFERRAL_REASONS",
    "CONCERN_LEVELS",
    "ACTIVITIES",
    "OUTCOMES",
    "ATTRITION",
    "FamilyDraws",
    "WORKER_CHANGE_T2",
    "WAVES",
    "draw_worker_allocation",
    "draw_t2_memberships",
    "draw_families",
    "simulate_workers",
    "simulate_families",
    "simulate_diaries",
]

#: Practice tools and their shares (all families, some families, not at all) from study.md.
TOOLS: dict[str, tuple[float, float, float]] = {
    "tool_safety_planning": (0.42, 0.56, 0.02),
    "tool_mapping": (0.38, 0.58, 0.04),
    "tool_danger_statements": (0.48, 0.51, 0.01),
    "tool_appreciative_inquiry": (0.07, 0.24, 0.69),
    "tool_three_houses": (0.20, 0.75, 0.05),
    "tool_words_and_pictures": (0.05, 0.57, 0.38),
    "tool_family_network_meetings": (0.08, 0.41, 0.51),
}
TOOL_LEVELS: tuple[str, ...] = ("not at all", "some families", "all families")
TRAINING_LEVELS: tuple[str, ...] = ("none", "2-day", "5-day")
_AGENCY_SHARE = 0.2
_TOOL_LOADING = 0.6          # correlation of each tool's latent with worker engagement
_Z = NormalDist()
_TRAINING_CUTS = (_Z.inv_cdf(0.2), _Z.inv_cdf(0.7))    # about 20% none, 50% 2-day, 30% 5-day
_TRAINING_SHIFT = np.array([-0.3, 0.0, 0.3])          # by experience group of the LA

REFERRAL_REASONS: dict[str, float] = {
    "neglect": 0.37, "domestic violence": 0.26, "emotional abuse": 0.15,
    "physical abuse": 0.10, "sexual abuse": 0.05, "other": 0.07,
}
CONCERN_LEVELS: tuple[str, ...] = ("fewer", "same", "more")
_PREVIOUS_REFERRAL_SHARE = 204 / 270
_N_WORKERS_PROBS = np.array([0.41, 0.50, 0.09])       # one, two, three workers per family
_WEIGHT_SHAPE = 2.0                                   # gamma shape of the contact shares
#: Share of families whose workers changed between T1 and T2 in the study ("a third").
WORKER_CHANGE_T2 = 1 / 3
#: Wave labels of ``memberships_by_wave`` (those of :func:`sosstats.panel.wide_to_long`).
WAVES: tuple[str, ...] = ("t1", "t2")

_TERMS = ("intercept", "cohort_2", "experience_2_years", "experience_2_years_plus", "time_t2",
          "previous_referral", "agency_worker")

#: Family outcome models.  ``link``: identity (SDQ), logit (binary) or ordered logit, where
#: P(Y <= k) = expit(cut_k - eta).  ``sign``: direction in which the shared family, worker and
#: pilot latent variables act (a "good" worker lowers SDQ and raises understanding).  ``waves``:
#: "both" (T1 and T2) or "t2" (T2 only).
OUTCOMES: dict[str, dict] = {
    "sdq": dict(link="identity", sign=-1.0, waves="both",
                coef=(15.0, -0.5, -1.0, -1.5, -1.5, 1.5, 0.5),
                sd_family=4.0, sd_worker=1.0, sd_pilot=0.8, sd_residual=3.0),
    "shared_understanding": dict(link="logit", sign=1.0, waves="both",
                                 coef=(0.15, 0.3, 0.4, 0.3, 0.2, -0.3, -0.4),
                                 sd_family=1.0, sd_worker=0.5, sd_pilot=0.3),
    "knows_goals": dict(link="logit", sign=1.0, waves="both",
                        coef=(1.3, 0.2, 0.3, 0.4, 0.3, -0.2, -0.3),
                        sd_family=0.8, sd_worker=0.4, sd_pilot=0.3),
    "feelings": dict(link="ordinal", sign=1.0, waves="both",
                     coef=(0.0, 0.3, 0.5, 0.2, -0.2, -0.3, -0.5),
                     cuts=(-2.15, -0.65, 0.3, 1.8),
                     sd_family=1.0, sd_worker=0.6, sd_pilot=0.3),
    "concerns": dict(link="ordinal", sign=1.0, waves="t2",
                     coef=(0.0, 0.2, 0.3, 0.3, 0.0, -0.3, -0.3),
                     cuts=(-2.2, -0.55),
                     sd_family=0.8, sd_worker=0.4, sd_pilot=0.2),
    "rereferred": dict(link="logit", sign=-1.0, waves="t2",
                       coef=(-0.5, -0.1, -0.2, -0.2, 0.0, 0.6, 0.3),
                       sd_family=0.5, sd_worker=0.3, sd_pilot=0.2),
    "removed": dict(link="logit", sign=-1.0, waves="t2",
                    coef=(-3.8, 0.0, 0.0, 0.0, 0.0, 0.7, 0.3),
                    sd_family=0.5, sd_worker=0.3, sd_pilot=0.2),
}

#: Attrition model: logit P(responded_t2) = intercept + sum coef * covariate.
ATTRITION: dict[str, float] = {
    "intercept": 0.12, "previous_referral": -0.5, "agency_worker": -0.6,
    "feelings_t1": 0.35, "cohort_2": 0.2,
}

#: Diary activities and their true shares of recorded time.
ACTIVITIES: dict[str, float] = {
    "direct contact": 0.24, "case recording": 0.30, "supervision": 0.06,
    "travel": 0.10, "meetings": 0.18, "other": 0.12,
}
_DIARY_MINUTES = (2250.0, 300.0)     # mean and sd of minutes recorded in a diary week
_DIARY_CONCENTRATION = 50.0          # Dirichlet concentration of a worker's activity shares


def draw_worker_allocation(rng: np.random.Generator, pilot_pop: np.ndarray,
                           n_workers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw what :func:`simulate_workers` draws first: workers per pilot and agency status.

    Returns ``counts`` (workers per pilot: one each, the rest multinomial in proportion to
    ``pilot_pop``), ``la_idx`` (pilot index of each worker, contiguous in pilot order) and
    ``agency`` (bool per worker). :func:`simulate_workers` starts with exactly these draws, so a
    caller that needs only the families (``sosstats.design``) can stop here and get the same
    workers' pilots and agency as ``simulate_evaluation`` for the same stream.
    """
    n_pilots = pilot_pop.size
    counts = 1 + rng.multinomial(n_workers - n_pilots, pilot_pop / pilot_pop.sum())
    la_idx = np.repeat(np.arange(n_pilots), counts)
    agency = rng.random(n_workers) < _AGENCY_SHARE
    return counts, la_idx, agency


def simulate_workers(rng: np.random.Generator, pilot_codes: np.ndarray,
                     pilot_pop: np.ndarray, pilot_exp: np.ndarray,
                     n_workers: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, dict]:
    """Draw the worker frame; workers are grouped by LA (contiguous, in pilot order).

    Returns the frame, ``counts`` (workers per pilot), ``la_idx`` (pilot index per worker)
    and the truth about workers.
    """
    counts, la_idx, agency = draw_worker_allocation(rng, pilot_pop, n_workers)
    engagement = rng.standard_normal(n_workers)
    train_latent = (0.6 * engagement + 0.8 * rng.standard_normal(n_workers)
                    + _TRAINING_SHIFT[pilot_exp[la_idx]] - 0.5 * agency)
    training = np.searchsorted(np.asarray(_TRAINING_CUTS), train_latent)
    confidence = np.clip(np.round(6.0 + engagement + 0.4 * training - 0.3 * agency
                                  + rng.normal(0.0, 1.2, n_workers)), 1, 10).astype(np.int64)
    frame = pd.DataFrame({
        "worker_id": np.arange(1, n_workers + 1, dtype=np.int64),
        "la_code": pd.Categorical.from_codes(la_idx, categories=list(pilot_codes)),
        "agency": agency,
        "training": pd.Categorical.from_codes(training, categories=list(TRAINING_LEVELS),
                                              ordered=True),
        "confidence": confidence,
    })
    loading = _TOOL_LOADING
    for tool, (p_all, p_some, p_none) in TOOLS.items():
        latent = loading * engagement + np.sqrt(1 - loading**2) * rng.standard_normal(n_workers)
        cuts = np.array([_Z.inv_cdf(p_none), _Z.inv_cdf(p_none + p_some)])
        frame[tool] = pd.Categorical.from_codes(np.searchsorted(cuts, latent),
                                                categories=list(TOOL_LEVELS), ordered=True)
    truth = {
        "agency_share": _AGENCY_SHARE,
        "tool_shares": {tool: dict(zip(("all families", "some families", "not at all"), p))
                        for tool, p in TOOLS.items()},
        "engagement": dict(zip(frame["worker_id"].tolist(), engagement.tolist())),
    }
    return frame, counts, la_idx, truth


def _memberships(rng: np.random.Generator, n_families: int, counts: np.ndarray,
                 la_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Worker indices (n, 3), validity mask (n, 3) and contact weights (n, 3).

    Column 0 is the family's main worker (the largest share); further workers are distinct
    workers of the same LA.
    """
    n_workers = la_idx.size
    primary = rng.integers(0, n_workers, n_families)
    la = la_idx[primary]
    m = counts[la]
    start = np.cumsum(counts)[la] - m
    k = np.minimum(rng.choice(3, size=n_families, p=_N_WORKERS_PROBS) + 1, m)
    offset = primary - start
    a = 1 + np.floor(rng.random(n_families) * (m - 1)).astype(np.int64)
    b = 1 + np.floor(rng.random(n_families) * np.maximum(m - 2, 0)).astype(np.int64)
    b += b >= a
    workers = np.stack([primary, start + (offset + a) % m, start + (offset + b) % m], axis=1)
    valid = np.arange(3)[None, :] < k[:, None]
    weights = rng.gamma(_WEIGHT_SHAPE, size=(n_families, 3))
    weights[~valid] = 0.0
    weights = -np.sort(-weights, axis=1)
    weights /= weights.sum(axis=1, keepdims=True)
    return workers, valid, weights


def draw_t2_memberships(rng: np.random.Generator, workers: np.ndarray, valid: np.ndarray,
                        weights: np.ndarray, counts: np.ndarray, la_idx: np.ndarray,
                        share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Workers of each family at T2: the T1 workers, plus a new one for a share of families.

    With probability ``share`` a family changes worker between T1 and T2: a new worker,
    uniform among the workers of its LA not already among its T1 workers, joins the T1 ones
    (families whose LA has no other worker cannot change). Holding the T1 workers' relative
    shares, the new worker's share is :math:`s \sim \mathrm{Beta}(2, 2k)` with :math:`k` the
    number of T1 workers (the marginal of a Dirichlet(2, ..., 2) over the :math:`k + 1`
    workers, as the T1 shares are gamma(2) draws normalised), the others' :math:`(1 - s) w_j`.
    Three uniform / beta draws per family whatever ``share`` (so the draws do not depend on it).

    Returns ``(n, 4)`` worker indices, mask and weights (column 3: the new worker) and the
    bool ``changed`` per family.
    """
    n = workers.shape[0]
    fam_la = la_idx[workers[:, 0]]
    m = counts[fam_la]
    start = np.cumsum(counts)[fam_la] - m
    k = valid.sum(axis=1)
    u_change, u_pick = rng.random(n), rng.random(n)
    s = rng.beta(_WEIGHT_SHAPE, _WEIGHT_SHAPE * np.maximum(k, 1))
    changed = (u_change < share) & (k < m)
    # the r-th worker of the LA not among the family's: skip its sorted offsets in turn
    offsets = np.sort(np.where(valid, workers - start[:, None], np.iinfo(np.int64).max), axis=1)
    pick = np.floor(u_pick * np.maximum(m - k, 1)).astype(np.int64)
    for j in range(offsets.shape[1]):
        pick += pick >= offsets[:, j]
    new = np.where(changed, start + pick, workers[:, 0])
    s = np.where(changed, s, 0.0)
    workers_t2 = np.column_stack([workers, new])
    valid_t2 = np.column_stack([valid, changed])
    weights_t2 = np.column_stack([weights * (1.0 - s)[:, None], s])
    return workers_t2, valid_t2, weights_t2, changed


def _draw(rng: np.random.Generator, spec: dict, eta: np.ndarray) -> np.ndarray:
    """One draw of an outcome given its linear predictor (incl. random effects)."""
    if spec["link"] == "identity":
        y = eta + rng.normal(0.0, spec["sd_residual"], eta.size)
        return np.clip(np.round(y), 0, 40)
    latent = eta + rng.logistic(size=eta.size)
    if spec["link"] == "logit":
        return (latent > 0).astype(float)
    return np.searchsorted(np.asarray(spec["cuts"]), latent).astype(float)


@dataclass(frozen=True, eq=False)
class FamilyDraws:
    """The random draws of :func:`simulate_families`, as arrays (no frames, no truth).

    ``columns`` holds every outcome's T1 / T2 values before attrition is applied (``feelings``
    on 1..5, ``concerns_t2`` as the latent improvement code 0..2); ``responded`` is the T2
    response. :func:`simulate_families` builds its frames and truth from these.
    """

    workers: np.ndarray        # (n, 3) worker indices (column 0: main worker)
    valid: np.ndarray          # (n, 3) membership mask
    weights: np.ndarray        # (n, 3) contact shares (0 where not valid)
    fam_la: np.ndarray         # (n,) pilot index
    exp: np.ndarray            # (n,) experience code 0..2
    cohort2: np.ndarray        # (n,) bool
    prev: np.ndarray           # (n,) previous referral
    reason: np.ndarray         # (n,) referral reason code
    agency_worker: np.ndarray  # (n,) main worker is agency staff
    z_family: np.ndarray
    z_worker: np.ndarray
    z_pilot: np.ndarray
    columns: dict[str, np.ndarray]
    responded: np.ndarray      # (n,) bool
    workers_t2: np.ndarray | None = None    # (n, 4) T2 worker indices (column 3: new worker)
    valid_t2: np.ndarray | None = None      # (n, 4) T2 membership mask
    weights_t2: np.ndarray | None = None    # (n, 4) T2 contact shares
    changed_t2: np.ndarray | None = None    # (n,) bool: a new worker between T1 and T2


def draw_families(rng: np.random.Generator, n_families: int, counts: np.ndarray,
                  la_idx: np.ndarray, pilot_exp: np.ndarray, agency: np.ndarray,
                  n_pilots: int, change_rng: np.random.Generator | None = None,
                  worker_change: float = 0.0) -> FamilyDraws:
    """Every random draw of :func:`simulate_families`, in its order, as arrays.

    With ``change_rng`` the T2 memberships are drawn from it (:func:`draw_t2_memberships`,
    ``worker_change`` the share of families who change worker); T2 outcomes then use the T2
    workers' effects. ``rng`` is consumed exactly as without it, so every T1 value, every
    other draw and, when no family changes, every T2 value are the same.

    The families, their memberships, covariates, random effects, all outcomes at T1 and T2 and
    the T2 response, without building frames or the truth dictionaries: what
    ``sosstats.design`` needs to simulate ``simulate_evaluation``'s families table (bit for
    bit the same values for the same stream) at a fraction of the cost.
    """
    n, n_workers = n_families, la_idx.size
    workers, valid, weights = _memberships(rng, n, counts, la_idx)
    fam_la = la_idx[workers[:, 0]]
    exp = pilot_exp[fam_la]
    cohort2 = rng.random(n) < 0.5
    prev = rng.random(n) < _PREVIOUS_REFERRAL_SHARE
    reason = rng.choice(len(REFERRAL_REASONS), size=n, p=list(REFERRAL_REASONS.values()))
    agency_worker = agency[workers[:, 0]]
    z_family = rng.standard_normal(n)
    z_worker = rng.standard_normal(n_workers)
    z_pilot = rng.standard_normal(n_pilots)
    worker_mix = np.einsum("ij,ij->i", weights, z_worker[workers])    # invalid weights are 0
    t2 = None
    if change_rng is not None:
        t2 = draw_t2_memberships(change_rng, workers, valid, weights, counts, la_idx,
                                 worker_change)
    mix_change = None
    if t2 is not None and t2[3].any():
        mix_change = np.einsum("ij,ij->i", t2[2], z_worker[t2[0]]) - worker_mix
    design = np.column_stack([np.ones(n), cohort2, exp == 1, exp == 2, np.zeros(n), prev,
                              agency_worker]).astype(float)
    columns: dict[str, np.ndarray] = {}
    for name, spec in OUTCOMES.items():
        coef = np.asarray(spec["coef"])
        s = spec["sign"]
        re = s * (spec["sd_family"] * z_family + spec["sd_pilot"] * z_pilot[fam_la]
                  + spec["sd_worker"] * worker_mix)
        eta1 = design @ coef + re
        if spec["waves"] == "both":
            columns[f"{name}_t1"] = _draw(rng, spec, eta1)
        eta2 = eta1 + coef[4]
        if mix_change is not None:   # the T2 workers' effects replace the T1 workers'
            eta2 = eta2 + s * spec["sd_worker"] * mix_change
        columns[f"{name}_t2"] = _draw(rng, spec, eta2)
    columns["feelings_t1"] += 1.0           # ordinal codes 0..4 -> 1..5
    columns["feelings_t2"] += 1.0
    a = ATTRITION
    eta_r = (a["intercept"] + a["previous_referral"] * prev + a["agency_worker"] * agency_worker
             + a["feelings_t1"] * columns["feelings_t1"] + a["cohort_2"] * cohort2)
    responded = rng.random(n) < 1.0 / (1.0 + np.exp(-eta_r))
    return FamilyDraws(workers, valid, weights, fam_la, exp, cohort2, prev, reason,
                       agency_worker, z_family, z_worker, z_pilot, columns, responded,
                       *(t2 if t2 is not None else ()))


def simulate_families(rng: np.random.Generator, n_families: int, counts: np.ndarray,
                      la_idx: np.ndarray, pilot_codes: np.ndarray, pilot_exp: np.ndarray,
                      agency: np.ndarray, change_rng: np.random.Generator | None = None,
                      worker_change: float = 0.0,
                      ) -> tuple[pd.DataFrame, pd.DataFrame, dict, pd.DataFrame | None]:
    """Draw families and memberships; return both frames, the truth and the wave memberships.

    The last item is ``memberships_by_wave`` (``family_id, wave, worker_id, weight``; T1 rows
    are ``memberships``'s), or None without ``change_rng``.
    """
    d = draw_families(rng, n_families, counts, la_idx, pilot_exp, agency, pilot_codes.size,
                      change_rng=change_rng, worker_change=worker_change)
    n, n_workers = n_families, la_idx.size
    workers, valid, weights, fam_la, exp = d.workers, d.valid, d.weights, d.fam_la, d.exp
    cohort2, prev, reason, agency_worker = d.cohort2, d.prev, d.reason, d.agency_worker
    z_worker, z_pilot, columns, responded = d.z_worker, d.z_pilot, d.columns, d.responded

    out_truth: dict[str, dict] = {}
    worker_ids = np.arange(1, n_workers + 1).tolist()
    for name, spec in OUTCOMES.items():
        coef = np.asarray(spec["coef"])
        s = spec["sign"]
        entry = dict(zip(_TERMS, coef.tolist()))
        if spec["waves"] == "t2":
            del entry["time_t2"]
        for key in ("sd_family", "sd_worker", "sd_pilot", "sd_residual"):
            if key in spec:
                entry[key] = float(spec[key])
        if "cuts" in spec:
            entry["cutpoints"] = {f"{k + 1}|{k + 2}": float(c) for k, c in enumerate(spec["cuts"])}
            del entry["intercept"]
        entry["sign"] = float(s)
        entry["worker_effect"] = dict(zip(worker_ids, (s * spec["sd_worker"] * z_worker).tolist()))
        entry["pilot_effect"] = dict(zip(pilot_codes.tolist(),
                                         (s * spec["sd_pilot"] * z_pilot).tolist()))
        out_truth[name] = entry
    # all-family T2 means before attrition (binary means are shares; concerns: share "fewer")
    t2_all_means = {name: float(columns[f"{name}_t2"].mean()) if n else float("nan")
                    for name in ("sdq", "shared_understanding", "knows_goals", "feelings")}
    t2_all_means["concerns_fewer"] = float((columns["concerns_t2"] == 2).mean()) if n else \
        float("nan")
    for name in ("sdq", "shared_understanding", "knows_goals", "feelings"):
        columns[f"{name}_t2"][~responded] = np.nan
    # concerns: latent improvement codes 0 = more, 1 = same, 2 = fewer; categories run
    # fewer < same < more, so the category code is 2 - latent code (-1 for non-respondents)
    concern_code = np.where(responded, 2 - columns["concerns_t2"], -1).astype(np.int64)

    family_id = np.arange(1, n + 1, dtype=np.int64)
    frame = pd.DataFrame({
        "family_id": family_id,
        "la_code": pd.Categorical.from_codes(fam_la, categories=list(pilot_codes)),
        "experience": pd.Categorical.from_codes(exp, categories=["new", "2 years",
                                                                 "2 years plus"], ordered=True),
        "cohort": np.where(cohort2, 2, 1).astype(np.int64),
        "previous_referral": prev,
        "referral_reason": pd.Categorical.from_codes(reason, categories=list(REFERRAL_REASONS)),
        "agency_worker": agency_worker,
        "sdq_t1": columns["sdq_t1"].astype(np.int64),
        "sdq_t2": columns["sdq_t2"],
        "shared_understanding_t1": columns["shared_understanding_t1"].astype(np.int64),
        "shared_understanding_t2": columns["shared_understanding_t2"],
        "knows_goals_t1": columns["knows_goals_t1"].astype(np.int64),
        "knows_goals_t2": columns["knows_goals_t2"],
        "feelings_t1": columns["feelings_t1"].astype(np.int64),
        "feelings_t2": columns["feelings_t2"],
        "concerns_t2": pd.Categorical.from_codes(concern_code, categories=list(CONCERN_LEVELS),
                                                 ordered=True),
        "rereferred_t2": columns["rereferred_t2"].astype(np.int64),
        "removed_t2": columns["removed_t2"].astype(np.int64),
        "responded_t2": responded,
    })
    members = pd.DataFrame({
        "family_id": np.broadcast_to(family_id[:, None], valid.shape)[valid],
        "worker_id": workers[valid] + 1,
        "weight": weights[valid],
    })
    by_wave = None
    if d.workers_t2 is not None:   # T1 rows then T2 rows of each family, built from arrays
        v2 = d.valid_t2
        n1, n2 = int(valid.sum()), int(v2.sum())
        fam = np.concatenate([members["family_id"].to_numpy(),
                              np.broadcast_to(family_id[:, None], v2.shape)[v2]])
        wave = np.repeat(np.array([0, 1], dtype=np.int8), [n1, n2])
        order = np.lexsort((wave, fam))      # stable: each family's T1 rows keep their order
        by_wave = pd.DataFrame({
            "family_id": fam[order],
            "wave": pd.Categorical.from_codes(wave[order], categories=list(WAVES), ordered=True),
            "worker_id": np.concatenate([members["worker_id"].to_numpy(),
                                         d.workers_t2[v2] + 1])[order],
            "weight": np.concatenate([members["weight"].to_numpy(), d.weights_t2[v2]])[order],
        })
    truth = {
        "outcomes": out_truth,
        "attrition": dict(ATTRITION),
        "t2_all_means": t2_all_means,
        "shares": {
            "previous_referral": _PREVIOUS_REFERRAL_SHARE,
            "cohort_2": 0.5,
            "referral_reason": dict(REFERRAL_REASONS),
            "n_workers": {"1": 0.41, "2": 0.50, "3": 0.09},
        },
    }
    if d.changed_t2 is not None:
        truth["worker_change"] = {
            "share_t2": float(worker_change),
            "realised_t2": float(d.changed_t2.mean()) if n else float("nan"),
        }
    return frame, members, truth, by_wave


def simulate_diaries(rng: np.random.Generator, n_diarists: int,
                     n_workers: int) -> tuple[pd.DataFrame, dict]:
    """Draw the long diary frame (worker x activity x minutes) and the truth about it."""
    diarists = np.sort(rng.choice(n_workers, size=n_diarists, replace=False)) + 1
    shares = np.array(list(ACTIVITIES.values()))
    total = np.maximum(rng.normal(*_DIARY_MINUTES, n_diarists), 600.0)
    g = rng.gamma(_DIARY_CONCENTRATION * shares, size=(n_diarists, shares.size))
    minutes = np.round(total[:, None] * g / g.sum(axis=1, keepdims=True)).astype(np.int64)
    frame = pd.DataFrame({
        "worker_id": np.repeat(diarists, shares.size).astype(np.int64),
        "activity": pd.Categorical.from_codes(np.tile(np.arange(shares.size), n_diarists),
                                              categories=list(ACTIVITIES)),
        "minutes": minutes.ravel(),
    })
    truth = {
        "activity_shares": dict(ACTIVITIES),
        "mean_total_minutes": _DIARY_MINUTES[0],
        "sd_total_minutes": _DIARY_MINUTES[1],
        "concentration": _DIARY_CONCENTRATION,
    }
    return frame, truth

"""Simulated double-coded case records at T1 and T2 (used by ``simulate_evaluation``).

Each sampled family's case record is coded for recording quality (4-point ordinal) at T1 and
re-analysed at T2 by two coders. The true quality is an ordered probit with a pilot random effect
and a record effect shared by the two waves, shifted up at T2; each coder reports the true level,
or one level below or above it with known probabilities (clipped at the ends), independently of
the other coder given the true level. The population joint distribution of the two coders'
ratings, and so the true agreement and (weighted) kappa, follow in closed form. Vectorised over
records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sosstats.datasets._simulate_las import EXPERIENCE_LEVELS
from sosstats.datasets._simulate_survey import (
    WAVES,
    _cuts_from_shares,
    _level_dict,
    expected_probabilities,
    observed_icc,
    ordinal_probabilities,
)

__all__ = ["QUALITY_LEVELS", "CODERS", "confusion_matrix", "kappa_from_joint",
           "simulate_case_records"]

#: Recording-quality levels, low to high.
QUALITY_LEVELS: tuple[str, ...] = ("poor", "adequate", "good", "very good")
_QUALITY_SHARES_T1 = (0.25, 0.40, 0.25, 0.10)
_IMPROVEMENT = 0.4            # latent shift of quality at T2 (before ``survey_effect_scale``)
_VAR_RECORD = 0.4             # latent variance of a record effect shared by T1 and T2
#: Shares of a coder's error probability that go one level down and one level up.
CODERS: dict[str, tuple[float, float]] = {"coder_1": (0.5, 0.5), "coder_2": (0.25, 0.75)}


def confusion_matrix(n_levels: int, down: float, up: float) -> np.ndarray:
    """Coder confusion matrix ``C[k, a] = P(rating a | true level k)``.

    One level down with probability ``down``, up with ``up``, the true level otherwise; a step
    past either end stays at the end.
    """
    c = np.eye(n_levels) * (1.0 - down - up)
    k = np.arange(n_levels)
    np.add.at(c, (k, np.maximum(k - 1, 0)), down)
    np.add.at(c, (k, np.minimum(k + 1, n_levels - 1)), up)
    return c


def kappa_from_joint(joint: np.ndarray) -> dict[str, float]:
    r"""Agreement and Cohen's kappa (unweighted, linear, quadratic) of a joint distribution.

    :math:`\kappa_w = (\sum_{ab} w_{ab} p_{ab} - \sum_{ab} w_{ab} p_{a+} p_{+b}) /
    (1 - \sum_{ab} w_{ab} p_{a+} p_{+b})` with agreement weights :math:`w_{ab} = 1[a = b]`,
    :math:`1 - |a - b|/(K - 1)` or :math:`1 - (a - b)^2/(K - 1)^2` (Cohen 1968).
    """
    k = joint.shape[0]
    d = np.subtract.outer(np.arange(k), np.arange(k)) / (k - 1)
    expected = np.outer(joint.sum(axis=1), joint.sum(axis=0))
    out = {"agreement": float(np.trace(joint))}
    for name, w in (("unweighted", np.eye(k)), ("linear", 1 - np.abs(d)),
                    ("quadratic", 1 - d**2)):
        po, pe = float((w * joint).sum()), float((w * expected).sum())
        out[name] = (po - pe) / (1 - pe)
    return out


def simulate_case_records(rng: np.random.Generator, n_records: int, families: pd.DataFrame,
                          fam_la: np.ndarray, pilot_codes: np.ndarray, icc: float,
                          effect_scale: float, coder_error: float
                          ) -> tuple[pd.DataFrame, dict, np.ndarray]:
    """Draw the long case-record frame (T1 block, then T2 block) and its truth.

    Also returns the true levels (2, n_records) as integer codes into :data:`QUALITY_LEVELS`.
    """
    n_fam, n_pilots, n_levels = len(families), pilot_codes.size, len(QUALITY_LEVELS)
    chosen = np.sort(rng.choice(n_fam, size=n_records, replace=False))
    la = fam_la[chosen]
    u = rng.standard_normal(n_pilots)
    record = rng.standard_normal(n_records)
    noise = rng.standard_normal((2, n_records))
    improvement = effect_scale * _IMPROVEMENT
    wave_shift = np.array([0.0, improvement])
    var_noise = 1.0 - icc - _VAR_RECORD
    pilot_part = np.sqrt(icc) * u
    cuts = _cuts_from_shares(_QUALITY_SHARES_T1)
    latent = (wave_shift[:, None] + pilot_part[la][None, :] + np.sqrt(_VAR_RECORD) * record
              + np.sqrt(var_noise) * noise)
    true = np.searchsorted(cuts, latent)                                  # (2, n)
    ratings = {}
    confusion = {}
    for name, (down_share, up_share) in CODERS.items():
        down, up = coder_error * down_share, coder_error * up_share
        draw = rng.random((2, n_records))
        step = (draw >= 1.0 - up).astype(np.int64) - (draw < down)
        ratings[name] = np.clip(true + step, 0, n_levels - 1)
        confusion[name] = confusion_matrix(n_levels, down, up)

    wave = np.repeat(np.arange(2), n_records)
    rows = np.tile(chosen, 2)
    columns: dict[str, object] = {
        "family_id": families["family_id"].to_numpy()[rows],
        "la_code": pd.Categorical.from_codes(fam_la[rows], categories=list(pilot_codes)),
        "experience": pd.Categorical.from_codes(
            families["experience"].cat.codes.to_numpy()[rows],
            categories=list(EXPERIENCE_LEVELS), ordered=True),
        "cohort": families["cohort"].to_numpy()[rows],
        "wave": pd.Categorical.from_codes(wave, categories=list(WAVES), ordered=True),
    }
    dtype = pd.CategoricalDtype(list(QUALITY_LEVELS), ordered=True)
    for name in CODERS:
        columns[name] = pd.Categorical.from_codes(ratings[name].ravel(), dtype=dtype)
    frame = pd.DataFrame(columns)

    c1, c2 = confusion["coder_1"], confusion["coder_2"]
    pop = ordinal_probabilities(cuts, wave_shift)                           # (2, K)
    expected = np.concatenate([expected_probabilities(cuts, shift + pilot_part[la],
                                                      np.sqrt(1.0 - icc))
                               for shift in wave_shift])                    # (2, K)
    scores = np.arange(1, n_levels + 1, dtype=float)

    def joint_of(pi: np.ndarray) -> np.ndarray:
        return np.einsum("k,ka,kb->ab", pi, c1, c2)

    keys = (*WAVES, "pooled")
    pops = (*pop, pop.mean(axis=0))
    exps = (*expected, expected.mean(axis=0))
    joints = {key: joint_of(p) for key, p in zip(keys, pops)}
    stats = {key: kappa_from_joint(j) for key, j in joints.items()}
    stats_expected = ({key: kappa_from_joint(joint_of(p)) for key, p in zip(keys, exps)}
                      if n_records else {key: {s: float("nan") for s in stats[key]}
                                         for key in keys})
    truth = {
        "icc_pilot": float(icc),
        "var_record": _VAR_RECORD,
        "var_noise": float(var_noise),
        "improvement": float(improvement),
        "cutpoints": {f"{j + 1}|{j + 2}": float(c) for j, c in enumerate(cuts)},
        "coder_error": float(coder_error),
        "confusion": {name: {lv: _level_dict(QUALITY_LEVELS, confusion[name][i])
                             for i, lv in enumerate(QUALITY_LEVELS)} for name in CODERS},
        "proportions": {wv: _level_dict(QUALITY_LEVELS, pop[t]) for t, wv in enumerate(WAVES)},
        "expected": {wv: _level_dict(QUALITY_LEVELS, expected[t])
                     for t, wv in enumerate(WAVES)},
        "mean_score": {wv: float(pop[t] @ scores) for t, wv in enumerate(WAVES)},
        "joint": {key: {a: _level_dict(QUALITY_LEVELS, joints[key][i])
                        for i, a in enumerate(QUALITY_LEVELS)} for key in keys},
        "agreement": {key: stats[key]["agreement"] for key in keys},
        "kappa": {key: {s: stats[key][s] for s in ("unweighted", "linear", "quadratic")}
                  for key in keys},
        "agreement_expected": {key: stats_expected[key]["agreement"] for key in keys},
        "kappa_expected": {key: {s: stats_expected[key][s]
                                 for s in ("unweighted", "linear", "quadratic")}
                           for key in keys},
        "icc_observed": {wv: {f"{j + 1}|{j + 2}": float(v) for j, v in enumerate(row)}
                         for wv, row in zip(WAVES, observed_icc(cuts, wave_shift, icc))},
        "pilot_effect": dict(zip(pilot_codes.tolist(), pilot_part.tolist())),
    }
    return frame, truth, true

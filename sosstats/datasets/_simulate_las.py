"""Simulated local authorities and their published indicators (used by ``simulate_evaluation``).

Two steps, each vectorised over LAs (loops run only over the handful of indicators):

* :func:`simulate_las` draws the LAs: type, region, child population, eight socio-economic
  covariates driven by a latent deprivation factor and a latent urbanity factor, pilots and their
  experience group.
* :func:`simulate_indicators` draws the LA x year x indicator panel whose expected level is a
  function of the covariates, an LA random effect, a common year effect and noise, plus a known
  pilot effect from each pilot's start year, then applies DfE-style suppression.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "COVARIATES",
    "EXPERIENCE_LEVELS",
    "INDICATORS",
    "REGIONS",
    "DEFAULT_START_YEARS",
    "simulate_las",
    "simulate_indicators",
]

#: The nine English regions (ONS names).
REGIONS: tuple[str, ...] = (
    "North East", "North West", "Yorkshire and The Humber", "East Midlands", "West Midlands",
    "East of England", "London", "South East", "South West",
)

#: Experience-of-SoS groups of the pilots, in order of experience.
EXPERIENCE_LEVELS: tuple[str, ...] = ("new", "2 years", "2 years plus")
_EXPERIENCE_SHARES = np.array([0.3, 0.4, 0.3])

#: Year (ending 31 March) each experience group started SoS: 2016 means 2015/16.
DEFAULT_START_YEARS: dict[str, int] = {"new": 2016, "2 years": 2014, "2 years plus": 2013}

#: The socio-economic covariates, in column order.
COVARIATES: tuple[str, ...] = (
    "deprivation_score", "low_income_children_pct", "lone_parent_pct", "ethnic_minority_pct",
    "population_density", "social_housing_pct", "unemployment_pct", "fsm_pct",
)

# LA types: GSS code prefix, label used in names, number in England in 2016 by region (in the
# order of REGIONS).  These reproduce the real 152 = 56 + 36 + 33 + 27 split at n_las = 152.
_TYPES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("E06", (7, 6, 5, 4, 4, 6, 0, 12, 12)),   # unitary authorities
    ("E08", (5, 15, 9, 0, 7, 0, 0, 0, 0)),    # metropolitan districts
    ("E09", (0, 0, 0, 0, 0, 0, 33, 0, 0)),    # London boroughs
    ("E10", (0, 2, 1, 5, 3, 5, 0, 7, 4)),     # shire counties
)
_TYPE_URBANITY = np.array([0.2, 0.8, 1.7, -1.0])
_TYPE_DEPRIVATION = np.array([0.0, 0.6, 0.3, -0.6])
_REGION_DEPRIVATION = np.array([0.5, 0.3, 0.3, 0.0, 0.2, -0.3, 0.2, -0.5, -0.3])
_TYPE_LOG_POP = np.log([40_000.0, 65_000.0, 55_000.0, 150_000.0])
_TYPE_LOG_POP_SD = np.array([0.5, 0.35, 0.3, 0.4])

_STEMS = ("Ash", "Brack", "Castle", "Dun", "Elm", "Fair", "Glen", "Hart", "Iron", "King",
          "Lark", "Marsh", "North", "Oak", "Pen", "Queen", "Red", "Stone", "Thorn", "Upton",
          "Wood", "West", "Yew", "Ald", "Bram", "Cole", "Den", "Ever")
_ENDINGS = ("ford", "ham", "ley", "bury", "field", "worth", "wick", "ton", "mouth", "dale",
            "borough", "minster")

# Covariate loadings: (intercept, deprivation factor, urbanity factor, noise sd).
_COVARIATE_MODEL = {
    "deprivation_score": (22.0, 7.0, 1.5, 2.0),
    "low_income_children_pct": (19.0, 6.0, 1.0, 1.5),
    "lone_parent_pct": (24.0, 4.0, 1.5, 2.0),
    "ethnic_minority_pct": (-2.2, 0.3, 1.1, 0.4),      # logit scale, then 100 * expit
    "population_density": (1.0, 0.1, 1.3, 0.3),        # log scale (persons per hectare)
    "social_housing_pct": (17.0, 3.5, 3.0, 2.0),
    "unemployment_pct": (5.5, 1.5, 0.5, 0.6),
    "fsm_pct": (15.0, 5.0, 1.5, 1.5),
}

# Effect of one standard deviation of each covariate on the log expected rate (before the
# per-indicator multiplier).
_COVARIATE_LOADINGS = np.array([0.12, 0.08, 0.05, -0.06, -0.03, 0.03, 0.03, 0.05])

#: Indicator specifications: kind ("rate" per 10,000, "mean" on own scale or "pct" of referrals),
#: base level, pilot effect, covariate multiplier, LA random-effect sd, LA x year noise sd and
#: linear trend per year (own scale; for rates as a share of the base rate).
INDICATORS: dict[str, dict[str, float | str]] = {
    "referrals_rate_per_10k": dict(kind="rate", base=560.0, effect=0.0, mult=0.8,
                                   sd_la=0.15, sd_noise=0.05, trend=-0.01),
    "assessments_rate_per_10k": dict(kind="rate", base=500.0, effect=-100.0, mult=0.9,
                                     sd_la=0.15, sd_noise=0.05, trend=0.02),
    "assessment_duration_days": dict(kind="mean", base=28.0, effect=-7.0, mult=0.5,
                                     sd_la=4.0, sd_noise=2.0, trend=-0.5),
    "s47_rate_per_10k": dict(kind="rate", base=150.0, effect=-10.0, mult=1.0,
                             sd_la=0.18, sd_noise=0.06, trend=0.05),
    "icpc_rate_per_10k": dict(kind="rate", base=65.0, effect=-15.0, mult=1.0,
                              sd_la=0.15, sd_noise=0.06, trend=0.03),
    "s47_to_icpc_median_wd": dict(kind="mean", base=14.0, effect=-1.0, mult=0.3,
                                  sd_la=1.8, sd_noise=1.2, trend=-0.2),
    "cpp_started_rate_per_10k": dict(kind="rate", base=55.0, effect=-10.0, mult=1.0,
                                     sd_la=0.15, sd_noise=0.07, trend=0.03),
    "rereferrals_within_12m_pct": dict(kind="pct", base=22.0, effect=-1.0, mult=0.3,
                                       sd_la=3.0, sd_noise=1.5, trend=-0.3),
    "cla_rate_per_10k": dict(kind="rate", base=60.0, effect=0.0, mult=1.3,
                             sd_la=0.15, sd_noise=0.03, trend=0.01),
}
_RATE_FLOOR = 1.0            # expected rate per 10,000 is floored here after the pilot effect
_BOUNDS = {                  # keep expected levels in range after the pilot effect
    "rate": lambda x: np.maximum(x, _RATE_FLOOR),
    "pct": lambda x: np.clip(x, 1.0, 90.0),
    "mean": lambda x: np.maximum(x, 1.0),
}
_SHARED_LA_CORRELATION = 0.6  # correlation of LA random effects across indicators
_YEAR_SHOCK_SD = 0.3          # year shocks, as a share of each indicator's noise sd
_SUPPRESSION_FLAGS = np.array(["x", "c", ".."], dtype=object)
_SUPPRESSION_PROBS = np.array([0.4, 0.4, 0.2])


def _largest_remainder(total: int, weights: Sequence[float]) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (Hamilton's method)."""
    w = np.asarray(weights, dtype=float)
    quota = total * w / w.sum()
    counts = np.floor(quota).astype(np.int64)
    short = total - int(counts.sum())
    if short:
        order = np.argsort(-(quota - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


def _la_names(rng: np.random.Generator, type_idx: np.ndarray) -> np.ndarray:
    """Draw unique invented place names ("Oakford", "Borough of Elmley", "Ashburyshire")."""
    stems = np.array([s + e for s in _STEMS for e in _ENDINGS], dtype=object)
    n = type_idx.size
    reps = -(-n // stems.size)
    order = np.concatenate([rng.permutation(stems.size) for _ in range(reps)])[:n]
    base = stems[order]
    county = type_idx == 3
    base[county] = base[county] + "shire"
    base[type_idx == 2] = "Borough of " + base[type_idx == 2]
    if reps > 1:                                    # more LAs than invented stems
        base = base + np.array([f" {1 + i // stems.size}" if i >= stems.size else ""
                                for i in range(n)], dtype=object)
    return base


def simulate_las(rng: np.random.Generator, n_las: int, n_pilots: int,
                 start_years: Mapping[str, int]) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Draw the LA frame; return it, the covariate z-scores and the truth about it."""
    type_counts = _largest_remainder(n_las, [sum(r) for _, r in _TYPES])
    type_idx = np.repeat(np.arange(len(_TYPES)), type_counts)
    region_idx = np.empty(n_las, dtype=np.int64)
    codes = np.empty(n_las, dtype=object)
    pos = 0
    for t, ((prefix, regions), count) in enumerate(zip(_TYPES, type_counts)):
        reg = np.repeat(np.arange(len(REGIONS)), _largest_remainder(int(count), regions))
        region_idx[pos:pos + count] = rng.permutation(reg)
        codes[pos:pos + count] = [f"{prefix}{900001 + k:06d}" for k in range(count)]
        pos += count

    urbanity = _TYPE_URBANITY[type_idx] + rng.normal(0.0, 0.5, n_las)
    deprivation = (_TYPE_DEPRIVATION[type_idx] + _REGION_DEPRIVATION[region_idx]
                   + rng.normal(0.0, 0.6, n_las))
    log_pop = _TYPE_LOG_POP[type_idx] + _TYPE_LOG_POP_SD[type_idx] * rng.standard_normal(n_las)
    child_population = np.clip(np.round(np.exp(log_pop)), 5_000, 330_000).astype(np.int64)

    cov = np.empty((n_las, len(COVARIATES)))
    for k, name in enumerate(COVARIATES):
        a, b_dep, b_urb, sd = _COVARIATE_MODEL[name]
        raw = a + b_dep * deprivation + b_urb * urbanity + rng.normal(0.0, sd, n_las)
        if name == "ethnic_minority_pct":
            raw = 100.0 / (1.0 + np.exp(-raw))
        elif name == "population_density":
            raw = np.exp(raw)
        else:
            raw = np.maximum(raw, 0.5)
        cov[:, k] = np.round(raw, 2)

    pilots = np.sort(rng.choice(n_las, size=n_pilots, replace=False))
    exp_counts = _largest_remainder(n_pilots, _EXPERIENCE_SHARES)
    exp_code = np.full(n_las, -1, dtype=np.int64)
    exp_code[pilots] = rng.permutation(np.repeat(np.arange(3), exp_counts))
    start = np.full(n_las, np.nan)
    start_by_code = np.array([start_years[level] for level in EXPERIENCE_LEVELS], dtype=float)
    start[pilots] = start_by_code[exp_code[pilots]]

    frame = pd.DataFrame({
        "la_code": pd.array(codes, dtype="str"),
        "la_name": pd.array(_la_names(rng, type_idx), dtype="str"),
        "region": pd.Categorical.from_codes(region_idx, categories=list(REGIONS)),
        "child_population": child_population,
        "pilot": exp_code >= 0,
        "experience": pd.Categorical.from_codes(exp_code, categories=list(EXPERIENCE_LEVELS),
                                                ordered=True),
        "sos_start_year": start,
    })
    for k, name in enumerate(COVARIATES):
        frame[name] = cov[:, k]
    sd = cov.std(axis=0)
    z = (cov - cov.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    truth = {
        "deprivation_factor": dict(zip(codes.tolist(), deprivation.tolist())),
        "urbanity_factor": dict(zip(codes.tolist(), urbanity.tolist())),
    }
    return frame, z, truth


def _expected_levels(spec: Mapping[str, float | str], z: np.ndarray, la_effect: np.ndarray,
                     year_effect: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the expected level without the pilot effect (LA x year) and the coefficients.

    The year effect is additive on the indicator's own scale (so trends are exactly parallel);
    for rates the LA part is log-linear in the covariates and multiplied by ``exp(noise)``.
    """
    base = float(spec["base"])
    log_coef = float(spec["mult"]) * _COVARIATE_LOADINGS
    if spec["kind"] == "rate":
        lin = np.log(base) + z @ log_coef + la_effect
        return np.exp(lin[:, None] + noise) + year_effect[None, :], log_coef
    coef = base * log_coef                          # own-scale change per covariate sd
    lin = base + z @ coef + la_effect
    return lin[:, None] + year_effect[None, :] + noise, coef


def simulate_indicators(rng: np.random.Generator, las: pd.DataFrame, z: np.ndarray,
                        years: np.ndarray, effects: Mapping[str, float],
                        suppression_share: float) -> tuple[pd.DataFrame, dict]:
    """Draw the long LA x year x indicator frame; return it and the truth about it."""
    n_las, n_years = len(las), years.size
    pop = las["child_population"].to_numpy(dtype=float)
    start = las["sos_start_year"].to_numpy(dtype=float)
    post = years[None, :] >= start[:, None]                # False for non-pilots (NaN start)
    shared = rng.standard_normal(n_las)
    years_from_start = years - years[0]
    values, counts, denoms, truth = {}, {}, {}, {}
    codes = las["la_code"].tolist()
    for name, spec in INDICATORS.items():
        sd_la, sd_noise = float(spec["sd_la"]), float(spec["sd_noise"])
        rho = _SHARED_LA_CORRELATION
        la_effect = sd_la * (rho * shared + np.sqrt(1 - rho**2) * rng.standard_normal(n_las))
        year_effect = (float(spec["trend"]) * years_from_start
                       + _YEAR_SHOCK_SD * sd_noise * rng.standard_normal(n_years))
        if spec["kind"] == "rate":                  # relative -> per 10,000
            year_effect = float(spec["base"]) * year_effect
        noise = rng.normal(0.0, sd_noise, (n_las, n_years))
        level, coef = _expected_levels(spec, z, la_effect, year_effect, noise)
        effect = float(effects[name])
        bound = _BOUNDS[str(spec["kind"])]
        expected = bound(level + effect * post)
        if spec["kind"] == "rate":
            count = rng.poisson(expected * pop[:, None] / 1e4).astype(float)
            denom = np.broadcast_to(pop[:, None], count.shape).astype(float)
            value = count / denom * 1e4
        elif spec["kind"] == "pct":
            denom = counts["referrals_rate_per_10k"]
            count = rng.binomial(denom.astype(np.int64), expected / 100.0).astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                value = 100.0 * count / denom
        else:
            decimals = 0 if name.endswith("_median_wd") else 1
            value = np.round(expected, decimals)
            count = denom = np.full(expected.shape, np.nan)
        values[name], counts[name], denoms[name] = value, count, denom
        realised = expected - bound(level)
        truth[name] = {
            "pilot_effect": effect,
            "pilot_effect_realised": float(realised[post].mean()) if post.any() else 0.0,
            "base": float(spec["base"]),
            "log_scale": 1.0 if spec["kind"] == "rate" else 0.0,
            "sd_la": sd_la,
            "sd_noise": sd_noise,
            "coef": dict(zip(COVARIATES, coef.tolist())),
            "year_effect": dict(zip(years.tolist(), year_effect.tolist())),
            "la_effect": dict(zip(codes, la_effect.tolist())),
        }

    names = list(INDICATORS)
    n_ind = len(names)
    # rows ordered by year, then LA (in `las` order), then indicator
    stack = lambda d: np.stack([d[k].T for k in names], axis=-1).ravel()  # noqa: E731
    value, count, denom = stack(values), stack(counts), stack(denoms)
    n_rows = value.size
    flag = np.full(n_rows, np.nan, dtype=object)
    n_supp = int(round(suppression_share * n_rows))
    if n_supp:
        rows = rng.choice(n_rows, size=n_supp, replace=False)
        value[rows] = np.nan
        count[rows] = np.nan
        flag[rows] = rng.choice(_SUPPRESSION_FLAGS, size=n_supp, p=_SUPPRESSION_PROBS)
    la_pos = np.tile(np.repeat(np.arange(n_las), n_ind), n_years)
    frame = pd.DataFrame({
        "la_code": las["la_code"].to_numpy()[la_pos],
        "la_name": las["la_name"].to_numpy()[la_pos],
        "year": np.repeat(years, n_las * n_ind).astype(np.int64),
        "indicator": pd.array(np.tile(np.array(names, dtype=object), n_las * n_years),
                              dtype="str"),
        "value": value,
        "count": count,
        "denominator": denom,
        "flag": pd.array(flag, dtype="str"),
    })
    frame["la_code"] = frame["la_code"].astype("str")
    frame["la_name"] = frame["la_name"].astype("str")
    return frame, truth

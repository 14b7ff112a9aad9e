"""sosstats.matching.match against R's MatchIt 4.5.1 (fixtures made by matchit_reference.R).

Fixtures (tests/fixtures/): ``matchit_reference_input.csv`` (400 simulated units, 130 treated),
``matchit_reference_units.csv`` (per configuration and unit: distance, weight, subclass,
discarded), ``matchit_reference_pairs.csv`` (the match matrix, long) and
``matchit_reference_meta.json`` (R and MatchIt versions, glm coefficients, calipers). The R
script explains why greedy propensity configurations run on the whole-number score ``ps_int``
(a defect of MatchIt 4.5.1's integer ``abs()``) and how its ratio > 1 fixtures are read.
"""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from sosstats.matching import match

FIX = Path(__file__).resolve().parents[1] / "fixtures"
COV = ["x1", "x2", "x3", "b", "g"]
MAHAL = ["x1", "x2", "x3", "b"]


@pytest.fixture(scope="module")
def ref():
    data = pd.read_csv(FIX / "matchit_reference_input.csv").set_index("id")
    units = pd.read_csv(FIX / "matchit_reference_units.csv")
    pairs = pd.read_csv(FIX / "matchit_reference_pairs.csv")
    meta = json.loads((FIX / "matchit_reference_meta.json").read_text())
    return data, units, pairs, meta


def _units(units, config):
    return units[units["config"] == config].set_index("id")


def _pairs(pairs, config):
    p = pairs[pairs["config"] == config]
    return set(zip(p["treated"], p["control"]))


def _ours(m):
    return set(zip(m.pairs["treated"], m.pairs["control"]))


def _same_partition(a: pd.Series, b: pd.Series) -> bool:
    """Two labelings (NaN = none) put the same units together."""
    if not (a.isna().to_numpy() == b.isna().to_numpy()).all():
        return False
    ok = a.notna().to_numpy()
    ct = pd.crosstab(a.to_numpy(dtype=float)[ok], b.to_numpy(dtype=float)[ok]) > 0
    return bool((ct.sum(axis=0) == 1).all() and (ct.sum(axis=1) == 1).all())


def _run(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return match(data, treatment="treat", **kw)


# ------------------------------------------------------------------- propensity scores
@pytest.mark.parametrize("config, distance", [("subclass", "logit"), ("subclass_ate", "logit"),
                                              ("subclass_linear", "linear_logit")])
def test_propensity_scores_equal_matchit_glm(ref, config, distance):
    data, units, _, _ = ref
    m = _run(data, covariates=COV, method="subclass", distance=distance)
    r = _units(units, config)
    np.testing.assert_allclose(m.distance.loc[r.index], r["distance"], rtol=0, atol=1e-8)


def test_logit_coefficients_equal_r_glm(ref):
    data, _, _, meta = ref
    m = _run(data, covariates=COV, method="subclass")
    r = meta["configs"]["subclass"]["coefficients"]
    ours = m.model.params.to_numpy()
    np.testing.assert_allclose(ours, np.array(list(r.values())), rtol=1e-8, atol=1e-10)
    assert list(m.model.params.index) == ["Intercept", "x1", "x2", "x3", "b", "g[b]", "g[c]"]


# ------------------------------------------------------------ nearest, Mahalanobis
NEAREST = {
    "nearest": dict(covariates=COV),
    "nearest_replace": dict(covariates=COV, replace=True),
    "nearest_caliper": dict(covariates=COV, caliper=0.05),
    "nearest_exact": dict(covariates=COV, exact="g"),
    "nearest_linear": dict(covariates=COV, distance="linear_logit"),
    "nearest_discard": dict(covariates=COV, discard="both"),
    "nearest_smallest": dict(covariates=COV, order="smallest"),
    "mahalanobis": dict(covariates=MAHAL, distance="mahalanobis"),
    "mahalanobis_exact": dict(covariates=MAHAL, distance="mahalanobis", exact="g"),
    "mahalanobis_caliper": dict(covariates=MAHAL, distance="mahalanobis",
                                caliper={"x3": 0.01}),
    "nearest_ratio2": dict(covariates=COV, ratio=2),
    "nearest_ratio3": dict(covariates=COV, ratio=3),
}


@pytest.mark.parametrize("config", [c for c in NEAREST if "ratio" not in c])
def test_nearest_same_pairs_weights_subclasses_as_matchit(ref, config):
    data, units, pairs, _ = ref
    m = _run(data, **NEAREST[config])
    r = _units(units, config)
    assert _ours(m) == _pairs(pairs, config)
    np.testing.assert_allclose(m.weights.loc[r.index], r["weight"], rtol=0, atol=1e-12)
    assert _same_partition(m.subclass.loc[r.index].astype("Float64"), r["subclass"])
    # MatchIt's discard flags: the same units, and they are reported with the reason
    flagged = set(r.index[r["discarded"] == 1])
    support = set(m.discarded.index[m.discarded["reason"].str.startswith("outside")])
    assert support == flagged
    assert set(m.discarded.index) == set(r.index[r["weight"] == 0])


@pytest.mark.parametrize("config", ["nearest_ratio2", "nearest_ratio3"])
def test_ratio_weights_equal_matchit(ref, config):
    data, units, _, _ = ref
    m = _run(data, **NEAREST[config])
    r = _units(units, config)
    np.testing.assert_allclose(m.weights.loc[r.index], r["weight"], rtol=0, atol=1e-12)


def test_caliper_width_is_sd_of_all_scores(ref):
    data, _, _, meta = ref
    m = _run(data, **NEAREST["nearest_caliper"])
    # R's width is on ps_int = round(1e9 * ps)
    assert m.caliper == pytest.approx(meta["configs"]["nearest_caliper"]["caliper"] / 1e9,
                                      rel=1e-7)
    assert m.caliper == pytest.approx(0.05 * np.std(m.distance, ddof=1), rel=1e-12)
    assert (m.pairs["distance"] <= m.caliper).all()
    dropped = m.discarded[m.discarded["group"] == "treated"]
    assert len(dropped) == 130 - 87
    assert (dropped["reason"] == "no unused control unit within the caliper").all()


def test_mahalanobis_distances_equal_r(ref):
    data, _, pairs, _ = ref
    m = _run(data, **NEAREST["mahalanobis"])
    r = pairs[pairs["config"] == "mahalanobis"]
    merged = m.pairs.merge(r, on=["treated", "control"])
    assert len(merged) == 130
    np.testing.assert_allclose(merged["distance"], merged["mahalanobis"], rtol=1e-10)


# ----------------------------------------------------- ratio > 1: MatchIt 4.5.1's quirk
def _greedy(score_t, score_c, pos_c, ratio, *, quirk):
    """Plain greedy 1:k in rounds, largest score first; ``quirk`` emulates MatchIt 4.5.1.

    With ``quirk``, rounds 2..k skip the control whose data position is one after an earlier
    match of the same treated unit (the off-by-one described in matchit_reference.R).
    """
    d = np.abs(score_t[:, None] - score_c[None, :])
    used = np.zeros(score_c.size, dtype=bool)
    mm = np.full((score_t.size, ratio), -1)
    order = np.argsort(-score_t, kind="stable")
    for r in range(ratio):
        for i in order:
            ok = ~used
            if quirk and r > 0:
                ok &= ~np.isin(pos_c, pos_c[mm[i, :r]] + 1)
            if not ok.any():
                continue
            j = np.flatnonzero(ok)[np.argmin(d[i, ok])]
            mm[i, r], used[j] = j, True
    return mm


@pytest.mark.parametrize("config, ratio", [("nearest_ratio2", 2), ("nearest_ratio3", 3)])
def test_ratio_pairs_are_matchit_rule_without_its_off_by_one(ref, config, ratio):
    data, units, pairs, _ = ref
    r = _units(units, "nearest")
    score = r["distance"].to_numpy()  # ps_int, whole numbers
    t = data["treat"].to_numpy() == 1
    pos = np.arange(len(data))
    ids = data.index.to_numpy()

    def as_pairs(mm):
        rows, slot = np.nonzero(mm >= 0)
        return set(zip(ids[t][rows], ids[~t][mm[rows, slot]]))

    emulated = as_pairs(_greedy(score[t], score[~t], pos[~t], ratio, quirk=True))
    plain = as_pairs(_greedy(score[t], score[~t], pos[~t], ratio, quirk=False))
    assert emulated == _pairs(pairs, config)  # the fixture is understood exactly
    m = _run(data, **NEAREST[config])
    assert _ours(m) == plain
    assert len(plain ^ _pairs(pairs, config)) <= 8  # only a handful of pairs differ
    first = pairs[(pairs["config"] == config) & (pairs["slot"] == 1)]
    ours_first = m.pairs[m.pairs["slot"] == 1]
    assert set(zip(first["treated"], first["control"])) == set(
        zip(ours_first["treated"], ours_first["control"]))


# ----------------------------------------------------------------- CEM, subclass
CEM_SUB = {
    "cem_default": dict(covariates=["x1", "x3", "b"], method="cem"),
    "cem_cutpoints": dict(covariates=["x1", "x3", "g"], method="cem",
                          cutpoints={"x1": [-1, 0, 1], "x3": 4}),
    "subclass": dict(covariates=COV, method="subclass", subclass=6),
    "subclass_ate": dict(covariates=COV, method="subclass", estimand="ATE"),
    "subclass_linear": dict(covariates=COV, method="subclass", distance="linear_logit"),
}


@pytest.mark.parametrize("config", list(CEM_SUB))
def test_cem_and_subclass_same_strata_and_weights_as_matchit(ref, config):
    data, units, _, meta = ref
    m = _run(data, **CEM_SUB[config])
    r = _units(units, config)
    np.testing.assert_allclose(m.weights.loc[r.index], r["weight"], rtol=0, atol=1e-12)
    assert _same_partition(m.subclass.loc[r.index].astype("Float64"), r["subclass"])
    if config.startswith("subclass"):
        np.testing.assert_allclose(m.options["quantiles"], meta["configs"][config]["q_cut"],
                                   rtol=0, atol=1e-8)
    assert m.pairs is None


# ----------------------------------------------------------------------- optimal
def _brute_force(d):
    """Minimum total distance over every injective assignment of rows to columns."""
    n_t, n_c = d.shape
    return min(d[np.arange(n_t), list(p)].sum()
               for p in itertools.permutations(range(n_c), n_t))


@pytest.mark.parametrize("seed", range(6))
def test_optimal_pairs_minimise_total_distance(seed):
    rng = np.random.default_rng(seed)
    n_t, n_c = 4, 7
    frame = pd.DataFrame({"t": [1] * n_t + [0] * n_c, "x": rng.normal(size=n_t + n_c),
                          "z": rng.normal(size=n_t + n_c)}, index=[f"u{i}" for i in
                                                                   range(n_t + n_c)])
    m = match(frame, treatment="t", covariates=["x", "z"], method="optimal",
              distance="euclidean")
    x = frame[["x", "z"]].to_numpy()
    d = cdist(x[:n_t], x[n_t:])
    best = _brute_force(d)
    assert m.pairs["distance"].sum() == pytest.approx(best, rel=1e-12)
    rows, cols = linear_sum_assignment(d)
    expected = {(f"u{i}", f"u{n_t + j}") for i, j in zip(rows, cols)}
    assert _ours(m) == expected  # unique optimum with continuous data
    greedy = match(frame, treatment="t", covariates=["x", "z"], distance="euclidean")
    assert m.pairs["distance"].sum() <= greedy.pairs["distance"].sum() + 1e-12


def test_optimal_one_to_two_minimises_total_distance():
    rng = np.random.default_rng(11)
    n_t, n_c = 3, 7
    frame = pd.DataFrame({"t": [1] * n_t + [0] * n_c, "s": rng.normal(size=n_t + n_c)})
    m = match(frame, treatment="t", distance="s", method="optimal", ratio=2)
    d = np.abs(frame["s"].to_numpy()[:n_t, None] - frame["s"].to_numpy()[None, n_t:])
    best = _brute_force(np.repeat(d, 2, axis=0))
    assert m.pairs["distance"].sum() == pytest.approx(best, rel=1e-12)
    assert m.pairs.groupby("treated").size().eq(2).all()
    assert m.pairs["control"].is_unique

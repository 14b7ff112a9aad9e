"""``simulate_evaluation``'s workers by wave: ``memberships_by_wave`` and ``worker_change_t2``.

The study: 59% of families had changed worker by T1, 9% had had three, and a third changed
worker between T1 and T2. ``memberships`` (T1) must stay exactly as it was for existing users.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError

# Frozen from the code before memberships_by_wave existed (commit 026a172): rows, sum of
# family_id, sum of worker_id, sum of weight**2, sum of weight * worker_id.
FROZEN = {
    0: (444, 61043, 43906, 206.2770209234, 27010.65649616),
    3: (457, 62838, 46786, 202.8434290974, 27019.18029769),
    11: (449, 61398, 42512, 202.1665746912, 26178.35807292),
    2017: (474, 63350, 46194, 193.6547679775, 26104.84829551),
}
T2_OUTCOMES = ["sdq_t2", "shared_understanding_t2", "knows_goals_t2", "feelings_t2",
               "concerns_t2", "rereferred_t2", "removed_t2"]


@pytest.fixture(scope="module")
def big():
    return simulate_evaluation(rng=3, n_families=200_000, worker_change_t2=1 / 3)


def _t1_rows(by_wave: pd.DataFrame) -> pd.DataFrame:
    t1 = by_wave[by_wave["wave"] == "t1"]
    return t1[["family_id", "worker_id", "weight"]].reset_index(drop=True)


@pytest.mark.parametrize("seed", sorted(FROZEN))
def test_memberships_unchanged(seed):
    for change in (0.0, 1 / 3):
        m = simulate_evaluation(rng=seed, worker_change_t2=change).memberships
        got = (len(m), int(m["family_id"].sum()), int(m["worker_id"].sum()),
               float((m["weight"] ** 2).sum()), float((m["weight"] * m["worker_id"]).sum()))
        assert got[:3] == FROZEN[seed][:3]
        assert got[3:] == pytest.approx(FROZEN[seed][3:], rel=1e-10)
        assert list(m.columns) == ["family_id", "worker_id", "weight"]


def test_table_layout_and_default_copies_t1():
    ev = simulate_evaluation(rng=2017)
    b = ev.memberships_by_wave
    assert list(b.columns) == ["family_id", "wave", "worker_id", "weight"]
    assert list(b["wave"].cat.categories) == ["t1", "t2"] and b["wave"].cat.ordered
    assert _t1_rows(b).equals(ev.memberships.reset_index(drop=True))
    t2 = b[b["wave"] == "t2"][["family_id", "worker_id", "weight"]].reset_index(drop=True)
    assert t2.equals(ev.memberships.reset_index(drop=True))      # nobody changes by default
    assert ev.truth["families"]["worker_change"] == {"share_t2": 0.0, "realised_t2": 0.0}
    assert b["family_id"].is_monotonic_increasing


def test_change_touches_only_changed_families_t2_values():
    base = simulate_evaluation(rng=5)
    ev = simulate_evaluation(rng=5, worker_change_t2=1 / 3)
    for name in ("las", "la_indicators", "workers", "memberships", "diaries", "worker_survey",
                 "family_views", "case_records"):
        assert getattr(ev, name).equals(getattr(base, name)), name
    b = ev.memberships_by_wave
    sizes = b.groupby(["family_id", "wave"], observed=True).size().unstack()
    changed = ev.families["family_id"].isin(sizes.index[sizes["t2"] > sizes["t1"]]).to_numpy()
    assert 0.2 < changed.mean() < 0.47
    other = [c for c in ev.families.columns if c not in T2_OUTCOMES]
    assert ev.families[other].equals(base.families[other])
    assert ev.families.loc[~changed].equals(base.families.loc[~changed])
    diff = (ev.families.loc[changed, "sdq_t2"] != base.families.loc[changed, "sdq_t2"])
    assert diff.sum() > 10


def test_study_rates_at_large_n(big):
    m, b = big.memberships, big.memberships_by_wave
    n = big.families.shape[0]
    k1 = m.groupby("family_id").size()
    k2 = b[b["wave"] == "t2"].groupby("family_id").size()
    se = lambda p: 4 * np.sqrt(p * (1 - p) / n)  # noqa: E731  (4 standard errors)
    assert abs((k1 > 1).mean() - 0.59) < se(0.59)
    assert abs((k1 == 3).mean() - 0.09) < se(0.09)
    changed = (k2 - k1).to_numpy()
    assert set(np.unique(changed)) == {0, 1}
    assert abs(changed.mean() - 1 / 3) < se(1 / 3)
    assert big.truth["families"]["worker_change"]["realised_t2"] == pytest.approx(changed.mean())


def test_t2_workers_extend_t1_workers(big):
    b = big.memberships_by_wave
    assert np.allclose(b.groupby(["family_id", "wave"], observed=True)["weight"].sum(), 1.0)
    cols = ["family_id", "worker_id", "weight"]
    t1, t2 = (b.loc[b["wave"] == w, cols] for w in ("t1", "t2"))
    both = t2.merge(t1, on=["family_id", "worker_id"], how="outer", suffixes=("_t2", "_t1"),
                    indicator=True)
    assert (both["_merge"] != "right_only").all()     # every T1 worker is still there at T2
    new = both[both["_merge"] == "left_only"]
    assert new["family_id"].is_unique
    la = big.workers.set_index("worker_id")["la_code"].astype(str)
    fam_la = big.families.set_index("family_id")["la_code"].astype(str)
    assert (la.loc[new["worker_id"]].to_numpy() == fam_la.loc[new["family_id"]].to_numpy()).all()
    # the T1 workers keep their relative shares: t2 / t1 is one number per family
    kept = both[both["_merge"] == "both"]
    ratio = (kept["weight_t2"] / kept["weight_t1"]).groupby(kept["family_id"])
    assert (ratio.max() - ratio.min()).max() < 1e-12
    # the new worker's share is Beta(2, 2k): mean 2 / (2 + 2k)
    k = t1.groupby("family_id").size().loc[new["family_id"]].to_numpy()
    for kk in (1, 2, 3):
        share = new["weight_t2"].to_numpy()[k == kk]
        assert abs(share.mean() - 1 / (1 + kk)) < 4 * share.std() / np.sqrt(share.size)


def test_t2_outcomes_use_the_t2_workers(big):
    """Change in SDQ between waves moves one for one with the change in the worker mix."""
    effect = pd.Series(big.truth["families"]["outcomes"]["sdq"]["worker_effect"])
    b = big.memberships_by_wave
    mix = (b["weight"] * effect.loc[b["worker_id"]].to_numpy()).groupby(
        [b["family_id"], b["wave"]], observed=True).sum().unstack()
    f = big.families.set_index("family_id")
    resp = f["responded_t2"].to_numpy()
    dy = (f["sdq_t2"] - f["sdq_t1"]).to_numpy()[resp]
    dm = (mix["t2"] - mix["t1"]).loc[f.index].to_numpy()[resp]
    slope = np.polyfit(dm, dy, 1)[0]
    assert slope == pytest.approx(1.0, abs=0.1)      # 0 if T2 used the T1 workers


@pytest.mark.parametrize("bad", [-0.1, 1.5, True, "a third", None])
def test_bad_worker_change(bad):
    with pytest.raises(DataError, match="worker_change_t2"):
        simulate_evaluation(rng=1, worker_change_t2=bad)

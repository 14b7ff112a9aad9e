"""Wave-specific multiple membership: a family's workers at T1 and at T2 (issue 18).

``MultilevelModel(..., membership=memberships, repeated="family_id")`` with a ``wave`` column
in ``memberships`` (and in the long data): each row at wave w takes the family's wave-w
workers, weights normalised within family x wave. Design checks run without sampling; the
recovery fit is ``slow``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, SosstatsWarning
from sosstats.multilevel._design import build_design
from sosstats.panel import wide_to_long

LEVELS = ["la_code", "worker_id"]


@pytest.fixture(scope="module")
def ev():
    return simulate_evaluation(rng=5, worker_change_t2=1 / 3)


@pytest.fixture(scope="module")
def long(ev):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return wide_to_long(ev.families, id="family_id", stubs=["sdq"]).dropna(subset=["sdq"])


def _design(long, membership, **kwargs):
    return build_design("sdq ~ wave + cohort", long, levels=LEVELS, repeated="family_id",
                        membership=membership, **kwargs)


def _row_mix(design, u):
    idx, w = design.level("worker_id").row_membership()
    return (u[idx] * w).sum(axis=1)


def test_each_row_takes_its_waves_workers(ev, long):
    mw = ev.memberships_by_wave
    d = _design(long, mw)
    lev = d.level("worker_id")
    assert lev.kind == "membership" and lev.wave == "wave" and d.unit == "family_id"
    assert lev.mm_index.shape[0] == len(long)          # one unit per family x wave row
    assert np.allclose(lev.mm_weight.sum(axis=1), 1.0)
    u = np.random.default_rng(2).normal(size=lev.n_groups)
    code = pd.Index(lev.labels).get_indexer(mw["worker_id"].astype(str))
    slow = (mw.assign(p=u[code] * mw["weight"])
            .groupby(["family_id", "wave"], observed=True)["p"].sum())
    key = pd.MultiIndex.from_arrays([d.frame["family_id"], d.frame["wave"].astype(str)])
    slow.index = slow.index.set_levels(slow.index.levels[1].astype(str), level=1)
    assert np.allclose(_row_mix(d, u), slow.reindex(key).to_numpy())
    # the changed families really differ between their two rows
    sizes = mw.groupby(["family_id", "wave"], observed=True).size().unstack()
    changed = sizes.index[sizes["t2"] > sizes["t1"]]
    both = (d.frame["family_id"].isin(changed)
            & d.frame.duplicated("family_id", keep=False)).to_numpy()
    mix = pd.Series(_row_mix(d, u)[both]).groupby(d.frame["family_id"].to_numpy()[both]).agg(
        np.ptp)
    assert len(mix) > 20 and (mix > 1e-9).all()


def test_same_as_the_undocumented_family_wave_key(ev, long):
    """The route that worked before: a family x wave ID column as ``unit``.

    It needs the membership rows of the interviewed family x waves only (a T2 row of a
    family not interviewed at T2 is an unknown unit there); the wave column ignores them.
    """
    mw = ev.memberships_by_wave
    key = lambda f: f["family_id"].astype(str) + "/" + f["wave"].astype(str)  # noqa: E731
    fw = mw.assign(fw=key(mw)).drop(columns="wave")
    old = build_design("sdq ~ wave + cohort", long.assign(fw=key(long)), levels=LEVELS,
                       repeated="family_id", unit="fw",
                       membership=fw[fw["fw"].isin(key(long))], membership_wave=None)
    new = _design(long, mw)
    u = np.random.default_rng(3).normal(size=new.level("worker_id").n_groups)
    assert list(old.level("worker_id").labels) == list(new.level("worker_id").labels)
    assert np.allclose(_row_mix(old, u), _row_mix(new, u))


def test_a_hand_made_change_between_waves():
    data = pd.DataFrame({"fid": [1, 1, 2, 2, 3], "wave": ["t1", "t2", "t1", "t2", "t1"],
                         "y": [1.0, 2.0, 3.0, 4.0, 5.0]})
    mm = pd.DataFrame({"fid": [1, 1, 1, 2, 2, 3, 3],
                       "wave": ["t1", "t2", "t2", "t1", "t2", "t1", "t2"],
                       "worker": ["a", "a", "b", "b", "c", "a", "c"],
                       "weight": [1.0, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0]})
    d = build_design("y ~ wave", data, levels=["worker"], repeated="fid", membership=mm)
    idx, w = d.level("worker").row_membership()
    labels = d.level("worker").labels
    rows = [{labels[i]: wt for i, wt in zip(r, q) if wt > 0} for r, q in zip(idx, w)]
    assert rows == [{"a": 1.0}, {"a": 0.5, "b": 0.5}, {"b": 1.0}, {"c": 1.0}, {"a": 1.0}]
    # family 3's T2 row of `mm` has no data row: ignored, not an error
    assert d.level("worker").mm_index.shape[0] == 5
    # weight shared by a family's two rows: 0.5 (family 1), 0 (family 2); family 3 has one
    assert d.level("worker").mean_shared_weights() == pytest.approx(0.25)
    same = build_design("y ~ wave", data, levels=["worker"], repeated="fid",
                        membership=mm[mm["wave"] == "t1"].drop(columns="wave"))
    lev = same.level("worker")
    assert lev.mean_shared_weights() == lev.mean_sum_sq_weights() == 1.0


def test_weights_normalised_within_family_and_wave(ev, long):
    mw = ev.memberships_by_wave
    doubled = mw.assign(weight=np.where(mw["wave"] == "t2", 2 * mw["weight"], mw["weight"]))
    with pytest.warns(SosstatsWarning, match="family_id x wave"):
        d = _design(long, doubled)
    assert np.allclose(d.level("worker_id").mm_weight.sum(axis=1), 1.0)
    u = np.random.default_rng(4).normal(size=d.level("worker_id").n_groups)
    assert np.allclose(_row_mix(d, u), _row_mix(_design(long, mw), u))
    with pytest.raises(DataError, match=r"sum to 1 for each family_id x wave.*\(\d+, t2\)"):
        _design(long, doubled, membership_weights="strict")


def test_wave_values_not_in_the_data(ev, long):
    bad = ev.memberships_by_wave.astype({"wave": str}).replace({"wave": {"t2": "T2"}})
    with pytest.raises(DataError, match=r"wave column 'wave' .*not in `data`'s 'wave' "
                                        r"column: 'T2'.*'t1', 't2'"):
        _design(long, bad)
    numeric = ev.memberships_by_wave.assign(
        wave=ev.memberships_by_wave["wave"].cat.codes + 1)
    with pytest.raises(DataError, match=r"2 value\(s\) that are not in `data`'s 'wave' "
                                        r"column: 1, 2;"):
        _design(long, numeric)


def test_family_wave_without_membership_rows_and_repeats(ev, long):
    mw = ev.memberships_by_wave
    fam = long.loc[long["wave"] == "t2", "family_id"].iloc[0]
    short = mw[~((mw["family_id"] == fam) & (mw["wave"] == "t2"))]
    with pytest.raises(DataError, match=rf"family_id x wave value\(s\) of `data` have no row "
                                        rf"in `membership`: \({fam}, t2\)"):
        _design(long, short)
    with pytest.raises(DataError, match="repeats family_id x wave x worker_id rows"):
        _design(long, pd.concat([mw, mw.iloc[:1]]))
    missing = mw.astype({"wave": object})
    missing.iloc[0, missing.columns.get_loc("wave")] = None
    with pytest.raises(DataError, match="column 'wave' has missing values"):
        _design(long, missing)


def test_wave_column_needs_long_data(ev):
    with pytest.raises(DataError, match="`data` has no column 'wave'.*wide_to_long"):
        build_design("sdq_t1 ~ cohort", ev.families, levels=LEVELS,
                     membership=ev.memberships_by_wave)
    # one wave's rows without the wave column: the wide model as before
    t1 = ev.memberships_by_wave.query("wave == 't1'").drop(columns="wave")
    d = build_design("sdq_t1 ~ cohort", ev.families, levels=LEVELS, membership=t1)
    d0 = build_design("sdq_t1 ~ cohort", ev.families, levels=LEVELS, membership=ev.memberships)
    assert np.array_equal(d.level("worker_id").mm_weight, d0.level("worker_id").mm_weight)


def test_named_wave_column_and_no_wave_column(ev, long):
    mw = ev.memberships_by_wave.rename(columns={"wave": "time"})
    d = _design(long.rename(columns={"wave": "time"}).assign(wave=long["wave"]), mw,
                membership_wave="time")
    assert d.level("worker_id").wave == "time"
    with pytest.raises(DataError, match="`membership_wave` 'when' is not a column"):
        _design(long, ev.memberships_by_wave, membership_wave="when")
    # without a wave column a family keeps the same workers at both waves (as before)
    d = _design(long, ev.memberships)
    assert d.level("worker_id").wave is None
    assert d.level("worker_id").mm_index.shape[0] == long["family_id"].nunique()


def test_model_builds_with_wave_memberships(ev, long):
    pytest.importorskip("pymc")
    from sosstats.multilevel import MultilevelModel

    model = MultilevelModel("sdq ~ wave + cohort", long, levels=LEVELS, repeated="family_id",
                            membership=ev.memberships_by_wave)
    assert model.design.level("worker_id").wave == "wave"
    pm_model = model.build()
    assert "sigma_worker_id" in pm_model.named_vars


@pytest.mark.slow
def test_wave_memberships_recover_the_worker_sd():
    """3,000 families, a third changing worker by T2; sd_worker 1 (SDQ) in the 95% interval.

    The family SD (4) and residual SD (3) are identified apart by the two waves; the worker
    SD from 300 workers with about 29 weighted rows each. At 1,500 families and 200 workers
    the interval was 0.13 to 1.38 (it covered 1, but says little).
    """
    pytest.importorskip("pymc")
    from sosstats.multilevel import MultilevelModel

    sim = simulate_evaluation(rng=11, n_families=3000, n_workers=300, worker_change_t2=1 / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = wide_to_long(sim.families, id="family_id", stubs=["sdq"]).dropna(subset=["sdq"])
        model = MultilevelModel(
            "sdq ~ wave + cohort + C(experience) + previous_referral + agency_worker", data,
            levels=LEVELS, repeated="family_id", membership=sim.memberships_by_wave)
        res = model.fit(draws=500, tune=500, chains=2, rng=1)
    truth = sim.truth["families"]["outcomes"]["sdq"]
    sd = res.idata.posterior["sigma_worker_id"].to_numpy().ravel()
    lo, hi = np.quantile(sd, [0.025, 0.975])
    print(f"sigma_worker_id 95% interval {lo:.3f} to {hi:.3f}, mean {sd.mean():.3f}")
    assert lo < truth["sd_worker"] < hi, (lo, hi)
    assert hi - lo < 1.0 and lo > 0.2           # informative, not just the prior
    fam = res.idata.posterior["sigma_family_id"].to_numpy().ravel()
    assert np.quantile(fam, 0.025) < truth["sd_family"] < np.quantile(fam, 0.975)


def test_shared_weight_of_a_familys_two_waves(ev, long):
    # the repeated-unit ICC uses the weight a family's T1 and T2 rows share: equal to sum w^2
    # when the worker sets do not change, and a brute-force mean over families otherwise
    mw = ev.memberships_by_wave
    lev = _design(long, mw).level("worker_id")
    fam = mw.pivot_table(index=["family_id", "worker_id"], columns="wave", values="weight",
                         aggfunc="sum", fill_value=0.0, observed=True)
    seen = long.groupby("family_id")["wave"].nunique()
    both = fam[fam.index.get_level_values("family_id").isin(seen[seen == 2].index)]
    t1, t2 = both.iloc[:, 0], both.iloc[:, 1]
    t1 = t1 / t1.groupby(level="family_id").transform("sum")
    t2 = t2 / t2.groupby(level="family_id").transform("sum")
    brute = (t1 * t2).groupby(level="family_id").sum().mean()
    assert lev.mean_shared_weights() == pytest.approx(brute, rel=1e-10)
    still = mw[mw["wave"].astype(str) == str(mw["wave"].iloc[0])]
    same = pd.concat([still.assign(wave=w) for w in pd.unique(long["wave"])])
    same["wave"] = pd.Categorical(same["wave"], categories=mw["wave"].cat.categories)
    lev_same = _design(long, same).level("worker_id")
    # unchanged worker sets: the rows share all their weight, sum w^2 of the family's workers
    assert lev_same.mean_shared_weights() == pytest.approx(
        (t1 ** 2).groupby(level="family_id").sum().mean(), rel=1e-10)
    assert lev_same.mean_shared_weights() > lev.mean_shared_weights()


def test_multilevel_model_passes_membership_wave_through(ev, long):
    """``MultilevelModel(membership_wave=)`` reaches the design: a named column, and errors."""
    from sosstats.multilevel import MultilevelModel

    mw = ev.memberships_by_wave.rename(columns={"wave": "time"})
    data = long.rename(columns={"wave": "time"}).assign(wave=long["wave"])
    model = MultilevelModel("sdq ~ wave + cohort", data, levels=LEVELS, repeated="family_id",
                            membership=mw, membership_wave="time")
    want = _design(data, mw, membership_wave="time")
    got = model.design.level("worker_id")
    assert got.wave == "time"
    assert np.array_equal(got.mm_index, want.level("worker_id").mm_index)
    assert np.array_equal(got.mm_weight, want.level("worker_id").mm_weight)
    with pytest.raises(DataError, match="`membership_wave` 'when' is not a column"):
        MultilevelModel("sdq ~ wave + cohort", long, levels=LEVELS, repeated="family_id",
                        membership=ev.memberships_by_wave, membership_wave="when")

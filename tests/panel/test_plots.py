"""change_plot / change_means: the same families at both waves, clustered intervals."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sosstats._kernels.cluster import cluster_vcov
from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError
from sosstats.panel import change_means, change_plot, wide_to_long

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def long() -> pd.DataFrame:
    return wide_to_long(simulate_evaluation(rng=3, n_families=270).families, id="family_id")


def complete_ids(long):
    ok = long.groupby("family_id")["sdq"].apply(lambda s: s.notna().all())
    return set(ok.index[ok])


def test_default_plots_the_same_families_at_both_waves(long):
    import matplotlib.pyplot as plt

    ids = complete_ids(long)
    t1 = long[(long["wave"] == "t1")]
    same = t1.loc[t1["family_id"].isin(ids), "sdq"].mean()
    everyone = t1["sdq"].mean()
    assert abs(same - everyone) > 1e-6           # the two T1 means differ in this sample
    ax = change_plot(long, "sdq", "wave", entity="family_id")
    drawn = ax.lines[0].get_ydata()
    assert drawn[0] == pytest.approx(same)
    assert drawn[1] == pytest.approx(long.loc[(long["wave"] == "t2")
                                              & long["family_id"].isin(ids), "sdq"].mean())
    assert f"same {len(ids)} family_id" in ax.get_title()
    plt.close("all")


def test_all_units_is_said_in_the_title(long):
    import matplotlib.pyplot as plt

    ax = change_plot(long, "sdq", "wave", sample="all")
    assert ax.lines[0].get_ydata()[0] == pytest.approx(long.loc[long["wave"] == "t1",
                                                                "sdq"].mean())
    assert "not the same units" in ax.get_title()
    plt.close("all")


def test_entity_is_required_for_the_default(long):
    with pytest.raises(DataError, match="entity"):
        change_means(long, "sdq", "wave")
    with pytest.raises(DataError, match="sample"):
        change_means(long, "sdq", "wave", entity="family_id", sample="both_waves")


def test_clustered_interval_is_cr2_with_satterthwaite_df(long):
    before = long.copy()
    tab = change_means(long, "sdq", "wave", by="cohort", entity="family_id",
                       cluster="la_code")
    pd.testing.assert_frame_equal(long, before)
    ids = complete_ids(long)
    row = tab[(tab["cohort"] == 1) & (tab["wave"] == "t2")].iloc[0]
    sub = long[(long["cohort"] == 1) & (long["wave"] == "t2") & long["family_id"].isin(ids)]
    y = sub["sdq"].to_numpy(float)
    cv = cluster_vcov(np.ones((y.size, 1)), y - y.mean(), sub["la_code"].to_numpy(),
                      kind="cr2")
    assert row["std_error"] == pytest.approx(np.sqrt(cv.vcov[0, 0]), rel=1e-12)
    assert row["df"] == pytest.approx(float(cv.df[0]), rel=1e-12)
    q = stats.t.ppf(0.975, row["df"])
    assert row["ci_upper"] - row["mean"] == pytest.approx(q * row["std_error"])
    assert row["n_clusters"] == sub["la_code"].nunique() and row["n"] == y.size
    naive = change_means(long, "sdq", "wave", by="cohort", entity="family_id")
    nrow = naive[(naive["cohort"] == 1) & (naive["wave"] == "t2")].iloc[0]
    assert nrow["df"] == y.size - 1
    assert nrow["std_error"] == pytest.approx(y.std(ddof=1) / np.sqrt(y.size))


def test_plot_labels_say_how_intervals_were_made(long):
    import matplotlib.pyplot as plt

    ax = change_plot(long, "sdq", "wave", by="experience", entity="family_id",
                     cluster="la_code")
    assert "CR2 by la_code" in ax.get_ylabel()
    assert len(ax.get_legend().get_texts()) == 3
    plt.close("all")

"""Bad input of the agreement statistics: clear sosstats errors naming columns; inputs untouched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sosstats.errors import DataError, DesignError
from sosstats.survey.agreement import (
    agreement,
    cohens_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
)


@pytest.fixture
def coded() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 120
    a = rng.integers(1, 5, n)
    b = np.where(rng.random(n) < 0.7, a, rng.integers(1, 5, n))
    return pd.DataFrame({"coder1": a, "coder2": b, "pilot": rng.integers(0, 10, n)})


def test_levels_differ_between_coders_names_columns_and_levels(coded):
    d = coded.copy()
    d.loc[d.coder1 == 4, "coder1"] = 3          # coder1 never uses 4
    with pytest.raises(DataError, match=r"'coder1' never uses 4.*'coder2'.*levels="):
        cohens_kappa(d, "coder1", "coder2")
    res = cohens_kappa(d, "coder1", "coder2", levels=[1, 2, 3, 4], n_resamples=0)
    assert res.table.loc[4].sum() == 0 and res.table[4].sum() > 0


def test_categoricals_with_different_categories(coded):
    d = pd.DataFrame({"c1": pd.Categorical(["low", "mid", "high", "low"],
                                           categories=["low", "mid", "high"], ordered=True),
                      "c2": pd.Categorical(["low", "mid", "top", "low"],
                                           categories=["low", "mid", "top"], ordered=True)})
    with pytest.raises(DataError, match=r"'c1' alone has 'high'.*'c2' alone has 'top'"):
        cohens_kappa(d, "c1", "c2")
    with pytest.raises(DataError, match="not categorical"):
        cohens_kappa(d.assign(c2=d.c2.astype(str)), "c1", "c2")


def test_value_outside_levels(coded):
    with pytest.raises(DataError, match=r"column 'coder2' has value\(s\) 4 that are not in"):
        cohens_kappa(coded[coded.coder1 < 4], "coder1", "coder2", levels=[1, 2, 3])


def test_unordered_text_needs_levels_for_weights():
    d = pd.DataFrame({"c1": ["good", "poor", "fair", "good", "poor"],
                      "c2": ["good", "fair", "fair", "good", "poor"]})
    with pytest.raises(DataError, match=r"weights='quadratic' needs ordered levels"):
        cohens_kappa(d, "c1", "c2", weights="quadratic")
    with pytest.raises(DataError, match=r"metric='ordinal' needs ordered levels"):
        krippendorff_alpha(d, ["c1", "c2"], metric="ordinal")
    res = cohens_kappa(d, "c1", "c2", weights="quadratic", levels=["poor", "fair", "good"],
                       n_resamples=0)
    assert list(res.table.index) == ["poor", "fair", "good"]
    cat = d.astype(pd.CategoricalDtype(["poor", "fair", "good"], ordered=True))
    same = cohens_kappa(cat, "c1", "c2", weights="quadratic", n_resamples=0)
    assert same.estimate == pytest.approx(res.estimate, abs=1e-14)
    # nominal kappa on text is fine without an order
    assert np.isfinite(cohens_kappa(d, "c1", "c2", n_resamples=0).estimate)


def test_single_level_and_all_same():
    d = pd.DataFrame({"c1": [1, 1, 1], "c2": [1, 1, 1]})
    with pytest.raises(DesignError, match="single level"):
        cohens_kappa(d, "c1", "c2")
    with pytest.raises(DesignError, match="same level"):
        cohens_kappa(d, "c1", "c2", levels=[1, 2])
    with pytest.raises(DesignError, match="chance agreement is 1"):
        fleiss_kappa(d, ["c1", "c2"], levels=[1, 2])


def test_cluster_problems(coded):
    d = coded.astype({"pilot": float})
    d.loc[3, "pilot"] = np.nan
    with pytest.raises(DataError, match=r"cluster column 'pilot' has 1 missing"):
        cohens_kappa(d, "coder1", "coder2", cluster="pilot")
    with pytest.raises(DesignError, match=r"'pilot' has a single cluster"):
        gwet_ac1(coded.assign(pilot=1), ["coder1", "coder2"], cluster="pilot")
    with pytest.raises(DataError, match="column 'la' not found"):
        cohens_kappa(coded, "coder1", "coder2", cluster="la")


def test_options_and_columns(coded):
    with pytest.raises(DataError, match="`weights` must be one of"):
        cohens_kappa(coded, "coder1", "coder2", weights="cubic")
    with pytest.raises(DataError, match="`metric` must be one of"):
        krippendorff_alpha(coded, ["coder1", "coder2"], metric="ratio")
    with pytest.raises(DesignError, match="`n_resamples` must be at least 0"):
        cohens_kappa(coded, "coder1", "coder2", n_resamples=-1)
    with pytest.raises(DataError, match="`level`"):
        cohens_kappa(coded, "coder1", "coder2", level=95)
    with pytest.raises(DataError, match="single name 'coder1'"):
        fleiss_kappa(coded, "coder1")
    with pytest.raises(DataError, match="at least 2 columns"):
        percent_agreement(coded, ["coder1"])
    with pytest.raises(DataError, match="repeats a column"):
        gwet_ac1(coded, ["coder1", "coder1"])
    with pytest.raises(DataError, match="coder9"):
        fleiss_kappa(coded, ["coder1", "coder9"])
    with pytest.raises(DataError, match="`methods` must be one of"):
        agreement(coded, ["coder1", "coder2"], methods=["scotts_pi"])
    with pytest.raises(DataError, match="DataFrame"):
        cohens_kappa(coded.to_numpy(), "coder1", "coder2")


def test_mixed_numbers_and_text():
    d = pd.DataFrame({"c1": [1, 2, "n/a", 3], "c2": [1, 2, 2, 3]})
    with pytest.raises(DataError, match="mixes numbers with text"):
        gwet_ac1(d, ["c1", "c2"])


def test_too_few_pairs():
    d = pd.DataFrame({"c1": [1, np.nan, 2], "c2": [np.nan, 2, 1]})
    with pytest.raises(DesignError, match="rated by both"):
        cohens_kappa(d, "c1", "c2")
    with pytest.raises(DesignError, match="two or more"):
        krippendorff_alpha(d, ["c1", "c2"])
    with pytest.raises(DesignError, match="two or more ratings"):
        fleiss_kappa(d, ["c1", "c2"])


def test_empty_row_or_column_of_the_table(coded):
    """A declared level nobody used (an empty row and column) leaves nominal kappa unchanged."""
    base = cohens_kappa(coded, "coder1", "coder2", n_resamples=0)
    wider = cohens_kappa(coded, "coder1", "coder2", levels=[1, 2, 3, 4, 5], n_resamples=0)
    assert wider.table.shape == (5, 5) and wider.table.loc[5].sum() == 0
    assert wider.estimate == pytest.approx(base.estimate, abs=1e-14)
    assert wider.std_error == pytest.approx(base.std_error, abs=1e-14)


@pytest.mark.parametrize("func", [cohens_kappa, fleiss_kappa, gwet_ac1, krippendorff_alpha,
                                  percent_agreement])
def test_inputs_never_modified(coded, func):
    d = coded.copy()
    d.loc[::7, "coder2"] = np.nan
    d["coder1"] = pd.Categorical(d["coder1"], categories=[1, 2, 3, 4], ordered=True)
    d["coder2"] = pd.Categorical(d["coder2"], categories=[1, 2, 3, 4], ordered=True)
    before = d.copy()
    if func is cohens_kappa:
        func(d, "coder1", "coder2", cluster="pilot", n_resamples=20, rng=0)
    else:
        func(d, ["coder1", "coder2"], cluster="pilot", n_resamples=20, rng=0)
    pd.testing.assert_frame_equal(d, before)


@pytest.mark.parametrize("cluster", [None, "pilot"])
def test_perfect_agreement(cluster):
    """Perfect agreement: estimate 1, SE 0, statistic inf, p 0 (it divided by zero before)."""
    d = pd.DataFrame({"c1": [0, 1, 0, 1, 2, 2, 0, 1], "c2": [0, 1, 0, 1, 2, 2, 0, 1],
                      "pilot": [0, 0, 1, 1, 2, 2, 3, 3]})
    for res in (cohens_kappa(d, "c1", "c2", cluster=cluster, n_resamples=20, rng=0),
                gwet_ac1(d, ["c1", "c2"], cluster=cluster, n_resamples=20, rng=0),
                krippendorff_alpha(d, ["c1", "c2"], cluster=cluster, n_resamples=20, rng=0)):
        t = res.tidy()
        assert t["estimate"].iloc[0] == pytest.approx(1.0)
        assert res.std_error == pytest.approx(0.0, abs=1e-12)
        if cluster is not None or res.term != "kappa":
            assert t["p_value"].iloc[0] == 0.0
        assert np.all(res.boot == pytest.approx(1.0))


def test_clusters_and_resamples_count_only_used_cases(coded):
    """A pilot whose files all lack a rating is not a cluster; dropped rows are not resampled.

    Before, ``n_clusters`` counted every pilot in the column and the unclustered bootstrap drew
    from all rows, so each resample held a random number of rated files.
    """
    d = coded.astype({"coder2": float})
    d.loc[d.pilot == 9, "coder2"] = np.nan
    d.loc[:5, "coder2"] = np.nan
    res = cohens_kappa(d, "coder1", "coder2", cluster="pilot", n_resamples=50, rng=0)
    assert res.n_clusters == 9 and res.df == 8
    assert "9 clusters of 'pilot'" in str(res)
    kept = d.dropna(subset=["coder2"])
    same = cohens_kappa(kept, "coder1", "coder2", cluster="pilot", n_resamples=50, rng=0)
    np.testing.assert_array_equal(res.boot, same.boot)
    a = cohens_kappa(d, "coder1", "coder2", n_resamples=50, rng=0)
    b = cohens_kappa(kept, "coder1", "coder2", n_resamples=50, rng=0)
    np.testing.assert_array_equal(a.boot, b.boot)
    al = krippendorff_alpha(d, ["coder1", "coder2"], cluster="pilot", n_resamples=50, rng=0)
    assert al.n_clusters == 9


def test_ordered_categoricals_give_the_order_and_text_gets_positions():
    d = pd.DataFrame({"a": [1.0, 2, 3, np.nan, 2, 1, 3], "b": [1.0, 2, 2, 3, 3, 1, 3]})
    text = d.replace({1.0: "low", 2.0: "mid", 3.0: "high"}).astype(
        pd.CategoricalDtype(["low", "mid", "high"], ordered=True))
    for metric in ("ordinal", "interval"):
        assert krippendorff_alpha(text, ["a", "b"], metric=metric, n_resamples=0).estimate == \
            pytest.approx(krippendorff_alpha(d, ["a", "b"], metric=metric,
                                             n_resamples=0).estimate, abs=1e-14)
    k = cohens_kappa(d, "a", "b", levels=[1, 2, 3, 4], weights="linear", n_resamples=0)
    assert k.table.shape == (4, 4) and k.table.loc[4].sum() == 0
    gen = np.random.default_rng(0)
    res = gwet_ac1(d, ["a", "b"], n_resamples=10, rng=gen)
    assert "rng=a Generator" in str(res) and res.rng is gen

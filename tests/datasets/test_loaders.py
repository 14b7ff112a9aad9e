"""Tests for the real-data loaders and the published constants of the 2017 study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sosstats.datasets.loaders import (
    INDICATOR_COLUMNS,
    NEIGHBOUR_COLUMNS,
    load_indicator_dictionary,
    load_la_indicators,
    load_statistical_neighbours,
)
from sosstats.datasets.published import (
    PUBLISHED_2016,
    SIGNS_OF_SAFETY_PILOTS,
    published_2016,
    signs_of_safety_pilots,
)
from sosstats.errors import DataError

PILOT_CODES = [p["la_code"] for p in SIGNS_OF_SAFETY_PILOTS]
PILOT_OLD = [p["old_la_code"] for p in SIGNS_OF_SAFETY_PILOTS]


@pytest.fixture(scope="module")
def long() -> pd.DataFrame:
    return load_la_indicators()


# ---------------------------------------------------------------- indicators: shape, dtypes


def test_columns_and_dtypes(long):
    assert tuple(long.columns) == INDICATOR_COLUMNS
    assert long["year"].dtype == np.int64
    assert long["value"].dtype == np.float64
    for col in ("la_code", "old_la_code", "la_name", "indicator"):
        assert pd.api.types.is_string_dtype(long[col]), col
        assert long[col].notna().all(), col
    assert long["la_code"].str.match(r"^E\d{8}$").all()
    assert long["old_la_code"].str.match(r"^\d{3}$").all()
    assert long["year"].between(2013, 2025).all()


def test_one_row_per_la_year_indicator(long):
    assert not long.duplicated(["la_code", "year", "indicator"]).any()
    # each LA code has a single DfE number and name (recoded ONS codes harmonised)
    assert long.groupby("la_code")["old_la_code"].nunique().max() == 1
    assert long.groupby("old_la_code")["la_code"].nunique().max() == 1
    assert not long["la_code"].isin(["E06000048", "E08000020", "E10000002"]).any()


def test_dictionary_covers_every_indicator(long):
    dic = load_indicator_dictionary()
    assert {"indicator", "unit", "source", "years"} <= set(dic.columns)
    assert set(dic["indicator"]) == set(long["indicator"])
    assert dic["indicator"].is_unique


# ---------------------------------------------------------------- suppression


def test_suppressed_cells_are_nan_with_flag_never_zero(long):
    flagged = long["flag"].notna()
    assert flagged.sum() > 1000
    assert long.loc[flagged, "value"].isna().all()
    # a missing value always carries its symbol
    assert long.loc[long["value"].isna(), "flag"].notna().all()
    assert set(long["flag"].dropna()) <= {"c", "x", ":", "z", "k", "u", "-"}
    suppressed = long[long["flag"] == "c"]
    assert len(suppressed) > 100
    assert not (suppressed["value"] == 0).any()


def test_blank_source_cells_get_a_symbol(long):
    # ONS published "x" for pre-2019 Dorset's child population; 0 / 0 percentages are "z"
    cell = long[(long["old_la_code"] == "835") & (long["year"] == 2016)
                & (long["indicator"].isin(["child_population_0_17", "icpc_rate_per_10k"]))]
    assert len(cell) == 2 and cell["value"].isna().all() and (cell["flag"] == "x").all()
    scilly = long[(long["old_la_code"] == "420") & (long["year"] == 2016)
                  & (long["indicator"] == "icpc_within_15_wd_pct")]
    assert scilly["flag"].tolist() == ["z"]


def test_known_suppressed_cell_kept_in_wide_as_nan(long):
    cell = long[(long["flag"] == "c") & (long["year"] == 2016)].iloc[0]
    wide = load_la_indicators(indicators=cell["indicator"], years=2016, wide=True)
    row = wide[wide["la_code"] == cell["la_code"]]
    assert len(row) == 1 and np.isnan(row[cell["indicator"]].iloc[0])


# ---------------------------------------------------------------- filters


def test_filters(long):
    out = load_la_indicators(indicators=["icpc_rate_per_10k", "icpc"], years=[2015, 2016])
    assert set(out["indicator"]) == {"icpc_rate_per_10k", "icpc"}
    assert set(out["year"]) == {2015, 2016}
    expected = long[long["indicator"].isin(["icpc_rate_per_10k", "icpc"])
                    & long["year"].isin([2015, 2016])]
    assert len(out) == len(expected)
    same = load_la_indicators(indicators=("icpc", "icpc_rate_per_10k"),
                              years=np.array([2016, 2015]))
    pd.testing.assert_frame_equal(same, out)
    single = load_la_indicators(indicators="icpc", years=np.int64(2016))
    assert set(single["indicator"]) == {"icpc"} and set(single["year"]) == {2016}
    assert single["la_code"].is_unique
    assert set(PILOT_CODES) <= set(single["la_code"])


def test_unknown_indicator_lists_close_matches():
    with pytest.raises(DataError, match="icpc_rate_per_10k"):
        load_la_indicators(indicators="icpc_rate_10k")
    with pytest.raises(DataError, match="no close match"):
        load_la_indicators(indicators=["icpc", "zzzz_not_an_indicator"])


@pytest.mark.parametrize("years", [1999, [2016, 2040], ["2016"], [], 2016.0])
def test_bad_years(years):
    with pytest.raises(DataError):
        load_la_indicators(years=years)


def test_empty_indicator_list():
    with pytest.raises(DataError):
        load_la_indicators(indicators=[])


# ---------------------------------------------------------------- wide


def test_wide_pivot_equals_long():
    names = ["icpc", "child_population_0_17", "s47_to_icpc_median_wd", "lait_ChildPov"]
    lng = load_la_indicators(indicators=names, years=[2016, 2017])
    wide = load_la_indicators(indicators=names, years=[2016, 2017], wide=True)
    assert list(wide.columns) == ["la_code", "old_la_code", "la_name", "year", *names]
    assert not wide.duplicated(["la_code", "year"]).any()
    back = wide.melt(id_vars=["la_code", "year"], value_vars=names, var_name="indicator")
    merged = lng.merge(back, on=["la_code", "year", "indicator"], how="outer",
                       suffixes=("_long", "_wide"), indicator=True)
    present = merged["_merge"] == "both"
    # the pivot has no values the long form lacks; every long row is in the pivot
    assert (merged.loc[~present, "value_wide"].isna()).all()
    assert (merged["_merge"] != "left_only").all()
    np.testing.assert_array_equal(merged.loc[present, "value_long"].to_numpy(),
                                  merged.loc[present, "value_wide"].to_numpy())
    for col in names:
        assert wide[col].dtype == np.float64


# ---------------------------------------------------------------- known values


def test_icpc_rate_equals_count_over_population_for_pilots():
    wide = load_la_indicators(indicators=["icpc", "child_population_0_17",
                                          "icpc_rate_per_10k"],
                              years=2016, wide=True).set_index("la_code").loc[PILOT_CODES]
    recomputed = wide["icpc"] / wide["child_population_0_17"] * 10_000
    np.testing.assert_allclose(wide["icpc_rate_per_10k"], recomputed, atol=0.05)
    # two hand-checked cells: Wakefield 31.4 and Tower Hamlets 60.9 in 2015/16
    assert wide.loc["E08000036", "icpc_rate_per_10k"] == pytest.approx(31.4)
    assert wide.loc["E09000030", "icpc_rate_per_10k"] == pytest.approx(60.9)


def test_pilot_codes_match_the_data():
    pilots = signs_of_safety_pilots()
    data = load_la_indicators(indicators="icpc", years=2016).set_index("la_code")
    assert list(pilots.columns) == ["la_name", "la_code", "old_la_code"]
    assert len(pilots) == 10 and pilots["la_code"].is_unique
    for row in pilots.itertuples():
        assert data.loc[row.la_code, "old_la_code"] == row.old_la_code
        assert data.loc[row.la_code, "la_name"] == row.la_name


# ---------------------------------------------------------------- neighbours


@pytest.mark.parametrize("model", ["2021", "2025", 2021])
def test_neighbour_lists(model):
    sn = load_statistical_neighbours(model)
    assert tuple(sn.columns) == NEIGHBOUR_COLUMNS
    assert sn["rank"].dtype == np.int64
    counts = sn.groupby("la_code")["rank"].agg(["count", "min", "max", "nunique"])
    assert (counts["count"] == 10).all() and (counts["nunique"] == 10).all()
    assert (counts["min"] == 1).all() and (counts["max"] == 10).all()
    assert (sn["la_code"] != sn["neighbour"]).all()
    assert not sn.duplicated(["la_code", "neighbour"]).any()
    assert set(PILOT_CODES) <= set(sn["la_code"])
    assert sn["model"].nunique() == 1 and str(model) in sn["model"].iloc[0]
    assert set(sn["closeness"]) <= {"Extremely close", "Very close", "Close",
                                    "Somewhat close", "Not close"}


def test_neighbour_codes_agree_with_indicator_codes(long):
    # every neighbour that has 2016 data is found under the same ONS code
    have = long.loc[long["year"] == 2016, ["la_code", "old_la_code"]].drop_duplicates()
    code_of = dict(zip(have["old_la_code"], have["la_code"]))
    for model in ("2021", "2025"):
        sn = load_statistical_neighbours(model)
        known = sn[sn["neighbour_old_la_code"].isin(code_of)]
        assert (known["neighbour"] == known["neighbour_old_la_code"].map(code_of)).all()


@pytest.mark.parametrize("model", ["2017", "april 2021", None, 2021.0, True])
def test_bad_model(model):
    with pytest.raises(DataError, match="model"):
        load_statistical_neighbours(model)


# ---------------------------------------------------------------- copies


def test_returned_frames_are_copies():
    a = load_la_indicators(indicators="icpc", years=2016)
    a.loc[:, "value"] = -1.0
    a.loc[:, "la_code"] = "X"
    b = load_la_indicators(indicators="icpc", years=2016)
    assert (b["value"].dropna() >= 0).all() and (b["la_code"] != "X").all()
    full = load_la_indicators()
    full["value"] = 0.0
    assert (load_la_indicators()["value"] != 0.0).any()
    sn = load_statistical_neighbours("2021")
    sn["rank"] = 0
    assert load_statistical_neighbours("2021")["rank"].min() == 1
    dic = load_indicator_dictionary()
    dic["unit"] = "changed"
    assert (load_indicator_dictionary()["unit"] != "changed").all()
    pil = signs_of_safety_pilots()
    pil.loc[0, "la_name"] = "changed"
    assert signs_of_safety_pilots().loc[0, "la_name"] == "Wakefield"
    pub = published_2016()
    pub.loc[0, "pilots"] = -1
    assert published_2016().loc[0, "pilots"] == 362


# ---------------------------------------------------------------- published table


def test_published_table_matches_study():
    pub = published_2016()
    assert len(pub) == len(PUBLISHED_2016) == 5
    assert pub["pilots"].tolist() == [362, 19, 44, 13, 29]
    assert pub["snn"].tolist() == [497, 28, 61, 14, 41]
    missing = pub["indicator"].isna()
    assert missing.tolist() == [True, True, False, False, False]
    assert pub.loc[missing, "reason"].str.contains("C2").all()
    known = set(load_indicator_dictionary()["indicator"])
    for row in pub[~missing].itertuples():
        assert row.indicator in known and set(row.alternatives) <= known
        assert row.best_model in ("2021", "2025") and row.best_year == 2016


def _recompute(row) -> tuple[float, float]:
    """Recompute a PUBLISHED_2016 row's best combination with plain pandas."""
    weight = "icpc" if row["unit"] == "working days" else "child_population_0_17"
    wide = load_la_indicators(indicators=[row["indicator"], weight],
                              years=int(row["best_year"]), wide=True)
    data = wide.set_index("old_la_code")
    value, wt = data[row["indicator"]], data[weight]

    def agg(codes, how):
        v, w = value.reindex(codes), wt.reindex(codes)
        if how == "mean":
            return v.mean()
        ok = v.notna() & w.notna()
        return (v[ok] * w[ok]).sum() / w[ok].sum()

    pilots = agg(PILOT_OLD, row["best_pilot_agg"])
    sn = load_statistical_neighbours(row["best_model"])
    sn = sn[sn["old_la_code"].isin(PILOT_OLD)]
    if row["best_other_pilots"] == "exclude":
        sn = sn[~sn["neighbour_old_la_code"].isin(PILOT_OLD)]
    sn = sn.assign(v=value.reindex(sn["neighbour_old_la_code"]).to_numpy())
    assert row["best_geography"] == "drop"
    if row["best_snn_agg"] == "mean_of_pilot_snn_means":
        snn = sn.groupby("old_la_code")["v"].mean().mean()
    else:
        assert row["best_snn_agg"] == "mean_over_pairs"
        snn = sn["v"].mean()
    return float(pilots), float(snn)


@pytest.mark.parametrize("i", [2, 3, 4])
def test_best_combination_reproduces_recorded_and_published(i):
    row = published_2016().iloc[i]
    pilots, snn = _recompute(row)
    assert pilots == pytest.approx(row["recomputed_pilots"], abs=0.005)
    assert snn == pytest.approx(row["recomputed_snn"], abs=0.005)
    # rounded to whole numbers they are the published figures
    assert np.floor(pilots + 0.5) == row["pilots"]
    assert np.floor(snn + 0.5) == row["snn"]


def test_cpp_starts_do_not_reproduce_published_pilot_figure():
    # the finding recorded in PUBLISHED_2016: plans *starting* give ~40, not 29
    wide = load_la_indicators(indicators=["cpp_started_rate_per_10k",
                                          "cpp_at_31_march_rate_per_10k"],
                              years=2016, wide=True).set_index("old_la_code").loc[PILOT_OLD]
    assert wide["cpp_started_rate_per_10k"].mean() == pytest.approx(39.76, abs=0.01)
    assert abs(wide["cpp_at_31_march_rate_per_10k"].mean() - 29) < 1


# ---------------------------------------------------------------- duplicate series


def test_shipped_duplicate_series_are_detected_and_one_kept():
    """LAIT's copies of children-in-need series (lait_PrevRegCPR = the D3 percentage...)."""
    from sosstats.datasets.loaders import (
        DUPLICATE_INDICATORS,
        _indicators_with_duplicates,
        find_duplicate_indicators,
    )

    raw = _indicators_with_duplicates()
    found = find_duplicate_indicators(raw)
    assert dict(zip(found["dropped"], found["kept"])) == DUPLICATE_INDICATORS
    assert DUPLICATE_INDICATORS["lait_PrevRegCPR"] == "cpp_started_second_or_subsequent_pct"
    row = found.set_index("dropped").loc["lait_PrevRegCPR"]
    assert row["n_shared"] == row["n_dropped"] > 800 and row["n_kept"] > row["n_dropped"]
    loaded = load_la_indicators()
    assert not loaded["indicator"].isin(list(DUPLICATE_INDICATORS)).any()
    assert "cpp_started_second_or_subsequent_pct" in set(loaded["indicator"])
    assert not load_indicator_dictionary()["indicator"].isin(list(DUPLICATE_INDICATORS)).any()
    assert find_duplicate_indicators(loaded).empty
    with pytest.raises(DataError, match="same series as 'cpp_started_second_or_subsequent_pct'"):
        load_la_indicators(indicators="lait_PrevRegCPR")


def test_find_duplicate_indicators_on_a_synthetic_copy():
    from sosstats.datasets.loaders import find_duplicate_indicators

    rng = np.random.default_rng(3)
    las, years = [f"E{i:02d}" for i in range(8)], [2015, 2016, 2017]
    base = pd.DataFrame([(la, y) for la in las for y in years], columns=["la_code", "year"])
    a = base.assign(indicator="a", value=rng.normal(size=len(base)).round(1))
    b = a.assign(indicator="b").iloc[3:]                    # a copy covering fewer LA-years
    b.loc[b.index[0], "value"] = np.nan                     # a gap in the copy is fine
    c = a.assign(indicator="c", value=a["value"] + 1.0)      # shifted: not a copy
    d = a.assign(indicator="d")
    d.loc[d.index[5], "value"] += 0.1                        # one differing cell: not a copy
    frame = pd.concat([a, b, c, d], ignore_index=True)
    found = find_duplicate_indicators(frame)
    assert found[["dropped", "kept"]].values.tolist() == [["b", "a"]]
    assert found["n_shared"].iloc[0] == len(b) - 1
    assert find_duplicate_indicators(frame, min_shared=100).empty
    # equal coverage: the first name is kept
    same = pd.concat([a, a.assign(indicator="z"), a.assign(indicator="m")], ignore_index=True)
    got = find_duplicate_indicators(same)
    assert sorted(got["dropped"]) == ["m", "z"] and set(got["kept"]) == {"a"}

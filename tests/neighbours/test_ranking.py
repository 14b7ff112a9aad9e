"""Tests of sosstats.neighbours.ranking (NeighbourRanking built from tables and distances)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.errors import DataError
from sosstats.neighbours.ranking import NeighbourRanking, as_ranking, barred_codes


def table(ranks, neighbours=None, la="T0"):
    nbrs = neighbours if neighbours is not None else [f"N{i:02d}" for i in range(len(ranks))]
    return pd.DataFrame({"la_code": la, "neighbour": nbrs, "rank": ranks})


def listed(r: NeighbourRanking, la: str) -> list[str]:
    row = r.order[list(r.ids).index(la)]
    return list(r.ids[row[row >= 0]])


def test_numeric_ranks_sort_numerically_not_lexicographically():
    nbrs = [f"N{i:02d}" for i in range(1, 12)]
    # rows shuffled; ranks 1..11 as integers, and as whole floats, give the same order
    t = table(list(range(11, 0, -1)), nbrs[::-1])
    assert listed(NeighbourRanking.from_table(t), "T0") == nbrs
    t_float = t.assign(rank=t["rank"].astype(float))
    assert listed(NeighbourRanking.from_table(t_float), "T0") == nbrs
    # Python ints in an object column (e.g. after a concat) are numbers too
    t_obj = t.assign(rank=pd.Series(list(t["rank"]), dtype=object))
    assert listed(NeighbourRanking.from_table(t_obj), "T0") == nbrs
    # ranks need not be consecutive: only their order counts
    gaps = NeighbourRanking.from_table(table([2, 5, 9], ["A", "B", "C"]))
    assert listed(gaps, "T0") == ["A", "B", "C"]


@pytest.mark.parametrize("ranks,match", [
    ([str(r) for r in range(1, 12)], r"'rank' must be numeric.*'1' for LA T0.*'10' before '2'"),
    ([1, "2", 3], r"'rank' must be numeric.*'2' for LA T0"),
    ([True, False, True], r"'rank' must be numeric.*bool.*LA T0"),
    ([1.0, 2.5, 3.0], r"whole numbers >= 1.*2.5 for LA T0"),
    ([0, 1, 2], r"whole numbers >= 1.*0 for LA T0"),
    ([-1, 1, 2], r"whole numbers >= 1.*-1 for LA T0"),
    ([1.0, np.inf, 3.0], r"whole numbers >= 1.*inf for LA T0"),
])
def test_bad_ranks_raise_naming_column_and_la(ranks, match):
    t = table(ranks)
    before = t.copy()
    with pytest.raises(DataError, match=match):
        NeighbourRanking.from_table(t)
    pd.testing.assert_frame_equal(t, before)


def test_repeated_neighbour_self_neighbour_and_shared_rank():
    # review case: A listed twice for T0 was accepted and counted twice in the mean
    dup = pd.DataFrame({"la_code": ["T0"] * 3 + ["T1"] * 3,
                        "neighbour": ["A", "A", "B", "A", "B", "C"], "rank": [1, 2, 3, 1, 2, 3]})
    with pytest.raises(DataError, match=r"same 'neighbour' more than once for LA T0\."):
        NeighbourRanking.from_table(dup)
    with pytest.raises(DataError, match=r"own 'neighbour' for LA T1"):
        NeighbourRanking.from_table(dup.assign(neighbour=["A", "B", "C", "A", "T1", "C"]))
    with pytest.raises(DataError, match=r"same 'rank' for LA T1"):
        NeighbourRanking.from_table(dup.assign(neighbour=["A", "B", "C", "A", "B", "C"],
                                               rank=[1, 2, 3, 1, 1, 3]))
    # the other column names are used in the messages
    renamed = dup.rename(columns={"la_code": "code", "neighbour": "nb", "rank": "r"})
    with pytest.raises(DataError, match=r"'nb' more than once for LA T0"):
        NeighbourRanking.from_table(renamed, id="code", neighbour="nb", rank="r")
    with pytest.raises(DataError, match=r"'r' must be numeric"):
        NeighbourRanking.from_table(renamed.assign(r="1"), id="code", neighbour="nb", rank="r")
    # the valid version of the same lists is accepted
    ok = NeighbourRanking.from_table(dup.assign(neighbour=["A", "B", "C", "A", "B", "C"]))
    assert listed(ok, "T0") == ["A", "B", "C"] and listed(ok, "T1") == ["A", "B", "C"]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(3, 9), seed=st.integers(0, 10_000))
def test_table_round_trip_and_original_rank(n, seed):
    rng = np.random.default_rng(seed)
    ids = np.array([f"L{i}" for i in range(n)], dtype=object)
    d = rng.uniform(size=(n, n))
    full = NeighbourRanking.from_distances(ids, d + d.T)
    t = full.to_frame().sample(frac=1.0, random_state=seed)  # row order must not matter
    back = NeighbourRanking.from_table(t)
    for la in ids:
        assert listed(back, la) == listed(full, la)
    # original_rank: rank in the full list of each selected neighbour, before exclusions
    excluded = rng.uniform(size=n) < 0.3
    rows = np.arange(n)
    nb, _ = full.select(rows, n - 1, excluded)
    rank = full.original_rank(rows, nb)
    for i in rows:
        for j, r in zip(nb[i], rank[i]):
            if j < 0:
                assert r == -1
            else:
                assert full.order[i, r - 1] == j


def test_as_ranking_and_barred_codes():
    t = table([1, 2, 3])
    r = as_ranking(t)
    assert isinstance(r, NeighbourRanking) and as_ranking(r) is r
    assert barred_codes(t) == () and barred_codes(r) == ()

    class Fit:
        ranking = r
        contaminated = ("N01",)

    assert as_ranking(Fit()) is r and barred_codes(Fit()) == ("N01",)
    with pytest.raises(DataError, match="neighbours"):
        as_ranking([1, 2, 3])

"""compare() and the exact Poisson interval against R, on the real 2015/16 DfE data.

Reference values: ``tests/fixtures/neighbours_reference.R`` (base R 4.2.2: ``t.test(paired=TRUE)``,
``wilcox.test(paired=TRUE, exact=TRUE)``, ``p.adjust``, ``poisson.test``), inputs written by
``tests/fixtures/make_neighbours_inputs.py``. The R script picks each pilot's neighbours from
DfE's 2021 list itself (other pilots and LAs absent from the 2015/16 data left out, first
ten remaining).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sosstats.errors import SosstatsWarning
from sosstats.neighbours import compare, rate_per_10k

FIXTURES = Path(__file__).parents[1] / "fixtures"
PILOTS = ["E08000036", "E10000020", "E06000041", "E06000023", "E10000029", "E10000019",
          "E09000005", "E10000032", "E09000030", "E10000018"]


@pytest.fixture(scope="module")
def ours():
    values = pd.read_csv(FIXTURES / "neighbours_2016_values.csv")
    lists = pd.read_csv(FIXTURES / "neighbours_dfe_2021.csv")
    ref = pd.read_csv(FIXTURES / "neighbours_2016_r.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)  # short lists once pilots are out
        return compare(values, PILOTS, lists, indicator=list(ref["indicator"]), k=10,
                       n_draws=0, n_resamples=0)


def test_per_la_neighbour_means_equal_r(ours):
    ref = pd.read_csv(FIXTURES / "neighbours_2016_r_per_la.csv")
    got = ours.per_la.merge(ref, on=["indicator", "la_code"], suffixes=("", "_r"))
    assert len(got) == len(ref) == 50
    np.testing.assert_allclose(got["value"], got["value_r"], rtol=1e-12)
    np.testing.assert_allclose(got["neighbour_mean"], got["neighbour_mean_r"], rtol=1e-12)
    np.testing.assert_array_equal(got["n_neighbours"], got["n_neighbours_r"])


@pytest.mark.parametrize("column", ["treated_mean", "neighbour_mean", "difference", "statistic",
                                    "df", "p_value", "ci_lower", "ci_upper", "p_wilcoxon",
                                    "p_holm", "p_bh"])
def test_pooled_statistics_equal_r(ours, column):
    ref = pd.read_csv(FIXTURES / "neighbours_2016_r.csv").set_index("indicator")
    got = ours.pooled.loc[ref.index]
    if column in ("p_holm", "p_bh"):  # R's p.adjust; ours: compare(adjust=...)'s p_adjusted
        values = pd.read_csv(FIXTURES / "neighbours_2016_values.csv")
        lists = pd.read_csv(FIXTURES / "neighbours_dfe_2021.csv")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SosstatsWarning)
            res = compare(values, PILOTS, lists, indicator=list(ref.index), k=10, n_draws=0,
                          n_resamples=0, adjust=column[2:])
        got = res.pooled.loc[ref.index].rename(columns={"p_adjusted": column})
    got = got.rename(columns={"estimate": "difference"})
    np.testing.assert_allclose(got[column].to_numpy(float), ref[column].to_numpy(float),
                               rtol=1e-9, atol=1e-12)


def test_wilcoxon_equals_r_default_rule():
    """wilcoxon_test follows wilcox.test's defaults (exact / corrected normal), any scipy."""
    from sosstats.neighbours._pooled import wilcoxon_test

    ref = pd.read_csv(FIXTURES / "wilcoxon_reference_r.csv")
    assert ref["case"].nunique() == 7
    for case, rows in ref.groupby("case", sort=False):
        v, p, exact, _ = wilcoxon_test(rows["x"].to_numpy(float))
        assert v == rows["V"].iloc[0], case
        assert p == pytest.approx(rows["p_value"].iloc[0], rel=1e-12), case
        assert exact == bool(rows["exact"].iloc[0]), case


def test_exact_poisson_interval_equals_r():
    ref = pd.read_csv(FIXTURES / "poisson_ci_r.csv")
    for level, tag in [(0.95, "95"), (0.90, "90")]:
        got = rate_per_10k(ref["count"].to_numpy(), np.full(len(ref), 1e4), level=level)
        np.testing.assert_allclose(got["lower"], ref[f"lower_{tag}"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got["upper"], ref[f"upper_{tag}"], rtol=1e-9)

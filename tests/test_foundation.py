"""The shared foundation: errors, validation helpers and the result protocol."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sosstats
from sosstats import _validate as v
from sosstats._results import TIDY_COLUMNS, Result, Summary, format_number
from sosstats.errors import (
    ConvergenceError,
    DataError,
    DesignError,
    SosstatsError,
    SosstatsWarning,
)


def test_error_hierarchy():
    assert issubclass(DataError, SosstatsError) and issubclass(DataError, ValueError)
    assert issubclass(DesignError, SosstatsError) and issubclass(DesignError, ValueError)
    assert issubclass(ConvergenceError, RuntimeError)
    assert issubclass(SosstatsWarning, UserWarning)


def test_version_matches_pyproject():
    import tomllib
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert sosstats.__version__ == meta["project"]["version"]


def test_check_columns_names_missing():
    df = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(DataError, match="'b'"):
        v.check_columns(df, ["a", "b"], what="feature")


def test_check_numeric_columns():
    df = pd.DataFrame({"a": [1.0, 2.0], "s": ["x", "y"], "n": [1.0, np.nan], "c": [3, 3]})
    np.testing.assert_array_equal(v.check_numeric_columns(df, "a"), [[1.0], [2.0]])
    with pytest.raises(DataError, match="'s'.*numeric"):
        v.check_numeric_columns(df, ["a", "s"])
    with pytest.raises(DataError, match="'n'.*NaN"):
        v.check_numeric_columns(df, ["n"])
    with pytest.raises(DataError, match="'c' is constant"):
        v.check_numeric_columns(df, ["c"], allow_constant=False)
    out = v.check_numeric_columns(df, ["a"])
    out[0, 0] = 99.0
    assert df.loc[0, "a"] == 1.0


def test_check_unique_lists_duplicates():
    df = pd.DataFrame({"la_code": ["E1", "E2", "E1"]})
    with pytest.raises(DataError, match="E1"):
        v.check_unique(df, "la_code")


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "0.9"])
def test_check_level_rejects(bad):
    with pytest.raises(DataError, match="level"):
        v.check_level(bad)


def test_check_rng():
    a = v.check_rng(3).normal(size=3)
    b = v.check_rng(np.random.default_rng(3)).normal(size=3)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(DataError, match="rng"):
        v.check_rng("seed")
    with pytest.raises(DataError, match="rng"):
        v.check_rng(np.random.RandomState(0))


def test_check_option_and_int():
    assert v.check_option("a", ["a", "b"], "x") == "a"
    with pytest.raises(DataError, match="'a', 'b'"):
        v.check_option("c", ["a", "b"], "x")
    with pytest.raises(DataError):
        v.check_int(2.0, "k")
    with pytest.raises(DesignError, match="at least 1"):
        v.check_int(0, "k", minimum=1)


@dataclass(frozen=True)
class _Toy(Result):
    est: pd.DataFrame
    nobs: int = 10
    method: str = "toy"

    def _estimates(self) -> pd.DataFrame:
        return self.est


def _toy() -> _Toy:
    est = pd.DataFrame({"estimate": [1.0, -2.0], "std_error": [0.5, 1.0],
                        "statistic": [2.0, -2.0], "p_value": [0.0455, 0.0455]},
                       index=pd.Index(["a", "b"]))
    return _Toy(est)


def test_result_protocol():
    res = _toy()
    assert list(res.tidy().columns) == TIDY_COLUMNS
    ci = res.conf_int(0.9)
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(ci["lower"], [1 - 0.5 * z, -2 - z])
    assert res.params["b"] == -2.0
    assert res.std_errors["a"] == 0.5
    assert "toy" in str(res.summary())
    assert "<h4>" in res.summary()._repr_html_()
    json.dumps(res.to_dict())
    with pytest.raises(NotImplementedError):
        res.plot()
    with pytest.raises(AttributeError):
        res.nobs = 3  # frozen


def test_check_numeric_columns_rejects_infinite_values():
    df = pd.DataFrame({"a": [1.0, np.inf, 3.0], "b": [-np.inf, 2.0, 3.0], "ok": [1.0, 2.0, 3.0]},
                      index=["r0", "r1", "r2"])
    with pytest.raises(DataError, match=r"infinite.*'a' for r1; 'b' for r0"):
        v.check_numeric_columns(df, ["ok", "a", "b"])
    # row labels given by the caller (e.g. LA codes) are named instead of the index
    with pytest.raises(DataError, match="'a' for E2"):
        v.check_numeric_columns(df, ["a"], labels=["E1", "E2", "E3"])
    # also when NaN is allowed, and inf is only accepted on request
    with pytest.raises(DataError, match="infinite"):
        v.check_numeric_columns(df.assign(a=[np.nan, np.inf, 1.0]), ["a"], allow_nan=True)
    out = v.check_numeric_columns(df, ["a", "b"], allow_inf=True)
    assert np.isinf(out).sum() == 2
    np.testing.assert_array_equal(v.check_numeric_columns(df, ["ok"]), [[1.0], [2.0], [3.0]])


def test_check_codes_one_rule_for_la_lists():
    assert v.check_codes(None, "treated") == []
    assert v.check_codes("E1", "treated") == ["E1"]
    assert v.check_codes(pd.Series(["E1", "E2"]), "treated") == ["E1", "E2"]
    with pytest.raises(DataError, match="`treated` repeats LA E1"):
        v.check_codes(["E1", "E2", "E1"], "treated")
    with pytest.raises(DataError, match="`exclude` must be an LA code"):
        v.check_codes(3, "exclude")


def test_summary_prints_large_whole_numbers_in_full():
    assert format_number(12780.4) == "12,780"
    assert format_number(9999.5) == "10,000"
    assert format_number(0.001234) == "0.001234"
    assert format_number(123.456) == "123.5"
    assert format_number(1.5e13) == "1.5e+13"
    assert format_number(float("nan")) == "nan"
    summary = Summary("t", pd.DataFrame({"ess_bulk": [12780.4, 345.6]}, index=["a", "b"]))
    assert "12,780" in str(summary) and "e+04" not in str(summary)
    assert "12,780" in summary._repr_html_()


def test_check_finite_names_the_value():
    assert v.check_finite("2.5", "`mean`") == 2.5
    assert v.check_finite(np.int64(3), "`mean`") == 3.0
    with pytest.raises(DataError, match="`mean` must be a number; got 'a lot'"):
        v.check_finite("a lot", "`mean`")
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(DataError, match="`mean` must be a finite number"):
            v.check_finite(bad, "`mean`")

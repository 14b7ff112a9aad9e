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
    assert not hasattr(res, "plot")  # a result without a picture has no plot attribute
    assert "<h4>" in res._repr_html_()
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


def test_table_result_protocol():
    from sosstats._results import TableResult
    from sosstats.errors import DesignError

    @dataclass(frozen=True)
    class _Bounds(TableResult):
        method: str = "toy bounds"
        level: float = 0.95

        def _table(self, level):
            self._fit_level(level)
            return pd.DataFrame({"lower": [1.0], "upper": [np.nan]},
                                index=pd.Index(["x"], name="outcome"))

    res = _Bounds()
    assert list(res.tidy().columns) == ["outcome", "lower", "upper"]
    assert "toy bounds" in str(res) and "<h4>" in res._repr_html_()
    assert json.loads(json.dumps(res.to_dict()))["table"] == [
        {"outcome": "x", "lower": 1.0, "upper": None}]
    assert not hasattr(res, "plot")
    res.tidy(0.95)
    with pytest.raises(DesignError, match="level 0.95"):
        res.tidy(0.9)


def test_result_interval_uses_df_column():
    @dataclass(frozen=True)
    class _T(Result):
        table: pd.DataFrame
        method: str = "t"

        def _estimates(self):
            return self.table

    est = pd.DataFrame({"estimate": [1.0, 1.0, 1.0], "std_error": [1.0, 1.0, 1.0],
                        "statistic": [1.0] * 3, "p_value": [0.3] * 3,
                        "df": [4.0, np.inf, np.nan]}, index=list("abc"))
    ci = _T(est).conf_int(0.95)
    np.testing.assert_allclose(ci["upper"].iloc[:2], [1 + stats.t.ppf(0.975, 4),
                                                      1 + stats.norm.ppf(0.975)])
    assert np.isnan(ci["upper"].iloc[2])


def test_check_weights_messages():
    w = v.check_weights(pd.Series([1, 2, 0]), "weights column 'w'")
    assert w.dtype == float and w.tolist() == [1.0, 2.0, 0.0]
    for bad, msg in [([1.0, np.nan], "1 missing"), ([1.0, np.inf], "1 infinite"),
                     ([1.0, -1.0], "1 are negative"), ([0.0, 0.0], "sum to zero"),
                     (pd.Series([True, False]), "numeric")]:
        with pytest.raises(DataError, match=msg):
            v.check_weights(bad, "`w`")
    assert np.isnan(v.check_weights([1.0, np.nan], "`w`", allow_nan=True)[1])
    assert v.check_weights(pd.Series([1, 2], dtype="Int64"), "`w`").tolist() == [1.0, 2.0]


def test_check_array_2d():
    assert v.check_array_2d([[1, 2]], "X", columns=2).shape == (1, 2)
    with pytest.raises(DataError, match="`X` must be a 2-D"):
        v.check_array_2d([1, 2], "X")
    with pytest.raises(DataError, match="3 rows"):
        v.check_array_2d([[1.0]], "X", rows=3)
    with pytest.raises(DataError, match="non-finite"):
        v.check_array_2d([[np.nan]], "X")


def test_adjustments_match_statsmodels():
    from statsmodels.stats.multitest import multipletests

    from sosstats._multiplicity import adjust_pvalues

    p = np.array([0.01, 0.04, np.nan, 0.03, 0.2, 0.001])
    ok = ~np.isnan(p)
    for ours, theirs in [("holm", "holm"), ("bh", "fdr_bh")]:
        got = adjust_pvalues(p, ours)
        np.testing.assert_allclose(got[ok], multipletests(p[ok], method=theirs)[1], rtol=1e-12)
        assert np.isnan(got[2])
    with pytest.raises(DataError, match="`adjust`"):
        adjust_pvalues(p, "bonf")


def test_lazy_subpackages_and_main():
    import subprocess
    import sys

    code = ("import sys, sosstats; assert 'sosstats.panel' not in sys.modules; "
            "sosstats.datasets.simulate_evaluation; assert 'sosstats.datasets' in sys.modules; "
            "print(sorted(set(sosstats.__all__) - set(dir(sosstats))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sosstats.nope  # noqa: B018
    done = subprocess.run([sys.executable, "-m", "sosstats", "--version"], capture_output=True,
                          text=True)
    assert done.returncode == 0 and sosstats.__version__ in done.stdout


def test_check_binary():
    assert v.check_binary(pd.Series([1, 0, 1]), "x").tolist() == [True, False, True]
    assert v.check_binary(pd.Series([True, pd.NA], dtype="boolean"), "x",
                          allow_nan=True).tolist() == [True, False]
    with pytest.raises(DataError, match="treatment column 't' has 1 missing"):
        v.check_binary(pd.Series([1.0, np.nan]), "treatment column 't'")
    with pytest.raises(DataError, match="must be 0/1 or boolean; it has values 'a'"):
        v.check_binary(pd.Series(["a", "b"]), "x")
    with pytest.raises(DataError, match="0/1"):
        v.check_binary(pd.Series([0, 2]), "x")


def test_split_formula_and_model_matrix():
    from sosstats._formula import model_matrix, split_formula

    assert split_formula("y ~ a + b") == ("y", "a + b")
    assert split_formula("y ~ ") == ("y", "1")
    assert split_formula("~ a", lhs="optional") == ("", "a")
    for bad, msg in [("y", "one '~'"), ("~ a", "no outcome"), ("log(y) ~ a", "one column")]:
        with pytest.raises(DataError, match=msg):
            split_formula(bad)
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "g": ["x", "y", "x"]})
    X, terms, spec = model_matrix("a + C(g)", df)
    assert terms[0] == "Intercept" and X.shape == (3, 3)
    X2, terms2, _ = model_matrix("a + C(g)", df, intercept=False)
    assert "Intercept" not in terms2 and X2.shape == (3, 2)
    with pytest.raises(DataError, match="model matrix"):
        model_matrix("a + nope", df)


def test_progress_line_ends_before_a_warning(capsys, monkeypatch):
    import sys
    import warnings

    from sosstats._progress import Progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # a terminal
    before = warnings.showwarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Progress(3, True, "work") as bar:
            bar.step()
            warnings.warn("careful", SosstatsWarning)
            bar.step()
            bar.step()
    err = capsys.readouterr().err
    assert err.startswith("\rwork: 1/3\n\rwork: 2/3"), repr(err)  # line ended, then redrawn
    assert err.endswith("3/3\n")
    assert [str(w.message) for w in caught] == ["careful"]
    assert warnings.showwarning is before  # restored


def test_check_not_mixed_refuses_numbers_with_text_and_passes_clean_columns():
    from sosstats._validate import check_not_mixed, shown_values

    with pytest.raises(DataError, match=r"covariate 'sdq' mixes numbers with text \('n/a' "
                                        r"in 1 row"):
        check_not_mixed(pd.Series([3, 7, "n/a", 12], dtype=object), "covariate 'sdq'")
    for clean in (pd.Series(["a", "b", None], dtype=object), pd.Series(["1", "2"], dtype=object),
                  pd.Series([1.0, np.nan]), pd.Series([True, False, None], dtype=object),
                  pd.Series(["x", "y"]).astype("category")):
        check_not_mixed(clean, "column")
    assert shown_values(np.array([0.2, 0.5])) == "0.2, 0.5"
    assert shown_values(range(8), limit=2) == "0, 1 ..."


def test_model_matrix_names_a_mixed_column():
    from sosstats._formula import model_matrix

    data = pd.DataFrame({"y": [1.0, 2, 3], "x": pd.Series([1, "n/a", 3], dtype=object)})
    with pytest.raises(DataError, match="column 'x' mixes numbers with text"):
        model_matrix("x", data)


def test_results_repr_is_their_summary_even_for_dataclasses():
    from dataclasses import dataclass as _dc

    from sosstats._results import TableResult

    @_dc
    class Rows(TableResult):
        values: list

        def _table(self, level):
            return pd.DataFrame({"estimate": self.values}, index=pd.Index(["a", "b"], name="term"))

    res = Rows([1.0, 2.0])
    assert repr(res) == str(res) and "estimate" in repr(res)


def test_as_list_and_check_binary_on_odd_inputs():
    with pytest.raises(DataError, match="column name or a list of column names; got 3"):
        v.as_list(3)
    got = v.check_binary(pd.Series([True, False, True], dtype=object), "response 'r'")
    assert got.tolist() == [True, False, True]
    assert v.check_binary(pd.Series([1, 0], dtype=object), "response 'r'").tolist() == [True,
                                                                                       False]


def test_progress_off_a_terminal_writes_whole_lines_only(capsys):
    from sosstats._progress import Progress

    with Progress(3, True, "work") as bar:        # capsys's stderr is not a terminal
        for _ in range(3):
            bar.step()
    assert capsys.readouterr().err == "work: 3/3\n"
    with Progress(3, None, "work", after=0.0) as bar:   # automatic: silent in a log
        for _ in range(3):
            bar.step()
    assert capsys.readouterr().err == ""

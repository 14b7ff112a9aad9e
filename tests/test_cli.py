"""The ``sosstats`` console script."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import sosstats
from sosstats.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert sosstats.__version__ in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "neighbours" in capsys.readouterr().out


def test_neighbours_real_prints_published_beside_recomputed(capsys):
    assert main(["neighbours", "--draws", "2000"]) == 0
    out = capsys.readouterr().out
    assert "ICPC" in out or "icpc" in out
    assert "61" in out and "44" in out  # the published ICPC figures
    assert "cannot be recomputed" in out


def test_neighbours_simulated(capsys):
    assert main(["neighbours", "--data", "simulated", "--draws", "500"]) == 0
    out = capsys.readouterr().out
    assert "icpc_rate_per_10k" in out
    assert "truth" in out.lower()


def test_bad_k_is_a_clean_error(capsys):
    assert main(["neighbours", "--k", "0", "--draws", "100"]) == 2
    assert "sosstats: error:" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("sosstats") is None, reason="console script not installed")
def test_console_script_installed():
    done = subprocess.run(["sosstats", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and sosstats.__version__ in done.stdout


def test_module_entry():
    done = subprocess.run([sys.executable, "-m", "sosstats.cli", "--version"],
                          capture_output=True, text=True)
    assert done.returncode == 0


def _lines_fit(out: str, width: int = 100) -> None:
    long = [line for line in out.splitlines() if len(line) > width]
    assert not long, f"{len(long)} line(s) wider than {width}: {long[0]!r}"


def test_neighbours_output_fits_100_columns_and_notes_say_what_they_concern(capsys):
    assert main(["neighbours", "--draws", "200"]) == 0
    out = capsys.readouterr().out
    _lines_fit(out)
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert notes
    for note in notes:  # which indicator and which neighbour model
        assert ("_rate_per_10k" in note or "_wd" in note or "indicator" in note) and \
            "model" in note, note


def test_neighbours_other_year_is_labelled_by_that_year_without_published_figures(capsys):
    assert main(["neighbours", "--year", "2020", "--draws", "0"]) == 0
    out = capsys.readouterr().out
    _lines_fit(out)
    assert "2019/20" in out.splitlines()[0]
    assert "2015/16" not in out.splitlines()[0]
    assert "pub. pilots" not in out and "closest" not in out.split("\n\n")[1]
    assert "Baginsky" not in out
    assert "shown only for that year" in out


def test_neighbours_headline_is_one_named_model(capsys):
    # before: the table's rows used the 2025, 2021 and 2025 lists, in a column "SN model"
    assert main(["neighbours", "--draws", "0"]) == 0
    out = capsys.readouterr().out
    _lines_fit(out)
    assert "DfE April 2021 SN model" in out.splitlines()[0]
    headline = out[:out.index("Sensitivity")]
    assert "SN model" not in headline.split("\n", 1)[1]   # no per-row model column
    assert "2025" not in headline
    sens = out[out.index("Sensitivity"):]
    assert "closest (2025 list)" in sens and "closest (2021 list)" in sens
    assert main(["neighbours", "--model", "2025", "--draws", "0"]) == 0
    assert "DfE May 2025 SN model" in capsys.readouterr().out.splitlines()[0]


def test_neighbours_2016_shows_published_figures(capsys):
    assert main(["neighbours", "--draws", "0"]) == 0
    out = capsys.readouterr().out
    assert "2015/16" in out.splitlines()[0] and "pub. pilots" in out


def test_draws_zero_says_randomization_was_skipped(capsys):
    assert main(["neighbours", "--draws", "0"]) == 0
    out = capsys.readouterr().out
    assert "randomization inference skipped (--draws 0)" in out
    assert main(["neighbours", "--data", "simulated", "--draws", "0"]) == 0
    assert "randomization inference skipped (--draws 0)" in capsys.readouterr().out


def test_all_indicators_names_its_neighbour_model(capsys):
    assert main(["neighbours", "--all-indicators", "--draws", "0"]) == 0
    out = capsys.readouterr().out
    _lines_fit(out)
    block = out[out.index("Every rate"):]
    assert "SN model April 2021" in block.replace("\n", " ")
    assert "Holm" in block and "cpp_started_second_or_subsequent_pct" in block


@pytest.mark.parametrize("argv, flag", [(["--year", "2030"], "--year"), (["--k", "0"], "--k"),
                                        (["--k", "11"], "--k"), (["--draws", "-1"], "--draws"),
                                        (["--data", "simulated", "--year", "1990"], "--year")])
def test_errors_name_the_cli_flag(capsys, argv, flag):
    assert main(["neighbours", *argv, "--draws", "0"] if "--draws" not in argv
                else ["neighbours", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sosstats: error:") and flag in err
    assert "`year`" not in err and "`k`" not in err and "n_draws" not in err
    _lines_fit(err)

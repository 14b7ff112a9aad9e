"""``sosstats reproduce``: exit codes, messages, the default folder, ``python -m sosstats``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from _report_fakes import CALLS

from sosstats.cli import main


def test_writes_the_report_and_says_where(fake_strands, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["reproduce", "--output", str(out), "--strands", "alpha,beta", "--seed", "7",
                 "--quick"]) == 0
    captured = capsys.readouterr()
    assert f"Report written to {out} (report.html, report.md)" in captured.out
    assert "2 strands, 4 tables, 2 figures" in captured.out
    assert captured.err == ""  # not a terminal: no bars
    marker = json.loads((out / ".sosstats-report").read_text())
    assert marker["seed"] == 7 and marker["quick"] is True


def test_default_output_is_sosstats_report_in_the_working_folder(fake_strands, tmp_path,
                                                                 monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "--strands", "beta", "--format", "md", "--quiet"]) == 0
    assert (tmp_path / "sosstats-report" / "report.md").exists()
    assert not (tmp_path / "sosstats-report" / "report.html").exists()
    assert "sosstats-report" in capsys.readouterr().out


def test_a_failed_strand_exits_1_naming_it_and_the_others_are_written(fake_strands, tmp_path,
                                                                     capsys):
    out = tmp_path / "rep"
    assert main(["reproduce", "--output", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "sosstats: error: strand 'gamma' failed: RuntimeError: gamma broke on purpose" in err
    assert "run.log" in err
    assert "alpha" not in err and "beta" not in err
    assert (out / "tables" / "alpha_headline.csv").exists()
    assert (out / "tables" / "beta_truth.csv").exists()
    assert "This strand failed" in (out / "report.html").read_text()


@pytest.mark.parametrize("args, message", [
    (["--seed", "1.5"], "--seed must be a whole number (an integer); got '1.5'"),
    (["--seed", "abc"], "--seed must be a whole number (an integer); got 'abc'"),
    (["--seed", "-2"], "--seed must be at least 0"),
    (["--strands", "alpha,delta"], "--strands: unknown strand 'delta'; the strands are "
                                   "alpha, beta, gamma"),
    (["--format", "pdf"], "--format must be 'html', 'md' or both; got 'pdf'"),
])
def test_bad_arguments_exit_2_with_a_clear_message(fake_strands, tmp_path, capsys, args,
                                                   message):
    out = tmp_path / "rep"
    assert main(["reproduce", "--output", str(out), *args]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("sosstats: error:") and message in err
    assert CALLS == [] and not out.exists() and os.listdir(tmp_path) == []


def test_a_foreign_output_folder_exits_2_and_is_left_alone(fake_strands, tmp_path, capsys):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep me")
    assert main(["reproduce", "--output", str(foreign)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--output" in err and "is not a sosstats report" in err
    assert os.listdir(foreign) == ["mine.txt"] and CALLS == []


def test_unwritable_output_message(fake_strands, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["reproduce", "--output", str(blocker / "rep")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("sosstats: error: --output") and "cannot write in" in err


def test_help_lists_reproduce(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "reproduce" in out and "neighbours" in out


def test_python_m_sosstats_reproduce():
    done = subprocess.run([sys.executable, "-m", "sosstats", "reproduce", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--quick" in done.stdout and "--strands" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "sosstats", "reproduce", "--seed", "x"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--seed must be a whole number" in bad.stderr


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_output_in_proc_says_the_folder_exists(fake_strands, capsys):
    # mkdir in /proc fails with ENOENT: the message read "cannot write in '/proc' (No such
    # file or directory)", as if /proc did not exist.
    assert main(["reproduce", "--output", "/proc/sosstats-x"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "cannot write in '/proc' (it exists, but refuses new folders)" in err
    assert not os.path.exists("/proc/sosstats-x")


def test_quick_help_says_how_long(capsys):
    # --quick said "a few minutes in all"; the quick run takes 30-50 s on two cores
    with pytest.raises(SystemExit) as exit_:
        main(["reproduce", "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "under a minute on two cores" in out and "a few minutes" not in out

"""sosstats.report.reproduce: running strands, failures, frames, validation, atomic writing."""

from __future__ import annotations

import json
import os

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from _report_fakes import CALLS, _module

from sosstats.errors import DataError, SosstatsError
from sosstats.report import Report, Section, StrandFailure, reproduce


def test_runs_every_strand_in_order_and_keeps_failures(fake_strands, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = reproduce(quiet=True)
    assert isinstance(report, Report)
    assert list(os.listdir(tmp_path)) == []  # output=None writes nothing
    assert CALLS == ["alpha", "beta", "gamma"]
    assert list(report.sections) == ["alpha", "beta"]
    assert report.keys == ["alpha", "beta", "gamma"]
    failure = report.failures["gamma"]
    assert isinstance(failure, StrandFailure)
    assert failure.error == "RuntimeError" and failure.message == "gamma broke on purpose"
    assert "Traceback" in failure.traceback and "_gamma" in failure.traceback
    assert set(report.elapsed) == {"alpha", "beta", "gamma"}
    assert all(t >= 0 for t in report.elapsed.values())
    assert list(report.tables) == ["alpha_headline", "alpha_published", "beta_by_group",
                                   "beta_truth"]
    assert all(isinstance(t, pd.DataFrame) for t in report.tables.values())
    assert list(report.figures) == ["alpha_bars", "beta_trace"]
    assert not report.ok


def test_strands_run_in_report_order_whatever_the_order_asked(fake_strands):
    report = reproduce(strands=["beta", "alpha"], quiet=True)
    assert CALLS == ["alpha", "beta"] and report.keys == ["alpha", "beta"] and report.ok
    assert reproduce(strands="beta", quiet=True).keys == ["beta"]
    assert reproduce(strands="beta,alpha", quiet=True).keys == ["alpha", "beta"]


def test_warnings_become_notes_and_pyplot_figures_are_released(fake_strands):
    plt.close("all")
    report = reproduce(strands=["alpha"], quiet=True)
    assert "only 10 pilots: few clusters" in report.sections["alpha"].notes
    assert plt.get_fignums() == []  # the runner closed the strand's pyplot figure
    assert "data:image/png;base64," in report.to_html()  # still renders after closing


def test_user_frames_replace_the_simulated_ones_and_are_not_modified(fake_strands):
    families = pd.DataFrame({"family_id": [1, 2, 3], "t1": [1.0, 2.0, 3.0],
                             "t2": [3.0, 4.0, 5.0]})
    before = families.copy()
    report = reproduce(strands=["beta"], frames={"families": families}, quiet=True)
    assert report.sections["beta"].results["change"] == pytest.approx(2.0)
    pd.testing.assert_frame_equal(families, before)
    default = reproduce(strands=["beta"], quiet=True).sections["beta"].results["change"]
    assert default != pytest.approx(2.0)


def test_a_strands_numbers_depend_on_seed_and_key_only(fake_strands):
    alone = reproduce(strands=["beta"], seed=5, quiet=True).sections["beta"].results["change"]
    both = reproduce(seed=5, quiet=True).sections["beta"].results["change"]
    other = reproduce(strands=["beta"], seed=6, quiet=True).sections["beta"].results["change"]
    assert alone == both and alone != other


@pytest.mark.parametrize("seed", [1.5, True, "3", None, 2.0])
def test_seed_must_be_an_integer(fake_strands, seed):
    with pytest.raises(DataError, match="`seed` must be an integer"):
        reproduce(seed=seed, quiet=True)
    assert CALLS == []


def test_negative_seed_is_refused(fake_strands):
    with pytest.raises(SosstatsError, match="`seed` must be at least 0"):
        reproduce(seed=-1, quiet=True)


def test_unknown_strand_lists_the_valid_ones(fake_strands):
    with pytest.raises(DataError, match=r"unknown strand 'delta'.*alpha, beta, gamma"):
        reproduce(strands=["alpha", "delta"], quiet=True)
    with pytest.raises(DataError, match="names no strand"):
        reproduce(strands=[], quiet=True)
    assert CALLS == []


def test_real_registry_names_the_real_strands():
    with pytest.raises(DataError, match="neighbours, change, attrition, multilevel, vfm, survey"):
        reproduce(strands=["neighbors"], quiet=True)


@pytest.mark.parametrize("formats, bad", [(["pdf"], "'pdf'"), ("html,docx", "'docx'"),
                                          ([], "none")])
def test_formats_are_html_and_md(fake_strands, formats, bad):
    with pytest.raises(DataError, match=f"`formats` must be 'html', 'md' or both; got {bad}"):
        reproduce(formats=formats, quiet=True)


def test_quick_and_quiet_must_be_booleans(fake_strands):
    with pytest.raises(DataError, match="`quick`"):
        reproduce(quick="yes", quiet=True)
    with pytest.raises(DataError, match="`quiet`"):
        reproduce(quiet=0)


def test_a_frame_missing_a_required_column_names_frame_and_column(fake_strands):
    families = pd.DataFrame({"family_id": [1], "t1": [1.0]})
    with pytest.raises(DataError, match=r"`frames\['families'\]` lacks column 't2'.*'beta'"):
        reproduce(frames={"families": families}, quiet=True)
    assert CALLS == []


def test_frames_must_be_dataframes_used_by_a_chosen_strand(fake_strands):
    with pytest.raises(DataError, match=r"frames\['families'\]"):
        reproduce(frames={"families": [1, 2]}, quiet=True)
    ok = pd.DataFrame({"family_id": [1], "t1": [1.0], "t2": [2.0]})
    with pytest.raises(DataError, match="no chosen strand uses a frame 'families'"):
        reproduce(strands=["alpha"], frames={"families": ok}, quiet=True)
    with pytest.raises(DataError, match="`frames` must be a dict"):
        reproduce(frames=[ok], quiet=True)


def test_a_strand_that_returns_no_section_fails_alone(monkeypatch):
    from _report_fakes import install

    install(monkeypatch, bad=_module("bad", lambda ctx: {"not": "a section"}, "Bad", {}))
    report = reproduce(strands=["alpha", "bad"], quiet=True)
    assert list(report.sections) == ["alpha"]
    assert "returned dict, not a Section" in report.failures["bad"].message


def test_a_strand_that_cannot_be_imported_fails_alone(monkeypatch):
    from _report_fakes import install

    from sosstats.report import strands

    install(monkeypatch)
    monkeypatch.setitem(strands.STRANDS, "missing", "sosstats.report.strands._no_such_strand")
    report = reproduce(strands=["alpha", "missing"], quiet=True)
    assert report.failures["missing"].error == "ModuleNotFoundError"
    assert list(report.sections) == ["alpha"]


def test_writes_the_layout(fake_strands, tmp_path):
    out = tmp_path / "report"
    report = reproduce(out, seed=3, quiet=True)
    assert sorted(os.listdir(out)) == [".sosstats-report", "figures", "report.html",
                                       "report.md", "run.log", "tables"]
    assert sorted(os.listdir(out / "tables")) == [f"{n}.csv" for n in sorted(report.tables)]
    assert sorted(os.listdir(out / "figures")) == ["alpha_bars.png", "beta_trace.png"]
    assert (out / "figures" / "alpha_bars.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = pd.read_csv(out / "tables" / "alpha_headline.csv")
    pd.testing.assert_frame_equal(csv, report.tables["alpha_headline"])
    assert pd.read_csv(out / "tables" / "beta_by_group.csv").columns[0] == "group"
    log = (out / "run.log").read_text()
    assert "seed 3" in log and "gamma" in log and "FAILED" in log
    assert "RuntimeError: gamma broke on purpose" in log and "Traceback" in log
    assert "only 10 pilots" in log
    marker = json.loads((out / ".sosstats-report").read_text())
    assert marker["failed"] == ["gamma"] and marker["seed"] == 3
    assert [p for p in os.listdir(tmp_path) if p != "report"] == []  # no temporary left


def test_one_format_only(fake_strands, tmp_path):
    reproduce(tmp_path / "r", formats=["md"], quiet=True)
    assert not (tmp_path / "r" / "report.html").exists()
    assert (tmp_path / "r" / "report.md").exists() and (tmp_path / "r" / "tables").is_dir()


def test_replaces_a_previous_report_and_an_empty_folder(fake_strands, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    reproduce(out, strands=["alpha", "beta"], seed=1, quiet=True)
    (out / "stale.txt").write_text("from the first run")
    reproduce(out, strands=["alpha"], seed=2, quiet=True)
    assert not (out / "stale.txt").exists()
    assert json.loads((out / ".sosstats-report").read_text())["seed"] == 2
    assert sorted(os.listdir(tmp_path)) == ["r"]


def test_refuses_to_replace_a_folder_that_is_not_a_report(fake_strands, tmp_path):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("precious")
    with pytest.raises(DataError, match="exists and is not a sosstats report"):
        reproduce(out, quiet=True)
    assert CALLS == [] and os.listdir(out) == ["chapter1.tex"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(DataError, match="exists and is not a folder"):
        reproduce(afile, quiet=True)


def test_unwritable_output_is_refused_before_anything_runs(fake_strands, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(DataError, match="`output` .* cannot write in"):
        reproduce(blocker / "report", quiet=True)
    assert CALLS == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_parent_is_refused(fake_strands, tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        with pytest.raises(DataError, match="cannot write in"):
            reproduce(parent / "report", quiet=True)
    finally:
        parent.chmod(0o700)


def test_an_interrupted_run_leaves_nothing_that_looks_complete(monkeypatch, tmp_path):
    from _report_fakes import install

    def interrupted(ctx):
        raise KeyboardInterrupt

    install(monkeypatch, stop=_module("stop", interrupted, "Stop", {}))
    with pytest.raises(KeyboardInterrupt):
        reproduce(tmp_path / "r", quiet=True)
    assert os.listdir(tmp_path) == []


def test_a_failure_while_writing_keeps_the_previous_report(fake_strands, tmp_path, monkeypatch):
    out = tmp_path / "r"
    reproduce(out, strands=["alpha"], seed=1, quiet=True)

    def broken(self):
        raise OSError("disk full")

    monkeypatch.setattr(Report, "to_markdown", broken)
    with pytest.raises(OSError, match="disk full"):
        reproduce(out, strands=["alpha"], seed=2, quiet=True)
    assert json.loads((out / ".sosstats-report").read_text())["seed"] == 1
    assert (out / "report.md").exists()
    assert sorted(os.listdir(tmp_path)) == ["r"]


def test_report_write_uses_the_same_rules(fake_strands, tmp_path):
    report = reproduce(strands=["beta"], quiet=True)
    folder = report.write(tmp_path / "mine", formats="html")
    assert (folder / "report.html").exists() and not (folder / "report.md").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("x")
    with pytest.raises(DataError, match="not a sosstats report"):
        report.write(tmp_path / "other")


def test_progress_bars_on_stderr_only_when_asked_or_on_a_terminal(fake_strands, capsys):
    reproduce(strands=["alpha"], quiet=False)
    err = capsys.readouterr().err
    assert "Alpha: pilots against neighbours" in err and "sosstats reproduce" in err
    reproduce(strands=["alpha"], quiet=True)
    reproduce(strands=["alpha"])  # pytest's stderr is not a terminal: auto means silent
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_strand_progress_reaches_the_bars(fake_strands, monkeypatch):
    from sosstats.report import _bars

    seen = []
    monkeypatch.setattr(_bars.Bars, "step", lambda self, f, text="": seen.append((f, text)))
    reproduce(strands=["alpha"], quiet=True)
    assert seen == [(0.5, "half way"), (1.0, "done")]


def test_a_hand_built_report_renders(tmp_path):
    section = Section(key="mine", title="My analysis", question="Q?", method="M.",
                      tables={"t": pd.DataFrame({"x": [1.5]})})
    report = Report(sections={"mine": section})
    assert "My analysis" in report.to_html() and "| x |" in report.to_markdown()
    assert (report.write(tmp_path / "out") / "tables" / "mine_t.csv").exists()

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

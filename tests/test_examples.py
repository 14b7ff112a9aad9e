"""Every script in examples/ runs end to end (as a user would run it).

Examples that sample Bayesian models with full-length chains (:data:`SLOW_EXAMPLES`, 80 s and
16 s here) are marked slow: CI runs them in its slow job, keeping the default run under ten
minutes on two cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))
SLOW_EXAMPLES = {"multilevel", "vfm_decisions"}


def test_there_are_examples():
    assert EXAMPLES, "examples/ holds no scripts"


@pytest.mark.parametrize("script", [
    pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW_EXAMPLES else [])
    for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path):
    env = dict(os.environ, MPLBACKEND="Agg", SOSSTATS_EXAMPLE_OUT=str(tmp_path))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip(), "the example printed nothing"

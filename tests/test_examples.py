"""Every script in examples/ runs end to end (as a user would run it).

The examples that sample Bayesian models with full-length chains (:data:`BUILT_BY_DOCS`:
multilevel, 70-80 s here, and vfm_decisions, 12-16 s) are not run again here: the documentation
build (``tests/test_docs_site.py::test_site_builds_with_warnings_as_errors``, CI's slow job)
executes every example with sphinx-gallery, fails on any error and checks that each page shows
the script's printed output. Running them twice cost CI's default run 100 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))
BUILT_BY_DOCS = {"multilevel", "vfm_decisions"}


def test_there_are_examples():
    assert EXAMPLES, "examples/ holds no scripts"
    assert BUILT_BY_DOCS <= {p.stem for p in EXAMPLES}


@pytest.mark.parametrize("script", [p for p in EXAMPLES if p.stem not in BUILT_BY_DOCS],
                         ids=lambda p: p.stem)
def test_example_runs(script: Path, tmp_path: Path):
    env = dict(os.environ, MPLBACKEND="Agg", SOSSTATS_EXAMPLE_OUT=str(tmp_path))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip(), "the example printed nothing"

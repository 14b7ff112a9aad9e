"""Fixtures of the report tests: fake strands in place of the real ones."""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture
def fake_strands(monkeypatch):
    """Point the registry at the fake strands alpha, beta and gamma (gamma raises)."""
    from _report_fakes import install

    return install(monkeypatch)


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory):
    """One real ``sosstats reproduce --quick`` run (all six strands), shared by the tests.

    Returns a dict: ``folder`` (the report), ``returncode``, ``stdout``, ``stderr`` and
    ``seconds`` (wall time of the whole command).
    """
    import os
    import subprocess
    import sys
    import time

    folder = tmp_path_factory.mktemp("quick") / "sosstats-report"
    env = dict(os.environ, MPLBACKEND="Agg")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sosstats", "reproduce", "--quick",
                           "--output", str(folder)], capture_output=True, text=True,
                          timeout=900, env=env)
    return {"folder": folder, "returncode": done.returncode, "stdout": done.stdout,
            "stderr": done.stderr, "seconds": time.perf_counter() - start}

"""Fixtures of the report tests: fake strands in place of the real ones."""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture
def fake_strands(monkeypatch):
    """The registry points at the fake strands alpha, beta and gamma (gamma raises)."""
    from _report_fakes import install

    return install(monkeypatch)

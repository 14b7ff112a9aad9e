"""Panel's modules: under ~450 lines each, public names defined in public modules (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

import sosstats.panel as panel

ROOT = Path(__file__).parents[2] / "sosstats"
FILES = sorted((ROOT / "panel").glob("*.py")) + [
    ROOT / "_kernels" / name for name in ("wild.py", "wild_result.py", "cluster.py",
                                          "cluster_inputs.py", "cluster_cr2.py")]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_file_is_under_450_lines(path):
    assert len(path.read_text().splitlines()) <= 450


@pytest.mark.parametrize("name", panel.__all__)
def test_exported_name_lives_in_a_public_module(name):
    module = getattr(panel, name).__module__
    assert not any(part.startswith("_") for part in module.split(".")), (name, module)

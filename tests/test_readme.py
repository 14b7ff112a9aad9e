"""README.md stays true: its set-up commands and its Python snippets."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_exactly_two_setup_commands_at_the_top():
    head = README.split("## ")[0]
    commands = re.findall(r"```bash\n(.*?)\n```", head, re.S)
    assert len(commands) == 2
    assert "sosstats reproduce" in commands[0] and "pip install" in commands[0]
    assert "pytest" in commands[1] and "[test]" in commands[1]


def test_ci_runs_the_readme_test_command():
    head = README.split("## ")[0]
    test_command = re.findall(r"```bash\n(.*?)\n```", head, re.S)[1].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text()


SNIPPETS = re.findall(r"```python\n(.*?)```", README, re.S)


# a snippet that samples a Bayesian model (a full-length MultilevelModel fit) runs in CI's
# slow job, as the examples and doc pages that sample do
@pytest.mark.parametrize("index", [
    pytest.param(i, marks=[pytest.mark.slow] if ".fit(" in block and "MultilevelModel" in block
                 else []) for i, block in enumerate(SNIPPETS)])
def test_python_snippets_run(index, monkeypatch, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    block = re.findall(r"```python\n(.*?)```", README, re.S)[index]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(block, f"README.md[{index}]", "exec"), {})

"""The documentation site: Sphinx builds it with warnings as errors, and its sources hold together.

The full build (``python3 -m sphinx -W --keep-going -n -b html docs <out>``) runs every example
of ``examples/`` through sphinx-gallery, so it is slow and marked so (CI's slow run builds the
site). The fast checks: no file of the docs or the package cites a path outside the package,
every public name has its place in the API reference, every guide is in the table of contents,
and a broken local link in a guide fails the build.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
PUBLIC = ("datasets", "neighbours", "matching", "panel", "weighting", "multilevel", "survey",
          "vfm", "design", "report", "errors")
GUIDES = sorted(DOCS.glob("*.md"))
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
BUILT = ("_build", "auto_examples", "generated")  # build outputs inside docs/

# Paths a reader of the installed package does not have: the project's shared folder, the
# workspace, scratch notes.
OUTSIDE = re.compile(r"(?<![\w-])shared/|\.\./shared|/work/|/notes/")
TEXT = {".py", ".md", ".rst", ".txt", ".html", ".j2", ".jinja", ".css", ".toml", ".cfg"}


def _source_files() -> list[Path]:
    files = []
    for base in (DOCS, ROOT / "sosstats", ROOT / "examples"):
        for path in base.rglob("*"):
            rel = path.relative_to(ROOT)
            if (path.is_file() and path.suffix in TEXT and "__pycache__" not in rel.parts
                    and not any(part in BUILT for part in rel.parts)):
                files.append(path)
    return files


def _outside_citations(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r}"
            for m in OUTSIDE.finditer(text)]


def test_no_file_cites_a_path_outside_the_package():
    found = [hit for path in _source_files() for hit in _outside_citations(path)]
    assert not found, "paths a user does not have:\n" + "\n".join(found)


def test_the_outside_path_check_can_fail():
    text = "See `shared/data/README.md` and /work/notes/x.py; not sharedness/ or un-shared/.\n"
    assert OUTSIDE.findall(text) == ["shared/", "/work/"]


def _autosummary_names(page: Path) -> set[str]:
    names, inside = set(), False
    for line in page.read_text().splitlines():
        if line.startswith(".. autosummary::"):
            inside = True
        elif inside and line.startswith("   "):
            if not line.strip().startswith(":"):  # not an option such as :toctree:
                names.add(line.strip())
        elif inside and line.strip():
            inside = False
    return names


@pytest.mark.parametrize("module", PUBLIC)
def test_api_page_lists_every_public_name(module: str):
    page = DOCS / "api" / f"{module}.rst"
    assert page.exists(), f"docs/api/{module}.rst is missing"
    text = page.read_text()
    assert f".. automodule:: sosstats.{module}" in text
    listed = _autosummary_names(page)
    public = set(importlib.import_module(f"sosstats.{module}").__all__)
    missing = public - listed
    assert not missing, f"docs/api/{module}.rst does not list {sorted(missing)}"
    stale = {n for n in listed - public if "." not in n}
    assert not stale, f"docs/api/{module}.rst lists names sosstats.{module} lacks: {stale}"
    for name in listed - public:  # dotted: classes the functions return, under their module
        mod, _, attr = f"sosstats.{module}.{name}".rpartition(".")
        assert hasattr(importlib.import_module(mod), attr), name
    assert module in (DOCS / "api" / "index.rst").read_text().split()


def test_every_guide_is_in_the_table_of_contents():
    index = (DOCS / "index.md").read_text()
    toctrees = "\n".join(re.findall(r"```\{toctree\}(.*?)```", index, re.S))
    entries = {line.strip() for line in toctrees.splitlines()}
    missing = [p.stem for p in GUIDES if p.stem != "index" and p.stem not in entries]
    assert not missing, f"guides not in docs/index.md's toctree: {missing}"
    assert {"api/index", "auto_examples/index"} <= entries


def _myst_settings() -> dict:
    """Read the MyST and warning settings of docs/conf.py (without running the build)."""
    namespace: dict = {"__file__": str(DOCS / "conf.py")}
    exec(compile((DOCS / "conf.py").read_text(), "conf.py", "exec"), namespace)
    return {k: v for k, v in namespace.items()
            if k.startswith("myst_") or k in ("suppress_warnings", "nitpicky", "source_suffix")}


def _mini_build(tmp_path: Path, links: list[str]) -> subprocess.CompletedProcess:
    # the docs extra (Sphinx, MyST); CI installs it for the site build, a user running the
    # default suite with only the test extra skips these two
    pytest.importorskip("myst_parser")
    src = tmp_path / "src"
    src.mkdir()
    conf = "".join(f"{k} = {v!r}\n" for k, v in _myst_settings().items())
    (src / "conf.py").write_text("extensions = ['myst_parser']\n" + conf)
    (src / "index.md").write_text("# Index\n\n```{toctree}\nother\n```\n")
    body = "".join(f"Link {i}: {link}.\n\n" for i, link in enumerate(links))
    (src / "other.md").write_text(f"# Other page\n\n## A heading\n\n{body}")
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q",
                           "-b", "html", str(src), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)


def test_good_local_links_build(tmp_path: Path):
    done = _mini_build(tmp_path, ["[the index](index.md)", "[a heading](#a-heading)",
                                  "[the index's title](index.md#index)"])
    assert done.returncode == 0, done.stderr


def test_broken_local_links_fail_the_build(tmp_path: Path):
    broken = {"missing.md": "[a page](missing.md)",
              "no-such-heading": "[a heading](#no-such-heading)",
              "index.md#other-missing": "[the index](index.md#other-missing)"}
    done = _mini_build(tmp_path, list(broken.values()))
    assert done.returncode != 0, "broken links built without a warning"
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line]
    for target in broken:
        name = target.rpartition("#")[2] or target
        assert any(name in w for w in warnings), f"no warning for {target}: {warnings}"


@pytest.mark.slow
def test_site_builds_with_warnings_as_errors(tmp_path: Path):
    # no skip when the docs extra is missing: CI must build the site
    out = tmp_path / "html"
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-b",
                           "html", str(DOCS), str(out)],
                          capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert done.returncode == 0, (done.stdout[-3000:] + done.stderr[-6000:])
    assert (out / "index.html").exists()
    for guide in GUIDES:
        assert (out / f"{guide.stem}.html").exists(), guide.name
    for module in PUBLIC:
        page = out / "api" / f"{module}.html"
        assert page.exists(), module
        for name in importlib.import_module(f"sosstats.{module}").__all__:
            assert (out / "api" / "generated" / f"sosstats.{module}.{name}.html").exists(), name
    assert (out / "auto_examples" / "index.html").exists()
    for script in EXAMPLES:
        page = out / "auto_examples" / f"{script.stem}.html"
        assert page.exists(), script.name
        html = page.read_text()
        assert "sphx-glr-script-out" in html, f"{script.name}: no printed output on its page"
        if "savefig" in script.read_text():
            images = list((out / "_images").glob(f"sphx_glr_{script.stem}_*.png"))
            assert images, f"{script.name} writes figures but its page shows none"
            assert f"sphx_glr_{script.stem}_" in html

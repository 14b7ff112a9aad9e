"""Writing a report folder atomically: a temporary folder beside the target, moved into place.

Layout: ``report.html``, ``report.md``, ``figures/<key>_<name>.png``,
``tables/<key>_<name>.csv``, ``run.log`` and the marker ``.sosstats-report`` (which marks the
folder as one sosstats may replace).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sosstats.errors import DataError

if TYPE_CHECKING:
    from sosstats.report._report import Report

__all__ = ["FORMATS", "MARKER", "check_formats", "check_output", "make_temp", "fill", "commit",
           "write_report"]

FORMATS = ("html", "md")
MARKER = ".sosstats-report"


def check_formats(formats: Any) -> tuple[str, ...]:
    """Return ``formats`` (names, or one comma-separated string) as a tuple of html/md."""
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",")]
    if not isinstance(formats, Iterable):
        raise DataError(f"`formats` must be a list of 'html' and/or 'md'; got {formats!r}.")
    out = tuple(dict.fromkeys(formats))
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise DataError(f"`formats` must be 'html', 'md' or both; got "
                        f"{', '.join(map(repr, bad)) if bad else 'none'}.")
    return out


def is_report(path: Path) -> bool:
    """Return True when ``path`` is a folder sosstats wrote (it carries the marker file)."""
    return (path / MARKER).is_file()


def check_output(output: str | os.PathLike[str]) -> Path:
    """Return the report folder as an absolute path, refused if it is not ours to replace.

    An existing folder may be replaced when it is empty or a previous sosstats report; a file,
    or a folder holding anything else, is refused (nothing is deleted that sosstats did not
    write).
    """
    try:
        target = Path(os.fspath(output)).expanduser().absolute()
    except TypeError:
        raise DataError(f"`output` must be a folder path; got {type(output).__name__}.") from None
    if target.exists() or target.is_symlink():
        if not target.is_dir() or target.is_symlink():
            raise DataError(f"`output` {str(target)!r} exists and is not a folder; choose "
                            "another path.")
        if not is_report(target) and any(target.iterdir()):
            raise DataError(f"`output` {str(target)!r} exists and is not a sosstats report "
                            f"(it has no {MARKER} file); it is left alone. Choose a new or "
                            "empty folder, or remove it first.")
    return target


def make_temp(target: Path) -> Path:
    """Create the temporary folder beside ``target`` (this is the check that it is writable)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as exc:
        # /proc and other special file systems exist but refuse new folders with ENOENT,
        # which read alone says the folder is not there
        there = (" (it exists, but refuses new folders)"
                 if exc.errno == errno.ENOENT and target.parent.is_dir() else "")
        raise DataError(f"`output` {str(target)!r}: cannot write in {str(target.parent)!r}"
                        f"{there} ({exc.strerror or exc}).") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o777 & ~umask)  # mkdtemp makes it private; a report folder is not
    return temp


def fill(report: Report, folder: Path, formats: tuple[str, ...]) -> None:
    """Write every file of the report into ``folder``."""
    import pandas as pd

    (folder / "figures").mkdir()
    (folder / "tables").mkdir()
    for name, frame in report.tables.items():
        keep_index = not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None
        frame.to_csv(folder / "tables" / f"{name}.csv", index=keep_index)
    for key in report.keys:
        section = report.sections.get(key)
        for name in section.figures if section is not None else ():
            (folder / "figures" / f"{key}_{name}.png").write_bytes(report.png(key, name))
    if "html" in formats:
        (folder / "report.html").write_text(report.to_html(), encoding="utf-8")
    if "md" in formats:
        (folder / "report.md").write_text(report.to_markdown(), encoding="utf-8")
    (folder / "run.log").write_text(report.run_log(), encoding="utf-8")
    (folder / MARKER).write_text(json.dumps(
        {"sosstats": report.version, "seed": report.seed, "quick": report.quick,
         "started": report.started.isoformat(timespec="seconds"),
         "strands": report.keys, "failed": list(report.failures),
         "tables": list(report.tables), "figures": list(report.figures)}, indent=1) + "\n")


def commit(temp: Path, target: Path) -> Path:
    """Move the finished ``temp`` folder to ``target``, replacing a previous report there."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
    try:
        os.replace(temp, target)
    except OSError:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def discard(temp: Path) -> None:
    """Remove a temporary folder (after a failure before :func:`commit`)."""
    shutil.rmtree(temp, ignore_errors=True)


def write_report(report: Report, output: str | os.PathLike[str],
                 formats: tuple[str, ...] = FORMATS, temp: Path | None = None) -> Path:
    """Write ``report`` to ``output`` through a temporary folder (made here unless given)."""
    target = check_output(output)
    temp = make_temp(target) if temp is None else temp
    try:
        fill(report, temp, formats)
        return commit(temp, target)
    except BaseException:
        discard(temp)
        raise

"""The :class:`Report` that :func:`sosstats.report.reproduce` returns."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sosstats._version import __version__
from sosstats.report._section import Section, StrandFailure

__all__ = ["Report", "SIMULATED_BANNER"]

#: shown on every simulated section, in HTML and Markdown
SIMULATED_BANNER = ("simulated data: strands 2-6 run on simulate_evaluation(); the simulator's "
                    "truth is shown beside each estimate")


@dataclass
class Report:
    """The strands' sections, failures and timings, ready to render or write.

    Parameters
    ----------
    sections : dict of str to Section
        The strands that ran, by key, in report order.
    failures : dict of str to StrandFailure
        The strands that raised, by key (each renders as a section saying so).
    elapsed : dict of str to float
        Seconds each strand took.
    seed, quick : int, bool
        The run's settings.
    started : datetime
        When the run began (UTC).
    order : list of str
        Keys of every strand run, in report order (default: sections, then failures).
    titles : dict of str to str
        Strand titles by key (used for failed strands, which have no Section).
    log : list of str
        Run notes (warnings a strand raised without capturing them), written to ``run.log``.

    Attributes
    ----------
    tables : dict of str to DataFrame
        Every table, flat, named ``<key>_<name>``, including each section's ``truth`` and
        ``published`` frames (``<key>_truth``, ``<key>_published``) where given.
    figures : dict of str to Figure
        Every figure, flat, named ``<key>_<name>``.
    """

    sections: dict[str, Section] = field(default_factory=dict)
    failures: dict[str, StrandFailure] = field(default_factory=dict)
    elapsed: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    quick: bool = False
    started: _dt.datetime = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc))
    order: list[str] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    version: str = __version__
    _png: dict[tuple[str, str], bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def keys(self) -> list[str]:
        """Keys of every strand in the report (ran or failed), in report order."""
        keys = [k for k in self.order if k in self.sections or k in self.failures]
        return keys + [k for k in [*self.sections, *self.failures] if k not in keys]

    def title(self, key: str) -> str:
        """Heading of strand ``key``."""
        if key in self.sections:
            return self.sections[key].title
        return self.titles.get(key, key)

    @property
    def ok(self) -> bool:
        """True when no strand failed."""
        return not self.failures

    @property
    def tables(self) -> dict[str, pd.DataFrame]:  # noqa: D102 (documented in the class)
        out: dict[str, pd.DataFrame] = {}
        for key in self.keys:
            section = self.sections.get(key)
            if section is None:
                continue
            for name, frame in section.tables.items():
                out[f"{key}_{name}"] = frame
            for name in ("truth", "published"):
                frame = getattr(section, name)
                if frame is not None and f"{key}_{name}" not in out:
                    out[f"{key}_{name}"] = frame
        return out

    @property
    def figures(self) -> dict[str, Any]:  # noqa: D102 (documented in the class)
        return {f"{key}_{name}": fig for key in self.keys if key in self.sections
                for name, fig in self.sections[key].figures.items()}

    def png(self, key: str, name: str) -> bytes:
        """PNG bytes of figure ``name`` of strand ``key`` (drawn once, then cached)."""
        if (key, name) not in self._png:
            from sosstats.report._format import figure_png

            self._png[key, name] = figure_png(self.sections[key].figures[name])
        return self._png[key, name]

    @property
    def total_seconds(self) -> float:
        """Seconds all strands took together."""
        return float(sum(self.elapsed.values()))

    def to_html(self) -> str:
        """Return the report as one self-contained HTML page (inline CSS, base64 PNG figures)."""
        from sosstats.report._render_html import render_html

        return render_html(self)

    def to_markdown(self) -> str:
        """Return the report as Markdown; figures are linked as ``figures/<key>_<name>.png``."""
        from sosstats.report._render_markdown import render_markdown

        return render_markdown(self)

    def write(self, directory: str | Path, *, formats: Any = ("html", "md")) -> Path:
        """Write the report into ``directory`` (see :func:`sosstats.report.reproduce`).

        Everything is written into a temporary folder beside ``directory`` and moved into
        place at the end. An existing ``directory`` is replaced only if it is empty or a
        previous sosstats report; otherwise a :class:`~sosstats.errors.DataError` is raised.

        Returns
        -------
        pathlib.Path
            The report folder.
        """
        from sosstats.report._write import check_formats, write_report

        return write_report(self, directory, check_formats(formats))

    def run_log(self) -> str:
        """Return the text of ``run.log``: settings, time per strand, notes, tracebacks."""
        lines = [f"sosstats {self.version} reproduce",
                 f"started {self.started.isoformat(timespec='seconds')}",
                 f"seed {self.seed}, quick {self.quick}", ""]
        for key in self.keys:
            status = "FAILED" if key in self.failures else "ok"
            lines.append(f"{key:<12} {status:<7} {self.elapsed.get(key, 0.0):8.1f} s")
        lines.append(f"{'total':<12} {'':<7} {self.total_seconds:8.1f} s")
        for key in self.keys:
            section = self.sections.get(key)
            if section is not None and section.notes:
                lines += ["", f"notes: {key}"] + [f"  - {note}" for note in section.notes]
        if self.log:
            lines += ["", "run notes"] + [f"  - {note}" for note in self.log]
        for key, failure in self.failures.items():
            lines += ["", f"FAILED: {key}: {failure.error}: {failure.message}", failure.traceback]
        return "\n".join(lines).rstrip() + "\n"

    def __str__(self) -> str:
        ran = len(self.sections)
        lines = [f"sosstats report: {ran} strand{'' if ran == 1 else 's'} ran, "
                 f"{len(self.failures)} failed (seed {self.seed}{', quick' if self.quick else ''})"]
        for key in self.keys:
            if key in self.failures:
                f = self.failures[key]
                lines.append(f"  {key:<12} FAILED  {f.error}: {f.message}")
            else:
                s = self.sections[key]
                lines.append(f"  {key:<12} {self.elapsed.get(key, 0.0):6.1f} s  "
                             f"{len(s.tables)} tables, {len(s.figures)} figures")
        return "\n".join(lines)


def selected(report: Report | Section, only: str | None) -> tuple[Report, list[str], str | None]:
    """Return the report, the strand keys to render and ``only``, as both renderers take them.

    A lone :class:`Section` is wrapped in a one-strand report rendered as its own page; an
    ``only`` that names no strand of the report is a :class:`DataError` listing the strands.
    """
    if isinstance(report, Section):
        report = Report(sections={report.key: report}, order=[report.key])
        only = report.order[0]
    keys = report.keys
    if only is not None:
        if only not in keys:
            from sosstats.errors import DataError

            raise DataError(f"`only`: no strand {only!r} in this report; it has "
                            f"{', '.join(map(repr, keys)) or 'none'}.")
        keys = [only]
    return report, keys, only

"""``reproduce``: check the arguments, run the chosen strands in order, write the report."""

from __future__ import annotations

import contextlib
import io
import os
import time
import traceback
import warnings
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

import pandas as pd

from sosstats._validate import check_frame, check_int
from sosstats.errors import DataError, SosstatsWarning
from sosstats.report import strands as _registry
from sosstats.report._bars import Bars, show_bars
from sosstats.report._context import StrandContext
from sosstats.report._report import Report
from sosstats.report._section import Section, StrandFailure
from sosstats.report._write import check_formats, check_output, discard, make_temp, write_report

__all__ = ["reproduce"]


def reproduce(output: str | os.PathLike[str] | None = None, *,
              strands: str | Iterable[str] | None = None, quick: bool = False, seed: int = 0,
              formats: str | Iterable[str] = ("html", "md"),
              frames: Mapping[str, pd.DataFrame] | None = None,
              quiet: bool | None = None) -> Report:
    """Run the strands of the evaluation and return (and optionally write) the report.

    The strands run in report order (``sosstats.report.strands.STRANDS``: neighbours, change,
    attrition, multilevel, vfm, survey), each as ``run(ctx)`` with one shared
    :class:`StrandContext`, so the simulated strands share one
    ``simulate_evaluation(rng=seed)``. A strand that raises becomes a
    :class:`StrandFailure` (with its traceback) and the others still run; the report shows the
    failure in its place.

    Parameters
    ----------
    output : str or path-like, optional
        Folder to write the report into. None (default) writes nothing: render the returned
        report yourself (:meth:`Report.to_html`, :meth:`Report.write`). An existing folder is
        replaced only if it is empty or a previous sosstats report.
    strands : str or list of str, optional
        Strand keys to run (a string may list them comma-separated); default all.
    quick : bool
        Short chains, fewer draws and replicates (the report says so).
    seed : int
        Seed of the run (a non-negative integer). Each strand draws its own generator from
        ``(seed, key)``, so a strand's numbers do not depend on which others ran.
    formats : str or list of str
        ``"html"``, ``"md"`` or both (default both); tables (CSV), figures (PNG) and
        ``run.log`` are always written.
    frames : dict of str to DataFrame, optional
        Your own tables in place of the simulated or shipped ones (``{"families": df}``). Each
        must carry the columns the chosen strands require (``FRAMES`` of each strand module).
        They are copied; yours are not modified.
    quiet : bool or None
        True: no progress bars; False: always; None (default): bars only when stderr is a
        terminal.

    Returns
    -------
    Report
        ``.sections`` (key to :class:`Section`), ``.failures`` (key to
        :class:`StrandFailure`), ``.tables`` (``"<key>_<name>"`` to DataFrame),
        ``.figures``, ``.elapsed`` (seconds per strand).

    Raises
    ------
    sosstats.errors.DataError
        Before anything runs: an unknown strand (the message lists the valid ones), a seed
        that is not a non-negative integer, an unknown format, a frame that is not a
        DataFrame, that no chosen strand uses or that lacks a required column (the message
        names the frame and the column), an output folder that cannot be written or that
        exists and is not a sosstats report.

    Notes
    -----
    The report is written into a temporary folder beside ``output`` (created before any
    strand runs, which is also the check that ``output`` is writable) and renamed into place
    only when complete, so an interrupted run never leaves a folder that looks finished.

    Examples
    --------
    >>> from sosstats.report import reproduce
    >>> report = reproduce(strands=["neighbours"], quick=True, quiet=True)  # doctest: +SKIP
    >>> report.tables["neighbours_headline"]  # doctest: +SKIP
    """
    keys = check_strands(strands)
    seed = check_int(seed, "seed", minimum=0)
    if not isinstance(quick, bool):
        raise DataError(f"`quick` must be True or False; got {quick!r}.")
    if quiet is not None and not isinstance(quiet, bool):
        raise DataError(f"`quiet` must be True, False or None; got {quiet!r}.")
    formats = check_formats(formats)
    modules, import_failures = _load(keys)
    user_frames = check_frames(frames, keys, modules)
    target = check_output(output) if output is not None else None
    temp = make_temp(target) if target is not None else None
    try:
        report = _run(keys, modules, import_failures, seed, quick, user_frames, quiet)
        if target is not None:
            write_report(report, target, formats, temp=temp)
    except BaseException:
        if temp is not None:
            discard(temp)
        raise
    return report


def check_strands(strands: str | Iterable[str] | None) -> list[str]:
    """Return the chosen strand keys, in report order (the message lists the valid keys)."""
    valid = list(_registry.STRANDS)
    if strands is None:
        return valid
    if isinstance(strands, str):
        strands = [s.strip() for s in strands.split(",") if s.strip()]
    if not isinstance(strands, Iterable):
        raise DataError(f"`strands` must be a list of strand names; got {strands!r}.")
    chosen = list(strands)
    bad = [s for s in chosen if not isinstance(s, str) or s not in valid]
    if bad:
        raise DataError(f"`strands`: unknown strand {', '.join(map(repr, bad))}; the strands "
                        f"are {', '.join(valid)}.")
    if not chosen:
        raise DataError(f"`strands` names no strand; the strands are {', '.join(valid)}.")
    return [k for k in valid if k in chosen]


def _failure(key: str, exc: BaseException) -> StrandFailure:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return StrandFailure(key=key, error=type(exc).__name__, message=str(exc), traceback=tb)


def _load(keys: list[str]) -> tuple[dict[str, ModuleType], dict[str, StrandFailure]]:
    modules, failures = {}, {}
    for key in keys:
        try:
            modules[key] = _registry.load_strand(key)
        except Exception as exc:  # a broken or missing strand fails alone
            failures[key] = _failure(key, exc)
    return modules, failures


def check_frames(frames: Mapping[str, pd.DataFrame] | None, keys: list[str],
                 modules: dict[str, ModuleType]) -> dict[str, pd.DataFrame]:
    """Return copies of the user's frames, each checked against every chosen strand using it."""
    if frames is None:
        return {}
    if not isinstance(frames, Mapping):
        raise DataError("`frames` must be a dict of frame name to DataFrame; got "
                        f"{type(frames).__name__}.")
    uses: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for key, module in modules.items():
        for name, columns in getattr(module, "FRAMES", {}).items():
            uses.setdefault(name, []).append((key, tuple(columns)))
    out = {}
    for name, frame in frames.items():
        check_frame(frame, f"frames[{name!r}]")
        if name not in uses and len(modules) == len(keys):
            accepted = ", ".join(map(repr, sorted(uses))) or "none"
            raise DataError(f"`frames`: no chosen strand uses a frame {name!r} (strands "
                            f"{', '.join(keys)}); the frames they accept are {accepted}.")
        for key, columns in uses.get(name, []):
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise DataError(
                    f"`frames[{name!r}]` lacks column {', '.join(map(repr, missing))}, which "
                    f"strand {key!r} needs (it needs {', '.join(map(repr, columns))}); its "
                    f"columns are {', '.join(map(repr, list(frame.columns)[:20]))}.")
        out[name] = frame.copy()
    return out


def _close(figure: Any) -> None:
    """Take a pyplot figure out of pyplot's registry (the Figure object stays usable)."""
    import matplotlib.pyplot as plt

    from sosstats.report._format import as_figure

    fig = as_figure(figure)
    manager = getattr(fig.canvas, "manager", None)
    if manager is not None and plt.fignum_exists(manager.num):
        plt.close(fig)


def _run_one(key: str, module: ModuleType, ctx: StrandContext, report: Report) -> None:
    out = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out):
        warnings.simplefilter("always", SosstatsWarning)
        section = module.run(ctx)
        if not isinstance(section, Section):
            raise TypeError(f"strand {key!r}: run() returned {type(section).__name__}, "
                            "not a Section")
        report.sections[key] = section
        for name in section.figures:  # drawn now, so a broken figure fails its strand only
            report.png(key, name)
            _close(section.figures[name])
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, SosstatsWarning):
            if text not in section.notes:
                section.notes.append(text)
        else:
            report.log.append(f"{key}: {w.category.__name__}: {text}")
    if out.getvalue().strip():
        report.log.append(f"{key} printed:\n{out.getvalue().rstrip()}")


def _run(keys: list[str], modules: dict[str, ModuleType],
         import_failures: dict[str, StrandFailure], seed: int, quick: bool,
         frames: dict[str, pd.DataFrame], quiet: bool | None) -> Report:
    titles = {k: str(getattr(m, "TITLE", k)) for k, m in modules.items()}
    report = Report(seed=seed, quick=quick, order=list(keys), titles=titles)
    with Bars(keys, titles, show_bars(quiet)) as bars:
        ctx = StrandContext(seed=seed, quick=quick, frames=frames, progress=bars.step)
        for key in keys:
            bars.start(key)
            start = time.perf_counter()
            if key in import_failures:
                report.failures[key] = import_failures[key]
            else:
                try:
                    _run_one(key, modules[key], ctx, report)
                except Exception as exc:  # the strand fails; the others go on
                    report.sections.pop(key, None)
                    report._png = {k: v for k, v in report._png.items() if k[0] != key}
                    report.failures[key] = _failure(key, exc)
            report.elapsed[key] = time.perf_counter() - start
            bars.finish(key, key not in report.failures)
    return report

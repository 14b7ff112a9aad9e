"""Progress bars for ``reproduce``: one overall bar and one per strand, drawn by ``rich``."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Bars", "show_bars"]


def show_bars(quiet: bool | None) -> bool:
    """Whether to draw bars: never under ``quiet=True``; under ``None``, only on a terminal."""
    if quiet is None:
        isatty = getattr(sys.stderr, "isatty", None)
        return bool(isatty()) if callable(isatty) else False
    return not quiet


class Bars:
    """An overall bar (strands done) and a bar per strand (its ``ctx.step`` fraction).

    With ``show=False`` every method is a no-op, so the runner calls them unconditionally.
    Use as a context manager.
    """

    def __init__(self, keys: list[str], titles: dict[str, str], show: bool) -> None:
        self.show = show
        self.tasks: dict[str, Any] = {}
        self.current: str | None = None
        self.progress: Any = None
        if not show:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 TaskProgressColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.fields[text]}"),
                                 console=Console(stderr=True), transient=False)
        self.overall = self.progress.add_task("sosstats reproduce", total=len(keys), text="")
        for key in keys:
            self.tasks[key] = self.progress.add_task(f"  {titles.get(key, key)}", total=1.0,
                                                     text="waiting", start=False)

    def __enter__(self) -> Bars:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def start(self, key: str) -> None:
        """Strand ``key`` begins."""
        self.current = key
        if self.progress is not None:
            self.progress.start_task(self.tasks[key])
            self.progress.update(self.tasks[key], text="running")

    def step(self, fraction: float, text: str = "") -> None:
        """Show that the running strand has done ``fraction`` of its work (``ctx.step``)."""
        if self.progress is not None and self.current is not None:
            self.progress.update(self.tasks[self.current], completed=fraction, text=text)

    def finish(self, key: str, ok: bool) -> None:
        """Strand ``key`` ended (``ok`` False: it raised)."""
        self.current = None
        if self.progress is not None:
            self.progress.update(self.tasks[key], completed=1.0, text="done" if ok else "FAILED")
            self.progress.stop_task(self.tasks[key])
            self.progress.advance(self.overall)

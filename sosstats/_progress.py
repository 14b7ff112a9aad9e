"""A plain stderr progress counter for loops that can take more than a few seconds."""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any

__all__ = ["Progress"]


class Progress:
    """Counter ``label: done/total`` on stderr, shown when asked or once work passes ``after`` s.

    While the counter's line is on screen, a warning raised by the work ends that line first
    (the warning starts on a fresh line and the counter is redrawn under it), so a progress line
    never runs into a warning. Use it as a context manager, or call :meth:`close`. When stderr
    is not a terminal (a log file, CI), the automatic counter stays silent and an asked-for one
    writes whole lines (at most one every 10 s, and the last), never carriage-return redraws.

    Parameters
    ----------
    total : int
        Number of steps.
    show : bool or None
        True: always; False: never; None: only once the work has taken ``after`` seconds.
    label : str
        Text before the count.
    after : float
        Seconds before an automatic counter appears.
    """

    def __init__(self, total: int, show: bool | None, label: str, after: float = 2.0) -> None:
        self.total, self.show, self.label, self.after = total, show, label, after
        self.start = self.last = time.perf_counter()
        self.done, self.shown, self.on_line = 0, False, False
        self._showwarning: Any = None
        isatty = getattr(sys.stderr, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _warning_on_new_line(self, *args: Any, **kwargs: Any) -> None:
        if self.on_line:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.on_line = False
        self._showwarning(*args, **kwargs)

    def step(self, n: int = 1) -> None:
        """Count ``n`` more steps done (redrawn at most four times a second)."""
        self.done += n
        now = time.perf_counter()
        if not self.tty:
            if self.show and (now - self.last > 10.0 or self.done == self.total):
                self.last, self.shown = now, True
                sys.stderr.write(f"{self.label}: {self.done}/{self.total}\n")
                sys.stderr.flush()
            return
        visible = self.show if self.show is not None else now - self.start > self.after
        if visible and (now - self.last > 0.25 or self.done == self.total or not self.on_line):
            if self._showwarning is None:
                self._showwarning = warnings.showwarning
                warnings.showwarning = self._warning_on_new_line
            self.last, self.shown, self.on_line = now, True, True
            sys.stderr.write(f"\r{self.label}: {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        """End the counter's line if it was shown, and restore warning display."""
        if self._showwarning is not None:
            if warnings.showwarning == self._warning_on_new_line:
                warnings.showwarning = self._showwarning
            self._showwarning = None
        if self.on_line:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.on_line = False

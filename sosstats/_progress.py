"""A plain stderr progress counter for loops that can take more than a few seconds."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """Counter ``label: done/total`` on stderr, shown when asked or once work passes ``after`` s.

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
        self.done, self.shown = 0, False

    def step(self, n: int = 1) -> None:
        """Count ``n`` more steps done (redrawn at most four times a second)."""
        self.done += n
        now = time.perf_counter()
        visible = self.show if self.show is not None else now - self.start > self.after
        if visible and (now - self.last > 0.25 or self.done == self.total):
            self.last, self.shown = now, True
            sys.stderr.write(f"\r{self.label}: {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        """End the counter's line if it was shown."""
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()

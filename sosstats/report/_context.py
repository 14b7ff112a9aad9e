"""The inputs every strand receives: seed, quick mode, the user's frames, one shared simulation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["StrandContext"]


@dataclass
class StrandContext:
    """What a strand function is given.

    Parameters
    ----------
    seed : int
        The run's seed. A strand draws its own generator with :meth:`rng` so that strands do not
        depend on the order they run in.
    quick : bool
        Short chains, fewer draws and replicates (``sosstats reproduce --quick``); the report
        says which numbers are quick.
    frames : mapping of str to DataFrame
        Frames the user supplied in place of the simulated or shipped ones, by table name
        (``"families"``, ``"memberships"``, ``"la_indicators"``, ...). A strand that uses a
        frame gets it with :meth:`user_frame`, which checks the user's frame (required and
        numeric columns) with errors naming the frame and the column.
    progress : callable or None
        ``progress(fraction, text)`` with fraction in [0, 1]: the strand's own progress, shown
        under the strand's bar.
    """

    seed: int = 0
    quick: bool = False
    frames: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    progress: Any = None
    _evaluation: Any = field(default=None, repr=False)

    def rng(self, key: str) -> Any:
        """Return a numpy Generator for strand ``key``, from the run's seed and the key alone."""
        import zlib

        import numpy as np

        return np.random.default_rng([self.seed, zlib.crc32(key.encode())])

    def evaluation(self) -> Any:
        """Return the simulated evaluation the strands share (made once, from ``seed``)."""
        if self._evaluation is None:
            from sosstats.datasets import simulate_evaluation

            self._evaluation = simulate_evaluation(rng=self.seed)
        return self._evaluation

    def frame(self, name: str) -> pd.DataFrame:
        """Return the user's frame ``name`` if given, else the simulation's table of that name."""
        if name in self.frames:
            return self.frames[name]
        return getattr(self.evaluation(), name)

    def user_frame(self, name: str, required: Iterable[str] = (), *,
                   numeric: Iterable[str] = (), numeric_nan: Iterable[str] = ()
                   ) -> pd.DataFrame:
        """Return frame ``name`` as :meth:`frame` does, checking it first if it is the user's.

        A frame the user supplied must be a non-empty DataFrame with the ``required`` columns,
        the ``numeric`` columns numeric without NaN and the ``numeric_nan`` columns numeric
        (NaN allowed); each check raises :class:`~sosstats.errors.DataError` naming the frame
        as ``frames['<name>']`` (:func:`~sosstats._validate.check_frame`,
        :func:`~sosstats._validate.check_columns`,
        :func:`~sosstats._validate.check_numeric_columns`, in that order). The shared
        simulation's tables are returned as they are. The frame is not copied.
        """
        from sosstats._validate import check_columns, check_frame, check_numeric_columns

        data = self.frame(name)
        if name in self.frames:
            where = f"frames[{name!r}]"
            data = check_frame(data, name=where)
            check_columns(data, list(required), name=where)
            if numeric := list(numeric):
                check_numeric_columns(data, numeric, name=where)
            if numeric_nan := list(numeric_nan):
                check_numeric_columns(data, numeric_nan, name=where, allow_nan=True)
        return data

    def step(self, fraction: float, text: str = "") -> None:
        """Report the strand's progress (a no-op without a progress callback)."""
        if self.progress is not None:
            self.progress(min(max(float(fraction), 0.0), 1.0), text)

"""Exceptions and warnings raised by sosstats.

Every error a user can trigger with bad input is a subclass of :class:`SosstatsError`, so
``except SosstatsError`` catches all of them; the subclasses also derive from the built-in
exception a Python user would expect (``ValueError`` for bad data or an unidentifiable design,
``RuntimeError`` for an algorithm that did not converge).
"""

from __future__ import annotations

__all__ = [
    "SosstatsError",
    "DataError",
    "DesignError",
    "ConvergenceError",
    "SosstatsWarning",
]


class SosstatsError(Exception):
    """Base class of every error raised by sosstats."""


class DataError(SosstatsError, ValueError):
    """Input data are unusable: a missing, non-numeric, constant or NaN column, duplicate IDs.

    The message names the column (or the LA codes) and the problem.
    """


class DesignError(SosstatsError, ValueError):
    """The analysis cannot be identified with this design.

    Examples: fewer than two treated units for a pooled test, ``k`` not smaller than the
    number of eligible comparison units, a treated unit absent from the data.
    """


class ConvergenceError(SosstatsError, RuntimeError):
    """An iterative algorithm (optimiser, sampler) failed to converge."""


class SosstatsWarning(UserWarning):
    """Something ran but deserves attention (few clusters, dropped cells, extreme weights)."""

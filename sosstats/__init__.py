"""sosstats: statistics for evaluating children's social care programmes.

Modelled on the 2017 national evaluation of *Signs of Safety* in ten English local
authorities. Each capability is a sub-package, loaded on first use so that ``import sosstats``
stays fast (the same lazy access as scipy's sub-packages)::

    import sosstats
    ev = sosstats.datasets.simulate_evaluation(rng=1)
    res = sosstats.neighbours.compare(...)

This namespace holds ``__version__``, :mod:`sosstats.errors` and the sub-packages
``datasets``, ``neighbours``, ``matching``, ``panel``, ``weighting``, ``multilevel`` and ``vfm``;
their public names live in each sub-package.
"""

from __future__ import annotations

import importlib
from typing import Any

from sosstats import errors
from sosstats._version import __version__

SUBPACKAGES = ("datasets", "neighbours", "matching", "panel", "weighting", "multilevel", "vfm")

__all__ = ["__version__", "errors", *SUBPACKAGES]


def __getattr__(name: str) -> Any:
    if name in SUBPACKAGES:
        return importlib.import_module(f"sosstats.{name}")
    raise AttributeError(f"module 'sosstats' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(SUBPACKAGES))

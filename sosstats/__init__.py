"""sosstats: statistics for evaluating children's social care programmes.

Modelled on the 2017 national evaluation of *Signs of Safety* in ten English local
authorities. Capabilities live in sub-packages (``sosstats.neighbours``, ``sosstats.datasets``);
this namespace re-exports the public names only.
"""

from __future__ import annotations

from sosstats import errors
from sosstats._version import __version__

__all__ = ["__version__", "errors"]

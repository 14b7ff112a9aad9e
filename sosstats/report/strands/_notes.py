"""Warnings raised inside a strand, turned into the notes of its section."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from sosstats.errors import SosstatsWarning

__all__ = ["captured_notes"]


@contextmanager
def captured_notes(notes: list[str], prefix: str = "") -> Iterator[list[str]]:
    """Record the SosstatsWarnings raised inside the block as notes (each message once).

    Each message is appended to ``notes`` (with ``prefix``) unless already there; the block
    gets the list of this block's raw messages. Other warnings (numpy, pandas) are raised
    again after the block, for the runner's log.
    """
    raw: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield raw
    for w in caught:
        if issubclass(w.category, SosstatsWarning):
            raw.append(str(w.message))
            text = f"{prefix}{w.message}"
            if text not in notes:
                notes.append(text)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

"""The whole evaluation end to end: ``sosstats reproduce`` and its Python API."""

from sosstats.report._context import StrandContext
from sosstats.report._section import Section, StrandFailure

__all__ = ["Section", "StrandContext", "StrandFailure"]

"""Formula helpers shared by the capabilities that take a formulaic right-hand side."""

from __future__ import annotations

import re

import pandas as pd

from sosstats.errors import DataError

__all__ = ["formula_variables"]


def formula_variables(rhs: str, data: pd.DataFrame) -> list[str]:
    """Columns of ``data`` read by the right-hand side ``rhs`` (DataError for unknown names)."""
    from formulaic import Formula

    try:
        required = {str(v) for v in Formula(rhs).required_variables}
    except Exception as exc:  # formulaic raises many types; name the formula
        raise DataError(f"cannot parse the formula right-hand side {rhs!r}: {exc}") from exc
    calls = set(re.findall(r"([A-Za-z_][\w.]*)\s*\(", rhs))
    missing = sorted(v for v in required - calls if v not in data.columns)
    if missing:
        raise DataError(f"the formula names column(s) {', '.join(map(repr, missing))} that are "
                        "not in `data`.")
    # formulaic leaves out of ``required_variables`` columns named like its own helpers
    # (``exp2``, ``log``, ``center``, ``lag``...); keep every column named as a bare word
    words = set(re.findall(r"[A-Za-z_][\w.]*", rhs))
    return [c for c in data.columns if c in required or c in words]

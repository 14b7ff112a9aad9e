"""``python -m sosstats``: the same command as the ``sosstats`` console script."""

from __future__ import annotations

import sys

from sosstats.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""Package version (single source: keep equal to ``pyproject.toml``)."""

__version__ = "0.1.0"

"""The version every artifact and record names (one place, below every layer)."""

__version__ = "0.1.0"

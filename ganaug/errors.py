"""Exceptions raised for bad input; each message names the problem and the fix."""


class GanaugError(Exception):
    """Base class of ganaug's own errors."""


class GanaugDataError(GanaugError, ValueError):
    """A dataset is missing, corrupt or inconsistent."""


class ArtifactError(GanaugError, ValueError):
    """A generator artifact is missing, tampered with, or made for another dataset."""


class ConfigError(GanaugError, ValueError):
    """A setting (a config value or an argument) is out of range or of the wrong type."""


class OutputError(GanaugError, OSError):
    """A file or directory cannot be written; the message names it and what to change."""

"""Exceptions raised for bad input; each message names the problem and the fix."""


class GanaugError(Exception):
    """Base class of ganaug's own errors."""


class GanaugDataError(GanaugError, ValueError):
    """A dataset is missing, corrupt or inconsistent."""


class ArtifactError(GanaugError, ValueError):
    """A generator artifact is missing, tampered with, or made for another dataset."""

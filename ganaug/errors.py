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


def cause(e: BaseException | None, match) -> BaseException | None:
    """The first of `e` and the exceptions behind it (``__cause__``) that ``match(exception)`` accepts, if any:
    hydra.utils.instantiate wraps what it calls."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if match(e):
            return e
        e = e.__cause__
    return None


def user_error(e: BaseException) -> BaseException | None:
    """The GanaugError (or named OSError, or required setting left out) behind `e`, if any."""
    from omegaconf.errors import MissingMandatoryValue

    return cause(e, lambda x: isinstance(x, (GanaugError, MissingMandatoryValue))
                 or (isinstance(x, OSError) and x.filename is not None))

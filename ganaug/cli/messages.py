"""What every ganaug command does with a user error: a message and an exit status, not a traceback.

A `GanaugError` is a mistake in the settings or the files a user gave; its message already names
the problem and the fix, and a traceback would bury it. An `OSError` carrying a file name (no
permission, disk full) is the same kind of problem, and so are a required setting (``???`` in
conf/) left off the command line and a setting the command reads deleted there (``~key``). Anything
else is a bug and keeps Hydra's report.
`HYDRA_FULL_ERROR=1` brings the traceback back, as Hydra users expect.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

from omegaconf.errors import MissingMandatoryValue

from ganaug.errors import GanaugError, cause, user_error

USAGE_ERROR = 2

# What a required setting (??? in conf/) looks like, for the message that names it.
REQUIRED_EXAMPLES = {"generator": "runs/<run>/generator", "data.dataset.root": "/path/to/images"}


def _deleted_setting(e: BaseException) -> str | None:
    """The message for a setting the command line deleted (``~key``) that the command reads; None for any other
    missing key, which is a bug in ganaug and keeps its traceback."""
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    e = cause(e, lambda x: isinstance(x, (ConfigAttributeError, ConfigKeyError)))
    if e is None or not e.full_key:
        return None
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task)
    except (ImportError, ValueError):  # not inside a Hydra run
        return None
    key = e.full_key
    for o in overrides:
        deleted = o[1:].split("=", 1)[0] if o.startswith("~") else None
        if deleted and (key == deleted or key.startswith(deleted + ".")):
            return (f"{key} is needed, but the command line deleted it ({o}): drop that override to keep its "
                    f"default, or give the value, e.g. {key}=<value>")
    return None


def user_message(e: BaseException, output: str = "out_dir=... or run_name=...") -> str | None:
    """What a command prints for `e` (None: not a user error, keep the traceback); ``output`` names the
    command's own settings for where it writes."""
    deleted = _deleted_setting(e)
    if deleted is not None:
        return deleted
    e = user_error(e)
    if e is None:
        return None
    if isinstance(e, GanaugError):
        return str(e)
    if isinstance(e, MissingMandatoryValue):
        key = e.full_key
        return f"{key} is not set: give it on the command line, e.g. {key}={REQUIRED_EXAMPLES.get(key, '<value>')}"
    if isinstance(e, OSError) and e.filename is not None:
        what = e.strerror or type(e).__name__
        fix = ""
        if isinstance(e, PermissionError):
            # The error does not say whether it came from a read (a generator, a checkpoint, an image) or a write.
            if e.filename and os.path.exists(e.filename) and not os.path.isdir(e.filename):
                fix = "; this user may not read it: fix its permissions, or give another file"
            else:
                fix = f"; choose a location you can write to ({output}) or fix its permissions"
        return f"{e.filename}: {what}{fix}"
    return None


INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


def user_errors(command: str, output: str = "out_dir=... or run_name=...",
                on_interrupt: str = "what finished is stored: rerun the same command to go on from there"
                ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a Hydra task function: user errors become `<command>: error: <message>` and exit 2; Ctrl-C
    a line saying what ``on_interrupt`` says (exit 130). ``output``: the command's settings for where it writes."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def task(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except KeyboardInterrupt:
                if os.environ.get("HYDRA_FULL_ERROR") == "1":
                    raise
                print(f"\n{command}: interrupted; {on_interrupt}", file=sys.stderr)
                raise SystemExit(INTERRUPTED) from None
            except Exception as e:
                cause = user_error(e)
                message = user_message(e, output)
                if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                    raise
                print(f"{command}: error: {message}", file=sys.stderr)
                # SystemExit passes through Hydra's handler, which would print a traceback for an Exception.
                raise SystemExit(getattr(cause, "exit_code", USAGE_ERROR)) from None

        return task

    return wrap

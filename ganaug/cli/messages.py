"""What every ganaug command does with a user error: a message and an exit status, not a traceback.

A `GanaugError` is a mistake in the settings or the files a user gave; its message already names
the problem and the fix, and a traceback would bury it. An `OSError` carrying a file name (no
permission, disk full) is the same kind of problem, and so is a required setting (``???`` in
conf/) left off the command line. Anything else is a bug and keeps Hydra's report.
`HYDRA_FULL_ERROR=1` brings the traceback back, as Hydra users expect.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

from omegaconf.errors import MissingMandatoryValue

from ganaug.errors import GanaugError, user_error

USAGE_ERROR = 2

# What a required setting (??? in conf/) looks like, for the message that names it.
REQUIRED_EXAMPLES = {"generator": "runs/<run>/generator", "data.dataset.root": "/path/to/images"}


def user_message(e: BaseException, output: str = "out_dir=... or run_name=...") -> str | None:
    """What a command prints for `e` (None: not a user error, keep the traceback); ``output`` names the
    command's own settings for where it writes."""
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

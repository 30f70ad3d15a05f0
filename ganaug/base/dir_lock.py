"""One run per output directory: a second ganaug command on a directory in use stops at once.

Two runs on one directory would train the same units twice and overwrite each other's checkpoints
and records (a CI retry while the first job still runs, a command pasted into two terminals). The
lock is an advisory ``flock`` on ``<dir>/.ganaug.lock``, held for the run; the kernel releases it
when the process ends, however it ends, so a killed run leaves no stale lock and its rerun resumes.
The file names its holder, for the message the second run prints. Where ``fcntl`` does not exist
(Windows) no lock is taken.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ganaug.errors import GanaugError, OutputError

__all__ = ["DirectoryBusy", "LOCK_FILE", "hold_dir"]

LOCK_FILE = ".ganaug.lock"


class DirectoryBusy(GanaugError, RuntimeError):
    """Another process is running on this output directory."""

    exit_code = 75  # EX_TEMPFAIL: try again later


def _secondary_rank() -> bool:
    # Under DDP every rank runs the command; rank 0 holds the lock for all of them.
    return any(int(os.environ.get(k) or 0) > 0 for k in ("LOCAL_RANK", "RANK"))


def _open_lock(lock: Path):
    """The lock file, opened read-write without following a link; refused unless it is a regular file.

    Anyone who can write in a shared output directory could otherwise point the lock at any file the
    runner can write (it is truncated and rewritten). O_NONBLOCK: a FIFO put there does not hang the open.
    """
    import stat

    refuse = (f"{lock}: the lock {LOCK_FILE} is not a regular file (a link, a FIFO or a directory, which ganaug "
              "did not make and does not follow); remove it, or give this run another directory")
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC
    try:
        fd = os.open(lock, flags, 0o644)
    except OSError as e:  # ELOOP: a link; EISDIR: a directory
        import errno

        if e.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise OutputError(refuse) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OutputError(refuse)
    return os.fdopen(fd, "r+")


@contextmanager
def hold_dir(path: str | Path, command: str, setting: str) -> Iterator[Path]:
    """Hold ``path`` (created if missing) for the block, or raise `DirectoryBusy` naming the holder and,
    as the way out, ``setting``: the option that picks another directory (e.g. ``out_dir``).

    While held, ``path`` is an output root (`files.output_root`): ``path`` itself may be a link the user made,
    but no directory below it is made or read through a link."""
    from ganaug.base.files import make_setting_dir, output_root  # its failure names the file in the way

    path = make_setting_dir(path, setting)
    with output_root(path, setting), _locked(path, command, setting):
        yield path


@contextmanager
def _locked(path: Path, command: str, setting: str) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    if _secondary_rank():
        yield
        return
    f = _open_lock(path / LOCK_FILE)
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise DirectoryBusy(f"{path} is in use by {holder}; wait for that run to end (or stop it; a rerun "
                                f"resumes), or give this one another {setting}") from None
        f.seek(0)
        f.truncate()
        args = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else ""
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        f.write(f"{command} (pid {os.getpid()}, since {since}{', ' + args if args else ''})\n")
        f.flush()
        yield
    finally:
        f.close()  # releases the lock

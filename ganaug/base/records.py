"""Reading the small records ganaug writes (JSON, YAML) back as plain data, bounded.

A record may have been edited by hand or planted by someone else, so reading one must not run code
(YAML tags: ``yaml.safe_load`` refuses them), must not expand into unbounded memory (YAML aliases: a
400-byte file of nested aliases expands to gigabytes; a file of gigabytes), and must not end in a
traceback (JSON integers of thousands of digits, nesting deeper than the parser's recursion), and must not
hang (a FIFO planted in its place: `open_regular`). Every such case is the caller's error class, naming the
file and what is wrong with it.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

# A record is settings and digests: a few kilobytes (tune.json, with every run, a few hundred).
MAX_RECORD_BYTES = 16 * 1024 * 1024
# Deeper than any record ganaug writes (tune.json: 5), far below Python's recursion limit.
MAX_DEPTH = 32
RESTORE = "restore the file, or rerun the command that writes it"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _not_regular(path: Path, kind: str, what: str, fix: str) -> str:
    return (f"{path} is {kind}, not a regular file, so it is not a {what}: ganaug reads only regular files (a FIFO "
            f"would keep the read waiting for a writer forever, a device might never end it); {fix}")


def open_regular(path: str | os.PathLike, error: type[Exception], what: str, fix: str = RESTORE) -> BinaryIO:
    """``path`` opened for reading in binary, if it is a regular file (links followed); else ``error(message)``
    naming it, ``what`` it should have been and ``fix``. FileNotFoundError passes through: a file not made yet is
    the caller's own case.

    A plain open() of a FIFO waits for a writer, forever if none comes. So the file is opened O_NONBLOCK (a FIFO
    then opens at once, as the lock file does in `dir_lock`) and its type read from the open descriptor, which a
    file swapped in after a check could not change; a stat first keeps devices from being opened at all.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise error(_not_regular(path, _kind(st.st_mode), what, fix))
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as e:
        if isinstance(e, error):  # the refusal above, where the caller's error is an OSError
            raise
        if e.errno == errno.ENXIO:  # a socket, swapped in since the stat
            raise error(_not_regular(path, "a socket", what, fix)) from None
        raise error(f"cannot read {what} {path}: {e.strerror or e}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(_not_regular(path, _kind(mode), what, fix))
        if flags & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)  # O_NONBLOCK was for the open alone (Windows has neither)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: str | os.PathLike, error: type[Exception], what: str, fix: str = RESTORE) -> Path:
    """`open_regular`'s check alone, for a file a library opens by its path itself (np.load, safetensors), which
    would wait forever on a FIFO; returns ``path``."""
    with open_regular(path, error, what, fix):
        return Path(path)


def _read_bytes(path: Path, error: type[Exception], what: str, max_bytes: int) -> bytes:
    f = open_regular(path, error, what)  # FileNotFoundError: the caller's own case, a record not made yet
    try:
        with f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise error(f"{path} is over {max_bytes // (1024 * 1024)} MiB, far larger than any {what} ganaug writes: "
                    "it is not one; restore the file, or rerun the command that writes it")
    return data


def _depth(value: Any) -> int:
    # Iterative: a record nested thousands deep must be measured without recursing.
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if d > MAX_DEPTH:
                return d
            todo += [(x, d + 1) for x in (v.values() if isinstance(v, dict) else v)]
    return deepest


def read_json(path: str | Path, error: type[Exception], what: str, max_bytes: int = MAX_RECORD_BYTES) -> Any:
    """The JSON value of ``path``; ``error(message)`` for a file that is unreadable, too large or not JSON."""
    path = Path(path)
    data = _read_bytes(path, error, what, max_bytes)
    try:
        value = json.loads(data)
    except RecursionError:
        raise error(f"{path} nests deeper than any {what} ganaug writes, so it is not one; restore the file, or "
                    "rerun the command that writes it") from None
    except ValueError as e:  # not JSON, not UTF-8, or an integer of more digits than Python converts
        raise error(f"{path} is not valid JSON ({str(e).splitlines()[0][:200]}), so it is not a {what}; restore the "
                    "file, or rerun the command that writes it") from None
    if _depth(value) > MAX_DEPTH:
        raise error(f"{path} nests deeper than any {what} ganaug writes, so it is not one; restore the file, or rerun "
                    "the command that writes it")
    return value


def read_yaml(path: str | Path, error: type[Exception], what: str, max_bytes: int = 1024 * 1024) -> Any:
    """The YAML value of ``path`` as plain data: no tags (safe_load), and no aliases, refused before expanding."""
    import yaml

    path = Path(path)
    data = _read_bytes(path, error, what, max_bytes)
    try:
        text = data.decode("utf-8")
        # The events come before any node is built: an alias is found in time linear in the file's size.
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise error(f"{path}: a YAML alias (*{event.anchor}) at line {event.start_mark.line + 1}; a {what} "
                            "holds plain values, and aliases can expand a small file into gigabytes: write the "
                            "value out")
        value = yaml.safe_load(text)
    except UnicodeDecodeError as e:
        raise error(f"{path} is not text ({e.reason}), so it is not a {what}") from None
    except yaml.YAMLError as e:
        raise error(f"{path} is not YAML ({str(e).splitlines()[0]}), so it is not a {what}") from None
    except RecursionError:
        raise error(f"{path} nests deeper than any {what} ganaug writes, so it is not one") from None
    if _depth(value) > MAX_DEPTH:
        raise error(f"{path} nests deeper than any {what} ganaug writes, so it is not one")
    return value

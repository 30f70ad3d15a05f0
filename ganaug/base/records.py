"""Reading the small records ganaug writes (JSON, YAML) back as plain data, bounded.

A record may have been edited by hand or planted by someone else, so reading one must not run code
(YAML tags: ``yaml.safe_load`` refuses them), must not expand into unbounded memory (YAML aliases: a
400-byte file of nested aliases expands to gigabytes; a file of gigabytes), and must not end in a
traceback (JSON integers of thousands of digits, nesting deeper than the parser's recursion). Every
such case is the caller's error class, naming the file and what is wrong with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# A record is settings and digests: a few kilobytes (tune.json, with every run, a few hundred).
MAX_RECORD_BYTES = 16 * 1024 * 1024
# Deeper than any record ganaug writes (tune.json: 5), far below Python's recursion limit.
MAX_DEPTH = 32


def _read_bytes(path: Path, error: type[Exception], what: str, max_bytes: int) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise  # the caller's own case: a record not made yet
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

"""Checks of arguments that every layer takes: one implementation each, so a value is refused the same way
whether it comes from Python, a Hydra override or a recipe."""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganaug.errors import ConfigError, GanaugDataError, GanaugError


def class_name_list(
    class_names: Sequence[Any] | None, num_classes: int | None = None, error: type[GanaugError] = ConfigError
) -> list[str]:
    """One distinct name per class, as strings ("0".."K-1" for None when `num_classes` is given).

    A name given twice would make a label given by name mean one of two classes, and ganaug-sample's
    png/<class>/ folders would merge the two classes. `error` lets a dataset report it as bad data.
    """
    if isinstance(class_names, str):
        raise error(f"class_names must be a list of names, got the string {class_names!r}; pass e.g. ['cat', 'dog']")
    if class_names is None and num_classes is not None:
        return [str(i) for i in range(num_classes)]
    names = [str(n) for n in (() if class_names is None else class_names)]  # not `or ()`: an array has no truth
    if not names:
        raise error("class_names is empty; pass one name per class or leave it None")
    if num_classes is not None and len(names) != num_classes:
        raise error(f"{len(names)} class names for a generator with {num_classes} classes; pass one name per class")
    seen: set[str] = set()
    repeated: set[str] = set()
    for n in names:
        (repeated if n in seen else seen).add(n)
    if repeated:
        dupes = sorted(repeated)
        # A generated list can repeat thousands of names; a few show the mistake.
        raise error(f"class_names has duplicates {dupes[:10]}"
                    f"{f' ({len(dupes)} names appear more than once)' if len(dupes) > 10 else ''}; "
                    "every class needs a distinct name")
    return names


def label_column(name: str, labels: Any, error: type[GanaugError] = ConfigError) -> np.ndarray:
    """``labels`` as a 1-d array: one per item, in a row (N,) or an (N, 1) column. Any other shape, flattened, would
    pair labels with other items whenever its size happened to match."""
    a = np.asarray(labels)
    if a.ndim == 2 and a.shape[1] == 1:
        return a[:, 0]
    if a.ndim != 1:
        raise error(f"{name} must be one class index per item, of shape (N,) or (N, 1), got shape {a.shape}")
    return a


def class_indices(name: str, labels: Any, error: type[GanaugError] = ConfigError) -> np.ndarray:
    """``labels`` (`label_column`) as int64 class indices. Floats would be cut (0.9 became class 0) and booleans
    taken for classes 0 and 1; an empty list, float to numpy, holds no value to refuse."""
    a = label_column(name, labels, error)
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise error(f"{name} must be integer class indices, got {a.dtype} values; map them to 0..K-1 "
                    "(whole numbers stored as floats: np.asarray(labels).astype(int))")
    return a.astype(np.int64)


# Where classes may lack images, labels may skip numbers: up to this many classes implied by the highest label.
MAX_IMPLIED_CLASSES = 1 << 16


def labels_as_classes(labels: np.ndarray, error: type[GanaugError] = GanaugDataError, allow_gaps: bool = False) -> int:
    """The number of classes K when, without class names, the labels 0..K-1 are the classes: every one must occur,
    or, with ``allow_gaps`` (empty classes allowed), K may be at most `MAX_IMPLIED_CLASSES` or the number of labels.

    One stray label (2**40 among 0, 1, 2) would otherwise make a name, a count and an error line for every
    number below it, unbounded memory from a tiny file; this looks at the distinct labels alone. `labels` is a
    non-empty integer array.
    """
    present = np.unique(labels)
    if present[0] < 0:
        i = int(np.argmax(labels < 0))
        raise error(f"label {int(labels[i])} at index {i} is negative; labels must be class indices 0..K-1 (remap them)")
    top = int(present[-1])
    if top < len(present) or (allow_gaps and top < max(MAX_IMPLIED_CLASSES, len(labels))):
        return top + 1
    # Labels at or above the number of distinct labels are the ones leaving a gap below them.
    stray = present[present >= len(present)][::-1]
    where = ", ".join(f"{int(v)} (index {int(np.argmax(labels == v))})" for v in stray[:5])
    more = f" and {len(stray) - 5} more" if len(stray) > 5 else ""
    raise error(
        f"labels run up to {top} but only {len(present)} distinct labels occur, so without class_names "
        f"{top + 1 - len(present)} of the classes 0..{top} would have no image; the highest labels: {where}{more}. "
        "Correct a stray label, relabel them 0..K-1 (np.unique(labels, return_inverse=True)[1]), "
        "or pass class_names (one per class)"
    )


def check_flag(name: str, value: Any, error: type[GanaugError] = ConfigError) -> bool:
    """A true/false argument as a bool; a string such as "false" or "no" would count as true."""
    if not isinstance(value, (bool, np.bool_)):
        raise error(f"{name} must be true or false, got {value!r}")
    return bool(value)


def check_dir_setting(value: Any, setting: str) -> Path:
    """The directory a setting names. An empty one is refused: `out_dir=$OUT` with OUT unset would
    otherwise write into the current directory (and a benchmark would resume from whatever is there)."""
    if value is None or not str(value).strip():
        raise ConfigError(f"{setting} is empty; set {setting}=<directory> (or {setting}=. for the current directory)")
    return Path(value)


def check_path(name: str, value: Any, fix: str, error: type[GanaugError] = ConfigError) -> Path:
    """A path argument of the Python API as a Path. None (a setting left unset) or a number would meet
    Python's 'expected str, bytes or os.PathLike object', and an empty string (an unset environment
    variable) the current directory. ``fix`` says what to pass."""
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise error(f"{name} must be a path (a str or os.PathLike), got {value!r}; {fix}")
    return Path(value)


def check_flags(cfg: Any, *keys: str) -> None:
    """Refuse a flag of a command's own config that is not true or false: conf/ has no schema for
    them, and any string (resume=maybe, png=no) would count as true. ``keys`` are dotted paths."""
    from omegaconf import OmegaConf

    for key in keys:
        check_flag(key, OmegaConf.select(cfg, key, default=False))


# The one family of number checks: every setting is named as the user wrote it, the wanted range said, the value
# shown ("steps must be a positive integer, got 0"). ``why`` adds what the number counts.
def _say(name: str, wanted: str, value: Any, why: str) -> str:
    return f"{name} must be {wanted}{f' ({why})' if why else ''}, got {value!r}"


def _whole(value: Any) -> bool:
    """An integer, or a whole float (3000.0, as YAML may give); not True. An int is never made a float: one past
    1e308 would overflow it."""
    return not isinstance(value, bool) and (isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer()))


def positive_int(name: str, value: Any, *, why: str = "", error: type[GanaugError] = ConfigError) -> int:
    """An integer >= 1; a whole float (3000.0, as YAML may give) counts, True does not."""
    if not _whole(value) or value < 1:
        raise error(_say(name, "a positive integer", value, why))
    return int(value)


def non_negative_int(name: str, value: Any, *, why: str = "", error: type[GanaugError] = ConfigError) -> int:
    """An integer >= 0, taken as `positive_int` takes one."""
    if not _whole(value) or value < 0:
        raise error(_say(name, "a non-negative integer", value, why))
    return int(value)


def positive_number(name: str, value: Any, *, why: str = "", wanted: str = "a positive number",
                    error: type[GanaugError] = ConfigError) -> float:
    """A finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(value) and value > 0):
        raise error(_say(name, wanted, value, why))
    return float(value)


def number_in(name: str, value: Any, lo: float, hi: float, *, why: str = "",
              error: type[GanaugError] = ConfigError) -> float:
    """A number in [lo, hi]; a string, None or True would meet float()'s own error, or count as 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not lo <= float(value) <= hi:
        raise error(f"{name} must lie in [{lo:g}, {hi:g}]{f' ({why})' if why else ''}, got {value!r}")
    return float(value)


def fraction(name: str, value: Any, *, allow_none: bool = False, error: type[GanaugError] = ConfigError) -> float | None:
    """A number in [0, 1] (or None, where ``allow_none``)."""
    if value is None and allow_none:
        return None
    return number_in(name, value, 0.0, 1.0, why="or be null" if allow_none else "", error=error)


def check_keys(settings: Mapping[str, Any], checks: Mapping[str, Callable[[str, Any], Any]], prefix: str = "") -> None:
    """Run the check of each key `settings` holds, named as the user sets it (``prefix`` + key): one table serves
    a class's ``__init__`` and a command that checks its config before the data is read."""
    for key, check in checks.items():
        if key in settings:
            check(prefix + key, settings[key])

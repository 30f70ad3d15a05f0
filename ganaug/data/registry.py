"""Load a dataset by name, so configs and the benchmark can pick one with a string."""

from __future__ import annotations

import difflib
import inspect
import math
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from ganaug.base.resources import memory_shortfall
from ganaug.data.arrays import ImageArrayDataset
from ganaug.data.digits import load_digits
from ganaug.data.fashion_mnist import load_fashion_mnist
from ganaug.data.image_folder import load_image_folder
from ganaug.errors import ConfigError, GanaugDataError


def _image_folder(
    split: str, root: str | os.PathLike | None = None, **kwargs: Any
) -> ImageArrayDataset:
    """``root/<split>/<class>/...`` when that folder exists, else ``root`` itself for "train"."""
    if root is None:
        raise GanaugDataError("image_folder needs root=...: a folder with one sub-folder per class")
    root = Path(root).expanduser()
    if (root / split).is_dir():
        return load_image_folder(root / split, **kwargs)
    if split == "train":
        return load_image_folder(root, **kwargs)
    raise GanaugDataError(
        f"no folder {root / split} for split {split!r}; create it, or pass root= pointing at the "
        f"{split} images directly (with split='train')"
    )


_NPZ_FIX = "save it again with np.savez(path, images=..., labels=..., class_names=...)"
# Deflate expands data at most ~1032 times.
_DEFLATE_MAX_RATIO = 1100


def _npz_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, key: str) -> np.ndarray:
    """One array of an .npz, its header checked against the member's size before numpy allocates
    what the header claims (a 400-byte file can claim 582 TiB)."""
    # The member's size is itself a claim of the zip's directory: bound it by the bytes it is made of.
    stored = info.compress_type == zipfile.ZIP_STORED
    archive = path.stat().st_size
    if (
        info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
        or info.compress_size > archive
        or info.file_size > (info.compress_size if stored else _DEFLATE_MAX_RATIO * info.compress_size)
    ):
        raise GanaugDataError(
            f"{path}: the zip directory says array {key!r} takes {info.file_size} bytes from "
            f"{info.compress_size} (compression method {info.compress_type}) in a {archive}-byte "
            f"file, which np.savez never writes; the file is corrupt: {_NPZ_FIX}"
        )
    try:
        with z.open(info) as f:
            version = npy_format.read_magic(f)
            # Version 3 differs from 2 only in allowing UTF-8 field names.
            read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            shape, _, dtype = read_header(f)
            held = info.file_size - f.tell()
        if dtype.hasobject:
            raise GanaugDataError(
                f"{path}: array {key!r} holds Python objects (dtype {dtype}), which would have to be "
                f"unpickled and ganaug does not load them; store plain numbers and strings: {_NPZ_FIX}"
            )
        needed = math.prod(shape) * dtype.itemsize
        if needed != held:
            raise GanaugDataError(
                f"{path}: array {key!r} has shape {shape} of {dtype} ({needed} bytes) by its header, but "
                f"the file holds {held} bytes for it; it is truncated or corrupt: {_NPZ_FIX}"
            )
        # An honest deflated member still expands about 1,000 times: a 30 MB file of zeros is 30 GB once read.
        short = memory_shortfall(needed)
        if short:
            raise GanaugDataError(
                f"{path}: array {key!r} takes {short} ({shape} of {dtype}); free memory, or save a part of "
                "it (np.savez of fewer images) and load that"
            )
        with z.open(info) as f:
            return npy_format.read_array(f, allow_pickle=False)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as e:
        if isinstance(e, GanaugDataError):
            raise
        raise GanaugDataError(
            f"{path}: array {key!r} cannot be read ({e}); the file is corrupt: {_NPZ_FIX}"
        ) from None


def _load_npz(path: str | os.PathLike, split: str) -> dict[str, Any]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise GanaugDataError(f"arrays file {path} does not exist; check data.dataset.path")
    with open(path, "rb") as f:
        start = f.read(6)
    if start == b"\x93NUMPY":
        raise GanaugDataError(
            f"{path} holds one .npy array, not an .npz of images and labels; {_NPZ_FIX}"
        )
    # Read as a zip by ganaug, not np.load: numpy takes any other file for a pickle and suggests
    # allow_pickle, which would run code from a web page saved by a failed download.
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise GanaugDataError(
            f"{path} is not an .npz file (a zip archive): it starts with {start!r} ({e}); a failed "
            f"download may have saved a web page; {_NPZ_FIX}"
        ) from None
    with z:
        members = {i.filename.removesuffix(".npy"): i for i in z.infolist() if not i.is_dir()}
        # A file with per-split keys must have this split: falling back to the plain keys could
        # silently hand training images to a test run.
        prefix = f"{split}_" if any(k.endswith("_images") for k in members) else ""
        needed = [f"{prefix}images", f"{prefix}labels"]
        missing = [k for k in needed if k not in members]
        if missing:
            raise GanaugDataError(
                f"{path} lacks key(s) {missing} (has {sorted(members)}); save it with "
                "np.savez(path, images=..., labels=..., class_names=...) or "
                f"with {split}_images/{split}_labels per split"
            )
        out = {key: _npz_member(z, members[name], path, name) for key, name in zip(("images", "labels"), needed)}
        if "class_names" in members:
            out["class_names"] = [str(n) for n in _npz_member(z, members["class_names"], path, "class_names")]
    return out


def _arrays(
    split: str,
    images: Any = None,
    labels: Any = None,
    path: str | os.PathLike | None = None,
    class_names: list[str] | None = None,
    transform: Callable | None = None,
    allow_empty_classes: bool = False,
) -> ImageArrayDataset:
    """``images``/``labels`` in memory, or an .npz ``path`` (keys images, labels[, class_names])."""
    if path is not None:
        if images is not None or labels is not None:
            raise GanaugDataError("pass either path= or images=/labels= for 'arrays', not both")
        loaded = _load_npz(path, split)
        class_names = class_names if class_names is not None else loaded.get("class_names")
        try:
            return ImageArrayDataset(loaded["images"], loaded["labels"], class_names, transform, allow_empty_classes)
        except GanaugDataError as e:
            raise GanaugDataError(f"{path}: {e}") from None
    if images is None or labels is None:
        raise GanaugDataError("'arrays' needs images= and labels=, or path= to an .npz file")
    return ImageArrayDataset(images, labels, class_names, transform, allow_empty_classes)


# The function whose keywords each dataset takes (image_folder's root is load_image_folder's).
_KEYWORDS_OF: dict[str, Callable[..., Any]] = {
    "fashion_mnist": load_fashion_mnist,
    "digits": load_digits,
    "image_folder": load_image_folder,
    "arrays": _arrays,
}
_LOADERS: dict[str, Callable[..., ImageArrayDataset]] = {
    "fashion_mnist": lambda split, **kw: load_fashion_mnist(split=split, **kw),
    "digits": lambda split, **kw: load_digits(split=split, **kw),
    "image_folder": _image_folder,
    "arrays": _arrays,
}
DATASET_NAMES: tuple[str, ...] = tuple(_LOADERS)


def load_dataset(name: str, split: str = "train", **kwargs: Any) -> ImageArrayDataset:
    """Loads ``name`` (one of :data:`DATASET_NAMES`); ``kwargs`` go to that loader."""
    loader = _LOADERS.get(name)
    if loader is None:
        raise GanaugDataError(
            f"unknown dataset {name!r}; known datasets: {', '.join(DATASET_NAMES)}"
        )
    # Checked here, not left to the loader: its TypeError names a function, not the setting.
    accepted = ["split", *(p for p in inspect.signature(_KEYWORDS_OF[name]).parameters if p != "split")]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        close = difflib.get_close_matches(unknown[0], accepted, n=1)
        raise ConfigError(
            f"dataset {name!r} takes no keyword {unknown[0]!r}"
            f"{f' (did you mean {close[0]!r}?)' if close else ''}; it accepts {', '.join(accepted)}. "
            "Correct or drop it"
        )
    return loader(split, **kwargs)

"""Load a dataset by name, so configs and the benchmark can pick one with a string."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ganaug.data.arrays import ImageArrayDataset
from ganaug.data.digits import load_digits
from ganaug.data.fashion_mnist import load_fashion_mnist
from ganaug.data.image_folder import load_image_folder
from ganaug.errors import GanaugDataError


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


def _load_npz(path: str | os.PathLike, split: str) -> dict[str, Any]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise GanaugDataError(f"arrays file {path} does not exist; check data.dataset.path")
    with np.load(path, allow_pickle=False) as npz:
        keys = set(npz.files)
        # A file with per-split keys must have this split: falling back to the plain keys could
        # silently hand training images to a test run.
        prefix = f"{split}_" if any(k.endswith("_images") for k in keys) else ""
        needed = [f"{prefix}images", f"{prefix}labels"]
        missing = [k for k in needed if k not in keys]
        if missing:
            raise GanaugDataError(
                f"{path} lacks key(s) {missing} (has {sorted(keys)}); save it with "
                "np.savez(path, images=..., labels=..., class_names=...) or "
                f"with {split}_images/{split}_labels per split"
            )
        out = {"images": npz[needed[0]], "labels": npz[needed[1]]}
        if "class_names" in keys:
            out["class_names"] = [str(n) for n in npz["class_names"]]
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
        images, labels = loaded["images"], loaded["labels"]
        class_names = class_names if class_names is not None else loaded.get("class_names")
    elif images is None or labels is None:
        raise GanaugDataError("'arrays' needs images= and labels=, or path= to an .npz file")
    return ImageArrayDataset(images, labels, class_names, transform, allow_empty_classes)


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
    return loader(split, **kwargs)

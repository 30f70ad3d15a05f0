"""Images on disk, one sub-folder per class (``root/<class>/<image>.png``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from ganaug.base.resources import memory_shortfall
from ganaug.data.arrays import ImageArrayDataset
from ganaug.errors import GanaugDataError

EXTENSIONS = (".png", ".jpg", ".jpeg")


def _read_rgb(path: Path) -> np.ndarray:
    """Reads a PNG/JPEG as uint8 HWC RGB or HW1 grayscale; alpha is dropped."""
    # imdecode over fromfile, unlike imread, copes with non-ASCII paths on every platform.
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        # OpenCV asserts on an empty buffer, in a message that names no file.
        raise GanaugDataError(
            f"{path} is empty (0 bytes), left perhaps by a failed download or copy: remove it, "
            "or copy the image again"
        )
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        raise GanaugDataError(
            f"could not decode {path} (OpenCV: {str(e).strip().splitlines()[-1]}); it is corrupt, "
            "too large or not a PNG/JPEG: remove it"
        ) from None
    if image is None:
        raise GanaugDataError(
            f"could not decode {path}; it is corrupt or not a PNG/JPEG: remove it"
        )
    if image.dtype != np.uint8:
        raise GanaugDataError(
            f"{path} is a {image.dtype} image ({image.dtype.itemsize * 8}-bit); only 8-bit images "
            "are supported: convert it, e.g. with `convert in.png -depth 8 out.png`"
        )
    if image.ndim == 2:
        return image[..., None]
    channels = image.shape[2]
    if channels == 1:
        return image
    if channels == 2:  # gray + alpha
        return image[..., :1]
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise GanaugDataError(f"{path} has {channels} channels; expected 1, 3 or 4")


def _convert_channels(image: np.ndarray, channels: int) -> np.ndarray:
    if image.shape[2] == channels:
        return image
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
    return np.repeat(image, 3, axis=2)


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[:2] == size:
        return image
    resized = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return resized.reshape(size[0], size[1], image.shape[2])  # cv2 drops a single channel axis


def _class_files(root: Path) -> dict[str, list[Path]]:
    if not root.exists():
        raise GanaugDataError(
            f"image folder {root} does not exist; set data.dataset.root=... to a folder with one "
            "sub-folder of images per class"
        )
    if not root.is_dir():
        raise GanaugDataError(
            f"image folder root {root} is a file, not a folder; point it at a folder"
        )
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise GanaugDataError(
            f"{root} has no class sub-folders; lay images out as {root}/<class name>/<image>.png"
        )
    files = {
        d.name: sorted(
            p
            for p in d.rglob("*")
            if p.is_file() and p.suffix.lower() in EXTENSIONS and not p.name.startswith(".")
        )
        for d in classes
    }
    if not any(files.values()):
        raise GanaugDataError(
            f"no images ({', '.join(EXTENSIONS)}) in any class folder under {root}; "
            f"lay images out as {root}/<class name>/<image>.png"
        )
    _refuse_split_folders(root, files)
    empty = [str(root / name) for name, paths in files.items() if not paths]
    if empty:
        raise GanaugDataError(
            f"class folder(s) without images ({', '.join(EXTENSIONS)}): {', '.join(empty)}; "
            "add images or remove the folder"
        )
    return files


SPLIT_NAMES = {"train", "training", "test", "testing", "val", "valid", "validation", "dev", "eval", "holdout"}


def _refuse_split_folders(root: Path, files: dict[str, list[Path]]) -> None:
    """root/train/<class>/*.png read as classes 'train' (and 'test'): one class of every image each.

    Images nested below a class folder are read, as torchvision's ImageFolder does (cat/2019/*.png);
    what gives this mistake away is "class" folders named as data splits that hold no image
    themselves and share the same sub-folders.
    """
    if not all(name.lower() in SPLIT_NAMES for name in files):
        return
    subs = []
    for name, paths in files.items():
        parts = {p.relative_to(root / name).parts for p in paths}
        if not parts or any(len(q) == 1 for q in parts):
            return
        subs.append({q[0] for q in parts})
    shared = set.intersection(*subs)
    if len(shared) >= 2 and all(s == shared for s in subs):
        first = next(iter(files))
        raise GanaugDataError(
            f"the folders under {root} ({', '.join(files)}) hold no images themselves, only the same "
            f"sub-folders ({', '.join(sorted(shared))}): {root} looks one level above the class folders, "
            f"and each would be read as one class; point root (data.dataset.root) at {root / first}"
        )


def load_image_folder(
    root: str | os.PathLike,
    size: Sequence[int] | None = None,
    channels: int | None = None,
    transform: Callable | None = None,
) -> ImageArrayDataset:
    """Loads ``root/<class>/*.png|jpg|jpeg``; class names are the sorted folder names.

    Images must share one size and channel count unless ``size=(H, W)`` (resized with area
    interpolation) or ``channels=1|3`` (converted) says what to make them.
    """
    target_size = None
    if size is not None:
        target_size = tuple(int(s) for s in size)
        if len(target_size) != 2 or min(target_size) < 1:
            raise GanaugDataError(f"size must be [H, W] with positive values, got {list(size)}")
    if channels is not None and channels not in (1, 3):
        raise GanaugDataError(f"channels must be 1 or 3 (or unset), got {channels}")

    files = _class_files(Path(root).expanduser())
    images: list[np.ndarray] = []
    labels: list[int] = []
    first: Path | None = None
    for label, paths in enumerate(files.values()):
        for path in paths:
            image = _read_rgb(path)
            if channels is not None:
                image = _convert_channels(image, channels)
            if target_size is not None:
                image = _resize(image, target_size)
            if first is None:
                first = path
                # Every image is kept until they are stacked: a folder of photos past free memory met the OOM killer.
                n = sum(len(p) for p in files.values())
                short = memory_shortfall(n * image.nbytes)
                if short:
                    raise GanaugDataError(
                        f"{root}: its {n} images of {image.shape} take {short}; set data.dataset.size=[H,W] "
                        "(size= in Python) to resize them as they are read, or use fewer images"
                    )
            elif image.shape != images[0].shape:
                fixes = []
                if image.shape[:2] != images[0].shape[:2]:
                    fixes.append("set data.dataset.size=[H,W] to resize them all")
                if image.shape[2] != images[0].shape[2]:
                    fixes.append("set data.dataset.channels=1 or 3 to convert them all")
                fix = " and ".join(fixes)
                raise GanaugDataError(
                    f"images differ in shape (H, W, C): {first} is {images[0].shape} but {path} "
                    f"is {image.shape}; {fix}"
                )
            images.append(image)
            labels.append(label)
    return ImageArrayDataset(
        np.stack(images), np.asarray(labels), class_names=list(files), transform=transform
    )

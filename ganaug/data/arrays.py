"""Labelled images in memory, in the user-boundary format (uint8 HWC), and conversion to it."""

from __future__ import annotations

import hashlib
import json
import math
import operator
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ganaug.base.checks import class_name_list, labels_as_classes
from ganaug.errors import GanaugDataError

_UINT8_FIX = "convert with `(x * 255).round().clip(0, 255).astype(np.uint8)` for floats in [0, 1]"


def _is_albumentations(transform: Any) -> bool:
    # Only look albumentations up if it is already imported: a transform built from it implies
    # it is, and a plain-callable user should not pay for the import.
    A = sys.modules.get("albumentations")
    if A is None:
        return False
    return isinstance(transform, (A.BasicTransform, A.BaseCompose))


class ImageArrayDataset(Dataset):
    """Labelled images held as one uint8 array N×H×W×C (C = 1 or 3).

    Items are ``(image, label)`` with ``image`` a uint8 HWC array (a copy, so a transform that
    works in place cannot corrupt the dataset) and ``label`` a Python int in [0, num_classes).
    ``transform`` is applied per item: albumentations transforms are called as
    ``transform(image=img)["image"]``, any other callable as ``transform(img)``.
    """

    def __init__(
        self,
        images: Any,
        labels: Any,
        class_names: Sequence[str] | None = None,
        transform: Callable | None = None,
        allow_empty_classes: bool = False,
    ) -> None:
        images = np.asarray(images)
        if images.dtype != np.uint8:
            # The suggested cast would turn NaN into black pixels; say so before it is tried.
            if images.ndim and np.issubdtype(images.dtype, np.floating):
                bad = np.argwhere(~np.isfinite(images))
                if len(bad):
                    raise GanaugDataError(
                        f"the image at index {int(bad[0][0])} holds NaN or inf "
                        f"values (and images must be uint8, not {images.dtype}); find where they "
                        "came from, or drop those images, before converting to uint8"
                    )
            raise GanaugDataError(
                f"images must have dtype uint8 with values 0..255, got {images.dtype}; {_UINT8_FIX}"
            )
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4:
            raise GanaugDataError(
                f"images must be N×H×W×C (or N×H×W for grayscale), got shape {images.shape}"
            )
        if images.shape[-1] not in (1, 3):
            hint = (
                "; it looks channels-first (N×C×H×W): use images.transpose(0, 2, 3, 1)"
                if images.shape[1] in (1, 3)
                else ""
            )
            raise GanaugDataError(
                f"images must have 1 or 3 channels last (N×H×W×C), got shape {images.shape}{hint}"
            )

        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise GanaugDataError(
                f"labels must be a 1-D array of class indices, got shape {labels.shape}"
            )
        if len(labels) != len(images):
            raise GanaugDataError(
                f"got {len(images)} images but {len(labels)} labels; they must match one to one"
            )
        if len(labels) and not (
            np.issubdtype(labels.dtype, np.integer) and labels.dtype != np.bool_
        ):
            raise GanaugDataError(
                f"labels must be integers, got dtype {labels.dtype}; "
                "convert with labels.astype(np.int64)"
            )
        labels = labels.astype(np.int64, copy=False)

        if class_names is None:
            if len(labels) == 0:
                raise GanaugDataError("the dataset is empty; pass at least one image and label")
            class_names = [str(i) for i in range(labels_as_classes(labels, GanaugDataError, allow_empty_classes))]
        names = class_name_list(class_names, error=GanaugDataError)
        num_classes = len(names)

        if len(labels):
            bad = (labels < 0) | (labels >= num_classes)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise GanaugDataError(
                    f"label {int(labels[i])} at index {i} is outside [0, {num_classes}) for "
                    f"{num_classes} class names; labels must be 0..K-1 "
                    "(remap them, or pass all class_names)"
                )
        if not allow_empty_classes:
            counts = np.bincount(labels, minlength=num_classes)
            empty = np.flatnonzero(counts == 0)
            if len(empty):
                # A long class_names list can leave thousands empty; a few show the mistake.
                shown = ", ".join(f"{k} ({names[k]!r})" for k in empty[:10])
                more = f" and {len(empty) - 10} more" if len(empty) > 10 else ""
                raise GanaugDataError(
                    f"{len(empty)} classes without any image: {shown}{more}; drop them from "
                    "class_names, add images for them, or pass allow_empty_classes=True"
                )

        self.images: np.ndarray = images
        self.labels: np.ndarray = labels
        self.class_names: list[str] = names
        self.transform = transform
        self._keyword_transform = transform is not None and _is_albumentations(transform)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every image."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    def class_counts(self) -> np.ndarray:
        """Number of images per class, shape (num_classes,)."""
        return np.bincount(self.labels, minlength=self.num_classes)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = self.images[index].copy()
        label = int(self.labels[index])
        if self.transform is None:
            return image, label
        if self._keyword_transform:
            return self.transform(image=image)["image"], label
        return self.transform(image), label

    def subset(self, indices: Any) -> ImageArrayDataset:
        """The given items (indices or a boolean mask), keeping class names and transform."""
        idx = np.asarray(indices)
        if idx.dtype == np.bool_:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64, copy=False).reshape(-1)
        return ImageArrayDataset(
            self.images[idx],
            self.labels[idx],
            class_names=self.class_names,
            transform=self.transform,
            allow_empty_classes=True,
        )

    def __repr__(self) -> str:
        return (
            f"ImageArrayDataset(n={len(self)}, image_shape={self.image_shape}, "
            f"num_classes={self.num_classes})"
        )


def _pil_to_hwc(image: Any, index: int) -> np.ndarray:
    mode = image.mode
    if mode in ("1", "L", "LA"):
        return np.asarray(image.convert("L"))[..., None]
    if mode in ("RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr"):
        # Palette and colour-space modes only have a faithful uint8 form as RGB; alpha is dropped.
        return np.asarray(image.convert("RGB"))
    raise GanaugDataError(
        f"item {index} is a PIL image in mode {mode!r}, which is not 8-bit; convert it with "
        "image.convert('L') or image.convert('RGB') in the dataset"
    )


def _to_hwc(image: Any, index: int) -> np.ndarray:
    """Returns an HWC array, uint8 or float (floats are rescaled later, for the whole dataset)."""
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(image, pil.Image):
        return _pil_to_hwc(image, index)

    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.ndim == 2:
            t = t[None]
        if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
            hint = (
                " (tensors are read as C×H×W; permute an H×W×C tensor first)"
                if t.ndim == 3 and t.shape[-1] in (1, 3)
                else ""
            )
            raise GanaugDataError(
                f"item {index} is a tensor of shape {tuple(image.shape)}; "
                f"expected C×H×W with C = 1 or 3{hint}"
            )
        if t.dtype == torch.bfloat16:
            t = t.float()  # numpy has no bfloat16
        arr = t.permute(1, 2, 0).numpy()
    else:
        arr = np.asarray(image)
        if arr.ndim == 2:
            arr = arr[..., None]
        if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4):
            hint = (
                " (arrays are read as H×W×C; transpose a C×H×W array first)"
                if arr.ndim == 3 and arr.shape[0] in (1, 3)
                else ""
            )
            raise GanaugDataError(
                f"item {index} is an array of shape {arr.shape}; "
                f"expected H×W or H×W×C with C = 1 or 3{hint}"
            )
    if arr.shape[-1] == 4:
        arr = arr[..., :3]  # alpha is not part of the image content the GAN should learn
    if arr.dtype == np.uint8 or np.issubdtype(arr.dtype, np.floating):
        return arr
    raise GanaugDataError(
        f"item {index} has dtype {arr.dtype}; "
        "images must be uint8 0..255 or float in [0, 1] / [-1, 1]"
    )


def _label_of(label: Any, index: int) -> int:
    try:
        return operator.index(label)
    except TypeError:
        raise GanaugDataError(
            f"item {index} has label {label!r} of type {type(label).__name__}; "
            "labels must be integers (class indices 0..K-1)"
        ) from None


def _names_from(ds: Any) -> list[str] | None:
    # torch Subset hides the wrapped dataset's attributes; look through it.
    for obj in (ds, getattr(ds, "dataset", None)):
        for attr in ("class_names", "classes"):
            names = getattr(obj, attr, None)
            if isinstance(names, Sequence) and not isinstance(names, str) and len(names):
                return [str(n) for n in names]
    return None


def from_dataset(
    ds: Dataset,
    class_names: Sequence[str] | None = None,
    num_classes: int | None = None,
    allow_empty_classes: bool = False,
) -> ImageArrayDataset:
    """Reads every item of a Dataset of ``(image, label)`` into an :class:`ImageArrayDataset`.

    Accepted images: uint8 arrays H×W×C or H×W; PIL images; tensors C×H×W (or H×W) of uint8 or
    float. Float images are rescaled to uint8 by the range of the *whole* dataset, so one image
    that happens to be all non-negative is not misread: if every value lies in [0, 1] they are
    multiplied by 255, otherwise if every value lies in [-1, 1] they are mapped by (x + 1) * 127.5;
    anything else is an error, as is a NaN or inf value. A fourth (alpha) channel is dropped.
    Class names come from ``class_names``, else ``ds.class_names`` or ``ds.classes``, else
    ``num_classes``, else ``max(label) + 1``. The dataset's own transform runs as items are read,
    so give a dataset without random augmentation.
    """
    if isinstance(ds, ImageArrayDataset):
        if class_names is None and num_classes is None:
            return ds
        # Reading items would run its transform; the raw arrays are what is wanted.
        names = (
            class_names if class_names is not None else [str(k) for k in range(int(num_classes))]
        )
        return ImageArrayDataset(
            ds.images, ds.labels, names, ds.transform, allow_empty_classes=allow_empty_classes
        )
    try:
        n = len(ds)  # type: ignore[arg-type]
    except TypeError:
        raise GanaugDataError(
            f"{type(ds).__name__} has no len(); from_dataset needs a map-style Dataset"
        ) from None
    if n == 0:
        raise GanaugDataError(
            f"{type(ds).__name__} is empty; it needs at least one (image, label) item"
        )

    images: list[np.ndarray] = []
    labels: list[int] = []
    lo, hi = np.inf, -np.inf
    any_float = False
    for i in range(n):
        item = ds[i]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise GanaugDataError(
                f"item {i} of {type(ds).__name__} is a {type(item).__name__}; "
                "expected an (image, label) pair"
            )
        arr = _to_hwc(item[0], i)
        if images and arr.shape != images[0].shape:
            raise GanaugDataError(
                f"item {i} has image shape {arr.shape} (H, W, C) but item 0 has {images[0].shape}; "
                "all images must share one size and channel count (resize them in the dataset)"
            )
        if arr.dtype != np.uint8:
            any_float = True
            a_lo, a_hi = float(arr.min()), float(arr.max())
            # min/max propagate NaN and show inf, so this costs nothing extra; unchecked, NaN
            # slips past the range test below and casts to black pixels.
            if not (math.isfinite(a_lo) and math.isfinite(a_hi)):
                what = "NaN" if math.isnan(a_lo) or math.isnan(a_hi) else "inf"
                raise GanaugDataError(
                    f"item {i} has {what} pixel values; images must be finite. Find "
                    "where they came from (a division by zero in a transform?), or drop the item"
                )
            lo, hi = min(lo, a_lo), max(hi, a_hi)
        images.append(arr)
        labels.append(_label_of(item[1], i))

    if any_float:
        if lo >= 0.0 and hi <= 1.0:
            scale, offset = 255.0, 0.0
        elif lo >= -1.0 and hi <= 1.0:
            scale, offset = 127.5, 1.0
        else:
            raise GanaugDataError(
                f"float images have values in [{lo:g}, {hi:g}]; expected [0, 1] or [-1, 1]. "
                "Remove Normalize from the dataset's transform, or give uint8 images 0..255"
            )
        images = [
            a
            if a.dtype == np.uint8
            else np.clip(np.rint((a + offset) * scale), 0, 255).astype(np.uint8)
            for a in images
        ]

    names = class_names if class_names is not None else _names_from(ds)
    if names is None and num_classes is not None:
        names = [str(k) for k in range(int(num_classes))]
    elif names is not None and num_classes is not None and len(names) != num_classes:
        raise GanaugDataError(
            f"num_classes={num_classes} but {len(names)} class names were found; "
            "pass matching values"
        )
    return ImageArrayDataset(
        np.stack(images),
        np.asarray(labels, dtype=np.int64),
        class_names=names,
        allow_empty_classes=allow_empty_classes,
    )


def data_fingerprint(ds: Any) -> str:
    """Content hash of an image-array dataset: its pixels, labels and class names."""
    h = hashlib.sha256()
    for part in (np.ascontiguousarray(ds.images), np.ascontiguousarray(ds.labels, dtype=np.int64)):
        h.update(part.tobytes())
    h.update(json.dumps(list(ds.class_names)).encode())
    return h.hexdigest()[:16]

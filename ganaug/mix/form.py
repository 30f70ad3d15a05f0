"""How a synthetic (uint8 H×W×C image, class index) becomes an item of the user's dataset.

Decided once, from the real dataset's first item: the label's type (int, numpy integer, tensor) and
the image's raw form (H×W×C or H×W uint8 array or tensor, PIL, or whatever the user's
``synthetic_transform`` makes), then applied to every synthetic item.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ganaug.data.arrays import _is_albumentations
from ganaug.errors import ArtifactError, GanaugDataError
from ganaug.mix.checks import dataset_attr, describe, is_pil


class LabelLike:
    """Makes synthetic labels of the real labels' type: int, numpy integer, or tensor."""

    # A class, not a closure: workers started with spawn receive the mix pickled.
    def __init__(self, example: Any) -> None:
        self.dtype, self.shape, self.type = None, None, None
        if isinstance(example, torch.Tensor):
            if example.is_floating_point() or example.numel() != 1:
                raise GanaugDataError(f"real labels must be integer class indices, got {describe(example)}")
            self.dtype, self.shape = example.dtype, example.shape
        elif isinstance(example, np.integer):
            self.type = type(example)
        elif isinstance(example, (bool, np.bool_)) or not isinstance(example, int):
            raise GanaugDataError(
                f"real labels must be integer class indices, got {type(example).__name__} {example!r}"
            )

    def __call__(self, y: int) -> Any:
        if self.dtype is not None:
            return torch.tensor(y, dtype=self.dtype).reshape(self.shape)
        return y if self.type is None else self.type(y)


def _keyword_call(transform: Callable, image: Any) -> Any:
    return transform(image=image)["image"]


def as_call(transform: Callable | None) -> Callable | None:
    """The transform as a one-argument function, decided once instead of per item."""
    if transform is None:
        return None
    return functools.partial(_keyword_call, transform) if _is_albumentations(transform) else transform


def raw_form(real_dataset, raw: Any, shape: tuple[int, int, int], kind: str, custom: bool) -> str:
    """How a synthetic uint8 H×W×C image of ``shape`` takes the real dataset's raw form.

    ``custom``: the user's synthetic_transform does it. Otherwise "hwc", "hw", "hwc_tensor",
    "hw_tensor" or "pil", from the real image ``raw``; an image of another size or form is an error
    naming the fix.
    """
    h, w, c = shape
    what = "bank holds" if kind == "bank" else "generator makes"
    wrong = f"the {what} {h}×{w}×{c} images but the real dataset's are {{}}: it was made for another dataset or size"
    if custom:
        given = dataset_attr(real_dataset, "image_shape")
        if given is not None and tuple(given) != (h, w, c):
            raise ArtifactError(wrong.format("×".join(map(str, given))))
        return "custom"
    if is_pil(raw):
        want = "L" if c == 1 else "RGB"
        if raw.size != (w, h) or raw.mode != want:
            raise ArtifactError(wrong.format(f"PIL {raw.mode} {raw.size[1]}×{raw.size[0]}"))
        return "pil"
    if isinstance(raw, np.ndarray) and raw.dtype == np.uint8 and raw.ndim in (2, 3):
        got = raw.shape if raw.ndim == 3 else (*raw.shape, 1)
        if got != (h, w, c):
            raise ArtifactError(wrong.format("×".join(map(str, got))))
        return "hwc" if raw.ndim == 3 else "hw"
    if isinstance(raw, torch.Tensor) and raw.dtype == torch.uint8 and raw.ndim in (2, 3):
        # torch.from_numpy of raw arrays. Only an exact H×W(×C) match: a uint8 C×H×W tensor is
        # already past a transform, which the synthetic images need too.
        got = tuple(raw.shape) if raw.ndim == 3 else (*raw.shape, 1)
        if got == (h, w, c):
            return "hwc_tensor" if raw.ndim == 3 else "hw_tensor"
        if got[-1] in (1, 3, 4):  # raw H×W×C of another size, not C×H×W: name the size, as for arrays
            raise ArtifactError(
                wrong.format("×".join(map(str, got))) + " (if they are C×H×W tensors already past a transform, "
                "pass synthetic_transform=, the transform that makes one from uint8 H×W×C)"
            )
    raise GanaugDataError(
        f"the real dataset yields {describe(raw)} images, not raw uint8 H×W×C images (array or tensor) "
        "or PIL images, so synthetic images cannot take their form by themselves: pass synthetic_transform= (the "
        "transform your dataset applies, taking uint8 H×W×C), or give SyntheticMix the raw "
        "dataset and transform="
    )


def to_raw(image: np.ndarray, form: str, synthetic_call: Callable | None) -> Any:
    """A synthetic uint8 H×W×C image in the form `raw_form` chose."""
    if synthetic_call is not None:
        return synthetic_call(image)
    if form == "hw":
        return image[..., 0]
    if form in ("hwc_tensor", "hw_tensor"):
        # a copy: bank images are read-only memory-mapped views, which torch.from_numpy warns about
        return torch.from_numpy(np.array(image if form == "hwc_tensor" else image[..., 0]))
    if form == "pil":
        from PIL import Image

        return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    return image

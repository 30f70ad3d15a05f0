"""Does a synthetic item look like a real one? Checked once, on one item of each, at construction.

A mismatch found here would otherwise surface as a collate error deep inside a DataLoader worker,
or worse, as a silent one (a batch half in [0, 1] and half in [-1, 1] trains fine, badly).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

FIX = (
    "apply the same transform to both (SyntheticMix(..., transform=...) on a dataset of raw uint8 "
    "images), or pass synthetic_transform= that turns uint8 H×W×C images into what your dataset "
    "yields; if the difference is intended, pass check_items=False"
)


def dataset_attr(ds: Any, name: str) -> Any:
    """An attribute of a dataset or of the dataset a torch `Subset` wraps."""
    while ds is not None:
        value = getattr(ds, name, None)
        if value is not None:
            return value
        ds = ds.dataset if isinstance(ds, Subset) else None
    return None


def is_pil(x: Any) -> bool:
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(x, pil.Image)


def describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"numpy {x.dtype} array of shape {x.shape}"
    if isinstance(x, torch.Tensor):
        return f"{x.dtype} tensor of shape {tuple(x.shape)}"  # str(dtype) is "torch.float32"
    if is_pil(x):
        return f"PIL image, mode {x.mode}, size {x.size}"
    return type(x).__name__


def _range(x: np.ndarray | torch.Tensor) -> tuple[float, float]:
    if isinstance(x, torch.Tensor):
        x = x.detach().float()
        return float(x.min()), float(x.max())
    return float(np.min(x)), float(np.max(x))


def _is_float(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return x.is_floating_point()
    return isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)


def probe_image(shape: tuple[int, int, int]) -> np.ndarray:
    """Black on the left, white on the right: its transform shows the full output value range."""
    h, w, c = shape
    probe = np.zeros((h, w, c), dtype=np.uint8)
    probe[:, w // 2 :] = 255
    return probe


def range_mismatch(real: Any, probe: Any) -> str | None:
    """Do real images (one, or a list) fit the value range the synthetic path gives black..white (`probe`)?

    One real image need not span the full range (a dark image is fine), so this flags real values
    outside the probe's range, a probe range over 50× wider than the real images' ([0, 255] against
    [0, 1]), and real images of which none comes within 40% of the range near the probe's black
    ([0, 1] from ``ToTensor`` against the [-1, 1] of a synthetic path: the real values sit inside it).
    """
    reals = real if isinstance(real, list) else [real]
    if not (all(_is_float(r) for r in reals) and _is_float(probe)):
        return None
    ranges = [_range(r) for r in reals]
    (rlo, rhi), (plo, phi) = (min(lo for lo, _ in ranges), max(hi for _, hi in ranges)), _range(probe)
    pspan, rspan = phi - plo, rhi - rlo
    tol = 0.05 * max(pspan, 1e-6)
    if rlo < plo - tol or rhi > phi + tol:
        return (
            f"real values span [{rlo:.3g}, {rhi:.3g}], outside the [{plo:.3g}, {phi:.3g}] the "
            "synthetic path makes of black..white"
        )
    if rspan > 0 and pspan > 50 * rspan:
        return (
            f"value scales differ: the synthetic path maps black..white to [{plo:.3g}, {phi:.3g}], "
            f"real values span [{rlo:.3g}, {rhi:.3g}]"
        )
    if pspan > 0 and rlo > plo + 0.4 * pspan and len(reals) >= 4:
        return (
            f"value scales differ: the synthetic path maps black to {plo:.3g} (black..white to [{plo:.3g}, "
            f"{phi:.3g}]), but no value of {len(reals)} real images goes below {rlo:.3g} (real values span "
            f"[{rlo:.3g}, {rhi:.3g}]: another scale, e.g. [0, 1] from ToTensor against [-1, 1])"
        )
    return None


def item_mismatch(real: Any, syn: Any) -> str | None:
    """Why a synthetic image does not pass for a real one (type, size, dtype), or None."""
    kinds = [type(x) for x in (real, syn)]
    if is_pil(real) and is_pil(syn):
        if real.mode != syn.mode or real.size != syn.size:
            return f"real images are {describe(real)} but synthetic ones are {describe(syn)}"
        return None
    if kinds[0] is not kinds[1] and not all(isinstance(x, np.ndarray) for x in (real, syn)):
        return f"real images are {describe(real)} but synthetic ones are {describe(syn)}"
    if isinstance(real, (np.ndarray, torch.Tensor)):
        if tuple(real.shape) != tuple(syn.shape):
            return f"shapes differ: real {describe(real)}, synthetic {describe(syn)}"
        if real.dtype != syn.dtype:
            return f"dtypes differ: real {describe(real)}, synthetic {describe(syn)}"
    return None

"""The one pixel scaling of ganaug: uint8 [0, 255] and float [-1, 1], x = img / 127.5 − 1.

The GAN, the reference classifier (and so the recipe's teacher) and the feature extractor of
FID/KID all take images on this scale; generators give it back, and `to_uint8` returns them to
the uint8 form users and albumentations work in. Layouts (HWC, CHW) are the callers' business.
"""

from __future__ import annotations

import torch

__all__ = ["to_unit", "to_uint8"]


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 (or integer-valued float) pixels in [0, 255] → float32 in [-1, 1]; a new tensor."""
    return x.to(torch.float32).div(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float pixels in [-1, 1] → uint8 in [0, 255], rounded and clamped."""
    return ((x.detach().float() + 1.0) * 127.5).round().clamp_(0, 255).to(torch.uint8)

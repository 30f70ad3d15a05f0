# The augmentations below follow the reference PyTorch implementation of DiffAugment
# (DiffAugment_pytorch.py in https://github.com/mit-han-lab/data-efficient-gans), which is
# distributed under this licence:
#
# Copyright (c) 2020, Shengyu Zhao, Zhijian Liu, Ji Lin, Jun-Yan Zhu, and Song Han
# All rights reserved.
#
# Redistribution and use in source and binary forms, with or without
# modification, are permitted provided that the following conditions are met:
#
# * Redistributions of source code must retain the above copyright notice, this
#   list of conditions and the following disclaimer.
#
# * Redistributions in binary form must reproduce the above copyright notice,
#   this list of conditions and the following disclaimer in the documentation
#   and/or other materials provided with the distribution.
#
# THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
# AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
# IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
# DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
# FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
# DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
# SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
# CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
# OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
# OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

"""Differentiable augmentation (DiffAugment; Zhao et al., "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS 2020) for discriminator inputs.

Applied to every real and fake image the discriminator sees, so that D cannot memorise a small
training set while G still receives gradients through the augmentation. The ops follow the
authors' reference PyTorch code (BSD 2-Clause, notice above): colour (brightness, saturation,
contrast), translation (±1/8 of the size, zero padding) and cutout (a square of half the size),
with an optional ``torch.Generator`` for reproducible draws.
"""

from __future__ import annotations

import torch

from ganaug.errors import ConfigError

KNOWN_OPS = ("color", "translation", "cutout")


def parse_policy(policy: str | None, channels: int) -> tuple[str, ...]:
    """'auto' means translation and cutout, plus colour for RGB images."""
    if policy is None or policy in ("", "none"):
        return ()
    if policy == "auto":
        return ("color", "translation", "cutout") if channels == 3 else ("translation", "cutout")
    ops = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [op for op in ops if op not in KNOWN_OPS]
    if unknown:
        raise ConfigError(f"unknown DiffAugment op(s) {unknown}; known: {list(KNOWN_OPS)}, or 'auto'/'none'")
    return ops


def diff_augment(x: torch.Tensor, ops: tuple[str, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    return apply(x, ops, draw(x, ops, generator))


# Each op in two halves: its random draws (per image, from the generator, in a fixed order), then the
# deterministic part. Stacked GANs (gan/stacked.py) draw outside vmap, each from its own generator, and
# apply inside it; a lone GAN does both at once. Same draws in the same order: the same images.
def draw(x: torch.Tensor, ops: tuple[str, ...], generator: torch.Generator | None = None,
         dtype: torch.dtype | None = None) -> list[tuple]:
    """The random draws of ``ops`` for a batch shaped as ``x`` (its shape and device are read, and its dtype
    unless ``dtype`` names the one of the batch to augment: fakes under autocast are in its dtype)."""
    return [_DRAWS[op](x, generator, dtype or x.dtype) for op in ops]


def apply(x: torch.Tensor, ops: tuple[str, ...], draws: list[tuple]) -> torch.Tensor:
    for op, d in zip(ops, draws):
        x = _APPLY[op](x, *d)
    return x


def _color_draw(x, generator, dtype):
    n = x.shape[0]
    return tuple(torch.rand((n, 1, 1, 1), device=x.device, dtype=dtype, generator=generator) for _ in range(3))


def color(x: torch.Tensor, brightness, saturation, contrast) -> torch.Tensor:
    x = x + (brightness - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (saturation * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (contrast + 0.5) + mean


TRANSLATION, CUTOUT = 0.125, 0.5  # ratios of the image size


def _shift_draw(x, generator, dtype):
    n, _, h, w = x.shape
    sh, sw = int(h * TRANSLATION + 0.5), int(w * TRANSLATION + 0.5)
    ty = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device, generator=generator)
    return ty, torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device, generator=generator)


def translation(x: torch.Tensor, ty, tx) -> torch.Tensor:
    n, _, h, w = x.shape
    dev = x.device
    gy, gx = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev), indexing="ij")
    # Indices into the 1-pixel zero-padded image; shifting past the edge lands on the padding.
    iy = torch.clamp(gy[None] + ty + 1, 0, h + 1)
    ix = torch.clamp(gx[None] + tx + 1, 0, w + 1)
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1])
    batch = torch.arange(n, device=dev)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, iy, ix].permute(0, 3, 1, 2).contiguous()


def _cutout_draw(x, generator, dtype):
    n, _, h, w = x.shape
    ch, cw = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device, generator=generator)
    return cy, torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device, generator=generator)


def cutout(x: torch.Tensor, cy, cx) -> torch.Tensor:
    _, _, h, w = x.shape
    ch, cw = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    dev = x.device
    gy, gx = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev), indexing="ij")
    dy, dx = gy[None] - cy + ch // 2, gx[None] - cx + cw // 2
    inside = (dy >= 0) & (dy < ch) & (dx >= 0) & (dx < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_DRAWS = {"color": _color_draw, "translation": _shift_draw, "cutout": _cutout_draw}
_APPLY = {"color": color, "translation": translation, "cutout": cutout}


class DiffAugment(torch.nn.Module):
    def __init__(self, policy: str | None = "auto", channels: int = 1):
        super().__init__()
        self.ops = parse_policy(policy, channels)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return diff_augment(x, self.ops, generator)

    def extra_repr(self) -> str:
        return f"ops={list(self.ops)}"

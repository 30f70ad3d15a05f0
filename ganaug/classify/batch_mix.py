"""Batch-level augmentation: mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019).

They act on a batch and its labels, so they live in the classifier loop, not in a per-image
albumentations pipeline. A mixed batch is trained as ``lam * loss(logits, targets of x) +
(1 - lam) * loss(logits, targets of x[perm])``: cross-entropy is linear in its target, so this is
the loss against the mixed target. Each term is the loop's own loss on its source items: a
synthetic item keeps its weight, and its soft label and confidence weight come from the teacher's
view of the unmixed image (the image the generator was asked for), not of the blend.
"""

from __future__ import annotations

import numpy as np
import torch

BATCH_MIXES = ("none", "mixup", "cutmix")
# How reports and tune.md name them.
BATCH_MIX_NAMES = {"mixup": "mixup", "cutmix": "CutMix"}


def mix_batch(x: torch.Tensor, kind: str, alpha: float, rng: np.random.Generator
              ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``(mixed x, perm, lam)``: each item blended with item ``perm[i]``, keeping the share ``lam`` of its own.

    ``lam`` ~ Beta(alpha, alpha); for CutMix a box of area ``1 - lam`` is pasted from the partner and
    ``lam`` becomes the share of pixels actually kept (the box is clipped at the border).
    """
    n, _, h, w = x.shape
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(n)).to(x.device)
    if kind == "mixup":
        return lam * x + (1.0 - lam) * x[perm], perm, lam
    if kind != "cutmix":
        raise ValueError(f"unknown batch mix {kind!r}; choose one of {BATCH_MIXES}")
    cut = np.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    mixed = x.clone()
    mixed[:, :, y0:y1, x0:x1] = x[perm][:, :, y0:y1, x0:x1]
    return mixed, perm, 1.0 - (y1 - y0) * (x1 - x0) / (h * w)

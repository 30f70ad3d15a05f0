"""The classification loss for batches that mix real and synthetic images.

A generated image is weaker evidence than a real one: the generator does not always honour its
conditioning label, and some images sit between classes. This loss lets a training loop say so
per item, with the flags that ``SyntheticMix(..., return_flag=True)`` yields. On Fashion-MNIST,
soft targets from a real-data classifier (``soft_labels=0.5``) were the one lever that raised
downstream accuracy (benchmarks/results/HISTORY.md, benchmarks/results/ablation.md).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganaug.base.checks import check_flag, fraction, number_in
from ganaug.classify.split_norm import synthetic_flags
from ganaug.errors import ConfigError


MAX_SYNTHETIC_WEIGHT = 1000.0


def check_loss_args(synthetic_weight: float, soft_labels: float, teacher: nn.Module | None, prefix: str = "",
                    confidence_weight: bool = False) -> None:
    """Raise on arguments `SyntheticAwareLoss` cannot take; ``prefix`` names them as the caller does."""
    # 1e308 passed, and the weighted mean overflowed at the first batch
    number_in("synthetic_weight", synthetic_weight, 0.0, MAX_SYNTHETIC_WEIGHT,
              why="a synthetic item's weight against 1 for a real one")
    fraction(f"{prefix}soft_labels", soft_labels)
    if teacher is not None and not isinstance(teacher, nn.Module):
        raise TypeError(f"{prefix}teacher must be a torch Module (a trained classifier), got {type(teacher).__name__}; "
                        "load one first, e.g. recipe.load_teacher()")
    if soft_labels > 0 and teacher is None:
        raise ConfigError(f"{prefix}soft_labels > 0 needs a teacher: the classifier whose softmax is mixed in")
    check_flag(f"{prefix}confidence_weight", confidence_weight)
    if confidence_weight and teacher is None:
        raise ConfigError(f"{prefix}confidence_weight needs a teacher: the classifier whose confidence weighs each item")


class SyntheticAwareLoss(nn.Module):
    """Cross-entropy where synthetic items get their own weight and soft targets.

    synthetic_weight: loss weight of a synthetic item; real items weigh 1. The batch loss is the
        weighted mean, so a lower weight moves the gradient toward the real items instead of
        merely shrinking the step.
    soft_labels: a in [0, 1]. A synthetic item's target becomes ``(1 - a) * its label
        + a * teacher's softmax on that image``: what real data says the image shows.
    confidence_weight: a synthetic item's weight is multiplied by the teacher's probability of its
        conditioning label on that image: doubtful images count less, instead of a filter's hard
        keep-or-drop threshold.
    teacher: the classifier whose softmax is mixed in (needed when ``soft_labels > 0`` or
        ``confidence_weight``), e.g. one
        trained on the real images alone. It takes the same inputs as the model being trained,
        is only ever run in eval mode without gradients, and moves with ``.to(device)``.

    ``loss(logits, labels)`` is plain cross-entropy; ``loss(logits, labels, is_synthetic,
    inputs)`` treats the flagged items as synthetic (``inputs``, the batch the model saw, is
    what the teacher scores and is needed only with ``soft_labels > 0``). A loss that treats
    synthetic items apart warns when called without the flag in train mode: every item would count
    as real. Call ``loss.eval()`` first for batches that are real only (validation).
    """

    def __init__(self, synthetic_weight: float = 1.0, soft_labels: float = 0.0, teacher: nn.Module | None = None,
                 confidence_weight: bool = False) -> None:
        super().__init__()
        check_loss_args(synthetic_weight, soft_labels, teacher, confidence_weight=confidence_weight)
        self.synthetic_weight = float(synthetic_weight)
        self.soft_labels = float(soft_labels)
        self.confidence_weight = confidence_weight
        self.teacher = teacher.eval() if (teacher is not None and (soft_labels > 0 or confidence_weight)) else None
        self._teacher_batches = 0  # batches the teacher has scored: the first ones have their scale checked

    def extra_repr(self) -> str:
        # The settings that differ from the constructor's defaults: what this loss does beyond cross-entropy.
        params = inspect.signature(SyntheticAwareLoss.__init__).parameters.values()
        shown = [(p.name, getattr(self, p.name), p.default) for p in params if p.name not in ("self", "teacher")]
        return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v, d in shown if v != d)

    def train(self, mode: bool = True) -> SyntheticAwareLoss:
        super().train(mode)
        if self.teacher is not None:  # a teacher in train mode would give dropout-noised targets
            self.teacher.eval()
        return self

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, is_synthetic: torch.Tensor | None = None,
                inputs: torch.Tensor | None = None) -> torch.Tensor:
        """Mean loss over the batch."""
        weight = self.synthetic_weight
        if logits.ndim != 2 or labels.shape != logits.shape[:1]:
            raise ConfigError(f"expected logits N×K and N labels, got {tuple(logits.shape)} and {tuple(labels.shape)}")
        plain = weight == 1.0 and self.teacher is None
        if is_synthetic is None and not plain and self.training:
            # A training loop that drops the flag would train with plain cross-entropy, not the loss it set up.
            warnings.warn(f"SyntheticAwareLoss({self.extra_repr()}) was called without is_synthetic, so every "
                          "item counted as real (plain cross-entropy): pass the batch's flag, criterion(logits, y, "
                          "is_synthetic, x) (SyntheticMix(..., return_flag=True) yields it); for batches that are "
                          "real only, call criterion.eval() first", UserWarning, stacklevel=2)
        if is_synthetic is None or plain:
            return F.cross_entropy(logits, labels)
        syn = synthetic_flags(is_synthetic).to(logits.device)
        if syn.shape[0] != labels.shape[0]:
            raise ConfigError(f"is_synthetic has {syn.shape[0]} entries for a batch of {labels.shape[0]}")
        if inputs is not None and not isinstance(inputs, torch.Tensor):
            raise TypeError(f"inputs must be the batch the model was called on, a tensor, got {type(inputs).__name__}; "
                            "pass x as the model saw it: criterion(logits, y, is_synthetic, x)")
        if inputs is not None and len(inputs) != labels.shape[0]:
            raise ConfigError(f"inputs has {len(inputs)} items for a batch of {labels.shape[0]}: pass the batch the "
                              "logits were computed from")
        per_item = F.cross_entropy(logits, labels, reduction="none")
        w = torch.where(syn, torch.full_like(per_item, weight), torch.ones_like(per_item))
        if self.teacher is not None:
            k = logits.shape[1]
            target = F.one_hot(labels, k).to(logits.dtype)
            if self.teacher is not None and bool(syn.any()):
                if inputs is None:
                    raise ConfigError("a teacher (soft_labels > 0 or confidence_weight): pass the batch's inputs, "
                                      "so the teacher can score the synthetic images")
                scored = inputs[syn]
                _check_teacher_range(self.teacher, scored, first=self._teacher_batches < SCALE_CHECK_BATCHES)
                self._teacher_batches += 1
                with torch.no_grad():
                    probs = torch.softmax(self.teacher(scored), dim=1).to(logits.dtype)
                if probs.shape[1] != k:
                    raise ConfigError(f"the teacher returns {probs.shape[1]} classes, the model {k}")
                if self.confidence_weight:
                    w[syn] = w[syn] * probs.gather(1, labels[syn].unsqueeze(1)).squeeze(1)
                target[syn] = (1.0 - self.soft_labels) * target[syn] + self.soft_labels * probs
            syn_loss = -(target * F.log_softmax(logits, dim=1)).sum(dim=1)
            per_item = torch.where(syn, syn_loss, per_item)
        return (w * per_item).sum() / w.sum().clamp_min(1e-12)


class NormalizedInputs(nn.Module):
    """A teacher that takes [-1, 1] inputs (img / 127.5 - 1), fed the inputs a user's model takes:
    ``A.Normalize(mean, std)``'s (img / 255 - mean) / std, per channel. The user states the normalisation
    once (`Recipe.loss(input_norm=(mean, std))`) instead of converting every batch by hand."""

    def __init__(self, teacher: nn.Module, mean: Any, std: Any, channels: int | None = None) -> None:
        super().__init__()
        try:
            m = torch.as_tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
            s = torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1, 1)
        except (TypeError, ValueError, RuntimeError):
            m = s = torch.full((1, 1, 1), float("nan"))  # not numbers: refused below
        if not bool((s > 0).all()) or not bool(torch.isfinite(m).all()) or not bool(torch.isfinite(s).all()):
            raise ConfigError(f"input_norm must be (mean, std) with std > 0, finite numbers as A.Normalize takes, "
                              f"got {mean!r}, {std!r}")
        if channels is not None and not {m.numel(), s.numel()} <= {1, channels}:
            # broadcast, they made the teacher's inputs images of as many channels: a shape error at the first batch
            raise ConfigError(f"input_norm must be (mean, std) with one value or one per channel, got {m.numel()} and "
                              f"{s.numel()} values for a teacher of {channels} channel(s): {mean!r}, {std!r}")
        self.teacher = teacher
        self.register_buffer("mean", m)
        self.register_buffer("std", s)
        self.input_range = (float(((0 - m) / s).min()), float(((1 - m) / s).max()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.teacher((x * self.std + self.mean) * 2 - 1)


# The first batches the teacher scores are checked for a scale inside its range but not its own: [0, 1].
SCALE_CHECK_BATCHES = 3


def _check_teacher_range(teacher: nn.Module, x: torch.Tensor, first: bool = False) -> None:
    # A batch normalised for the student, not the teacher, gives targets of a meaningless input without
    # an error. Teachers that declare their range (ganaug's classifiers: input_range) are held to it.
    bounds = getattr(teacher, "input_range", None)
    if bounds is None or not torch.is_floating_point(x) or x.numel() == 0:
        return
    lo, hi = (float(v) for v in torch.aminmax(x.detach()))
    span = bounds[1] - bounds[0]
    slack = 1e-3 * span
    # x / 255 (ToTensor's [0, 1]) lies inside [-1, 1] and passed the bounds, turning soft labels and confidence
    # weights to noise: a batch of images with not one value below mid-grey is on that scale. (Only so strict:
    # an untrained generator's grey images stay near 0 but on both sides of it.)
    on_another_scale = first and x.shape[0] >= 4 and bounds[0] < 0 and lo >= 0
    if lo < bounds[0] - slack or hi > bounds[1] + slack or on_another_scale:
        raise ConfigError(f"the teacher ({type(teacher).__name__}) takes images in [{bounds[0]:g}, {bounds[1]:g}] "
                          f"(img / 127.5 - 1, A.Normalize(mean=0.5, std=0.5)), but the synthetic inputs range over "
                          f"[{lo:.3g}, {hi:.3g}]: pass the loss the batch in that scale as its fourth argument "
                          "(your model may take its own), or give the loss a teacher that takes your inputs")

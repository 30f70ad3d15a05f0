"""Separate batch-norm statistics for synthetic items.

A generator's images differ from real ones in low-order statistics (contrast, texture). In a batch
that mixes the two, batch norm normalises real items with statistics the synthetic ones shifted, and
the running statistics the model is evaluated with describe the mix, not real data. Inside
``split_batch_norm(model, is_synthetic)``, every batch-norm layer of ``model`` in training mode
normalises the real and the synthetic items each with their own batch statistics, and updates its
running statistics from the real items alone; the affine parameters stay shared. A model in eval mode,
or a batch with no synthetic item, is untouched.

    for x, y, is_synthetic in loader:                 # SyntheticMix(..., return_flag=True)
        with split_batch_norm(model, is_synthetic):
            logits = model(x)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import MethodType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ganaug.errors import ConfigError

__all__ = ["split_batch_norm"]


@contextmanager
def split_batch_norm(model: nn.Module, is_synthetic: torch.Tensor | None) -> Iterator[nn.Module]:
    """Within the block, ``model``'s batch norms keep real and synthetic statistics apart (module docstring)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"split_batch_norm: model must be a torch Module (the network whose batch norms to split), "
                        f"got {type(model).__name__}")
    if is_synthetic is None:
        yield model
        return
    mask = synthetic_flags(is_synthetic).cpu()
    layers = batch_norm_layers(model)
    if not layers:
        raise ConfigError(f"split_batch_norm: {type(model).__name__} has no batch-norm layer, so there are no "
                          "statistics to keep apart; train without it")
    if not bool(mask.any()):
        yield model
        return
    real, synthetic = (~mask).nonzero().squeeze(1), mask.nonzero().squeeze(1)
    inverse = torch.argsort(torch.cat([real, synthetic]))
    # An instance attribute shadows the class's forward for this block only; what was there before (an
    # enclosing block's split) comes back at its end.
    before = [vars(bn).get("forward") for bn in layers]
    for bn in layers:
        bn.forward = _SplitForward(bn, real, synthetic, inverse)
    try:
        yield model
    finally:
        for bn, forward in zip(layers, before):
            if forward is None:
                vars(bn).pop("forward", None)
            else:
                bn.forward = forward


def synthetic_flags(is_synthetic: Any) -> torch.Tensor:
    """``is_synthetic`` as a 1-d bool tensor: one true/false flag per item, as bools or the integers 0 and 1, in a
    row or an (N, 1) column. Floats (0.5), another 2-d shape of the batch's size, or the labels passed in the
    flag's place, made bool as they came, would count items as synthetic without a word."""
    try:
        flags = torch.as_tensor(is_synthetic)
    except (TypeError, ValueError, RuntimeError):
        flags = None
    if flags is not None and flags.ndim == 2 and flags.shape[1] == 1:
        flags = flags[:, 0]
    ok = flags is not None and flags.ndim == 1 and (
        flags.dtype == torch.bool or (not flags.dtype.is_floating_point and not flags.dtype.is_complex
                                      and bool(((flags == 0) | (flags == 1)).all())))
    if not ok:
        got = (f"shape {tuple(flags.shape)} of {flags.dtype}" if flags is not None
               else f"{type(is_synthetic).__name__} {is_synthetic!r:.60}")
        raise ConfigError(f"is_synthetic must be one true/false flag per item (a 1-d bool tensor, or integers 0 and "
                          f"1), got {got}; pass the flags SyntheticMix(..., return_flag=True) yields")
    return flags.bool()


def batch_norm_layers(model: nn.Module) -> list[_BatchNorm]:
    """The batch-norm layers whose statistics `split_batch_norm` keeps apart."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm)]


class _SplitForward:
    """A layer's forward inside a block. A copy of the model made inside the block (``copy.deepcopy`` for an
    EMA teacher, say) or a pickle of it gets the class's plain forward: the block's end restores only the
    layers it patched, so a copied split would outlive it, with this batch's flags."""

    def __init__(self, bn: _BatchNorm, real: torch.Tensor, synthetic: torch.Tensor, inverse: torch.Tensor):
        self.bn, self.real, self.synthetic, self.inverse = bn, real, synthetic, inverse

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _split_forward(self.bn, self.real, self.synthetic, self.inverse, x)

    def __reduce__(self):
        return _plain_forward, (self.bn,)


def _plain_forward(bn: _BatchNorm) -> MethodType:
    return MethodType(type(bn).forward, bn)


def _split_forward(bn: _BatchNorm, real: torch.Tensor, synthetic: torch.Tensor, inverse: torch.Tensor,
                   x: torch.Tensor) -> torch.Tensor:
    if not bn.training:
        return type(bn).forward(bn, x)
    if x.shape[0] != len(inverse):
        raise ConfigError(f"split_batch_norm: a batch-norm layer saw {x.shape[0]} items, but is_synthetic flags "
                          f"{len(inverse)}; the flag must describe the batch the model is called on")
    bn._check_input_dim(x)
    real, synthetic, inverse = real.to(x.device), synthetic.to(x.device), inverse.to(x.device)
    parts = []
    if len(real):
        momentum = bn.momentum
        if bn.track_running_stats:
            bn.num_batches_tracked.add_(1)
            if momentum is None:  # a cumulative average, as nn.BatchNorm keeps it
                momentum = 1.0 / float(bn.num_batches_tracked)
        parts.append(_normalise(bn, x[real], bn.running_mean, bn.running_var, momentum or 0.0))
    if len(synthetic):
        parts.append(_normalise(bn, x[synthetic], None, None, 0.0))
    return torch.cat(parts)[inverse]


def _normalise(bn: _BatchNorm, x: torch.Tensor, mean, var, momentum: float) -> torch.Tensor:
    if x.numel() // x.shape[1] < 2:
        # One value per channel has no variance: use the running (real) statistics when there are any.
        if bn.running_mean is None:
            raise ConfigError("split_batch_norm: a lone item without running statistics cannot be normalised; "
                              "use batches with at least 2 real and 2 synthetic items")
        return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    return F.batch_norm(x, mean, var, bn.weight, bn.bias, True, momentum, bn.eps)

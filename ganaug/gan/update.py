"""One GAN update's two losses, written once for a lone GAN (module.py) and for GANs stacked under vmap (stacked.py).

G and D arrive as callables (the modules, or `functional_call` over stacked weights) and every random
draw arrives drawn (the noise, DiffAugment's draws), so the same code runs inside `vmap`, where each
GAN's draws come from its own generator.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from ganaug.gan.diffaug import apply

Net = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def d_loss(d_real: torch.Tensor, d_fake: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "hinge":
        return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def g_loss(d_gen: torch.Tensor, loss: str) -> torch.Tensor:
    return -d_gen.mean() if loss == "hinge" else F.softplus(-d_gen).mean()


def d_outputs(g: Net, d: Net, ops: tuple[str, ...], x, y, z, real_draws, fake_draws, joint: bool):
    """D's logits on the augmented real batch and on fakes of the same labels (G without gradient)."""
    with torch.no_grad():
        fake = g(z, y)  # fakes take the real batch's labels, so G sees the data's class frequencies
    real, fake = apply(x, ops, real_draws), apply(fake, ops, fake_draws)
    if joint:  # D has no batch norm: one pass over both is the two passes, at one weight
        return d(torch.cat([real, fake]), torch.cat([y, y])).split(x.shape[0])
    return d(real, y), d(fake, y)


def g_output(g: Net, d: Net, ops: tuple[str, ...], y, z, draws) -> torch.Tensor:
    """D's logits on new fakes, with G's gradient (the joint pass runs this with D's spectral norm frozen)."""
    return d(apply(g(z, y), ops, draws), y)


def adam(params, lr: float, betas) -> torch.optim.Adam:
    """The GAN's optimizer: one fused kernel per step where the device has one (same Adam, fewer operations)."""
    params = list(params)
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), fused=fused)


@torch.no_grad()
def ema_update(ema: list, params: list, ema_buffers: list, buffers: list, g_updates: int, ema_start: int,
               ema_decay: float) -> None:
    # Before ema_start the copy just follows G: early weights are poor and would linger.
    decay = 0.0 if g_updates <= ema_start else ema_decay
    torch._foreach_lerp_(ema, params, 1.0 - decay)
    torch._foreach_copy_(ema_buffers, buffers)

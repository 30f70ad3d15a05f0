"""Latent neighbourhoods of real images: each real image's latent code, for synthetic images near it.

A generator's prior draws favour the modes it learnt best; a class whose real images are few or
varied gets synthetic images that miss part of it. `invert_latents` finds, for each real image and
its label, the noise vector z whose generated image is closest to it (pixel MSE, plus a small pull
towards the prior so z stays a plausible draw). A bank made with ``anchors`` (`SyntheticBank.generate`)
then draws each image around the code of a real image of its class, z = z_real + spread·ε, so
synthetic images cover the classes where the real images are.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from ganaug.errors import ConfigError
from ganaug.base.pixels import to_unit
from ganaug.gan.sampling import TrainedGenerator

__all__ = ["invert_latents"]


def invert_latents(
    generator: TrainedGenerator,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    steps: int = 200,
    lr: float = 0.05,
    prior_weight: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = False,
) -> np.ndarray:
    """The latent codes (N × z_dim, float32) whose images ``generator`` makes closest to ``images``.

    ``images`` are uint8 N×H×W×C of the generator's shape, ``labels`` their classes. Adam on z for
    ``steps`` steps from a seeded prior draw, loss = pixel MSE + ``prior_weight``·mean(z²); the
    generator's weights are not touched.
    """
    images = np.asarray(images)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if images.dtype != np.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != tuple(generator.image_shape):
        raise ConfigError(f"images must be uint8 N×{'×'.join(map(str, generator.image_shape))} (the generator's "
                          f"shape), got {images.dtype} {images.shape}")
    if len(labels) != len(images) or (len(labels) and (labels.min() < 0 or labels.max() >= generator.num_classes)):
        raise ConfigError(f"labels must be one class in [0, {generator.num_classes}) per image")
    for name, v in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(v, bool) or int(v) != v or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}")
    net, dev = generator.net, generator.device
    g = torch.Generator().manual_seed(int(seed))
    out = np.empty((len(images), generator.z_dim), dtype=np.float32)
    was = [p.requires_grad for p in net.parameters()]
    net.requires_grad_(False)  # gradients for z only
    bar = tqdm(total=len(images) * int(steps), disable=not progress, desc="invert", unit="step·img", leave=False)
    try:
        for start in range(0, len(images), int(batch_size)):
            sl = slice(start, start + int(batch_size))
            x = to_unit(torch.from_numpy(images[sl]).permute(0, 3, 1, 2).float()).to(dev)
            y = torch.from_numpy(labels[sl]).to(dev)
            z = torch.randn(len(x), generator.z_dim, generator=g).to(dev).requires_grad_(True)
            opt = torch.optim.Adam([z], lr=lr)
            with torch.enable_grad():
                for _ in range(int(steps)):
                    loss = F.mse_loss(net(z, y), x) + prior_weight * z.square().mean()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    bar.update(len(x))
            out[sl] = z.detach().cpu().numpy()
    finally:
        bar.close()
        for p, r in zip(net.parameters(), was):
            p.requires_grad_(r)
    return out

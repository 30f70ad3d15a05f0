"""N GANs of one architecture trained as one stacked model (issue 46): on a GPU, one update's kernels
then carry N GANs' work, where a lone GAN leaves the GPU waiting on kernel launches.

Each GAN keeps its own weights, data, noise, DiffAugment draws and optimizer state: the weights are
stacked (`torch.func.stack_module_state`) and one update runs every GAN's losses under `vmap` through
the code a lone GAN runs (gan/update.py), each GAN drawing from its own generator in the order a lone
run draws. Adam and the EMA act element by element, so one optimizer over stacked weights is N
optimizers. Given the same starting weights, generator states and batches, N stacked GANs are N separate
`ConditionalGAN` runs up to float rounding (tests/test_stacked.py). A GAN without a restored state
(`_rng_restored`) is seeded from the global RNG when the stack is built, as a lone fit seeds at its start.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence

import torch
from torch.func import functional_call, stack_module_state, vmap

from ganaug.errors import ConfigError
from ganaug.gan.diffaug import draw
from ganaug.gan.module import ConditionalGAN
from ganaug.gan.spectral import frozen
from ganaug.gan.update import adam, d_loss, d_outputs, ema_update, g_loss, g_output

# Settings each stacked GAN may hold its own value of; every other one is the architecture or the optimizer's.
OWN = ("class_names",)


class StackedGANs:
    """Updates N `ConditionalGAN`s together; `write_back()` puts each GAN's state into its module."""

    def __init__(self, gans: Sequence[ConditionalGAN]):
        if not gans:
            raise ConfigError("StackedGANs needs at least one ConditionalGAN")
        first = {k: v for k, v in gans[0].hparams.items() if k not in OWN}
        for i, gan in enumerate(gans[1:], 1):
            differ = sorted(k for k, v in gan.hparams.items() if k not in OWN and first.get(k) != v)
            if differ:
                raise ConfigError(f"stacked GANs share their architecture and optimizer: GAN {i} differs from GAN 0 "
                                  f"in {differ}; train those apart")
        if first["lecam_weight"] > 0:
            raise ConfigError("stacked GANs train without LeCam (gan.lecam_weight=0, the default): its running "
                              "means are a GAN's own state outside its networks; train LeCam GANs apart")
        if len({int(g.g_updates) for g in gans} | {int(g.d_updates) for g in gans} | {0}) != 1:
            raise ConfigError("stacked GANs start from update 0: a resumed GAN's optimizer state stays with its "
                              "own run; resume it apart")
        self.gans, self.hp = list(gans), gans[0].hparams
        self.ops = gans[0].augment.ops
        # Skeletons in training mode whatever GAN 0's mode: batch statistics and power iterations, as Lightning's fit.
        self._g = copy.deepcopy(gans[0].generator).to("meta").train()
        self._d = copy.deepcopy(gans[0].discriminator).to("meta").train()
        self.g, self.g_buffers = stack_module_state([g.generator for g in gans])
        self.d, self.d_buffers = stack_module_state([g.discriminator for g in gans])
        self.ema, self.ema_buffers = stack_module_state([g.ema for g in gans])
        self.opt_g = adam(self.g.values(), self.hp.lr_g, self.hp.betas)
        self.opt_d = adam(self.d.values(), self.hp.lr_d, self.hp.betas)
        self.rngs = [g.make_rng() for g in gans]
        self.d_updates = self.g_updates = 0

    def _nets(self, g, g_buffers, d, d_buffers):
        return (lambda z, y: functional_call(self._g, (g, g_buffers), (z, y)),
                lambda x, y: functional_call(self._d, (d, d_buffers), (x, y)))

    def _draws(self, x: torch.Tensor, augments: int):
        """Per GAN, from its own generator and in a lone run's order: noise, then DiffAugment's draws."""
        per_gan = []
        for xi, rng in zip(x, self.rngs):
            z = torch.randn(xi.shape[0], self.hp.z_dim, device=xi.device, generator=rng)
            per_gan.append((z, *[draw(xi, self.ops, rng) for _ in range(augments)]))
        return torch.utils._pytree.tree_map(lambda *t: torch.stack(t), *per_gan)

    def step(self, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """One D update for every GAN (and a G update every n_dis-th): batch i is GAN i's. Per-GAN losses back."""
        if len(batches) != len(self.gans):
            raise ValueError(f"{len(self.gans)} stacked GANs need one batch each, got {len(batches)}")
        x = torch.stack([b[0] for b in batches])
        y = torch.stack([b[1] for b in batches])
        joint, loss = self.hp.d_pass == "joint", self.hp.loss
        z, real_draws, fake_draws = self._draws(x, augments=2)

        def d_step(g, g_buffers, d, d_buffers, x, y, z, real_draws, fake_draws):
            gen, dis = self._nets(g, g_buffers, d, d_buffers)
            return d_loss(*d_outputs(gen, dis, self.ops, x, y, z, real_draws, fake_draws, joint), loss)

        losses = {"loss/d": vmap(d_step)(self.g, self.g_buffers, self.d, self.d_buffers, x, y, z, real_draws,
                                         fake_draws)}
        self._descend(self.opt_d, self.d, losses["loss/d"])
        self.d_updates += 1
        if self.d_updates % self.hp.n_dis:
            return {k: v.detach() for k, v in losses.items()}

        z, draws = self._draws(x, augments=1)

        def g_step(g, g_buffers, d, d_buffers, y, z, draws):
            gen, dis = self._nets(g, g_buffers, d, d_buffers)
            return g_loss(g_output(gen, dis, self.ops, y, z, draws), loss)

        with frozen(self._d) if joint else contextlib.nullcontext():
            losses["loss/g"] = vmap(g_step)(self.g, self.g_buffers, self.d, self.d_buffers, y, z, draws)
        self._descend(self.opt_g, self.g, losses["loss/g"])
        self.g_updates += 1
        self._update_ema()
        return {k: v.detach() for k, v in losses.items()}

    @staticmethod
    def _descend(opt: torch.optim.Optimizer, params: dict, losses: torch.Tensor) -> None:
        # Each GAN's loss reaches only its own slice of the stacked weights: the sum's gradient is each one's.
        grads = torch.autograd.grad(losses.sum(), list(params.values()))
        for p, grad in zip(params.values(), grads):
            # vmap's backward may hand back another layout (fc's weight: transposed); fused Adam walks the
            # gradient in the weight's own layout.
            p.grad = grad if grad.stride() == p.stride() else torch.empty_like(p).copy_(grad)
        opt.step()

    def _update_ema(self) -> None:
        ema_update(list(self.ema.values()), list(self.g.values()), list(self.ema_buffers.values()),
                   list(self.g_buffers.values()), self.g_updates, self.hp.ema_start, self.hp.ema_decay)

    @torch.no_grad()
    def write_back(self) -> list[ConditionalGAN]:
        """Each GAN's weights, buffers, counters and generator into its own module (to export or sample), which the
        stacked update left untouched until now. Adam's moments stay here: a GAN trained on apart afterwards
        restarts them (its draws go on where they stopped)."""
        for i, gan in enumerate(self.gans):
            for net, params, buffers in ((gan.generator, self.g, self.g_buffers),
                                         (gan.discriminator, self.d, self.d_buffers),
                                         (gan.ema, self.ema, self.ema_buffers)):
                for name, t in [*net.named_parameters(), *net.named_buffers()]:
                    t.copy_((params if name in params else buffers)[name][i])
            gan.g_updates.fill_(self.g_updates)
            gan.d_updates.fill_(self.d_updates)
            gan._rng = self.rngs[i]
            gan._rng_restored = self.rngs[i].get_state()  # what a later fit's on_fit_start goes on from
        return self.gans

"""ConditionalGAN: the LightningModule that trains G(z, y) against D(x, y)."""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch.nn import functional as F

from ganaug.base.checks import class_name_list
from ganaug.gan.diffaug import DiffAugment, draw, parse_policy
from ganaug.errors import ConfigError, GanaugDataError
from ganaug.gan.artifact import export_generator
from ganaug.gan.nets import Discriminator, Generator
from ganaug.gan.spectral import frozen, upgrade_state_dict
from ganaug.gan.update import adam, d_loss, d_outputs, ema_update, g_loss, g_output
from ganaug.gan.sampling import TrainedGenerator

LOSSES = ("hinge", "nonsaturating")
D_PASSES = ("separate", "joint")


def check_settings(hp: Mapping[str, Any], where: str = "gan") -> None:
    """Raise ConfigError naming ``where.<key>`` for a GAN setting out of range; ``hp`` holds every key of conf/gan.

    ConditionalGAN checks its own arguments with it; ganaug-bench checks ``train.gan`` with it when it
    plans, so a bad value is named before the reference classifiers train, not when the first GAN starts.
    """
    # Each of these out of range trained before, or failed deep in torch: z_dim=0 is a generator
    # without noise, embed_dim=0 one without its class, a negative lecam_weight pushes D apart.
    def number(v) -> bool:
        return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)

    def whole(v, low: int) -> bool:
        return not isinstance(v, bool) and isinstance(v, int) and v >= low

    d = dict(hp)
    if not whole(d["max_steps"], 1):
        raise ConfigError(f"{where}.max_steps={d['max_steps']!r}: it counts generator updates and must be a whole "
                          "number >= 1 (the default recipe trains 6000); a GAN of 0 updates would export an "
                          "untrained generator")
    if d["loss"] not in LOSSES:
        raise ConfigError(f"{where}.loss={d['loss']!r} is unknown; choose one of {list(LOSSES)}")
    if not whole(d["n_dis"], 1):
        raise ConfigError(f"{where}.n_dis must be an integer >= 1 (discriminator updates per generator update), "
                          f"got {d['n_dis']!r}")
    if d.get("d_pass", "separate") not in D_PASSES:
        raise ConfigError(f"{where}.d_pass={d['d_pass']!r} is unknown; choose one of {list(D_PASSES)}")
    compile_spec(d.get("compile"), where)
    if not number(d["ema_decay"]) or not 0.0 <= d["ema_decay"] < 1.0:
        raise ConfigError(f"{where}.ema_decay must be in [0, 1), got {d['ema_decay']!r}")
    for name in ("z_dim", "g_width", "d_width", "embed_dim"):
        if not whole(d[name], 1):
            raise ConfigError(f"{where}.{name} must be a positive integer, got {d[name]!r}")
    for name in ("lr_g", "lr_d"):
        if not number(d[name]) or d[name] <= 0:
            raise ConfigError(f"{where}.{name} must be a positive number, got {d[name]!r}")
    b = d["betas"]
    b = list(b) if isinstance(b, Sequence) and not isinstance(b, str) else b
    if not isinstance(b, list) or len(b) != 2 or not all(number(x) and 0 <= x < 1 for x in b):
        raise ConfigError(f"{where}.betas must be two numbers in [0, 1) (Adam's), got {b!r}")
    if not whole(d["ema_start"], 0):
        raise ConfigError(f"{where}.ema_start must be an integer >= 0 (generator updates), got {d['ema_start']!r}")
    if not number(d["lecam_weight"]) or d["lecam_weight"] < 0:
        raise ConfigError(f"{where}.lecam_weight must be a number >= 0 (0: off), got {d['lecam_weight']!r}")
    if not number(d["lecam_decay"]) or not 0 <= d["lecam_decay"] < 1:
        raise ConfigError(f"{where}.lecam_decay must be in [0, 1), got {d['lecam_decay']!r}")
    try:
        parse_policy(d["diffaug"], 1)  # the channels choose what "auto" means, not whether it is valid
    except (ValueError, AttributeError) as e:
        raise ConfigError(f"{where}.diffaug={d['diffaug']!r}: {e}") from None


def compile_spec(value: str | None, where: str = "gan") -> dict | None:
    """`gan.compile`: null (eager), or torch.compile's backend with an optional mode, "backend[:mode]":
    "inductor", "inductor:reduce-overhead" (CUDA graphs on a GPU), "aot_eager" (no code generation: the CPU
    tests' check that the update compiles as one graph)."""
    if value is None:
        return None
    if str(value).strip().lower() in ("", "none", "eager", "false"):  # one spelling, so one GAN identity
        raise ConfigError(f"{where}.compile={value!r}: eager is null (gan.compile=null, or leave it out)")
    backend, _, mode = str(value).partition(":")
    import torch._dynamo

    if backend not in torch._dynamo.list_backends(exclude_tags=()):
        raise ConfigError(f"{where}.compile={value!r}: unknown backend {backend!r}; use null (eager), inductor, "
                          "inductor:reduce-overhead or aot_eager")
    modes = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
    if mode and (backend != "inductor" or mode not in modes):
        raise ConfigError(f"{where}.compile={value!r}: a mode goes with inductor only, one of {list(modes)}")
    return {"backend": backend, **({"mode": mode} if mode else {})}


# Far above any GAN this recipe trains, far below what a typo allocates: gan.z_dim=100000000
# asked for 204 GB, and the allocation error came through Hydra without the setting's name.
MAX_PARAMETERS = 500_000_000


def _check_size(num_classes: int, image_size: int, channels: int, **sizes: int) -> None:
    """Count G's and D's parameters on the meta device (no memory) and refuse networks no machine holds."""
    with torch.device("meta"):
        nets = (Generator(num_classes, image_size, channels, z_dim=sizes["z_dim"], width=sizes["g_width"],
                          embed_dim=sizes["embed_dim"]),
                Discriminator(num_classes, image_size, channels, width=sizes["d_width"]))
    n = sum(p.numel() for net in nets for p in net.parameters())
    if n > MAX_PARAMETERS:
        given = ", ".join(f"gan.{k}={v}" for k, v in sizes.items())
        raise ConfigError(f"{given} make networks of {n / 1e6:,.0f} M parameters ({4 * n / 2**30:,.0f} GiB in float32, "
                          f"over the {MAX_PARAMETERS / 1e6:,.0f} M ganaug allows): one of them is far too large; the "
                          "defaults are z_dim=128, g_width=32, d_width=32, embed_dim=128")


class ConditionalGAN(pl.LightningModule):
    """Class-conditional GAN with spectral-norm projection D, DiffAugment, EMA generator, LeCam.

    Optimisation is manual (two optimisers). One `training_step` is one discriminator update;
    every `n_dis`-th one is followed by a generator update, so `max_steps` generator updates take
    exactly `max_steps * (n_dis + 1)` of Lightning's optimizer steps (`global_step` counts both
    optimisers). `trainer_max_steps()` gives that number.
    """

    def __init__(
        self,
        num_classes: int,
        image_size: int,
        channels: int,
        class_names: list[str] | None = None,
        z_dim: int = 128,
        g_width: int = 16,
        d_width: int = 32,
        embed_dim: int = 32,
        loss: str = "hinge",
        n_dis: int = 1,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.0, 0.999),
        ema_decay: float = 0.999,
        ema_start: int = 200,
        diffaug: str | None = "auto",
        lecam_weight: float = 0.0,
        lecam_decay: float = 0.99,
        max_steps: int = 6000,
        d_pass: str = "separate",
        compile: str | None = None,
    ):
        super().__init__()
        check_settings(dict(z_dim=z_dim, g_width=g_width, d_width=d_width, embed_dim=embed_dim,
                            loss=loss, n_dis=n_dis, lr_g=lr_g, lr_d=lr_d, betas=betas, ema_decay=ema_decay,
                            ema_start=ema_start, diffaug=diffaug, lecam_weight=lecam_weight,
                            lecam_decay=lecam_decay, max_steps=max_steps, d_pass=d_pass,
                            compile=compile))
        class_names = class_name_list(class_names, num_classes)
        _check_size(num_classes, image_size, channels, z_dim=z_dim, g_width=g_width, d_width=d_width,
                    embed_dim=embed_dim)
        # Plain Python types only (Hydra passes ListConfig): checkpoints must load with weights_only=True.
        betas = (float(betas[0]), float(betas[1]))
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.class_names = class_names
        self.generator = Generator(num_classes, image_size, channels, z_dim=z_dim, width=g_width, embed_dim=embed_dim)
        self.discriminator = Discriminator(num_classes, image_size, channels, width=d_width)
        # channels_last: the convolutions' fast layout on CPU (oneDNN) and GPU; same numbers, less time
        # (benchmarks/results/profile_update.md).
        self.generator.to(memory_format=torch.channels_last)
        self.discriminator.to(memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.generator).requires_grad_(False).eval()
        self.augment = DiffAugment(diffaug, channels)
        # Counters live in buffers so they are saved in checkpoints and restored on resume.
        self.register_buffer("g_updates", torch.zeros((), dtype=torch.long))
        self.register_buffer("d_updates", torch.zeros((), dtype=torch.long))
        self.register_buffer("lecam_real", torch.zeros(()))
        self.register_buffer("lecam_fake", torch.zeros(()))
        self._batch_checked = False  # once per process: a first batch's check costs a device sync
        self._steps = None  # the update's two loss functions, compiled on first use when `compile` asks
        # The noise and DiffAugment's draws come from the module's own generator, saved in its checkpoints,
        # so a resumed run draws what the uninterrupted run would have (whatever else used the global RNG).
        self._rng: torch.Generator | None = None
        self._rng_restored: torch.Tensor | None = None
        self._host_counts: dict[str, tuple[torch.Tensor, int, int]] = {}

    # -- Lightning hooks -------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        self._rng = self.make_rng()

    def make_rng(self) -> torch.Generator:
        """The generator of this GAN's noise and DiffAugment draws: a resumed run's saved state, or a fresh one."""
        rng = torch.Generator(device=self.device)
        if self._rng_restored is not None:
            rng.set_state(self._rng_restored)
        else:  # seeded from the run's seed (train() seeds the global RNG before building the module)
            rng.manual_seed(int(torch.randint(2**62, (1,), generator=None)))
        return rng

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self._rng is not None:
            checkpoint["gan_rng_state"] = self._rng.get_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Checkpoints from before the generator was saved resume with a fresh stream (not bit-exact).
        self._rng_restored = checkpoint.get("gan_rng_state")
        upgrade_state_dict(checkpoint["state_dict"])  # spectral norm's keys before the parametrization

    def batches_seen(self) -> int:
        """Training batches consumed so far (one discriminator update each): where a resumed loader goes on."""
        return self._host_count("d_updates")

    def configure_optimizers(self):
        hp = self.hparams
        opt_g = adam(self.generator.parameters(), hp.lr_g, hp.betas)
        opt_d = adam(self.discriminator.parameters(), hp.lr_d, hp.betas)
        return [opt_g, opt_d]

    def trainer_max_steps(self) -> int:
        return int(self.hparams.max_steps) * (int(self.hparams.n_dis) + 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.ema(z, y)

    def training_step(self, batch, batch_idx):
        x, y = batch
        if not self._batch_checked:
            check_batch(x, y, self.hparams)
            self._batch_checked = True
        x = x.contiguous(memory_format=torch.channels_last)
        hp = self.hparams
        opt_g, opt_d = self.optimizers()
        n = x.shape[0]

        d_step, g_step = self._loss_steps()
        ops = self.augment.ops
        fake_dtype = _output_dtype(x)
        z, real_draws, fake_draws = self._noise(n), draw(x, ops, self._rng), draw(x, ops, self._rng, fake_dtype)
        loss_d, d_real, d_fake = d_step(x, y, z, real_draws, fake_draws)
        if hp.lecam_weight > 0:
            loss_d = loss_d + hp.lecam_weight * self._lecam(d_real, d_fake)
        self.toggle_optimizer(opt_d)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss_d)
        opt_d.step()
        self.untoggle_optimizer(opt_d)
        d_updates = self._count_up("d_updates")

        logs = {
            "loss/d": loss_d.detach(),
            "d/acc_real": (d_real.detach() > 0).float().mean(),
            "d/acc_fake": (d_fake.detach() < 0).float().mean(),
        }
        if d_updates % hp.n_dis == 0:
            self.toggle_optimizer(opt_g)
            z, draws = self._noise(n), draw(x, ops, self._rng, fake_dtype)
            with frozen(self.discriminator) if hp.d_pass == "joint" else contextlib.nullcontext():
                loss_g = g_step(y, z, draws)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
            self.untoggle_optimizer(opt_g)
            self._update_ema(self._count_up("g_updates"))
            logs["loss/g"] = loss_g.detach()
        logs["g_updates"] = self.g_updates.float()
        self.log_dict(logs, prog_bar=True, on_step=True, on_epoch=False, batch_size=n)

    # -- pieces ----------------------------------------------------------------------------------
    def _loss_steps(self):
        """The D step's (loss, logits on real, on fake) and the G step's loss: gan/update.py's, as they are or
        compiled (`compile`); random draws are made outside, so a compiled step holds no generator state."""
        if self._steps is None:
            hp, g, d, ops = self.hparams, self.generator, self.discriminator, self.augment.ops
            joint = hp.d_pass == "joint"

            def d_step(x, y, z, real_draws, fake_draws):
                d_real, d_fake = d_outputs(g, d, ops, x, y, z, real_draws, fake_draws, joint)
                return d_loss(d_real, d_fake, hp.loss), d_real, d_fake

            def g_step(y, z, draws):
                return g_loss(g_output(g, d, ops, y, z, draws), hp.loss)

            spec = compile_spec(hp.get("compile"))
            if spec:
                d_step, g_step = (torch.compile(f, fullgraph=True, **spec) for f in (d_step, g_step))
            self._steps = (d_step, g_step)
        return self._steps

    def __getstate__(self):
        # The cached steps close over this module's networks: a deep copy makes its own. (A parametrized D pickles
        # only through state_dict, as torch's own parametrized spectral norm.)
        return {**super().__getstate__(), "_steps": None}

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.hparams.z_dim, device=self.device, generator=self._rng)

    def _lecam(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        # LeCam (Tseng et al. 2021): keep D's outputs near the moving averages of the other side's.
        decay = self.hparams.lecam_decay
        with torch.no_grad():
            self.lecam_real.mul_(decay).add_((1 - decay) * d_real.mean())
            self.lecam_fake.mul_(decay).add_((1 - decay) * d_fake.mean())
        return F.relu(d_real - self.lecam_fake).pow(2).mean() + F.relu(self.lecam_real - d_fake).pow(2).mean()

    def generator_updates(self) -> int:
        """`g_updates` as an int, read from the device only when the buffer changed by other means.

        Callbacks ask after every update. Reading the buffer is a GPU sync, which keeps the host from
        queueing the next update while the GPU still runs this one. The copy is keyed on the buffer
        object and its in-place version counter, so a checkpoint load, `.to(device)` or a direct write
        (`gan.g_updates.fill_(n)`) is read afresh.
        """
        return self._host_count("g_updates")

    def _host_count(self, name: str) -> int:
        t = getattr(self, name)
        try:
            version = t._version
        except RuntimeError:  # an inference-mode tensor has no version counter: read it
            return int(t)
        held = self._host_counts.get(name)
        if held is None or held[0] is not t or held[1] != version:
            held = (t, version, int(t))
            self._host_counts[name] = held
        return held[2]

    def _count_up(self, name: str) -> int:
        n = self._host_count(name) + 1
        t = getattr(self, name)
        t += 1
        try:
            self._host_counts[name] = (t, t._version, n)
        except RuntimeError:
            pass
        return n

    @torch.no_grad()
    def _update_ema(self, g_updates: int) -> None:
        hp = self.hparams
        ema_update(list(self.ema.parameters()), list(self.generator.parameters()), list(self.ema.buffers()),
                   list(self.generator.buffers()), g_updates, hp.ema_start, hp.ema_decay)

    def sampler(self) -> TrainedGenerator:
        """The EMA generator, wrapped for sampling (shares weights with this module)."""
        return TrainedGenerator(self.ema, self.class_names)

    def export_generator(self, path, extra: dict | None = None):
        """Write the artifact training produces (`ganaug.load_generator` reads it); returns its path.

        The final export and the periodic snapshots both come through here, so a snapshot taken at
        the last step is the same artifact as the final one. `extra` is run metadata for the JSON.
        """
        return export_generator(self.sampler(), path, extra={**(extra or {}), "g_updates": self.generator_updates()})

    def train(self, mode: bool = True):
        super().train(mode)
        self.ema.eval()  # the EMA copy is only ever sampled from
        return self


def _output_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype of G's images for a batch like ``x``: autocast's under mixed precision (DiffAugment's colour draws
    for fakes are made in it, as when they were drawn from the fakes themselves)."""
    dev = x.device.type
    return torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else x.dtype


def updates_done(module) -> int:
    """A GAN module's generator updates as an int, without a GPU sync where it keeps a host copy
    (ConditionalGAN.generator_updates); any other module with a `g_updates` tensor is read."""
    read = getattr(module, "generator_updates", None)
    return read() if callable(read) else int(module.g_updates)


def check_batch(x, y, hp) -> None:
    """A batch is what ganaug-train's loader gives (ganaug.data.GANTensorDataset): float N×C×H×W in [-1, 1]
    with int64 class labels. A loader of one's own may give another scale, which trains a GAN whose
    samples are exported as if in [-1, 1], or a layout that fails deep inside a convolution or embedding."""
    c, size, k = int(hp.channels), int(hp.image_size), int(hp.num_classes)
    fix = "ganaug-train's loader scales uint8 images as img / 127.5 - 1"
    if not torch.is_tensor(x) or not torch.is_floating_point(x):
        raise GanaugDataError(f"ConditionalGAN trains on float images in [-1, 1], got "
                              f"{getattr(x, 'dtype', type(x).__name__)}; {fix}")
    if x.ndim != 4 or tuple(x.shape[1:]) != (c, size, size):
        raise GanaugDataError(f"ConditionalGAN(channels={c}, image_size={size}) trains on N×{c}×{size}×{size} "
                              f"batches, got {tuple(x.shape)}")
    if (not torch.is_tensor(y) or torch.is_floating_point(y) or y.dtype == torch.bool
            or tuple(y.shape) != tuple(x.shape[:1])):
        raise GanaugDataError(f"ConditionalGAN needs integer class labels, one per image, got "
                              f"{getattr(y, 'dtype', type(y).__name__)} of shape {tuple(getattr(y, 'shape', ()))}")
    bad = y[(y < 0) | (y >= k)]
    if bad.numel():
        raise GanaugDataError(f"ConditionalGAN(num_classes={k}) needs labels in [0, {k}), got {int(bad[0])}")
    lo, hi = (float(v) for v in torch.aminmax(x.detach()))
    if lo < -1.001 or hi > 1.001:
        raise GanaugDataError(f"ConditionalGAN trains on images in [-1, 1], but the first batch ranges over "
                              f"[{lo:.3g}, {hi:.3g}]; {fix}")
    if lo >= 0:
        warnings.warn(f"the first batch lies in [{lo:.3g}, {hi:.3g}] within [0, 1]: ConditionalGAN trains on images "
                      f"in [-1, 1]; {fix}, a [0, 1] tensor as 2 * x - 1", stacklevel=2)

"""Lightning callbacks: sample grids and checkpoints counted in generator updates."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from .grid import save_grid
from .sampling import sample_noise, to_uint8_hwc


class SampleGrid(pl.Callback):
    """Every `every_n_steps` generator updates, write a PNG grid from the EMA generator.

    Fixed noise, one row per class, so successive grids show training progress. Files go to
    `<dirpath or trainer.default_root_dir>/samples/`; a logger with `log_image` (W&B, Neptune,
    ...) also receives them, so nothing depends on a particular logger.
    """

    def __init__(self, every_n_steps: int = 500, n_per_class: int = 10, seed: int = 0, dirpath: str | None = None):
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps, self.n_per_class, self.seed, self.dirpath = every_n_steps, n_per_class, seed, dirpath
        self._last = -1

    def _dir(self, trainer: pl.Trainer) -> Path:
        return Path(self.dirpath) if self.dirpath else Path(trainer.default_root_dir) / "samples"

    def write(self, trainer: pl.Trainer, gan) -> Path:
        step = int(gan.g_updates)
        k = gan.hparams.num_classes
        gen = torch.Generator().manual_seed(self.seed)
        z = sample_noise(k * self.n_per_class, gan.hparams.z_dim, gen)
        y = torch.arange(k).repeat_interleave(self.n_per_class)
        with torch.no_grad():
            images = to_uint8_hwc(gan.ema(z.to(gan.device), y.to(gan.device)))
        path = save_grid(self._dir(trainer) / f"grid_{step:06d}.png", images, gan.class_names,
                         title=f"EMA generator, {step} generator updates")
        logger = trainer.logger
        if logger is not None and hasattr(logger, "log_image"):
            logger.log_image(key="samples", images=[str(path)], step=step)
        self._last = step
        return path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = int(pl_module.g_updates)
        if trainer.is_global_zero and step != self._last and step > 0 and step % self.every_n_steps == 0:
            self.write(trainer, pl_module)

    def on_train_end(self, trainer, pl_module):
        if trainer.is_global_zero and int(pl_module.g_updates) != self._last:
            self.write(trainer, pl_module)


class GANCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose period counts generator updates, not Lightning optimizer steps.

    `every_n_steps` generator updates are `every_n_steps * (n_dis + 1)` optimizer steps; the
    conversion is done here once the module (and so `n_dis`) is known. Lightning writes checkpoints
    through an fsspec transaction (temporary file, then move), so a kill never leaves half a file.
    """

    def __init__(self, every_n_steps: int = 500, **kwargs):
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        kwargs.setdefault("save_last", True)
        super().__init__(every_n_train_steps=every_n_steps, **kwargs)
        self.every_n_steps = every_n_steps

    def setup(self, trainer, pl_module, stage):
        n_dis = int(getattr(pl_module.hparams, "n_dis", 1))
        self._every_n_train_steps = self.every_n_steps * (n_dis + 1)
        super().setup(trainer, pl_module, stage)

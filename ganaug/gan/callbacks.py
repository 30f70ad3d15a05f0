"""Lightning callbacks: sample grids, checkpoints and generator snapshots counted in generator updates, and the
training clock a resumed run carries on."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from ganaug.base.checks import check_keys, positive_int, positive_number
from ganaug.errors import ConfigError
from ganaug.base.files import make_dir, move, remove
from ganaug.gan.module import updates_done
from ganaug.gan.grid import save_grid
from ganaug.base.rng import check_seed, sample_noise
from ganaug.gan.sampling import to_uint8_hwc

__all__ = ["GANCheckpoint", "GeneratorSnapshots", "SampleGrid", "TrainingClock", "list_snapshots", "snapshot_dir"]

log = logging.getLogger(__name__)


# Each callback's numbers, checked by its __init__ and, by their setting's names, by ganaug-train before the data is
# read (ganaug.gan.train): __init__ sees no setting's name, and a bad grid size was first used at update 500.
def _updates(name: str, value) -> None:
    positive_int(name, value, why="generator updates")


MAX_GRID_PER_CLASS = 100  # images per class in the sample grid: a picture a person looks at (1e8 would be 60 GB)


def _grid_size(name: str, value) -> None:
    positive_int(name, value)
    if value > MAX_GRID_PER_CLASS:
        raise ConfigError(f"{name} must be at most {MAX_GRID_PER_CLASS} (images per class in the sample grid), "
                          f"got {value!r}")


def _seed(name: str, value) -> None:
    check_seed(value, name, f"set e.g. {name}=0")


def _minutes(name: str, value) -> None:
    if value is not None:
        positive_number(name, value, why="minutes of training between checkpoints; null for none")


def _keep(name: str, value) -> None:
    if value is not None:
        positive_int(name, value, why="the newest snapshots kept; null keeps all")


class SampleGrid(pl.Callback):
    """Every `every_n_steps` generator updates, write a PNG grid from the EMA generator.

    Fixed noise, one row per class, so successive grids show training progress. Files go to
    `<dirpath or trainer.default_root_dir>/samples/`; a logger with `log_image` (W&B, Neptune,
    ...) also receives them, so nothing depends on a particular logger.
    """

    SETTINGS = {"every_n_steps": _updates, "n_per_class": _grid_size, "seed": _seed}

    def __init__(self, every_n_steps: int = 500, n_per_class: int = 10, seed: int = 0, dirpath: str | None = None):
        check_keys(dict(every_n_steps=every_n_steps, n_per_class=n_per_class, seed=seed), self.SETTINGS)
        self.every_n_steps, self.n_per_class, self.seed, self.dirpath = every_n_steps, n_per_class, seed, dirpath
        self._last = -1

    def _dir(self, trainer: pl.Trainer) -> Path:
        return Path(self.dirpath) if self.dirpath else Path(trainer.default_root_dir) / "samples"

    def write(self, trainer: pl.Trainer, gan) -> Path:
        step = updates_done(gan)
        k = gan.hparams.num_classes
        z = torch.from_numpy(sample_noise(self.seed, k * self.n_per_class, gan.hparams.z_dim))
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
        step = updates_done(pl_module)
        if trainer.is_global_zero and step != self._last and step > 0 and step % self.every_n_steps == 0:
            self.write(trainer, pl_module)

    def on_train_end(self, trainer, pl_module):
        if trainer.is_global_zero and updates_done(pl_module) != self._last:
            self.write(trainer, pl_module)


class GANCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose period counts generator updates, not Lightning optimizer steps.

    `every_n_steps` generator updates are `every_n_steps * (n_dis + 1)` optimizer steps; the
    conversion is done here once the module (and so `n_dis`) is known. Checkpoints are written through
    ganaug's `atomic_file` (`gan.checkpoint_io`), so a kill never leaves half a file.

    On CPU the first step-based checkpoint can be half an hour away, so two more kinds of
    `last.ckpt` keep work from being lost: one every `every_n_minutes` of training, and one when
    the process is asked to stop (SIGINT, i.e. Ctrl-C, or SIGTERM, as schedulers send): training
    stops after the current update, saves, and `ganaug-train` says how to resume. A second Ctrl-C
    stops at once, without saving. The signal that stopped training is in `stop_signal`.
    """

    SETTINGS = {"every_n_steps": _updates, "every_n_minutes": _minutes}

    def __init__(self, every_n_steps: int = 500, every_n_minutes: float | None = 5.0, **kwargs):
        check_keys(dict(every_n_steps=every_n_steps, every_n_minutes=every_n_minutes), self.SETTINGS)
        kwargs.setdefault("save_last", True)
        # Runs resume from checkpoints/last.ckpt. One that this callback did not write (a run moved,
        # or continued from another run's checkpoint) must be replaced, not sidestepped as
        # last-v1.ckpt: a kill would then resume from the stale file.
        kwargs.setdefault("enable_version_counter", False)
        super().__init__(every_n_train_steps=every_n_steps, **kwargs)
        self.every_n_steps = every_n_steps
        self.every_n_minutes = every_n_minutes
        self.stop_signal: int | None = None
        self._previous_handlers: dict[int, object] = {}
        self._last_save = time.monotonic()

    def setup(self, trainer, pl_module, stage):
        n_dis = int(getattr(pl_module.hparams, "n_dis", 1))
        self._every_n_train_steps = self.every_n_steps * (n_dis + 1)
        super().setup(trainer, pl_module, stage)

    # -- stop on a signal, save by the clock -------------------------------------------------------
    def on_train_start(self, trainer, pl_module):
        super().on_train_start(trainer, pl_module)
        self.stop_signal = None
        self._last_save = time.monotonic()
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame):
        if self.stop_signal is not None:
            self._restore_handlers()
            raise KeyboardInterrupt  # the second Ctrl-C: stop now, as without this callback
        self.stop_signal = signum
        log.warning("%s received: saving a checkpoint after this update, then stopping (press Ctrl-C again to "
                    "stop at once, without one)", signal.Signals(signum).name)

    def _restore_handlers(self):
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        stop = self.stop_signal is not None
        due = self.every_n_minutes is not None and time.monotonic() - self._last_save >= 60 * self.every_n_minutes
        # Saving is collective under DDP: every rank must decide the same.
        stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        due = trainer.strategy.reduce_boolean_decision(due, all=False)
        if stop or due:
            self.save_last_now(trainer)
        if stop:
            if self.stop_signal is None:  # another rank got the signal
                self.stop_signal = int(signal.SIGTERM)
            trainer.should_stop = True

    def save_last_now(self, trainer) -> str:
        """Write `last.ckpt` at the current step (between two periodic checkpoints)."""
        path = os.path.join(self.dirpath, self.CHECKPOINT_NAME_LAST + self.FILE_EXTENSION)
        trainer.save_checkpoint(path, self.save_weights_only)
        self.last_model_path = path
        self._last_save = time.monotonic()
        return path

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        self._last_save = time.monotonic()  # a step-based checkpoint resets the clock too
        return super().on_save_checkpoint(trainer, pl_module, checkpoint)

    def on_train_end(self, trainer, pl_module):
        self._restore_handlers()
        super().on_train_end(trainer, pl_module)

    def on_exception(self, trainer, pl_module, exception):
        self._restore_handlers()
        super().on_exception(trainer, pl_module, exception)


SNAPSHOT_NAME = re.compile(r"g(\d+)")


def snapshot_dir(dirpath: str | os.PathLike, step: int) -> Path:
    """Where `GeneratorSnapshots` exports the generator after `step` updates: `<dirpath>/g<step:06d>`."""
    return Path(dirpath) / f"g{step:06d}"


def _snapshots(dirpath: Path) -> list[tuple[int, Path]]:
    if not dirpath.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in dirpath.iterdir()
                  if (m := SNAPSHOT_NAME.fullmatch(p.name)) and p.is_dir())


def list_snapshots(dirpath: str | os.PathLike) -> list[Path]:
    """The snapshot directories `g<step>` under `dirpath`, oldest first (by step, not by name)."""
    return [p for _, p in _snapshots(Path(dirpath))]


class GeneratorSnapshots(pl.Callback):
    """Every `every_n_steps` generator updates, export the generator to `<dirpath>/g<step:06d>/`.

    A GAN's value as augmentation keeps changing during training and is not tracked by its losses
    (nor FID), so the generator to use has to be chosen afterwards by downstream value; these are
    the candidates. Each snapshot is exactly what the final export would be at that step (EMA
    generator, class names, run metadata), readable with `ganaug.load_generator`.

    - A snapshot is exported into `<dirpath>/.partial/` and renamed into place, so a `g*`
      directory is always complete; a kill leaves at most debris in `.partial/`, cleared on the
      next start.
    - A resumed run replays the steps after its last checkpoint: snapshots already on disk are kept,
      not rewritten. A fresh run (starting at 0 updates) that finds snapshots of an earlier run
      moves them to `<dirpath>/.earlier-<time>/` with a warning, so runs never mix.
    - `keep=N` keeps only the newest N snapshots (None keeps all).
    - Only global rank 0 writes.

    `dirpath=None` means `<trainer.default_root_dir>/snapshots` (ganaug-train: `<out_dir>/snapshots`).
    `extra` is merged into each snapshot's JSON; ganaug-train passes the dataset name and GAN config.
    """

    STAGING = ".partial"
    SETTINGS = {"every_n_steps": _updates, "keep": _keep}

    def __init__(self, every_n_steps: int = 500, keep: int | None = None, dirpath: str | None = None,
                 extra: dict | None = None):
        check_keys(dict(every_n_steps=every_n_steps, keep=keep), self.SETTINGS)
        self.every_n_steps, self.keep, self.dirpath, self.extra = every_n_steps, keep, dirpath, extra
        self._last = -1

    def _dir(self, trainer: pl.Trainer) -> Path:
        return Path(self.dirpath) if self.dirpath else Path(trainer.default_root_dir) / "snapshots"

    def on_train_start(self, trainer, pl_module):
        if not trainer.is_global_zero:
            return
        dirpath = self._dir(trainer)
        remove(dirpath / self.STAGING, tree=True, best_effort=True)
        # Here, not in setup: by now a resumed run's g_updates has been restored from its checkpoint.
        if updates_done(pl_module) == 0 and (stale := list_snapshots(dirpath)):
            # Moved, not deleted: they may be the only copy of an earlier run's generators.
            aside = dirpath / f".earlier-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
            make_dir(aside)
            for p in stale:
                move(p, aside / p.name)
            log.warning("%s held %d snapshots of an earlier run, not resumed here; moved them to %s",
                        dirpath, len(stale), aside)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = updates_done(pl_module)
        # With n_dis > 1 several batches end on the same generator update: one snapshot for it.
        if trainer.is_global_zero and step != self._last and step > 0 and step % self.every_n_steps == 0:
            self.write(pl_module, self._dir(trainer))

    def write(self, pl_module, dirpath: str | os.PathLike) -> Path | None:
        """Export `pl_module`'s generator as the snapshot for its current step; None if skipped."""
        dirpath = Path(dirpath)
        step = updates_done(pl_module)
        self._last = step
        final = snapshot_dir(dirpath, step)
        if final.exists():
            log.info("snapshot %s was written before this run resumed; kept as it is", final)
            return None
        newer = [s for s, _ in _snapshots(dirpath) if s > step]
        if self.keep is not None and len(newer) >= self.keep:
            return None  # a replayed step that pruning would delete at once
        staging = dirpath / self.STAGING
        tmp = make_dir(staging / f"{final.name}-{uuid.uuid4().hex}")
        try:
            pl_module.export_generator(tmp, extra=self.extra)
            move(tmp, final)
        except BaseException:
            remove(tmp, tree=True, best_effort=True)
            raise
        self.prune(dirpath)
        self._tidy(staging)
        return final

    def prune(self, dirpath: str | os.PathLike) -> None:
        """Delete all but the newest `keep` snapshots in `dirpath`."""
        if self.keep is None:
            return
        dirpath = Path(dirpath)
        for old in list_snapshots(dirpath)[:-self.keep]:
            self._discard(old, dirpath / self.STAGING)

    @staticmethod
    def _tidy(staging: Path) -> None:
        try:
            staging.rmdir()  # only if empty: another writer's debris is left for the next start
        except OSError:
            pass

    @staticmethod
    def _discard(snapshot: Path, staging: Path) -> None:
        # Out of the g* namespace first: a kill during rmtree must not leave a half-deleted snapshot.
        trash = make_dir(staging) / f"{snapshot.name}-{uuid.uuid4().hex}.deleted"
        move(snapshot, trash)
        remove(trash, tree=True, best_effort=True)


class TrainingClock(pl.Callback):
    """Seconds spent in the training loop over every stretch of a run: kept in its checkpoints, so a run
    stopped and resumed tells its whole training time, not its last stretch's.

    Time after the last checkpoint of a stretch is not counted: the resumed run does that work again.
    Each stretch may have run on another machine or beside other work; `stretches` says how many there were.
    """

    def __init__(self):
        self.earlier, self.stretches = 0.0, 1
        self._start: float | None = None
        self._end: float | None = None

    @property
    def seconds(self) -> float:
        if self._start is None:
            return self.earlier
        return self.earlier + ((self._end if self._end is not None else time.perf_counter()) - self._start)

    def on_train_start(self, trainer, pl_module) -> None:
        self._start, self._end = time.perf_counter(), None

    def on_train_end(self, trainer, pl_module) -> None:
        self._end = time.perf_counter()

    def state_dict(self) -> dict:
        return {"seconds": self.seconds, "stretches": self.stretches}

    def load_state_dict(self, state_dict: dict) -> None:
        # Restored before training starts: this stretch adds to the earlier ones.
        self.earlier, self.stretches = float(state_dict["seconds"]), int(state_dict["stretches"]) + 1

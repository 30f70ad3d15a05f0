"""What `ganaug-train` tells its user while it runs: one progress bar in generator updates, and start-up lines.

- `GANProgressBar`: ONE tqdm bar over the whole job, counted in generator updates (`gan.g_updates` out of
  `gan.max_steps`), instead of Lightning's per-epoch bar: the GAN's epochs are an accident of the data
  size (21 batches on digits) and its length is set in generator updates. A resumed run's bar starts at
  its restored count, and its ETA is computed over this process's updates only.
- `DurationEstimate`: times a few updates once training has started and logs the expected duration.
- `startup_lines`: what `train(cfg)` found and will do (data, output directory, device, duration).
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import Tqdm

from ganaug.base.checks import check_keys, number_in
from ganaug.errors import ConfigError
from ganaug.gan.module import updates_done

__all__ = ["DurationEstimate", "GANProgressBar", "format_duration", "startup_lines"]

# The start-up lines are train's; the estimate logged once training runs is one of them.
log = logging.getLogger("ganaug.gan.train")

LOSS_KEYS = ("loss/d", "loss/g")


def is_terminal(stream: Any) -> bool:
    """Whether a bar on `stream` is watched live (redrawn often) rather than written to a log file."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


def _is_console_handler(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) in (sys.stdout, sys.stderr)


class _AboveBar(logging.Handler):
    """Delegates to a console handler, with the bar cleared first and redrawn after: the line lands above it."""

    def __init__(self, inner: logging.StreamHandler):
        super().__init__(inner.level)
        self.inner = inner

    def emit(self, record: logging.LogRecord) -> None:
        with Tqdm.external_write_mode(file=self.inner.stream):
            self.inner.handle(record)  # the inner handler's own filters, formatter and lock


def _seconds(name: str, value) -> None:
    number_in(name, value, 0.0, 3600.0, why="seconds between redraws")


class GANProgressBar(TQDMProgressBar):
    """One bar for the whole job: `g_updates/max_steps` generator updates, ETA, latest losses.

        generator updates:  42%|████▏     | 2,520/6,000 [05:02<06:58, 8.32upd/s, loss/d=1.204, loss/g=0.873]

    Only rank 0 shows it (Lightning disables the others in `setup`). The display is redrawn at most
    once per `refresh_interval` seconds (`file_refresh_interval` when the output is not a terminal,
    e.g. a scheduler's log file, where each redraw is kept); between redraws a batch costs one clock
    read: `g_updates` and the logged losses (`trainer.progress_bar_metrics`) are read only to redraw.
    While the bar is shown, log lines and warnings are written above it rather than through it.
    """

    BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:,}/{total:,} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"

    # Checked by __init__ and, by their setting's names, by ganaug-train before the data is read.
    SETTINGS = {"refresh_interval": _seconds, "file_refresh_interval": _seconds}

    def __init__(self, refresh_interval: float = 0.5, file_refresh_interval: float = 30.0,
                 description: str = "generator updates", file: Any = None):
        super().__init__(refresh_rate=1, leave=True)
        check_keys(dict(refresh_interval=refresh_interval, file_refresh_interval=file_refresh_interval), self.SETTINGS)
        self.refresh_interval = float(refresh_interval)
        self.file_refresh_interval = float(file_refresh_interval)
        self.description = description
        self.file = file  # None: sys.stdout when training starts, as Lightning's bar
        self._interval = self.refresh_interval
        self._next_refresh = 0.0
        self._wrapped_loggers: list[logging.Logger] = []
        self._saved_showwarning = None

    # -- the one bar ------------------------------------------------------------------------------
    def init_train_tqdm(self) -> Tqdm:
        gan = self.trainer.lightning_module
        file = self.file if self.file is not None else sys.stdout
        self._interval = self.refresh_interval if is_terminal(file) else self.file_refresh_interval
        return Tqdm(
            desc=self.description,
            # The restored count on resume; tqdm's rate (so the ETA) counts from it, i.e. this process's updates.
            initial=updates_done(gan),
            total=int(gan.hparams.max_steps),
            unit="upd",
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=file,
            smoothing=0,  # rate = updates / time since start, pauses for checkpoints and grids included
            mininterval=self._interval,
            bar_format=self.BAR_FORMAT,
        )

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.is_disabled:
            return
        self.train_progress_bar = self.init_train_tqdm()
        self._next_refresh = time.monotonic() + self._interval
        self._write_above_bar()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._train_progress_bar is None or self.is_disabled:
            return
        now = time.monotonic()
        if now < self._next_refresh:
            return
        self._next_refresh = now + self._interval
        self._redraw(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._train_progress_bar is not None:
            self._redraw(trainer, pl_module)  # the exact final count and losses
            self.train_progress_bar.close()
        self._restore_output()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if self._train_progress_bar is not None:
            self.train_progress_bar.close()  # the traceback starts on a line of its own
        self._restore_output()

    def _redraw(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        bar = self.train_progress_bar
        if bar.disable:
            return
        bar.n = updates_done(pl_module)
        metrics = trainer.progress_bar_metrics
        bar.set_postfix_str(", ".join(f"{k}={float(metrics[k]):.3f}" for k in LOSS_KEYS if k in metrics),
                            refresh=False)
        bar.refresh()

    # -- Lightning's per-epoch handling and the validation / sanity bars do not apply -----------------
    # The bar spans epochs (it is not reset or described per epoch), and the GAN has no validation loop.
    def on_train_epoch_start(self, trainer: pl.Trainer, *_: Any) -> None:
        pass

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pass

    def on_sanity_check_start(self, *_: Any) -> None:
        pass

    def on_sanity_check_end(self, *_: Any) -> None:
        pass

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pass

    def on_validation_batch_start(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_validation_batch_end(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pass

    # -- log lines and warnings above the bar -----------------------------------------------------------
    def _write_above_bar(self) -> None:
        # Console handlers of the root logger (Hydra's) and of Lightning's own logger (it does not
        # propagate when it set up its handler itself); file handlers are left alone.
        for logger in (logging.getLogger(), logging.getLogger("pytorch_lightning")):
            if any(_is_console_handler(h) for h in logger.handlers):
                self._wrapped_loggers.append(logger)
                logger.handlers = [_AboveBar(h) if _is_console_handler(h) else h for h in logger.handlers]
        shown = self._saved_showwarning = warnings.showwarning

        def showwarning(message, category, filename, lineno, file=None, line=None):
            with Tqdm.external_write_mode(file=file if file is not None else sys.stderr):
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = showwarning

    def _restore_output(self) -> None:
        for logger in self._wrapped_loggers:  # handlers added meanwhile stay
            logger.handlers = [h.inner if isinstance(h, _AboveBar) else h for h in logger.handlers]
        self._wrapped_loggers = []
        if self._saved_showwarning is not None:
            warnings.showwarning = self._saved_showwarning
            self._saved_showwarning = None


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours, minutes = divmod(round(minutes), 60)
    return f"{hours} h {minutes:02d} min"


class DurationEstimate(pl.Callback):
    """Once `skip + measure` generator updates have run, log how long the remaining ones should take.

    Measured, not guessed: the cost of an update varies 100-fold with the networks, the image size,
    the batch and the machine. The first `skip` updates are left out of the timing (one-time costs:
    allocations, oneDNN / cuDNN kernel selection), the next `measure` are timed. The clock is read
    right after reading `g_updates`, which waits for the GPU, so queued GPU work is counted; those two
    reads are all this costs. Checkpoints and sample grids, every few hundred updates, add a little;
    the progress bar's ETA includes them as they happen.
    """

    def __init__(self, skip: int = 2, measure: int = 20):
        if skip < 1 or measure < 1:
            raise ConfigError(f"skip and measure must be >= 1, got {skip} and {measure}")
        self.skip, self.measure = skip, measure
        self.per_update: float | None = None  # seconds, once measured
        self._batches = 0
        self._start: tuple[int, float] | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._batches, self._start, self.per_update = 0, None, None
        # One generator update every n_dis Lightning batches: counting batches avoids reading the
        # g_updates tensor (a GPU sync) on every step.
        n_dis = int(pl_module.hparams.get("n_dis", 1))
        self._first, self._last = self.skip * n_dis, (self.skip + self.measure) * n_dis

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not trainer.is_global_zero or self._batches > self._last:
            return
        self._batches += 1
        if self._batches == self._first:
            self._start = (int(pl_module.g_updates), time.perf_counter())
        elif self._batches == self._last and self._start is not None:
            g = int(pl_module.g_updates)
            g0, t0 = self._start
            if g <= g0:
                return
            self.per_update = (time.perf_counter() - t0) / (g - g0)
            remaining = int(pl_module.hparams.max_steps) - g
            if remaining > 0:
                log.info("expected duration: about %s for the remaining %s generator updates (%.0f ms per update, "
                         "timed over updates %d-%d)", format_duration(remaining * self.per_update),
                         f"{remaining:,}", 1000 * self.per_update, g0 + 1, g)


# -- start-up lines ------------------------------------------------------------------------------------
def _data_source(data_cfg: Any) -> str | None:
    """Where the images were read from, as far as the config says (the datamodule keeps no path)."""
    try:
        ds = data_cfg.get("dataset")
        target = str(ds.get("_target_") or "")
        loader = target.rsplit(".", 1)[-1]
        if loader == "load_digits":
            return "scikit-learn's bundled copy (sklearn.datasets.load_digits)"
        if loader == "load_fashion_mnist":
            from ganaug.data.fashion_mnist import resolve_fashion_mnist

            # The same search load_fashion_mnist just did; the files are there now, so this only looks.
            return str(resolve_fashion_mnist(root=ds.get("root"), download=False, cache_dir=ds.get("cache_dir")))
        if ds.get("root"):
            return str(Path(str(ds.root)).expanduser().resolve())
        return target or None
    except Exception:  # a description must never stop training
        return None


def startup_lines(cfg: Any, datamodule: Any, trainer: pl.Trainer, out_dir: Path, ckpt_dir: Path,
                  estimate: DurationEstimate | None = None) -> list[str]:
    """One line each: the data found, the output directory, the device, the expected duration."""
    h, w, c = datamodule.image_shape
    n_train, n_val = len(datamodule.train_set), len(datamodule.val_set)
    n = n_train + n_val
    split = f" ({n_train:,} train, {n_val:,} held out)" if n_val else ""
    source = _data_source(cfg.data)
    lines = [f"data: {cfg.data.get('name', 'data')}, {n:,} labelled images{split} in {datamodule.num_classes} "
             f"classes, {h}x{w}x{c}" + (f", from {source}" if source else "")]

    lines.append(f"output directory: {out_dir} (checkpoints in {ckpt_dir})")

    t = cfg.trainer
    try:
        root = trainer.strategy.root_device
        device = f"{root.type} ({torch.cuda.get_device_name(root)})" if root.type == "cuda" else root.type
        count = trainer.num_devices * trainer.num_nodes
    except Exception:
        device, count = "?", "?"
    lines.append(f"device: {device} x{count} (trainer.accelerator={t.get('accelerator')}, "
                 f"devices={t.get('devices')}, precision={t.get('precision')}), "
                 f"{torch.get_num_threads()} torch threads")

    line = f"expected duration: {int(cfg.gan.max_steps):,} generator updates (gan.max_steps)"
    if estimate is not None:
        line += f"; how long they take is logged after this run's first {estimate.skip + estimate.measure} updates"
    if isinstance(trainer.progress_bar_callback, GANProgressBar):
        line += "; the progress bar shows the ETA"
    lines.append(line)
    return lines


class UpdateHook(pl.Callback):
    """Calls `fn(g_updates)` when training starts (the restored count on resume) and after each generator
    update: a caller's own progress display (ganaug-bench), which tells work done before from its pace."""

    def __init__(self, fn: Callable[[int], None]):
        self.fn, self._last = fn, -1

    def on_train_start(self, trainer, pl_module) -> None:
        self._last = updates_done(pl_module)
        self.fn(self._last)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = updates_done(pl_module)
        if step != self._last:
            self._last = step
            self.fn(step)

"""Train a conditional GAN from a composed Hydra config and export its generator: `train(cfg)`, a plain
function (tests call it with a composed config; `ganaug.cli.train` is the thin `@hydra.main` wrapper)."""

from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from pytorch_lightning.callbacks import ProgressBar
from omegaconf import DictConfig, OmegaConf

from ganaug.gan.callbacks import GANCheckpoint, GeneratorSnapshots, SampleGrid, TrainingClock
from ganaug.gan.checkpoint_io import use_held_checkpoint_io
from ganaug.base.checks import check_dir_setting, check_flags, check_keys
from ganaug.errors import ConfigError, GanaugError, user_error
from ganaug.base.dir_lock import hold_dir
from ganaug.base.files import check_unlinked
from ganaug.data.arrays import data_fingerprint
from ganaug.gan.progress import DurationEstimate, GANProgressBar, format_duration, startup_lines
from ganaug.base.rng import check_seed
from ganaug.gan.run_record import RECORD_FILE, SPLIT_KEYS, check_resume, data_split, register_resolvers, run_settings

__all__ = ["SPLIT_KEYS", "TrainingInterrupted", "data_split", "export_metadata", "train"]

log = logging.getLogger(__name__)

CONFIG_PATH = "pkg://ganaug.conf"
# conf/train.yaml's default run name needs it before Hydra resolves hydra.run.dir.
register_resolvers()


class IncompleteTraining(GanaugError):
    """Training ended before gan.max_steps generator updates, and not on a signal."""


class TrainingInterrupted(GanaugError):
    """Training stopped on a signal, after saving a checkpoint the same command resumes."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + int(signum)  # what a shell reports for a process ended by that signal


class MissingCheckpoint(GanaugError, FileNotFoundError):
    """ckpt_path names a file that does not exist."""


def _out_dir(cfg: DictConfig) -> Path:
    if cfg.get("out_dir"):
        return Path(cfg.out_dir)
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    raise ConfigError("out_dir is not set: pass out_dir=... (train(cfg) called outside of Hydra)")


def _build(node, **kwargs):
    """hydra.utils.instantiate, but a user error keeps its own type and message (Hydra wraps it)."""
    try:
        return instantiate(node, **kwargs)
    except Exception as e:
        if (cause := user_error(e)) is not None and cause is not e:
            raise cause from None
        raise


def _resume_path(cfg: DictConfig, ckpt_dir: Path) -> str | None:
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path)
        if path.is_dir():
            raise MissingCheckpoint(f"ckpt_path={path} is a directory; give the checkpoint file, e.g. "
                                    f"ckpt_path={path / 'last.ckpt'}")
        if not path.is_file():
            raise MissingCheckpoint(f"ckpt_path={path} does not exist; correct it, or drop ckpt_path to resume "
                                    "this run's last.ckpt (or start afresh)")
        return str(path)
    last = ckpt_dir / "last.ckpt"
    # save_last="link" makes last.ckpt a link to a checkpoint beside it; a link elsewhere was planted, and
    # resuming from it would continue someone else's run under this one's name.
    if last.is_symlink() and Path(os.path.realpath(last)).parent != Path(os.path.realpath(ckpt_dir)):
        check_unlinked(last)
    if cfg.get("resume", True) and last.is_file():
        return str(last)
    return None


def export_metadata(cfg: DictConfig, settings: dict | None = None) -> dict:
    """Run metadata recorded in every exported generator's JSON (final export and snapshots).

    `settings` is the run's record (`run.json`): what the weights were trained on, which a
    resumed run's current config can only confirm, never replace.
    """
    split = data_split(cfg.data) if settings is None else {k: settings["data"][k] for k in SPLIT_KEYS}
    return {
        "dataset": cfg.data.get("name", "unknown"),
        "data_split": split,
        # The benchmark's banks draw their noise from the GAN's seed; ganaug-tune draws the same.
        "seed": (cfg.get("seed") if settings is None else settings.get("seed")),
        "train_config": OmegaConf.to_container(cfg.gan, resolve=True),
    }


def check_checkpoint(path: str) -> dict:
    """Refuse an unreadable or untrusted checkpoint by name, before Lightning's traceback would; the checkpoint."""
    import pickle

    import torch

    fix = (f"Resume from an earlier checkpoint with ckpt_path={Path(path).parent}/g_updates=<N>.ckpt, or start "
           "afresh with resume=false")
    what = _not_a_checkpoint(path)
    if what:
        raise GanaugError(f"{path} is not a PyTorch checkpoint: it is {what}. {fix}.")
    try:
        # weights_only=True explicitly: an environment default (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD) must not
        # turn resuming into running a pickle planted as last.ckpt.
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise GanaugError(f"{path} holds more than tensors and plain data ({_first_line(e)}); ganaug does not "
                          f"unpickle objects from checkpoints. {fix}.") from e
    except Exception as e:  # noqa: BLE001 - torch's loaders raise IndexError, KeyError... on foreign bytes
        raise GanaugError(f"{path} is not a readable checkpoint ({_first_line(e)}): it was probably cut short (a "
                          f"full disk, an interrupted copy). {fix}.") from e


def _not_a_checkpoint(path: str) -> str | None:
    """What a file given as a checkpoint is instead, judged by its first bytes (None: it may be one).

    torch.save writes a zip archive (PK..), older torch a pickle (0x80 then the protocol); a git-lfs
    pointer or a web page saved in its place otherwise reads as "holds more than tensors" (a hostile
    pickle) or fails deep in the unpickler (IndexError on /etc/passwd)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None  # torch.load names it
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return None
    text = head.lstrip().lower()
    if text.startswith(b"version https://git-lfs"):
        return "a git-lfs pointer, not the file it points to (run `git lfs pull` where it was cloned)"
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<")):
        return "an HTML or XML page (a download that returned a web page instead of the file)"
    if not head:
        return "empty"
    return f"a file starting {head[:16]!r}, neither a zip archive (torch.save) nor a pickle"


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def build_callbacks(cfg: DictConfig, out_dir: Path, settings: dict | None = None) -> list[pl.Callback]:
    # trainer.enable_progress_bar=false means no bar: Lightning refuses a progress-bar callback then.
    show_bar = bool((cfg.get("trainer") or {}).get("enable_progress_bar", True))
    callbacks: list[pl.Callback] = [DurationEstimate(), TrainingClock()]
    for name, cb_cfg in (cfg.get("callbacks") or {}).items():
        if cb_cfg is None:
            continue
        cb = _build(cb_cfg)
        if isinstance(cb, ProgressBar) and not show_bar:
            continue
        if isinstance(cb, GANCheckpoint) and cb.dirpath is None:
            cb.dirpath = str(_checkpoint_dir(cfg, out_dir))
        if isinstance(cb, SampleGrid) and cb.dirpath is None:
            cb.dirpath = str(out_dir / "samples")
        if isinstance(cb, GeneratorSnapshots):
            if cb.dirpath is None:
                cb.dirpath = str(out_dir / "snapshots")
            if cb.extra is None:
                cb.extra = export_metadata(cfg, settings)
        callbacks.append(cb)
    return callbacks


def _check_accelerator(trainer_cfg: DictConfig) -> None:
    # Lightning says "No supported gpu backend found!" after the data is read; say what to do, first.
    accelerator = str(trainer_cfg.get("accelerator", "cpu"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.accelerator={accelerator} (trainer=gpu), but torch {torch.__version__} sees no CUDA "
                          "device here; train on the CPU with trainer=cpu (the default), or run on a machine with a GPU "
                          "and a CUDA build of torch")
    # Several processes with Lightning's plain DDP fail once they have started ("parameters that were not used":
    # the GAN's two optimizers each leave the other network's parameters out of a step).
    devices, strategy = trainer_cfg.get("devices", 1), str(trainer_cfg.get("strategy", "auto"))
    one = devices in (1, "1", "auto", None) or (OmegaConf.is_list(devices) and len(devices) == 1)
    if not one and strategy in ("auto", "ddp", "ddp_spawn", "ddp_fork", "ddp_notebook"):
        raise ConfigError(f"trainer.devices={devices} trains in several processes, which needs the strategy "
                          "trainer=ddp sets (ddp_find_unused_parameters_true); use e.g. trainer=ddp "
                          f"trainer.devices={devices}")


def check_length(trainer_cfg: DictConfig, where: str = "trainer") -> None:
    """Refuse a Trainer length (``<where>.max_epochs`` and the like): the GAN's is gan.max_steps."""
    # train() gives the Trainer the max_steps that gan.max_steps means. A trainer.max_epochs stopped the
    # GAN part-way and exported it as the finished one; a trainer.max_steps was replaced without a word.
    set_here = {k: trainer_cfg.get(k) for k in ("max_steps", "max_time", "min_steps", "min_epochs")
                if trainer_cfg.get(k) not in (None, -1)}
    if trainer_cfg.get("max_epochs") not in (None, -1):
        set_here["max_epochs"] = trainer_cfg.get("max_epochs")
    if set_here:
        key, value = next(iter(set_here.items()))
        fix = f"leave {where}.max_epochs at -1 (the default)" if key == "max_epochs" else f"remove {where}.{key}"
        raise ConfigError(f"{where}.{key}={value}: the GAN's length is gan.max_steps (generator updates), which "
                          f"ganaug-train gives the Trainer; {fix}, and set the length with e.g. gan.max_steps=2000")


def _check_run_keys(cfg: DictConfig) -> None:
    # conf/train.yaml's own keys have no schema: a seed numpy refuses would fail after the data is read.
    seed = check_seed(cfg.get("seed", 0), "seed", "set e.g. seed=0")
    if seed > MAX_SEED:
        raise ConfigError(f"seed must be at most {MAX_SEED} (Lightning's seed_everything takes no more), got {seed}; "
                          "set e.g. seed=0")
    # Any string would count as true: tf32=maybe turned TF32 on.
    check_flags(cfg, "resume", "tf32", "trainer.enable_progress_bar", "data.dataset.download")
    if cfg.get("export_dir") is not None:
        check_dir_setting(cfg.export_dir, "export_dir")  # empty: the export went into out_dir itself
    _check_callbacks(cfg.get("callbacks") or {})
    logger = cfg.get("logger")
    if (logger and str(logger.get("_target_", "")).rsplit(".", 1)[-1] in _FOLDER_LOGGERS and "name" in logger
            and logger.get("save_dir") is None and not str(logger.name or "").strip()):
        # The logs then went to <out_dir>/version_N, among the run's own files and past its check for links.
        raise ConfigError("logger.name is empty: set logger.name=logs (the logs' directory under out_dir), or "
                          "logger.save_dir=<path>")
    name = (cfg.get("data") or {}).get("name")
    if not isinstance(name, str) or not name.strip():
        # It names the run's directory (runs/None-seed0) and the generator's record.
        raise ConfigError(f"data.name must name the dataset, got {name!r}; set data.name=<the dataset's name>")
    if not cfg.get("out_dir") and not str(cfg.get("run_name") or "").strip():
        # runs/<run_name> would be runs/ itself, where every other run's directory lives.
        raise ConfigError("run_name is empty; set run_name=<name> (the run's directory under runs/), or out_dir=...")


MAX_SEED = 2**32 - 1
# Loggers whose ``name`` is a folder under save_dir (WandbLogger's is a display name, null by default).
_FOLDER_LOGGERS = {"CSVLogger", "TensorBoardLogger"}
# ganaug's own callbacks (conf/callbacks/default.yaml), whose numbers are checked before the data is read by the
# tables their __init__ uses. A callback the user swapped for another class (its _target_) is theirs to check.
_OWN_CALLBACKS = {f"{c.__module__}.{c.__qualname__}": c
                  for c in (SampleGrid, GANCheckpoint, GeneratorSnapshots, GANProgressBar)}


def _check_callbacks(callbacks: DictConfig | dict) -> None:
    for name, node in callbacks.items():
        own = _OWN_CALLBACKS.get(str((node or {}).get("_target_")))
        if own is None:
            continue
        check_keys(node, own.SETTINGS, f"callbacks.{name}.")
        if node.get("dirpath") is not None:
            check_dir_setting(node.dirpath, f"callbacks.{name}.dirpath")


def train(cfg: DictConfig, extra_callbacks: list[pl.Callback] | None = None) -> dict:
    """Train per `cfg` (see conf/train.yaml); returns paths of what was written.

    `extra_callbacks` join those of `cfg.callbacks` (ganaug-bench passes one that moves its own bar).
    """
    _check_run_keys(cfg)
    _check_accelerator(cfg.trainer)
    check_length(cfg.trainer)
    out_dir = _out_dir(cfg)
    with hold_dir(out_dir, "ganaug-train", "out_dir (or run_name)"):
        for d in _run_dirs(cfg, out_dir):
            check_unlinked(d)
        check_unlinked(_checkpoint_dir(cfg, out_dir) / RECORD_FILE)  # the settings a resume is checked against
        return _train(cfg, out_dir, extra_callbacks)


def _run_dirs(cfg: DictConfig, out_dir: Path) -> list[Path]:
    """The directories a run makes under out_dir. Lightning makes its checkpoint and log directories without
    ganaug's check, and the export comes after hours of training: a link planted at one of them
    (<out_dir>/generator -> someone's folder) is refused before the data is read, not written through."""
    callbacks = cfg.get("callbacks") or {}
    dirs = [out_dir / str(cfg.get("export_dir") or "generator"), _checkpoint_dir(cfg, out_dir)]
    for name, default in (("sample_grid", "samples"), ("snapshots", "snapshots")):
        node = callbacks.get(name)
        if node is not None:
            dirs.append(Path(node.get("dirpath") or out_dir / default))
    logger = cfg.get("logger")
    if logger and "save_dir" in logger and logger.save_dir is None and logger.get("name"):
        logs = out_dir / str(logger.name)
        dirs.append(logs)
        # Lightning takes the next free version_N: a linked one it skips, a dangling one it fails to make
        if logs.is_dir() and not logs.is_symlink():
            dirs += sorted(logs.iterdir())
    return dirs


def _train(cfg: DictConfig, out_dir: Path, extra_callbacks: list[pl.Callback] | None) -> dict:
    from ganaug.base.resources import set_tf32

    pl.seed_everything(cfg.seed, workers=True)
    set_tf32(bool(cfg.get("tf32", False)))  # full float32 unless asked: the recipe the benchmark measured
    datamodule = _build(cfg.data, shuffle_seed=int(cfg.seed))
    h, w, c = datamodule.image_shape
    if h != w:
        raise ConfigError(f"images must be square for the GAN, got {h}x{w}; set data.dataset.size=[S,S]")
    gan = _build(
        cfg.gan,
        num_classes=datamodule.num_classes,
        image_size=h,
        channels=c,
        class_names=list(datamodule.class_names),
    )
    ckpt_dir = _checkpoint_dir(cfg, out_dir)
    ckpt_path = _resume_path(cfg, ckpt_dir)
    if ckpt_path:
        done = (check_checkpoint(ckpt_path).get("state_dict") or {}).get("g_updates")
        if done is not None and int(done) > int(gan.hparams.max_steps):
            # Lightning would end fit at once and the export pass the longer GAN off as one of max_steps updates.
            raise ConfigError(
                f"{ckpt_path} is at {int(done)} generator updates, past gan.max_steps={gan.hparams.max_steps}; a "
                f"shorter GAN is another run: set another out_dir (or run_name), or take an earlier generator from "
                f"its snapshots (callbacks.snapshots) or ckpt_path=<an earlier g_updates=<N>.ckpt>")
    # Beside the checkpoints, so an explicit ckpt_path is checked against the run that wrote it.
    source_dir = Path(ckpt_path).parent if ckpt_path else ckpt_dir
    settings = check_resume(source_dir, run_settings(cfg, data_fingerprint(datamodule.train_set)), ckpt_path)
    if source_dir != ckpt_dir:
        check_resume(ckpt_dir, settings, None)
    callbacks = build_callbacks(cfg, out_dir, settings) + list(extra_callbacks or [])
    logger = False
    if cfg.get("logger"):
        logger_cfg = cfg.logger
        if "save_dir" in logger_cfg and logger_cfg.save_dir is None:
            logger_cfg = OmegaConf.merge(logger_cfg, {"save_dir": str(out_dir)})
        logger = instantiate(logger_cfg)
    trainer = instantiate(
        cfg.trainer,
        max_steps=gan.trainer_max_steps(),
        default_root_dir=str(out_dir),
        callbacks=callbacks,
        logger=logger,
    )
    use_held_checkpoint_io(trainer)
    if trainer.is_global_zero:  # ranks are known once the Trainer exists
        estimate = next((cb for cb in callbacks if isinstance(cb, DurationEstimate)), None)
        for line in startup_lines(cfg, datamodule, trainer, out_dir, ckpt_dir, estimate):
            log.info(line)
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)
    trainer.fit(gan, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)

    clock = next(cb for cb in callbacks if isinstance(cb, TrainingClock))
    result = {"out_dir": str(out_dir), "g_updates": int(gan.g_updates), "resumed_from": ckpt_path,
              "train_seconds": clock.seconds, "stretches": clock.stretches}
    stopped = next((cb for cb in callbacks if isinstance(cb, GANCheckpoint) and cb.stop_signal is not None), None)
    if stopped is not None:
        raise TrainingInterrupted(
            f"interrupted after {int(gan.g_updates)} of {int(gan.hparams.max_steps)} generator updates; saved "
            f"{stopped.last_model_path}. Rerun the same command to resume from there.", stopped.stop_signal)
    if int(gan.g_updates) < int(gan.hparams.max_steps):
        # Lightning ends fit quietly when a callback sets should_stop (EarlyStopping, say): that is not the
        # GAN of gan.max_steps updates, and exporting it would pass it off as one.
        raise IncompleteTraining(
            f"training stopped after {int(gan.g_updates)} of {int(gan.hparams.max_steps)} generator updates, not on a "
            "signal: a callback set trainer.should_stop (EarlyStopping?). The generator was not exported. Remove "
            "that callback and rerun the same command to resume from the last checkpoint")
    if trainer.is_global_zero:
        export_path = out_dir / cfg.export_dir
        gan.export_generator(export_path, extra=export_metadata(cfg, settings))
        result["generator"] = str(export_path)
        log.info("generator exported to %s after %d generator updates (training %s%s)", export_path,
                 int(gan.g_updates), format_duration(clock.seconds),
                 f", over {clock.stretches} runs" if clock.stretches > 1 else "")
    return result


def _checkpoint_dir(cfg: DictConfig, out_dir: Path) -> Path:
    """Where GANCheckpoint writes (callbacks.checkpoint.dirpath, else <out_dir>/checkpoints)."""
    ckpt_cfg = (cfg.get("callbacks") or {}).get("checkpoint")
    if ckpt_cfg is not None and ckpt_cfg.get("dirpath"):
        return Path(ckpt_cfg.dirpath)
    return out_dir / "checkpoints"


# Lightning warnings that do not apply to a GAN trained this way.
QUIET = (
    # The EMA copy of G is kept in eval mode on purpose (it is only sampled from).
    r".*module\(s\) in eval mode.*",
    # "Using ModelCheckpoint with manual optimization ... no pre-optimization state was saved":
    # checkpoints are taken after both optimizer steps, by design.
    r".*no pre-optimization state was saved.*",
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*isinstance\(treespec, LeafSpec\).*",
    # Resuming mid-epoch: the GAN's epochs mean nothing (its length is counted in generator updates)
    # and every batch is a fresh random draw, so restarting the shuffled loader loses nothing.
    r".*resuming from a checkpoint that ended before the epoch ended and your dataloader is not resumable.*",
    # Small datasets (digits: 21 batches) have epochs shorter than log_every_n_steps, but the logging
    # interval counts batches across epochs, so the CSV log still gets a row every N steps.
    r".*The number of training batches \(\d+\) is smaller than the logging interval.*",
    # The GAN's batches come from images already in memory (on the GPU, an index gather there):
    # loader workers would only add processes.
    r".*'train_dataloader' does not have many workers which may be a bottleneck.*",
)
# Lightning's info lines (the logging module, not warnings) that do not apply, matched from the start:
QUIET_INFO = (
    # Advertising for Lightning's cloud services (litlogger, litmodels): nothing to do with ganaug.
    r"💡 Tip: For seamless cloud",
    # Its max_steps counts both optimizers' steps (2x gan.max_steps with n_dis=1), which would
    # contradict the user's setting; train() reports the generator updates done instead.
    r"`Trainer.fit` stopped: `max_steps=\d+` reached",
)


class _QuietInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(re.match(pattern, message) for pattern in QUIET_INFO)


_QUIET_INFO_FILTER = _QuietInfo()


def quiet_lightning() -> None:
    for pattern in QUIET:
        warnings.filterwarnings("ignore", message=pattern)
    # A filter on a logger applies only to records made by that logger: the ones Lightning's
    # rank_zero_info logs through (addFilter does not add the same filter twice).
    from lightning_utilities.core import rank_zero

    for logger in {rank_zero.log, logging.getLogger("pytorch_lightning.utilities.rank_zero"),
                   logging.getLogger("lightning_fabric.utilities.rank_zero")}:
        logger.addFilter(_QUIET_INFO_FILTER)

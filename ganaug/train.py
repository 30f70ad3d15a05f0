"""`ganaug-train`: train a conditional GAN from a Hydra config and export its generator.

`train(cfg)` is a plain function (tests call it with a composed config); `main` is the thin
`@hydra.main` wrapper behind the console script.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from .callbacks import GANCheckpoint, GeneratorSnapshots, SampleGrid

log = logging.getLogger(__name__)

CONFIG_PATH = "pkg://ganaug.conf"


def _out_dir(cfg: DictConfig) -> Path:
    if cfg.get("out_dir"):
        return Path(cfg.out_dir)
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    raise ValueError("out_dir is not set: pass out_dir=... (train(cfg) called outside of Hydra)")


def _resume_path(cfg: DictConfig, ckpt_dir: Path) -> str | None:
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path)
        if not path.is_file():
            raise FileNotFoundError(f"ckpt_path={path} does not exist; drop ckpt_path to start afresh")
        return str(path)
    last = ckpt_dir / "last.ckpt"
    if cfg.get("resume", True) and last.is_file():
        return str(last)
    return None


def export_metadata(cfg: DictConfig) -> dict:
    """Run metadata recorded in every exported generator's JSON (final export and snapshots)."""
    return {
        "dataset": cfg.data.get("name", "unknown"),
        "data_split": data_split(cfg.data),
        "train_config": OmegaConf.to_container(cfg.gan, resolve=True),
    }


SPLIT_KEYS = ("n_per_class", "imbalance_ratio", "n_max", "data_seed", "val_fraction")


def data_split(data_cfg: DictConfig) -> dict:
    """Which labelled images a run trained on: `ganaug-tune` checks it to keep validation images unseen."""
    return {k: data_cfg.get(k) for k in SPLIT_KEYS}


def build_callbacks(cfg: DictConfig, out_dir: Path) -> list[pl.Callback]:
    callbacks = []
    for name, cb_cfg in (cfg.get("callbacks") or {}).items():
        if cb_cfg is None:
            continue
        cb = instantiate(cb_cfg)
        if isinstance(cb, GANCheckpoint) and cb.dirpath is None:
            cb.dirpath = str(out_dir / "checkpoints")
        if isinstance(cb, SampleGrid) and cb.dirpath is None:
            cb.dirpath = str(out_dir / "samples")
        if isinstance(cb, GeneratorSnapshots):
            if cb.dirpath is None:
                cb.dirpath = str(out_dir / "snapshots")
            if cb.extra is None:
                cb.extra = export_metadata(cfg)
        callbacks.append(cb)
    return callbacks


def train(cfg: DictConfig) -> dict:
    """Train per `cfg` (see conf/train.yaml); returns paths of what was written."""
    out_dir = _out_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(cfg.data)
    h, w, c = datamodule.image_shape
    if h != w:
        raise ValueError(f"images must be square for the GAN, got {h}x{w}; set data.dataset.size=[S,S]")
    gan = instantiate(
        cfg.gan,
        num_classes=datamodule.num_classes,
        image_size=h,
        channels=c,
        class_names=list(datamodule.class_names),
    )
    callbacks = build_callbacks(cfg, out_dir)
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
    ckpt_dir = next((Path(cb.dirpath) for cb in callbacks if isinstance(cb, GANCheckpoint)), out_dir / "checkpoints")
    ckpt_path = _resume_path(cfg, ckpt_dir)
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)
    trainer.fit(gan, datamodule=datamodule, ckpt_path=ckpt_path)

    result = {"out_dir": str(out_dir), "g_updates": int(gan.g_updates), "resumed_from": ckpt_path}
    if trainer.is_global_zero:
        export_path = out_dir / cfg.export_dir
        gan.export_generator(export_path, extra=export_metadata(cfg))
        result["generator"] = str(export_path)
        log.info("generator exported to %s after %d generator updates", export_path, int(gan.g_updates))
    return result


# Lightning warnings that do not apply to a GAN trained this way (EMA copy kept in eval mode on
# purpose; checkpoints taken after both optimizer steps by design).
QUIET = (
    r".*module\(s\) in eval mode.*",
    r".*no pre-optimization state was saved.*",
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*isinstance\(treespec, LeafSpec\).*",
)


def quiet_lightning() -> None:
    for pattern in QUIET:
        warnings.filterwarnings("ignore", message=pattern)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
def main(cfg: DictConfig) -> None:
    quiet_lightning()
    train(cfg)


if __name__ == "__main__":
    main()

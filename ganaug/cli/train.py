"""`ganaug-train`: train a GAN from the composed config (conf/train.yaml)."""

from __future__ import annotations

from omegaconf import DictConfig

from ganaug.cli.command import hydra_command
from ganaug.gan.train import quiet_lightning, train


def _run(cfg: DictConfig) -> None:
    quiet_lightning()
    train(cfg)


main = hydra_command("ganaug-train", "train", _run)

if __name__ == "__main__":
    main()

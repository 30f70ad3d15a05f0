"""`ganaug-train`: train a GAN from the composed config (conf/train.yaml)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from ganaug.cli.messages import user_errors
from ganaug.base.resources import set_threads
from ganaug.gan.train import CONFIG_PATH, quiet_lightning, train


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
@user_errors("ganaug-train")
def main(cfg: DictConfig) -> None:
    quiet_lightning()
    set_threads(cfg)
    train(cfg)


if __name__ == "__main__":
    main()

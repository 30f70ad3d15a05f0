"""`ganaug-sample`: write labelled synthetic images (and a grid) from an exported generator."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from .export import atomic_write_bytes, load_generator
from .grid import save_grid

log = logging.getLogger(__name__)


def save_samples_npz(path: Path, images: np.ndarray, labels: np.ndarray, class_names: list[str]) -> Path:
    buf = io.BytesIO()
    np.savez(buf, images=images, labels=labels, class_names=np.array(class_names))
    atomic_write_bytes(path, buf.getvalue())
    return path


def _safe_dirname(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "_"


def sample(cfg: DictConfig) -> dict:
    gen = load_generator(cfg.generator, device=cfg.device)
    images, labels = gen.sample(
        n_per_class=int(cfg.n_per_class), seed=int(cfg.seed), truncation=cfg.truncation, batch_size=int(cfg.batch_size)
    )
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    npz = save_samples_npz(out / "samples.npz", images, labels, gen.class_names)
    k = min(int(cfg.grid_per_class), int(cfg.n_per_class))
    per_class = np.stack([np.flatnonzero(labels == c)[:k] for c in range(gen.num_classes)]).reshape(-1)
    grid = save_grid(out / "grid.png", images[per_class], gen.class_names, title=f"{cfg.generator} (seed {cfg.seed})")
    if cfg.png:
        import cv2

        for i, (img, y) in enumerate(zip(images, labels)):
            d = out / "png" / _safe_dirname(gen.class_names[y])
            d.mkdir(parents=True, exist_ok=True)
            ok, data = cv2.imencode(".png", img if img.shape[2] == 1 else img[..., ::-1])
            atomic_write_bytes(d / f"{i:06d}.png", data.tobytes())
    log.info("wrote %d images to %s", len(images), npz)
    return {"samples": str(npz), "grid": str(grid), "n": len(images)}


@hydra.main(version_base="1.3", config_path="pkg://ganaug.conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    sample(cfg)


if __name__ == "__main__":
    main()

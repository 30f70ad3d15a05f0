"""Sample grids: one row per class, written as PNG (atomically)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ganaug.base.files import atomic_write_bytes


def tile(images: np.ndarray, rows: int, pad: int = 1) -> np.ndarray:
    """uint8 N×H×W×C -> one uint8 image with `rows` rows (row-major order)."""
    n, h, w, c = images.shape
    cols = -(-n // rows)
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        y0, x0 = pad + r * (h + pad), pad + col * (w + pad)
        canvas[y0 : y0 + h, x0 : x0 + w] = images[i]
    return canvas


def save_grid(path: str | Path, images: np.ndarray, class_names: Sequence[str], title: str | None = None) -> Path:
    """Save images laid out one row per class (images sorted by class, equal count per class)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = len(class_names)
    grid = tile(images, rows)
    per_row = grid.shape[0] / rows
    fig_h = max(2.0, rows * 0.45)
    fig_w = fig_h * grid.shape[1] / grid.shape[0] + 1.6
    fig, ax = plt.subplots(figsize=(fig_w, fig_h), dpi=100)
    cmap = "gray" if grid.shape[2] == 1 else None
    ax.imshow(grid[..., 0] if grid.shape[2] == 1 else grid, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([per_row * (r + 0.5) for r in range(rows)])
    ax.set_yticklabels(class_names, fontsize=8)
    ax.set_xticks([])
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)

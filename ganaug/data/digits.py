"""scikit-learn's 8×8 handwritten digits: tiny, bundled with scikit-learn, no download."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ganaug.data.arrays import ImageArrayDataset
from ganaug.errors import GanaugDataError

SPLITS = ("train", "test", "all")


def load_digits(
    split: str = "train",
    test_fraction: float = 0.25,
    split_seed: int = 0,
    transform: Callable | None = None,
) -> ImageArrayDataset:
    """The 1797 digits as 8×8×1 uint8 images (0..16 scaled to 0..255), classes "0".."9".

    ``train``/``test`` come from one stratified split fixed by ``split_seed``, so the two never
    overlap for the same seed and fraction; ``all`` is every image.
    """
    # Imported here: scikit-learn is slow to import and only this loader needs it.
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    if split not in SPLITS:
        raise GanaugDataError(f"unknown digits split {split!r}; use one of {list(SPLITS)}")
    if not 0.0 < test_fraction < 1.0:
        raise GanaugDataError(f"test_fraction must be in (0, 1), got {test_fraction}")
    bunch = sk_load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    names = [str(k) for k in range(10)]
    if split == "all":
        return ImageArrayDataset(images, labels, class_names=names, transform=transform)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, random_state=split_seed, stratify=labels
    )
    idx = np.sort(train_idx if split == "train" else test_idx)
    return ImageArrayDataset(images[idx], labels[idx], class_names=names, transform=transform)

"""Seeded per-class subsets: few labelled images per class, long-tail imbalance, train/val split.

Each class draws from its own random stream, seeded by (seed, purpose, class), and takes a
prefix of one permutation of its images. So for one seed, ``labelled_subset(ds, 50, s)`` is
contained in ``labelled_subset(ds, 100, s)``, and a class's choice does not depend on the others.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from ganaug.base.checks import positive_int
from ganaug.data.arrays import ImageArrayDataset, from_dataset
from ganaug.errors import GanaugDataError
from ganaug.base.rng import check_seed

# Separate streams per purpose, so a split of a subset is not a replay of the subset's draw.
_SUBSET_STREAM = 1
_SPLIT_STREAM = 2


def _as_arrays(ds: Dataset) -> ImageArrayDataset:
    return ds if isinstance(ds, ImageArrayDataset) else from_dataset(ds)


def _class_permutation(labels: np.ndarray, k: int, seed: int, stream: int) -> np.ndarray:
    idx = np.flatnonzero(labels == k)
    return np.random.default_rng([seed, stream, k]).permutation(idx)


def _take_per_class(ds: ImageArrayDataset, counts: list[int], seed: int) -> ImageArrayDataset:
    have = ds.class_counts()
    short = [
        f"{k} ({ds.class_names[k]!r}: has {have[k]}, needs {n})"
        for k, n in enumerate(counts)
        if have[k] < n
    ]
    if short:
        raise GanaugDataError(
            f"not enough images in class(es) {', '.join(short)}; lower the per-class count "
            "(data.n_per_class / data.n_max) or add images"
        )
    chosen = [
        _class_permutation(ds.labels, k, seed, _SUBSET_STREAM)[:n] for k, n in enumerate(counts)
    ]
    return ds.subset(np.sort(np.concatenate(chosen)))


def labelled_subset(ds: Dataset, n_per_class: int, seed: int) -> ImageArrayDataset:
    """Exactly ``n_per_class`` images of every class, chosen by ``seed``."""
    ds = _as_arrays(ds)
    seed = check_seed(seed)
    if (
        isinstance(n_per_class, bool)
        or not isinstance(n_per_class, (int, np.integer))
        or n_per_class < 1
    ):
        raise GanaugDataError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    return _take_per_class(ds, [int(n_per_class)] * ds.num_classes, seed)


def long_tail_counts(num_classes: int, imbalance_ratio: float, n_max: int) -> list[int]:
    """Class sizes decaying exponentially from ``n_max`` (class 0) to ``n_max / ratio`` (last)."""
    if num_classes == 1:
        return [int(n_max)]
    return [
        max(1, round(n_max * imbalance_ratio ** (-k / (num_classes - 1))))
        for k in range(num_classes)
    ]


def long_tail(
    ds: Dataset, imbalance_ratio: float, n_max: int | None = None, seed: int = 0
) -> ImageArrayDataset:
    """An exponentially imbalanced subset: class k keeps ``round(n_max * ratio ** (-k / (K - 1)))``.

    ``n_max`` defaults to the smallest class count of ``ds``, so every class can supply its share.
    """
    ds = _as_arrays(ds)
    seed = check_seed(seed)
    if not imbalance_ratio >= 1.0:
        raise GanaugDataError(
            f"imbalance_ratio must be >= 1 (largest / smallest class size), got {imbalance_ratio}"
        )
    if n_max is None:
        n_max = int(ds.class_counts().min())
    positive_int("n_max", n_max, error=GanaugDataError)
    return _take_per_class(
        ds, long_tail_counts(ds.num_classes, float(imbalance_ratio), int(n_max)), seed
    )


def train_val_split(
    ds: Dataset, val_fraction: float, seed: int
) -> tuple[ImageArrayDataset, ImageArrayDataset]:
    """Stratified split: each class sends ``round(count * val_fraction)`` images to validation.

    Every non-empty class keeps at least one training image; the validation set is empty when
    ``val_fraction`` is 0.
    """
    ds = _as_arrays(ds)
    seed = check_seed(seed)
    if not 0.0 <= val_fraction < 1.0:
        raise GanaugDataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    val_parts = []
    for k, count in enumerate(ds.class_counts()):
        n_val = min(round(int(count) * val_fraction), max(int(count) - 1, 0))
        val_parts.append(_class_permutation(ds.labels, k, seed, _SPLIT_STREAM)[:n_val])
    val_mask = np.zeros(len(ds), dtype=bool)
    val_mask[np.concatenate(val_parts).astype(np.int64)] = True
    return ds.subset(~val_mask), ds.subset(val_mask)

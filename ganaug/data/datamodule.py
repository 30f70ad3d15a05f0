"""LightningDataModule feeding the GAN its regime's labelled images as NCHW tensors in [-1, 1]."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from ganaug.data.arrays import ImageArrayDataset, from_dataset
from ganaug.data.subsets import labelled_subset, long_tail, train_val_split
from ganaug.errors import GanaugDataError
from ganaug.pixels import to_unit


class GANTensorDataset(Dataset):
    """Items ``(x, y)``: x float32 C×H×W in [-1, 1] (``img / 127.5 - 1``), y int64 scalar.

    Reads the raw uint8 images and ignores the dataset's transform: that transform is for the
    user's classifier, and the GAN augments its discriminator inputs itself.
    """

    def __init__(self, dataset: ImageArrayDataset) -> None:
        self.images = dataset.images
        self.labels = dataset.labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = torch.from_numpy(np.ascontiguousarray(self.images[index]))
        x = to_unit(image.permute(2, 0, 1))
        return x, torch.tensor(self.labels[index], dtype=torch.int64)


def _is_int(value: object) -> bool:
    # bool is an int subclass, but batch_size=true is a mistake, not 1.
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: object) -> bool:
    return _is_int(value) or isinstance(value, (float, np.floating))


def _int_setting(key: str, value: object, low: int, fix: str) -> Any:
    """``value`` as a Python int >= ``low``, or an error naming data.key and the fix."""
    if not _is_int(value) or value < low:  # type: ignore[operator]
        kind = "a positive integer" if low == 1 else "a non-negative integer"
        raise GanaugDataError(f"data.{key} must be {kind}, got {value!r}; {fix}")
    # DataLoader's sampler insists on a Python int; a numpy integer would fail there, later.
    return int(value)  # type: ignore[call-overload]


class GANDataModule(pl.LightningDataModule):
    """Selects the regime's images eagerly, so the GAN can be sized before ``fit``.

    Order: ``n_per_class`` images per class (``labelled_subset``) or a long-tail subset
    (``imbalance_ratio``, ``n_max``), then a stratified validation split of ``val_fraction``.
    ``labelled_set`` is everything the regime may see; the GAN trains on ``train_set``; ``val_set``
    is held out for choices such as the mixing ratio. No ``val_dataloader`` is defined: the GAN
    has no validation step.
    """

    def __init__(
        self,
        dataset: Dataset,
        name: str = "data",
        n_per_class: int | None = None,
        imbalance_ratio: float | None = None,
        n_max: int | None = None,
        data_seed: int = 0,
        val_fraction: float = 0.0,
        batch_size: int = 64,
        num_workers: int = 0,
        drop_last: bool = True,
    ) -> None:
        super().__init__()
        # Every setting is checked before the dataset is read, which can take a while, and
        # before a bad value can surface later as a traceback (batch_size=null in the loader).
        if n_per_class is not None:
            n_per_class = _int_setting(
                "n_per_class", n_per_class, 1, "set e.g. data.n_per_class=100, or null for all"
            )
        if n_max is not None:
            n_max = _int_setting(
                "n_max", n_max, 1, "set e.g. data.n_max=500, or null for the smallest class's count"
            )
        batch_size = _int_setting("batch_size", batch_size, 1, "set e.g. data.batch_size=64")
        num_workers = _int_setting(
            "num_workers", num_workers, 0, "set data.num_workers=0 to load in the main process"
        )
        data_seed = _int_setting("data_seed", data_seed, 0, "set e.g. data.data_seed=0")
        if imbalance_ratio is not None and not (
            _is_real(imbalance_ratio) and 1.0 <= imbalance_ratio < np.inf  # type: ignore[operator]
        ):
            raise GanaugDataError(
                f"data.imbalance_ratio must be a number >= 1 (largest / smallest class size) or "
                f"null, got {imbalance_ratio!r}; set e.g. data.imbalance_ratio=10"
            )
        if not (_is_real(val_fraction) and 0.0 <= val_fraction < 1.0):  # type: ignore[operator]
            raise GanaugDataError(
                f"data.val_fraction must be a number in [0, 1), got {val_fraction!r}; "
                "set e.g. data.val_fraction=0.1, or 0 for no validation split"
            )
        if not isinstance(drop_last, (bool, np.bool_)):
            raise GanaugDataError(f"data.drop_last must be true or false, got {drop_last!r}")
        if n_per_class is not None and imbalance_ratio is not None:
            raise GanaugDataError(
                "set either data.n_per_class (balanced regime) or data.imbalance_ratio (long-tail "
                "regime), not both; set the other to null"
            )
        if n_max is not None and imbalance_ratio is None:
            raise GanaugDataError(
                "data.n_max only applies with data.imbalance_ratio; set it to null"
            )

        full = dataset if isinstance(dataset, ImageArrayDataset) else from_dataset(dataset)
        if n_per_class is not None:
            labelled = labelled_subset(full, n_per_class, data_seed)
        elif imbalance_ratio is not None:
            labelled = long_tail(full, imbalance_ratio, n_max, data_seed)
        else:
            labelled = full
        self.name = name
        self.data_seed = data_seed
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.drop_last = bool(drop_last)
        self.labelled_set: ImageArrayDataset = labelled
        self.train_set, self.val_set = train_val_split(labelled, val_fraction, data_seed)

    @property
    def num_classes(self) -> int:
        return self.labelled_set.num_classes

    @property
    def class_names(self) -> list[str]:
        return list(self.labelled_set.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the images; the GAN's tensors are C×H×W."""
        return self.labelled_set.image_shape

    def train_dataloader(self) -> DataLoader:
        data = GANTensorDataset(self.train_set)
        return DataLoader(
            data,
            batch_size=self.batch_size,
            shuffle=True,
            # Dropping the only (short) batch of a tiny regime would leave nothing to train on.
            drop_last=self.drop_last and len(data) >= self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def __repr__(self) -> str:
        return (
            f"GANDataModule(name={self.name!r}, train={len(self.train_set)}, "
            f"val={len(self.val_set)}, "
            f"image_shape={self.image_shape}, num_classes={self.num_classes})"
        )

    # Lightning's __str__ builds every dataloader to describe them; the regime says more.
    __str__ = __repr__

"""LightningDataModule feeding the GAN its regime's labelled images as NCHW tensors in [-1, 1]."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ganaug.data.arrays import ImageArrayDataset, from_dataset
from ganaug.data.subsets import labelled_subset, long_tail, train_val_split
from ganaug.base.checks import check_flag
from ganaug.errors import GanaugDataError
from ganaug.base.pixels import to_unit


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


class ResumableShuffle(Sampler[int]):
    """Every epoch a new permutation of ``range(n)``, a function of ``seed`` and the epoch alone, and a
    position in that stream that a resumed run sets (`resume_at`): it then yields the rest of the epoch
    it stopped in, and the epochs after, exactly as the uninterrupted run did (a RandomSampler draws
    each epoch's order from the global RNG, which a resumed run has consumed differently)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.position = int(n), int(seed), 0

    def resume_at(self, batches: int, batch_size: int, drop_last: bool) -> None:
        per_epoch = self.n // batch_size if drop_last else -(-self.n // batch_size)
        epoch, batch = divmod(int(batches), max(per_epoch, 1))
        self.position = epoch * self.n + batch * batch_size

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        epoch, start = divmod(self.position, self.n)
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))
        for i in order[start:].tolist():
            self.position += 1
            yield i


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
        on_device: bool | str = "auto",
        shuffle_seed: int = 0,
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
        self.shuffle_seed = _int_setting("shuffle_seed", shuffle_seed, 0, "set e.g. seed=0")
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
        if not (isinstance(on_device, (bool, np.bool_)) or on_device == "auto"):
            raise GanaugDataError(f"data.on_device must be auto, true or false, got {on_device!r}")
        drop_last = check_flag("data.drop_last", drop_last, GanaugDataError)
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
        self.on_device = on_device if on_device == "auto" else bool(on_device)
        self._resident: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
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

    def holds_data_on_device(self) -> bool:
        """Whether training batches are gathered on the training device from one resident copy.

        ``on_device="auto"``: when a trainer is attached and trains off the CPU. There a batch
        assembled on the host costs a copy per step and the update is fast enough for that to show;
        the whole regime (uint8) fits in device memory once. On the CPU both paths give the same
        tensors, and the host path keeps ``train_dataloader()`` yielding images for anyone reading it.
        """
        if self.on_device != "auto":
            return bool(self.on_device)
        trainer = self.trainer
        return trainer is not None and trainer.strategy.root_device.type != "cpu"

    def _sampler(self, drop_last: bool) -> ResumableShuffle:
        sampler = ResumableShuffle(len(self.train_set), self.shuffle_seed)
        trainer = self.trainer
        module = getattr(trainer, "lightning_module", None)
        # A resumed run goes on from the batch it stopped at (one process: under DDP Lightning splits the order).
        if module is not None and hasattr(module, "batches_seen") and getattr(trainer, "world_size", 1) == 1:
            sampler.resume_at(module.batches_seen(), self.batch_size, drop_last)
        return sampler

    def train_dataloader(self) -> DataLoader:
        drop_last = self.drop_last and len(self.train_set) >= self.batch_size
        # Not the global RNG: DataLoader draws a worker seed from it at every epoch, a resumed run at another time.
        rng = torch.Generator().manual_seed(self.shuffle_seed)
        if self.holds_data_on_device():
            # Batches of indices (shuffled, and split across DDP ranks, as the images would be);
            # transfer_batch_to_device turns them into images where the resident copy lives.
            return DataLoader(range(len(self.train_set)), batch_size=self.batch_size,
                              sampler=self._sampler(drop_last), drop_last=drop_last, generator=rng)
        data = GANTensorDataset(self.train_set)
        return DataLoader(
            data,
            batch_size=self.batch_size,
            sampler=self._sampler(drop_last),
            generator=rng,
            # Dropping the only (short) batch of a tiny regime would leave nothing to train on.
            drop_last=drop_last,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if not isinstance(batch, torch.Tensor):  # (images, labels) from the host path
            return super().transfer_batch_to_device(batch, device, dataloader_idx)
        images, labels = self._resident_on(device)
        index = batch.to(device)  # the only per-step copy: batch_size integers
        return to_unit(images[index]), labels[index]

    def _resident_on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._resident:
            # Same conversion as GANTensorDataset, applied per batch on the device: same tensors.
            images = torch.from_numpy(np.ascontiguousarray(self.train_set.images)).permute(0, 3, 1, 2)
            labels = torch.as_tensor(np.asarray(self.train_set.labels), dtype=torch.int64)
            self._resident[device] = (images.to(device), labels.to(device))
        return self._resident[device]

    def __repr__(self) -> str:
        return (
            f"GANDataModule(name={self.name!r}, train={len(self.train_set)}, "
            f"val={len(self.val_set)}, "
            f"image_shape={self.image_shape}, num_classes={self.num_classes})"
        )

    # Lightning's __str__ builds every dataloader to describe them; the regime says more.
    __str__ = __repr__

"""Where a `SyntheticMix` gets its synthetic images: a bank, or a generator run on the fly.

A source answers one question, "the uint8 H×W×C images of these slots of this epoch", after the mix
has told it the epoch's slot labels (`prepare`). Everything the mix does not need to know about the
kind of source (bank supply, refresh, noise, chunked generation) stays here.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from ganaug.base.checks import positive_int
from ganaug.mix.bank import META_FILE as BANK_META
from ganaug.mix.bank import SyntheticBank, as_trained_generator
from ganaug.errors import ArtifactError, ConfigError
from ganaug.gan.artifact import META_FILE as GENERATOR_META
from ganaug.mix.plan import bank_slots
from ganaug.gan.nets import Generator
from ganaug.base.rng import derive_key, normal
from ganaug.gan.sampling import TrainedGenerator, check_truncation, to_uint8_hwc

NOISE_TAG = 0xA3
REFRESH_NEEDS_GENERATOR = ("refresh needs a bank that knows its generator: SyntheticBank.generate(...) or "
                           "SyntheticBank.open(path, generator=...)")

Source = SyntheticBank | TrainedGenerator | Generator | str | os.PathLike | None


@runtime_checkable
class SyntheticSource(Protocol):
    """What a `SyntheticMix` needs of a source; an object with these members may be passed as one."""

    kind: str  # "bank" or "generator", for messages
    num_classes: int
    class_names: list[str]
    image_shape: tuple[int, int, int]

    def check_quota(self, quota: np.ndarray, n_syn: int) -> None:
        """Fail (or warn) when one epoch's draw asks for what the source cannot give."""

    def set_epoch(self, epoch: int) -> None:
        """Called in the main process before each epoch."""

    def prepare(self, seed: int, epoch: int, labels: np.ndarray, quota: np.ndarray) -> None:
        """Take the epoch's slot labels (called in each process that fetches items)."""

    def images(self, slots: np.ndarray) -> np.ndarray:
        """uint8 N×H×W×C images of these slots."""

    def image(self, slot: int) -> np.ndarray:
        """One slot's image (single-item access)."""


class BankSource:
    """Images from a `SyntheticBank`: each slot a distinct bank image of its label."""

    kind = "bank"

    def __init__(self, bank: SyntheticBank, refresh: float | None = None) -> None:
        if refresh is not None:
            if bank.generator is None:
                raise ConfigError(REFRESH_NEEDS_GENERATOR)
            if not 0.0 < float(refresh) <= 1.0:
                raise ConfigError(f"refresh must be a fraction in (0, 1] of the bank, got {refresh!r}")
        self.bank = bank
        self.refresh = None if refresh is None else float(refresh)
        self._refreshed_epoch = 0
        self.num_classes, self.class_names = bank.num_classes, list(bank.class_names)
        self.image_shape = tuple(bank.image_shape)

    def check_quota(self, quota: np.ndarray, n_syn: int) -> None:
        have = self.bank.class_counts()
        names = self.class_names
        empty = [names[k] for k in np.flatnonzero((quota > 0) & (have == 0))]
        if empty:
            raise ArtifactError(
                f"the bank has no images of {empty}, which class_policy asks for; generate the bank "
                "with class_policy='uniform' (or the policy used here)"
            )
        short = [f"{names[k]!r} ({have[k]} for {quota[k]})" for k in np.flatnonzero(quota > have)]
        if short:
            warnings.warn(
                f"the bank is smaller than one epoch's synthetic draw for {', '.join(short)}: those "
                f"images repeat within an epoch; generate a bank of at least {n_syn} images "
                "with the same class policy",
                stacklevel=3,
            )

    def set_epoch(self, epoch: int) -> None:
        if self.refresh is not None and epoch > 0 and epoch != self._refreshed_epoch:
            self.bank.refresh(self.refresh, round=epoch)
            self._refreshed_epoch = epoch

    def prepare(self, seed: int, epoch: int, labels: np.ndarray, quota: np.ndarray) -> None:
        self.bank.sync()  # another process may have refreshed it
        self._slots = bank_slots(seed, epoch, labels, quota, np.asarray(self.bank.labels))

    def images(self, slots: np.ndarray) -> np.ndarray:
        return np.asarray(self.bank.images[self._slots[slots]])

    def image(self, slot: int) -> np.ndarray:
        return self.images(np.array([slot]))[0]


class GeneratorSource:
    """Images generated on the fly: slot j of epoch e from the noise counter (seed, e, j)."""

    kind = "generator"

    def __init__(self, generator: TrainedGenerator, truncation: float | None = None, chunk_size: int = 64) -> None:
        self.generator = generator
        self.truncation = check_truncation(truncation)
        self.chunk_size = int(chunk_size)
        self.num_classes, self.class_names = generator.num_classes, list(generator.class_names)
        self.image_shape = tuple(generator.image_shape)
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def check_quota(self, quota: np.ndarray, n_syn: int) -> None:
        pass  # a generator makes any number of images of any class

    def set_epoch(self, epoch: int) -> None:
        pass

    def prepare(self, seed: int, epoch: int, labels: np.ndarray, quota: np.ndarray) -> None:
        self._cache.clear()
        self._key, self._epoch, self._labels = derive_key(seed, NOISE_TAG, epoch), epoch, labels

    def images(self, slots: np.ndarray) -> np.ndarray:
        z = normal(self._key, slots, self.generator.z_dim, self.truncation)
        y = torch.from_numpy(self._labels[slots])
        return to_uint8_hwc(self.generator.generate(torch.from_numpy(z), y))

    def image(self, slot: int) -> np.ndarray:
        # Generate the aligned chunk around the slot once, so sequential single-item access still
        # runs one forward per chunk_size items.
        block = slot // self.chunk_size
        key = (self._epoch, block)
        if key not in self._cache:
            if len(self._cache) >= 4:
                self._cache.pop(next(iter(self._cache)))
            start = block * self.chunk_size
            self._cache[key] = self.images(np.arange(start, min(start + self.chunk_size, len(self._labels))))
        return self._cache[key][slot - block * self.chunk_size].copy()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": {}}


def open_source(
    source: Source, *, truncation: float | None = None, refresh: float | None = None, chunk_size: int = 64
) -> SyntheticSource | None:
    """A bank, a generator, or the directory of either, as the source a mix draws from."""
    chunk_size = positive_int("chunk_size", chunk_size, why="items generated by one forward")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if (path / BANK_META).is_file():
            source = SyntheticBank.open(path)
        elif (path / GENERATOR_META).is_file():
            source = as_trained_generator(path)
        else:
            raise ArtifactError(
                f"{path} is neither a synthetic bank ({BANK_META}) nor a generator artifact "
                f"({GENERATOR_META}); pass the directory written by SyntheticBank.generate / "
                "`ganaug-sample bank.enabled=true`, or by ganaug-train"
            )
    elif isinstance(source, Generator):
        source = as_trained_generator(source)
    if isinstance(source, SyntheticBank):
        if truncation is not None:
            raise ConfigError(
                "truncation is fixed when a bank is generated; pass it to SyntheticBank.generate, "
                "or use a generator source (on-the-fly mode)"
            )
        return BankSource(source, refresh)
    if refresh is not None:
        raise ConfigError(REFRESH_NEEDS_GENERATOR)
    if isinstance(source, TrainedGenerator):
        return GeneratorSource(source, truncation, chunk_size)
    if source is None:
        check_truncation(truncation)
        return None
    if isinstance(source, SyntheticSource):
        if truncation is not None:
            raise ConfigError("truncation applies to generator sources only; a custom source draws its own images")
        return source
    raise TypeError(
        "source must be a SyntheticBank, a TrainedGenerator (on-the-fly mode), the path of a bank "
        f"or generator directory, or an object with SyntheticSource's members; got {type(source).__name__}"
    )

"""Samplers for a `SyntheticMix`: seeded shuffling, and batches with an exact synthetic share.

Both read the epoch from the mix and forward `set_epoch` to it, which is how Lightning (it calls
``set_epoch`` on ``loader.sampler`` and ``loader.batch_sampler.sampler``) advances the mix.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from .mix import SyntheticMix
from .rng import numpy_rng

_SHUFFLE_TAG = 0xC1
_REAL_ORDER_TAG = 0xC2
_BATCH_TAG = 0xC3


def _check_mix(mix) -> SyntheticMix:
    if not isinstance(mix, SyntheticMix):
        raise TypeError(f"expected a SyntheticMix, got {type(mix).__name__}")
    return mix


class SyntheticMixSampler(Sampler[int]):
    """Every index of the mix once per epoch, shuffled from (mix.seed, epoch)."""

    def __init__(self, mix: SyntheticMix, shuffle: bool = True) -> None:
        self.mix = _check_mix(mix)
        self.shuffle = bool(shuffle)

    def set_epoch(self, epoch: int) -> None:
        self.mix.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        n = len(self.mix)
        if not self.shuffle:
            return iter(range(n))
        return iter(numpy_rng(self.mix.seed, _SHUFFLE_TAG, self.mix.epoch).permutation(n).tolist())

    def __len__(self) -> int:
        return len(self.mix)


class _EpochSetter:
    # Lightning calls set_epoch on `batch_sampler.sampler`, not on the batch sampler itself.
    def __init__(self, owner: MixedBatchSampler) -> None:
        self._owner = owner

    def set_epoch(self, epoch: int) -> None:
        self._owner.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self._owner.mix)


class MixedBatchSampler(Sampler[list[int]]):
    """Batches of the mix in which the synthetic share is the same in every batch.

    Synthetic positions are spread evenly over the epoch (every real item still appears once):
    a batch of ``batch_size`` holds ``batch_size · n_syn / len(mix)`` synthetic items, exactly
    when that is a whole number (e.g. ratio 0.25 and batch_size 64: 16), otherwise the floor or
    the ceiling of it. Use as ``DataLoader(mix, batch_sampler=MixedBatchSampler(mix, 64))``.
    """

    def __init__(self, mix: SyntheticMix, batch_size: int, drop_last: bool = False, shuffle: bool = True) -> None:
        self.mix = _check_mix(mix)
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)
        self.shuffle = bool(shuffle)
        self.sampler = _EpochSetter(self)

    def set_epoch(self, epoch: int) -> None:
        self.mix.set_epoch(epoch)

    def synthetic_per_batch(self) -> float:
        return self.batch_size * self.mix.n_syn / len(self.mix)

    def _order(self) -> np.ndarray:
        mix, epoch = self.mix, self.mix.epoch
        n, n_syn = len(mix), mix.n_syn
        p = np.arange(n, dtype=np.int64)
        # Bresenham: position p is synthetic when floor((p + 1)·n_syn / n) steps up.
        is_syn = ((p + 1) * n_syn // n - p * n_syn // n).astype(bool)
        real = np.arange(mix.n_real, dtype=np.int64)
        if self.shuffle:
            real = numpy_rng(mix.seed, _REAL_ORDER_TAG, epoch).permutation(real)
        order = np.empty(n, dtype=np.int64)
        order[~is_syn] = real
        # Slots in increasing order: their content is already shuffled by the mix's plan.
        order[is_syn] = mix.n_real + np.arange(n_syn, dtype=np.int64)
        return order

    def __iter__(self) -> Iterator[list[int]]:
        order = self._order()
        rng = numpy_rng(self.mix.seed, _BATCH_TAG, self.mix.epoch) if self.shuffle else None
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            batch = order[start : start + self.batch_size]
            if rng is not None:
                batch = rng.permutation(batch)
            yield batch.tolist()

    def __len__(self) -> int:
        n = len(self.mix)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

"""Samplers for a `SyntheticMix`: seeded shuffling, and batches with an exact synthetic share.

Both read the epoch from the mix and forward `set_epoch` to it, which is how Lightning (it calls
``set_epoch`` on ``loader.sampler`` and ``loader.batch_sampler.sampler``) advances the mix.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import DistributedSampler, Sampler

from ganaug.base.checks import check_flag, non_negative_int, positive_int
from ganaug.errors import ConfigError
from ganaug.mix.dataset import SyntheticMix
from ganaug.base.rng import numpy_rng

_SHUFFLE_TAG = 0xC1
_REAL_ORDER_TAG = 0xC2
_BATCH_TAG = 0xC3


def _synthetic_mask(mix: SyntheticMix) -> np.ndarray:
    syn = np.zeros(len(mix), dtype=bool)
    syn[mix.synthetic_indices()] = True
    return syn


def _check_mix(mix) -> SyntheticMix:
    if not isinstance(mix, SyntheticMix):
        raise TypeError(f"expected a SyntheticMix, got {type(mix).__name__}")
    return mix


class SyntheticMixSampler(Sampler[int]):
    """Every index of the mix once per epoch, shuffled from (mix.seed, epoch)."""

    def __init__(self, mix: SyntheticMix, shuffle: bool = True) -> None:
        self.mix = _check_mix(mix)
        self.shuffle = check_flag("shuffle", shuffle)

    def set_epoch(self, epoch: int) -> None:
        self.mix.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        n = len(self.mix)
        if not self.shuffle:
            return iter(range(n))
        # Permuting the items ranked real ones first, then slots, gives a seed the item sequence it
        # gave when the slots came after the real items, so earlier runs still reproduce.
        syn = _synthetic_mask(self.mix)
        items = np.concatenate([np.flatnonzero(~syn), np.flatnonzero(syn)])
        return iter(items[numpy_rng(self.mix.seed, _SHUFFLE_TAG, self.mix.epoch).permutation(n)].tolist())

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

    Distributed: with ``num_replicas`` and ``rank``, each process gets every ``num_replicas``-th
    batch of the same epoch plan (padded by wrapping around, like `DistributedSampler`, so every
    process takes as many steps; ``drop_last`` drops the remainder instead). Under Lightning's DDP
    this happens by itself: Lightning rebuilds the batch sampler around a `DistributedSampler` of
    the mix, which is accepted in place of the mix and gives its replicas and rank (shuffling then
    is this class's own, on by default).
    """

    def __init__(self, mix: SyntheticMix | DistributedSampler, batch_size: int, drop_last: bool = False,
                 shuffle: bool = True, *, num_replicas: int | None = None, rank: int | None = None) -> None:
        if isinstance(mix, DistributedSampler):
            num_replicas = mix.num_replicas if num_replicas is None else num_replicas
            rank = mix.rank if rank is None else rank
            mix = mix.dataset
        self.mix = _check_mix(mix)
        positive_int("batch_size", batch_size)
        # int() would cut them: rank '1' or 1.5 taken for 1, 2.7 replicas for 2.
        self.num_replicas = 1 if num_replicas is None else positive_int("num_replicas", num_replicas,
                                                                         why="processes sharing the epoch")
        self.rank = 0 if rank is None else non_negative_int("rank", rank, why="this process's index")
        if not self.rank < self.num_replicas:
            raise ConfigError(f"rank must lie in [0, num_replicas), got rank {rank} of {num_replicas}")
        self.batch_size = int(batch_size)
        self.drop_last = check_flag("drop_last", drop_last)
        self.shuffle = check_flag("shuffle", shuffle)
        self.sampler = _EpochSetter(self)

    def set_epoch(self, epoch: int) -> None:
        self.mix.set_epoch(epoch)

    def synthetic_per_batch(self) -> float:
        return self.batch_size * self.mix.n_syn / len(self.mix)

    def _order(self) -> np.ndarray:
        # The mix's own layout already spreads its slots evenly; shuffling moves real items only,
        # since the slots' content is already shuffled by the mix's plan.
        order = np.arange(len(self.mix), dtype=np.int64)
        if self.shuffle:
            real = ~_synthetic_mask(self.mix)
            order[real] = numpy_rng(self.mix.seed, _REAL_ORDER_TAG, self.mix.epoch).permutation(order[real])
        return order

    def _all_batches(self) -> list[list[int]]:
        order = self._order()
        rng = numpy_rng(self.mix.seed, _BATCH_TAG, self.mix.epoch) if self.shuffle else None
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        batches = []
        for start in range(0, stop, self.batch_size):
            batch = order[start : start + self.batch_size]
            if rng is not None:
                batch = rng.permutation(batch)
            batches.append(batch.tolist())
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all_batches()
        if self.num_replicas > 1:
            # Every process builds the same plan and takes its own share of the batches.
            total = len(self) * self.num_replicas
            batches = (batches * -(-total // max(len(batches), 1)))[:total]
            batches = batches[self.rank::self.num_replicas]
        return iter(batches)

    def _n_batches(self) -> int:
        n = len(self.mix)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __len__(self) -> int:
        n = self._n_batches()
        if self.num_replicas == 1:
            return n
        # Equal steps on every process: a rank with one batch more would wait for ever in DDP.
        return n // self.num_replicas if self.drop_last else -(-n // self.num_replicas)

"""The pure part of a `SyntheticMix`: where its synthetic items sit, and what each is this epoch.

Everything here is a function of (seed, epoch, sizes, quota): no dataset, no source, no state, so a
worker, a sampler or a test computes the same plan from the same numbers.

Index layout: the epoch's ``n_syn`` synthetic *slots* are spread evenly among the real items, which
keep their order (index i is synthetic when ``floor((i + 1)·n_syn / len)`` steps up), so any run of
consecutive indices, and so every batch of an unshuffled DataLoader, holds the mix's share of
synthetic items. Slot j of epoch e has a label from the class policy's exact quota, shuffled by
(seed, e); a bank source gives it a distinct bank image of that label (per-class permutations
seeded by (seed, e, class)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ganaug.errors import ConfigError
from ganaug.base.rng import numpy_rng

PLAN_TAG = 0xA1
BANK_TAG = 0xA2

# At 0.95 an epoch is already 20 times the real dataset (19 synthetic items per real one, 3 real
# items in a batch of 64); past it the real data hardly takes part while the epoch's plan (16 bytes
# a slot) grows without bound: 0.999999 on 1,350 real items asked for 1.35e9 slots.
MAX_RATIO = 0.95


def check_ratio(ratio) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.integer, np.floating)):
        raise ConfigError(f"ratio must be a number in [0, 1), got {ratio!r}")
    ratio = float(ratio)
    if not 0.0 <= ratio < 1.0:
        raise ConfigError(
            f"ratio must be in [0, 1) (the expected fraction of synthetic items in a batch), got {ratio}; "
            "0 leaves the real dataset unchanged, 0.5 makes half of every batch synthetic"
        )
    return ratio


def synthetic_count(n_real: int, ratio: float) -> int:
    """Synthetic items per epoch for ``n_real`` real ones at ``ratio``."""
    if ratio > MAX_RATIO:
        n_syn = n_real * ratio / (1.0 - ratio)
        raise ConfigError(
            f"ratio={ratio} means {round(n_syn):,} synthetic items for {n_real:,} real ones "
            f"({n_syn / n_real:,.0f} per real item), past the limit of ratio {MAX_RATIO} "
            f"({MAX_RATIO / (1 - MAX_RATIO):.0f} per real item); use ratio <= {MAX_RATIO}"
        )
    return math.floor(n_real * ratio / (1.0 - ratio) + 0.5)


@dataclass(frozen=True)
class IndexLayout:
    """Which indices of a mix of ``n_real`` real items and ``n_syn`` slots are synthetic."""

    n_real: int
    n_syn: int

    def __len__(self) -> int:
        return self.n_real + self.n_syn

    def locate(self, idx):
        """Index (int or int64 array) -> (is synthetic, real index or synthetic slot).

        The whole index layout lives here: every other mapping (samplers included) derives from it.
        """
        # Bresenham: floor(i·n_syn / len) synthetic indices come before i, and i is one of them
        # when that count steps up at i + 1. int64 holds i·n_syn up to ~1.5e8 real items.
        before = idx * self.n_syn // len(self)
        syn = (idx + 1) * self.n_syn // len(self) > before
        if isinstance(idx, np.ndarray):
            return syn, np.where(syn, before, idx - before)
        return syn, before if syn else idx - before

    def synthetic_indices(self) -> np.ndarray:
        """The index of each synthetic slot, in slot order (increasing)."""
        return np.flatnonzero(self.locate(np.arange(len(self), dtype=np.int64))[0])


def slot_labels(seed: int, epoch: int, quota: np.ndarray) -> np.ndarray:
    """The label of each slot in an epoch: the quota's labels, shuffled by (seed, epoch)."""
    rng = numpy_rng(seed, PLAN_TAG, epoch)
    return rng.permutation(np.repeat(np.arange(len(quota)), quota))


def bank_slots(seed: int, epoch: int, labels: np.ndarray, quota: np.ndarray, bank_labels: np.ndarray) -> np.ndarray:
    """Slot -> bank index: per class, a fresh permutation of that class's bank images.

    A class asked for more often than the bank holds it repeats its permutation (the mix warns).
    """
    out = np.empty(len(labels), dtype=np.int64)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(quota)])
    for k in np.flatnonzero(quota):
        pool = np.flatnonzero(bank_labels == k)
        perm = numpy_rng(seed, BANK_TAG, epoch, int(k)).permutation(pool)
        slots = order[starts[k] : starts[k + 1]]
        out[slots] = perm[np.arange(len(slots)) % len(perm)]
    return out

"""Put a `SyntheticMix` into an existing DataLoader or LightningDataModule in one call."""

from __future__ import annotations

from typing import Any

from torch.utils.data import DataLoader, IterableDataset, RandomSampler, SequentialSampler

from ganaug.base.checks import check_flag
from ganaug.errors import ConfigError
from ganaug.mix.dataset import NO_SOURCE, Source, SyntheticMix
from ganaug.mix.plan import check_ratio
from ganaug.mix.samplers import MixedBatchSampler, SyntheticMixSampler

# DataLoader settings carried over as they are; batching and sampling are rebuilt for the mix.
_KEPT = (
    "num_workers", "collate_fn", "pin_memory", "timeout", "worker_init_fn",
    "multiprocessing_context", "generator", "persistent_workers", "pin_memory_device", "in_order",
)


def mix_dataloader(
    loader: DataLoader, source: Source, ratio: float, *, exact: bool = False, **mix_kwargs: Any
) -> DataLoader:
    """The same DataLoader (batch size, workers, collate_fn, ...) over ``SyntheticMix(loader.dataset, ...)``.

    Shuffling is kept (seeded by the mix's ``seed``, advanced by ``set_epoch``); ``exact=True``
    batches with `MixedBatchSampler` so every batch has the same synthetic share.
    ``mix_kwargs`` go to `SyntheticMix` (class_policy, transform, seed, return_flag, ...).
    """
    if not isinstance(loader, DataLoader):
        raise TypeError(f"expected a torch DataLoader, got {type(loader).__name__}")
    check_flag("exact", exact)
    if isinstance(loader.dataset, IterableDataset):
        raise TypeError("mix_dataloader needs a map-style dataset; an IterableDataset has no items to index")
    if isinstance(loader.dataset, SyntheticMix):
        raise ConfigError("this loader is already mixed: its dataset is a SyntheticMix; mix the real loader once")
    if loader.batch_size is None and loader.batch_sampler is None:
        raise ConfigError("the loader has batch_size=None (no batching); give it a batch_size, or build "
                          "DataLoader(SyntheticMix(...), ...) yourself")
    if loader.batch_size is None:
        raise ConfigError(
            "the loader uses a custom batch_sampler; build DataLoader(SyntheticMix(...), "
            "batch_sampler=MixedBatchSampler(mix, batch_size)) yourself"
        )
    sampler = loader.sampler
    if not isinstance(sampler, (RandomSampler, SequentialSampler)):
        raise ConfigError(
            f"the loader uses a {type(sampler).__name__}, which cannot be carried over to a dataset "
            "with more items; build DataLoader(SyntheticMix(...), ...) with your own sampler over it"
        )
    if isinstance(sampler, RandomSampler) and (sampler.replacement or sampler.num_samples != len(loader.dataset)):
        # The mix shuffles each item once an epoch: draws with replacement, or another epoch length, would be
        # dropped without a word.
        raise ConfigError(
            f"the loader's RandomSampler draws {'with replacement' if sampler.replacement else 'without replacement'}, "
            f"{sampler.num_samples} items an epoch from {len(loader.dataset)}; the mix shuffles every item once an "
            "epoch, so this cannot be carried over: build DataLoader(SyntheticMix(...), ...) with your own sampler "
            "over it, or use shuffle=True"
        )
    mix = SyntheticMix(loader.dataset, source, ratio, **mix_kwargs)
    shuffle = isinstance(sampler, RandomSampler)
    kept = {k: getattr(loader, k) for k in _KEPT if hasattr(loader, k)}
    if loader.num_workers > 0:
        kept["prefetch_factor"] = loader.prefetch_factor
    if exact:
        batches = MixedBatchSampler(mix, loader.batch_size, drop_last=loader.drop_last, shuffle=shuffle)
        return DataLoader(mix, batch_sampler=batches, **kept)
    return DataLoader(
        mix, batch_size=loader.batch_size, sampler=SyntheticMixSampler(mix, shuffle),
        drop_last=loader.drop_last, **kept,
    )


def mix_datamodule(datamodule: Any, source: Source, ratio: float, *, exact: bool = False, **mix_kwargs: Any):
    """Make ``datamodule.train_dataloader()`` return a mixed loader; val/test/predict stay real.

    Changes the instance in place and returns it. Lightning advances the mix's epoch through the
    sampler's ``set_epoch``.
    """
    if not callable(getattr(datamodule, "train_dataloader", None)):
        raise TypeError(f"mix_datamodule: datamodule must be a LightningDataModule (or any object with a "
                        f"train_dataloader method), got {type(datamodule).__name__}; for a DataLoader, use "
                        "mix_dataloader(loader, source, ratio)")
    original = datamodule.train_dataloader
    if getattr(original, "_ganaug_mixed", False):
        raise ConfigError("this datamodule's train_dataloader is already mixed")
    # Checked now, not when Lightning first asks for the loader (after the model and trainer are set up).
    if check_ratio(ratio) > 0 and source is None:
        raise ConfigError(NO_SOURCE)
    check_flag("exact", exact)

    def train_dataloader():
        return mix_dataloader(original(), source, ratio, exact=exact, **mix_kwargs)

    train_dataloader._ganaug_mixed = True  # type: ignore[attr-defined]
    datamodule.train_dataloader = train_dataloader
    return datamodule

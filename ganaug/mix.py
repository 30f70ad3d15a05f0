"""`SyntheticMix`: a Dataset that adds synthetic items to any real (image, label) Dataset.

Index layout: the epoch's ``n_syn`` synthetic *slots* are spread evenly among the real items, which
keep their order (index i is synthetic when ``floor((i + 1)·n_syn / len)`` steps up; see
`SyntheticMix._locate`), so that any run of consecutive indices, and so every batch of an
unshuffled DataLoader, holds the mix's share of synthetic items. Slot j of epoch e has a label
from the class policy's exact quota (shuffled by (seed, e)) and, in bank mode, a distinct bank
image of that label (per-class permutations seeded by (seed, e)); in on-the-fly mode, noise from
the counter (seed, e, j). The content of an index therefore depends only on (seed, epoch,
index): never on the worker that fetches it or the order of requests, so workers cannot repeat
each other and any worker count reproduces the same synthetic items.

The epoch lives in shared memory, so `set_epoch` in the main process reaches persistent workers.
"""

from __future__ import annotations

import functools
import math
import operator
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from .bank import META_FILE as BANK_META
from .bank import SyntheticBank, as_trained_generator
from .class_policy import ClassPolicy, class_probabilities, quota
from .data.arrays import ImageArrayDataset, _is_albumentations
from .errors import ArtifactError, GanaugDataError
from .export import META_FILE as GENERATOR_META
from .mix_checks import FIX, dataset_attr, describe, is_pil, item_mismatch, probe_image, range_mismatch
from .nets import Generator
from .rng import derive_key, normal, numpy_rng
from .errors import ConfigError
from .sampling import TrainedGenerator, check_truncation, to_uint8_hwc

_PLAN_TAG = 0xA1
_BANK_TAG = 0xA2
_NOISE_TAG = 0xA3
_AUG_TAG = 0xA4

Source = SyntheticBank | TrainedGenerator | Generator | str | os.PathLike | None


def _open_source(source: Source) -> SyntheticBank | TrainedGenerator | None:
    if source is None or isinstance(source, (SyntheticBank, TrainedGenerator)):
        return source
    if isinstance(source, Generator):
        return as_trained_generator(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if (path / BANK_META).is_file():
            return SyntheticBank.open(path)
        if (path / GENERATOR_META).is_file():
            return as_trained_generator(path)
        raise ArtifactError(
            f"{path} is neither a synthetic bank ({BANK_META}) nor a generator artifact "
            f"({GENERATOR_META}); pass the directory written by SyntheticBank.generate / "
            "`ganaug-sample bank.enabled=true`, or by ganaug-train"
        )
    raise TypeError(
        "source must be a SyntheticBank, a TrainedGenerator (on-the-fly mode), or the path of a bank "
        f"or generator directory; got {type(source).__name__}"
    )


def _check_ratio(ratio: Any) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.integer, np.floating)):
        raise ValueError(f"ratio must be a number in [0, 1), got {ratio!r}")
    ratio = float(ratio)
    if not 0.0 <= ratio < 1.0:
        raise ValueError(
            f"ratio must be in [0, 1) (the expected fraction of synthetic items in a batch), got {ratio}; "
            "0 leaves the real dataset unchanged, 0.5 makes half of every batch synthetic"
        )
    return ratio


# At 0.95 an epoch is already 20 times the real dataset (19 synthetic items per real one, 3 real
# items in a batch of 64); past it the real data hardly takes part while the epoch's plan (16 bytes
# a slot) grows without bound: 0.999999 on 1,350 real items asked for 1.35e9 slots.
MAX_RATIO = 0.95


def _synthetic_count(n_real: int, ratio: float) -> int:
    if ratio > MAX_RATIO:
        n_syn = n_real * ratio / (1.0 - ratio)
        raise ConfigError(
            f"ratio={ratio} means {round(n_syn):,} synthetic items for {n_real:,} real ones "
            f"({n_syn / n_real:,.0f} per real item), past the limit of ratio {MAX_RATIO} "
            f"({MAX_RATIO / (1 - MAX_RATIO):.0f} per real item); use ratio <= {MAX_RATIO}"
        )
    return math.floor(n_real * ratio / (1.0 - ratio) + 0.5)


def _real_labels(ds: Dataset, given: Any) -> np.ndarray:
    if given is not None:
        labels = np.asarray(given).reshape(-1)
    else:
        labels = None
        for attr in ("labels", "targets"):
            value = getattr(ds, attr, None)
            if value is not None and len(value) == len(ds):
                labels = np.asarray(value).reshape(-1)
                break
        if labels is None and isinstance(ds, torch.utils.data.Subset):
            base = _real_labels_or_none(ds.dataset)
            if base is not None:
                labels = base[np.asarray(ds.indices)]
        if labels is None:
            # Runs the dataset's own transform once per item; pass real_labels to avoid it.
            labels = np.array([int(ds[i][1]) for i in range(len(ds))])
    if len(labels) != len(ds):
        raise ValueError(f"real_labels has {len(labels)} entries for a dataset of {len(ds)} items")
    if not np.issubdtype(labels.dtype, np.integer):
        raise GanaugDataError(f"real labels must be integer class indices, got dtype {labels.dtype}")
    return labels.astype(np.int64)


def _real_labels_or_none(ds: Dataset) -> np.ndarray | None:
    for attr in ("labels", "targets"):
        value = getattr(ds, attr, None)
        if value is not None and len(value) == len(ds):
            return np.asarray(value).reshape(-1)
    return None


class _LabelLike:
    """Makes synthetic labels of the real labels' type: int, numpy integer, or tensor."""

    # A class, not a closure: workers started with spawn receive the mix pickled.
    def __init__(self, example: Any) -> None:
        self.dtype, self.shape, self.type = None, None, None
        if isinstance(example, torch.Tensor):
            if example.is_floating_point() or example.numel() != 1:
                raise GanaugDataError(f"real labels must be integer class indices, got {describe(example)}")
            self.dtype, self.shape = example.dtype, example.shape
        elif isinstance(example, np.integer):
            self.type = type(example)
        elif isinstance(example, (bool, np.bool_)) or not isinstance(example, int):
            raise GanaugDataError(
                f"real labels must be integer class indices, got {type(example).__name__} {example!r}"
            )

    def __call__(self, y: int) -> Any:
        if self.dtype is not None:
            return torch.tensor(y, dtype=self.dtype).reshape(self.shape)
        return y if self.type is None else self.type(y)


def _keyword_call(transform: Callable, image: Any) -> Any:
    return transform(image=image)["image"]


def _caller(transform: Callable | None) -> Callable | None:
    """The transform as a one-argument function, decided once instead of per item."""
    if transform is None:
        return None
    return functools.partial(_keyword_call, transform) if _is_albumentations(transform) else transform


class SyntheticMix(Dataset):
    """``real_dataset`` plus synthetic (image, label) items, a fraction ``ratio`` of the total.

    An epoch visits every real item once and ``n_syn = round(n_real · ratio / (1 − ratio))``
    synthetic ones, so a shuffled DataLoader gives ``ratio`` synthetic items per batch in
    expectation; an unshuffled one (the slots are spread evenly among the real items) and
    `MixedBatchSampler` give it in every batch, within rounding. ``ratio`` may be at most
    `MAX_RATIO` (0.95: 19 synthetic items per real one). Call ``set_epoch(epoch)`` before each epoch
    (Lightning does it through the samplers `mix_datamodule` installs): each epoch draws other
    synthetic items.

    source: a `SyntheticBank` (or its directory): images come from the pool; a `TrainedGenerator`
        (or its artifact directory): images are generated on the fly, one forward per batch.
    transform: applied to every image, real and synthetic; albumentations transforms are called
        as ``transform(image=img)["image"]``, anything else as ``transform(img)``. Use it when the
        real dataset yields raw uint8 H×W×C arrays (or H×W, or PIL images): synthetic images are
        converted to that same form first.
    synthetic_transform: applied to synthetic uint8 H×W×C images (before ``transform``) when the
        real dataset yields processed items (e.g. tensors from its own transform). Left out for an
        `ImageArrayDataset` with a transform, that dataset's transform is used.
    class_policy: ``"match"`` (real class frequencies), ``"uniform"``, ``"balance"`` (fill the
        minorities towards the largest class) or weights (a list of K, or {class: weight}).
    refresh: with a bank that knows its generator, regenerate this fraction of the bank at each
        ``set_epoch`` (1.0: a new pool, less: a rolling one).
    return_flag: items become ``(image, label, is_synthetic)``, to log synthetic items or give
        them their own loss (:class:`ganaug.SyntheticAwareLoss`: weight, soft labels).
    """

    def __init__(
        self,
        real_dataset: Dataset,
        source: Source,
        ratio: float,
        *,
        transform: Callable | None = None,
        synthetic_transform: Callable | None = None,
        class_policy: ClassPolicy = "match",
        real_labels: Sequence[int] | np.ndarray | None = None,
        seed: int = 0,
        truncation: float | None = None,
        refresh: float | None = None,
        return_flag: bool = False,
        check_class_names: bool = True,
        check_items: bool = True,
        chunk_size: int = 64,
    ) -> None:
        self.ratio = _check_ratio(ratio)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if isinstance(real_dataset, torch.utils.data.IterableDataset) or not hasattr(real_dataset, "__getitem__"):
            raise TypeError(
                f"real_dataset must be a map-style Dataset (with __len__ and __getitem__), got "
                f"{type(real_dataset).__name__}"
            )
        try:
            self.n_real = len(real_dataset)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(f"real_dataset {type(real_dataset).__name__} has no len()") from None
        if self.n_real == 0:
            raise GanaugDataError("real_dataset is empty")
        for name, t in (("transform", transform), ("synthetic_transform", synthetic_transform)):
            if t is not None and not callable(t):
                raise TypeError(f"{name} must be callable (an albumentations Compose or a function)")
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")

        self.real = real_dataset
        self.seed = int(seed)
        self.transform = transform
        self.return_flag = bool(return_flag)
        self.chunk_size = int(chunk_size)
        self.n_syn = _synthetic_count(self.n_real, self.ratio)

        src = _open_source(source)
        if src is None and self.n_syn > 0:
            raise ValueError("source is None: give a SyntheticBank, a generator, or their directory (or ratio=0)")
        self.bank = src if isinstance(src, SyntheticBank) else None
        self.generator = src if isinstance(src, TrainedGenerator) else None
        if truncation is not None and self.bank is not None:
            raise ValueError(
                "truncation is fixed when a bank is generated; pass it to SyntheticBank.generate, "
                "or use a generator source (on-the-fly mode)"
            )
        self.truncation = check_truncation(truncation)
        if refresh is not None:
            if self.bank is None or self.bank.generator is None:
                raise ValueError(
                    "refresh needs a bank that knows its generator: SyntheticBank.generate(...) or "
                    "SyntheticBank.open(path, generator=...)"
                )
            if not 0.0 < float(refresh) <= 1.0:
                raise ValueError(f"refresh must be a fraction in (0, 1] of the bank, got {refresh!r}")
        self.refresh = None if refresh is None else float(refresh)
        self._refreshed_epoch = 0

        item = real_dataset[0]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            got = f"a {type(item).__name__} of length {len(item)}" if isinstance(item, (tuple, list)) else describe(item)
            raise GanaugDataError(
                f"SyntheticMix needs a dataset of (image, label) items; item 0 of "
                f"{type(real_dataset).__name__} is {got}"
            )
        self._make_label = _LabelLike(item[1])
        self._tf = _caller(transform)

        self.class_names: list[str] | None = None
        self.probs: np.ndarray | None = None
        self._epoch_t = torch.zeros(1, dtype=torch.int64).share_memory_()
        self._epoch = self._epoch_t.numpy()
        self._plan_epoch: int | None = None
        self._plan_key: tuple[int, int] | None = None
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self.synthetic_transform = synthetic_transform
        if src is None:
            return

        self._source_shape = tuple(src.image_shape)
        self.class_names = self._check_classes(src, check_class_names)
        need_counts = isinstance(class_policy, str) and class_policy in ("match", "balance")
        labels = _real_labels(real_dataset, real_labels) if need_counts or real_labels is not None else None
        counts = None
        if labels is not None:
            k = src.num_classes
            if labels.size and (labels.min() < 0 or labels.max() >= k):
                raise ArtifactError(
                    f"the real dataset has labels in [{labels.min()}, {labels.max()}] but the "
                    f"{'bank' if self.bank is not None else 'generator'} knows {k} classes: it was "
                    "made for another dataset"
                )
            counts = np.bincount(labels, minlength=k)
        self.probs = class_probabilities(class_policy, src.num_classes, counts, self.n_syn, src.class_names)
        self._quota = quota(self.probs, self.n_syn)
        if self.bank is not None:
            self._check_bank_supply()

        if synthetic_transform is None and transform is None:
            # An ImageArrayDataset's transform takes uint8 H×W×C images by contract, so it can
            # serve synthetic images as is.
            inner = dataset_attr(real_dataset, "transform")
            if inner is not None and isinstance(_base(real_dataset), ImageArrayDataset):
                self.synthetic_transform = inner
        self._syn_tf = _caller(self.synthetic_transform)
        self._form = self._raw_form(item[0], src)
        if check_items:
            # Value ranges can only disagree when synthetic images take another path than real
            # ones, i.e. through a synthetic_transform the caller wrote.
            self._check_items(item, check_range=synthetic_transform is not None)

    # ----------------------------------------------------------------------- construction

    def _check_classes(self, src, check_names: bool) -> list[str]:
        what = "bank" if self.bank is not None else "generator"
        names = dataset_attr(self.real, "class_names")
        if names is None:
            names = dataset_attr(self.real, "classes")
        names = None if names is None or isinstance(names, str) else [str(n) for n in names]
        k = dataset_attr(self.real, "num_classes")
        if k is None and names is not None:
            k = len(names)
        if k is not None and int(k) != src.num_classes:
            raise ArtifactError(
                f"the real dataset has {int(k)} classes but the {what} has {src.num_classes} "
                f"({src.class_names}): it was made for another dataset"
            )
        if check_names and isinstance(names, list) and names != list(src.class_names):
            raise ArtifactError(
                f"the real dataset's classes {names} differ from the {what}'s {list(src.class_names)}; "
                "use one made for this dataset, or pass check_class_names=False if only the names differ"
            )
        return list(src.class_names)

    def _check_bank_supply(self) -> None:
        have = self.bank.class_counts()
        names = self.bank.class_names
        empty = [names[k] for k in np.flatnonzero((self._quota > 0) & (have == 0))]
        if empty:
            raise ArtifactError(
                f"the bank has no images of {empty}, which class_policy asks for; generate the bank "
                "with class_policy='uniform' (or the policy used here)"
            )
        short = [
            f"{names[k]!r} ({have[k]} for {self._quota[k]})" for k in np.flatnonzero(self._quota > have)
        ]
        if short:
            warnings.warn(
                f"the bank is smaller than one epoch's synthetic draw for {', '.join(short)}: those "
                f"images repeat within an epoch; generate a bank of at least {self.n_syn} images "
                "with the same class policy",
                stacklevel=3,
            )

    def _raw_form(self, raw: Any, src) -> str:
        """How a synthetic uint8 H×W×C image is turned into the real dataset's raw form."""
        h, w, c = src.image_shape
        what = "bank holds" if self.bank is not None else "generator makes"
        wrong = (
            f"the {what} {h}×{w}×{c} images but the real dataset's are {{}}: it was made for another "
            "dataset or size"
        )
        if self.synthetic_transform is not None:
            shape = dataset_attr(self.real, "image_shape")
            if shape is not None and tuple(shape) != (h, w, c):
                raise ArtifactError(wrong.format("×".join(map(str, shape))))
            return "custom"
        if is_pil(raw):
            want = "L" if c == 1 else "RGB"
            if raw.size != (w, h) or raw.mode != want:
                raise ArtifactError(wrong.format(f"PIL {raw.mode} {raw.size[1]}×{raw.size[0]}"))
            return "pil"
        if isinstance(raw, np.ndarray) and raw.dtype == np.uint8 and raw.ndim in (2, 3):
            shape = raw.shape if raw.ndim == 3 else (*raw.shape, 1)
            if shape != (h, w, c):
                raise ArtifactError(wrong.format("×".join(map(str, shape))))
            return "hwc" if raw.ndim == 3 else "hw"
        raise GanaugDataError(
            f"the real dataset yields {describe(raw)} images, not raw uint8 H×W×C (or PIL) images, so "
            "synthetic images cannot take their form by themselves: pass synthetic_transform= (the "
            "transform your dataset applies, taking uint8 H×W×C), or give SyntheticMix the raw "
            "dataset and transform="
        )

    def _check_items(self, real_item: tuple, check_range: bool) -> None:
        if not self.n_syn:
            return
        real_img = real_item[0] if self._tf is None else self._tf(real_item[0])
        syn_img = self._items(self.synthetic_indices()[:1])[0][0]
        problem = item_mismatch(real_img, syn_img)
        if problem is None and check_range:
            probe = self._syn_tf(probe_image(self._source_shape))
            problem = range_mismatch(real_img, probe if self._tf is None else self._tf(probe))
        if problem:
            raise GanaugDataError(f"synthetic items do not look like real ones: {problem}; {FIX}")

    # ------------------------------------------------------------------------------ epochs

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's synthetic items (and refresh the bank, if asked to)."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        epoch = int(epoch)
        if self.refresh is not None and epoch > 0 and epoch != self._refreshed_epoch:
            self.bank.refresh(self.refresh, round=epoch)
            self._refreshed_epoch = epoch
        self._epoch[0] = epoch

    def _sync(self) -> None:
        # Keyed by worker too: a forked worker inherits the main process's plan but must still
        # reseed its transforms.
        info = get_worker_info()
        e = int(self._epoch[0])
        key = (e, -1 if info is None else info.id)
        if key == self._plan_key:
            return
        self._cache.clear()
        if self.bank is not None:
            self.bank.sync()
        if self.n_syn:
            rng = numpy_rng(self.seed, _PLAN_TAG, e)
            self._slot_labels = rng.permutation(np.repeat(np.arange(len(self._quota)), self._quota))
            if self.bank is not None:
                self._slot_bank = self._bank_plan(e)
        if info is not None:
            self._reseed_transforms(e, info.id)
        self._plan_epoch, self._plan_key = e, key

    def _bank_plan(self, epoch: int) -> np.ndarray:
        """Slot -> bank index: per class, a fresh permutation of that class's bank images."""
        labels = np.asarray(self.bank.labels)
        out = np.empty(self.n_syn, dtype=np.int64)
        order = np.argsort(self._slot_labels, kind="stable")
        starts = np.concatenate([[0], np.cumsum(self._quota)])
        for k in np.flatnonzero(self._quota):
            pool = np.flatnonzero(labels == k)
            perm = numpy_rng(self.seed, _BANK_TAG, epoch, int(k)).permutation(pool)
            slots = order[starts[k] : starts[k + 1]]
            out[slots] = perm[np.arange(len(slots)) % len(perm)]
        return out

    def _reseed_transforms(self, epoch: int, worker: int) -> None:
        # A transform's RNG is copied into every worker: without this, albumentations would
        # apply the same augmentation sequence in each of them.
        inner = dataset_attr(self.real, "transform")
        for i, t in enumerate((self.transform, self.synthetic_transform, inner)):
            if t is not None and _is_albumentations(t) and hasattr(t, "set_random_seed"):
                t.set_random_seed(derive_key(self.seed, _AUG_TAG, epoch, worker, i) >> 1)

    # ------------------------------------------------------------------------------- items

    def __len__(self) -> int:
        return self.n_real + self.n_syn

    @property
    def num_classes(self) -> int | None:
        return None if self.class_names is None else len(self.class_names)

    def is_synthetic(self, index: int) -> bool:
        return bool(self._locate(self._index(index))[0])

    def _locate(self, idx):
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
        """The index of each synthetic slot, in slot order (increasing); the others are real items."""
        return np.flatnonzero(self._locate(np.arange(len(self), dtype=np.int64))[0])

    def _index(self, index: Any) -> int:
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"SyntheticMix indices are integers, got {type(index).__name__}") from None
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {index} out of range for SyntheticMix of length {n}")
        return i

    def synthetic_labels(self) -> np.ndarray:
        """The labels of this epoch's synthetic slots (slot j is index ``synthetic_indices()[j]``)."""
        self._sync()
        return self._slot_labels.copy() if self.n_syn else np.zeros(0, dtype=np.int64)

    def _synthetic_images(self, slots: np.ndarray) -> np.ndarray:
        if self.bank is not None:
            return np.asarray(self.bank.images[self._slot_bank[slots]])
        return self._generate(slots)

    def _generate(self, slots: np.ndarray) -> np.ndarray:
        key = derive_key(self.seed, _NOISE_TAG, self._plan_epoch)
        z = normal(key, slots, self.generator.z_dim, self.truncation)
        y = torch.from_numpy(self._slot_labels[slots])
        return to_uint8_hwc(self.generator.generate(torch.from_numpy(z), y))

    def _one_generated(self, slot: int) -> np.ndarray:
        # Single-item access (no __getitems__ caller): generate the aligned chunk around the slot
        # once, so sequential access still runs one forward per chunk_size items.
        block = slot // self.chunk_size
        key = (self._plan_epoch, block)
        if key not in self._cache:
            if len(self._cache) >= 4:
                self._cache.pop(next(iter(self._cache)))
            start = block * self.chunk_size
            self._cache[key] = self._generate(np.arange(start, min(start + self.chunk_size, self.n_syn)))
        return self._cache[key][slot - block * self.chunk_size].copy()

    def _finish_synthetic(self, image: np.ndarray, label: int) -> tuple:
        if self._syn_tf is not None:
            image = self._syn_tf(image)
        elif self._form == "hw":
            image = image[..., 0]
        elif self._form == "pil":
            from PIL import Image

            image = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        if self._tf is not None:
            image = self._tf(image)
        label = self._make_label(label)
        return (image, label, True) if self.return_flag else (image, label)

    def _real_item(self, i: int) -> tuple:
        image, label = self.real[i]
        if self._tf is not None:
            image = self._tf(image)
        return (image, label, False) if self.return_flag else (image, label)

    def _items(self, idx: np.ndarray) -> list[tuple]:
        self._sync()
        syn, where = self._locate(idx)
        if not syn.any():
            return [self._real_item(i) for i in where.tolist()]
        out: list[Any] = [None] * len(idx)
        for p, i in zip(np.flatnonzero(~syn).tolist(), where[~syn].tolist()):
            out[p] = self._real_item(i)
        slots = where[syn]
        images = self._synthetic_images(slots)
        labels = self._slot_labels[slots].tolist()
        for p, image, y in zip(np.flatnonzero(syn).tolist(), images, labels):
            out[p] = self._finish_synthetic(image, y)
        return out

    def __getitem__(self, index: int) -> tuple:
        i = self._index(index)
        syn, k = self._locate(i)
        if not syn:
            self._sync()
            return self._real_item(k)
        if self.bank is not None:
            return self._items(np.array([i]))[0]
        self._sync()
        return self._finish_synthetic(self._one_generated(k), int(self._slot_labels[k]))

    def __getitems__(self, indices: Sequence[int]) -> list[tuple]:
        """A batch at once (DataLoader calls this): one generator forward for its synthetic items."""
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            return self._items(np.array([self._index(i) for i in indices], dtype=np.int64))
        idx = idx.astype(np.int64, copy=False)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = int(idx[(idx < -n) | (idx >= n)][0])
            raise IndexError(f"index {bad} out of range for SyntheticMix of length {n}")
        return self._items(np.where(idx < 0, idx + n, idx))

    # ------------------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict:
        # The numpy view of the shared epoch would pickle as a copy; rebuild it from the tensor.
        state = dict(self.__dict__)
        state.update(_epoch=None, _plan_epoch=None, _plan_key=None, _cache={})
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._epoch = self._epoch_t.numpy()

    def __repr__(self) -> str:
        mode = "bank" if self.bank is not None else ("on-the-fly" if self.generator is not None else "none")
        return (
            f"SyntheticMix(n_real={self.n_real}, n_syn={self.n_syn}, ratio={self.ratio}, "
            f"source={mode}, epoch={self.epoch})"
        )


def _base(ds: Dataset) -> Dataset:
    while isinstance(ds, torch.utils.data.Subset):
        ds = ds.dataset
    return ds

"""`SyntheticMix`: a Dataset that adds synthetic items to any real (image, label) Dataset.

Three parts, each in its own module: the epoch's plan (`mix_plan`: which indices are synthetic and
each slot's label, a pure function of seed, epoch and sizes), the source of the images
(`mix_sources`: a bank, or a generator run on the fly) and the item's form (`mix_form`: the real
labels' type, the real images' raw form). The content of an index depends only on (seed, epoch,
index): never on the worker that fetches it or the order of requests, so workers cannot repeat each
other and any worker count reproduces the same synthetic items.

The epoch lives in shared memory, so `set_epoch` in the main process reaches persistent workers.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from ganaug.base.checks import check_flag, class_indices, label_column
from ganaug.mix.class_policy import ClassPolicy, class_probabilities, quota
from ganaug.data.arrays import ImageArrayDataset, _is_albumentations
from ganaug.errors import ArtifactError, ConfigError, GanaugDataError
from ganaug.mix.checks import FIX, dataset_attr, describe, item_mismatch, probe_image, range_mismatch
from ganaug.mix.form import LabelLike, as_call, raw_form, to_raw
from ganaug.mix.plan import MAX_RATIO, IndexLayout, check_ratio, slot_labels, synthetic_count
from ganaug.mix.sources import Source, open_source
from ganaug.base.rng import check_seed, derive_key

__all__ = ["MAX_RATIO", "Source", "SyntheticMix"]

_AUG_TAG = 0xA4
RANGE_CHECK_ITEMS = 16  # real items whose values the range check reads


def _stored_labels(ds: Dataset) -> np.ndarray | None:
    """The labels a dataset (or the dataset a Subset picks from) holds as an attribute, or None."""
    labels = _real_labels_or_none(ds)
    if labels is None and isinstance(ds, torch.utils.data.Subset):
        base = _real_labels_or_none(ds.dataset)
        if base is not None:
            labels = base[np.asarray(ds.indices)]
    return labels


def _real_labels(ds: Dataset, given: Any) -> np.ndarray:
    if given is not None:
        labels = label_column("real_labels", given)
    else:
        labels = _stored_labels(ds)
        if labels is None:
            # Runs the dataset's own transform once per item; pass real_labels to avoid it.
            labels = np.array([int(ds[i][1]) for i in range(len(ds))])
    if len(labels) != len(ds):
        raise ConfigError(f"real_labels has {len(labels)} entries for a dataset of {len(ds)} items")
    return class_indices("real labels", labels, GanaugDataError)


def _real_labels_or_none(ds: Dataset) -> np.ndarray | None:
    for attr in ("labels", "targets"):
        value = getattr(ds, attr, None)
        if value is not None and len(value) == len(ds):
            try:
                return label_column(f"{type(ds).__name__}.{attr}", value, GanaugDataError)
            except GanaugDataError as e:  # flattened, it was refused as real_labels, which the user never passed
                raise GanaugDataError(f"{e}; or pass SyntheticMix(..., real_labels=<a class index per item>)") from None
    return None


def _check_real(real_dataset: Dataset) -> tuple[int, tuple]:
    """(length, first item) of a map-style dataset of (image, label) items, or an error naming why not."""
    if isinstance(real_dataset, torch.utils.data.IterableDataset) or not hasattr(real_dataset, "__getitem__"):
        raise TypeError(
            f"real_dataset must be a map-style Dataset (with __len__ and __getitem__), got "
            f"{type(real_dataset).__name__}"
        )
    try:
        n = len(real_dataset)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"real_dataset {type(real_dataset).__name__} has no len()") from None
    if n == 0:
        raise GanaugDataError("real_dataset is empty")
    if isinstance(real_dataset, SyntheticMix):
        # its items would count synthetic ones as real, and its ratio would compound with this one
        raise GanaugDataError("real_dataset is already a SyntheticMix: mix the real dataset once (one ratio, "
                              "one source)")
    item = real_dataset[0]
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        got = f"a {type(item).__name__} of length {len(item)}" if isinstance(item, (tuple, list)) else describe(item)
        raise GanaugDataError(
            f"SyntheticMix needs a dataset of (image, label) items; item 0 of "
            f"{type(real_dataset).__name__} is {got}"
        )
    return n, item


NO_SOURCE = "source is None: give a SyntheticBank, a generator, or their directory (or ratio=0)"


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
        self.ratio = check_ratio(ratio)
        check_seed(seed)
        for name, flag in (("return_flag", return_flag), ("check_class_names", check_class_names),
                           ("check_items", check_items)):
            check_flag(name, flag)
        self.n_real, item = _check_real(real_dataset)
        for name, t in (("transform", transform), ("synthetic_transform", synthetic_transform)):
            if t is not None and not callable(t):
                raise TypeError(f"{name} must be callable (an albumentations Compose or a function)")
        self.real, self.seed, self.transform = real_dataset, int(seed), transform
        self.return_flag = bool(return_flag)
        self.n_syn = synthetic_count(self.n_real, self.ratio)
        if self.ratio > 0 and self.n_syn == 0:
            warnings.warn(f"ratio={self.ratio:g} of {self.n_real} real items rounds to 0 synthetic items: this mix is "
                          f"real only; with so few real items a synthetic item needs ratio >= "
                          f"{0.5 / (self.n_real + 0.5):.2g}", UserWarning, stacklevel=2)
        self.layout = IndexLayout(self.n_real, self.n_syn)
        self.source = open_source(source, truncation=truncation, refresh=refresh, chunk_size=chunk_size)
        if self.source is None and self.n_syn > 0:
            raise ConfigError(NO_SOURCE)
        self._make_label = LabelLike(item[1])
        self._tf = as_call(transform)
        self.class_names: list[str] | None = None
        self.probs: np.ndarray | None = None
        self._epoch_t = torch.zeros(1, dtype=torch.int64).share_memory_()
        self._epoch = self._epoch_t.numpy()
        self._plan_key: tuple[int, int] | None = None
        self._label_bound: int | None = None  # set when the real labels were not all read up front
        self.synthetic_transform = synthetic_transform
        if self.source is None:
            return

        src = self.source
        self.class_names = self._check_classes(check_class_names)
        need_counts = isinstance(class_policy, str) and class_policy in ("match", "balance")
        labels = _real_labels(real_dataset, real_labels) if need_counts or real_labels is not None else None
        # A policy without counts reads what is cheap: labels held as an attribute, else the first item's.
        # One-based labels beside the source's zero-based ones would leave a class synthetic only.
        seen = labels if labels is not None else _stored_labels(real_dataset)
        if seen is None or np.asarray(seen).dtype.kind not in "iu":
            seen = np.asarray([int(item[1])])
            # Only the first label was read: every real item's label is checked as it is served (one-based
            # labels 1..K passed on item 0's label and trained class K against nothing).
            self._label_bound = src.num_classes
        k = src.num_classes
        if seen.size and (seen.min() < 0 or seen.max() >= k):
            raise ArtifactError(
                f"the real dataset has labels in [{seen.min()}, {seen.max()}] but the "
                f"{src.kind} knows {k} classes: it was made for another dataset (or its labels start at 1)"
            )
        counts = None if labels is None else np.bincount(labels, minlength=k)
        self.probs = class_probabilities(class_policy, src.num_classes, counts, self.n_syn, src.class_names)
        self._quota = quota(self.probs, self.n_syn)
        src.check_quota(self._quota, self.n_syn)

        if synthetic_transform is None and transform is None:
            # An ImageArrayDataset's transform takes uint8 H×W×C images by contract, so it can
            # serve synthetic images as is.
            inner = dataset_attr(real_dataset, "transform")
            if inner is not None and isinstance(_base(real_dataset), ImageArrayDataset):
                self.synthetic_transform = inner
        self._syn_tf = as_call(self.synthetic_transform)
        self._form = raw_form(real_dataset, item[0], src.image_shape, src.kind, self.synthetic_transform is not None)
        if check_items:
            # Value ranges can only disagree when synthetic images take another path than real
            # ones, i.e. through a synthetic_transform the caller wrote.
            self._check_items(item, check_range=synthetic_transform is not None)

    @property
    def bank(self):
        """The `SyntheticBank` the mix draws from, or None."""
        return getattr(self.source, "bank", None)

    @property
    def generator(self):
        """The `TrainedGenerator` run on the fly, or None."""
        return getattr(self.source, "generator", None)

    def _check_classes(self, check_names: bool) -> list[str]:
        src = self.source
        names = dataset_attr(self.real, "class_names")
        if names is None:
            names = dataset_attr(self.real, "classes")
        names = None if names is None or isinstance(names, str) else [str(n) for n in names]
        k = dataset_attr(self.real, "num_classes")
        if k is None and names is not None:
            k = len(names)
        if k is not None and int(k) != src.num_classes:
            raise ArtifactError(
                f"the real dataset has {int(k)} classes but the {src.kind} has {src.num_classes} "
                f"({src.class_names}): it was made for another dataset"
            )
        if check_names and isinstance(names, list) and names != list(src.class_names):
            raise ArtifactError(
                f"the real dataset's classes {names} differ from the {src.kind}'s {list(src.class_names)}; "
                "use one made for this dataset, or pass check_class_names=False if only the names differ"
            )
        return list(src.class_names)

    def _check_items(self, real_item: tuple, check_range: bool) -> None:
        if not self.n_syn:
            return
        real_img = real_item[0] if self._tf is None else self._tf(real_item[0])
        syn_img = self._items(self.synthetic_indices()[:1])[0][0]
        problem = item_mismatch(real_img, syn_img)
        if problem is None and check_range:
            probe = self._syn_tf(probe_image(self.source.image_shape))
            # Several real images: one need not reach black, but a handful that never come near it are on another scale.
            more = [self.real[i][0] for i in range(1, min(len(self.real), RANGE_CHECK_ITEMS))]
            reals = [real_img, *(m if self._tf is None else self._tf(m) for m in more)]
            problem = range_mismatch(reals, probe if self._tf is None else self._tf(probe))
        if problem:
            raise GanaugDataError(f"synthetic items do not look like real ones: {problem}; {FIX}")

    # ------------------------------------------------------------------------------ epochs

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's synthetic items (and refresh the bank, if asked to)."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or not 0 <= epoch < 2**63:
            # the epoch is shared with workers as an int64
            raise ConfigError(f"epoch must be a non-negative integer below 2**63, got {epoch!r}")
        if self.source is not None:
            self.source.set_epoch(int(epoch))
        self._epoch[0] = int(epoch)

    def _sync(self) -> None:
        # Keyed by worker too: a forked worker inherits the main process's plan but must still
        # reseed its transforms.
        info = get_worker_info()
        e = int(self._epoch[0])
        key = (e, -1 if info is None else info.id)
        if key == self._plan_key:
            return
        if self.n_syn:
            self._slot_labels = slot_labels(self.seed, e, self._quota)
            self.source.prepare(self.seed, e, self._slot_labels, self._quota)
        if info is not None:
            self._reseed_transforms(e, info.id)
        self._plan_key = key

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
        return bool(self.layout.locate(self._index(index))[0])

    def synthetic_indices(self) -> np.ndarray:
        """The index of each synthetic slot, in slot order (increasing); the others are real items."""
        return self.layout.synthetic_indices()

    def synthetic_labels(self) -> np.ndarray:
        """The labels of this epoch's synthetic slots (slot j is index ``synthetic_indices()[j]``)."""
        self._sync()
        return self._slot_labels.copy() if self.n_syn else np.zeros(0, dtype=np.int64)

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

    def _synthetic_item(self, image: np.ndarray, label: int) -> tuple:
        image = to_raw(image, self._form, self._syn_tf)
        if self._tf is not None:
            image = self._tf(image)
        label = self._make_label(label)
        return (image, label, True) if self.return_flag else (image, label)

    def _real_item(self, i: int) -> tuple:
        image, label = self.real[i]
        if self._label_bound is not None and not 0 <= int(label) < self._label_bound:
            raise ArtifactError(
                f"real item {i} has label {int(label)}, but the {self.source.kind} knows {self._label_bound} classes "
                f"(labels 0..{self._label_bound - 1}): the dataset's labels are of another dataset, or start at 1; "
                "map them to 0..K-1"
            )
        if self._tf is not None:
            image = self._tf(image)
        return (image, label, False) if self.return_flag else (image, label)

    def _items(self, idx: np.ndarray) -> list[tuple]:
        self._sync()
        syn, where = self.layout.locate(idx)
        if not syn.any():
            return [self._real_item(i) for i in where.tolist()]
        out: list[Any] = [None] * len(idx)
        for p, i in zip(np.flatnonzero(~syn).tolist(), where[~syn].tolist()):
            out[p] = self._real_item(i)
        slots = where[syn]
        images = self.source.images(slots)
        for p, image, y in zip(np.flatnonzero(syn).tolist(), images, self._slot_labels[slots].tolist()):
            out[p] = self._synthetic_item(image, y)
        return out

    def __getitem__(self, index: int) -> tuple:
        syn, k = self.layout.locate(self._index(index))
        self._sync()
        if not syn:
            return self._real_item(k)
        return self._synthetic_item(self.source.image(k), int(self._slot_labels[k]))

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
        return {**self.__dict__, "_epoch": None, "_plan_key": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._epoch = self._epoch_t.numpy()

    def __repr__(self) -> str:
        mode = {"bank": "bank", "generator": "on-the-fly"}.get(getattr(self.source, "kind", None), "none")
        return (
            f"SyntheticMix(n_real={self.n_real}, n_syn={self.n_syn}, ratio={self.ratio}, "
            f"source={mode}, epoch={self.epoch})"
        )


def _base(ds: Dataset) -> Dataset:
    while isinstance(ds, torch.utils.data.Subset):
        ds = ds.dataset
    return ds

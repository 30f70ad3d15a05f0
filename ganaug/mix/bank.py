"""`SyntheticBank`: a pool of generated uint8 images with labels, generated in large batches.

On disk a bank is a directory: `images.npy` (uint8 N×H×W×C), `labels.npy` (int64 N) and
`bank.json` (class names, image shape, generator, seed, filter acceptance). Both arrays are opened
memory-mapped, so DataLoader workers share the operating system's page cache instead of copies.
`bank.json` is written last and removed first when a bank is overwritten: a directory without it
is an interrupted generation, never a bank whose files disagree. It records the SHA-256 of both
arrays' bytes, checked on open, so a damaged, edited or swapped array (every image mislabelled by
a shift of one) is refused instead of trained on.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ganaug.base.checks import (check_flag, check_path, class_indices, class_name_list, labels_as_classes,
                                 positive_int, positive_number)
from ganaug.mix.class_policy import ClassPolicy, class_probabilities, plain_policy, quota_labels
from ganaug.base.dir_lock import hold_dir
from ganaug.errors import ArtifactError, ConfigError, GanaugError, OutputError
from ganaug.gan.artifact import META_FILE as GENERATOR_META
from ganaug.base.files import atomic_file, atomic_write_bytes, is_int, is_sha256_hex, remove, remove_stale_temps
from ganaug.base.records import check_regular
from ganaug.gan.artifact import (
    check_class_names,
    check_expected,
    check_image_shape,
    check_positive_int,
    contained_file,
    field_error,
    load_generator,
    read_versioned_json,
)
from ganaug.mix.filter import QualityFilter
from ganaug.gan.nets import Generator
from ganaug.base.rng import SAMPLE_NOISE_TAG, check_seed, check_truncation, derive_key, normal, numpy_rng
from ganaug.base.resources import check_fits
from ganaug.gan.sampling import TrainedGenerator, to_uint8_hwc

FORMAT_NAME = "ganaug-bank"
FORMAT_VERSION = 1
IMAGES_FILE = "images.npy"
LABELS_FILE = "labels.npy"
META_FILE = "bank.json"
BANK_FILES = (IMAGES_FILE, LABELS_FILE, META_FILE)
# An array's length must fit an index (len(bank)); the images file's own shape bounds it far lower.
MAX_SIZE = np.iinfo(np.intp).max
DIGEST_ALGORITHM = "sha256"  # as for the generator's weights; with CPU SHA extensions it outruns blake2b
REBUILD = ("rebuild the bank: `ganaug-sample generator=<artifact> bank.enabled=true bank.path=<dir>` or "
           "SyntheticBank.generate(generator, size, path)")


class BankExistsError(OutputError, FileExistsError):
    """SyntheticBank.generate(..., overwrite=False) found a bank at its path."""


# Stream tags: the same seed must give unrelated label and noise streams.
_LABEL_TAG = 0xB1
_NOISE_TAG = SAMPLE_NOISE_TAG  # TrainedGenerator.sample draws a bank's first round


def as_trained_generator(source: Any, **expect) -> TrainedGenerator:
    """A TrainedGenerator from itself, an artifact directory, or a bare `Generator` network."""
    if isinstance(source, TrainedGenerator):
        return source
    if isinstance(source, (str, os.PathLike)):
        return load_generator(source, **expect)
    if isinstance(source, Generator):
        return TrainedGenerator(source, [str(k) for k in range(source.num_classes)])
    raise TypeError(
        f"expected a generator (TrainedGenerator, its artifact directory, or a Generator), "
        f"got {type(source).__name__}"
    )


@contextmanager
def _atomic_npy(path: Path, shape: tuple[int, ...], dtype) -> Iterator[np.memmap]:
    """A writable memory-mapped .npy under a temporary name, renamed to `path` on success."""
    with atomic_file(path) as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        yield mm
        mm.flush()
        del mm


def _digest(array: np.ndarray) -> str:
    """SHA-256 of an array's raw bytes, streamed in ~16 MB slices so a memory map is never copied whole."""
    h = hashlib.new(DIGEST_ALGORITHM)
    if array.dtype != np.uint8:
        array = np.asarray(array, dtype=array.dtype.newbyteorder("<"))  # the same digest on any machine
    rows = max(1, (16 << 20) // max(1, array[:1].nbytes))
    for start in range(0, len(array), rows):
        h.update(np.ascontiguousarray(array[start : start + rows]))
    return h.hexdigest()


def _digests(images_digest: str, labels: np.ndarray) -> dict:
    return {"algorithm": DIGEST_ALGORITHM, "images": images_digest, "labels": _digest(labels)}


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _is_contiguous(idx: np.ndarray) -> bool:
    return idx.size > 0 and int(idx[-1]) - int(idx[0]) + 1 == idx.size and bool(np.all(np.diff(idx) == 1))


def _fill(
    gen: TrainedGenerator,
    out: np.ndarray,
    labels: np.ndarray,
    rows: np.ndarray,
    key: int,
    truncation: float | None,
    batch_size: int,
    filt: QualityFilter | None,
    class_names: Sequence[str],
    progress: bool,
) -> None:
    """Generate out[rows] for labels[rows]; rejected rows are redrawn from fresh counters.

    Noise for (row, attempt) comes from the counter attempt·N + row, so a bank's content depends
    on its seed only, not on batch_size.
    """
    n_total = len(out)
    attempt = np.zeros(n_total, dtype=np.int64)
    pending = np.asarray(rows, dtype=np.int64)
    bar = tqdm(total=len(pending), disable=not progress, desc="bank", unit="img", leave=False)
    try:
        while pending.size:
            take, pending = pending[:batch_size], pending[batch_size:]
            y = labels[take]
            z = normal(key, attempt[take] * n_total + take, gen.z_dim, truncation)
            images = to_uint8_hwc(gen.generate(torch.from_numpy(z), torch.from_numpy(y)))
            if filt is None:
                if _is_contiguous(take):
                    out[take[0] : take[-1] + 1] = images
                else:
                    out[take] = images
                bar.update(len(take))
                continue
            keep = filt(images, y)
            out[take[keep]] = images[keep]
            rejected = take[~keep]
            if rejected.size:
                attempt[rejected] += 1
                pending = np.concatenate([pending, rejected])
                filt.check_progress(labels[rejected], class_names)
            bar.update(int(keep.sum()))
    finally:
        bar.close()


def _shared_counter() -> tuple[torch.Tensor, np.ndarray]:
    # Shared memory survives the fork or pickling into DataLoader workers, so a bump in the main
    # process is seen by persistent workers, which hold copies of the bank object.
    t = torch.zeros(1, dtype=torch.int64).share_memory_()
    return t, t.numpy()


def check_bank_fits(gen: TrainedGenerator, size: int, path: str | os.PathLike | None, setting: str = "size") -> None:
    """Refuse a bank of ``size`` images that the machine cannot hold: its labels (and, without a ``path``,
    its images) in memory, its files on disk."""
    pixels = int(np.prod(gen.image_shape))
    check_fits(size * (8 if path is not None else pixels + 8), setting, size,
               fix="" if path is not None else ", or give the bank a path (its images then go to disk)")
    if path is not None:
        check_fits(size * (pixels + 8), setting, size, disk=path)


class SyntheticBank:
    """A fixed pool of synthetic images (uint8 N×H×W×C) and their int64 labels.

    Create one with :meth:`generate` (on disk with ``path``, else in shared memory), open a saved
    one with :meth:`open`, or wrap existing arrays with :meth:`from_arrays`. ``bank.images`` and
    ``bank.labels`` are numpy arrays (memory-mapped, read-only, for a bank on disk).
    """

    def __init__(
        self,
        meta: dict,
        path: Path | None = None,
        images: torch.Tensor | None = None,
        labels: np.ndarray | None = None,
    ) -> None:
        # Use generate/open/from_arrays; this only sets up the state they share.
        self.meta = meta
        self.path = path
        self._images_t = images
        self._images: np.ndarray | None = None if images is None else images.numpy()
        self._labels = labels
        self.generator: TrainedGenerator | None = None
        self.filter: QualityFilter | None = None
        self._version_t, self._version = _shared_counter()
        self._loaded_version = 0
        self._file_ids: tuple | None = None  # the files the arrays were opened from (inode, size, mtime)

    # ------------------------------------------------------------------------------ properties

    @property
    def images(self) -> np.ndarray:
        if self._images is None:
            self._open_arrays(reopened=True)
        return self._images

    @property
    def labels(self) -> np.ndarray:
        if self._labels is None:
            self._open_arrays(reopened=True)
        return self._labels

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    @property
    def num_classes(self) -> int:
        return len(self.meta["class_names"])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.meta["image_shape"])  # type: ignore[return-value]

    @property
    def acceptance(self) -> dict | None:
        """Per-class filter report {name: {proposed, accepted, rate}}, or None without a filter."""
        f = self.meta.get("filter")
        return None if f is None else f.get("acceptance")

    def __len__(self) -> int:
        return int(self.meta["size"])

    def class_counts(self) -> np.ndarray:
        return np.bincount(np.asarray(self.labels), minlength=self.num_classes)

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "memory"
        return f"SyntheticBank(n={len(self)}, image_shape={self.image_shape}, num_classes={self.num_classes}, at={where})"

    # ----------------------------------------------------------------------------- creation

    @classmethod
    def generate(
        cls,
        generator: TrainedGenerator | str | os.PathLike,
        size: int,
        path: str | os.PathLike | None = None,
        *,
        class_policy: ClassPolicy = "uniform",
        real_labels: Sequence[int] | np.ndarray | None = None,
        truncation: float | None = None,
        seed: int = 0,
        batch_size: int = 1000,
        filter: QualityFilter | None = None,
        progress: bool = True,
        overwrite: bool = True,
    ) -> SyntheticBank:
        """Generate ``size`` images in batches of ``batch_size``; write them to ``path`` if given.

        Labels follow ``class_policy`` exactly (see :func:`ganaug.mix.class_policy.class_probabilities`;
        ``match`` and ``balance`` need ``real_labels``). With ``filter``, rejected images are
        redrawn until every label has an accepted image, and the acceptance rate per class is
        recorded (``bank.acceptance``).
        """
        gen = as_trained_generator(generator)
        positive_int("size", size)
        positive_int("batch_size", batch_size)
        if filter is not None and not isinstance(filter, QualityFilter):
            raise TypeError(f"filter must be a QualityFilter or None, got {type(filter).__name__}")
        size, batch_size = int(size), int(batch_size)
        seed = check_seed(seed)  # bank.json records it, and a bank whose seed is refused cannot be opened
        truncation = check_truncation(truncation)  # before a bank at `path` is replaced, not at the first batch
        overwrite = check_flag("overwrite", overwrite)  # "false" would be true, and replace the bank
        check_bank_fits(gen, size, path)
        k = gen.num_classes
        counts = None
        if real_labels is not None:
            real = class_indices("real_labels", real_labels)
            if real.size and (real.min() < 0 or real.max() >= k):
                raise ConfigError(f"real_labels must lie in [0, {k}) for this {k}-class generator")
            counts = np.bincount(real, minlength=k)
        probs = class_probabilities(class_policy, k, counts, n_new=size, class_names=gen.class_names)
        labels = quota_labels(probs, size, numpy_rng(seed, _LABEL_TAG))
        if filter is not None:
            filter.reset()
        meta = _new_meta(gen, size, labels, probs, class_policy, seed, truncation)
        meta["batch_size"] = batch_size
        shape = (size, *gen.image_shape)
        fill = dict(
            key=derive_key(seed, _NOISE_TAG, 0), truncation=truncation, batch_size=batch_size,
            filt=filter, class_names=gen.class_names, progress=progress,
        )

        if path is None:
            images_t = torch.empty(shape, dtype=torch.uint8).share_memory_()
            _fill(gen, images_t.numpy(), labels, np.arange(size), **fill)
            _record_filter(meta, filter, gen.class_names)
            bank = cls(meta, None, images_t, labels)
        else:
            path = Path(path)
            if (path / META_FILE).exists() and not overwrite:
                raise BankExistsError(f"a bank already exists at {path}; pass overwrite=True or another path")
            if (path / GENERATOR_META).exists():
                raise OutputError(f"{path} holds a generator artifact ({GENERATOR_META}): a bank there would make it "
                                  f"both; give the bank its own directory, e.g. {path.parent / 'bank'}")
            if path.exists() and not path.is_dir():
                raise OutputError(f"{path} is a file; a bank is a directory: move the file or choose another "
                                  "path (ganaug-sample: bank.path=<dir>)")
            # Two writers at once would remove each other's temporaries and interleave their files: one
            # bank directory, one writer; the second stops, naming the first.
            with hold_dir(path, "SyntheticBank.generate", "path"):
                remove_stale_temps(path, BANK_FILES)
                remove(path / META_FILE)
                with _atomic_npy(path / IMAGES_FILE, shape, np.uint8) as out:
                    _fill(gen, out, labels, np.arange(size), **fill)
                    images_digest = _digest(out)
                atomic_write_bytes(path / LABELS_FILE, _npy_bytes(labels))
                meta["digest"] = _digests(images_digest, labels)
                _record_filter(meta, filter, gen.class_names)
                _write_meta(path, meta)
                bank = cls.open(path, verify=False)  # the digests were just taken from these very arrays
        bank.generator, bank.filter = gen, filter
        return bank

    @classmethod
    def from_arrays(
        cls, images: np.ndarray, labels: Sequence[int] | np.ndarray, class_names: Sequence[str] | None = None
    ) -> SyntheticBank:
        """An in-memory bank of existing uint8 N×H×W×C images (e.g. from another generator)."""
        images = np.asarray(images)
        labels = class_indices("labels", labels)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ConfigError(
                f"images must be uint8 N×H×W×C with C = 1 or 3, got {images.dtype} {images.shape}"
            )
        if len(labels) != len(images) or len(images) == 0:
            raise ConfigError(f"need as many labels as images, at least one: got {len(labels)} and {len(images)}")
        if labels.min() < 0:
            raise ConfigError(f"labels must be class indices >= 0, got {int(labels.min())}")
        # Without class names, one stray label (2**40) must cost a message, not a name for every number below it.
        # One distinct string per class, as a generator's: a mix compares them with the dataset's.
        names = None if class_names is None else class_name_list(class_names)
        k = len(names) if names is not None else labels_as_classes(labels, ConfigError, allow_gaps=True)
        if labels.max() >= k:
            raise ConfigError(f"labels must lie in [0, {k})")
        names = names if names is not None else [str(i) for i in range(k)]
        meta = {
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "size": len(images),
            "image_shape": list(images.shape[1:]), "num_classes": k, "class_names": names,
            "class_counts": np.bincount(labels, minlength=k).tolist(), "generator": None, "filter": None,
        }
        images_t = torch.from_numpy(np.array(images, order="C")).share_memory_()
        return cls(meta, None, images_t, labels)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        *,
        expect_num_classes: int | None = None,
        expect_image_shape: tuple[int, int, int] | None = None,
        expect_class_names: Sequence[str] | None = None,
        generator: TrainedGenerator | str | os.PathLike | None = None,
        filter: QualityFilter | None = None,
        verify: bool = True,
    ) -> SyntheticBank:
        """Memory-map a bank written by :meth:`generate` (or ``ganaug-sample bank.enabled=true``).

        ``generator`` (and optionally ``filter``) are needed only for :meth:`refresh`. ``verify``
        checks both arrays against the digests in ``bank.json`` (it reads the whole pool once);
        ``verify=False`` skips that for a bank known to be intact.
        """
        path = check_path("SyntheticBank.open: path", path, "pass the directory SyntheticBank.generate or "
                          "`ganaug-sample bank.enabled=true` wrote")
        meta = _read_meta(path)
        bank = cls(meta, path)
        bank._open_arrays()
        if verify:
            bank._verify()
        shape = bank.image_shape
        check_expected(f"bank at {path}", "holds", "generated", bank.num_classes, shape,
                       bank.class_names, expect_num_classes, expect_image_shape, expect_class_names)
        if generator is not None:
            gen = as_trained_generator(generator)
            if gen.num_classes != bank.num_classes or gen.image_shape != shape:
                raise ArtifactError(
                    f"the generator makes {gen.num_classes} classes of {gen.image_shape} images but the "
                    f"bank at {path} holds {bank.num_classes} classes of {shape}; use the generator "
                    "the bank was made with"
                )
            bank.generator = gen
        bank.filter = filter
        return bank

    def _load(self, field: str, default: str) -> tuple[Path, np.ndarray]:
        assert self.path is not None
        file = contained_file(self.path, self.meta.get(field, default), field, self.path / META_FILE, REBUILD)
        try:
            check_regular(file, ArtifactError, "bank array", REBUILD)  # np.load's open would wait on a FIFO forever
            return file, np.load(file, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError as e:
            raise ArtifactError(f"{file} is missing: the bank is incomplete; {REBUILD}") from e
        except ArtifactError:
            raise
        except (ValueError, OSError, EOFError) as e:
            # e.g. numpy's "mmap length is greater than file size", which names no file
            raise ArtifactError(f"{file} cannot be read as an array ({e}): it is truncated or corrupt, e.g. a copy "
                                f"that stopped early; {REBUILD}") from e

    def _open_arrays(self, reopened: bool = False) -> None:
        """Memory-map the arrays. ``reopened``: a copy of an open bank (a spawned DataLoader worker) opening them
        again by path, which must find the files the original opened, not a bank regenerated there since."""
        images_file, images = self._load("images_file", IMAGES_FILE)
        labels_file, labels = self._load("labels_file", LABELS_FILE)
        ids = tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in (os.stat(images_file), os.stat(labels_file)))
        if reopened and self._file_ids is not None and ids != self._file_ids:
            # Other files at the same path: compare their contents with the digests this bank was opened with.
            self._images, self._labels = images, labels
            try:
                self._verify(changed="since this bank was opened (regenerated in place while in use?)")
            finally:
                self._images = self._labels = None
        self._file_ids = ids
        n, shape = len(self), self.image_shape
        if images.dtype != np.uint8 or images.shape != (n, *shape):
            raise ArtifactError(
                f"{images_file} holds {images.dtype} {images.shape}, but {META_FILE} says "
                f"uint8 {(n, *shape)}; the bank is corrupt: {REBUILD}"
            )
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise ArtifactError(
                f"{labels_file} holds {labels.dtype} {labels.shape}, expected {n} integer "
                f"labels; the bank is corrupt: {REBUILD}"
            )
        if n and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ArtifactError(f"{labels_file} has labels outside [0, {self.num_classes}); {REBUILD}")
        self._images, self._labels = images, labels
        self._loaded_version = int(self._version[0])

    def _verify(self, changed: str = "since the bank was written (damaged, edited or swapped)") -> None:
        """Compare both arrays with the digests bank.json recorded when they were written."""
        assert self.path is not None
        digest = self.meta.get("digest")
        if digest is None:
            # Banks from before digests were recorded stay usable: they cost a generator run to rebuild.
            warnings.warn(
                f"{self.path / META_FILE} records no digest (a bank written by an older ganaug), so its "
                f"images and labels cannot be checked; {REBUILD} to have them checked", UserWarning, stacklevel=3,
            )
            return
        for file, array, accepted in (
            (self.meta.get("labels_file", LABELS_FILE), self.labels, {digest["labels"]}),
            # images_next: a refresh that was killed after the new images replaced the old.
            (self.meta.get("images_file", IMAGES_FILE), self.images, {digest["images"], digest.get("images_next")}),
        ):
            if _digest(array) not in accepted:
                file = self.path / file
                raise ArtifactError(
                    f"{file} does not match the digest in {self.path / META_FILE}: it changed {changed}, so "
                    f"images and labels may no longer belong together, or not be the ones measured; {REBUILD}"
                )

    # ------------------------------------------------------------------------------ refresh

    def refresh(self, fraction: float = 1.0, round: int = 1, progress: bool = False) -> None:
        """Regenerate a share of the pool, for diversity across epochs; labels stay as they are.

        ``fraction`` 1 gives a new pool; less replaces the rows after the previous refresh's,
        wrapping around (a rolling pool). ``round`` (>= 1, e.g. the epoch) keys the new noise and
        the rows replaced, so the same rounds give the same pool. Needs ``bank.generator``.
        Processes holding this bank (DataLoader workers too) see the new pool at their next
        epoch; a bank on disk is rewritten under a temporary name and renamed.
        """
        if self.generator is None:
            raise GanaugError(
                "refresh needs the generator: SyntheticBank.open(path, generator=...) or a bank "
                "made by SyntheticBank.generate in this process"
            )
        wanted = "a fraction in (0, 1]"
        if positive_number("refresh fraction", fraction, wanted=wanted) > 1.0:
            raise ConfigError(f"refresh fraction must be {wanted}, got {fraction!r}")
        round = positive_int("refresh round", round)
        check_flag("progress", progress)
        n = len(self)
        n_new = n if fraction >= 1.0 else max(1, int(np.rint(fraction * n)))
        rows = ((int(round) - 1) * n_new % n + np.arange(n_new)) % n  # the Python int reduced first: any round
        seed = int(self.meta.get("seed", 0))
        fill = dict(
            key=derive_key(seed, _NOISE_TAG, int(round)), truncation=self.meta.get("truncation"),
            batch_size=int(self.meta.get("batch_size", 1000)), filt=self.filter,
            class_names=self.class_names, progress=progress,
        )
        labels = np.asarray(self.labels)
        if self.path is None:
            _fill(self.generator, self._images, labels, rows, **fill)
        else:
            remove_stale_temps(self.path, BANK_FILES)
            with _atomic_npy(self.path / IMAGES_FILE, (n, *self.image_shape), np.uint8) as out:
                if n_new < n:
                    out[:] = self.images
                _fill(self.generator, out, labels, rows, **fill)
                new_digest = _digest(out)
                if self.meta.get("digest"):
                    # Accept old and new images until the rename is recorded: a kill between the two
                    # writes leaves a bank that still checks out.
                    old = self.meta["digest"]
                    if "images_next" in old:  # an earlier refresh was killed: which images are there?
                        old = {**old, "images": _digest(self.images)}
                    _write_meta(self.path, {**self.meta, "digest": {**old, "images_next": new_digest}})
            self.meta["digest"] = _digests(new_digest, labels)
            self.meta["images_file"] = IMAGES_FILE
            self.meta["refreshes"] = int(self.meta.get("refreshes", 0)) + 1
            self.meta["last_refresh"] = {"round": int(round), "fraction": float(fraction)}
            _write_meta(self.path, self.meta)
        self._version[0] += 1
        if self.path is not None:
            self._open_arrays()
        self._loaded_version = int(self._version[0])

    def sync(self) -> None:
        """Reopen the arrays if another process refreshed this bank (cheap when it did not)."""
        if self.path is not None and int(self._version[0]) != self._loaded_version:
            self._open_arrays()

    # ----------------------------------------------------------------------------- pickling

    def __getstate__(self) -> dict:
        # Memory maps would pickle as full copies: workers started with spawn reopen the files.
        # numpy views of shared tensors would lose the sharing: they are rebuilt from the tensors.
        state = dict(self.__dict__)
        state.update(_images=None, _version=None, generator=None, filter=None)
        if self.path is not None:
            state["_labels"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._version = self._version_t.numpy()
        if self._images_t is not None:
            self._images = self._images_t.numpy()


def _new_meta(gen, size, labels, probs, class_policy, seed, truncation) -> dict:
    from ganaug._version import __version__

    policy = plain_policy(class_policy)
    if isinstance(policy, dict):  # JSON keys are strings
        policy = {str(k): v for k, v in policy.items()}
    elif isinstance(policy, tuple):
        policy = list(policy)
    gmeta = {k: gen.meta[k] for k in ("weights_sha256", "dataset", "g_updates", "created") if k in gen.meta}
    gmeta["architecture"] = {"name": "Generator", "kwargs": dict(gen.net.config)}
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "ganaug_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "images_file": IMAGES_FILE,
        "labels_file": LABELS_FILE,
        "size": int(size),
        "image_shape": list(gen.image_shape),
        "num_classes": gen.num_classes,
        "class_names": list(gen.class_names),
        "class_counts": np.bincount(labels, minlength=gen.num_classes).tolist(),
        "class_policy": policy,
        "class_probabilities": [round(float(p), 6) for p in probs],
        "seed": int(seed),
        "truncation": None if truncation is None else float(truncation),
        "generator": gmeta,
        "filter": None,
        "refreshes": 0,
    }


def _record_filter(meta: dict, filt: QualityFilter | None, class_names: Sequence[str]) -> None:
    if filt is not None:
        meta["filter"] = {"threshold": filt.threshold, "acceptance": filt.report(class_names)}
        if filt.class_thresholds is not None:
            meta["filter"]["class_thresholds"] = {n: round(float(t), 4) for n, t in zip(class_names, filt.class_thresholds)}


def _write_meta(path: Path, meta: dict) -> None:
    atomic_write_bytes(path / META_FILE, json.dumps(meta, indent=2).encode())


def _read_meta(path: Path) -> dict:
    meta_path = path / META_FILE
    if not meta_path.exists():  # not is_file(): a FIFO or folder there is named as such by the reader
        hint = (
            f"; {IMAGES_FILE} is there, so a generation was interrupted: generate it again"
            if (path / IMAGES_FILE).exists()
            else ""
        )
        raise ArtifactError(
            f"no synthetic bank at {path}: {META_FILE} not found{hint}. Write one with "
            "SyntheticBank.generate(generator, size, path) or `ganaug-sample bank.enabled=true`"
        )
    meta = read_versioned_json(meta_path, FORMAT_NAME, FORMAT_VERSION, ("size", "image_shape", "class_names"),
                               REBUILD)
    _check_fields(meta_path, meta)
    return meta


def _check_fields(meta_path: Path, meta: dict) -> None:
    """Type-check the fields opening and refreshing read, so a bad one is named, not a TypeError."""
    check_positive_int(meta_path, "size", meta["size"], REBUILD)
    if meta["size"] > MAX_SIZE:  # len(bank) would overflow; any smaller lie is caught against images.npy's shape
        raise field_error(meta_path, "size", f"at most {MAX_SIZE} (the number of images in {IMAGES_FILE})",
                          meta["size"], REBUILD)
    check_image_shape(meta_path, meta["image_shape"], REBUILD)
    check_class_names(meta_path, meta["class_names"], REBUILD)
    for field in ("images_file", "labels_file"):
        if field in meta:
            contained_file(meta_path.parent, meta[field], field, meta_path, REBUILD)
    if meta.get("batch_size") is not None:
        check_positive_int(meta_path, "batch_size", meta["batch_size"], REBUILD)
    for field in ("seed", "refreshes"):  # refresh() read refreshes only after writing the new images
        if field in meta and not (is_int(meta[field]) and meta[field] >= 0):
            raise field_error(meta_path, field, "a non-negative integer", meta[field], REBUILD)
    t = meta.get("truncation")
    if t is not None and (not isinstance(t, (int, float)) or isinstance(t, bool) or not t > 0):
        raise field_error(meta_path, "truncation", "a positive number or null", t, REBUILD)
    digest = meta.get("digest")
    if digest is not None:
        keys = ("images", "labels", *(["images_next"] if isinstance(digest, dict) and "images_next" in digest else []))
        if not isinstance(digest, dict) or not all(is_sha256_hex(digest.get(k)) for k in keys):
            raise field_error(meta_path, "digest", f'{{"algorithm": "{DIGEST_ALGORITHM}", "images": <64 hex '
                              'digits>, "labels": <64 hex digits>}', digest, REBUILD)
        if digest.get("algorithm") != DIGEST_ALGORITHM:
            raise ArtifactError(f"{meta_path}: digest.algorithm {digest.get('algorithm')!r:.40} is not one this "
                                f"ganaug knows ({DIGEST_ALGORITHM!r}); upgrade ganaug or {REBUILD}")

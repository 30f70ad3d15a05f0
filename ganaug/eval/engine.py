"""The evaluation engine that `ganaug-tune` and `ganaug-bench` share: one implementation of each step.

A classifier run is the reference recipe (`SmallCNN`, the same optimizer steps and batch size for
every condition) trained under one way of using synthetic items, and scored on a split. Its inputs
are steps of their own: the reference classifier (trained on the real images: the quality filter's
judge and the soft labels' teacher) and a synthetic bank. Settings travel as three frozen objects
(`ClassifierSettings`, `BankSettings`, `SyntheticUse`); a step's fingerprint hashes them whole,
with `SCHEMA` and the content hashes of its inputs (data arrays, generator weights), so the two
tools give the same run the same fingerprint and a new setting needs no special case. Evaluation
layer: no Hydra here; the tools build these objects from their configs.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, WeightedRandomSampler

from ganaug.classify.batch_mix import BATCH_MIXES
from ganaug.base.checks import check_flag, fraction, positive_int, positive_number
from ganaug.mix.class_policy import class_probabilities, plain_policy
from ganaug.classify.classifier import (
    CLASSIFIERS,
    SmallCNN,
    accuracy,
    balanced_accuracy,
    build_model,
    model_path,
    train_classifier_on_loader,
)
from ganaug.errors import ConfigError, GanaugError
from ganaug.base.resources import resolve_device
from ganaug.data.arrays import data_fingerprint
from ganaug.eval.store import digest, stored_key

if TYPE_CHECKING:
    from ganaug.data import ImageArrayDataset

__all__ = [
    "SCHEMA", "ClassifierSettings", "BankSettings", "SyntheticUse", "fingerprint", "data_fingerprint",
    "generator_fingerprint", "transform_key", "seeded", "bank_seed", "resolve_device", "loader",
    "class_balanced_loader", "train_reference", "save_classifier", "load_classifier", "reference_fingerprint",
    "build_bank", "bank_fingerprint", "train_run", "run_fingerprint", "score", "METRICS",
]

# Bump when a step's result changes meaning under unchanged settings: every stored step is redone.
SCHEMA = 2
METRICS = ("accuracy", "balanced_accuracy")
# The filtered bank of a GAN draws other noise than its unfiltered bank.
FILTERED_BANK_SEED_OFFSET = 1000
LR_SCHEDULES = ("constant", "cosine")
# Lightning Fabric's precisions that make sense for a small CNN.
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "64-true")


def _name(owner: str, name: str) -> str:
    return f"{owner}.{name}" if owner else name


def _positive_int(owner: str, name: str, value: Any) -> int:
    return positive_int(_name(owner, name), value)


def _positive_float(owner: str, name: str, value: Any, wanted: str = "a positive number") -> float:
    return positive_number(_name(owner, name), value, wanted=wanted)


def _probability(owner: str, name: str, value: Any, *, allow_none: bool = False) -> float | None:
    return fraction(_name(owner, name), value, allow_none=allow_none)


def check_seeds(name: str, seeds: Any) -> list[int]:
    """Seeds of independent runs: a non-empty list of distinct non-negative integers. A seed listed twice
    would be one run counted as two independent ones, a CI narrower than the data allow."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise ConfigError(f"{name} must be a list of seeds, got {seeds!r}; set e.g. {name}=[0,1,2]")
    seeds = list(seeds)
    if not seeds:
        raise ConfigError(f"{name} is empty: give the seeds of the runs to average over, e.g. {name}=[0,1,2]")
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise ConfigError(f"{name} must list non-negative integers, got {seeds}")
    twice = next((s for i, s in enumerate(seeds) if s in seeds[:i]), None)
    if twice is not None:
        raise ConfigError(f"{name} lists seed {twice} twice: each seed is one independent run; list it once")
    return [int(s) for s in seeds]


@dataclass(frozen=True)
class ClassifierSettings:
    """The reference classifier's recipe: identical for every run that is compared."""

    steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    width: int = 32
    arch: str = "smallcnn"       # ganaug.classify.classifier.CLASSIFIERS: smallcnn | resnet
    precision: str = "32-true"   # Lightning Fabric's: bf16-mixed on a GPU
    batch_mix: str = "none"      # none | mixup | cutmix: batch-level augmentation (ganaug.classify.batch_mix)
    batch_mix_alpha: float = 1.0  # the mixing ratio ~ Beta(alpha, alpha)
    model: str | None = None     # the user's network ("package.module:function"), in place of arch
    # Where runs train; not part of a fingerprint (a run is the same experiment on either).
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "width"):
            object.__setattr__(self, name, _positive_int("classifier", name, getattr(self, name)))
        object.__setattr__(self, "lr", _positive_float("classifier", "lr", self.lr))
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"classifier.lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.arch not in CLASSIFIERS:
            raise ConfigError(f"classifier.arch must be one of {sorted(CLASSIFIERS)}, got {self.arch!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"classifier.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.batch_mix not in BATCH_MIXES:
            raise ConfigError(f"classifier.batch_mix must be one of {BATCH_MIXES}, got {self.batch_mix!r}")
        object.__setattr__(self, "batch_mix_alpha", _positive_float("classifier", "batch_mix_alpha",
                                                                    self.batch_mix_alpha))
        try:
            object.__setattr__(self, "model", model_path(self.model))
        except ConfigError as e:
            raise ConfigError(f"classifier.{e}") from None
        try:
            resolve_device(self.device)
        except ConfigError as e:  # named as the other keys are: bench.classifier.device, not bench.device
            raise ConfigError(f"classifier.{e}") from None

    def key(self) -> dict:
        return stored_key("classifier", {f.name: getattr(self, f.name) for f in fields(self) if f.name != "device"})

    def unmixed(self) -> ClassifierSettings:
        """These settings on plain batches. The classifiers that measure (the reference: the filter's judge and
        the teacher; CAS; the generator choice) do not take the runs' batch-level augmentation: they and their
        fingerprints stay what they were when the runs they serve change policy."""
        return replace(self, batch_mix="none", batch_mix_alpha=1.0)

    def __repr__(self) -> str:
        # Stored benchmark fingerprints hashed this repr: the settings added since are left out at their defaults.
        shown = stored_key("classifier", {f.name: getattr(self, f.name) for f in fields(self)})
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @classmethod
    def from_config(cls, cfg: Any) -> ClassifierSettings:
        return cls(**_known(cls, cfg, "classifier"))




@dataclass(frozen=True)
class BankSettings:
    """A synthetic bank: how many images, for which classes, and which of them the filter keeps."""

    size: int = 10000
    class_policy: Any = "match"
    truncation: float | None = None
    filter_threshold: float | None = None   # None: unfiltered
    filter_min_acceptance: float = 0.01
    filter_fallback: str | None = None
    filter_class_quantile: float | None = None

    def __post_init__(self) -> None:
        from ganaug.mix.filter import QualityFilter

        object.__setattr__(self, "size", _positive_int("", "bank_size", self.size))
        object.__setattr__(self, "class_policy", plain_policy(self.class_policy))
        object.__setattr__(self, "filter_threshold",
                           _probability("", "filter_threshold", self.filter_threshold, allow_none=True))
        object.__setattr__(self, "filter_class_quantile",
                           _probability("", "filter_class_quantile", self.filter_class_quantile, allow_none=True))
        object.__setattr__(self, "filter_min_acceptance",
                           _probability("", "filter_min_acceptance", self.filter_min_acceptance))
        QualityFilter.check_fallback(self.filter_fallback, "filter_fallback", ConfigError)
        if self.truncation is not None:
            from ganaug.base.rng import check_truncation

            object.__setattr__(self, "truncation", float(check_truncation(self.truncation)))

    @property
    def filtered(self) -> bool:
        return self.filter_threshold is not None

    def check_classes(self, train: ImageArrayDataset) -> None:
        """Raise ConfigError if a bank of these settings cannot be drawn for ``train``'s classes: found when the
        first bank was drawn, after the reference had trained, as a traceback (weights of the wrong length) or
        as "the bank has no images of ['0', '2', ...]" (fewer images than classes)."""
        k = train.num_classes
        if self.size < k:
            raise ConfigError(f"bank_size={self.size} is fewer images than the {k} classes, and every class needs "
                              "images in the bank; set e.g. bank_size=10000")
        counts = np.bincount(train.labels, minlength=k)
        try:
            class_probabilities(self.class_policy, k, counts, n_new=self.size, class_names=train.class_names)
        except ValueError as e:
            policy = self.class_policy
            raise ConfigError(f"class_policy={list(policy) if isinstance(policy, tuple) else policy!r}: {e}") from None

    def key(self) -> dict:
        # Filter settings shape only a filtered bank: an unfiltered one keeps its fingerprint.
        d = asdict(self)
        if not self.filtered:
            for k in ("filter_min_acceptance", "filter_fallback", "filter_class_quantile"):
                d.pop(k)
        return d


@dataclass(frozen=True)
class SyntheticUse:
    """How a run uses synthetic items: their share of each batch and how they enter the loss."""

    ratio: float = 0.0
    class_policy: Any = "match"
    weight: float = 1.0
    soft_labels: float = 0.0            # share of the teacher's softmax in a synthetic item's target
    confidence_weight: bool = False     # weigh a synthetic item by the teacher's probability of its label
    split_norm: bool = False            # batch norm: synthetic items normalised apart, running statistics real only

    def __post_init__(self) -> None:
        from ganaug.mix.plan import MAX_RATIO

        r = self.ratio
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0.0 <= float(r) <= MAX_RATIO:
            raise ConfigError(f"ratios must lie in [0, {MAX_RATIO}] (the synthetic share of each batch), got {r!r}")
        object.__setattr__(self, "ratio", float(r))
        object.__setattr__(self, "class_policy", plain_policy(self.class_policy))
        object.__setattr__(self, "weight", _positive_float("", "synthetic_weight", self.weight, "positive and finite"))
        object.__setattr__(self, "soft_labels", _probability("", "synthetic_soft_labels", self.soft_labels))
        for name in ("confidence_weight", "split_norm"):
            object.__setattr__(self, name, check_flag(f"synthetic_{name}", getattr(self, name)))

    @property
    def needs_flag(self) -> bool:
        """Weighted or soft-labelled synthetic items, or their own batch-norm statistics: the run must tell them from
        real ones."""
        return self.weight != 1.0 or self.needs_teacher or self.split_norm

    @property
    def needs_teacher(self) -> bool:
        """Soft labels or confidence weights: the loss runs a real-data classifier on synthetic items."""
        return bool(self.soft_labels) or self.confidence_weight

    def key(self) -> dict:
        d = stored_key("synthetic_use", asdict(self))
        if not self.needs_teacher:  # whose classifier it would be cannot shape the run
            d.pop("teacher")
        return d

    def loss_kwargs(self) -> dict:
        """`train_classifier_on_loader`'s synthetic_* arguments."""
        return {"synthetic_weight": self.weight, "synthetic_soft_labels": self.soft_labels,
                "synthetic_confidence_weight": self.confidence_weight, "synthetic_split_norm": self.split_norm}


def _known(cls, cfg: Any, owner: str) -> dict:
    from omegaconf import OmegaConf

    d = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"{owner}: unknown setting(s) {unknown}; known: {sorted(names)}")
    return d


# ------------------------------------------------------------------------------ fingerprints


def fingerprint(kind: str, *parts: Any) -> str:
    """A short, stable hash of a step: its kind, the schema, and every setting and input it depends on."""
    return digest(SCHEMA, kind, *[p.key() if hasattr(p, "key") else p for p in parts])


def generator_fingerprint(generator: Any) -> str:
    """The weights hash of an exported generator: a loaded one's metadata, or a directory's JSON alone."""
    from ganaug.gan.artifact import read_generator_meta

    meta = generator.meta if hasattr(generator, "meta") else read_generator_meta(generator)
    return meta["weights_sha256"][:16]


def transform_key(transform: Any) -> Any:
    """A fingerprint part for a transform that survives a restart (reprs hold memory addresses)."""
    if transform is None:
        return None
    if callable(getattr(transform, "to_dict", None)):
        try:
            return transform.to_dict()
        except Exception:  # noqa: BLE001 - a transform that cannot describe itself falls back to its type
            pass
    return f"{type(transform).__module__}.{getattr(transform, '__qualname__', type(transform).__qualname__)}"


def reference_fingerprint(train_fp: str, clf: ClassifierSettings) -> str:
    # The reference trains without augmentation; the None is the transform part every stored reference hashed.
    return fingerprint("reference", train_fp, clf.unmixed(), None)


def bank_fingerprint(generator_fp: str, bank: BankSettings, seed: int, train_counts: list[int],
                     reference_fp: str | None, val_fp: str | None) -> str:
    # The filter's judge, and the validation split it is calibrated on, only where they shape the bank.
    judge = reference_fp if bank.filtered else None
    calib = val_fp if bank.filtered and bank.filter_class_quantile is not None else None
    return fingerprint("bank", generator_fp, bank, int(seed), [int(c) for c in train_counts], judge, calib)


def run_fingerprint(train_fp: str, val_fp: str, metric: str, clf: ClassifierSettings, transform: Any, seed: int, *,
                    bank_fp: str | None = None, use: SyntheticUse | None = None, teacher_fp: str | None = None,
                    reweight: bool = False) -> str:
    synthetic = use is not None and use.ratio > 0
    return fingerprint("run", train_fp, val_fp, metric, clf, transform_key(transform), int(seed),
                       bank_fp if synthetic else None, use if synthetic else None,
                       teacher_fp if synthetic and use.needs_teacher else None, bool(reweight))


# ------------------------------------------------------------------------------ small shared pieces


def seeded(transform: Any, seed: int) -> Any:
    """A copy of the transform with its own RNG seeded: a run is reproducible whatever ran before it."""
    if transform is None:
        return None
    t = copy.deepcopy(transform)
    if callable(getattr(t, "set_random_seed", None)):
        t.set_random_seed(seed)
    return t


def bank_seed(gan_seed: int, filtered: bool) -> int:
    return int(gan_seed) + (FILTERED_BANK_SEED_OFFSET if filtered else 0)


def loader(ds, batch_size: int, seed: int, batch_sampler=None) -> DataLoader:
    if batch_sampler is not None:
        return DataLoader(ds, batch_sampler=batch_sampler, num_workers=0)
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=len(ds) >= batch_size,
                      generator=gen, num_workers=0)


def class_balanced_loader(ds, batch_size: int, seed: int) -> DataLoader:
    """Batches in which every class is equally likely per draw: the classical answer to a long tail."""
    counts = np.bincount(ds.labels, minlength=ds.num_classes)
    weights = torch.as_tensor(1.0 / counts[ds.labels], dtype=torch.double)
    sampler = WeightedRandomSampler(weights, len(ds), replacement=True, generator=torch.Generator().manual_seed(seed))
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, drop_last=len(ds) >= batch_size, num_workers=0)


def score(model: SmallCNN, ds: Any, metric: str) -> float:
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {METRICS}, got {metric!r}")
    fn = balanced_accuracy if metric == "balanced_accuracy" else accuracy
    return float(fn(model, ds.images, ds.labels))


def outcomes(model: SmallCNN, ds: Any) -> str:
    """Which images of ``ds`` the model gets right, as a hex string of packed bits (``unpack_outcomes``):
    the per-image record a decision rule resamples (stats.paired_bootstrap_gain)."""
    from ganaug.classify.classifier import _predicted_labels

    pred, labels, _ = _predicted_labels(model, ds.images, ds.labels)
    return np.packbits(pred == labels).tobytes().hex()


def unpack_outcomes(packed: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(packed), dtype=np.uint8))[:n].astype(np.float64)


def metric_weights(labels: np.ndarray, metric: str) -> np.ndarray:
    """Per-image weights that make a weighted mean of outcomes the metric (balanced accuracy: 1 / class count)."""
    labels = np.asarray(labels)
    if metric == "balanced_accuracy":
        counts = np.bincount(labels)
        return 1.0 / counts[labels]
    return np.ones(len(labels))


def _as_arrays(ds, transform: Any = None):
    from ganaug.data import ImageArrayDataset

    return ImageArrayDataset(ds.images, ds.labels, ds.class_names, transform=transform)


def _new_model(train, clf: ClassifierSettings) -> SmallCNN:
    h, w, ch = train.image_shape
    return build_model(clf.model, clf.arch, train.num_classes, ch, (h, w), clf.width)


# ------------------------------------------------------------------------------ the steps


def train_reference(train, clf: ClassifierSettings) -> SmallCNN:
    """The real-data classifier (seed 0), without augmentation: the filter's judge and the soft labels' teacher."""
    return train_run(train, clf.unmixed(), seed=0)


def save_classifier(model: SmallCNN, path: str | Path) -> Path:
    from safetensors.torch import save

    from ganaug.base.files import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}))
    return path


def load_classifier(path: str | Path, train, clf: ClassifierSettings) -> SmallCNN:
    from safetensors.torch import load_file

    model = _new_model(train, clf)
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def build_bank(generator: Any, out: str | Path, bank: BankSettings, *, seed: int, real_labels: np.ndarray,
               reference: SmallCNN | None = None, val: Any = None) -> dict:
    """Write a synthetic bank; a filter that rejects some class outright is recorded, not raised.

    Returns the record: size, acceptance per class, the filter's per-class thresholds, and
    ``filter_error`` (the reason the filtered bank could not be made, or None).
    """
    from ganaug.mix.bank import SyntheticBank
    from ganaug.mix.filter import QualityFilter

    quality = None
    if bank.filtered:
        if reference is None:
            raise ConfigError("a filtered bank needs the reference classifier (the filter's judge)")
        quality = QualityFilter(reference, bank.filter_threshold, min_acceptance=bank.filter_min_acceptance,
                                fallback=bank.filter_fallback)
        if bank.filter_class_quantile is not None:
            if val is None or not len(val):
                raise ConfigError("filter_class_quantile calibrates the filter on the validation split, which is "
                                  "empty; set a validation fraction > 0")
            quality.calibrate(val.images, val.labels, bank.filter_class_quantile)
    t0 = time.perf_counter()
    record = {"bank": str(out), "seed": int(seed), "filter_threshold": bank.filter_threshold,
              "truncation": bank.truncation}
    try:
        made = SyntheticBank.generate(generator, bank.size, out, class_policy=bank.class_policy,
                                      real_labels=real_labels, seed=int(seed), truncation=bank.truncation,
                                      filter=quality, progress=False)
    except GanaugError as e:
        if quality is None:
            raise
        # A generator the real-data classifier rejects for some class is a finding, not a crash:
        # the runs using this bank are recorded as skipped, with this reason.
        names = getattr(generator, "class_names", None)
        return {**record, "size": 0, "acceptance": quality.report(names), "filter_error": str(e),
                "filter_class_thresholds": _thresholds(quality), "filter_unfiltered": [],
                "seconds": time.perf_counter() - t0}
    names = list(made.class_names)
    return {**record, "size": len(made), "acceptance": made.acceptance, "filter_error": None,
            "filter_class_thresholds": _thresholds(quality),
            "filter_unfiltered": [] if quality is None else [names[k] for k in np.flatnonzero(quality.unfiltered)],
            "seconds": time.perf_counter() - t0}


def _thresholds(quality) -> list | None:
    return None if quality is None or quality.class_thresholds is None else quality.class_thresholds.tolist()


def train_run(train, clf: ClassifierSettings, *, seed: int, transform: Any = None, source: Any = None,
              use: SyntheticUse | None = None, teacher: SmallCNN | None = None, reweight: bool = False) -> SmallCNN:
    """The reference classifier trained under one condition: real only, or real mixed with synthetic items.

    ``transform`` (classical augmentation, uint8 H×W×C in and out) applies to real and synthetic
    items alike, reseeded with ``seed``. With ``source`` and ``use`` (ratio > 0) the batches come from
    `SyntheticMix` with an exact synthetic share per batch: the product under test, as a user adds
    it. ``source`` is a bank (its directory).
    ``reweight`` draws real images class-balanced (the classical long-tail baseline).
    """
    from ganaug.mix.dataset import SyntheticMix
    from ganaug.mix.samplers import MixedBatchSampler

    transform = seeded(transform, seed)
    bs = clf.batch_size
    synthetic = source is not None and use is not None and use.ratio > 0
    if synthetic:
        mix = SyntheticMix(_as_arrays(train), source, ratio=use.ratio, seed=seed, class_policy=use.class_policy,
                           transform=transform, return_flag=use.needs_flag)
        if mix.source.kind != "bank":  # the benchmark's and tune's runs are measured on banks only
            raise ConfigError(f"a run's synthetic items come from a bank, but it was given a {mix.source.kind}: pass "
                              "the bank's directory (ganaug-sample bank.enabled=true)")
        batches = loader(mix, bs, seed, batch_sampler=MixedBatchSampler(mix, bs))
    elif reweight:
        batches = class_balanced_loader(_as_arrays(train, transform), bs, seed)
    else:
        batches = loader(_as_arrays(train, transform), bs, seed)
    extra = use.loss_kwargs() if synthetic else {}
    if synthetic and use.needs_teacher:
        if teacher is None:
            raise ConfigError("soft labels and confidence weights need a teacher: the real-data classifier")
        extra["teacher"] = teacher
    h, w, ch = train.image_shape
    model = train_classifier_on_loader(batches, train.num_classes, ch, (h, w), steps=clf.steps, lr=clf.lr, seed=seed,
                                       width=clf.width, arch=clf.arch, lr_schedule=clf.lr_schedule,
                                       device=resolve_device(clf.device),
                                       precision=clf.precision, batch_mix=clf.batch_mix,
                                       batch_mix_alpha=clf.batch_mix_alpha, model=clf.model, **extra)
    if teacher is not None:  # the loop moved it with the loss; the caller's other users expect the CPU
        teacher.cpu()
    return model.cpu()

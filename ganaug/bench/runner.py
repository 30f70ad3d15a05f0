"""`ganaug-bench`: the downstream-gain benchmark (docs/design.md, "The benchmark protocol as implemented").

For each regime (labelled images per class, or a long tail) it trains the GAN on that regime's
labelled training images only, builds synthetic banks from it, and trains the same reference
classifier for the same number of steps at the same batch size under every condition. Every
finished unit (a GAN, a bank, a metrics pass, a classifier run) is stored as it completes; rerunning
the same command skips what is done.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import re
import shutil
import stat
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ganaug.eval import engine
from ganaug.base.checks import check_dir_setting, positive_int, positive_number
from ganaug.classify.classifier import accuracy
from ganaug.base.checks import check_flags
from ganaug.base.resources import check_fits, set_threads
from ganaug.errors import user_error
from ganaug.base.config_schema import gan_identity
from ganaug.data import ImageArrayDataset
from ganaug.base.dir_lock import hold_dir
from ganaug.eval.engine import BankSettings, ClassifierSettings, SyntheticUse
from ganaug.data.arrays import data_fingerprint
from ganaug.errors import ConfigError, GanaugError
from ganaug.base.files import atomic_file, check_unlinked, make_dir, move, output_root, remove
from ganaug.gan.artifact import WEIGHTS_FILE, load_generator
from ganaug.gan.module import check_settings as check_gan_settings
from ganaug.gan.train import check_length
from ganaug.base.provenance import cpu_reading, cpu_use, git_commit, machine
from ganaug.base.rng import check_seed
from ganaug.gan.run_record import precision_name
from ganaug.mix.recipe import source_content_id
from ganaug.bench.conditions import Condition, check_list, conditions_for
from ganaug.bench.selection import candidate_steps, check_samples_fit, check_settings, choose, score_candidate
from ganaug.eval.store import (UnitStore, choice_id, fingerprint, gan_id, gan_of, gan_training_seconds, score_problem,
                               trains_gan)

log = logging.getLogger(__name__)


@dataclass
class Unit:
    id: str
    stage: str
    cost: float
    run: Callable[[], dict]
    after: list[str] = field(default_factory=list)
    # Hash of every setting the unit's result depends on (its inputs' fingerprints included):
    # a stored unit counts as done only if it was made with the same settings. A callable taking
    # the store's `get` is resolved once the units in `after` are done (see Fingerprints).
    fingerprint: str | Callable[[Callable[[str], dict]], str] = ""
    # `bench.reuse_from` may adopt it: its record, plus these files and directories (relative to
    # out_dir) that hold the rest of its result.
    adoptable: bool = False
    outputs: list[str] = field(default_factory=list)
    # run(progress) is called with a function taking the fraction done, for the benchmark's bar; the first
    # fraction is where the unit starts (a resumed GAN's restored count), before it does any work.
    reports_progress: bool = False
    # Why a stored record no longer holds though its fingerprint matches (None: it holds). A GAN's
    # fingerprint names its data by settings, so images changed at the same place are found here.
    stale: Callable[[dict], str | None] | None = None
    # What is wrong with a stored record's fields that the report reads (None: nothing): a score hand-edited to
    # text or NaN is refused by name when the benchmark reruns, not left to fail in the report's arithmetic.
    problem: Callable[[dict], str | None] | None = None


# A classifier run's record: val and test finite numbers, or None where the run was skipped.
_RUN_PROBLEM = functools.partial(score_problem, keys=("val", "test"), allow_skipped=True)


class ReuseError(GanaugError, FileNotFoundError):
    """bench.reuse_from names a directory that holds no benchmark units."""


class StaleGANError(GanaugError):
    """A stored GAN was trained with other settings than the ones asked for."""


@contextmanager
def _named(prefix: str):
    """The engine's settings errors, named as the config key the user set."""
    try:
        yield
    except ConfigError as e:
        raise ConfigError(f"{prefix}{e}") from None


# GANDataModule's settings as its messages name them; not a path such as /data/data.v2/...
_DATA_KEY = re.compile(r"(?<![\w./\\-])data\.(n_per_class|imbalance_ratio|n_max|data_seed|val_fraction|batch_size|"
                       r"num_workers|drop_last|on_device|dataset)\b")


def _bench_data_key(regime: str, key: str) -> str:
    if key in ("n_per_class", "imbalance_ratio", "n_max"):
        return f"bench.regimes.{regime}.{key}"
    if key in ("data_seed", "val_fraction"):
        return f"bench.{key}"
    return f"train.data.{key}"


@contextmanager
def _data_keys_named(regime: str):
    """The data module's errors, which name ganaug-train's data.* keys, named as ganaug-bench's: a regime's
    subset, bench.data_seed, or the train.data group."""
    try:
        yield
    except Exception as e:
        err = user_error(e)  # instantiate wraps what it calls
        if not isinstance(err, GanaugError):
            raise
        message = _DATA_KEY.sub(lambda m: _bench_data_key(regime, m[1]), str(err))
        try:
            renamed = type(err)(message)
        except TypeError:  # an error class with another signature: its own words, unchanged
            raise err from err.__cause__
        raise renamed from err.__cause__  # what the data module gave as the cause (a file's OSError) stays


class Regime:
    """Everything about one regime that units share, built lazily and once."""

    def __init__(self, name: str, spec: DictConfig, cfg: DictConfig, out: Path, test: ImageArrayDataset):
        self.name, self.spec, self.cfg, self.out, self.test = name, spec, cfg, out / name, test
        self._dm = None
        self._models: dict[Path, object] = {}
        self._fps: dict[str, str] = {}

    @property
    def imbalanced(self) -> bool:
        return self.spec.get("imbalance_ratio") is not None

    @property
    def metric(self) -> str:
        return "balanced_accuracy" if self.imbalanced else "accuracy"

    @property
    def class_policy(self):
        """Which classes synthetic images go to: a long tail's rare classes are always filled up."""
        return "balance" if self.imbalanced else self.cfg.bench.class_policy

    @property
    def filter_class_quantile(self) -> float | None:
        """Per-class filter calibration (`QualityFilter.calibrate`), from the regime or the bench."""
        q = self.spec.get("filter_class_quantile", self.cfg.bench.get("filter_class_quantile"))
        return None if q is None else float(q)

    @property
    def filter_fallback(self) -> str | None:
        """`QualityFilter`'s fallback for a class it accepts almost nothing of (None: skip the filtered conditions)."""
        fallback = self.spec.get("filter_fallback", self.cfg.bench.get("filter_fallback"))
        from ganaug.mix.filter import QualityFilter

        QualityFilter.check_fallback(fallback, f"{self.name}: filter_fallback", ConfigError)
        return fallback

    # -- the engine's settings objects, from this regime's config
    @functools.cached_property
    def classifier(self) -> ClassifierSettings:
        with _named("bench."):
            return ClassifierSettings.from_config(self.cfg.bench.classifier)

    @functools.cached_property
    def selection_classifier(self) -> ClassifierSettings:
        """The classifier the generator choice scores candidates with (`bench.select_generator.classifier`)."""
        sel = self.cfg.bench.get("select_generator") or {}
        changed = {k: v for k, v in (sel.get("classifier") or {}).items() if v is not None}
        with _named("bench.select_generator."):
            return ClassifierSettings.from_config(
                {**OmegaConf.to_container(self.cfg.bench.classifier, resolve=True), **changed}).unmixed()

    def bank_settings(self, filtered: bool) -> BankSettings:
        b = self.cfg.bench
        with _named("bench."):
            return BankSettings(size=b.bank_size, class_policy=self.class_policy, truncation=b.truncation,
                                filter_threshold=b.filter_threshold if filtered else None,
                                filter_min_acceptance=b.filter_min_acceptance,
                                filter_fallback=self.filter_fallback, filter_class_quantile=self.filter_class_quantile)

    def use(self, ratio: float) -> SyntheticUse:
        b = self.cfg.bench
        with _named("bench."):
            # Read, not defaulted: bench/fashion_mnist.yaml holds each key, and a default here would be a second one.
            return SyntheticUse(ratio=ratio, class_policy=self.class_policy, weight=b.synthetic_weight,
                                soft_labels=b.synthetic_soft_labels, confidence_weight=b.synthetic_confidence_weight,
                                split_norm=b.synthetic_split_norm)

    def train_cfg(self, gan_seed: int) -> DictConfig:
        b = self.cfg.bench
        data = {"n_per_class": self.spec.get("n_per_class"), "imbalance_ratio": self.spec.get("imbalance_ratio"),
                "n_max": self.spec.get("n_max"), "data_seed": b.data_seed, "val_fraction": b.val_fraction}
        return OmegaConf.merge(self.cfg.train, {
            "data": data, "seed": gan_seed, "out_dir": str(self.out / f"gan-g{gan_seed}"),
            "run_name": f"{self.name}-g{gan_seed}",
        })

    @property
    def datamodule(self):
        # The same GANDataModule the GAN is trained from: train/val are identical by construction.
        if self._dm is None:
            with _data_keys_named(self.name):
                self._dm = instantiate(self.train_cfg(0).data)
        return self._dm

    @property
    def train_set(self) -> ImageArrayDataset:
        return self.datamodule.train_set

    @property
    def val_set(self) -> ImageArrayDataset:
        return self.datamodule.val_set

    def data_fp(self, split: str) -> str:
        """Content hash of the train, val or test images: what ganaug-tune hashes too."""
        if split not in self._fps:
            ds = {"train": self.train_set, "val": self.val_set, "test": self.test}[split]
            self._fps[split] = data_fingerprint(ds)
        return self._fps[split]

    def transform(self):
        return instantiate(self.cfg.augment)

    def score(self, model, ds: ImageArrayDataset) -> float:
        return engine.score(model, ds, self.metric)

    def reference_path(self) -> Path:
        # Read as well as written below bench.out_dir: a link planted here would pick the filter's judge.
        return check_unlinked(self.out / "reference_classifier.safetensors")

    def reference_fp(self) -> str:
        return engine.reference_fingerprint(self.data_fp("train"), self.classifier)

    def reference(self):
        """The real-data classifier: quality filter, label agreement and FID/KID features."""
        return self._load(self.reference_path())

    teacher = reference  # the soft labels' teacher is the reference

    def _load(self, path: Path):
        if path not in self._models:
            self._models[path] = engine.load_classifier(path, self.train_set, self.classifier)
        return self._models[path]


def train_condition(regime: Regime, cond: Condition, clf_seed: int, gan_seed: int | None) -> dict:
    """Train the reference classifier under one condition (the engine's run); same steps and batch size for all."""
    clf = regime.classifier
    transform = regime.transform() if cond.classical else None
    record = {"regime": regime.name, "condition": cond.name, "ratio": cond.ratio, "classical": cond.classical,
              "filtered": cond.filtered, "clf_seed": clf_seed, "gan_seed": gan_seed, "metric": regime.metric}
    source, use, teacher, bank_unit = None, None, None, None
    if cond.ratio > 0:
        bank_unit = UnitStore(regime.out.parent / "units").get(f"{regime.name}/bank-g{gan_seed}")
        if cond.filtered and bank_unit.get("filter_error"):
            return {**record, "skipped": bank_unit["filter_error"], "val": None, "test": None}
        use = regime.use(cond.ratio)
        record.update(use.loss_kwargs())
        source = check_unlinked(regime.out / f"bank-g{gan_seed}" / ("filtered" if cond.filtered else "unfiltered"))
        # The images it stood on: a bank remade since (its files are not kept) may hold others (`_build_banks`).
        record["bank_content_id"] = source_content_id(source)
        teacher = regime.teacher() if use.needs_teacher else None
    elif cond.reweight:
        record["reweight"] = True
    # The engine's fingerprint of this run: the one ganaug-tune gives the same run on the same data.
    record["run_fingerprint"] = condition_fp(regime, cond, clf_seed, bank_unit if cond.ratio > 0 else None)
    t0 = time.perf_counter()
    model = engine.train_run(regime.train_set, clf, seed=clf_seed, transform=transform, source=source, use=use,
                             teacher=teacher, reweight=cond.reweight)
    seconds = time.perf_counter() - t0
    # Which validation images it got right: the decision rule's interval counts them (stats.paired_bootstrap_gain).
    return {**record, "val": regime.score(model, regime.val_set) if len(regime.val_set) else None,
            "val_outcomes": engine.outcomes(model, regime.val_set) if len(regime.val_set) else None,
            "test": regime.score(model, regime.test), "steps": clf.steps, "batch_size": clf.batch_size,
            "device": str(engine.resolve_device(clf.device)), "seconds": seconds}


def _train_gan(regime: Regime, gan_seed: int, progress: Callable[[float], None] | None = None) -> dict:
    from ganaug.gan.progress import UpdateHook
    from ganaug.gan.train import train

    cfg = regime.train_cfg(gan_seed)
    hooks = [] if progress is None else [UpdateHook(lambda s, n=int(cfg.gan.max_steps): progress(s / n))]
    t0 = time.perf_counter()
    result = train(cfg, extra_callbacks=hooks)
    # seconds: this invocation; train_seconds: the training loop over every stretch of a resumed GAN.
    return _with_generator_fp({"regime": regime.name, "gan_seed": gan_seed, "generator": result["generator"],
                               "data_content": regime.data_fp("train"),
                               "g_updates": result["g_updates"], "seconds": time.perf_counter() - t0,
                               "train_seconds": result["train_seconds"], "stretches": result["stretches"],
                               "resumed_from": result["resumed_from"]})


def _other_images(record: dict, regime: Regime) -> str | None:
    # Records made before data_content was recorded hold no hash to compare: they are kept.
    content = record.get("data_content")
    if content is None or content == regime.data_fp("train"):
        return None
    return (f"it was trained on other images than the regime's training set now (data.content {content[:12]} "
            f"!= {regime.data_fp('train')[:12]}): the data at the same location changed (images added, removed, "
            "relabelled, or a class folder renamed)")


def _train_reference(regime: Regime) -> dict:
    """The real-data classifier (seed 0)."""
    ts = regime.train_set
    t0 = time.perf_counter()
    model = engine.train_reference(ts, regime.classifier)
    engine.save_classifier(model, regime.reference_path())
    return {"regime": regime.name, "val": regime.score(model, regime.val_set) if len(regime.val_set) else None,
            "test": regime.score(model, regime.test), "seconds": time.perf_counter() - t0,
            "train_images": len(ts), "class_counts": np.bincount(ts.labels, minlength=ts.num_classes).tolist(),
            "classical": False}


def _with_generator_fp(record: dict) -> dict:
    return {**record, "generator_fingerprint": engine.generator_fingerprint(record["generator"])}


def _generator_fp(record: dict) -> str:
    # Recorded when the GAN or the choice ran; read from the export for records made before that.
    return record.get("generator_fingerprint") or engine.generator_fingerprint(record["generator"])


def bank_fps(regime: Regime, gan_seed: int, generator_fp: str) -> dict[str, str]:
    """The engine's fingerprints of a GAN's unfiltered and filtered banks (the ones ganaug-tune computes)."""
    counts = np.bincount(regime.train_set.labels, minlength=regime.datamodule.num_classes).tolist()
    return {kind: engine.bank_fingerprint(generator_fp, regime.bank_settings(kind == "filtered"),
                                          engine.bank_seed(gan_seed, kind == "filtered"), counts,
                                          regime.reference_fp(), regime.data_fp("val"))
            for kind in ("unfiltered", "filtered")}


def _build_banks(regime: Regime, gan_seed: int, source: dict) -> dict:
    from ganaug.gan.grid import save_grid

    dm = regime.datamodule
    generator_path = check_unlinked(source["generator"])  # a GAN of this directory, or one adopted by reference
    gen = load_generator(generator_path, expect_num_classes=dm.num_classes, expect_image_shape=dm.image_shape)
    out = regime.out / f"bank-g{gan_seed}"
    made = {}
    for kind in ("unfiltered", "filtered"):
        filtered = kind == "filtered"
        made[kind] = engine.build_bank(gen, out / kind, regime.bank_settings(filtered),
                                       seed=engine.bank_seed(gan_seed, filtered),
                                       real_labels=regime.train_set.labels,
                                       reference=regime.reference() if filtered else None, val=regime.val_set)
    k = dm.num_classes
    grid_images = np.concatenate([gen.sample(labels=np.full(10, y), seed=y)[0] for y in range(k)])
    save_grid(regime.out / f"samples-g{gan_seed}.png", grid_images, gen.class_names,
              title=f"{regime.name}, GAN seed {gan_seed}")
    filt = made["filtered"]
    content = {kind: source_content_id(out / kind) for kind in made}
    fps = bank_fps(regime, gan_seed, _generator_fp(source))
    _warn_if_remade_otherwise(regime, gan_seed, content, fps)
    return {"regime": regime.name, "gan_seed": gan_seed, "generator": str(generator_path), "content_ids": content,
            "bank_size": made["unfiltered"]["size"], "generation_seconds": made["unfiltered"]["seconds"],
            "filtered_generation_seconds": filt["seconds"], "filter_threshold": filt["filter_threshold"],
            "truncation": filt["truncation"], "acceptance": filt["acceptance"],
            "filter_class_thresholds": filt["filter_class_thresholds"],
            "filter_unfiltered": filt["filter_unfiltered"], "filter_error": filt["filter_error"],
            "bank_fingerprints": fps}


def _warn_if_remade_otherwise(regime: Regime, gan_seed: int, content: dict, fps: dict) -> None:
    """Say so when a bank made again (its files are not kept: a rerun on a fresh machine) holds other images than
    the ones its earlier record names: a generator's float arithmetic differs from one CPU to another. Runs stored
    before keep their scores, measured on the earlier images; each run's record names the images it read
    (``bank_content_id``) and the report counts the conditions whose runs read more than one. Records made
    before banks recorded their images are not compared; a bank remade under other settings is a new bank."""
    try:
        earlier = UnitStore(regime.out.parent / "units").get(f"{regime.name}/bank-g{gan_seed}")
    except (FileNotFoundError, GanaugError):
        return
    ids = earlier.get("content_ids")
    if earlier.get("bank_fingerprints") != fps or not isinstance(ids, dict):
        return
    changed = [k for k, v in ids.items() if v is not None and content.get(k) != v]
    if changed:
        log.warning("%s: GAN seed %d's %s bank(s), made again, hold other images than when first made (a "
                    "generator's arithmetic differs between CPUs); runs stored before keep the scores measured on the "
                    "earlier images, and the report names the conditions whose runs read both",
                    regime.name, gan_seed, " and ".join(changed))


def _gan_metrics(regime: Regime, gan_seed: int) -> dict:
    from ganaug.mix.bank import SyntheticBank

    bank = SyntheticBank.open(check_unlinked(regime.out / f"bank-g{gan_seed}" / "unfiltered"))
    return {"regime": regime.name, "gan_seed": gan_seed,
            **gan_quality(regime, np.asarray(bank.images), np.asarray(bank.labels))}


def gan_quality(regime: Regime, images: np.ndarray, labels: np.ndarray) -> dict:
    """CAS, FID/KID, label agreement and precision/recall of labelled synthetic images for a regime."""
    from ganaug.classify.metrics import (
        DomainFeatureExtractor,
        cas,
        extract_features,
        fid,
        kid,
        label_agreement,
        precision_recall,
    )

    b = regime.cfg.bench
    dm = regime.datamodule
    n = min(b.metrics_samples, len(images), len(regime.test))
    rng = np.random.default_rng(0)
    fake = images[np.sort(rng.choice(len(images), n, replace=False))]
    test = regime.test.images[np.sort(rng.choice(len(regime.test), n, replace=False))]
    ref = regime.reference()
    extractor = DomainFeatureExtractor(ref)
    # Reference points for the scale of FID/KID: the labelled real images against the test split.
    real = regime.train_set.images
    kid_subset = max(2, min(b.kid_subset, n, len(real)))
    real_cas = float(accuracy(ref, regime.test.images, regime.test.labels))
    clf = regime.classifier
    result = cas(images, labels, None, None, regime.test.images, regime.test.labels, dm.num_classes,
                 steps=clf.steps, seed=0, real_acc=real_cas, batch_size=clf.batch_size, lr=clf.lr, width=clf.width,
                 arch=clf.arch, lr_schedule=clf.lr_schedule, device=engine.resolve_device(clf.device),
                 precision=clf.precision)
    agree = label_agreement(ref, images, labels, dm.num_classes)
    pr = precision_recall(extract_features(extractor, test), extract_features(extractor, fake))
    kid_fake = kid(test, fake, extractor, subset_size=kid_subset)
    kid_real = kid(test, real, extractor, subset_size=kid_subset)
    return {
        "n": n,
        "fid": fid(test, fake, extractor), "fid_real_labelled_vs_test": fid(test, real, extractor),
        "kid": kid_fake[0], "kid_std": kid_fake[1], "kid_real_labelled_vs_test": kid_real[0],
        "cas": result["cas"], "cas_real_acc": result["real_acc"], "cas_ratio": result["cas_ratio"],
        "label_agreement": agree["overall"], "label_agreement_per_class": agree["per_class"],
        "precision": pr["precision"], "recall": pr["recall"],
    }



# Regime keys that say what to run rather than which data: outside the data fingerprint.
CONDITION_KEYS = ("ratios", "filter_options", "classical_synthetic_filter_options")
# Regime keys that shape the banks, not the data: outside the data (and GAN) fingerprint.
BANK_KEYS = ("filter_class_quantile", "filter_fallback")
RUN_KEYS = ("gan_seeds", "classifier_seeds", *CONDITION_KEYS, *BANK_KEYS)
# Every key a regime may have: its labelled subset, and what it runs (`_check_regime_keys`).
REGIME_KEYS = ("n_per_class", "imbalance_ratio", "n_max", *RUN_KEYS)
# Data keys that say how batches are assembled, not which images or in what order (the sampler runs in
# the main process, and GAN data has no per-item randomness): the same GAN whatever their value. None:
# left out of the data fingerprint; a value: the one every stored fingerprint was made with.
LOADING_KEYS = {"on_device": None, "num_workers": 0}


def _data_identity(data: dict) -> dict:
    return {k: (LOADING_KEYS[k] if k in LOADING_KEYS else v) for k, v in data.items()
            if not (k in LOADING_KEYS and LOADING_KEYS[k] is None)}


def condition_fp(regime: Regime, cond: Condition, clf_seed: int, bank: dict | None) -> str:
    """The engine's fingerprint of a condition's run (the one ganaug-tune gives the same run)."""
    use = regime.use(cond.ratio) if cond.ratio > 0 else None
    bank_fp = bank["bank_fingerprints"]["filtered" if cond.filtered else "unfiltered"] if use else None
    teacher_fp = regime.reference_fp() if use else None
    return engine.run_fingerprint(regime.data_fp("train"), regime.data_fp("val"), regime.metric, regime.classifier,
                                  regime.transform() if cond.classical else None, clf_seed, bank_fp=bank_fp,
                                  use=use, teacher_fp=teacher_fp, reweight=cond.reweight)


def _with_test(regime: Regime, fp: str) -> str:
    # A unit whose record holds a test score: the engine's fingerprint plus the test split's content.
    return fingerprint(fp, "test", regime.data_fp("test"))


def _check_subset_keys(b: DictConfig) -> None:
    # The data module names its own keys (data.*); a benchmark's user set bench.*.
    seed, fraction = b.data_seed, b.val_fraction
    check_seed(seed, "bench.data_seed", "it picks the labelled subset, e.g. bench.data_seed=1")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ConfigError(f"bench.val_fraction must be a number in (0, 1): choices are made on that validation "
                          f"split; got {fraction!r}, set e.g. bench.val_fraction=0.2")


def _check_groups(b: DictConfig) -> None:
    # A group of settings overridden with one value (bench.classifier=resnet, as if it named a choice)
    # reaches the code as a string, which fails far from the key, or only after a GAN has trained.
    def group(value, name: str, fix: str, allow_none: bool = False) -> None:
        if (value is None and allow_none) or isinstance(value, (dict, DictConfig)):
            return
        raise ConfigError(f"{name} is a group of settings, not one value: got {value!r}; {fix}")

    group(b.get("classifier"), "bench.classifier", "set its keys, e.g. bench.classifier.arch=resnet")
    group(b.get("regimes"), "bench.regimes", "pick a file of conf/bench/regimes with bench/regimes=<file>, or set "
          "a regime's keys, e.g. bench.regimes.n100.n_per_class=100")
    for name, spec in b.regimes.items():
        group(spec, f"bench.regimes.{name}", f"set its keys, e.g. bench.regimes.{name}.n_per_class=100")
        _check_regime_keys(name, spec)
    sel = b.get("select_generator")
    group(sel, "bench.select_generator", "set its keys, e.g. bench.select_generator.by=val_cas", allow_none=True)
    if sel is not None:
        group(sel.get("classifier"), "bench.select_generator.classifier",
              "set its keys, e.g. bench.select_generator.classifier.arch=resnet", allow_none=True)
    # One value for a list (bench.ratios=0.25): "... is not iterable" before, or (a regime's) an OmegaConf merge error.
    for key in CONDITION_KEYS:
        if key in b:
            check_list(f"bench.{key}", key, b[key])
        for name, spec in b.regimes.items():
            if key in spec:
                check_list(f"bench.regimes.{name}.{key}", key, spec[key])
    reuse_sources(b.get("reuse_from"))


def _check_regime_keys(name: str, spec: DictConfig) -> None:
    # A typo (+bench.regimes.n10={n_per_clas:10}) ran with rc 0 on every labelled image: the key was read by nothing.
    import difflib

    unknown = [k for k in spec if k not in REGIME_KEYS]
    if unknown:
        close = {k: difflib.get_close_matches(str(k), REGIME_KEYS, n=1) for k in unknown}
        hint = "; ".join(f"{k}: did you mean {m[0]}?" for k, m in close.items() if m)
        raise ConfigError(f"bench.regimes.{name} has unknown key(s) {unknown}; a regime's keys are "
                          f"{', '.join(REGIME_KEYS)}" + (f" ({hint})" if hint else ""))


# ganaug-train's data keys that ganaug-bench sets itself: (unset value, what sets it, the setting to use).
_REGIME_SUBSET = "each regime sets its own labelled subset (bench.regimes.<name>.{key})"
_BENCH_WIDE = "{setting} sets it for every regime"
BENCH_DATA_KEYS = {"n_per_class": (None, _REGIME_SUBSET, "bench.regimes.{regime}.n_per_class"),
                   "imbalance_ratio": (None, _REGIME_SUBSET, "bench.regimes.{regime}.imbalance_ratio"),
                   "n_max": (None, _REGIME_SUBSET, "bench.regimes.{regime}.n_max"),
                   "data_seed": (0, _BENCH_WIDE, "bench.data_seed"),
                   "val_fraction": (0.0, _BENCH_WIDE, "bench.val_fraction")}


def _check_replaced_train_keys(cfg: DictConfig) -> None:
    # Settings of ganaug-train that each GAN's config replaces (Regime.train_cfg): silently ignored before.
    regime = next(iter(cfg.bench.regimes), "n100")
    for key, (unset, why, setting) in BENCH_DATA_KEYS.items():
        value = cfg.train.data.get(key, unset)
        if value != unset or isinstance(value, bool):
            setting = setting.format(regime=regime)
            raise ConfigError(f"train.data.{key}={value} is not read by ganaug-bench: "
                              f"{why.format(key=key, setting=setting)}; set e.g. {setting}={value} instead, and "
                              f"leave train.data.{key} unset")
    for key, unset, why in (
            ("out_dir", None, "each GAN's directory is <bench.out_dir>/<regime>/gan-g<seed>; set bench.out_dir=... "
                              "instead"),
            ("run_name", "bench", "each GAN's run is named <regime>-g<seed>; set bench.out_dir=... to place them"),
            ("ckpt_path", None, "each GAN resumes from its own <bench.out_dir>/<regime>/gan-g<seed>/checkpoints/"
                                "last.ckpt (one checkpoint would start every GAN from the same weights)")):
        value = cfg.train.get(key, unset)
        if value != unset:
            raise ConfigError(f"train.{key}={value} is not read by ganaug-bench: {why}; leave train.{key} unset")
    seed = cfg.train.get("seed", 0)
    if seed != 0 or isinstance(seed, bool):
        example = seed if _is_seed(seed) else 1
        raise ConfigError(f"train.seed={seed} is not read by ganaug-bench: each GAN's seed comes from bench.gan_seeds "
                          f"(or a regime's bench.regimes.<name>.gan_seeds); set e.g. bench.gan_seeds=[{example}] "
                          "instead, and leave train.seed unset")


def _is_seed(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= 0


# ganaug-train's config groups, under train.: (key, conf/ folder, may be null).
TRAIN_GROUPS = (("data", "data", False), ("gan", "gan", False), ("trainer", "trainer", False),
                ("callbacks", "callbacks", True), ("logger", "logger", True))


def _check_train_groups(cfg: DictConfig) -> None:
    # train.data=digits (ganaug-train's data=digits, under train.) replaced the group with the string 'digits':
    # "Missing key train_set" or "Input cfg is not an OmegaConf config object" far from the key. A group is
    # chosen under train. with Hydra's package syntax: data@train.data=digits.
    train = cfg.get("train")
    if not isinstance(train, (dict, DictConfig)):
        raise ConfigError(f"train is a group of settings, not one value: got {train!r}; set its keys, e.g. "
                          "train.gan.max_steps=5000")
    for key, folder, allow_none in TRAIN_GROUPS:
        value = train.get(key)
        if isinstance(value, (dict, DictConfig)) or (value is None and allow_none):
            continue
        choice = value if isinstance(value, str) and value else "<file>"
        raise ConfigError(f"train.{key} is a group of settings, not one value: got {value!r}; pick a file of "
                          f"conf/{folder} with {folder}@train.{key}={choice}, or set its keys, e.g. "
                          f"train.{key}.<key>=<value>")
    _check_replaced_train_keys(cfg)
    augment = cfg.get("augment") if "augment" in cfg else None
    if not isinstance(augment, (dict, DictConfig)):
        got = "missing" if "augment" not in cfg else f"not a group of settings (got {augment!r})"
        raise ConfigError(f"augment is {got}: it holds the classical condition's transforms; pick a file of "
                          "conf/augment, e.g. augment=digits or augment=fashion_mnist")


def reuse_sources(value) -> list[str | os.PathLike]:
    """`bench.reuse_from` as a list of directories: null (or empty) for none, one directory, or a list of them."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    if isinstance(value, (str, os.PathLike)):
        return [value]
    items = (OmegaConf.to_container(value) if OmegaConf.is_list(value)
             else list(value) if isinstance(value, (list, tuple)) else None)
    if items is None or not all(isinstance(i, (str, os.PathLike)) and str(i).strip() for i in items):
        shown = value if items is None else items
        raise ConfigError(f"bench.reuse_from must be a bench.out_dir of an earlier run, or a list of them, got "
                          f"{shown!r}; set e.g. bench.reuse_from=benchmarks/results/ci or "
                          "bench.reuse_from='[dir_a,dir_b]' (null: adopt nothing)")
    return items


def _check_bench_numbers(b: DictConfig) -> None:
    # Read by the metrics units, after a GAN has trained, or by the bar's plan: named now.
    for key in ("metrics_samples", "kid_subset"):
        positive_int(f"bench.{key}", b.get(key))
    positive_number("bench.gan_cost_per_step", b.get("gan_cost_per_step"),
                    why="a GAN update's cost in classifier steps, for the bar's estimate")


def _check_bank_fits(regime: Regime, out: Path) -> None:
    # What SyntheticBank.generate refuses, after the GAN had trained and naming its own size=: a bank's labels in
    # memory, and its images on disk under bench.out_dir (a GAN's unfiltered and filtered banks).
    size = regime.bank_settings(False).size
    pixels = int(np.prod(regime.datamodule.image_shape))
    check_fits(size * 8, "bench.bank_size", size)
    check_fits(2 * size * (pixels + 8), "bench.bank_size", size, disk=out,
               fix=" (each GAN seed writes an unfiltered and a filtered bank of it), or choose another bench.out_dir")


def plan(cfg: DictConfig, out: Path, test: ImageArrayDataset) -> list[Unit]:
    """The benchmark's units. GANs keep a fingerprint of their config (hours of CPU: a new engine schema
    leaves them valid); every classifier step has the engine's fingerprint, those that depend on a
    generator's weights a callable resolved once its inputs are done."""
    b = cfg.bench
    units: list[Unit] = []
    _check_groups(b)
    _check_train_groups(cfg)
    _check_bench_numbers(b)
    check_gan_settings(OmegaConf.to_container(cfg.train.gan, resolve=True), where="train.gan")
    check_length(cfg.train.trainer, where="train.trainer")
    gan_cost = float(b.gan_cost_per_step) * int(cfg.train.gan.max_steps)
    with _named("bench."):
        clf_cost = float(ClassifierSettings.from_config(b.classifier).steps)
    select_by = check_settings(b.get("select_generator"))
    _check_subset_keys(b)
    precision = str(cfg.train.trainer.get("precision", "32-true"))
    precision = precision_name(precision)
    for name, spec in b.regimes.items():
        regime = Regime(name, spec, cfg, out, test)
        # settings named when planning, not after a GAN has trained
        regime.bank_settings(True), regime.use(0.5), regime.selection_classifier
        with _named("bench."):
            regime.bank_settings(False).check_classes(regime.train_set)
        _check_bank_fits(regime, out)
        if select_by == "val_cas":  # what each candidate draws at once, named before the GAN trains
            check_samples_fit(b.select_generator, regime.datamodule.num_classes, regime.datamodule.image_shape,
                              int(cfg.train.gan.z_dim))
        gan_seeds, clf_seeds = (engine.check_seeds(f"bench.regimes.{name}.{key}" if key in spec else f"bench.{key}",
                                                   spec[key] if key in spec else b[key])
                                for key in ("gan_seeds", "classifier_seeds"))
        data = _data_identity(OmegaConf.to_container(cfg.train.data, resolve=True))
        data_fp = fingerprint(data, {k: v for k, v in spec.items() if k not in RUN_KEYS},
                              b.data_seed, b.val_fraction)
        ref_id = f"{name}/reference"
        units.append(Unit(ref_id, f"{name}: real-data reference classifier", clf_cost,
                          lambda r=regime: _train_reference(r), fingerprint=_with_test(regime, regime.reference_fp()),
                          adoptable=True, outputs=[str(regime.reference_path().relative_to(out))]))
        teacher_id = ref_id
        for g in gan_seeds:
            gid, bid, mid = gan_id(name, g), f"{name}/bank-g{g}", f"{name}/metrics-g{g}"
            gan = {**OmegaConf.to_container(cfg.train.gan, resolve=True), "trainer.precision": precision}
            gan_fp = fingerprint(data_fp, gan_identity(gan), g)
            # Adopted by reference: the record keeps pointing at the other directory's generator.
            units.append(Unit(gid, f"{name}: GAN seed {g}", gan_cost,
                              lambda progress=None, r=regime, g=g: _train_gan(r, g, progress),
                              fingerprint=gan_fp, adoptable=True, reports_progress=True,
                              stale=lambda rec, r=regime: _other_images(rec, r)))
            # The unit whose record names the generator the banks are made from.
            source = gid
            if select_by != "final":
                source = _selection_units(units, regime, g, gid, gan_fp, out)
            units.append(Unit(bid, f"{name}: synthetic banks, GAN seed {g}", clf_cost * 0.1,
                              lambda r=regime, g=g, src=source, o=out: _build_banks(
                                  r, g, UnitStore(o / "units").get(src)), after=[source, ref_id],
                              fingerprint=lambda rec, r=regime, g=g, src=source: fingerprint(
                                  *bank_fps(r, g, _generator_fp(rec(src))).values()),
                              adoptable=True, outputs=[f"{name}/bank-g{g}", f"{name}/samples-g{g}.png"]))
            units.append(Unit(mid, f"{name}: CAS, FID/KID, GAN seed {g}", clf_cost * 1.2,
                              lambda r=regime, g=g: _gan_metrics(r, g), after=[bid, ref_id],
                              fingerprint=lambda rec, r=regime, bid=bid: _with_test(r, fingerprint(
                                  rec(bid)["bank_fingerprints"]["unfiltered"], r.reference_fp(),
                                  r.classifier.unmixed(), b.metrics_samples, b.kid_subset)), adoptable=True))
        # A regime may run its own conditions (e.g. the long tail also unfiltered, when the filter
        # rejects a rare class outright): its keys override the bench-wide ones.
        cond_cfg = OmegaConf.merge(b, {k: spec[k] for k in CONDITION_KEYS if k in spec})
        for cond in conditions_for(cond_cfg, regime.imbalanced):
            if cond.ratio > 0:
                regime.use(cond.ratio)  # a bad ratio is named now, not after the GAN has trained
            for g in (gan_seeds if cond.ratio > 0 else [None]):
                for c in clf_seeds:
                    uid = f"{name}/{cond.name}/c{c}" + (f"-g{g}" if g is not None else "")
                    bid = f"{name}/bank-g{g}"
                    if g is None:
                        fp = _with_test(regime, condition_fp(regime, cond, c, None))
                    else:
                        fp = (lambda rec, r=regime, cd=cond, c=c, bid=bid:
                              _with_test(r, condition_fp(r, cd, c, rec(bid))))
                    units.append(Unit(uid, f"{name}: {cond.name}, seed {c}" + (f", GAN {g}" if g is not None else ""),
                                      clf_cost, lambda r=regime, cd=cond, c=c, g=g: train_condition(r, cd, c, g),
                                      after=[bid, teacher_id] if g is not None else [], fingerprint=fp,
                                      adoptable=True, problem=_RUN_PROBLEM))
    twice = [uid for uid, n in Counter(u.id for u in units).items() if n > 1]
    if twice:  # one id is one stored record: a second unit would redo the work and overwrite the first
        raise RuntimeError(f"the benchmark's plan has units {twice[:3]} more than once: a bug in the plan")
    return units


def _selection_units(units: list[Unit], regime: Regime, g: int, gid: str, gan_fp: str, out: Path) -> str:
    """Append the units that choose GAN `g`'s generator on the validation split; the chooser's id."""
    cfg = regime.cfg
    sel = cfg.bench.select_generator
    max_steps = int(cfg.train.gan.max_steps)
    steps = candidate_steps(max_steps, int(sel.every), int(sel.get("min_step") or 0))
    store = UnitStore(out / "units")
    # gan_fp covers the data, hence the validation split and its metric.
    sel_fp = fingerprint(gan_fp, regime.selection_classifier.key(), sel.samples, sel.steps, sel.seed)
    cand_ids = []
    for step in steps:
        cid = f"{choice_id(regime.name, g)}/s{step:06d}"
        cand_ids.append(cid)
        units.append(Unit(cid, f"{regime.name}: GAN seed {g}, val CAS after {step} updates",
                          float(sel.steps or regime.selection_classifier.steps),
                          lambda r=regime, gid=gid, s=step: {**score_candidate(r, store.get(gid)["generator"], s,
                                                                               max_steps), "gan_seed": g},
                          after=[gid], fingerprint=fingerprint(sel_fp, step), adoptable=True))
    sid = choice_id(regime.name, g)
    units.append(Unit(sid, f"{regime.name}: choose GAN seed {g}'s generator on val", 0.0,
                      lambda r=regime, ids=cand_ids: _with_generator_fp(choose(r.name, g, [store.get(i) for i in ids])),
                      after=cand_ids, fingerprint=fingerprint(sel_fp, steps), adoptable=True))
    return sid


class Fingerprints:
    """Each unit's fingerprint, resolved once the units it depends on are done.

    A unit made from another unit's output (a bank from a generator's weights, a run from a bank)
    has a callable that reads those units' records; until they are done it has no fingerprint,
    and counts as not done.
    """

    def __init__(self, units: list[Unit], store: UnitStore, wanted: Callable[[str], bool] | None = None):
        self.units = {u.id: u for u in units}
        self.store = store
        # The units this run may do (only=): one left out does not have the files it would read made again.
        self.wanted = wanted or (lambda uid: True)
        self._known: dict[str, str] = {}
        self.made_from: dict[str, list[str]] = {u.id: [] for u in units}
        for u in units:
            for a in u.after:
                self.made_from.setdefault(a, []).append(u.id)

    def __call__(self, uid: str) -> str | None:
        if uid in self._known:
            return self._known[uid]
        u = self.units[uid]
        if callable(u.fingerprint):
            if not all(self.stored(a) for a in u.after):
                return None
            fp = u.fingerprint(self.store.get)
        else:
            fp = u.fingerprint
        self._known[uid] = fp
        return fp

    def stored(self, uid: str) -> bool:
        """Its record fits these settings: what the fingerprints of the units made from it are read from."""
        fp = self(uid)
        return fp is not None and self.store.current(uid, fp, self.units[uid].problem) is not None

    def done(self, uid: str, _seen: dict[str, bool] | None = None) -> bool:
        """Stored, and its files are there unless nothing still to run reads them. A bank deleted to free
        disk is made again while a run needs it (with the same fingerprint, so what was made from it
        stays); a finished benchmark checked out without its banks and weights has nothing to do, and
        so has one whose units still to do are all left out by only=."""
        seen = {} if _seen is None else _seen
        if uid not in seen:
            seen[uid] = self.stored(uid) and (
                all((self.store.root.parent / o).exists() for o in self.units[uid].outputs)
                or all(self.done(d, seen) for d in self.made_from[uid] if self.wanted(d)))
        return seen[uid]


def run_and_store(unit: Unit, fps: Fingerprints, progress: Callable[[float], None] | None = None) -> None:
    """Run `unit` unless its stored record fits, and store what it made: every executor's one step.

    Checked here, not only when planning: a unit made from a unit redone in this run learns only
    now whether its stored record still fits.
    """
    # A pool or Ray worker does not hold bench.out_dir; what its unit reads or makes there follows no link all the same.
    with output_root(fps.store.root.parent, "bench.out_dir"):
        if fps.done(unit.id):
            return
        before = cpu_reading()
        result = unit.run(progress) if unit.reports_progress else unit.run()
        # What the unit's time is worth: the CPU it got, and what else ran meanwhile (units side by side too).
        load = cpu_use(before, cpu_reading())
        fps.store.put(unit.id, {**result, "made_on": {**machine(), "load": load}, "fingerprint": fps(unit.id)})


def _adopt_records(units: list[Unit], store: UnitStore, sources) -> int:
    """Copy in other benchmark directories' units made with exactly these settings.

    Classifier runs, GAN metrics and generator choices are their record; the reference classifier
    and the banks also have files, copied along. GANs are adopted by reference (their record names
    the other directory's generator, too large to copy). A record naming a generator that is gone is
    adopted all the same (keep_weights.py keeps only the generator a GAN's choice names): a unit still
    to run that needs the missing weights (a choice to score, a bank to make)
    has the GAN trained again here (`_retrain_lost_gans`). An ablation that changes one condition then
    reruns that condition alone, and its baselines are the very runs it is compared with. ``sources`` is one directory or a list,
    searched in order: the first that holds a unit gives it. Returns how many units were adopted.
    """
    sources = reuse_sources(sources)
    if not sources:
        return 0
    dst_root = store.root.parent
    fps = Fingerprints(units, store)
    for other_out in sources:  # all checked before anything is copied in
        if not (Path(other_out) / "units").is_dir():
            raise ReuseError(f"bench.reuse_from: {other_out} holds no benchmark units "
                             f"({Path(other_out) / 'units'} is missing); name the bench.out_dir of an earlier run")
    n = 0
    for other_out in sources:
        src_root = Path(other_out)
        other = UnitStore(src_root / "units", setting="bench.reuse_from")
        for u in units:  # in plan order: a unit's inputs are adopted before it resolves its fingerprint
            if u.adoptable and not fps.done(u.id) and fps(u.id) is not None:
                rec = other.current(u.id, fps(u.id), u.problem)
                if rec is None or not all((src_root / o).exists() for o in u.outputs):
                    continue
                if not _same_gan(u.id, store, other) or (u.stale and u.stale(rec)):
                    continue
                for o in u.outputs:  # files first: a record never points at missing output
                    _copy_atomic(src_root / o, dst_root / o, src_root)
                store.put(u.id, {**{k: v for k, v in rec.items() if k != "unit"}, "adopted_from": str(other_out)})
                n += 1
    return n


def _same_gan(uid: str, store: UnitStore, other: UnitStore) -> bool:
    """A generator choice or a candidate's score is settings-fingerprinted: it holds for this directory
    only if its GAN here is the other directory's (a GAN retrained elsewhere has other weights)."""
    of = gan_of(uid)
    if of is None or of[1] != "select":
        return True
    gid = gan_id(of[0], of[2])
    return (store.has(gid) and other.has(gid)
            and store.get(gid).get("generator_fingerprint") == other.get(gid).get("generator_fingerprint"))


def _copy_atomic(src: Path, dst: Path, src_root: Path) -> None:
    """Copy a unit's output from another benchmark directory, refusing any link in it (`_unlinked_tree`)."""
    _unlinked_tree(src, src_root)
    check_unlinked(dst)
    if not src.is_dir():
        _copy_file(src, dst)
        return
    # A directory (a bank) is staged per process: two processes starting together may both adopt;
    # the last rename wins, intact.
    tmp = dst.with_name(f".{dst.name}.adopting-{os.getpid()}")
    remove(tmp, tree=True)
    for folder, dirs, names in os.walk(src):
        into = make_dir(tmp / Path(folder).relative_to(src))
        for name in dirs:
            if (Path(folder) / name).is_symlink():  # planted since the check: refused as the check would have
                raise ReuseError(f"{Path(folder) / name} is a symbolic link, which ganaug does not follow; remove it, "
                                 "or choose another bench.reuse_from")
        for name in names:
            _copy_file(Path(folder) / name, into / name)
    remove(dst, tree=True)
    move(tmp, dst)


def _copy_file(src: Path, dst: Path) -> None:
    """``src``'s bytes to ``dst`` (`atomic_file`), if ``src`` is a regular file and not a link (O_NONBLOCK: a named
    pipe opens at once, to be refused, instead of waiting for a writer)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    refuse = (f"{src} is not a regular file (a link, a named pipe or a device, which ganaug does not read); remove "
              "it, or choose another bench.reuse_from")
    try:
        fd = os.open(src, flags)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO):
            raise ReuseError(refuse) from None
        raise
    with os.fdopen(fd, "rb") as r:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ReuseError(refuse)
        os.set_blocking(fd, True)
        with atomic_file(dst) as t, open(t, "wb") as w:
            shutil.copyfileobj(r, w, 1 << 20)


def _unlinked_tree(src: Path, src_root: Path) -> None:
    # copytree and copy2 follow links: one planted in a bench.reuse_from directory (a bank's images.npy ->
    # someone's file) had that file copied into this benchmark and read as the unit's output.
    check_unlinked(src, below=src_root, setting="bench.reuse_from")
    if src.is_dir():
        for folder, dirs, files in os.walk(src):
            for name in dirs + files:
                check_unlinked(Path(folder) / name, below=src_root, setting="bench.reuse_from")


def _check_gans(units: list[Unit], store: UnitStore, out: Path) -> None:
    # Retraining a GAN is hours of CPU, and its checkpoints would resume under the new settings:
    # refuse rather than silently mixing or discarding them.
    for u in units:
        if trains_gan(u.id) and store.has(u.id):
            fix = (f"use a new bench.out_dir for them, or delete that file and "
                   f"{out / u.id.split('/')[0] / u.id.split('/')[-1]} to retrain it")
            if store.current(u.id, u.fingerprint) is None:
                raise StaleGANError(
                    f"{out / 'units' / u.id}.json was trained with other GAN or data settings than these "
                    f"(train.gan.*, train.trainer.precision, the regime's data); {fix}")
            why = u.stale(store.get(u.id)) if u.stale else None
            if why:
                raise StaleGANError(f"{out / 'units' / u.id}.json: {why}; {fix}")


def _retrain_lost_gans(units: list[Unit], store: UnitStore, wanted: Callable[[str], bool] | None = None) -> None:
    """Forget each GAN whose generator is gone while a unit still to run needs it, so it trains again.

    Weights are not committed: a fresh clone, or a device that sent back records only, has the GAN's
    record and not its generator. The generator choice goes with it: its fingerprint names settings
    only and would pass for the new weights'. Banks, metrics and runs are fingerprinted by the
    weights, so what the new generator makes differently is made again and the rest stays.
    """
    fps = Fingerprints(units, store, wanted)
    for u in units:
        of = gan_of(u.id)
        if of is None or of[1] != "gan" or not fps.stored(u.id):
            continue
        regime, _, g = of
        choice = choice_id(regime, g)
        source = store.generator_record(regime, g, stored=lambda i: i in fps.units and fps.stored(i))
        generator = Path(store.get(source)["generator"])
        bank = f"{regime}/bank-g{g}"
        # A choice still to make scores the GAN's snapshots, beside its final generator.
        scores = choice in fps.units and source == u.id
        if _has_weights(generator) and (not scores or _has_weights(generator.parent / "snapshots", every=True)):
            continue
        if fps.done(bank):
            continue
        print(f"ganaug-bench: {regime}: GAN seed {g}'s generator is gone ({generator}); training it again, "
              "and what was made from it follows the new weights", flush=True)
        for uid in [u.id] + [i for i in fps.units if i == choice or i.startswith(f"{choice}/")]:
            store.drop(uid)


def _has_weights(path: Path, every: bool = False) -> bool:
    """A generator artifact with its weights file at `path` (a folder kept with its `generator.json` alone is not
    one); with `every`, a folder of snapshots each of which has them."""
    if not every:
        return (path / WEIGHTS_FILE).is_file()
    snapshots = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")] if path.is_dir() else []
    return bool(snapshots) and all(_has_weights(p) for p in snapshots)


def calibrate_gan_cost(units: list[Unit], store: UnitStore, done: Callable[[str], bool]) -> float | None:
    """Rescale the GAN units' planned cost by this machine's own pace; the factor, or None where it has
    not yet measured both a GAN and a classifier run.

    A GAN update's cost in classifier steps (`bench.gan_cost_per_step`) differs by machine and by
    classifier (a ResNet step costs several small-CNN steps; a GPU speeds the GAN more). The bar's ETA and
    the critical path need the real ratio: it is read from this benchmark's finished units made on this
    machine (GAN seconds over every stretch, the conditions' classifier runs), medians of seconds per
    planned cost.
    """
    from statistics import median

    here = machine()

    def seconds_per_cost(kind: list[Unit], seconds) -> float | None:
        rates = []
        for u in kind:
            if u.cost <= 0 or not done(u.id):
                continue
            rec = store.get(u.id)
            on = rec.get("made_on") or {}
            if (on.get("cpu"), on.get("gpu")) == (here["cpu"], here["gpu"]) and (s := seconds(rec)):
                rates.append(float(s) / u.cost)
        return median(rates) if rates else None

    gans = [u for u in units if trains_gan(u.id)]
    gan = seconds_per_cost(gans, gan_training_seconds)  # not a last stretch alone
    clf = seconds_per_cost([u for u in units if not trains_gan(u.id)],
                           lambda r: r.get("seconds") if "condition" in r else None)
    if gan is None or clf is None:
        return None
    for u in gans:
        u.cost *= gan / clf
    return gan / clf


def critical_path(units: list[Unit]) -> dict[str, float]:
    """Each unit's cost plus the costliest chain of units that wait for it (its longest path to the end).

    Starting the ready unit with the longest path first keeps the chains moving: a zero-cost generator
    choice goes before a baseline run, as the banks and classifier runs behind it wait for it.
    """
    waiting: dict[str, list[str]] = {u.id: [] for u in units}
    for u in units:
        for a in u.after:
            if a in waiting:
                waiting[a].append(u.id)
    rank: dict[str, float] = {}
    for u in reversed(units):  # plan order: a unit's dependents come after it
        rank[u.id] = u.cost + max((rank[d] for d in waiting[u.id]), default=0.0)
    return rank


def next_unit(pending: list[Unit], done) -> Unit | None:
    """The unit to run next in this process: of those whose dependencies are done, the one with the
    longest path to the end (`critical_path`; list order among equals)."""
    rank = critical_path(pending)
    ready = [u for u in pending if all(done(a) for a in u.after)]
    return max(ready, key=lambda u: rank[u.id], default=None)


def quiet_benchmark() -> None:
    from ganaug.gan.train import quiet_lightning

    quiet_lightning()
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    # Each GAN's start-up lines would scroll the benchmark's own bar away; its units record the same.
    logging.getLogger("ganaug.gan.train").setLevel(logging.WARNING)


def plan_from_config(cfg: DictConfig) -> tuple[list[Unit], UnitStore]:
    """The benchmark's units and their store, from its config: what every executor starts from."""
    out = check_dir_setting(cfg.bench.out_dir, "bench.out_dir")
    return plan(cfg, out, _test_images(cfg.bench)), UnitStore(out / "units")


def _test_images(b: DictConfig) -> ImageArrayDataset:
    """`bench.test_dataset`, the images every classifier is tested on. Null (or one value) gave None, met only as
    "'NoneType' object has no attribute 'images'" once the reference classifier had trained."""
    spec = b.get("test_dataset")
    if not isinstance(spec, (dict, DictConfig)) or "_target_" not in spec:
        raise ConfigError(f"bench.test_dataset is a group of settings, not one value: got {spec!r}; set its "
                          "_target_ to a dataset loader, e.g. bench.test_dataset._target_=ganaug.data.load_digits "
                          "(bench=ci's), or ganaug.data.load_fashion_mnist with +bench.test_dataset.split=test")
    test = instantiate(spec)
    if not isinstance(test, ImageArrayDataset):
        raise ConfigError(f"bench.test_dataset made a {type(test).__name__}, not a dataset of labelled images; set "
                          "bench.test_dataset._target_ to a loader such as ganaug.data.load_digits")
    return test


def run_benchmark(cfg: DictConfig) -> dict:
    from ganaug.bench.executor import check_executor

    check_flags(cfg, "report_only", "progress")
    executor = check_executor(cfg)
    # The code this run starts with is the one its results name, whatever is committed meanwhile; its
    # worker processes (a pool, a local Ray) inherit it.
    os.environ["GANAUG_COMMIT"] = git_commit()
    quiet_benchmark()
    set_threads(cfg)
    out = check_dir_setting(cfg.bench.out_dir, "bench.out_dir")
    if cfg.get("report_only"):  # reads what is stored, also while a run is going
        if not (out / "units").is_dir():
            raise ConfigError(f"report_only: {out} holds no benchmark units ({out / 'units'} is missing); name the "
                              "bench.out_dir of a run that has started")
        return _run_benchmark(cfg, out, executor)
    with hold_dir(out, "ganaug-bench", "bench.out_dir"):
        return _run_benchmark(cfg, out, executor)


def _run_benchmark(cfg: DictConfig, out: Path, executor: str) -> dict:
    from ganaug.bench.executor import run_in_pool, run_on_ray
    from ganaug.bench.progress import BenchmarkProgress
    from ganaug.bench.report import write_reports

    units, store = plan_from_config(cfg)
    # A selection that names no unit is refused before anything is adopted, dropped or run.
    only = None if cfg.get("report_only") else only_patterns(cfg.get("only"), units)
    _check_gans(units, store, out)
    if not cfg.get("report_only") and (n := _adopt_records(units, store, cfg.bench.get("reuse_from"))):
        print(f"ganaug-bench: adopted {n} finished units from {cfg.bench.reuse_from}", flush=True)
    wanted = None if only is None else functools.partial(_matches, patterns=only)
    if not cfg.get("report_only"):
        _retrain_lost_gans(units, store, wanted)
    fps = Fingerprints(units, store, wanted)
    done = fps.done

    todo = [u for u in units if not done(u.id)]
    if todo and (factor := calibrate_gan_cost(units, store, done)) is not None:
        print(f"ganaug-bench: a GAN update costs {factor * float(cfg.bench.gan_cost_per_step):.1f} classifier steps "
              f"on this machine (its finished units; bench.gan_cost_per_step={cfg.bench.gan_cost_per_step} "
              "until it has measured both)", flush=True)
    progress = {"units_total": len(units), "units_done": len(units) - len(todo)}
    if cfg.get("report_only"):
        # Reports from whatever is stored, e.g. while a long run is still going or after a stop.
        return write_reports(cfg, out, [store.get(u.id) for u in units if fps.stored(u.id)], progress, ran=False)
    left = len(todo)
    if only is not None:
        todo = select_units(todo, only, done)
    # The bar shows the whole job: the benchmark, or with only= the selection.
    total = sum(u.cost for u in (todo if only is not None else units))
    done_cost = total - sum(u.cost for u in todo)
    print(f"ganaug-bench {cfg.bench.name}: {len(units)} units, {len(units) - left} already done"
          + (f", {len(todo)} of the {left} still to do selected (only=)" if only is not None else "")
          + f" (stored under {out / 'units'}; executor {executor})", flush=True)
    bar = BenchmarkProgress(total, len(units), len(units) - left, work_done=done_cost,
                            enabled=bool(cfg.get("progress", True)))
    workers = int((cfg.get("executor") or {}).get("workers") or 1) if executor == "local" else 1
    if executor == "ray":
        run_on_ray(cfg, units, todo, bar.finish)
    elif workers > 1:
        run_in_pool(cfg, units, todo, bar.finish, workers, bar.move)
    else:
        pending = list(todo)
        while pending:
            runnable = next_unit(pending, done)
            if runnable is None:  # cannot happen with a plan whose dependencies come first
                raise RuntimeError(f"no unit can run: {[u.id for u in pending[:5]]}")
            bar.start(runnable)
            run_and_store(runnable, fps, lambda fraction, unit=runnable: bar.move(unit, fraction))
            pending.remove(runnable)
            bar.finish(runnable)
    bar.close()
    stored = [store.get(u.id) for u in units if fps.stored(u.id)]
    return write_reports(cfg, out, stored, {"units_total": len(units), "units_done": len(units) - left + len(todo)},
                         ran=bool(todo))


def only_patterns(only, units: list[Unit]) -> list[str] | None:
    """``only=``'s unit-id patterns (shell-style: ``n100/real/*``), each checked to match a unit of the plan;
    None when it is not set."""
    from fnmatch import fnmatchcase

    if only is None:
        return None
    if isinstance(only, str):
        only = [only]
    elif not (OmegaConf.is_list(only) or isinstance(only, (list, tuple))) or not only:
        raise ConfigError("only must be a unit-id pattern or a list of them, e.g. only='[n100/real/*]', "
                          f"got {only!r}")
    patterns = [str(p) for p in only]
    for pattern in patterns:
        if not any(fnmatchcase(u.id, pattern) for u in units):
            shown = ", ".join(u.id for u in units[:6])
            raise ConfigError(f"only: {pattern!r} matches no unit of this benchmark (its units are ids like {shown}; "
                              "patterns are shell-style, e.g. only='[n100/gan-*,n100/real/*]')")
    return patterns


def _matches(uid: str, patterns: list[str]) -> bool:
    from fnmatch import fnmatchcase

    return any(fnmatchcase(uid, p) for p in patterns)


def select_units(todo: list[Unit], patterns: list[str], done: Callable[[str], bool]) -> list[Unit]:
    """The units still to do whose ids match one of `patterns` (`only_patterns`).

    For splitting a long benchmark by machine or session: the GANs where a GPU is, the baseline runs
    elsewhere; every unit still stores its record and the next call skips it. Each selected unit must find
    the units it waits for done or selected too.
    """
    chosen = [u for u in todo if _matches(u.id, patterns)]
    ids = {u.id for u in chosen}
    for u in chosen:
        missing = [a for a in u.after if a not in ids and not done(a)]
        if missing:
            raise ConfigError(f"only: {u.id} waits for {missing[0]}, which is neither done nor selected; add a "
                              f"pattern for it (e.g. {missing[0]}) or leave {u.id} out")
    return chosen


def main() -> None:
    from ganaug.cli.command import hydra_command

    hydra_command("ganaug-bench", "bench", run_benchmark, output="bench.out_dir=...")()


if __name__ == "__main__":
    main()

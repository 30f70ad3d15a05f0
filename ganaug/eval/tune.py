"""`tune_mix` (behind `ganaug-tune`): choose the synthetic ratio, filter threshold and generator on the validation
split.

The benchmark's engine (ganaug/eval/engine.py) on one regime: a bank per generator, optionally
filtered by a classifier trained on the real training images, mixed in by `SyntheticMix` with an
exact share per batch, and the reference classifier trained for the same steps and batch size
under every candidate. Only the validation split is scored, so the user's test split stays out
of every choice. Every finished run is stored as it completes; rerunning resumes. The choice is
written as a recipe (recipe.yaml, read by `ganaug.load_recipe`; see ganaug/mix/recipe.py).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from ganaug.eval import engine
from ganaug.eval.store import UnitStore, score_problem
from ganaug.mix.bank import check_bank_fits
from ganaug.mix.class_policy import plain_policy
from ganaug.classify.batch_mix import BATCH_MIX_NAMES
from ganaug.classify.classifier import CLASSIFIERS, SmallCNN
from ganaug.data import ImageArrayDataset, from_dataset
from ganaug.base.checks import fraction, positive_int
from ganaug.base.dir_lock import hold_dir
from ganaug.eval.engine import BankSettings, ClassifierSettings, SyntheticUse
from ganaug.errors import ConfigError, GanaugError
from ganaug.gan.artifact import META_FILE as GENERATOR_META
from ganaug.base.files import atomic_write_bytes, check_unlinked, file_sha256
from ganaug.gan.artifact import load_generator
from ganaug.mix.filter import QualityFilter
from ganaug.mix.recipe import CANDIDATES_DIR, MIX_FILE, MIX_TARGET, RECIPE_FILE, SOURCE_ID_KEY, source_content_id
from ganaug.eval.stats import format_gain, format_score, mean_ci, paired_bootstrap_gain, paired_diff_ci

__all__ = ["TuneError", "TuneResult", "TuneSettings", "find_generators", "tune_mix"]

METRICS = ("auto", "accuracy", "balanced_accuracy")
# Above this largest/smallest class-count ratio, plain accuracy rewards ignoring rare classes.
IMBALANCE_FOR_BALANCED = 1.5
REAL = "real"
REFERENCE_FILE = "reference.safetensors"


class TuneError(GanaugError, ValueError):
    """Settings or data that `tune_mix` cannot work with; the message says how to fix them."""


@dataclass(frozen=True)
class Candidate:
    name: str
    ratio: float
    generator: Path | None = None
    label: str | None = None  # the generator's short name, unique within this tune
    threshold: float | None = None
    weight: float = 1.0       # loss weight of its synthetic items (real items weigh 1)

    @property
    def bank_id(self) -> str | None:
        if self.generator is None:
            return None
        return f"{self.label}/" + ("unfiltered" if self.threshold is None else f"filt{self.threshold:g}")


# ------------------------------------------------------------------------------ the result


@dataclass
class TuneResult:
    """What `tune_mix` measured: per candidate, its validation score and its gain over real only.

    ``candidates`` are dicts with ``name``, ``generator``, ``ratio``, ``filter_threshold``,
    ``bank``, ``skipped`` (reason or None), ``val_by_seed``, ``val`` (mean_ci) and
    ``gain_vs_real`` (paired_diff_ci by seed; None for real only). ``best`` names the candidate
    with the highest mean validation score; ``"real"`` means "don't mix".
    """

    candidates: list[dict]
    runs: list[dict]
    best: str
    settings: dict
    out_dir: Path

    def candidate(self, name: str | None = None) -> dict:
        name = self.best if name is None else name
        for c in self.candidates:
            if c["name"] == name:
                return c
        raise KeyError(f"no candidate {name!r}; candidates: {[c['name'] for c in self.candidates]}")

    def mix_config(self, name: str | None = None) -> dict:
        """The `ganaug.SyntheticMix` partial (format of conf/mix/default.yaml) for a candidate."""
        c = self.candidate(name)
        # Real only has no synthetic items to flag, and a flag breaks the plain `for x, y in loader`.
        flag = c["generator"] is not None and SyntheticUse(
            c["ratio"], weight=c.get("synthetic_weight", 1.0),
            soft_labels=self.settings.get("synthetic_soft_labels") or 0.0,
            confidence_weight=bool(self.settings.get("synthetic_confidence_weight", False)),
            split_norm=bool(self.settings.get("synthetic_split_norm", False))).needs_flag
        return {"_target_": MIX_TARGET, "_partial_": True, "source": c["bank"],
                "ratio": float(c["ratio"]), "class_policy": self.settings["class_policy"], "seed": 0,
                "truncation": None, "refresh": None, "return_flag": flag}

    def recipe_config(self, name: str | None = None, where: Path | None = None) -> dict:
        """The recipe (ganaug/recipe.py) for a candidate: its mix and the loss it was trained with.

        Paths are relative to ``where`` (the directory the recipe file is in; default ``out_dir``), so the
        tune directory can be moved.
        """
        where = self.out_dir if where is None else where
        c = self.candidate(name)
        mix = {k: v for k, v in self.mix_config(name).items() if k not in ("_target_", "_partial_")}
        if mix["source"] is not None:
            # load_recipe refuses a source whose weights or images changed after it was measured.
            # What the runs were measured on (recorded with them), not whatever the directory holds now.
            mix[SOURCE_ID_KEY] = c.get("source_id") or source_content_id(mix["source"])
            mix["source"] = _relative(Path(mix["source"]), where, self.out_dir)
        synthetic = c["generator"] is not None
        soft = float(self.settings.get("synthetic_soft_labels") or 0.0) if synthetic else 0.0
        confidence = synthetic and bool(self.settings.get("synthetic_confidence_weight", False))
        split_norm = synthetic and bool(self.settings.get("synthetic_split_norm", False))
        teacher = None
        if soft or confidence:
            h, w, ch = self.settings["image_shape"]
            teacher = {"file": _relative(self.out_dir / REFERENCE_FILE, where, self.out_dir),
                       "arch": self.settings.get("arch", "smallcnn"), "width": int(self.settings["width"]),
                       "num_classes": int(self.settings["num_classes"]), "image_shape": [h, w, ch]}
        return {**mix, "soft_labels": soft, "synthetic_weight": float(c.get("synthetic_weight", 1.0)),
                "confidence_weight": confidence, "split_norm": split_norm,
                "teacher": teacher}

    def markdown(self) -> str:
        return _markdown(self)

    @property
    def json_path(self) -> Path:
        return self.out_dir / "tune.json"

    @property
    def markdown_path(self) -> Path:
        return self.out_dir / "tune.md"

    @property
    def mix_path(self) -> Path:
        return self.out_dir / MIX_FILE

    @property
    def recipe_path(self) -> Path:
        return self.out_dir / RECIPE_FILE


def _relative(path: Path, root: Path, tune_dir: Path | None = None) -> str:
    """``path`` relative to ``root`` when it lies in ``tune_dir`` (default ``root``), else absolute: a generator
    or bank outside the tune directory keeps its absolute path."""
    path, root = path.resolve(), root.resolve()
    if not path.is_relative_to((root if tune_dir is None else tune_dir).resolve()):
        return str(path)
    return Path(os.path.relpath(path, root)).as_posix()


# ------------------------------------------------------------------------------ checking inputs


def find_generators(snapshots: str | os.PathLike) -> list[Path]:
    """Every immediate subdirectory of ``snapshots`` that holds an exported generator, sorted."""
    root = Path(snapshots)
    if not root.is_dir():
        raise TuneError(f"snapshots={root} is not a directory")
    found = sorted(p for p in root.iterdir() if (p / GENERATOR_META).is_file())
    if not found:
        raise TuneError(f"no exported generator (a subdirectory with {GENERATOR_META}) in snapshots={root}")
    return found


def _as_paths(generators: Any) -> list[Path]:
    if isinstance(generators, (str, os.PathLike)):
        generators = [generators]
    items = list(generators) if isinstance(generators, Iterable) else [generators]
    loaded = next((g for g in items if not isinstance(g, (str, os.PathLike))), None)
    if loaded is not None:
        # The recipe and the stored runs name a generator by its directory: an object in memory has none.
        raise TuneError(f"generators are exported generator directories (paths), got a {type(loaded).__name__}: "
                        "pass the directory it was loaded from with ganaug.load_generator(path), or write it to "
                        "one with ganaug.export_generator")
    paths = list(dict.fromkeys(Path(g).resolve() for g in items))
    if not paths:
        raise TuneError("no generators given: pass at least one exported generator directory")
    return paths


def _labels(paths: Sequence[Path]) -> list[str]:
    """Short unique names: the directory name, with its parents' names added while names clash."""
    for depth in (1, 2, 3):
        labels = [re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(p.parts[-depth:])).strip(".") or "g" for p in paths]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{i}_{label}" for i, label in enumerate(labels)]


def _as_arrays(ds: Any, what: str) -> ImageArrayDataset:
    ds = ds if isinstance(ds, ImageArrayDataset) else from_dataset(ds)
    if len(ds) == 0:
        raise TuneError(f"{what} is empty; the choice is made on the validation split, so it needs images "
                        "(e.g. data.val_fraction=0.2)" if what == "val_set" else f"{what} is empty")
    return ds


def _listed(name: str, values: Any, none: bool = False) -> list:
    """``values`` as a list of floats (and None where ``none``), or a TuneError naming ``name``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TuneError(f"{name} must be a list of numbers, got {values!r}; e.g. {name}=[{values}]")
    values = list(values)

    def number(v) -> bool:
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)

    bad = [v for v in values if not (number(v) or (none and v is None))]
    if bad:
        raise TuneError(f"{name} must list numbers{' (or null)' if none else ''}, got {bad[0]!r}")
    return [None if v is None else float(v) for v in values]


def _check_data(train: ImageArrayDataset, val: ImageArrayDataset) -> None:
    if val.num_classes != train.num_classes or val.image_shape != train.image_shape:
        raise TuneError(f"val_set has {val.num_classes} classes of {val.image_shape} images but train_set has "
                        f"{train.num_classes} of {train.image_shape}; split both from the same data")
    # Scored on images the classifiers trained on, the tune would choose the candidate that memorises best.
    seen = {image.tobytes() for image in train.images}
    shared = sum(image.tobytes() in seen for image in val.images)
    what = (f"all {len(val)}" if shared == len(val) else f"{shared} of {len(val)}") + \
        " validation images are also in train_set"
    fix = "split them apart, e.g. ganaug.data.train_val_split(data, val_fraction=0.2, seed=0)"
    if 2 * shared >= len(val):
        raise TuneError(f"{what}: validation scores would measure memory, not the mix; {fix}")
    if shared:
        warnings.warn(f"{what}: their scores favour candidates that memorise; {fix}", UserWarning, stacklevel=3)


def _check_ratios(ratios: Sequence[float]) -> list[float]:
    ratios = _listed("ratios", ratios)
    if not ratios:
        raise TuneError("ratios is empty: give the synthetic shares to compare, e.g. [0.25, 0.5]")
    bad = [r for r in ratios if not 0.0 <= r < 1.0]
    if bad:
        raise TuneError(f"ratios must lie in [0, 1) (the synthetic share of each batch), got {bad}")
    positive = list(dict.fromkeys(r for r in ratios if r > 0))
    if not positive:
        raise TuneError("ratios has no value above 0: nothing to compare with real only")
    return positive


def _check_thresholds(thresholds: Sequence[float | None]) -> list[float | None]:
    thresholds = _listed("filter_thresholds", thresholds, none=True)
    if not thresholds:
        raise TuneError("filter_thresholds is empty: use [null] for no filter, or e.g. [null, 0.9]")
    bad = [t for t in thresholds if t is not None and not 0.0 <= t <= 1.0]
    if bad:
        raise TuneError(f"filter_thresholds must be probabilities in [0, 1] (or null for no filter), got {bad}")
    return list(dict.fromkeys(thresholds))


def _check_weights(weights: Sequence[float]) -> list[float]:
    weights = _listed("synthetic_weights", weights)
    if not weights:
        raise TuneError("synthetic_weights is empty: give at least one loss weight (1.0 = as real items)")
    bad = [w for w in weights if not (w > 0 and math.isfinite(w))]
    if bad:
        raise TuneError(f"synthetic_weights must be positive and finite, got {bad}")
    return list(dict.fromkeys(weights))


def _check_positive(**values: Any) -> None:
    for name, v in values.items():
        positive_int(name, v, error=TuneError)


def _resolve_metric(metric: str, train: ImageArrayDataset) -> str:
    if metric not in METRICS:
        raise TuneError(f"metric must be one of {METRICS}, got {metric!r}")
    if metric != "auto":
        return metric
    counts = train.class_counts()
    imbalanced = counts.min() == 0 or counts.max() / counts.min() > IMBALANCE_FOR_BALANCED
    return "balanced_accuracy" if imbalanced else "accuracy"


def _check_transform(transform: Any, image: np.ndarray) -> None:
    """Runs the transform once through the same call path the runs use."""
    # Scores come from raw uint8 validation images normalised by the classifier's own recipe,
    # so training batches must reach it the same way: as uint8 H×W×C.
    if transform is None:
        return
    one = ImageArrayDataset(image[None], np.zeros(1, np.int64), ["0"], transform=transform)
    out = one[0][0]
    if not (isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == image.shape):
        raise TuneError("transform must map a uint8 H×W×C image to one of the same shape and dtype (classical "
                        "augmentation only: no Normalize or ToTensorV2; the classifier normalises itself)")


def _gan_seed(gen: Any) -> int:
    # Banks draw the noise the benchmark draws for this GAN (engine.bank_seed); 0 when not recorded.
    seed = gen.meta.get("seed", 0) if isinstance(getattr(gen, "meta", None), dict) else 0
    return int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else 0


# ------------------------------------------------------------------------------ the runs


class _Session:
    """Stored steps of one tune: the reference classifier (and teacher), the banks and the runs.

    Every step is the engine's (ganaug/engine.py), with the engine's fingerprint: the benchmark
    gives the same run on the same data the same fingerprint and the same score.
    """

    def __init__(self, train, val, out: Path, clf: ClassifierSettings, *, bank: BankSettings, metric: str,
                 transform, generators: dict[Path, Any], loss: SyntheticUse = SyntheticUse()):
        self.train, self.val, self.out, self.clf = train, val, out, clf
        # The reference (the filter's judge, the soft labels' teacher) is ganaug's classifier, whichever network
        # the candidates train: the recipe rebuilds it from its arch and width.
        self.ref_clf = replace(clf, model=None)
        # How every synthetic candidate's items enter the loss and what its bank holds; a candidate adds its
        # ratio and weight, and its bank's filter threshold.
        self.loss, self.bank_template = loss, bank
        self.metric = metric
        self.transform, self.generators = transform, generators
        self.store = UnitStore(out / "units", setting="out_dir")
        self.train_fp, self.val_fp = engine.data_fingerprint(train), engine.data_fingerprint(val)
        self.ref_fp = engine.reference_fingerprint(self.train_fp, self.ref_clf)
        self._models: dict[str, SmallCNN] = {}
        self._weights: dict[str, str] = {}

    # -- storage
    def _ensure(self, uid: str, fp: str, make, valid=lambda rec: True, problem=None) -> dict:
        rec = self.store.current(uid, fp, problem)
        if rec is not None and valid(rec):
            return rec
        # Two tunes of one out_dir may both make a unit: writes are atomic, the last one stays.
        return self.store.put(uid, {**make(), "fingerprint": fp})

    # -- the real-data classifier: the filter's judge and the soft labels' teacher
    @property
    def reference_path(self) -> Path:
        return check_unlinked(self.out / REFERENCE_FILE)

    def _classifier(self, uid: str, path: Path, fp: str) -> SmallCNN:
        if uid not in self._models:
            def make() -> dict:
                t0 = time.perf_counter()
                model = engine.train_reference(self.train, self.ref_clf)
                engine.save_classifier(model, path)
                return {"val": engine.score(model, self.val, self.metric), "seconds": time.perf_counter() - t0,
                        "weights_sha256": file_sha256(path)}

            # Weights replaced in place since they were made (or a record from before they were pinned): made again.
            rec = self._ensure(uid, fp, make,
                               lambda rec: path.is_file() and rec.get("weights_sha256") == file_sha256(path),
                               score_problem)
            self._models[uid] = engine.load_classifier(path, self.train, self.ref_clf)
            self._weights[uid] = rec["weights_sha256"]
        return self._models[uid]

    def teacher_sha256(self) -> str:
        """What the teacher's weights were when loaded: a run records it, and counts only while it holds."""
        self.reference()
        return self._weights["reference"]

    def reference(self) -> SmallCNN:
        return self._classifier("reference", self.reference_path, self.ref_fp)

    teacher = reference  # the soft labels' teacher is the reference

    # -- banks
    def bank_dir(self, cand: Candidate) -> Path:
        # The path the bank is made at, absolute but not resolved: resolving followed a link planted at
        # banks/<g>/<bank> to wherever it pointed, outside out_dir, and the recipe then named that as its source.
        return check_unlinked(self.out.absolute() / "banks" / cand.bank_id)

    def bank_settings(self, cand: Candidate) -> BankSettings:
        return replace(self.bank_template, filter_threshold=cand.threshold)

    def bank_seed(self, cand: Candidate) -> int:
        return engine.bank_seed(_gan_seed(self.generators[cand.generator]), cand.threshold is not None)

    def bank_fp(self, cand: Candidate) -> str:
        counts = np.bincount(self.train.labels, minlength=self.train.num_classes).tolist()
        return engine.bank_fingerprint(engine.generator_fingerprint(self.generators[cand.generator]),
                                       self.bank_settings(cand), self.bank_seed(cand), counts, self.ref_fp, self.val_fp)

    def bank(self, cand: Candidate) -> dict:
        """The candidate's bank record; ``source_id`` is what the bank held when made (`source_content_id`).

        A bank replaced in place since (``ganaug-sample bank.path=...``), or one made before banks were pinned,
        is made again; runs pinned to other contents are then redone (`run`), so no score stands on images
        it was not measured on.
        """
        judge = self._judge(cand)

        def make() -> dict:
            rec = engine.build_bank(self.generators[cand.generator], self.bank_dir(cand), self.bank_settings(cand),
                                    seed=self.bank_seed(cand), real_labels=self.train.labels,
                                    reference=self.reference() if cand.threshold is not None else None,
                                    val=self.val)
            made = None if rec.get("filter_error") else source_content_id(self.bank_dir(cand))
            return {**rec, "source_id": made, "judge_sha256": judge}

        def valid(rec: dict) -> bool:
            if rec.get("judge_sha256") != judge:
                return False
            return bool(rec.get("filter_error")) or (
                rec.get("source_id") is not None and source_content_id(self.bank_dir(cand)) == rec["source_id"])

        return self._ensure(f"banks/{cand.bank_id}", self.bank_fp(cand), make, valid)

    def _judge(self, cand: Candidate) -> str | None:
        # A filtered bank's filter is the reference classifier: its weights pin the bank too.
        if cand.threshold is None:
            return None
        self.reference()
        return self._weights["reference"]

    # -- classifier runs
    def unit_id(self, cand: Candidate, seed: int) -> str:
        return f"runs/{cand.name}/s{seed}"

    def use(self, cand: Candidate) -> SyntheticUse | None:
        if cand.generator is None:
            return None
        return replace(self.loss, ratio=cand.ratio, class_policy=self.bank_template.class_policy, weight=cand.weight)

    def fp(self, cand: Candidate, seed: int) -> str:
        bank = None if cand.generator is None else self.bank_fp(cand)
        return engine.run_fingerprint(self.train_fp, self.val_fp, self.metric, self.clf, self.transform, seed,
                                      bank_fp=bank, use=self.use(cand), teacher_fp=self.ref_fp)

    def is_done(self, cand: Candidate, seed: int) -> bool:
        uid, problem = self.unit_id(cand, seed), self._run_problem(cand, seed)
        return self.store.current(uid, self.fp(cand, seed), problem) is not None

    def _run_problem(self, cand: Candidate, seed: int):
        """What is wrong with a stored run's fields for `_summary` (None: nothing)."""
        n_bytes = 2 * ((len(self.val) + 7) // 8)

        def problem(rec: dict) -> str | None:
            if rec.get("candidate") != cand.name or rec.get("seed") != seed:
                return f"it names candidate {rec.get('candidate')!r:.80}, seed {rec.get('seed')!r:.20}"
            outcomes = rec.get("val_outcomes")
            if outcomes is not None and not (isinstance(outcomes, str) and len(outcomes) == n_bytes
                                             and re.fullmatch(r"[0-9a-f]*", outcomes)):
                return f"its val_outcomes is not the hex of {len(self.val)} outcomes"
            return score_problem(rec)

        return problem

    def _train_run(self, cand: Candidate, seed: int) -> dict:
        t0 = time.perf_counter()
        use = self.use(cand)
        teacher = self.teacher() if use is not None and use.needs_teacher else None
        source = None if use is None else self.bank_dir(cand)
        model = engine.train_run(self.train, self.clf, seed=seed, transform=self.transform, source=source, use=use,
                                 teacher=teacher)
        return {"candidate": cand.name, "seed": seed, "val": engine.score(model, self.val, self.metric),
                "val_outcomes": engine.outcomes(model, self.val),
                "metric": self.metric, "synthetic_weight": cand.weight,
                "synthetic_soft_labels": use.soft_labels if use else 0.0, "steps": self.clf.steps,
                "batch_size": self.clf.batch_size, "device": str(engine.resolve_device(self.clf.device)),
                "run_fingerprint": self.fp(cand, seed), "seconds": time.perf_counter() - t0}

    def run(self, cand: Candidate, seed: int) -> dict:
        # What the run stood on, beyond its settings: the bank's contents and the teacher's weights. A stored
        # run counts only while they hold (a fingerprint names settings, not what is on disk now).
        pins = {"source_id": None, "teacher_sha256": None}
        if cand.generator is not None:
            bank = self.bank(cand)
            if bank.get("filter_error"):
                return {"candidate": cand.name, "seed": seed, "val": None, "skipped": bank["filter_error"]}
            pins["source_id"] = bank["source_id"]
        use = self.use(cand)
        if use is not None and use.needs_teacher:
            pins["teacher_sha256"] = self.teacher_sha256()
        return self._ensure(self.unit_id(cand, seed), self.fp(cand, seed),
                            lambda: {**self._train_run(cand, seed), **pins},
                            lambda rec: all(rec.get(k) == v for k, v in pins.items()),
                            self._run_problem(cand, seed))


def _candidates(paths: list[Path], labels: list[str], ratios: list[float],
                thresholds: list[float | None], weights: list[float] = (1.0,)) -> list[Candidate]:
    cands = [Candidate(REAL, 0.0)]
    for path, label in zip(paths, labels):
        for r in ratios:
            for t in thresholds:
                for w in weights:
                    name = (f"{label}/syn{r:g}" + ("" if t is None else f"-filt{t:g}")
                            + ("" if w == 1.0 else f"-w{w:g}"))
                    cands.append(Candidate(name, r, path, label, t, w))
    return cands


def _run_all(session: _Session, cands: list[Candidate], seeds: list[int], progress: bool) -> list[dict]:
    jobs = [(c, s) for c in cands for s in seeds]
    done = sum(session.is_done(c, s) for c, s in jobs)
    if progress:  # the plan first: what will run, and (after the first run) for about how long
        tqdm.write(f"ganaug-tune: {len(cands)} candidates (real only + {len(cands) - 1} synthetic) x {len(seeds)} "
                   f"seeds = {len(jobs)} runs of {session.clf.steps} steps; {done} stored, {len(jobs) - done} to train",
                   file=sys.stderr)
    bar = tqdm(total=len(jobs), initial=done, unit="run", desc="ganaug-tune", dynamic_ncols=True,
               disable=not progress)
    runs, timed = [], False
    for c, s in jobs:
        fresh = not session.is_done(c, s)
        if fresh:
            bar.set_postfix_str(f"{c.name}, seed {s}")
        t0 = time.perf_counter()
        runs.append(session.run(c, s))
        if fresh and not timed and progress:
            from ganaug.gan.progress import format_duration

            left, each = len(jobs) - done - 1, float(runs[-1].get("seconds") or 0.0)
            tqdm.write(f"ganaug-tune: the first run took {format_duration(time.perf_counter() - t0)} (with the "
                       f"reference and its bank); expected for the {left} left: about {format_duration(left * each)}",
                       file=sys.stderr)
            timed = True
        done += int(fresh)
        bar.update(int(fresh))
    bar.close()
    return runs


# ------------------------------------------------------------------------------ summary and reports


def _summary(cands: list[Candidate], runs: list[dict], seeds: list[int], session: _Session) -> list[dict]:
    scores: dict[str, dict[int, float]] = {c.name: {} for c in cands}
    skipped: dict[str, str] = {}
    measured_on: dict[str, str] = {}
    for r in runs:
        if r.get("source_id"):
            measured_on[r["candidate"]] = r["source_id"]
        if r.get("skipped"):
            skipped[r["candidate"]] = r["skipped"]
        else:
            scores[r["candidate"]][r["seed"]] = r["val"]
    real = [scores[REAL][s] for s in seeds]
    outcomes = _outcomes(runs, seeds, session)
    # Bonferroni over the synthetic candidates measured: choosing the best of m is m chances of a lucky split.
    m = max(1, sum(c.generator is not None and c.name not in skipped for c in cands))
    out = []
    for c in cands:
        vals = [scores[c.name][s] for s in seeds] if c.name not in skipped else []
        out.append({
            "name": c.name, "generator": None if c.generator is None else str(c.generator), "ratio": c.ratio,
            "filter_threshold": c.threshold, "synthetic_weight": c.weight,
            "bank": None if c.generator is None else str(session.bank_dir(c)),
            "source_id": measured_on.get(c.name),
            "skipped": skipped.get(c.name), "val_by_seed": {str(s): v for s, v in zip(seeds, vals)},
            "val": mean_ci(vals) if vals else None,
            "gain_vs_real": paired_diff_ci(vals, real) if vals and c.generator is not None else None,
            "decision": _decision(outcomes, c.name, vals, real, m) if vals and c.generator is not None else None,
        })
    return out


DECISION_RULES = ("interval", "argmax")
DECISION_ALPHA = 0.05  # the chance, before the Bonferroni split, of mixing in a candidate that does not help


def _outcomes(runs: list[dict], seeds: list[int], session: _Session) -> dict[str, np.ndarray] | None:
    """Per candidate, seeds × validation images outcomes (1 right); None when a stored run predates them."""
    by: dict[str, dict[int, str]] = {}
    for r in runs:
        if not r.get("skipped"):
            by.setdefault(r["candidate"], {})[r["seed"]] = r.get("val_outcomes")
    if any(v is None for runs_of in by.values() for v in runs_of.values()):
        return None
    n = len(session.val)
    return {name: np.stack([engine.unpack_outcomes(per[s], n) for s in seeds]) for name, per in by.items()} | {
        "_weights": engine.metric_weights(session.val.labels, session.metric)}


def _decision(outcomes: dict | None, name: str, vals: list[float], real: list[float], m: int) -> dict:
    """The rule's evidence for one synthetic candidate: a one-sided lower bound on its gain over real only at
    level 1 - DECISION_ALPHA / m, counting the validation images as a sample (paired bootstrap over seeds and
    images); from the seeds alone (a t bound) for runs stored before per-image outcomes were."""
    lower = DECISION_ALPHA / m
    if outcomes is not None:
        b = paired_bootstrap_gain(outcomes[name], outcomes[REAL], outcomes["_weights"], lower=lower)
        return {"mean": b["mean"], "lo": b["lo"], "level": 1 - lower, "images_counted": True}
    ci = paired_diff_ci(vals, real, confidence=1 - 2 * lower)
    return {"mean": ci["mean"], "lo": ci["lo"], "level": 1 - lower, "images_counted": False}


def _best(candidates: list[dict], rule: str = "interval") -> str:
    """``interval``: the synthetic candidate with the highest mean gain among those whose gain over real only
    is above 0 at the decision's level (`_decision`), else real only. ``argmax``: the highest mean
    validation score (the rule before; it mixed in noise when a small split favoured it by chance)."""
    if rule == "interval":
        shown = [c for c in candidates if c.get("decision") and math.isfinite(c["decision"]["lo"])
                 and c["decision"]["lo"] > 0]
        return max(shown, key=lambda c: c["decision"]["mean"])["name"] if shown else REAL
    # Strictly greater: real only comes first, so a tie keeps the simpler choice, not mixing.
    best = None
    for c in candidates:
        if c["val"] is not None and (best is None or c["val"]["mean"] > best["val"]["mean"]):
            best = c
    return best["name"]


def closest(result: "TuneResult") -> dict | None:
    """The synthetic candidate that came nearest to being chosen: the highest lower bound."""
    cands = [c for c in result.candidates if c.get("decision") and math.isfinite(c["decision"]["lo"])]
    return max(cands, key=lambda c: (c["decision"]["lo"], c["decision"]["mean"])) if cands else None


def _finite(x: Any) -> Any:
    # JSON has no NaN: an undefined interval (one seed) is written as null.
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def _verdict(result: TuneResult) -> str:
    best = result.candidate()
    rule = result.settings.get("rule", "argmax")
    if rule == "interval":
        return _interval_verdict(result, best)
    if best["name"] == REAL:
        return ("**Best: real only.** No synthetic candidate scored higher on the validation split than the real "
                "data alone: don't mix (mix.yaml has ratio 0).")
    g = best["gain_vs_real"]
    head = f"**Best: `{best['name']}`**, gain over real only {format_gain(g, mark=False)} points: "
    if g["n"] < 2 or not math.isfinite(g["lo"]):
        return head + "one seed, so no confidence interval; rerun with more seeds before relying on it."
    if g["significant"]:
        return head + "its 95% CI excludes 0."
    return head + "its 95% CI includes 0, so with these seeds it is not distinguishable from real only."


def _interval_verdict(result: TuneResult, best: dict) -> str:
    s = result.settings
    rule = (f"The rule, fixed before the runs: mix only a candidate whose gain over real only is above 0 at "
            f"{{level}} (one-sided, Bonferroni over the synthetic candidates), counting the {s['val_images']} "
            f"validation images as a sample as well as the {len(s['seeds'])} seeds (a paired bootstrap over both).")
    near = closest(result)
    level = f"{100 * near['decision']['level']:.1f}%" if near else "95%"
    rule = rule.format(level=level)
    if near is not None and not near["decision"]["images_counted"]:
        rule += " Runs stored before per-image outcomes were recorded: the bound counts the seeds only."
    if best["name"] == REAL:
        if near is None:
            return "**Real only.** No synthetic candidate was measured. " + rule
        d = near["decision"]
        return (f"**Real only: don't mix.** The closest candidate, `{near['name']}`, gained {100 * d['mean']:+.1f} "
                f"points on average, but its lower bound is {100 * d['lo']:+.1f}: this split cannot show that it "
                "helps. " + rule + " To try it anyway: `ganaug.load_recipe(out_dir, candidate=" + repr(near["name"])
                + ")`.")
    d = best["decision"]
    return (f"**Mix `{best['name']}`**: gain over real only {100 * d['mean']:+.1f} points, lower bound "
            f"{100 * d['lo']:+.1f}. " + rule)


def _trained_name(s: dict) -> str:
    """The network the candidates trained: the user's (tune's ``model``) or ganaug's."""
    return f"your network `{s['model']}`" if s.get("model") else _model_name(s)


def _model_name(s: dict) -> str:
    return f"`ganaug.classify.classifier.{CLASSIFIERS[s.get('arch', 'smallcnn')].__name__}` (width {s['width']})"


def _markdown(result: TuneResult) -> str:
    s = result.settings
    metric = s["metric"].replace("_", " ")
    lines = [
        "# ganaug-tune: validation scores", "",
        f"Validation {metric} of {_trained_name(s)} trained for {s['steps']} steps at batch size "
        f"{s['batch_size']} under each candidate, seeds {s['seeds']}: mean ± 95% CI half-width in points; "
        "gain = paired difference against real only, by seed, with 95% CI (`*`: the CI excludes 0); the decision "
        "below also counts the validation images as a sample, so its bound is wider.", "",
        "| candidate | ratio | filter | val score | gain vs real only |",
        "|---|---|---|---|---|",
    ]
    # Otherwise "real only" reads as un-augmented: here it is the classical-augmentation baseline.
    policy = (["applies the given transform (classical augmentation) to real and synthetic images"]
              if s.get("transform") is not None else [])
    if s.get("batch_mix", "none") != "none":
        policy.append(f"mixes its batches by {BATCH_MIX_NAMES.get(s['batch_mix'], s['batch_mix'])} (alpha {s.get('batch_mix_alpha', 1.0):g})")
    if policy:
        lines[2:2] = [f"Every run, real only included, {' and '.join(policy)}.", ""]
    for c in result.candidates:
        name = "real only" if c["name"] == REAL else f"`{c['name']}`"
        if c["name"] == result.best:
            name = f"**{name} (best)**"
        score = "skipped" if c["skipped"] else format_score(c["val"])
        flt = "–" if c["filter_threshold"] is None else f"{c['filter_threshold']:g}"
        lines.append(f"| {name} | {c['ratio']:g} | {flt} | {score} | {format_gain(c['gain_vs_real'])} |")
    lines += ["", _verdict(result), ""]
    if s.get("synthetic_soft_labels"):
        lines += [f"Synthetic candidates were trained with soft labels: `ganaug.SyntheticAwareLoss(soft_labels="
                  f"{s['synthetic_soft_labels']:g}, teacher=...)`, the teacher being the real-data classifier saved as "
                  f"`reference.safetensors` ({_model_name(s)}). Train with the same loss to get the gain measured here: "
                  "`recipe = ganaug.load_recipe(out_dir)`, then `recipe.wrap(train_set)` and `recipe.loss()`.", ""]
    if s.get("synthetic_confidence_weight"):
        lines += ["Each synthetic item's loss weight was multiplied by the reference classifier's probability of its "
                  "label (`SyntheticAwareLoss(confidence_weight=True)`, `recipe.loss()`).", ""]
    if s.get("synthetic_split_norm"):
        lines += ["Batch norm normalised synthetic items with their own statistics and kept them out of the running "
                  "statistics (`ganaug.split_batch_norm`, `recipe.norm(model, is_synthetic)` around the forward pass).", ""]
    if s.get("filter_class_quantile") is not None:
        lines += [f"Filters calibrated per class on the validation split (quantile {s['filter_class_quantile']:g}): "
                  "class k's threshold is at most the confidence the reference classifier has in that share of "
                  "real validation images of class k (thresholds per bank in its `bank.json`).", ""]
    by_reason: dict[str, list[str]] = {}
    for c in result.candidates:
        if c["skipped"]:
            by_reason.setdefault(c["skipped"], []).append(f"`{c['name']}`")
    if by_reason:
        lines += ["Skipped:", *[f"- {', '.join(names)}: {reason}" for reason, names in by_reason.items()], ""]
    gens = sorted({(c["name"].split("/")[0], c["generator"]) for c in result.candidates if c["generator"]})
    lines += ["Generators:", *[f"- `{label}`: {path}" for label, path in gens], ""]
    return "\n".join(lines)


def _write_outputs(result: TuneResult) -> None:
    from ganaug.base.provenance import environment, stored_if_unchanged

    doc = _finite({"settings": result.settings, "best": result.best, "candidates": result.candidates,
                   "runs": result.runs})
    kept = stored_if_unchanged(result.json_path, doc)
    doc["environment"] = kept["environment"] if kept and "environment" in kept else environment()
    atomic_write_bytes(result.json_path, json.dumps(doc, indent=2).encode())
    atomic_write_bytes(result.markdown_path, result.markdown().encode())
    chosen = f"# Chosen by ganaug-tune on the validation split: {result.best} (see tune.md).\n"
    load = (f"#   recipe = ganaug.load_recipe({str(result.out_dir)!r})\n"
            "#   train_set = recipe.wrap(train_set, transform=...); criterion = recipe.loss()\n")
    recipe = OmegaConf.to_yaml(OmegaConf.create(result.recipe_config()))
    atomic_write_bytes(result.recipe_path, (chosen + "# The mix and the loss it was measured with:\n" + load
                                            + recipe).encode())
    for c in result.candidates:
        if c["skipped"]:
            continue
        path = result.out_dir / CANDIDATES_DIR / f"{c['name']}.yaml"
        head = f"# Measured by ganaug-tune ({'chosen' if c['name'] == result.best else 'not chosen'}; see tune.md).\n"
        atomic_write_bytes(path, (head + OmegaConf.to_yaml(OmegaConf.create(
            result.recipe_config(c["name"], where=path.parent)))).encode())
    mix = OmegaConf.to_yaml(OmegaConf.create(result.mix_config()))
    atomic_write_bytes(result.mix_path, (chosen + "# The mix alone, as a Hydra partial. With its loss (recipe.yaml):\n"
                                         + load + mix).encode())


# ------------------------------------------------------------------------------ public API


def _load_generators(paths: list[Path], train: ImageArrayDataset) -> dict[Path, Any]:
    return {p: load_generator(p, expect_num_classes=train.num_classes, expect_image_shape=train.image_shape)
            for p in paths}


@dataclass(frozen=True)
class TuneSettings:
    """What `tune_mix` measures and how: conf/tune.yaml's ``tune`` group holds exactly these keys with these
    defaults (tests/test_tune_defaults.py), so ``ganaug-tune`` and ``tune_mix`` decide alike by default."""

    ratios: Sequence[float] = (0.0, 0.25, 0.5)
    filter_thresholds: Sequence[float | None] = (None, 0.9)
    filter_fallback: str | None = None
    filter_class_quantile: float | None = None
    class_policy: Any = "match"
    steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    width: int = 32
    arch: str = "smallcnn"
    model: Any = None
    precision: str = "32-true"
    device: str = "auto"
    seeds: Sequence[int] = (0, 1, 2)
    synthetic_weights: Sequence[float] = (1.0,)
    synthetic_soft_labels: float = 0.5
    synthetic_confidence_weight: bool = True
    synthetic_split_norm: bool = True
    batch_mix: str = "none"
    batch_mix_alpha: float = 1.0
    bank_size: int = 10000
    metric: str = "auto"
    rule: str = "interval"

    @classmethod
    def from_config(cls, cfg: Any) -> TuneSettings:
        """From a mapping or an OmegaConf node (``cfg.tune``); an unknown key is named with the known ones."""
        d = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise TuneError(f"unknown tune setting(s) {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)


def tune_mix(
    generators: str | os.PathLike | Sequence[str | os.PathLike],
    train_set: Any,
    val_set: Any,
    settings: TuneSettings | None = None,
    *,
    out_dir: str | os.PathLike,
    transform: Any = None,
    progress: bool = True,
) -> TuneResult:
    """Pick ratio, filter threshold and generator for `SyntheticMix` by validation score.

    ``settings`` (`TuneSettings`, its defaults when None) names the candidates and how each is measured; the
    names below are its fields. Candidates are real only plus every (generator, ratio > 0, threshold); each is trained with
    the reference classifier (``arch``: `SmallCNN` or `SmallResNet`; ``steps`` optimizer steps at
    ``batch_size``) once per seed and scored on ``val_set`` only. ``metric="auto"`` is balanced
    accuracy when the training class counts differ by more than 1.5×, else accuracy. ``transform`` (uint8 H×W×C in and out,
    e.g. an albumentations Compose) is applied to real and synthetic images in every run, reseeded
    per run; the datasets' own transforms are not used. ``synthetic_weights`` adds candidates whose
    synthetic items weigh less (or more) than real ones in the loss. ``synthetic_soft_labels`` = a > 0
    (default 0.5, the benchmark's recipe; 0 = hard labels) trains every synthetic candidate with soft
    targets (`ganaug.SyntheticAwareLoss`, the teacher being the reference classifier trained on
    ``train_set``, saved as ``out_dir``/reference.safetensors); ``synthetic_confidence_weight`` weighs
    each synthetic item by that teacher's probability of its label; ``synthetic_split_norm`` keeps
    synthetic items' batch-norm statistics apart (`ganaug.split_batch_norm`). ``batch_mix``
    (``"mixup"`` or ``"cutmix"``, ratio ~ Beta(``batch_mix_alpha``, same)): every run, real only included, mixes
    its batches as a user training with mixup or CutMix does (`ganaug.classify.batch_mix`). Writes
    ``out_dir``/tune.json, tune.md,
    recipe.yaml (the best candidate's mix and loss: `ganaug.load_recipe`) and mix.yaml (its mix alone,
    a `SyntheticMix` partial for Hydra configs); runs and banks stored under
    ``out_dir`` are reused when their settings are unchanged. A filtered bank whose filter accepts
    almost none of some class's images is skipped (its candidates recorded as such), or with
    ``filter_fallback="unfiltered"`` (`QualityFilter`) holds that class unfiltered.
    ``model`` (a module-level function or class, or its ``"package.module:function"`` path) is the user's
    own network, trained by every candidate in place of ``arch`` (`train_classifier_on_loader`); the
    reference classifier (filter and teacher) stays ganaug's ``arch``. ``rule="interval"`` mixes a
    candidate only when its validation gain over real only is shown with the validation images counted
    as a sample (`_best`); ``"argmax"`` takes the highest mean score.
    ``filter_class_quantile`` = q calibrates every filter on ``val_set`` (`QualityFilter.calibrate`):
    class k's threshold becomes min(threshold, the q-quantile of the reference classifier's confidence
    in real validation images of class k), the benchmark's long-tail recipe (q = 0.5), for classes
    it is unsure of even on real images. ``device``:
    where runs train (``auto``: CUDA when present); ``precision``: Lightning Fabric's (``bf16-mixed``
    on a GPU). Every step is the benchmark's (ganaug/eval/engine.py), with its fingerprint: the same run
    on the same data scores the same.
    """
    s = TuneSettings() if settings is None else settings
    if not isinstance(s, TuneSettings):
        raise TypeError(f"settings must be a ganaug.TuneSettings, got {type(s).__name__}: "
                        "tune_mix(generators, train_set, val_set, ganaug.TuneSettings(ratios=...), out_dir=...)")
    ratios, filter_thresholds, class_policy, seeds, rule = s.ratios, s.filter_thresholds, s.class_policy, s.seeds, s.rule
    steps, batch_size, width, bank_size, metric = s.steps, s.batch_size, s.width, s.bank_size, s.metric
    filter_fallback, filter_class_quantile = s.filter_fallback, s.filter_class_quantile
    synthetic_soft_labels = s.synthetic_soft_labels
    synthetic_confidence_weight, synthetic_split_norm = s.synthetic_confidence_weight, s.synthetic_split_norm
    QualityFilter.check_fallback(filter_fallback, "filter_fallback", TuneError)
    fraction("filter_class_quantile", filter_class_quantile, allow_none=True, error=TuneError)
    train, val = _as_arrays(train_set, "train_set"), _as_arrays(val_set, "val_set")
    _check_data(train, val)
    ratios, thresholds = _check_ratios(ratios), _check_thresholds(filter_thresholds)
    seeds = engine.check_seeds("seeds", seeds)
    if rule not in DECISION_RULES:
        raise TuneError(f"rule must be one of {DECISION_RULES}, got {rule!r}")
    if len(seeds) < 3:
        warnings.warn(f"{len(seeds)} classifier seed(s): an interval over so few seeds means little (two seeds give "
                      "a t quantile of 12.7); use 3 or more", UserWarning, stacklevel=2)
    weights = _check_weights(s.synthetic_weights)
    _check_positive(steps=steps, batch_size=batch_size, width=width, bank_size=bank_size)
    _check_transform(transform, train.images[0])
    try:  # the engine's own rules, before any run
        loss = SyntheticUse(soft_labels=synthetic_soft_labels,
                            confidence_weight=synthetic_confidence_weight,
                            split_norm=synthetic_split_norm)
        clf = ClassifierSettings(steps=steps, batch_size=batch_size, lr=s.lr, lr_schedule=s.lr_schedule, width=width,
                                 arch=s.arch, precision=s.precision, device=s.device, model=s.model,
                                 batch_mix=s.batch_mix, batch_mix_alpha=s.batch_mix_alpha)
        if clf.model is not None:  # the user's network, built once on the data's shape before anything trains
            engine._new_model(train, clf)
    except ConfigError as e:
        raise TuneError(str(e).replace("classifier.", "")) from None
    metric = _resolve_metric(metric, train)
    class_policy = plain_policy(class_policy)
    class_policy = list(class_policy) if isinstance(class_policy, tuple) else class_policy
    try:
        bank = BankSettings(size=int(bank_size), class_policy=class_policy, filter_fallback=filter_fallback,
                            filter_class_quantile=None if filter_class_quantile is None else float(filter_class_quantile))
        bank.check_classes(train)
    except ConfigError as e:
        raise TuneError(str(e)) from None
    paths = _as_paths(generators)
    labels = _labels(paths)
    with hold_dir(out_dir, "ganaug-tune", "out_dir"):
        gens = _load_generators(paths, train)
        for gen in gens.values():  # before any run, not once they had begun
            try:
                check_bank_fits(gen, int(bank_size), out_dir, "bank_size")
            except ConfigError as e:
                raise TuneError(str(e)) from None
        session = _Session(train, val, Path(out_dir), clf, bank=bank, metric=metric, transform=transform,
                           generators=gens, loss=loss)
        cands = _candidates(paths, labels, ratios, thresholds, weights)
        runs = _run_all(session, cands, seeds, progress)
        summary = _summary(cands, runs, seeds, session)
        recorded = {**clf.key(), "device": clf.device, "rule": rule, "ratios": ratios, "filter_thresholds": thresholds,
                    "synthetic_weights": weights, "synthetic_soft_labels": float(synthetic_soft_labels),
                    "synthetic_confidence_weight": synthetic_confidence_weight,
                    "synthetic_split_norm": synthetic_split_norm,
                    "filter_fallback": filter_fallback, "filter_class_quantile": bank.filter_class_quantile,
                    "class_policy": class_policy, "seeds": seeds, "bank_size": int(bank_size), "metric": metric, "train_images": len(train),
                    "num_classes": train.num_classes, "image_shape": list(train.image_shape),
                    "val_images": len(val), "transform": engine.transform_key(transform),
                    "generators": {label: str(p) for label, p in zip(labels, paths)}}
        result = TuneResult(summary, runs, _best(summary, rule), recorded, Path(out_dir))
        _write_outputs(result)
        return result

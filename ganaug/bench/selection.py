"""Which of a GAN's generators makes the benchmark's synthetic banks.

A GAN's value as augmentation is not monotone in training length (Fashion-MNIST n100's synthetic-only
accuracy rose and fell again between 3,000 and 6,000 generator updates: benchmarks/results/ablation.md, the
snapshot table), and neither its losses nor FID track it. With `bench.select_generator.by=val_cas` every
snapshot the GAN wrote (`GeneratorSnapshots`) at a multiple of `every` updates, plus its final generator, is scored
by CAS on the regime's *validation* split (a classifier trained on that generator's images only),
and the best one makes the banks. The test split is never looked at.

Each candidate is its own benchmark unit, so a killed selection resumes per snapshot.
"""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig

from ganaug.gan.callbacks import snapshot_dir
from ganaug.classify.classifier import train_classifier
from ganaug.eval.engine import resolve_device
from ganaug.base.checks import non_negative_int, positive_int
from ganaug.base.resources import check_fits
from ganaug.base.rng import check_seed
from ganaug.errors import ConfigError
from ganaug.gan.artifact import load_generator

BY = ("final", "val_cas")


class SelectionError(ConfigError):
    """Bad `bench.select_generator` settings, or no candidate generator to choose from."""


def check_settings(sel: DictConfig | None) -> str:
    """`bench.select_generator.by`; with val_cas, its numbers checked when planning: int() met them (every=abc, a
    ValueError) or the generator choice did, after the GAN had trained (seed=-1)."""
    by = "final" if sel is None else str(sel.get("by", "final"))
    if by not in BY:
        raise SelectionError(f"bench.select_generator.by must be one of {BY}, got {by!r}")
    if by == "val_cas":
        name = "bench.select_generator."
        positive_int(name + "every", sel.get("every"), why="candidates: snapshots at multiples of this many updates",
                     error=SelectionError)
        if sel.get("min_step") is not None:
            non_negative_int(name + "min_step", sel.min_step, why="the first update a candidate may come from",
                             error=SelectionError)
        positive_int(name + "samples", sel.get("samples"), why="synthetic images each candidate's classifier trains on",
                     error=SelectionError)
        if sel.get("steps") is not None:
            positive_int(name + "steps", sel.steps, why="that classifier's steps, or null for bench.classifier.steps",
                         error=SelectionError)
        check_seed(sel.get("seed", 0), name + "seed", f"set e.g. {name}seed=0")
    return by


def check_samples_fit(sel: DictConfig, num_classes: int, image_shape, z_dim: int) -> None:
    """Refuse `bench.select_generator.samples` the machine cannot hold (what `score_candidate` draws at once):
    refused before, after the GAN had trained, naming another command's setting (ganaug-sample's)."""
    samples = int(sel.samples)
    n = num_classes * -(-samples // num_classes)
    h, w, c = image_shape  # per image: its pixels, label (int64) and noise (float32), as TrainedGenerator.sample
    check_fits(n * (h * w * c + 8 + 4 * int(z_dim)), "bench.select_generator.samples", samples)


def candidate_steps(max_steps: int, every: int, min_step: int = 0) -> list[int]:
    """Generator updates whose generator is a candidate: multiples of `every` from `min_step`, and the end."""
    steps = [s for s in range(every, max_steps, every) if s >= min_step]
    return steps + [max_steps]


def generator_at(generator_dir: str | Path, step: int, max_steps: int) -> Path | None:
    """The exported generator after `step` updates of the GAN whose final export is `generator_dir`."""
    final = Path(generator_dir)
    if step == max_steps:
        return final
    snap = snapshot_dir(final.parent / "snapshots", step)
    return snap if snap.is_dir() else None


def score_candidate(regime, generator_dir: str, step: int, max_steps: int) -> dict:
    """Val CAS of the generator after `step` updates (a missing snapshot is recorded, not fatal)."""
    sel = regime.cfg.bench.select_generator
    dm = regime.datamodule
    record = {"regime": regime.name, "step": step}
    path = generator_at(generator_dir, step, max_steps)
    if path is None:
        # A GAN trained without GeneratorSnapshots (or with another interval) has no such candidate.
        return {**record, "generator": None, "val_cas": None,
                "missing": f"no snapshot g{step:06d} beside {generator_dir}"}
    gen = load_generator(path, expect_num_classes=dm.num_classes, expect_image_shape=dm.image_shape)
    k = dm.num_classes
    per_class = -(-int(sel.samples) // k)
    t0 = time.perf_counter()
    # The same noise for every candidate: they differ by their weights only.
    images, labels = gen.sample(n_per_class=per_class, seed=int(sel.get("seed", 0)))
    clf = regime.selection_classifier
    model = train_classifier(images, labels, k, steps=int(sel.steps or clf.steps), batch_size=clf.batch_size,
                             lr=clf.lr, seed=int(sel.seed), width=clf.width, arch=clf.arch, lr_schedule=clf.lr_schedule,
                             device=resolve_device(clf.device), precision=clf.precision).cpu()
    return {**record, "generator": str(path), "val_cas": regime.score(model, regime.val_set),
            "metric": "balanced_accuracy" if regime.imbalanced else "accuracy",
            "samples": len(images), "seconds": time.perf_counter() - t0}


def choose(regime_name: str, gan_seed: int, candidates: list[dict]) -> dict:
    """The candidate with the best val CAS; on a tie the earlier (cheaper to reproduce) one."""
    scored = [c for c in candidates if c.get("val_cas") is not None]
    if not scored:
        raise SelectionError(f"{regime_name}, GAN seed {gan_seed}: no candidate generator could be scored: "
                             + "; ".join(c.get("missing", "?") for c in candidates))
    best = max(scored, key=lambda c: (c["val_cas"], -c["step"]))
    return {"regime": regime_name, "gan_seed": gan_seed, "by": "val_cas", "generator": best["generator"],
            "step": best["step"], "val_cas": best["val_cas"],
            "candidates": [{k: c.get(k) for k in ("step", "val_cas", "missing")} for c in candidates]}


def steps_summary(candidates: list[dict]) -> str:
    """`3000: 61.5, 4000: 63.0*` — val CAS per candidate, the chosen one starred (for reports)."""
    scored = [c for c in candidates if c.get("val_cas") is not None]
    if not scored:
        return "–"
    best = max(scored, key=lambda c: (c["val_cas"], -c["step"]))
    return ", ".join(f"{c['step']}: {100 * c['val_cas']:.1f}" + ("*" if c is best else "") for c in scored)

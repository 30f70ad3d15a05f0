"""Which of a GAN's generators makes the benchmark's synthetic banks.

A GAN's value as augmentation is not monotone in training length (on Fashion-MNIST n100 the
synthetic-only accuracy went 61 → 66 → 62% between 3,000, 5,000 and 6,000 generator updates), and
neither its losses nor FID track it. With `bench.select_generator.by=val_cas` every snapshot the GAN
wrote (`GeneratorSnapshots`) at a multiple of `every` updates, plus its final generator, is scored
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
from ganaug.errors import GanaugError
from ganaug.gan.artifact import load_generator

BY = ("final", "val_cas")


class SelectionError(GanaugError, ValueError):
    """Bad `bench.select_generator` settings, or no candidate generator to choose from."""


def check_settings(sel: DictConfig | None) -> str:
    by = "final" if sel is None else str(sel.get("by", "final"))
    if by not in BY:
        raise SelectionError(f"bench.select_generator.by must be one of {BY}, got {by!r}")
    if by == "val_cas":
        for key in ("every", "samples"):
            if int(sel.get(key) or 0) < 1:
                raise SelectionError(f"bench.select_generator.{key} must be >= 1, got {sel.get(key)!r}")
        if sel.get("steps") is not None and int(sel.steps) < 1:
            raise SelectionError(f"bench.select_generator.steps must be >= 1 or null, got {sel.steps!r}")
    return by


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
    images, labels = gen.sample(n_per_class=per_class, seed=int(sel.seed))
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

"""The weights a benchmark directory needs to go on in a fresh clone, to commit beside its records.

Weights are not committed (.gitignore), so a fresh checkout holds a long run's unit records without
its generators: ganaug-bench then trains each GAN a pending unit needs again, an hour of CPU per GAN
and other weights than the ones its finished units were made from. The held-out runs span sessions,
so their generators (the chosen one per GAN seed, about 2 MB) and reference classifiers are kept:

    python benchmarks/keep_weights.py benchmarks/results/heldout/seed1_resnet [--git-add] [--unfinished]

Lists each file with its size; --git-add force-adds them (they stay tracked from then on). A GAN stopped
part-way (a checkpoint, no record yet) is named: --unfinished keeps its last checkpoint and snapshots too
(listed with their sizes, several times a generator's), else a fresh clone trains it from the start.
Of a GAN's snapshots (one per 500 updates), only the candidates its generator choice scores are kept
(`bench.select_generator` as the directory's results.json records it; all of them when it does not say).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from ganaug.bench.selection import candidate_steps
from ganaug.eval.store import UnitStore, gan_id, gan_of
from ganaug.gan.callbacks import snapshot_dir


def snapshots_scored(out: Path, gan_dir: Path, max_steps: int | None = None) -> list[Path]:
    """The snapshots of the GAN in `gan_dir` that its generator choice scores (the final generator is the
    last candidate); the whole snapshots directory when `out`'s results.json does not record the settings."""
    snapshots = gan_dir / "snapshots"
    try:
        cfg = json.loads((out / "results.json").read_text())["config"]
        sel = cfg["bench"]["select_generator"]
        steps = candidate_steps(int(max_steps or cfg["train"]["gan"]["max_steps"]), int(sel["every"]),
                                int(sel.get("min_step") or 0))
    except (OSError, KeyError, TypeError, ValueError):
        return [snapshots]
    return [snapshot_dir(snapshots, s) for s in steps[:-1]]


def needed(out: Path) -> list[Path]:
    """Existing files under or named by `out`'s records that a resumed run would read: each GAN's chosen
    generator (with its snapshots while the choice is still to make) and the real-data classifiers."""
    units = out / "units"
    if not units.is_dir():
        raise SystemExit(f"keep_weights: {out} holds no benchmark units ({units} is missing)")
    store = UnitStore(units)
    paths: list[Path] = []
    for gan in sorted(units.glob("*/gan-g*.json")):
        regime, _, g = gan_of(f"{gan.parent.name}/{gan.stem}")
        source = store.generator_record(regime, g)
        generator = Path(store.get(source)["generator"])
        paths.append(generator)
        if source == gan_id(regime, g):  # a choice still to make scores the snapshots
            paths += snapshots_scored(out, generator.parent, store.get(source).get("g_updates"))
    paths += sorted(out.glob("*/*.safetensors"))
    return [p for p in dict.fromkeys(paths) if p.exists()]


def unfinished(out: Path) -> list[Path]:
    """What each GAN stopped part-way resumes from: its last checkpoint, and the snapshots its generator
    choice will score."""
    store = UnitStore(out / "units")
    paths: list[Path] = []
    for ckpt in sorted(out.glob("*/gan-g*/checkpoints/last.ckpt")):
        gan = ckpt.parents[1]
        if not store.has(f"{gan.parent.name}/{gan.name}"):
            paths += [ckpt] + [p for p in snapshots_scored(out, gan) if p.is_dir()]
    return paths


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in ([path] if path.is_file() else path.rglob("*")) if f.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dirs", nargs="+", type=Path, help="bench.out_dir of each benchmark")
    ap.add_argument("--git-add", action="store_true", help="git add -f the files listed")
    ap.add_argument("--unfinished", action="store_true",
                    help="also keep what GANs stopped part-way resume from (checkpoint, snapshots)")
    args = ap.parse_args(argv)
    paths = [p for out in args.out_dirs for p in needed(out)]
    partway = [p for out in args.out_dirs for p in unfinished(out)]
    if args.unfinished:
        paths += partway
    else:
        for ckpt in (p for p in partway if p.name == "last.ckpt"):
            print(f"keep_weights: {ckpt.parents[1]} stopped part-way: its checkpoint is not kept, so a fresh clone "
                  "trains it from the start; let the benchmark finish it, or pass --unfinished", file=sys.stderr)
    for p in paths:
        print(f"{size(p) / 1e6:7.1f} MB  {p}")
    print(f"{sum(map(size, paths)) / 1e6:7.1f} MB in {len(paths)} paths")
    if args.git_add and paths:
        subprocess.run(["git", "add", "-f", "--", *map(str, paths)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The weights a benchmark directory needs to go on in a fresh clone, to commit beside its records.

Weights are not committed (.gitignore), so a fresh checkout holds a long run's unit records without
its generators: ganaug-bench then trains each GAN a pending unit needs again, an hour of CPU per GAN
and other weights than the ones its finished units were made from. The held-out runs span sessions,
so their generators (the chosen one per GAN seed, about 2 MB) and reference classifiers are kept:

    python benchmarks/keep_weights.py benchmarks/results/heldout/seed1_resnet [--git-add]

Lists each file with its size; --git-add force-adds them (they stay tracked from then on).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def needed(out: Path) -> list[Path]:
    """Existing files under or named by `out`'s records that a resumed run would read: each GAN's chosen
    generator (with its snapshots while the choice is still to make) and the real-data classifiers."""
    units = out / "units"
    if not units.is_dir():
        raise SystemExit(f"keep_weights: {out} holds no benchmark units ({units} is missing)")
    paths: list[Path] = []
    for gan in sorted(units.glob("*/gan-g*.json")):
        choice = gan.with_name(gan.name.replace("gan-g", "select-g"))
        generator = Path(json.loads((choice if choice.is_file() else gan).read_text())["generator"])
        paths.append(generator)
        if not choice.is_file():  # a choice still to make scores the snapshots
            paths.append(generator.parent / "snapshots")
    paths += sorted(out.glob("*/*.safetensors"))
    return [p for p in dict.fromkeys(paths) if p.exists()]


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in ([path] if path.is_file() else path.rglob("*")) if f.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dirs", nargs="+", type=Path, help="bench.out_dir of each benchmark")
    ap.add_argument("--git-add", action="store_true", help="git add -f the files listed")
    args = ap.parse_args(argv)
    paths = [p for out in args.out_dirs for p in needed(out)]
    for p in paths:
        print(f"{size(p) / 1e6:7.1f} MB  {p}")
    print(f"{sum(map(size, paths)) / 1e6:7.1f} MB in {len(paths)} paths")
    if args.git_add and paths:
        subprocess.run(["git", "add", "-f", "--", *map(str, paths)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Do the units stored under benchmarks/results still match the code? Replans each directory's benchmark from the
command its results.json records and compares every stored unit's fingerprint with the one the code gives now.

A change that moves code, removes a lever or adds a setting must leave these equal (compatibility lives in
ganaug/eval/store.py), or the stored CPU-days are redone. Exit 1 when any differs.

    python benchmarks/stored_fingerprints.py heldout/seed1 heldout/seed1_resnet policy/n100/cutmix-s3000
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import RESULTS  # noqa: E402


def check(directory: Path) -> dict:
    """{"match": n, "differ": [unit ids]} for one benchmark directory (its results.json names the command)."""
    from hydra import compose, initialize_config_module

    from ganaug.bench.runner import Fingerprints, plan_from_config

    command = json.loads((directory / "results.json").read_text())["meta"]["command"]
    # Where and how it ran changes no unit: the directory is the one given, the executor and threads any.
    args = [a for a in shlex.split(command)[1:] if not a.startswith(("executor.", "threads=", "bench.out_dir="))]
    with initialize_config_module("ganaug.conf", version_base="1.3"):
        cfg = compose("bench", [*args, f"bench.out_dir={directory}"])
    units, store = plan_from_config(cfg)
    fps = Fingerprints(units, store)
    stored = [u.id for u in units if store.has(u.id)]
    differ = [uid for uid in stored if fps(uid) != store.get(uid)["fingerprint"]]
    return {"match": len(stored) - len(differ), "differ": differ}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="+", help="benchmark directories, relative to benchmarks/results or absolute")
    args = p.parse_args(argv)
    failed = False
    for d in args.dirs:
        r = check(Path(d) if Path(d).is_absolute() else RESULTS / d)
        failed |= bool(r["differ"])
        print(f"{d}: {r['match']} stored units match, {len(r['differ'])} differ {r['differ'][:8] or ''}".rstrip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

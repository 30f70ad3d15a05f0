"""ganaug-train on a GPU: time per generator update for each candidate setting, then the main job.

Each candidate is one `ganaug-train trainer=gpu ...` process on Fashion-MNIST, exactly what a user
runs. Its steady-state time per update is the one ganaug's own DurationEstimate logs over updates
`--skip`+1 .. `--steps` (the checkpoint, snapshot and sample grid written every 500 updates fall
inside, as in the main job). `--before DIR` adds an older ganaug (a folder holding its `ganaug`
package) first, so the before/after ratio comes from one run on one machine. `--main-job` then runs
the full job (conf/gan's 6,000 updates) with the fastest candidate and records its wall time,
start-up included: what a user waits for.

    python benchmarks/studies/gpu_speed.py --out DIR --root FASHION_MNIST_DIR [--before OLD] [--main-job]

Needs a CUDA GPU (benchmarks/results/gpu/gpu_speed.md says how it ran on a lent one).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _env
from _env import load_report, machine_load  # noqa: E402

from ganaug.base.provenance import environment  # noqa: E402

# (name, overrides), each spelled out in full: trainer=gpu's own settings change (bf16-mixed until
# 2026-11-28, now 32-true with cudnn.benchmark), and ++ sets a key whether or not the timed code's
# conf/ has it.
CANDIDATES = [
    ("bf16-mixed", ["trainer=gpu", "trainer.precision=bf16-mixed", "++trainer.benchmark=false"]),
    ("32-true", ["trainer=gpu", "trainer.precision=32-true", "++trainer.benchmark=false"]),
    ("32-true, cudnn.benchmark", ["trainer=gpu", "trainer.precision=32-true", "++trainer.benchmark=true"]),
]
PACE = re.compile(r"\((\d+) ms per update, timed over updates (\d+)-(\d+)\)")
TRAIN = ("import sys; from ganaug.gan.train import main; sys.argv[0] = 'ganaug-train'; main()")


def run_train(code: Path | None, overrides: list[str], log: Path) -> dict:
    """One ganaug-train process; `code` (a folder holding `ganaug`) replaces the installed package."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code), env.get("PYTHONPATH", "")])
    t0 = time.perf_counter()
    with log.open("w") as f:
        # -P: the current directory (a checkout's own ganaug/) must not shadow `code` or the installed one.
        rc = subprocess.run([sys.executable, "-P", "-c", TRAIN, *overrides], stdout=f, stderr=subprocess.STDOUT,
                            env=env).returncode
    wall = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    paces = [(int(ms), int(a), int(b)) for ms, a, b in PACE.findall(text)]
    return {"rc": rc, "wall_seconds": round(wall, 1), "paces": paces}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for gpu_speed.json and each run's log")
    ap.add_argument("--root", required=True, help="folder holding Fashion-MNIST's four .gz files")
    ap.add_argument("--before", type=Path, help="folder holding an older ganaug package, timed first")
    ap.add_argument("--steps", type=int, default=700)
    ap.add_argument("--skip", type=int, default=100)
    ap.add_argument("--main-job", action="store_true", help="then the full job with the fastest candidate")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_speed.py: no CUDA GPU here; it times trainer=gpu")
    if not 0 < args.skip < args.steps:
        raise SystemExit(f"gpu_speed.py: need 0 < --skip < --steps, got {args.skip} and {args.steps}")
    args.out.mkdir(parents=True, exist_ok=True)
    timed = [f"data.dataset.root={args.root}", f"gan.max_steps={args.steps + 1}",
             "+callbacks.pace._target_=ganaug.gan.progress.DurationEstimate",
             f"+callbacks.pace.skip={args.skip}", f"+callbacks.pace.measure={args.steps - args.skip}"]
    plan = [("before: " + name, args.before, ov) for name, ov in CANDIDATES[:1]] if args.before else []
    plan += [(name, None, ov) for name, ov in CANDIDATES]
    before = machine_load()
    rows = []
    for i, (name, code, ov) in enumerate(plan):
        r = run_train(code, ov + timed + [f"out_dir=/tmp/gpu_speed/{i}"], args.out / f"candidate{i}.log")
        steady = [ms for ms, a, b in r["paces"] if a == args.skip + 1]
        rows.append({"name": name, "code": "before" if code else "this", "overrides": ov, **r,
                     "ms_per_update": steady[0] if steady else None})
        print(f"{name:32s} {rows[-1]['ms_per_update']} ms per update (rc {r['rc']}, {r['wall_seconds']} s)",
              flush=True)
    result = {"environment": environment(" ".join(["python benchmarks/studies/gpu_speed.py", *sys.argv[1:]])),
              "gpu": torch.cuda.get_device_name(0), "steps_timed": [args.skip + 1, args.steps], "candidates": rows}
    write(args.out, result, before)  # now, and again after the main job: a call may end before it does
    ok = [r for r in rows if r["code"] == "this" and r["ms_per_update"]]
    if args.main_job and ok:
        best = min(ok, key=lambda r: r["ms_per_update"])
        ov = best["overrides"] + [f"data.dataset.root={args.root}", "out_dir=/tmp/gpu_speed/main"]
        r = run_train(None, ov, args.out / "main_job.log")
        result["main_job"] = {"candidate": best["name"], "command": "ganaug-train " + " ".join(best["overrides"]),
                              **r, "minutes": round(r["wall_seconds"] / 60, 2)}
        print(f"main job ({best['name']}): {r['wall_seconds']} s, rc {r['rc']}", flush=True)
        write(args.out, result, before)


def write(out: Path, result: dict, before: dict) -> None:
    result["load"] = load_report(before, machine_load())
    tmp = out / "gpu_speed.json.tmp"
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(out / "gpu_speed.json")


if __name__ == "__main__":
    main()

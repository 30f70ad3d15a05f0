"""The GAN update's speed on this CPU (issue 46): ms per generator update, and the share of the machine's
sgemm peak it reaches, for today's code (both D passes) and an older checkout (``--before``), in one run.

Each variant runs in a process of its own through ganaug's own training step (gpu_check.time_updates:
Lightning's loop, Fashion-MNIST, conf/gan), the variants interleaved over ``--rounds`` so that a drift in
the machine's speed falls on all of them alike. Share of peak: the update's FLOPs (FlopCounterMode over
one update of today's code; the networks are the same in every variant) over its median time, against a
2048² float32 matrix product timed in the same run (studies/compute_floor.py). Run it on an idle machine:
the record says how idle it was.

    python benchmarks/update_speed.py --before /tmp/before   # a checkout of the older commit (with ganaug/conf)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytorch_lightning as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "studies"))
from _env import (  # noqa: E402
    RESULTS, environment, environment_markdown, load_report, machine_load, train_quietly, write_report)

VARIANTS = {"separate": [], "joint": ["gan.d_pass=joint"]}


def time_variant(tree: Path, extra: list[str], data: str, updates: int, warmup: int, threads: int) -> float:
    """Median ms per update of ``tree``'s ganaug, in a fresh process."""
    code = (f"import sys, json; sys.path.insert(0, {str(HERE)!r}); import gpu_check; "
            f"r = gpu_check.time_updates('cpu', {data!r}, None, {updates}, {warmup}, {extra!r}); "
            "print('RESULT', json.dumps(r['ms_per_update_median']))")
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tree)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"timing {tree} {extra} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return float(json.loads(lines[-1].split(" ", 1)[1]))


class Breakdown(pl.Callback):
    """Per aten operation over ``n`` training batches after two: self CPU time (torch.profiler), then FLOPs of one
    more batch (FlopCounterMode, apart: a dispatch mode would skew the times)."""

    def __init__(self, n: int) -> None:
        self.n, self.ms, self.flops, self._prof, self._mode = n, {}, {}, None, None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx == 2:
            from torch.profiler import ProfilerActivity, profile

            self._prof = profile(activities=[ProfilerActivity.CPU])
            self._prof.__enter__()
        elif batch_idx == 2 + self.n:
            from torch.utils.flop_counter import FlopCounterMode

            self._mode = FlopCounterMode(display=False)
            self._mode.__enter__()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if batch_idx == 1 + self.n and self._prof is not None:
            self._prof.__exit__(None, None, None)
            for e in self._prof.key_averages():
                if e.key.startswith("aten::"):  # self time, and with what it calls (a convolution's kernel)
                    self.ms[e.key[6:]] = (e.self_cpu_time_total / 1000 / self.n, e.cpu_time_total / 1000 / self.n)
            self._prof = None
        elif batch_idx == 2 + self.n and self._mode is not None:
            self._mode.__exit__(None, None, None)
            self.flops = {str(op).split(".")[-1]: v for op, v in self._mode.get_flop_counts()["Global"].items()}
            self._mode = None


def breakdown(data: str, updates: int = 10) -> dict:
    """Where one update's time goes, by aten operation, and how fast the ones with FLOPs run."""
    probe = Breakdown(updates)
    train_quietly([f"data={data}", f"gan.max_steps={updates + 4}"], [probe])
    return {"ms": probe.ms, "flops": probe.flops, "updates": updates}


def breakdown_markdown(parts: dict) -> list[str]:
    peak = parts["sgemm_flops_per_s"]
    own = {k: v[0] for k, v in parts["ms"].items()}
    inclusive = {k: v[1] for k, v in parts["ms"].items()}
    flops, total = parts["flops"], sum(own.values())
    heavy = [k for k in sorted(flops, key=lambda k: -flops[k]) if inclusive.get(k)]
    light = total - sum(inclusive[k] for k in heavy)
    rows = [f"| {k} | {inclusive[k]:.1f} | {flops[k] / 1e9:.2f} | {100 * flops[k] / (inclusive[k] / 1000) / peak:.0f}% |"
            for k in heavy]
    return [f"Where the time goes (today's code, separate passes; torch.profiler over {parts['updates']} updates, "
            f"its own overhead included: {total:.0f} ms of aten operations per update; an operation with FLOPs "
            f"counted with what it calls; sgemm timed just before and after: {peak / 1e9:.0f} GFLOP/s):", "",
            "| operation | ms per update | GFLOP per update | share of sgemm peak |", "|---|---|---|---|", *rows,
            f"| every other operation | {light:.1f} | – | – |", ""]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", type=Path, help="a checkout of older code to time beside today's (separate D passes)")
    p.add_argument("--data", default="fashion_mnist")
    p.add_argument("--updates", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for update_speed.{json,md}")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from compute_floor import sgemm_flops_per_s

    today = HERE.parent
    runs = {f"before ({args.before.name})": (args.before, [])} if args.before else {}
    runs.update({name: (today, extra) for name, extra in VARIANTS.items()})
    load_before = machine_load()
    ms: dict[str, list[float]] = {name: [] for name in runs}
    peaks = []
    names = list(runs)
    for r in range(args.rounds):
        peaks.append(sgemm_flops_per_s())
        # Each round starts with another variant: this machine's speed drifts within a run (the sgemm too).
        for name in names[r % len(names):] + names[:r % len(names)]:
            ms[name].append(time_variant(*runs[name], args.data, args.updates, args.warmup, args.threads))
    peak = statistics.median(peaks)
    # The machine's speed drifts: the breakdown's shares are against an sgemm timed around it.
    around = [sgemm_flops_per_s()]
    parts = breakdown(args.data)
    around.append(sgemm_flops_per_s())
    parts["sgemm_flops_per_s"] = statistics.mean(around)
    flops = float(sum(parts["flops"].values()))  # one update's, as FlopCounterMode counted it there
    env = environment(" ".join(["python benchmarks/update_speed.py", *(argv if argv is not None else sys.argv[1:])]))
    env["load"] = load_report(load_before, machine_load())
    median = {name: statistics.median(v) for name, v in ms.items()}
    base = median[next(iter(runs))]
    rows = {name: {"ms_per_update": v, "median": median[name], "ratio": median[name] / base,
                   # per round, against that round's sgemm
                   "share_of_peak": statistics.median(flops / (x / 1000) / pk for x, pk in zip(v, peaks))}
            for name, v in ms.items()}
    md = ["# The GAN update on this CPU (issue 46)", "",
          f"ms per generator update through ganaug's training step ({args.data}, conf/gan, {args.threads} threads), "
          f"{args.updates} timed after {args.warmup}, median per round, {args.rounds} interleaved rounds in rotating order; "
          f"{flops / 1e9:.2f} GFLOP per update; sgemm {peak / 1e9:.0f} GFLOP/s (median of the rounds' "
          f"{', '.join(f'{x / 1e9:.0f}' for x in peaks)}; each round's share against its own). "
          "Goal: ≥ 80% of the peak.", "",
          "| code | ms per update (rounds) | median | ratio | share of sgemm peak |", "|---|---|---|---|---|",
          *[f"| {name} | {', '.join(f'{x:.0f}' for x in r['ms_per_update'])} | **{r['median']:.0f}** | "
            f"{r['ratio']:.3f} | {100 * r['share_of_peak']:.0f}% |" for name, r in rows.items()], "",
          env["load"]["summary"], "", *breakdown_markdown(parts),
          "", environment_markdown(env)]
    args.out.mkdir(parents=True, exist_ok=True)
    write_report(args.out, "update_speed", {"rows": rows, "flops_per_update": flops, "sgemm_flops_per_s": peak,
                                            "breakdown": parts,
                                            "sgemm_rounds": peaks, "environment": env}, "\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())

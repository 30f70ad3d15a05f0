"""How to spend 2 cores on the benchmark's units: one process at 2 threads, or 2 processes at 1 thread?

`ganaug-bench threads=2` runs one unit at a time on both cores; `executor.workers=2 threads=1` runs
two units side by side, a core each. Which finishes more work per hour depends on how well a unit's
kernels use a second thread. This times the two layouts on the two kinds of unit that take the
benchmark's hours: a classifier run (the benchmark's SmallCNN, batch 64, 28 px) and GAN updates (the
default recipe's networks, profile_update.py's update). Each layout does the same two jobs; the
figure is jobs per second, as a ratio (2 x 1 thread over 1 x 2 threads; above 1: the pool wins).

    python benchmarks/studies/unit_throughput.py            # writes results/unit_throughput.{json,md}
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _env
from _env import RESULTS, environment, environment_markdown, load_report, machine_load, write_report  # noqa: E402


def _job(kind: str, size: int, threads: int, seed: int) -> float:
    """Seconds for one job of `kind` at `threads` torch threads (imports and set-up not counted)."""
    import torch

    warnings.filterwarnings("ignore")
    torch.set_num_threads(threads)
    if kind == "classifier":
        from torch.utils.data import DataLoader, TensorDataset

        from ganaug.classify.classifier import train_classifier_on_loader

        g = torch.Generator().manual_seed(seed)
        data = TensorDataset(torch.rand(2000, 1, 28, 28, generator=g) * 2 - 1, torch.randint(0, 10, (2000,), generator=g))
        loader = DataLoader(data, batch_size=64, shuffle=True, generator=g)
        train_classifier_on_loader(loader, 10, 1, 28, steps=5, seed=seed, width=32)  # warm-up
        t = time.perf_counter()
        train_classifier_on_loader(loader, 10, 1, 28, steps=size, seed=seed, width=32)
        return time.perf_counter() - t
    from profile_update import CANDIDATES, make_batches, run

    batches = make_batches(size + 3, 64, seed=seed)  # loading Fashion-MNIST is not a GAN update
    per_update = run(CANDIDATES["channels_last + foreach/fused (new default)"], batches, warmup=3, seed=seed)
    return sum(per_update.values()) * size


def layout(kind: str, size: int, workers: int) -> float:
    """Wall seconds for two jobs: in one process at 2 threads one after the other, or 2 processes at 1."""
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(workers)
    try:
        pool.map(_warm_import, range(workers))  # each worker pays its imports before the jobs
        # Each job times its own work; the layout's wall time is the longest of the parallel jobs
        # (2 workers) or their sum (one worker doing both in turn).
        seconds = pool.starmap(_job, [(kind, size, 2 // workers, s) for s in (0, 1)])
    finally:
        pool.close()
        pool.join()
    return max(seconds) if workers == 2 else sum(seconds)


def _warm_import(_: int) -> None:
    import torch  # noqa: F401

    import ganaug.classify.classifier  # noqa: F401


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classifier-steps", type=int, default=300)
    p.add_argument("--gan-updates", type=int, default=20)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    sizes = {"classifier": args.classifier_steps, "gan": args.gan_updates}
    before = machine_load()
    walls = {(k, w): [] for k in sizes for w in (1, 2)}
    for r in range(args.rounds):
        for kind, size in sizes.items():
            for workers in (1, 2):  # interleaved, so a drift in load hits both layouts
                walls[kind, workers].append(layout(kind, size, workers))
                print(f"round {r} {kind:10s} {workers} x {2 // workers} threads: {walls[kind, workers][-1]:.1f} s",
                      flush=True)
    load = load_report(before, machine_load())
    med = {f"{k}/{w}x{2 // w}": statistics.median(v) for (k, w), v in walls.items()}
    ratio = {k: med[f"{k}/1x2"] / med[f"{k}/2x1"] for k in sizes}
    env = environment()
    result = {"benchmark": "unit_throughput", **env, "load": load, "sizes": sizes, "rounds": args.rounds,
              "median_wall_s": med, "throughput_ratio_2x1_over_1x2": ratio}
    unit = {"classifier": f"{args.classifier_steps} classifier steps", "gan": f"{args.gan_updates} GAN updates"}
    rows = "".join(f"| {kind} ({unit[kind]} per job) | {med[f'{kind}/1x2']:.1f} | {med[f'{kind}/2x1']:.1f} | "
                   f"**{ratio[kind]:.2f}×** |\n" for kind in sizes)
    md = ("# Two cores: one unit at 2 threads, or two units at 1 thread each?\n\n"
          f"Two jobs of each kind, wall seconds (median of {args.rounds} interleaved rounds); throughput of the pool "
          "(`executor.workers=2 threads=1`) over one process (`threads=2`): above 1, the pool does more per hour.\n\n"
          "| unit | 1 process x 2 threads (s) | 2 processes x 1 thread (s) | throughput ratio |\n|---|---|---|---|\n"
          + rows + "\n" + load["summary"] + "\n\n" + environment_markdown(env))
    print(md)
    if not args.no_write:
        write_report(RESULTS, "unit_throughput", result, md)


if __name__ == "__main__":
    main()

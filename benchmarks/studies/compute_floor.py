"""How fast the main job could be on this machine: FLOPs per generator update against the CPU's peak.

Counts the floating-point operations of one update of conf/gan/default.yaml's networks (the one
profile_update.py times part by part: D step on real and fake, G step, batch 64, 28 px, DiffAugment)
with torch's FlopCounterMode, per network; measures the machine's float32 matrix-multiply
throughput (a 2048² sgemm, the best case for these cores) and the update's own speed. The main
job's floor is its FLOPs at sgemm speed: no kernel, fusion or compiler makes the same networks
faster than that, so a goal below it needs fewer FLOPs (narrower or fewer layers, fewer updates).

    python benchmarks/studies/compute_floor.py            # writes results/compute_floor.{json,md}
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _env
from _env import RESULTS, environment, environment_markdown, load_report, machine_load, write_report  # noqa: E402
from profile_update import CANDIDATES, make_batches, run  # noqa: E402
from train_speed import GAN_KW, MAIN_JOB_UPDATES  # noqa: E402

DEFAULT = "channels_last + foreach/fused (new default)"


def update_flops(batches) -> dict[str, float]:
    """FLOPs of the update profile_update.py times (its first batch), by network."""
    with FlopCounterMode(display=False) as fc:
        run(CANDIDATES[DEFAULT], batches[:1], warmup=0, seed=0)
    by_module = fc.get_flop_counts()

    def of(cls: str) -> float:
        return float(sum(by_module.get(cls, {}).values()))

    return {"total": float(fc.get_total_flops()), "generator": of("Generator"), "discriminator": of("Discriminator")}


def sgemm_flops_per_s(n: int = 2048, reps: int = 10, rounds: int = 3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    before = machine_load()
    batches = make_batches(args.warmup + args.steps, 64, seed=0)
    flops = update_flops(batches)
    peak = sgemm_flops_per_s()
    s = statistics.median(sum(run(CANDIDATES[DEFAULT], batches, args.warmup, seed=r).values())
                          for r in range(args.rounds))
    load = load_report(before, machine_load())
    achieved = flops["total"] / s
    floor_min = MAIN_JOB_UPDATES * flops["total"] / peak / 60
    now_min = MAIN_JOB_UPDATES * s / 60
    goal_flops = 600 * achieved / MAIN_JOB_UPDATES  # per update, to finish in 10 min at today's efficiency
    env = environment()
    result = {"benchmark": "compute_floor", **env, "load": load, "threads": args.threads,
              "flops_per_update": flops, "sgemm_flops_per_s": peak, "seconds_per_update": s,
              "achieved_flops_per_s": achieved, "efficiency": achieved / peak,
              "main_job_updates": MAIN_JOB_UPDATES, "main_job_minutes_now": now_min,
              "main_job_minutes_floor": floor_min, "flops_per_update_for_10_min": goal_flops}
    gf = {k: v / 1e9 for k, v in flops.items()}
    md = (
        "# The main job's compute floor on this machine\n\n"
        f"One generator update of conf/gan/default.yaml's networks (G width {GAN_KW['g_width']}, D width "
        f"{GAN_KW['d_width']}, batch 64, 28 px, the D step on real and fake plus the G step) counted by "
        "`torch.utils.flop_counter.FlopCounterMode`; the machine's float32 peak taken as its best 2048² "
        f"matrix multiply; the update timed as in profile_update.py ('{DEFAULT}', {args.steps} updates after "
        f"{args.warmup}, median of {args.rounds}), {args.threads} threads.\n\n"
        "| measure | value |\n|---|---|\n"
        f"| GFLOP per generator update | {gf['total']:.1f} (discriminator {gf['discriminator']:.1f}, "
        f"generator {gf['generator']:.1f}) |\n"
        f"| sgemm throughput (peak for these cores) | {peak / 1e9:.0f} GFLOP/s |\n"
        f"| the update as run | {s * 1000:.0f} ms = {achieved / 1e9:.0f} GFLOP/s, **{achieved / peak:.0%} of peak** |\n"
        f"| main job ({MAIN_JOB_UPDATES:,} updates) as run | {now_min:.0f} min |\n"
        f"| main job at peak (the floor for these networks) | **{floor_min:.0f} min** |\n"
        f"| GFLOP per update for 10 min at today's efficiency | {goal_flops / 1e9:.1f} "
        f"({flops['total'] / goal_flops:.1f}× fewer than today) |\n\n"
        "No faster kernel, fusion or compiler brings these networks below the floor; a 10-minute main job "
        "on this CPU needs networks or a schedule of fewer FLOPs, each checked by the quality guard "
        "(CAS, FID at n100).\n\n" + load["summary"] + "\n\n" + environment_markdown(env))
    print(md)
    if not args.no_write:
        write_report(RESULTS, "compute_floor", result, md)


if __name__ == "__main__":
    main()

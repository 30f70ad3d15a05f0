"""Where one generator update's time goes, and what each speed candidate does to it.

The update is ConditionalGAN.training_step written out in plain PyTorch with a timer between its
parts (CPU ops are synchronous, so a wall-clock split is exact there), on the networks of
conf/gan/default.yaml and a Fashion-MNIST batch of 64. Spectral norm's power iteration and the
conditional batch norm run inside the forward passes; they are timed on their own below the table.
Candidates are interleaved (every candidate once per round, several rounds, medians), so a drift
of the machine hits all alike; the machine's load is recorded before and after.

    python benchmarks/studies/profile_update.py                 # writes results/profile_update.{json,md}
    python benchmarks/studies/profile_update.py --steps 20 --rounds 1 --no-write
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _env
from _env import RESULTS, environment, environment_markdown, load_report, machine_load, write_report  # noqa: E402
from train_speed import GAN_KW, MAIN_JOB_UPDATES  # noqa: E402

from ganaug.data import load_fashion_mnist  # noqa: E402
from ganaug.data.subsets import labelled_subset  # noqa: E402
from ganaug.gan.diffaug import DiffAugment  # noqa: E402
from ganaug.gan.nets import ConditionalBatchNorm2d, Discriminator, Generator  # noqa: E402

PARTS = ("data", "G forward (no grad)", "DiffAugment", "D forward real+fake", "D backward", "D Adam step",
         "G forward", "D forward on fakes", "G backward", "G Adam step", "EMA update")

# name -> (autocast bf16, channels_last, one D pass for real and fake, foreach EMA, fused Adam, D arch)
CANDIDATES = {
    "fp32 (today)": dict(),
    "channels_last": dict(channels_last=True),
    "bf16 autocast": dict(bf16=True),
    "bf16 + channels_last": dict(bf16=True, channels_last=True),
    "one D pass (real+fake)": dict(one_pass=True),
    "foreach EMA + fused Adam": dict(foreach=True),
    "one D pass + foreach/fused": dict(one_pass=True, foreach=True),
    "channels_last + foreach/fused (new default)": dict(channels_last=True, foreach=True),
    # Inductor's C++ backend (gcc): its compile time is in the warm-up, reported beside the table. One D
    # pass: a compiled D called twice before backward trips on its own spectral-norm buffer updates.
    "torch.compile": dict(channels_last=True, foreach=True, one_pass=True, compile=True),
}


class Timer:
    def __init__(self):
        self.t = dict.fromkeys(PARTS, 0.0)
        self.last = time.perf_counter()

    def mark(self, part: str) -> None:
        now = time.perf_counter()
        self.t[part] += now - self.last
        self.last = now


def make_batches(n_batches: int, batch: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    ds = labelled_subset(load_fashion_mnist("train"), 1000, seed=0)  # the main job's 1,000 per class
    x = torch.from_numpy(ds.images).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    y = torch.from_numpy(ds.labels).long()
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    return [(x[perm[i * batch:(i + 1) * batch]], y[perm[i * batch:(i + 1) * batch]]) for i in range(n_batches)]


def run(candidate: dict, batches, warmup: int, seed: int) -> dict:
    """Seconds per update for each part, over the batches after `warmup`."""
    torch.manual_seed(seed)
    k, c, h = 10, 1, 28
    g = Generator(k, h, c, z_dim=GAN_KW["z_dim"], width=GAN_KW["g_width"], embed_dim=GAN_KW["embed_dim"])
    d = Discriminator(k, h, c, width=GAN_KW["d_width"])
    fmt = torch.channels_last if candidate.get("channels_last") else torch.contiguous_format
    g, d = g.to(memory_format=fmt), d.to(memory_format=fmt)
    ema = copy.deepcopy(g).requires_grad_(False).eval()
    if candidate.get("compile"):
        # A cold compile, as a user's first run has it: no in-process graphs, an empty on-disk cache.
        torch._dynamo.reset()
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")
        g, d = torch.compile(g), torch.compile(d)
    aug = DiffAugment(GAN_KW["diffaug"], c)
    adam = dict(lr=GAN_KW["lr_g"], betas=GAN_KW["betas"])
    if candidate.get("foreach"):
        adam["fused"] = True
    opt_g, opt_d = torch.optim.Adam(g.parameters(), **adam), torch.optim.Adam(d.parameters(), **adam)
    ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if candidate.get("bf16") else nullcontext
    z_dim = GAN_KW["z_dim"]
    timer, steps, start = None, 0, time.perf_counter()
    for i, (x, y) in enumerate(batches):
        if i == warmup:
            timer, steps = Timer(), 0
            warmup_s = time.perf_counter() - start
        t = timer or Timer()
        t.last = time.perf_counter()
        x = x.contiguous(memory_format=fmt)
        t.mark("data")
        with ctx():
            with torch.no_grad():
                fake = g(torch.randn(len(x), z_dim), y)
            t.mark("G forward (no grad)")
            xa, fa = aug(x), aug(fake)
            t.mark("DiffAugment")
            if candidate.get("one_pass"):
                out = d(torch.cat([xa, fa]), torch.cat([y, y]))
                d_real, d_fake = out[:len(x)], out[len(x):]
            else:
                d_real, d_fake = d(xa, y), d(fa, y)
            loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        t.mark("D forward real+fake")
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        t.mark("D backward")
        opt_d.step()
        t.mark("D Adam step")
        d.requires_grad_(False)
        with ctx():
            fake = g(torch.randn(len(x), z_dim), y)
            t.mark("G forward")
            loss_g = -d(aug(fake), y).mean()
        t.mark("D forward on fakes")
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        t.mark("G backward")
        opt_g.step()
        t.mark("G Adam step")
        d.requires_grad_(True)
        with torch.no_grad():
            ep, gp = list(ema.parameters()), list(g.parameters())
            if candidate.get("foreach"):
                torch._foreach_lerp_(ep, gp, 1 - GAN_KW["ema_decay"])
            else:
                for pe, p in zip(ep, gp):
                    pe.lerp_(p, 1 - GAN_KW["ema_decay"])
            for be, b in zip(ema.buffers(), g.buffers()):
                be.copy_(b)
        _ = (loss_d.item(), loss_g.item())  # what the logger reads each step
        t.mark("EMA update")
        steps += timer is not None
    return {**{part: v / steps for part, v in timer.t.items()}, "warm-up (s)": warmup_s}


def inner_costs(reps: int = 200) -> dict:
    """Spectral norm's power iteration and conditional batch norm, each on its own (ms per call)."""
    d = Discriminator(10, 28, 1, width=GAN_KW["d_width"]).train()
    # Spectral norm is a parametrization (gan/spectral.py): reading a layer's weight runs it.
    sn = [m for m in d.modules() if torch.nn.utils.parametrize.is_parametrized(m, "weight")]
    t0 = time.perf_counter()
    for _ in range(reps):
        for m in sn:
            m.weight  # noqa: B018 - the read is the work
    sn_ms = (time.perf_counter() - t0) / reps * 1000
    cbn = ConditionalBatchNorm2d(GAN_KW["g_width"] * 8, 10)
    x, y = torch.randn(64, GAN_KW["g_width"] * 8, 7, 7), torch.randint(0, 10, (64,))
    t0 = time.perf_counter()
    for _ in range(reps):
        cbn(x, y)
    cbn_ms = (time.perf_counter() - t0) / reps * 1000
    return {"spectral_norm_power_iteration_all_layers_ms": sn_ms, "sn_layers": len(sn),
            "conditional_batchnorm_first_block_ms": cbn_ms}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", nargs="*", help="candidate names to run (default: all)")
    p.add_argument("--out", default="profile_update", help="results/<out>.{json,md}")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    names = args.only or list(CANDIDATES)
    batches = make_batches(args.warmup + args.steps, 64, seed=0)
    load_before = machine_load()
    runs = {n: [] for n in names}
    for r in range(args.rounds):
        for n in names:
            parts = run(CANDIDATES[n], batches, args.warmup, seed=r)
            runs[n].append(parts)
            print(f"round {r} {n:28s} {sum(parts[k] for k in PARTS) * 1000:7.1f} ms/update", flush=True)
    load = load_report(load_before, machine_load())
    med = {n: {part: statistics.median(rr[part] for rr in runs[n]) for part in PARTS} for n in names}
    total = {n: sum(v.values()) for n, v in med.items()}
    warm = {n: statistics.median(rr["warm-up (s)"] for rr in runs[n]) for n in names}
    # What the main job would take, warm-up (a compile) included: whether a compile pays for itself.
    job = {n: (warm[n] + (MAIN_JOB_UPDATES - args.warmup) * total[n]) / 60 for n in names}
    base = total[names[0]]  # ratios to the first candidate named
    inner = inner_costs()
    env = environment()
    result = {"benchmark": "profile_update", **env, "load": load, "threads": args.threads,
              "config": {**GAN_KW, "betas": list(GAN_KW["betas"]), "batch_size": 64, "image_size": 28,
                         "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds},
              "candidates": {n: CANDIDATES[n] for n in names}, "median_seconds_per_part": med,
              "median_seconds_per_update": total, "median_warmup_seconds": warm, "main_job_minutes": job,
              "inner": inner, "runs": runs}
    head = "| part | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n"
    rows = "".join(f"| {part} | " + " | ".join(f"{med[n][part] * 1000:.1f}" for n in names) + " |\n" for part in PARTS)
    rows += "| **total ms / update** | " + " | ".join(f"**{total[n] * 1000:.1f}**" for n in names) + " |\n"
    rows += f"| ratio to {names[0]} | " + " | ".join(f"{total[n] / base:.3f}" for n in names) + " |\n"
    rows += f"| warm-up: first {args.warmup} updates (s) | " + " | ".join(f"{warm[n]:.1f}" for n in names) + " |\n"
    rows += (f"| main job ({MAIN_JOB_UPDATES:,} updates, warm-up included), min | "
             + " | ".join(f"{job[n]:.1f}" for n in names) + " |\n")
    md = ("# One generator update, part by part\n\n"
          f"conf/gan/default.yaml's networks (G width {GAN_KW['g_width']}, D width {GAN_KW['d_width']}), DiffAugment "
          f"{GAN_KW['diffaug']}, hinge loss, batch 64, Fashion-MNIST 28 px, {args.threads} threads; "
          f"{args.steps} timed updates after {args.warmup} warm-up, {args.rounds} interleaved rounds, medians, ms. "
          "Spectral norm's power iteration and the conditional batch norm run inside the forward passes; "
          f"alone they cost {inner['spectral_norm_power_iteration_all_layers_ms']:.2f} ms for all "
          f"{inner['sn_layers']} spectral-norm layers per D forward, and "
          f"{inner['conditional_batchnorm_first_block_ms']:.2f} ms for the largest conditional batch norm.\n\n"
          + head + rows + "\n" + load["summary"] + "\n\n" + environment_markdown(env))
    print(md)
    if not args.no_write:
        write_report(RESULTS, args.out, result, md)


if __name__ == "__main__":
    main()

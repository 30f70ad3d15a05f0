"""How much SyntheticMix and SyntheticBank cost, from one run (a speed benchmark, not a test).

(a) A DataLoader epoch over SyntheticMix (bank mode, ratio 0.5) against one over a real dataset
    of the same length and item type (goal: <= 1.05x the time).
(b) Bank generation throughput against the bare generator's batched forward (goal: >= 0.9x).
(c) On-the-fly mode's epoch time against bank mode's.

Fashion-MNIST-shaped data (28x28x1, random pixels) and a generator of the default shape with
random weights: speed does not depend on what the weights have learned. Timed runs of the two
sides of each comparison alternate, so drift in the machine's load hits both alike.

    python benchmarks/studies/mix_speed.py                      # writes benchmarks/results/mix_speed.{json,md}
    python benchmarks/studies/mix_speed.py --n-real 20000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import albumentations as A
import numpy as np
import torch
from albumentations.pytorch import ToTensorV2
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _env
from _env import RESULTS, environment, environment_markdown, load_report, machine_load, write_report  # noqa: E402

from ganaug import Generator, SyntheticBank, SyntheticMix  # noqa: E402
from ganaug.data import ImageArrayDataset  # noqa: E402
from ganaug.gan.sampling import TrainedGenerator  # noqa: E402

NAMES = [str(k) for k in range(10)]


def _epoch_seconds(loader: DataLoader) -> float:
    t = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - t


def _loader(ds, args, workers: int) -> DataLoader:
    return DataLoader(
        ds, batch_size=args.batch_size, shuffle=True, num_workers=workers,
        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0),
    )


def _paired(a_fn, b_fn, repeats: int) -> tuple[list[float], list[float]]:
    """Alternate a, b, a, b... after one untimed warm-up of each (worker start-up, caches)."""
    a_fn(), b_fn()
    a, b = [], []
    for _ in range(repeats):
        a.append(a_fn())
        b.append(b_fn())
    return a, b


def _ratios(a: list[float], b: list[float]) -> dict:
    r = [x / y for x, y in zip(a, b)]
    return {"a_s": a, "b_s": b, "ratio": median(r), "ratio_min": min(r), "ratio_max": max(r)}


def _epochs(mix_like, real_like, args, workers: int, repeats: int) -> dict:
    la, lb = _loader(mix_like, args, workers), _loader(real_like, args, workers)

    def run_a():
        if hasattr(mix_like, "set_epoch"):
            mix_like.set_epoch(mix_like.epoch + 1)
        return _epoch_seconds(la)

    return _ratios(*_paired(run_a, lambda: _epoch_seconds(lb), repeats))


def bench_generation(gen: TrainedGenerator, n: int, batch: int, repeats: int, tmp: Path) -> dict:
    labels = torch.arange(batch) % gen.num_classes
    banks: list[int] = []

    def bare() -> float:
        t = time.perf_counter()
        with torch.no_grad():
            for start in range(0, n, batch):
                m = min(batch, n - start)
                gen.net(torch.randn(m, gen.z_dim), labels[:m])
        return time.perf_counter() - t

    def bank() -> float:
        t = time.perf_counter()
        SyntheticBank.generate(gen, n, tmp / f"bank{len(banks)}", batch_size=batch, progress=False)
        banks.append(n)
        return time.perf_counter() - t

    bare_s, bank_s = _paired(bare, bank, repeats)
    r = _ratios(bare_s, bank_s)  # bare time / bank time = bank throughput / bare throughput
    return {
        "n": n, "batch_size": batch, "bare_s": bare_s, "bank_s": bank_s,
        "bare_img_per_s": n / median(bare_s), "bank_img_per_s": n / median(bank_s),
        "throughput_ratio": r["ratio"], "ratio_min": r["ratio_min"], "ratio_max": r["ratio_max"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-real", type=int, default=20000, help="real items for (a); the bank holds as many")
    parser.add_argument("--n-gen", type=int, default=2000, help="images generated per timed run in (b)")
    parser.add_argument("--n-fly", type=int, default=2000, help="real items for (c), on the fly is slow on CPU")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--gen-batch", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each side in (a) and (b); (c) uses 3")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    load_before = os.getloadavg()
    reading_before = machine_load()
    torch.manual_seed(0)
    gen = TrainedGenerator(Generator(10, 28, 1, z_dim=128, width=16), NAMES)
    rng = np.random.default_rng(0)
    transform = A.Compose([A.Normalize(mean=0.5, std=0.5), ToTensorV2()])
    results: dict = {}

    with tempfile.TemporaryDirectory() as tmpdir:
        print(f"(b) generating {args.n_gen} images, bank vs bare forward ...", flush=True)
        results["b_generation"] = bench_generation(gen, args.n_gen, args.gen_batch, args.repeats, Path(tmpdir))
        print(json.dumps(results["b_generation"], indent=1), flush=True)

        # Reading speed does not depend on what the images show: a narrow generator of the same
        # image shape fills (a)'s bank in a fraction of the time.
        narrow = TrainedGenerator(Generator(10, 28, 1, z_dim=16, width=4), NAMES)
        bank = SyntheticBank.generate(narrow, args.n_real, Path(tmpdir) / "bank_a", batch_size=args.gen_batch, progress=False)

        images = rng.integers(0, 256, (2 * args.n_real, 28, 28, 1), dtype=np.uint8)
        labels = np.arange(2 * args.n_real) % 10
        half = ImageArrayDataset(images[: args.n_real], labels[: args.n_real], NAMES)
        full = ImageArrayDataset(images, labels, NAMES, transform=transform)
        mix = SyntheticMix(half, bank, 0.5, transform=transform, class_policy="uniform")
        assert len(mix) == len(full)
        results["a_epoch"] = {}
        for w in args.workers:
            print(f"(a) epochs, {w} workers ...", flush=True)
            results["a_epoch"][f"workers={w}"] = r = _epochs(mix, full, args, w, args.repeats)
            print(f"    mix / real = {r['ratio']:.3f}", flush=True)

        n_fly = min(args.n_fly, args.n_real)
        small = ImageArrayDataset(images[:n_fly], labels[:n_fly], NAMES)
        fly = SyntheticMix(small, gen, 0.5, transform=transform, class_policy="uniform")
        banked = SyntheticMix(small, bank, 0.5, transform=transform, class_policy="uniform")
        results["c_on_the_fly"] = {"n_real": n_fly, "n_syn": fly.n_syn}
        for w in args.workers:
            print(f"(c) on the fly vs bank, {w} workers ...", flush=True)
            r = _epochs(fly, banked, args, w, 3)
            r["fly_ms_per_synthetic_item"] = 1e3 * (median(r["a_s"]) - median(r["b_s"])) / fly.n_syn
            results["c_on_the_fly"][f"workers={w}"] = r
            print(f"    on the fly / bank = {r['ratio']:.2f}", flush=True)

    meta = {
        **environment(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "load": load_report(reading_before, machine_load()),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    report = {"meta": meta, "results": results}
    write_report(args.out, "mix_speed", report, _markdown(report))
    print(_markdown(report))


def _markdown(report: dict) -> str:
    m, r = report["meta"], report["results"]
    b = r["b_generation"]
    met = lambda ok: "met" if ok else "not met"  # noqa: E731
    lines = [
        "# SyntheticMix / SyntheticBank speed",
        "",
        "| measure | goal | result |",
        "|---|---|---|",
    ]
    for w, a in r["a_epoch"].items():
        lines.append(
            f"| (a) epoch time, SyntheticMix (bank, ratio 0.5) / real dataset of the same length, {w} "
            f"| ≤ 1.05× ({met(a['ratio'] <= 1.05)}) | {a['ratio']:.3f}× [{a['ratio_min']:.2f}–{a['ratio_max']:.2f}] "
            f"({median(a['a_s']):.2f} s vs {median(a['b_s']):.2f} s) |"
        )
    lines.append(
        f"| (b) bank generation throughput / bare batched forward ({b['n']} images, batch {b['batch_size']}) "
        f"| ≥ 0.9× ({met(b['throughput_ratio'] >= 0.9)}) | {b['throughput_ratio']:.3f}× "
        f"[{b['ratio_min']:.2f}–{b['ratio_max']:.2f}] ({b['bank_img_per_s']:.0f} vs {b['bare_img_per_s']:.0f} img/s) |"
    )
    c = r["c_on_the_fly"]
    for w, x in c.items():
        if not w.startswith("workers"):
            continue
        lines.append(
            f"| (c) epoch time, on the fly / bank ({c['n_real']} real + {c['n_syn']} synthetic), {w} "
            f"| (cost) | {x['ratio']:.2f}× ({median(x['a_s']):.2f} s vs {median(x['b_s']):.2f} s; "
            f"{x['fly_ms_per_synthetic_item']:.2f} ms per generated item) |"
        )
    lines += [
        "",
        "Items: 28×28×1 uint8 through `A.Compose([Normalize, ToTensorV2])`, batch "
        f"{m['settings']['batch_size']}, shuffled, persistent workers. Ratios are medians over "
        f"{m['settings']['repeats']} alternating timed pairs after one warm-up each (3 for (c)), "
        "[min–max] over the pairs. Generator: `Generator(10, 28, 1, z_dim=128, width=16)`, random "
        "weights, CPU; (a)'s bank is filled by a narrower generator of the same image shape (reading "
        "speed does not depend on the pixels). Each run of (b) writes a bank to disk.",
    ]
    lines += ["", environment_markdown(m).rstrip(), f"- load average: {m['load_average_before'][0]} before, "
              f"{m['load_average_after'][0]} after"]
    if "load" in m:
        lines += ["", m["load"]["summary"]]
    # Other processes' CPU share says whether the machine was busy; the load average lags a minute
    # behind (a job paused for this run still shows in it), so it decides only for old results.
    busy = not m["load"]["idle"] if "load" in m else m["load_average_before"][0] > 0.5 * (m["cores"] or 1)
    if busy:
        lines += [
            "",
            "The machine was busy with other work during this run (see the load average): absolute "
            "times are inflated and ratios noisier than on an idle machine; rerun there for clean figures.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""What Lightning Fabric costs the classifier runs, from one run (a speed benchmark, not a test).

Every classifier run of ganaug-tune and ganaug-bench goes through `train_classifier_on_loader`,
which runs under Fabric (device and precision from `ClassifierSettings`). This times it against
the plain PyTorch loop it replaced (the same model, AdamW, cosine schedule, loss and batches, with
`.to(device)` and `loss.backward()` by hand). Goal: Fabric <= 1.10x the plain loop's time per step,
as for the GAN's Lightning loop (train_speed.py). The benchmark's recipe: SmallCNN width 32,
batch 64, 28x28x1 Fashion-MNIST-shaped random pixels (speed does not depend on what they show).
Timed runs of the two loops alternate, so drift in the machine's load hits both alike.

    python benchmarks/studies/classifier_speed.py               # writes benchmarks/results/classifier_speed.{json,md}
    python benchmarks/studies/classifier_speed.py --steps 300 --repeats 5 --device cuda
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from statistics import median

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _env
from _env import RESULTS, environment, environment_markdown, load_report, machine_load, write_report  # noqa: E402

from ganaug.classify.classifier import SmallCNN, _cycle, train_classifier_on_loader  # noqa: E402
from ganaug.classify.loss import SyntheticAwareLoss  # noqa: E402

GOAL = 1.10


def plain_loop(loader, steps: int, device: torch.device, seed: int = 0) -> SmallCNN:
    """The loop before Fabric, reduced to what a real-only run does."""
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = SmallCNN(10, 1, 28, width=32).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        criterion = SyntheticAwareLoss().to(device)
        model.train()
        batches = _cycle(loader)
        for _ in range(steps):
            x, y = next(batches)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = criterion(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def fabric_loop(loader, steps: int, device: torch.device, seed: int = 0) -> SmallCNN:
    return train_classifier_on_loader(loader, 10, 1, 28, steps=steps, seed=seed, width=32, device=device)


def _seconds(fn, *args) -> float:
    if args[2].type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn(*args)
    if args[2].type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each loop, alternating")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    device = torch.device(args.device)

    reading = machine_load()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4096, 1, 28, 28, generator=g) * 2 - 1
    y = torch.randint(0, 10, (4096,), generator=g)

    def loader() -> DataLoader:  # a fresh shuffling generator per run: both loops see the same batches
        return DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, drop_last=True,
                          generator=torch.Generator().manual_seed(0))

    # Same weights from both loops: they are the same computation.
    a, b = plain_loop(loader(), 20, device), fabric_loop(loader(), 20, device)
    same = all(torch.allclose(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    plain_s, fabric_s = [], []
    for i in range(args.repeats):
        print(f"repeat {i + 1}/{args.repeats} ...", flush=True)
        plain_s.append(_seconds(plain_loop, loader(), args.steps, device))
        fabric_s.append(_seconds(fabric_loop, loader(), args.steps, device))
    plain_ms, fabric_ms = 1e3 * median(plain_s) / args.steps, 1e3 * median(fabric_s) / args.steps
    results = {"plain_ms_per_step": plain_ms, "fabric_ms_per_step": fabric_ms, "ratio": fabric_ms / plain_ms,
               "goal": GOAL, "met": fabric_ms / plain_ms <= GOAL, "same_weights_after_20_steps": same,
               "plain_s": plain_s, "fabric_s": fabric_s,
               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    report = {"meta": {**environment(), "load": load_report(reading, machine_load()),
                       "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}},
              "results": results}
    suffix = "" if device.type == "cpu" else f"_{device.type}"
    write_report(args.out, f"classifier_speed{suffix}", report, _markdown(report))
    print(_markdown(report))


def _markdown(report: dict) -> str:
    m, r = report["meta"], report["results"]
    return "\n".join([
        "# Classifier loop: Lightning Fabric against the plain PyTorch loop", "",
        f"`{m['command']}` — SmallCNN width 32, batch 64, 28x28x1, {m['settings']['steps']} steps per run, "
        f"median of {m['settings']['repeats']} alternating runs each, on {r['device_name']}.", "",
        "| loop | ms per step |", "|---|---|",
        f"| plain PyTorch | {r['plain_ms_per_step']:.2f} |",
        f"| Fabric (`train_classifier_on_loader`) | {r['fabric_ms_per_step']:.2f} |", "",
        f"Fabric / plain = **{r['ratio']:.3f}×** (goal ≤ {r['goal']:.2f}×: {'met' if r['met'] else 'not met'}). "
        f"Same weights after 20 steps from both loops: {'yes' if r['same_weights_after_20_steps'] else 'no'}.", "",
        m["load"]["summary"], "",
        environment_markdown(m), "",
    ])


if __name__ == "__main__":
    main()

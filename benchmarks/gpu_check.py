"""The prepared GPU check (issue 46): run it at once when a session is lent a GPU; it fits in 8 minutes of one.

1. The update: milliseconds per generator update of the main job's recipe (Fashion-MNIST 28×28, conf/gan),
   timed with CUDA events over ``--updates`` updates after ``--warmup``, through `gan.train.train` as a user
   runs it (Lightning's loop included); and the kernels one update launches (torch.profiler), against the
   operations the CPU dispatcher counts (benchmarks/count_ops.py) and the issue's goal (≤ 400).
2. The main job: ``ganaug-train trainer=gpu`` as the README runs it (6,000 updates), wall time, start-up
   included (``--main-job``); goal ≤ 60 s on one H100.
3. The joint D pass (``gan.d_pass=joint``: 708 operations per update against 1,144) timed the same way.
4. Stacked GANs (gan/stacked.py): ``--stacked`` GANs of the recipe updated as one, ms per stacked update
   and the benchmark's 10 GANs' training time it implies (goal ≤ 2 min on one H100).
5. Each step of the update as one graph (``gan.compile``, item 2): the joint pass compiled with ``--compile``
   (on a GPU inductor:reduce-overhead, CUDA graphs; on the CPU aot_eager, the code path only), compile time
   inside its wall time.

Writes ``gpu_check.json`` and ``gpu_check.md`` (machine, its load while timed, commit) to ``--out``. On the CPU
(``--device cpu``) the same code paths run at toy size: that is how CI tests the script, not its timings.

    python benchmarks/gpu_check.py --out $OUT --root synthetic --main-job   # on a lent GPU
    python benchmarks/gpu_check.py --out /tmp/g --device cpu --data digits --updates 5 --warmup 2

On a lent machine (it lacks hydra-core, omegaconf and antlr4; nothing can be fetched there): `bash
benchmarks/gpu_check.sh prepare` puts their wheels in the ignored `.gpu/` here, then `bash
benchmarks/gpu_check.sh command` prints the one command to give the device tool (carry `.gpu`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import environment, environment_markdown, load_report, machine_load, train_quietly, write_report  # noqa: E402

OPS_GOAL = 400
MAIN_JOB_GOAL_S = 60.0


class UpdateClock(pl.Callback):
    """Per training batch (one D and one G update at n_dis=1) after ``warmup``: its time in milliseconds, from
    CUDA events on a GPU (no host sync inside the loop) or the wall clock on the CPU."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.cuda = warmup, torch.cuda.is_available()
        self.events: list = []
        self.wall: list[float] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx >= self.warmup:
            if self.cuda:
                start = torch.cuda.Event(enable_timing=True)
                start.record()
                self.events.append([start, None])
            else:
                self.wall.append(time.perf_counter())

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if batch_idx >= self.warmup:
            if self.cuda:
                end = torch.cuda.Event(enable_timing=True)
                end.record()
                self.events[-1][1] = end
            else:
                self.wall[-1] = 1000 * (time.perf_counter() - self.wall[-1])

    def milliseconds(self) -> list[float]:
        if self.cuda:
            torch.cuda.synchronize()
            return [s.elapsed_time(e) for s, e in self.events if e is not None]
        return list(self.wall)


class KernelCount(pl.Callback):
    """Kernels (on a GPU) or aten operations (on the CPU) of ``n`` training batches after ``after``."""

    def __init__(self, after: int, n: int = 3) -> None:
        self.after, self.n, self.per_update, self._prof = after, n, [], None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if self.after <= batch_idx < self.after + self.n:
            from torch.profiler import ProfilerActivity, profile

            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
            self._prof = profile(activities=acts)
            self._prof.__enter__()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if self._prof is not None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self._prof.__exit__(None, None, None)
            events = self._prof.events()
            if torch.cuda.is_available():
                n = sum(1 for e in events if e.device_type == torch.autograd.DeviceType.CUDA)
            else:
                n = sum(1 for e in events if e.name.startswith("aten::") and not e.cpu_parent)
            self.per_update.append(n)
            self._prof = None


def synthetic_fashion_mnist(directory: Path, seed: int = 0) -> Path:
    """Fashion-MNIST's four IDX files at their official shapes, random pixels, balanced labels: a GAN update
    costs the same on any content, and the lent machine reaches no network (the real files would take half
    the 64 MiB a device call carries). Timings only: nothing about quality is measured on these."""
    import numpy as np

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 60000), ("t10k", 10000)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (directory / f"{split}-images-idx3-ubyte").write_bytes(
            bytes([0, 0, 8, 3]) + np.array([n, 28, 28], dtype=">u4").tobytes() + images.tobytes())
        (directory / f"{split}-labels-idx1-ubyte").write_bytes(
            bytes([0, 0, 8, 1]) + np.array([n], dtype=">u4").tobytes() + labels.tobytes())
    return directory


def time_updates(device: str, data: str, root: str | None, updates: int, warmup: int, extra=()) -> dict:
    clock, kernels = UpdateClock(warmup), KernelCount(after=max(1, warmup - 3) if warmup > 3 else 1)
    overrides = [f"data={data}", f"gan.max_steps={warmup + updates}", "gan.ema_start=0",
                 "trainer=gpu" if device == "cuda" else "trainer=cpu"]
    if root:
        overrides.append(f"data.dataset.root={root}")
    overrides += list(extra)
    wall = train_quietly(overrides, [clock, kernels])
    ms = sorted(clock.milliseconds())
    median = ms[len(ms) // 2] if ms else None
    return {"updates_timed": len(ms), "ms_per_update_median": median,
            "ms_per_update_mean": sum(ms) / len(ms) if ms else None, "kernels_per_update": kernels.per_update,
            "counted": "CUDA kernels" if device == "cuda" else "top-level aten operations", "wall_s": wall,
            "overrides": overrides}


SIZES = {"fashion_mnist": (28, 10), "digits": (8, 10)}  # image size, classes


def time_stacked(device: str, data: str, n: int, updates: int, warmup: int, batch: int = 64) -> dict:
    """``n`` GANs of conf/gan's recipe at the data's shapes updated as one (StackedGANs), each on its own
    random batches: ms per stacked update (CUDA events, or the wall clock on the CPU)."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from ganaug.gan.module import ConditionalGAN
    from ganaug.gan.stacked import StackedGANs

    with initialize_config_module("ganaug.conf", version_base="1.3"):
        settings = OmegaConf.to_container(compose("train").gan)
    settings.pop("_target_")
    size, classes = SIZES[data]
    gans = []
    for seed in range(n):
        torch.manual_seed(seed)
        gans.append(ConditionalGAN(classes, size, 1, **settings).to(device))
    stacked = StackedGANs(gans)
    gen = torch.Generator(device=device).manual_seed(0)
    batches = [(torch.rand(batch, 1, size, size, device=device, generator=gen) * 2 - 1,
                torch.randint(0, classes, (batch,), device=device, generator=gen)) for _ in range(n)]
    ms = []
    for step in range(warmup + updates):
        if step < warmup:
            stacked.step(batches)
            continue
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            stacked.step(batches)
            end.record()
            ms.append((start, end))
        else:
            t0 = time.perf_counter()
            stacked.step(batches)
            ms.append(1000 * (time.perf_counter() - t0))
    if device == "cuda":
        torch.cuda.synchronize()
        ms = [s.elapsed_time(e) for s, e in ms]
    ms.sort()
    median = ms[len(ms) // 2]
    # A stacked step is one D update (and a G update every n_dis of them); max_steps counts G updates.
    steps = settings["max_steps"] * settings["n_dis"]
    return {"gans": n, "updates_timed": len(ms), "ms_per_stacked_update_median": median,
            "ms_per_gan_update": median / n, "updates_per_gan": settings["max_steps"],
            "training_s_estimate": median * steps / 1000}


def main_job(root: str | None, timeout: int) -> dict:
    """`ganaug-train trainer=gpu`, the README's main job, timed from outside: start-up included."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "ganaug.cli.train", "trainer=gpu", f"out_dir={out}",
               "trainer.enable_progress_bar=false", *([f"data.dataset.root={root}"] if root else [])]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - t0
    return {"command": " ".join(["ganaug-train", *cmd[3:]]), "returncode": done.returncode, "wall_s": wall,
            "goal_s": MAIN_JOB_GOAL_S, "met": done.returncode == 0 and wall <= MAIN_JOB_GOAL_S,
            "stderr_tail": done.stderr[-1500:] if done.returncode else ""}


def markdown(result: dict) -> str:
    # One line each: a compiler's error spans many.
    failed = [f"- {k}: failed ({' '.join(v['error'].split())})" for k, v in result.items()
              if isinstance(v, dict) and "error" in v]
    result = {k: v for k, v in result.items() if not (isinstance(v, dict) and "error" in v)}
    if "update" not in result:
        return "\n".join(["# GPU check (issue 46)", "", *failed, "", environment_markdown(result["environment"])])
    u = result["update"]
    lines = ["# GPU check (issue 46)", "",
             f"Device: {result['device']}. The main job's update, {u['updates_timed']} timed after a warm-up, through "
             f"`gan.train.train` (Lightning's loop included): **{u['ms_per_update_median']:.2f} ms** median "
             f"({u['ms_per_update_mean']:.2f} mean) per generator update"
             + (" (random images of Fashion-MNIST's shapes: timings only)." if result.get("synthetic_data") else "."), "",
             f"{u['counted'].capitalize()} per update: {u['kernels_per_update']} (goal for dispatched operations: "
             f"≤ {OPS_GOAL}, benchmarks/results/count_ops.md).", ""]
    def variant(r: dict, label: str, after: str = ".") -> list[str]:
        return [f"{label}: **{r['ms_per_update_median']:.2f} ms** median per update; {r['counted']} per update: "
                f"{r['kernels_per_update']}{after}", ""]

    if result.get("update_joint"):
        lines += variant(result["update_joint"], "`gan.d_pass=joint` (one D pass, one power iteration per D step; "
                         "not the default before its quality guard)")
    if result.get("update_graphed"):
        c = result["update_graphed"]
        lines += variant(c, f"Joint pass compiled (`{c['overrides'][-1]}`), after warm-up",
                         f"; {c['wall_s']:.0f} s wall with compilation.")
    if result.get("stacked"):
        st = result["stacked"]
        lines += [f"{st['gans']} stacked GANs (gan/stacked.py), {st['updates_timed']} timed updates: "
                  f"**{st['ms_per_stacked_update_median']:.2f} ms** per stacked update, {st['ms_per_gan_update']:.2f} ms "
                  f"per GAN; {st['updates_per_gan']:,} updates each: **{st['training_s_estimate']:.0f} s** of updates for "
                  f"all {st['gans']} (goal for the benchmark's 10 GANs: ≤ 120 s on one H100).", ""]
    if result.get("main_job"):
        m = result["main_job"]
        verdict = "met" if m["met"] else ("not met" if m["returncode"] == 0 else f"failed (exit {m['returncode']})")
        lines += [f"Main job (`{m['command']}`): **{m['wall_s']:.1f} s** wall, start-up included; goal ≤ "
                  f"{m['goal_s']:.0f} s: {verdict}.", ""]
    lines += [*failed, *([""] if failed else [])]
    lines += ["Not built yet, so not measured: Adam and the EMA inside the graph (each step's losses, forward and "
              "backward, are one graph; the optimizer steps run apart).", "", environment_markdown(result["environment"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--data", default="fashion_mnist", help="conf/data group (digits: the CPU test's toy size)")
    p.add_argument("--root", help="Fashion-MNIST's four files; 'synthetic': random ones of its shapes, made here "
                                  "(timings only: the lent machine reaches no network)")
    p.add_argument("--updates", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--stacked", type=int, default=10, help="GANs to stack (0: none)")
    p.add_argument("--stacked-updates", type=int, default=200, help="timed after --warmup (the 8-minute budget)")
    p.add_argument("--compile", help="gan.compile of the graphed variant ('none': skip it); default "
                                     "inductor:reduce-overhead on a GPU, aot_eager on the CPU")
    p.add_argument("--main-job", action="store_true")
    p.add_argument("--main-job-timeout", type=int, default=300)
    args = p.parse_args(argv)
    if args.compile is None:
        args.compile = "inductor:reduce-overhead" if args.device == "cuda" else "aot_eager"
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA GPU here; --device cpu runs the code paths at toy size")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # as the recipe (tf32: false)
    synthetic = args.root == "synthetic"
    if synthetic:
        args.root = str(synthetic_fashion_mnist(Path(tempfile.mkdtemp(prefix="fmnist-synthetic-"))))
    before = machine_load()
    result = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu", "synthetic_data": synthetic}
    t = (args.device, args.data, args.root, args.updates, args.warmup)
    parts = [("update", lambda: time_updates(*t)), ("update_joint", lambda: time_updates(*t, ["gan.d_pass=joint"]))]
    if args.stacked:
        parts.append(("stacked", lambda: time_stacked(args.device, args.data, args.stacked, args.stacked_updates,
                                                      args.warmup)))
    if args.compile != "none":  # after the eager parts: a compiler that fails or hangs costs only what follows
        parts.append(("update_graphed", lambda: time_updates(*t, ["gan.d_pass=joint", f"gan.compile={args.compile}"])))
    if args.main_job:
        parts.append(("main_job", lambda: main_job(args.root, args.main_job_timeout)))
    command = " ".join(["python benchmarks/gpu_check.py", *(argv if argv is not None else sys.argv[1:])])
    args.out.mkdir(parents=True, exist_ok=True)
    for key, measure in parts:
        # A lent GPU's minutes are few: each part is written when done, and one that fails is recorded as such
        # while the others still run.
        try:
            result[key] = measure()
        except Exception as e:  # noqa: BLE001 - recorded, not hidden
            result[key] = {"error": f"{type(e).__name__}: {e}"[:2000]}
        result["environment"] = {**environment(command), "load": load_report(before, machine_load())}
        try:
            text = markdown(result)
        except Exception as e:  # noqa: BLE001 - the JSON keeps every figure; the summary must not stop the run
            text = f"# GPU check (issue 46)\n\nThe summary failed ({type(e).__name__}: {e}); gpu_check.json holds the figures.\n"
        write_report(args.out, "gpu_check", result, text)
    print(text)
    return 0 if not any("error" in result[k] for k, _ in parts) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Generator-update throughput: ganaug's Lightning loop against a plain PyTorch loop.

Both loops train the same networks (ganaug.gan.nets at the default config), with the same DiffAugment,
hinge loss, EMA update, Adam settings, batch size and DataLoader, on Fashion-MNIST. Each loop is
timed in steady state (after `--warmup` generator updates) and the two are interleaved `--repeats`
times so drift of the machine affects both alike. The ratio reported is Lightning time per update /
plain time per update (goal: <= 1.10).

    python benchmarks/studies/train_speed.py                  # writes benchmarks/results/train_speed.{json,md}
    python benchmarks/studies/train_speed.py --steps 50 --repeats 1 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _env
from _env import RESULTS, environment, environment_markdown, load_report, machine_load, write_report  # noqa: E402

from ganaug import ConditionalGAN  # noqa: E402
from ganaug.data import GANDataModule, load_digits, load_fashion_mnist  # noqa: E402
from ganaug.gan.diffaug import DiffAugment  # noqa: E402
from ganaug.gan.nets import Discriminator, Generator  # noqa: E402

CONF = Path(__file__).resolve().parents[2] / "conf"


def default_gan_kwargs() -> dict:
    """The networks and optimiser of conf/gan/default.yaml, so the timing follows the shipped recipe."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / "gan" / "default.yaml"))
    # The plain loop below is written for this recipe only: time a changed one only once it is updated too.
    if (cfg["loss"], cfg["n_dis"], cfg["lecam_weight"]) != ("hinge", 1, 0.0):
        raise SystemExit("train_speed.py: the plain loop implements hinge loss, n_dis 1 and no LeCam; "
                         f"conf/gan/default.yaml has loss={cfg['loss']}, n_dis={cfg['n_dis']}, "
                         f"lecam_weight={cfg['lecam_weight']}")
    for key in ("defaults", "_target_", "max_steps", "lecam_weight", "lecam_decay"):
        cfg.pop(key, None)
    cfg["betas"] = tuple(cfg["betas"])
    # The EMA averages from the first update, so every timed update pays for it.
    cfg["ema_start"] = 0
    return cfg


GAN_KW = default_gan_kwargs()
MAIN_JOB_UPDATES = int(OmegaConf.load(CONF / "gan" / "default.yaml").max_steps)


def plain_loop(dm: GANDataModule, steps: int, warmup: int, seed: int) -> float:
    """The reference: what a user would write by hand. Returns seconds per generator update."""
    torch.manual_seed(seed)
    k, (h, _, c) = dm.num_classes, dm.image_shape
    g = Generator(k, h, c, z_dim=GAN_KW["z_dim"], width=GAN_KW["g_width"], embed_dim=GAN_KW["embed_dim"])
    d = Discriminator(k, h, c, width=GAN_KW["d_width"])
    # What ConditionalGAN does too: channels_last networks, fused Adam, one foreach EMA update.
    g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(g).requires_grad_(False).eval()
    aug = DiffAugment(GAN_KW["diffaug"], c)
    opt_g = torch.optim.Adam(g.parameters(), lr=GAN_KW["lr_g"], betas=GAN_KW["betas"], fused=True)
    opt_d = torch.optim.Adam(d.parameters(), lr=GAN_KW["lr_d"], betas=GAN_KW["betas"], fused=True)
    loader = dm.train_dataloader()
    done, start = 0, None
    while done < warmup + steps:
        for x, y in loader:
            if done == warmup:
                start = time.perf_counter()
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.no_grad():
                fake = g(torch.randn(x.shape[0], GAN_KW["z_dim"]), y)
            loss_d = F.relu(1 - d(aug(x), y)).mean() + F.relu(1 + d(aug(fake), y)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            d.requires_grad_(False)
            loss_g = -d(aug(g(torch.randn(x.shape[0], GAN_KW["z_dim"]), y)), y).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            d.requires_grad_(True)
            with torch.no_grad():
                torch._foreach_lerp_(list(ema.parameters()), list(g.parameters()), 1 - GAN_KW["ema_decay"])
                for be, b in zip(ema.buffers(), g.buffers()):
                    be.copy_(b)
            # The same per-step scalars Lightning's logger receives, so both loops sync alike.
            _ = (loss_d.item(), loss_g.item())
            done += 1
            if done == warmup + steps:
                break
    return (time.perf_counter() - start) / steps


class _SteadyTimer(pl.Callback):
    def __init__(self, warmup: int):
        self.warmup, self.start, self.end = warmup, None, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if int(pl_module.g_updates) == self.warmup and self.start is None:
            self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        self.end = time.perf_counter()


def lightning_loop(dm: GANDataModule, steps: int, warmup: int, seed: int, out: Path, logger: bool,
                   changes: dict | None = None) -> float:
    """ganaug's loop, as ganaug-train runs it (CSV logger on, progress bar off). Seconds per update.
    ``changes``: GAN settings that differ from the default recipe (an earlier recipe, for a before/after ratio)."""
    pl.seed_everything(seed, verbose=False)
    k, (h, _, c) = dm.num_classes, dm.image_shape
    gan = ConditionalGAN(k, h, c, max_steps=warmup + steps, **{**GAN_KW, **(changes or {})})
    timer = _SteadyTimer(warmup)
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_steps=gan.trainer_max_steps(), max_epochs=-1,
        logger=pl.loggers.CSVLogger(str(out)) if logger else False, callbacks=[timer],
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
        default_root_dir=str(out), log_every_n_steps=50,
    )
    trainer.fit(gan, datamodule=dm)
    return (timer.end - timer.start) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=150, help="timed generator updates per run")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--dataset", choices=["fashion_mnist", "digits"], default="fashion_mnist")
    p.add_argument("--before", nargs="*", default=[], metavar="KEY=VALUE",
                   help="GAN settings of an earlier recipe (e.g. d_width=16): its Lightning loop is timed too, "
                        "for the before/after ratio of the same loop")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    before = {k: OmegaConf.create({"v": v}).v for k, v in (a.split("=", 1) for a in args.before)}
    unknown = sorted(set(before) - set(GAN_KW))
    if unknown:
        p.error(f"--before: not GAN settings of conf/gan/default.yaml: {unknown}")
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    ds = load_fashion_mnist("train") if args.dataset == "fashion_mnist" else load_digits("train")
    dm = GANDataModule(ds, name=args.dataset, n_per_class=1000 if args.dataset == "fashion_mnist" else None,
                       batch_size=args.batch_size)
    out = Path("/tmp/ganaug-train-speed")
    rows = {"plain": [], "lightning": [], "lightning_no_logger": []}
    before_name = "lightning, before (" + ", ".join(args.before) + ")"
    if before:
        rows[before_name] = []
    load_before = machine_load()
    for r in range(args.repeats):
        rows["plain"].append(plain_loop(dm, args.steps, args.warmup, seed=r))
        rows["lightning"].append(lightning_loop(dm, args.steps, args.warmup, r, out, logger=True))
        rows["lightning_no_logger"].append(lightning_loop(dm, args.steps, args.warmup, r, out, logger=False))
        if before:
            rows[before_name].append(lightning_loop(dm, args.steps, args.warmup, r, out, logger=True, changes=before))
        print(f"repeat {r}: " + ", ".join(f"{k} {v[-1] * 1000:.1f} ms/update" for k, v in rows.items()), flush=True)
    load = load_report(load_before, machine_load())
    med = {k: statistics.median(v) for k, v in rows.items()}
    ratio = med["lightning"] / med["plain"]
    ratio_nolog = med["lightning_no_logger"] / med["plain"]
    env = environment()
    result = {
        "benchmark": "train_speed", **env, "load": load,
        "config": {**GAN_KW, "betas": list(GAN_KW["betas"]), "dataset": args.dataset, "image_size": dm.image_shape[0],
                   "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats},
        "seconds_per_update": rows,
        "median_seconds_per_update": med,
        "ratio_lightning_over_plain": ratio,
        "main_job_minutes": med["lightning"] * MAIN_JOB_UPDATES / 60,
        "ratio_lightning_no_logger_over_plain": ratio_nolog,
        "goal": "ratio <= 1.10",
        "meets_goal": ratio <= 1.10,
        "before": before or None,
        "ratio_after_over_before": med["lightning"] / med[before_name] if before else None,
    }
    print(f"Lightning / plain time per generator update: {ratio:.3f} (without logger {ratio_nolog:.3f}); goal <= 1.10")
    if args.no_write:
        return
    md = (
        "# Training speed: ganaug's Lightning loop vs a plain PyTorch loop\n\n"
        f"Same networks (G width {GAN_KW['g_width']}, D width {GAN_KW['d_width']}), DiffAugment, hinge loss, EMA, "
        f"Adam, batch {args.batch_size}, {args.dataset} {dm.image_shape[0]} px; {args.steps} timed generator "
        f"updates after {args.warmup} warm-up, {args.repeats} interleaved repeats, medians.\n\n"
        "| loop | ms / generator update | ratio to plain |\n|---|---|---|\n"
        + "".join(f"| {k} | {v * 1000:.1f} | {v / med['plain']:.3f} |\n" for k, v in med.items())
        + f"\nGoal: Lightning ≤ 1.10× plain. Measured: **{ratio:.3f}×** "
        f"({'met' if ratio <= 1.10 else 'not met'}).\n\n"
        + (f"Today's recipe against the earlier one ({', '.join(args.before)}), both in the Lightning loop: "
           f"**{result['ratio_after_over_before']:.2f}×** the time per update.\n\n" if before else "")
        + f"The main job ({MAIN_JOB_UPDATES:,} generator updates) at the Lightning loop's speed: "
        f"**{med['lightning'] * MAIN_JOB_UPDATES / 60:.0f} min** on this machine (goal ≤ 10).\n\n"
        + load["summary"] + "\n\n" + environment_markdown(env)
    )
    write_report(RESULTS, "train_speed", result, md)
    print(md)


if __name__ == "__main__":
    main()

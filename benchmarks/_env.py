"""Shared by the benchmark scripts: where results go and how they are written."""

from __future__ import annotations

import json
from pathlib import Path

from ganaug.base.files import atomic_write_bytes
from ganaug.base.provenance import cpu_reading, cpu_use, environment, environment_markdown  # noqa: F401

RESULTS = Path(__file__).resolve().parent / "results"


def write_json(path: Path, payload: dict) -> Path:
    atomic_write_bytes(path, json.dumps(payload, indent=2).encode())
    return path


def write_report(directory: Path, name: str, payload: dict, markdown: str) -> None:
    """A speed benchmark's `<name>.json` and `<name>.md`, each written whole (temp file, then rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / f"{name}.json", payload)
    atomic_write_bytes(directory / f"{name}.md", markdown.encode())


# A speed figure is only comparable with another taken on an idle machine: every timing records the
# machine's load and the share of its CPU that other processes took while it ran.
BUSY_SHARE = 0.10  # other processes above 10% of all cores: the run is marked busy


def machine_load() -> dict:
    """A reading to pass to `load_report` after the timed work."""
    return cpu_reading()


def load_report(before: dict, after: dict) -> dict:
    """Load average before/after and other processes' CPU share during the run, with a verdict."""
    use = cpu_use(before, after)
    cores, others = use["cores"], use["others_cpu_share"]
    if others is None:  # no /proc/stat: what else ran is unknown
        return {**use, "idle": None, "summary": "Machine load: not readable here (no /proc/stat); whether "
                "the machine was idle is unknown."}
    idle = others <= BUSY_SHARE
    summary = (f"Machine load: load average {before['loadavg']:.2f} before, {after['loadavg']:.2f} after; other "
               f"processes used {others:.0%} of the {cores} cores while this ran: "
               + ("**idle** (≤ 10%)." if idle else "**busy** (> 10%): these timings are not comparable with idle ones."))
    return {"loadavg_before": before["loadavg"], "loadavg_after": after["loadavg"], "others_cpu_share": others,
            "cores": cores, "idle": idle, "summary": summary}


# A GAN trained only to be measured: no sample grids, snapshots, checkpoints, progress bar or logger.
QUIET_TRAINING = ("~callbacks.sample_grid", "~callbacks.snapshots", "~callbacks.checkpoint",
                  "trainer.enable_progress_bar=false", "~logger")


def train_quietly(overrides, callbacks) -> float:
    """`ganaug-train` on conf/train.yaml with ``overrides`` in a temporary directory, keeping only what ``callbacks``
    collect; the seconds it took."""
    import tempfile
    import time

    from hydra import compose, initialize_config_module

    from ganaug.gan.train import train

    with tempfile.TemporaryDirectory() as out, initialize_config_module("ganaug.conf", version_base="1.3"):
        cfg = compose("train", [f"out_dir={out}", *QUIET_TRAINING, *overrides])
        t0 = time.perf_counter()
        train(cfg, extra_callbacks=list(callbacks))
        return time.perf_counter() - t0

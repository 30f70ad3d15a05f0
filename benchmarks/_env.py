"""Shared by the benchmark scripts: where results go and how they are written."""

from __future__ import annotations

import json
from pathlib import Path

from ganaug.export import atomic_write_bytes
from ganaug.provenance import environment, environment_markdown  # noqa: F401

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
    import os

    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    jiffies = [int(v) for v in fields]
    idle = jiffies[3] + (jiffies[4] if len(jiffies) > 4 else 0)
    own = os.times()  # children: DataLoader workers that have ended count as ours, not as others'
    return {"time": __import__("time").monotonic(), "loadavg": os.getloadavg()[0],
            "busy_s": (sum(jiffies[:8]) - idle) / os.sysconf("SC_CLK_TCK"),
            "own_s": own.user + own.system + own.children_user + own.children_system}


def load_report(before: dict, after: dict) -> dict:
    """Load average before/after and other processes' CPU share during the run, with a verdict."""
    import os

    cores = os.cpu_count() or 1
    elapsed = max(after["time"] - before["time"], 1e-9)
    others = max(0.0, (after["busy_s"] - before["busy_s"]) - (after["own_s"] - before["own_s"])) / (elapsed * cores)
    idle = others <= BUSY_SHARE
    summary = (f"Machine load: load average {before['loadavg']:.2f} before, {after['loadavg']:.2f} after; other "
               f"processes used {others:.0%} of the {cores} cores while this ran: "
               + ("**idle** (≤ 10%)." if idle else "**busy** (> 10%): these timings are not comparable with idle ones."))
    return {"loadavg_before": before["loadavg"], "loadavg_after": after["loadavg"], "others_cpu_share": others,
            "cores": cores, "idle": idle, "summary": summary}

"""What every benchmark result records about where it came from: commit, machine, date."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# Where this project commits its benchmark results (outputs, so not part of a run's "-dirty").
RESULTS_DIR = "benchmarks/results"


@functools.cache
def git_commit(cwd: str | Path | None = None) -> str:
    """The checkout's commit (+ "-dirty"), read once per process: a run that takes hours records the code
    it started with, not a commit made while it ran (call it when a long job starts). $GANAUG_COMMIT, when
    set, is the answer: a benchmark sets it for the worker processes it starts (so they name the commit
    the run started with), and a copy of the tree without .git (another machine, a wheel) is given it."""
    if os.environ.get("GANAUG_COMMIT"):
        return os.environ["GANAUG_COMMIT"]
    try:
        run = dict(capture_output=True, text=True, cwd=cwd, check=True)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **run).stdout.strip()
        # Committed results that a run rewrites (the benchmark's reports) are outputs, not the code that
        # made them: a chain of benchmark runs would otherwise call every run after the first "-dirty".
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                                f":(top,exclude){RESULTS_DIR}"], **run).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment(command: str | None = None) -> dict:
    import torch

    return {
        "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "commit": git_commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        # Machines called "AMD EPYC" here differ by a factor of 2-3 in speed: the vector ISA tells them apart.
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def machine() -> dict:
    """Where one unit of work ran. Stored with each benchmark unit: one benchmark's units may come from
    several machines (a lent GPU for the GANs, this CPU for the rest; a Ray cluster)."""
    import torch

    return {"cpu": cpu_model(), "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__, "commit": git_commit(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def cpu_reading() -> dict:
    """This process's CPU seconds and the whole machine's, now: two readings give `cpu_use` between them.

    The machine's comes from /proc/stat (Linux); elsewhere it is None and so is the share of others.
    """
    import time

    own = os.times()  # children: DataLoader workers that have ended count as ours, not as others'
    try:
        jiffies = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = jiffies[3] + (jiffies[4] if len(jiffies) > 4 else 0)
        busy = (sum(jiffies[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        busy = None
    return {"time": time.monotonic(), "loadavg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "busy_s": busy, "own_s": own.user + own.system + own.children_user + own.children_system}


def cpu_use(before: dict, after: dict) -> dict:
    """Between two `cpu_reading`s: this process's CPU seconds per second of wall time (1.0: one core to
    itself, all along) and the share of all cores that other processes used (units side by side included)."""
    cores = os.cpu_count() or 1
    elapsed = max(after["time"] - before["time"], 1e-9)
    own = after["own_s"] - before["own_s"]
    others = (None if before["busy_s"] is None or after["busy_s"] is None
              else max(0.0, (after["busy_s"] - before["busy_s"]) - own) / (elapsed * cores))
    return {"own_cpu_per_s": own / elapsed, "others_cpu_share": others, "cores": cores,
            "loadavg_before": before["loadavg"], "loadavg_after": after["loadavg"]}


def machine_label(made_on: dict | None) -> str:
    if not made_on:
        return "not recorded"
    return f"{made_on.get('gpu') or made_on.get('cpu') or 'unknown'} (torch {made_on.get('torch', '?')})"


def stored_if_unchanged(path: str | Path, content: dict) -> dict | None:
    """The JSON record at `path` when it already holds `content` (each of its keys, equal after a JSON round
    trip), else None: a rerun that only repeats a stored result keeps that record's command, commit and date
    instead of claiming the result for its own."""
    import json

    from ganaug.errors import GanaugError
    from ganaug.base.records import read_json

    try:  # a damaged or planted record (too deep, too large) is only not reused: it is rewritten
        old = read_json(path, GanaugError, "record")
    except (OSError, GanaugError):
        return None
    if not isinstance(old, dict):
        return None
    return old if {k: old.get(k) for k in content} == json.loads(json.dumps(content, default=float)) else None


def environment_markdown(env: dict) -> str:
    gpu = f", GPU {env['gpu']}" if env.get("gpu") else ""
    return (f"- command: `{env['command']}`\n- commit: `{env['commit']}`\n- date: {env['date']}\n"
            f"- machine: {env['cpu']} ({env.get('cpu_capability', 'ISA not recorded')}), {env['cores']} cores, torch {env['torch']} "
            f"({env['torch_threads']} threads){gpu}\n")

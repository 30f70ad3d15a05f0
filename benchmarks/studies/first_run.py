"""How long the README's first run takes: its two commands, as written, in an empty directory.

    python benchmarks/studies/first_run.py          # writes benchmarks/results/first_run.{json,md}

Each command is timed from outside (wall clock, process start included), on this machine as it is:
the load report says whether other processes shared the cores.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _env
from _env import RESULTS, environment, environment_markdown, load_report, machine_load, write_json  # noqa: E402

from ganaug.base.files import atomic_write_bytes  # noqa: E402

BIN = Path(sys.executable).parent
# The README's "First run" block, in order.
COMMANDS = [
    ["ganaug-train", "experiment=smoke", "data.val_fraction=0.2"],
    ["ganaug-tune", "data=digits", "generators=[runs/digits-val0.2-seed0/generator]", "tune.steps=500"],
]


def main() -> None:
    reading = machine_load()
    steps = []
    with tempfile.TemporaryDirectory() as tmp:
        for cmd in COMMANDS:
            print("$", " ".join(cmd), flush=True)
            t = time.perf_counter()
            subprocess.run([str(BIN / cmd[0]), *cmd[1:], "progress=false" if cmd[0] == "ganaug-tune" else
                            "trainer.enable_progress_bar=false"], cwd=tmp, check=True, capture_output=True)
            steps.append({"command": " ".join(cmd), "seconds": time.perf_counter() - t})
            print(f"  {steps[-1]['seconds']:.1f} s", flush=True)
    report = {"meta": {**environment(), "load": load_report(reading, machine_load())},
              "steps": steps, "total_seconds": sum(s["seconds"] for s in steps)}
    write_json(RESULTS / "first_run.json", report)
    lines = ["# The README's first run", "", "| command | wall time |", "|---|---|"]
    lines += [f"| `{s['command']}` | {s['seconds']:.0f} s |" for s in steps]
    lines += [f"| total | {report['total_seconds']:.0f} s |", "", report["meta"]["load"]["summary"], "",
              environment_markdown(report["meta"])]
    atomic_write_bytes(RESULTS / "first_run.md", "\n".join(lines).encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()

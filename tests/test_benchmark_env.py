"""Speed figures say whether the machine was idle (benchmarks/_env.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _env import load_report  # noqa: E402


def _reading(t, busy, own, loadavg=0.5):
    return {"time": t, "busy_s": busy, "own_s": own, "loadavg": loadavg}


def test_others_cpu_share_marks_a_busy_machine(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    # 10 s on 2 cores: the machine was busy 15 CPU-s, of which 10 were ours -> others took 5 / 20.
    busy = load_report(_reading(0, 100, 1), _reading(10, 115, 11))
    assert busy["others_cpu_share"] == 0.25 and not busy["idle"] and "**busy**" in busy["summary"]
    idle = load_report(_reading(0, 100, 1), _reading(10, 111, 11))
    assert idle["others_cpu_share"] == 0.05 and idle["idle"] and "**idle**" in idle["summary"]



def test_where_the_machine_cannot_be_read_idle_is_unknown_not_claimed():
    unknown = load_report(_reading(0, None, 1), _reading(10, None, 11))
    assert unknown["idle"] is None and "unknown" in unknown["summary"] and unknown["own_cpu_per_s"] == 1.0

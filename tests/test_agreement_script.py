"""benchmarks/agreement.py keeps the record of a check a rerun only repeated."""

import json
from pathlib import Path
from _scripts import load_script

REPO = Path(__file__).resolve().parents[1]
agreement = load_script(REPO / "benchmarks" / "agreement.py", "agreement")


def test_a_repeated_check_keeps_its_commit_and_date_and_a_new_one_takes_this_runs(tmp_path):
    res = {"agree": True, "pairs": [{"val": [0.8, 0.8]}], "bench_out_dir": str(tmp_path)}
    path = tmp_path / "agreement-n100.json"
    assert agreement._provenance(path, res)["date"]  # nothing stored: this run's environment
    path.write_text(json.dumps({**res, "commit": "abc1234", "date": "2026-01-01T00:00:00+00:00"}))
    kept = agreement._provenance(path, res)
    assert (kept["commit"], kept["date"]) == ("abc1234", "2026-01-01T00:00:00+00:00")
    changed = agreement._provenance(path, {**res, "agree": False})
    assert changed["date"] != "2026-01-01T00:00:00+00:00"


def test_tune_runs_on_the_fly_when_the_benchmark_did(compose_cfg, tmp_path):
    overrides = ["bench=ci", f"bench.out_dir={tmp_path}"]
    assert "tune.synthetic_source=bank" in agreement.tune_overrides(compose_cfg("bench", overrides), "n30", ["g"],
                                                                    tmp_path, None)
    cfg = compose_cfg("bench", overrides + ["bench.synthetic_source=generator"])
    assert "tune.synthetic_source=generator" in agreement.tune_overrides(cfg, "n30", ["g"], tmp_path, None)

"""benchmarks/agreement.py keeps the record of a check a rerun only repeated."""

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("agreement", REPO / "benchmarks" / "agreement.py")
agreement = importlib.util.module_from_spec(spec)
spec.loader.exec_module(agreement)


def test_a_repeated_check_keeps_its_commit_and_date_and_a_new_one_takes_this_runs(tmp_path):
    res = {"agree": True, "pairs": [{"val": [0.8, 0.8]}], "bench_out_dir": str(tmp_path)}
    path = tmp_path / "agreement-n100.json"
    assert agreement._provenance(path, res)["date"]  # nothing stored: this run's environment
    path.write_text(json.dumps({**res, "commit": "abc1234", "date": "2026-01-01T00:00:00+00:00"}))
    kept = agreement._provenance(path, res)
    assert (kept["commit"], kept["date"]) == ("abc1234", "2026-01-01T00:00:00+00:00")
    changed = agreement._provenance(path, {**res, "agree": False})
    assert changed["date"] != "2026-01-01T00:00:00+00:00"


def test_a_benchmark_on_the_fly_is_not_compared_with_tunes_bank_runs(compose_cfg, tmp_path):
    import pytest

    overrides = ["bench=ci", f"bench.out_dir={tmp_path}"]
    plain = agreement.tune_overrides(compose_cfg("bench", overrides), "n30", ["g"], tmp_path, None)
    assert "tune.bank_size=500" in plain
    cfg = compose_cfg("bench", overrides + ["bench.synthetic_source=generator"])
    with pytest.raises(ValueError, match="ganaug-tune draws synthetic items from banks only"):
        agreement.tune_overrides(cfg, "n30", ["g"], tmp_path, None)

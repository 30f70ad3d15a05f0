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


def test_the_tune_command_it_writes_composes_and_runs_the_benchmarks_settings(compose_cfg, tmp_path):
    # A bench key the tune lost (a lever that left the product) would make every agreement check fail to compose.
    from ganaug.eval.tune import TuneSettings

    bench = compose_cfg("bench", ["bench=ci", f"bench.out_dir={tmp_path}"])
    overrides = agreement.tune_overrides(bench, "n30", ["g"], tmp_path, None)
    settings = TuneSettings.from_config(compose_cfg("tune", overrides).tune)
    b = bench.bench
    assert (settings.steps, settings.synthetic_soft_labels, settings.synthetic_split_norm) == (
        b.classifier.steps, b.synthetic_soft_labels, b.synthetic_split_norm)

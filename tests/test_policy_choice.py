"""benchmarks/policy_choice.py: the classical baseline chosen on validation (issue 44)."""

from pathlib import Path
from _scripts import load_script

REPO = Path(__file__).resolve().parents[1]


def _script(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    mod = load_script(REPO / "benchmarks" / "policy_choice.py", "policy_choice")
    return mod


def test_the_rule_takes_the_best_mean_validation_score_of_complete_candidates(monkeypatch):
    pc = _script(monkeypatch)
    scores = {"none-s3000": {0: 0.80, 1: 0.80}, "flip_shift-s3000": {0: 0.82, 1: 0.84},
              "trivial-s9000": {0: 0.83, 1: 0.83}, "cutmix-s3000": {0: 0.95}}  # cutmix: one seed of two, not yet
    assert pc.choose(scores, 2) == "flip_shift-s3000"
    scores["trivial-s3000"] = {0: 0.84, 1: 0.82}  # the same mean as flip_shift: the listed order decides
    assert pc.choose(scores, 2) == "flip_shift-s3000"
    scores["flip_shift-s9000"] = {0: 0.85, 1: 0.85}
    assert pc.choose(scores, 2) == "flip_shift-s9000"
    assert pc.choose({"none-s3000": {0: 0.8}}, 2) is None


def test_every_candidate_is_a_benchmark_command_on_validation_only(monkeypatch):
    pc = _script(monkeypatch)
    cmd = pc.bench_command("n100", "mixup", 9000)
    assert "bench.classifier.batch_mix=mixup" in cmd and "augment=flip_shift" in cmd
    assert "bench.classifier.steps=9000" in cmd and "bench.data_seed=0" in cmd and "only=[n100/classical/*]" in cmd
    assert "only=[n100/real/*]" in pc.bench_command("n100", "none", 3000)


def test_a_candidate_with_one_run_so_far_has_no_interval_and_its_record_is_json(monkeypatch):
    # Before: mean_ci's undefined bounds went out as NaN (not JSON) and "84.0 [nan, nan]" in the table.
    import json

    pc = _script(monkeypatch)
    ci = pc._ci([0.84])
    assert pc._pct(ci) == "84.0" and ci["lo"] is None and ci["std"] is None
    json.dumps(ci, allow_nan=False)
    assert pc._pct(pc._ci([0.84, 0.86])).startswith("85.0 [")

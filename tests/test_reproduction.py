"""benchmarks/studies/reproduction.py: a rerun agrees with a committed result within both CIs, or says it does not."""

import copy
import json
from pathlib import Path

import pytest
from _scripts import load_script

REPO = Path(__file__).resolve().parents[1]

reproduction = load_script(REPO / "benchmarks" / "studies" / "reproduction.py", "reproduction")


@pytest.fixture(scope="module")
def ci_results():
    return json.loads((REPO / "benchmarks" / "results" / "ci" / "results.json").read_text())


def test_a_result_reproduces_itself_and_not_a_shifted_copy(ci_results, tmp_path):
    same = reproduction.compare(ci_results, ci_results, "n30")
    assert same["reproduced"] and len(same["rows"]) >= 5
    shifted = copy.deepcopy(ci_results)
    for r in shifted["runs"]:
        if r.get("regime") == "n30" and r.get("condition", "").startswith("classical+") and r.get("test") is not None:
            r["test"] += 0.2  # twenty points better: far outside any CI
    moved = reproduction.compare(ci_results, shifted, "n30")
    assert not moved["reproduced"]
    off = {(r["condition"], r["measure"]) for r in moved["rows"] if not r["agree"]}
    assert off and all(cond.startswith("classical+") for cond, _ in off)
    # The command writes its report beside the rerun and names a missing directory.
    for name, data in (("old", ci_results), ("new", shifted)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(data))
    assert reproduction.main([str(tmp_path / "old"), str(tmp_path / "new"), "--regime", "n30"]) == 1
    assert "not reproduced" in (tmp_path / "new" / "reproduction-n30.md").read_text()
    assert reproduction.main([str(tmp_path / "old"), str(tmp_path / "nowhere"), "--regime", "n30"]) == 2

"""benchmarks/speed_quality.py: a candidate GAN holds only when its quality and validation scores do."""

import copy
import json
from pathlib import Path

import pytest
from _scripts import load_script

REPO = Path(__file__).resolve().parents[1]

speed_quality = load_script(REPO / "benchmarks" / "speed_quality.py", "speed_quality")
CONDITION = "classical+syn0.25"  # the recipe's condition in the committed ci records


@pytest.fixture(scope="module")
def ci_results():
    return json.loads((REPO / "benchmarks" / "results" / "ci" / "results.json").read_text())


def _changed(results, field, delta, where):
    out = copy.deepcopy(results)
    for r in out["runs"]:
        if r.get("regime") == "n30" and where(r) and r.get(field) is not None:
            r[field] += delta
    return out


def test_the_same_results_hold_and_worse_gans_or_validation_scores_do_not(ci_results):
    same = speed_quality.compare(ci_results, ci_results, "n30", CONDITION)
    assert same["holds"] and same["gan_seeds"] == [0, 1] and len(same["pairs"]) == 4
    metrics = lambda r: "cas_ratio" in r  # noqa: E731
    assert not speed_quality.compare(ci_results, _changed(ci_results, "cas_ratio", -0.05, metrics), "n30",
                                     CONDITION)["checks"]["cas"]
    assert not speed_quality.compare(ci_results, _changed(ci_results, "fid", +5.0, metrics), "n30",
                                     CONDITION)["checks"]["fid"]
    runs = lambda r: r.get("condition") == CONDITION  # noqa: E731
    worse_val = speed_quality.compare(ci_results, _changed(ci_results, "val", -0.02, runs), "n30", CONDITION)
    assert not worse_val["holds"] and worse_val["checks"] == {"cas": True, "fid": True, "val": False}
    # Test scores take no part in the decision.
    assert speed_quality.compare(ci_results, _changed(ci_results, "test", -0.05, runs), "n30", CONDITION)["holds"]

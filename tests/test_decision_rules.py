"""benchmarks/studies/decision_rules.py: each rule's choice on the stored held-out runs (issue 43)."""

import json
from pathlib import Path

import pytest
from _scripts import load_script

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rules():
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    mod = load_script(REPO / "benchmarks" / "studies" / "decision_rules.py", "decision_rules")
    return mod


def test_the_argmax_rule_reproduces_the_held_out_headline(rules):
    # The same runs, the same choice as heldout.py's: the reading of the stored units is right.
    out = rules.collect()
    heldout = json.loads((REPO / "benchmarks" / "results" / "heldout" / "results.json").read_text())
    for clf in ("small CNN", "ResNet-14"):
        for regime in ("n100", "n50", "n500", "longtail"):
            assert out["classifiers"][clf][regime]["argmax"]["mean"] == pytest.approx(
                heldout["classifiers"][clf][regime]["pooled"]["mean"]), (clf, regime)


def test_the_interval_rule_keeps_the_baseline_unless_a_lower_bound_is_above_zero(rules):
    out = rules.collect()
    for per in out["classifiers"].values():
        for row in per.values():
            for s in rules.DATA_SEEDS:
                d = row["seeds"][s]
                best = max(d["conditions"].values(), key=lambda c: c["lower"])
                assert (d["interval"]["choice"] == d["baseline"]) == (best["lower"] <= 0)

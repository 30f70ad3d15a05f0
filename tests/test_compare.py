import importlib.util
import json

import pytest


@pytest.fixture
def compare(repo):
    spec = importlib.util.spec_from_file_location("compare", repo / "benchmarks" / "compare.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _results(acc, std, fid):
    return {"summary": {"n100": {"conditions": {"real": {"test": {"mean": acc, "std": std, "n": 3}}},
                                 "gan": {"fid": {"mean": fid, "std": 1.0, "n": 2}}}}}


def test_within_spread_passes(compare, tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_results(0.80, 0.01, 10.0)))
    new.write_text(json.dumps(_results(0.795, 0.01, 10.5)))
    assert compare.main([str(old), str(new)]) == 0


def test_accuracy_drop_beyond_spread_fails(compare, tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_results(0.80, 0.01, 10.0)))
    new.write_text(json.dumps(_results(0.75, 0.01, 10.0)))
    assert compare.main([str(old), str(new)]) == 1
    assert "n100/real/test" in capsys.readouterr().out


def test_fid_is_lower_is_better(compare):
    lines, regressions = compare.compare(_results(0.8, 0.01, 10.0), _results(0.8, 0.01, 13.0))
    assert regressions == ["n100/gan/fid"]
    _, regressions = compare.compare(_results(0.8, 0.01, 13.0), _results(0.8, 0.01, 10.0))
    assert regressions == []

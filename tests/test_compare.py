import json

import pytest
from _scripts import load_script


@pytest.fixture
def compare(repo):
    mod = load_script(repo / "benchmarks" / "compare.py", "compare")
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


def _on(results, cpu, capability="AVX2"):
    return {**results, "meta": {"cpu": cpu, "cpu_capability": capability, "torch": "2.13.0+cpu", "torch_threads": 1}}


def test_on_another_machine_runs_are_independent_draws(compare):
    # Another CPU trains the GAN to other weights: a move of a few spreads over two GAN seeds is the draw
    # (the baseline of AMD EPYC against an Intel Xeon run), a collapse is still a regression.
    old = _on(_results(0.80, 0.01, 6.0), "AMD EPYC")
    drift = _on(_results(0.795, 0.01, 8.0), "Intel(R) Xeon(R) Processor", "AVX512")
    lines, regressions = compare.compare(old, drift)
    assert regressions == [] and "independent draws" in lines[0]
    # The same move on the baseline's machine is the code's doing.
    _, regressions = compare.compare(old, _on(_results(0.795, 0.01, 8.0), "AMD EPYC"))
    assert regressions == ["n100/gan/fid"]
    broken = _on(_results(0.60, 0.01, 40.0), "Intel(R) Xeon(R) Processor", "AVX512")
    _, regressions = compare.compare(old, broken)
    assert regressions == ["n100/gan/fid", "n100/real/test"]


def test_welch_tolerance_matches_the_textbook_test(compare):
    import statistics

    from scipy.stats import ttest_ind

    a, b = [0.81, 0.79, 0.80], [0.70, 0.74, 0.69, 0.72]
    mean, std = statistics.mean, statistics.stdev
    tol = compare.welch_tolerance(std(a), len(a), std(b), len(b))
    p = ttest_ind(a, b, equal_var=False, alternative="greater").pvalue
    # The difference lies beyond the tolerance exactly when the one-sided test rejects at ALPHA.
    assert (mean(a) - mean(b) > tol) == (p < compare.ALPHA)
    shifted = [v + (mean(a) - mean(b)) - tol * 1.01 for v in b]
    assert ttest_ind(a, shifted, equal_var=False, alternative="greater").pvalue < compare.ALPHA
    shifted = [v + (mean(a) - mean(b)) - tol * 0.99 for v in b]
    assert ttest_ind(a, shifted, equal_var=False, alternative="greater").pvalue > compare.ALPHA
    assert compare.welch_tolerance(0.01, 1, 0.01, 3) is None

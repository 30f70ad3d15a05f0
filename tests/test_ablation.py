import json
import sys

import pytest
from _scripts import load_script


@pytest.fixture
def ablation(repo, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(repo / "benchmarks"))
    mod = load_script(repo / "benchmarks" / "ablation.py", "ablation")
    monkeypatch.setattr(mod, "RESULTS", tmp_path)
    yield mod
    sys.modules.pop("readme_results", None)


def _write(root, name, tests, classical_gain=None, cas_ratio=None, condition="classical+syn0.25-filt"):
    runs = [{"regime": "n100", "condition": condition, "clf_seed": c, "gan_seed": g, "test": t}
            for (c, g), t in tests.items()]
    vals = list(tests.values())
    mean = sum(vals) / len(vals)
    cond = {"test": {"mean": mean, "lo": mean - 0.01, "hi": mean + 0.01, "n": len(vals)}, "n": len(vals)}
    if classical_gain is not None:
        cond["gain_vs_classical"] = classical_gain
    gan_seeds = sorted({g for _, g in tests})
    runs += [{"regime": "n100", "gan_seed": g, "cas_ratio": cas_ratio + 0.01 * g} for g in gan_seeds
             if cas_ratio is not None]
    data = {"meta": {"command": f"ganaug-bench bench.out_dir={name}", "commit": "abc", "date": "d"},
            "summary": {"n100": {"conditions": {condition: cond}}}, "runs": runs}
    (root / name).mkdir()
    (root / name / "results.json").write_text(json.dumps(data))


def test_lever_is_paired_run_by_run_against_the_same_condition_in_its_base(ablation, tmp_path, monkeypatch):
    base = {(0, 0): 0.80, (1, 0): 0.82, (0, 1): 0.81, (1, 1): 0.83}
    lever = {k: v + d for (k, v), d in zip(base.items(), (0.01, 0.02, 0.01, 0.02))}
    _write(tmp_path, "base", base, cas_ratio=0.811)
    _write(tmp_path, "soft", lever, classical_gain={"mean": -0.004, "lo": -0.01, "hi": 0.002, "n": 4}, cas_ratio=0.856)
    monkeypatch.setattr(ablation, "LEVERS", [
        {"dir": "soft", "base": "base", "condition": "classical+syn0.25-filt", "lever": "targets", "variant": "soft"},
        {"dir": "missing", "base": "base", "condition": "classical+syn0.25-filt", "lever": "x", "variant": "y"}])
    text = ablation.render_levers("n100")
    row = next(line for line in text.splitlines() if line.startswith("| n100 | targets"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4] == "81.5 ± 1.0" and cells[5] == "83.0 ± 1.0"
    assert cells[6].startswith("+1.5 [") and cells[6].endswith("*")  # +1 or +2 points in every pair
    assert cells[7] == "-0.4 [-1.0, +0.2]" and cells[8] == "–" and cells[9] == "4" and cells[10] == "0.82× → 0.86×"
    assert "| x |" not in text and "ganaug-bench bench.out_dir=soft" in text


def test_a_lever_on_fewer_gan_seeds_is_set_against_the_base_runs_it_pairs_with(ablation, tmp_path, monkeypatch):
    _write(tmp_path, "base", {(0, 0): 0.80, (1, 0): 0.82, (0, 1): 0.90, (1, 1): 0.92}, cas_ratio=0.8)
    _write(tmp_path, "one_gan", {(0, 0): 0.81, (1, 0): 0.84}, cas_ratio=0.92)
    _write(tmp_path, "other_base", {(0, 0): 0.70, (1, 0): 0.71}, cas_ratio=0.7)
    _write(tmp_path, "other", {(0, 0): 0.70, (1, 0): 0.72}, cas_ratio=0.75)
    monkeypatch.setattr(ablation, "LEVERS", [
        {"dir": "one_gan", "base": "base", "condition": "classical+syn0.25-filt", "lever": "w", "variant": "g0"},
        {"dir": "other", "base": "other_base", "condition": "classical+syn0.25-filt", "lever": "o", "variant": "x"}])
    text = ablation.render_levers("n100")
    row = next(line for line in text.splitlines() if line.startswith("| n100 | w"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4].startswith("81.0 ± ") and cells[5].startswith("82.5 ± ") and cells[6].startswith("+1.5 [")
    # Each row's own base, not the last one read; and its GAN seed 0 only (base: 0.80 and 0.81).
    assert cells[10] == "0.80× → 0.92×"


def test_no_lever_results_render_nothing(ablation):
    assert ablation.render_levers("n100") == ""


def test_recipe_table_reads_every_default_from_conf(ablation, repo, tmp_path):
    from omegaconf import OmegaConf

    # The real conf has every key the real table names.
    for _, file, key, _ in ablation.RECIPE:
        assert OmegaConf.select(OmegaConf.load(repo / "conf" / file), key) is not None, (file, key)
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "x.yaml").write_text("a: 0.25\nregimes:\n  lt: {q: 0.5}\nlist: [true]\n")
    ablation.RECIPE = [("ratio", "bench/x.yaml", "a", "why a"), ("quantile", "bench/x.yaml", "regimes.lt.q", "why q"),
                       ("options", "bench/x.yaml", "list", "why l")]
    text = ablation.render_recipe(tmp_path)
    assert "| ratio | `0.25` | `conf/bench/x.yaml`: `a` | why a |" in text
    assert "| quantile | `0.5` |" in text and "| options | `[True]` |" in text


def test_a_lever_is_adopted_by_its_rule_not_by_hand(ablation, tmp_path):
    on_val = {"dir": "x", "adopted": "on val"}
    assert ablation._adopted(on_val, {"mean": 0.004}) == "yes"
    assert ablation._adopted(on_val, {"mean": -0.004}) == "no"
    assert ablation._adopted(on_val, None) == "–"
    speed = {"dir": "lever_dir", "adopted": "speed_quality"}
    assert ablation._adopted(speed, None) == "–"  # not decided until speed_quality.py has written its verdict
    (tmp_path / "speed_quality_lever_dir.json").write_text(json.dumps({"comparison": {"holds": False}}))
    assert ablation._adopted(speed, None) == "no"


def test_a_lever_may_replace_another_condition_of_its_base(ablation, tmp_path, monkeypatch):
    # A soft filter (an unfiltered bank, items weighed by the teacher) against the hard filter it would replace.
    _write(tmp_path, "base", {(0, 0): 0.80, (1, 0): 0.82}, cas_ratio=0.9)
    _write(tmp_path, "soft", {(0, 0): 0.83, (1, 0): 0.84}, cas_ratio=0.9, condition="classical+syn0.25")
    lever = {"dir": "soft", "base": "base", "condition": "classical+syn0.25", "lever": "soft filter", "variant": "v"}
    monkeypatch.setattr(ablation, "LEVERS", [lever])
    assert ablation.render_levers("n100") == ""  # the base has no unfiltered condition to pair with
    monkeypatch.setattr(ablation, "LEVERS", [{**lever, "base_condition": "classical+syn0.25-filt"}])
    row = next(line for line in ablation.render_levers("n100").splitlines() if line.startswith("| n100 | soft"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4].startswith("81.0 ± ") and cells[5].startswith("83.5 ± ") and cells[6].startswith("+2.5 [")

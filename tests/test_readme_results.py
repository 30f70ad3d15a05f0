import importlib.util
import json

import pytest


@pytest.fixture
def readme_results(repo, tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("readme_results", repo / "benchmarks" / "readme_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "ROOT", tmp_path)
    monkeypatch.setattr(mod, "RESULTS", tmp_path / "benchmarks" / "results")
    return mod


def _ci(mean, half=0.01, n=3):
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": n, "significant": mean - half > 0}


def _results(tmp_path, summary, done=10, total=10, runs=None):
    path = tmp_path / "benchmarks" / "results" / "fashion_mnist" / "results.json"
    path.parent.mkdir(parents=True)
    meta = {"units_done": done, "units_total": total, "command": "ganaug-bench", "commit": "abc", "date": "d",
            "cpu": "cpu", "cores": 2}
    path.write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs if runs is not None else [{}] * done}))
    return path


def test_table_has_gains_cas_and_gan_time_and_the_long_tail_baseline(readme_results, tmp_path):
    conds = {"real": {"test": _ci(0.60)}, "classical": {"test": _ci(0.62)},
             "classical+reweight": {"test": _ci(0.66)},
             "classical+syn0.5": {"test": _ci(0.67), "gain_vs_real": _ci(0.07), "gain_vs_classical": _ci(0.05),
                                  "gain_vs_classical+reweight": _ci(0.01, 0.02)}}
    gan = {"cas": _ci(0.5), "cas_ratio": _ci(0.8), "fid": _ci(40.0)}
    summary = {"longtail": {"conditions": conds, "chosen_on_val": "classical+syn0.5", "gan": gan,
                            "gan_train_seconds": _ci(1500.0, 1.0, 1)}}
    runs = [{"regime": "longtail", "condition": "classical", "seconds": s} for s in (190, 210)]
    runs += [{"regime": "longtail", "condition": "classical+syn0.5", "seconds": 260},
             {"regime": "longtail", "condition": "real", "seconds": 100},
             {"regime": "longtail", "generation_seconds": 30, "filtered_generation_seconds": 10}]
    lines = readme_results.downstream_section(_results(tmp_path, summary, done=7, runs=runs))
    text = "\n".join(lines)
    row = next(line for line in lines if line.startswith("| longtail"))
    assert ("| classical+syn0.5 | 67.0 ± 1.0 | +7.0 [+6.0, +8.0] | +5.0 [+4.0, +6.0] | 50.0 ± 1.0 (0.80×) | 40.0 | 25 "
            "| 40 | 200 → 260 |") in row
    assert "classical + class-balanced sampling scores 66.0 ± 1.0" in text
    assert "gain over it is +1.0 [-1.0, +3.0]" in text
    assert "partial: 7 of 10 units finished" in text


def test_balanced_regimes_have_no_reweighting_sentence(readme_results, tmp_path):
    summary = {"n100": {"conditions": {"real": {"test": _ci(0.8)}, "classical": {"test": _ci(0.81)}},
                        "chosen_on_val": None, "gan": {}, "gan_train_seconds": {}}}
    text = "\n".join(readme_results.downstream_section(_results(tmp_path, summary)))
    assert "class-balanced" not in text and "| n100 | 80.0 ± 1.0 | 81.0 ± 1.0 | – |" in text


def test_ablation_section_keeps_the_lever_tables_only(readme_results, tmp_path):
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "ablation.md").write_text(
        "# Ablation\n\nintro\n\n| lever | a |\n|---|---|\n| lr | 1 |\n\nCommands:\n\n- x\n\n"
        "## Levers on how synthetic images are used (n100)\n\n| lever | b |\n|---|---|\n| soft | 2 |\n\n"
        "## GAN training length\n\n| updates | cas |\n|---|---|\n| 3000 | 60 |\n")
    text = "\n".join(readme_results.ablation_section())
    assert "| lr | 1 |" in text and "| soft | 2 |" in text and "**Levers on how synthetic images are used (n100)**" in text
    assert "| 3000 | 60 |" not in text and "- x" not in text and "\n\n\n" not in text

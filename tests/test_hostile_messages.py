"""Messages, not tracebacks (issue 42, item 14): each case a user or a hostile file can cause."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from ganaug import ConfigError, SyntheticBank, SyntheticMix, export_generator, load_recipe
from ganaug.cli.messages import INTERRUPTED, user_errors
from ganaug.data import ImageArrayDataset
from ganaug.gan.nets import Generator
from ganaug.mix.recipe import RecipeError

NAMES = [str(k) for k in range(10)]


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    torch.manual_seed(0)
    return export_generator(Generator(10, 8, 1, z_dim=16, width=8), tmp_path_factory.mktemp("g") / "gen")


def test_ctrl_c_is_a_line_saying_how_to_go_on_not_a_traceback(capsys):
    # ganaug-tune printed a raw KeyboardInterrupt traceback.
    @user_errors("ganaug-tune", output="out_dir=...")
    def task():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as e:
        task()
    assert e.value.code == INTERRUPTED
    assert "ganaug-tune: interrupted; what finished is stored: rerun the same command" in capsys.readouterr().err


def test_ganaug_sample_names_its_own_output_setting_on_a_permission_error(gen, tmp_path):
    if hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0:
        pytest.skip("root writes to read-only directories")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    r = subprocess.run([sys.executable, "-m", "ganaug.cli.sample", f"generator={gen}", f"out={ro / 'x'}",
                        f"hydra.run.dir={tmp_path / 'h'}"], capture_output=True, text=True)
    assert "out=... or bank.path=..." in r.stderr and "run_name" not in r.stderr


def test_the_permission_hint_is_the_commands_own(capsys):
    @user_errors("ganaug-sample", output="out=... or bank.path=...")
    def task():
        raise PermissionError(13, "Permission denied", "/srv/x")

    with pytest.raises(SystemExit):
        task()
    err = capsys.readouterr().err
    assert "(out=... or bank.path=...)" in err and "run_name" not in err


def test_a_recipe_with_a_huge_synthetic_weight_is_refused(gen, tmp_path):
    # 1.0e+308 loaded, then the loss overflowed at its first batch.
    bank = SyntheticBank.generate(gen, 40, tmp_path / "bank", seed=0, class_policy="uniform")
    (tmp_path / "r.yaml").write_text(f"source: {bank.path}\nratio: 0.25\nsynthetic_weight: 1.0e+308\n")
    with pytest.raises(RecipeError, match=r"synthetic_weight must be a number in \[0, 1000\]"):
        load_recipe(tmp_path / "r.yaml")
    from ganaug import SyntheticAwareLoss

    with pytest.raises(ConfigError, match=r"synthetic_weight must lie in \[0, 1000\]"):
        SyntheticAwareLoss(synthetic_weight=1e308)


def test_a_recipe_with_refresh_says_what_a_recipe_user_can_do(gen, tmp_path):
    bank = SyntheticBank.generate(gen, 40, tmp_path / "bank", seed=0, class_policy="uniform")
    (tmp_path / "r.yaml").write_text(f"source: {bank.path}\nratio: 0.25\nrefresh: 0.5\n")
    recipe = load_recipe(tmp_path / "r.yaml")
    real = ImageArrayDataset(np.zeros((20, 8, 8, 1), np.uint8), np.arange(20) % 10, NAMES)
    with pytest.raises(RecipeError, match=r"recipe.wrap\(train_set, source=ganaug.SyntheticBank.open\(recipe.source, "
                                          r"generator=.*or set refresh: null"):
        recipe.wrap(real)
    mix = recipe.wrap(real, source=SyntheticBank.open(bank.path, generator=gen))  # the way it names works
    assert mix.n_syn > 0


def test_a_ratio_that_rounds_to_no_synthetic_item_warns(gen):
    real = ImageArrayDataset(np.zeros((4, 8, 8, 1), np.uint8), np.arange(4), NAMES[:4])
    gen = SyntheticBank.from_arrays(np.zeros((8, 8, 8, 1), np.uint8), np.arange(8) % 4, NAMES[:4])
    with pytest.warns(UserWarning, match=r"ratio=0.1 of 4 real items rounds to 0 synthetic items"):
        mix = SyntheticMix(real, gen, 0.1, class_policy="uniform")
    assert mix.n_syn == 0


@pytest.mark.parametrize("ratio", [-0.25, float("nan"), 1.5, 0])
def test_a_bench_ratio_outside_0_to_0_95_is_refused_like_one_above(ratio):
    # -0.25 was taken: its "syn-0.25" conditions ran as real only (ratio > 0 is false) under a synthetic name.
    from omegaconf import OmegaConf

    from ganaug.bench.conditions import conditions_for

    bench = OmegaConf.create({"ratios": [0.25, ratio], "filter_options": [False],
                              "classical_synthetic_filter_options": [False]})
    with pytest.raises(ConfigError, match=r"bench.ratios must lie in \(0, 0.95\]") as e:
        conditions_for(bench)
    assert repr(ratio) in str(e.value)


def _main(module, argv, monkeypatch, capsys, tmp_path):
    import importlib

    monkeypatch.setattr(sys, "argv", [*argv, f"hydra.run.dir={tmp_path / 'hydra'}"])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        importlib.import_module(module).main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err, err[-3000:]
    return err


def test_ganaug_bench_refuses_a_negative_ratio_in_one_line(monkeypatch, capsys, tmp_path):
    err = _main("ganaug.bench.runner", ["ganaug-bench", "bench=ci", "progress=false", "bench.ratios=[-0.25]",
                                        f"bench.out_dir={tmp_path / 'bench'}"], monkeypatch, capsys, tmp_path)
    assert "ganaug-bench: error: bench.ratios must lie in (0, 0.95]" in err
    assert not (tmp_path / "bench" / "units").exists()


def test_ganaug_tune_names_a_generator_json_whose_data_split_is_no_mapping(gen, monkeypatch, capsys, tmp_path):
    # AttributeError: 'str' object has no attribute 'get', a traceback, before.
    import json
    import shutil

    shutil.copytree(gen, tmp_path / "gen")
    meta = json.loads((tmp_path / "gen" / "generator.json").read_text())
    (tmp_path / "gen" / "generator.json").write_text(json.dumps({**meta, "data_split": "n100"}))
    err = _main("ganaug.cli.tune", ["ganaug-tune", "data=digits", "data.val_fraction=0.2",
                                    f"generators=[{tmp_path / 'gen'}]", f"out_dir={tmp_path / 'tune'}",
                                    "progress=false", "tune.seeds=[0]", "tune.steps=5"], monkeypatch, capsys, tmp_path)
    line = next(x for x in err.splitlines() if x.startswith("ganaug-tune: error:"))
    assert "generator.json: data_split must be a mapping" in line and "re-export" in line


def test_a_file_this_user_may_not_read_is_not_told_to_choose_a_place_to_write(tmp_path):
    # The CLI probe: an unreadable generator.json or checkpoint was answered "choose a location you can write to".
    from ganaug.cli.messages import user_message

    existing = tmp_path / "generator.json"
    existing.write_text("{}")
    read = user_message(PermissionError(13, "Permission denied", str(existing)), output="out=...")
    assert read == f"{existing}: Permission denied; this user may not read it: fix its permissions, or give another file"
    write = user_message(PermissionError(13, "Permission denied", str(tmp_path / "new" / "x")), output="out=...")
    assert write.endswith("choose a location you can write to (out=...) or fix its permissions")


def test_a_setting_the_command_line_deleted_is_named_not_a_traceback(gen, tmp_path):
    # `~bank.calibration_fraction` (or `~bench.synthetic_weight`) deletes a key the command reads: Hydra accepts
    # it, and the read raised omegaconf's ConfigAttributeError with a traceback.
    r = subprocess.run([sys.executable, "-m", "ganaug.cli.sample", f"generator={gen}", f"out={tmp_path / 'x'}",
                        "bank.enabled=true", "bank.filter_threshold=0.9", "bank.filter_class_quantile=0.5",
                        "~bank.calibration_fraction", f"hydra.run.dir={tmp_path / 'h'}"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert ("ganaug-sample: error: bank.calibration_fraction is needed, but the command line deleted it "
            "(~bank.calibration_fraction)") in r.stderr
    assert not (tmp_path / "x").exists()


def test_a_missing_key_the_command_line_did_not_delete_keeps_its_traceback(capsys):
    # Reading a key no config has is a bug in ganaug, not the user's: it is not dressed up as their error.
    from omegaconf import OmegaConf

    @user_errors("ganaug-sample")
    def task():
        cfg = OmegaConf.create({"bank": {}})
        OmegaConf.set_struct(cfg, True)
        return cfg.bank.calibration_fraction

    with pytest.raises(Exception, match="calibration_fraction"):
        task()

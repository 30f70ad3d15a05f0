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

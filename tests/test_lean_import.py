"""`import ganaug` stays lean: the core (mix, bank, export, recipe, ...) loads without Hydra, omegaconf,
Lightning or the tune/bench machinery, while every public name is still importable from the package."""

import os
import subprocess
import sys

import ganaug

HEAVY = ("hydra", "omegaconf", "pytorch_lightning", "lightning", "ganaug.bench", "ganaug.eval.tune")

# Core modules a user of SyntheticMix / load_generator / load_recipe may import directly.
CORE = ("mix.dataset", "mix.checks", "mix.loaders", "mix.samplers", "mix.bank", "gan.artifact", "base.pixels",
        "gan.sampling", "mix.recipe", "classify.loss", "mix.filter", "classify.classifier", "mix.class_policy",
        "gan.nets", "gan.diffaug", "base.rng", "errors", "data.arrays", "data.digits", "data.fashion_mnist", "data.idx",
        "data.image_folder", "data.registry", "data.subsets")


def _run(code: str) -> str:
    """Run ``code`` in a fresh interpreter (this one has Hydra & co. loaded by conftest); return its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def test_core_names_do_not_import_hydra_lightning_tune_or_bench():
    code = ("import ganaug, sys; ganaug.SyntheticMix; ganaug.load_generator; ganaug.load_recipe; ganaug.SyntheticBank; "
            "print(sorted(m for m in sys.modules if m.startswith(%r)))" % (HEAVY,))
    assert _run(code) == "[]"


def test_core_modules_and_data_readers_are_lean():
    code = (
        "import importlib, sys\n"
        "import ganaug\n"
        "for name in ganaug.__all__:\n"
        "    if name not in ('ConditionalGAN', 'TuneResult', 'TuneSettings', 'tune_mix'):\n"
        "        getattr(ganaug, name)\n"
        "for m in %r:\n"
        "    importlib.import_module('ganaug.' + m)\n"
        "from ganaug.data import ImageArrayDataset, load_digits, load_dataset, train_val_split\n"
        "print(sorted(m for m in sys.modules if m.startswith(%r + ('ganaug.gan.module', 'ganaug.gan.train', "
        "'ganaug.gan.callbacks', 'ganaug.data.datamodule'))))\n" % (CORE, HEAVY)
    )
    assert _run(code) == "[]"


def test_heavy_public_names_are_still_the_real_ones():
    code = (
        "import sys\n"
        "from ganaug import ConditionalGAN, tune_mix, TuneResult, Recipe, load_recipe, mix_datamodule\n"
        "from ganaug import *\n"
        "import ganaug, ganaug.gan.module, ganaug.eval.tune, ganaug.mix.recipe, ganaug.mix.loaders\n"
        "import pytorch_lightning as pl\n"
        "from hydra.utils import get_class, get_method\n"
        "from ganaug.data import GANDataModule\n"
        "import ganaug.data.datamodule\n"
        "assert ConditionalGAN is ganaug.gan.module.ConditionalGAN and issubclass(ConditionalGAN, pl.LightningModule)\n"
        "assert tune_mix is ganaug.eval.tune.tune_mix and TuneResult is ganaug.eval.tune.TuneResult\n"
        "assert Recipe is ganaug.mix.recipe.Recipe and load_recipe is ganaug.mix.recipe.load_recipe\n"
        "assert mix_datamodule is ganaug.mix.loaders.mix_datamodule\n"
        "assert GANDataModule is ganaug.data.datamodule.GANDataModule\n"
        "assert all(name in globals() for name in ganaug.__all__)\n"
        "assert get_class('ganaug.ConditionalGAN') is ConditionalGAN\n"  # the Hydra _target_ in conf/gan
        "assert get_class('ganaug.SyntheticMix') is ganaug.SyntheticMix\n"
        "assert get_class('ganaug.data.GANDataModule') is GANDataModule\n"
        "assert get_method('ganaug.data.load_digits') is ganaug.data.load_digits\n"
        "print('ok')\n"
    )
    assert _run(code) == "ok"


def test_dir_lists_every_public_name():
    import ganaug.data

    assert set(ganaug.__all__) <= set(dir(ganaug))
    assert set(ganaug.data.__all__) <= set(dir(ganaug.data))
    assert "__version__" in dir(ganaug)
    for package in (ganaug, ganaug.data):
        for name in package.__all__:
            assert getattr(package, name) is not None
        try:
            package.no_such_name
        except AttributeError as e:
            assert "no_such_name" in str(e)
        else:
            raise AssertionError(f"{package.__name__}.no_such_name did not raise AttributeError")


def test_importing_ganaug_turns_off_albumentations_network_check(monkeypatch):
    # albumentations asks PyPI for its version on import unless told not to; offline CI and cluster
    # workers must not wait on that. A user's own setting stays.
    code = "import os, ganaug, albumentations; print(os.environ['NO_ALBUMENTATIONS_UPDATE'])"
    monkeypatch.delenv("NO_ALBUMENTATIONS_UPDATE", raising=False)
    assert _run(code) == "1"
    monkeypatch.setenv("NO_ALBUMENTATIONS_UPDATE", "0")
    assert _run(code) == "0"

"""Config groups are checked against their schema when the config is composed, before any data is read."""

import dataclasses
import inspect
import sys

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from ganaug.base.config_schema import SCHEMAS, GANConfig
from ganaug.gan.module import ConditionalGAN

DATA_GIVEN = {"self", "num_classes", "image_size", "channels", "class_names"}


def _compose(name, overrides):
    with initialize_config_module(config_module="ganaug.conf", version_base="1.3"):
        return compose(name, overrides=overrides)


def test_the_gan_schema_is_conditional_gans_signature():
    params = {k: p.default for k, p in inspect.signature(ConditionalGAN.__init__).parameters.items()
              if k not in DATA_GIVEN}
    fields = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
              for f in dataclasses.fields(GANConfig) if f.name != "_target_"}
    assert fields.keys() == params.keys()
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()} == fields


def test_the_gan_group_s_values_are_the_schema_s_defaults():
    # conf/gan/default.yaml states each value for its readers; ConditionalGAN() in Python must train the same GAN.
    composed = OmegaConf.to_container(_compose("train", []).gan)
    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(GANConfig)}
    differ = {k: (v, composed.get(k)) for k, v in defaults.items() if (list(v) if isinstance(v, tuple) else v)
              != composed.get(k)}
    assert composed.keys() == defaults.keys() and not differ, differ


def test_every_gan_config_lists_its_schema():
    cfg = _compose("train", [])
    assert OmegaConf.get_type(cfg.gan) is GANConfig
    assert {g for g, _, _ in SCHEMAS} == {"gan"}


@pytest.mark.parametrize("config", ["train", "bench"])
@pytest.mark.parametrize("override,message", [
    ("gan.max_steps=6k", "could not be converted to Integer"),
    ("gan.d_width=1.5", "could not be converted to Integer"),
    ("gan.dwidth=32", "Key 'dwidth' not in 'GANConfig'"),
    ("gan.betas=fast", "Invalid value assigned"),
])
def test_a_badly_typed_or_unknown_gan_setting_fails_when_composed(config, override, message):
    if config == "bench":
        override = "train." + override
    with pytest.raises(ConfigCompositionException) as e:
        _compose(config, [override])
    assert message in str(e.value.__cause__ or e.value)


def test_ganaug_train_prints_the_schema_error_as_a_message(monkeypatch, capsys, tmp_path):
    from ganaug.cli.train import main

    monkeypatch.setattr(sys, "argv", ["ganaug-train", "gan.max_steps=6k", f"hydra.run.dir={tmp_path}"])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code != 0
    assert "gan.max_steps" in err and "Traceback" not in err

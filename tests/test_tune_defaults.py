"""`ganaug.tune_mix(...)` and `ganaug-tune` decide with the same settings when a user sets none (issue 45: the
Python API once left confidence weights and split batch norm off while the command turned them on). Both take
`TuneSettings`: the command builds it from conf/tune.yaml's `tune` group, which must hold its keys and defaults."""

import dataclasses
import inspect

import pytest

from ganaug import TuneSettings, tune_mix
from ganaug.eval.tune import TuneError


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def test_the_command_s_tune_group_is_tune_settings_key_for_key_and_default_for_default(compose_cfg):
    from omegaconf import OmegaConf

    cli = OmegaConf.to_container(compose_cfg("tune", ["generators=[g]"]).tune, resolve=True)
    python = {f.name: f.default for f in dataclasses.fields(TuneSettings)}
    assert set(cli) == set(python), (sorted(set(cli) - set(python)), sorted(set(python) - set(cli)))
    differ = {k: (python[k], v) for k, v in cli.items() if _plain(python[k]) != _plain(v)}
    assert not differ, f"TuneSettings default vs conf/tune.yaml: {differ}"
    assert TuneSettings.from_config(compose_cfg("tune", ["generators=[g]"]).tune) == TuneSettings(
        **{k: v for k, v in cli.items()})


def test_tune_mix_takes_one_settings_object_and_at_most_eight_parameters():
    params = inspect.signature(tune_mix).parameters
    assert len(params) <= 8, list(params)
    assert params["settings"].default is None  # None: TuneSettings()'s defaults, the command's
    with pytest.raises(TuneError, match=r"unknown tune setting\(s\) \['ratio'\]; known: .*'ratios'"):
        TuneSettings.from_config({"ratio": 0.5})

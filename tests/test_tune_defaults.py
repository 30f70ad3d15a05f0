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


def test_the_tune_the_bench_and_the_engine_share_one_set_of_classifier_and_bank_defaults(compose_cfg):
    # TuneSettings and bench/fashion_mnist.yaml each state the engine's classifier and bank defaults: a value
    # changed in one place only would make the tune measure another run than the benchmark it cites.
    from omegaconf import OmegaConf

    from ganaug.eval.engine import BankSettings, ClassifierSettings

    engine = {f.name: f.default for f in dataclasses.fields(ClassifierSettings)}
    tune = {f.name: f.default for f in dataclasses.fields(TuneSettings)}
    bench = compose_cfg("bench", [])
    assert {k: tune[k] for k in engine} == engine
    classifier = OmegaConf.to_container(bench.bench.classifier)
    assert {k: engine[k] for k in classifier} == classifier
    assert set(engine) - set(classifier) == {"model"}  # the user's own network: the tune's, not the benchmark's
    assert tune["bank_size"] == bench.bench.bank_size == BankSettings().size

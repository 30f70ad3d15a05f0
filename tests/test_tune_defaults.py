"""`ganaug.tune_mix(...)` and `ganaug-tune` decide with the same settings when a user sets none (issue 45: the
Python API once left confidence weights and split batch norm off while the command turned them on)."""

import inspect

from ganaug import tune_mix


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def test_every_setting_of_the_command_has_the_python_default(compose_cfg):
    from omegaconf import OmegaConf

    cli = OmegaConf.to_container(compose_cfg("tune", ["generators=[g]"]).tune, resolve=True)
    params = inspect.signature(tune_mix).parameters
    assert set(cli) <= set(params), sorted(set(cli) - set(params))
    differ = {k: (params[k].default, v) for k, v in cli.items() if _plain(params[k].default) != _plain(v)}
    assert not differ, f"tune_mix default vs conf/tune.yaml: {differ}"

import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

REPO = Path(__file__).resolve().parents[1]

# Small networks and frequent checkpoints keep end-to-end runs to seconds on 2 CPU cores.
FAST = [
    "data=digits",
    "gan.g_width=8",
    "gan.d_width=8",
    "gan.z_dim=16",
    "gan.max_steps=20",
    "gan.ema_start=5",
    "callbacks.sample_grid.every_n_steps=10",
    "callbacks.checkpoint.every_n_steps=10",
    "trainer.enable_progress_bar=false",
]


@pytest.fixture
def compose_cfg():
    def _compose(config_name="train", overrides=()):
        with initialize_config_module("ganaug.conf", version_base="1.3"):
            return compose(config_name, overrides=list(overrides))

    return _compose


@pytest.fixture
def fast():
    return list(FAST)


@pytest.fixture
def repo():
    return REPO


@pytest.fixture
def python():
    return sys.executable

import os
import sys
from pathlib import Path

# The suite's networks are tiny: a second thread buys little and doubles the contention when CI
# runs the toy benchmark on the other core. Set before torch is imported; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_module  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

REPO = Path(__file__).resolve().parents[1]


def pytest_xdist_auto_num_workers(config):
    # "-n auto" (pyproject's addopts): one worker per core, at most 4, each a torch import of its own.
    return max(1, min(4, len(os.sched_getaffinity(0))))

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


@pytest.fixture(scope="module")
def one_thread():
    # The test machine's cores are shared; two intra-op threads fighting other jobs run tiny
    # convolutions ~10x slower than one.
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture(scope="session")
def digits_shuffled():
    """All 1,797 sklearn digits as uint8 N×8×8×1 with int64 labels, in a fixed shuffled order."""
    import numpy as np

    from ganaug.data import load_digits

    ds = load_digits("all")
    perm = np.random.default_rng(0).permutation(len(ds))
    return ds.images[perm], ds.labels[perm]

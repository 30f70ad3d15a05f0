import pytest

# bench=ci shrunk further: the test checks the pipeline, not the numbers.
TINY = [
    "bench=ci", "progress=false", "train.gan.max_steps=40", "train.gan.g_width=8", "train.gan.d_width=8",
    "bench.classifier.steps=20", "bench.ratios=[0.5]", "bench.bank_size=100", "bench.metrics_samples=60",
    "bench.kid_subset=20", "bench.filter_threshold=0.0", "bench.regimes.n30.gan_seeds=[0]",
    "~bench.regimes.longtail",
]


@pytest.fixture
def tiny():
    return list(TINY)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The toy benchmark in this process, one thread per unit (as Ray gives each task one CPU), run once for
    the tests of a module that compare another executor with it (mark them with one xdist group):
    (its directory, its result, its overrides)."""
    from hydra import compose, initialize_config_module

    from ganaug.bench.runner import run_benchmark

    overrides = TINY + ["threads=1", "bench.classifier_seeds=[0]"]
    out = tmp_path_factory.mktemp("local")
    with initialize_config_module("ganaug.conf", version_base="1.3"):
        cfg = compose("bench", overrides + [f"bench.out_dir={out}"])
    return out, run_benchmark(cfg), overrides

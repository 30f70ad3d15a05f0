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

"""SyntheticMix under uses its happy-path tests do not try: unshuffled loaders, extreme settings."""

import signal
import time
import tracemalloc
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ganaug import GanaugError, Generator, SyntheticBank, SyntheticMix
from ganaug.data import ImageArrayDataset
from ganaug.gan.sampling import TrainedGenerator, sample_noise

NAMES = [str(k) for k in range(10)]


def _real(n: int) -> ImageArrayDataset:
    # Each image carries its index in two pixels, so a loader's real items can be traced back.
    images = np.full((n, 8, 8, 1), 7, dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(n) % 256
    images[:, 0, 1, 0] = np.arange(n) // 256
    return ImageArrayDataset(images, np.arange(n) % 10, NAMES)


def _index_of(image) -> int:
    image = np.asarray(image)
    return int(image[0, 0, 0]) + 256 * int(image[0, 1, 0])


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    return TrainedGenerator(Generator(10, 8, 1, z_dim=16, width=8), NAMES)


@pytest.fixture(scope="module")
def bank(gen):
    return SyntheticBank.generate(gen, 1000, seed=0, progress=False)


@contextmanager
def _deadline(seconds: float):
    """Turns a hang into a failure: the defects below used to loop for hours."""

    def fail(*_):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, fail)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------ unshuffled DataLoader


@pytest.mark.parametrize("n_real", [300, 997])
@pytest.mark.parametrize("ratio", [0.25, 0.5])
@pytest.mark.parametrize("batch_size", [16, 64, 100])
def test_unshuffled_loader_gives_the_ratio_in_every_batch(bank, n_real, ratio, batch_size):
    # The official PyTorch MNIST example iterates its training set with shuffle=False.
    mix = SyntheticMix(_real(n_real), bank, ratio, return_flag=True)
    batches = list(DataLoader(mix, batch_size=batch_size, shuffle=False))
    shares = [int(flags.sum()) for _, _, flags in batches]
    for k, (xs, _, _) in zip(shares, batches):
        # Within rounding of the ratio the mix really has (n_syn is a whole number).
        assert abs(k - len(xs) * mix.n_syn / len(mix)) < 1, shares
        if n_real == 300:  # n_syn / len(mix) is exactly the ratio here
            assert abs(k - len(xs) * ratio) <= 1, shares
    real_seen = [_index_of(x) for xs, _, flags in batches for x, f in zip(xs, flags) if not f]
    assert real_seen == list(range(n_real))
    assert sum(shares) == mix.n_syn
    flags = np.concatenate([f.numpy() for _, _, f in batches])
    assert flags.tolist() == [mix.is_synthetic(i) for i in range(len(mix))]


def test_unshuffled_loader_serves_each_synthetic_slot_once(bank):
    mix = SyntheticMix(_real(300), bank, 0.5, return_flag=True, class_policy="uniform")
    batches = list(DataLoader(mix, batch_size=64, shuffle=False, num_workers=2))
    syn = [x.numpy().tobytes() for xs, _, fs in batches for x, f in zip(xs, fs) if f]
    labels = [int(y) for _, ys, fs in batches for y, f in zip(ys, fs) if f]
    assert len(syn) == len(set(syn)) == mix.n_syn
    assert labels == mix.synthetic_labels().tolist()


# ------------------------------------------------------------------------ unbounded sizes


@pytest.mark.parametrize("ratio", [0.999999, 0.96])
def test_extreme_ratio_fails_fast_without_allocating(bank, ratio):
    real = _real(1350)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with _deadline(5), pytest.raises(GanaugError) as err:
            SyntheticMix(real, bank, ratio)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(err.value, ValueError)
    msg = str(err.value)
    assert f"ratio={ratio}" in msg and "0.95" in msg
    assert f"{round(1350 * ratio / (1 - ratio)):,}" in msg  # the count it would mean
    assert elapsed < 0.5 and peak < 20e6


def test_largest_allowed_ratio_still_works(bank):
    mix = SyntheticMix(_real(50), bank, 0.95)
    assert mix.n_syn == 950 and len(mix) == 1000


def test_tiny_truncation_is_refused_not_a_hang(gen):
    with _deadline(5):
        with pytest.raises(GanaugError, match=r"truncation must be >= 0\.02.*got 1e-06"):
            sample_noise(0, 64, 16, truncation=1e-6)
        with pytest.raises(GanaugError, match=r"truncation must be .*got 1e-06"):
            gen.sample(n_per_class=2, truncation=1e-6)
        # SyntheticMix refuses at construction, not at the first item a worker fetches.
        with pytest.raises(GanaugError, match=r"truncation must be .*got 1e-06"):
            SyntheticMix(_real(100), gen, 0.5, truncation=1e-6)
        with pytest.raises(ValueError, match="truncation"):
            sample_noise(0, 4, 16, truncation=float("nan"))


def test_sampling_more_labels_than_memory_holds_is_refused_before_allocating(gen):
    # n_per_class was checked against free memory, a list of labels not: 10**9 labels (1 GB as int8) asked for
    # tens of GB of noise and images and the OOM killer ended the process; 10**12 gave numpy's MemoryError.
    labels = np.broadcast_to(np.int8(0), (10**12,))  # a view: no memory of its own
    tracemalloc.start()
    try:
        with pytest.raises(GanaugError, match=r"len\(labels\)=1,000,000,000,000 needs .* of memory"):
            gen.sample(labels=labels)
        assert tracemalloc.get_traced_memory()[1] < 50 << 20
    finally:
        tracemalloc.stop()


def test_sampling_labels_of_another_shape_is_refused(gen):
    # Before: any shape was flattened, so a (2, 3) array meant for two rows of three made six images without a word.
    with pytest.raises(GanaugError, match=r"labels must be one class index per item.*shape \(2, 3\)"):
        gen.sample(labels=np.zeros((2, 3), np.int64))
    images, labels = gen.sample(labels=np.array([[0], [1]]))  # a column, and a single label, are taken
    assert labels.tolist() == [0, 1] and len(images) == 2
    assert gen.sample(labels=1)[1].tolist() == [1]


def test_generator_batch_size_zero_is_named(gen):
    with pytest.raises(GanaugError, match="batch_size must be a positive integer"):
        gen.sample(n_per_class=2, batch_size=0)


@pytest.mark.parametrize("seed", [-1, 1.7, True, "0"])
def test_a_seed_that_is_not_a_non_negative_integer_is_refused(gen, tmp_path, seed):
    # sample(seed=1.7) drew seed 1's images; a bank of seed -1 was written whole, then refused on open
    # (its bank.json says seed -1) and had to be made again.
    with pytest.raises(GanaugError, match=r"seed must be a non-negative integer, got"):
        gen.sample(n_per_class=1, seed=seed)
    with pytest.raises(GanaugError, match=r"seed must be a non-negative integer, got"):
        SyntheticBank.generate(gen, 10, tmp_path / "bank", seed=seed, progress=False)
    assert not (tmp_path / "bank").exists()
    with pytest.raises(GanaugError, match=r"seed must be a non-negative integer, got"):
        SyntheticMix(_real(20), gen, 0.5, seed=seed)


@pytest.mark.parametrize("chunk_size", [2.5, "4", None, 0])
def test_a_chunk_size_that_is_not_a_positive_integer_is_refused(gen, chunk_size):
    # 2.5 was cut to 2 and "4" read as 4 without a word; None gave int()'s TypeError.
    with pytest.raises(GanaugError, match=r"chunk_size must be a positive integer.*got"):
        SyntheticMix(_real(20), gen, 0.5, chunk_size=chunk_size)


def test_an_epoch_past_int64_is_refused_before_the_source_moves_to_it(gen):
    # 2**70 met Python's OverflowError inside the bank's refresh (or, without one, storing the shared epoch).
    bank = SyntheticBank.generate(gen, 20, seed=0, progress=False)
    mix = SyntheticMix(_real(20), bank, 0.5, refresh=1.0)
    before = bank.images.copy()
    with pytest.raises(GanaugError, match=rf"epoch must be a non-negative integer below 2\*\*63, got {2**70}"):
        mix.set_epoch(2**70)
    assert np.array_equal(bank.images, before) and mix.epoch == 0
    mix.set_epoch(2**63 - 1)  # the largest: the bank refreshes to that round
    assert mix.epoch == 2**63 - 1 and not np.array_equal(bank.images, before) and len(mix[len(mix) - 1]) == 2


def test_true_false_arguments_refuse_strings(bank):
    # "no" and "false" are true: drop_last="no" dropped the last batch, shuffle="false" shuffled.
    from ganaug import MixedBatchSampler, SyntheticMixSampler, mix_dataloader

    mix = SyntheticMix(_real(40), bank, 0.5)
    with pytest.raises(ValueError, match=r"drop_last must be true or false, got 'no'"):
        MixedBatchSampler(mix, 8, drop_last="no")
    with pytest.raises(ValueError, match=r"shuffle must be true or false, got 'false'"):
        SyntheticMixSampler(mix, shuffle="false")
    with pytest.raises(ValueError, match=r"return_flag must be true or false, got 'no'"):
        SyntheticMix(_real(40), bank, 0.5, return_flag="no")
    with pytest.raises(ValueError, match=r"exact must be true or false, got 1"):
        mix_dataloader(DataLoader(_real(40), batch_size=8), bank, 0.5, exact=1)
    assert not SyntheticMixSampler(mix, shuffle=np.bool_(False)).shuffle


def test_tiny_truncation_is_refused_for_banks_too(gen, tmp_path):
    # Banks draw their noise from counters (ganaug.base.rng), a second rejection loop.
    with _deadline(5):
        with pytest.raises(GanaugError, match=r"truncation must be >= 0\.02.*got 1e-06"):
            SyntheticBank.generate(gen, 100, tmp_path / "bank", truncation=1e-6, progress=False)
    assert not (tmp_path / "bank" / "images.npy").exists()


@pytest.mark.parametrize("truncation", [1e-6, "0.5"])
def test_a_bad_truncation_leaves_the_bank_already_there_whole(gen, tmp_path, truncation):
    # generate() removed bank.json of the bank at its path first, then met the truncation at its first batch: the
    # refused call left a bank that no longer opened ("0.5" gave numpy's "could not convert string to float").
    SyntheticBank.generate(gen, 20, tmp_path / "bank", seed=0, progress=False)
    with _deadline(5), pytest.raises(GanaugError, match=r"truncation must be"):
        SyntheticBank.generate(gen, 20, tmp_path / "bank", seed=1, truncation=truncation, progress=False)
    assert len(SyntheticBank.open(tmp_path / "bank")) == 20


def test_overwrite_given_as_a_string_is_refused_not_taken_for_true(gen, tmp_path):
    # overwrite="false" is a true value: it replaced the bank it was meant to keep.
    first = SyntheticBank.generate(gen, 20, tmp_path / "bank", seed=0, progress=False)
    digest = first.meta["digest"]
    with pytest.raises(GanaugError, match=r"overwrite must be true or false, got 'false'"):
        SyntheticBank.generate(gen, 20, tmp_path / "bank", seed=1, overwrite="false", progress=False)
    assert SyntheticBank.open(tmp_path / "bank").meta["digest"] == digest


def test_smallest_allowed_truncation_is_quick_and_truncates(gen):
    with _deadline(10):
        z = sample_noise(0, 1000, 128, truncation=0.02)
        assert abs(z).max() <= 0.02
        mix = SyntheticMix(_real(100), gen, 0.5, truncation=0.02, class_policy="uniform")
        assert len(mix.__getitems__(list(range(len(mix))))) == 200


class _OneBased(torch.utils.data.Dataset):
    """Labels 1..10, as some datasets number classes: no labels attribute to read them from."""

    def __init__(self, first_label: int, attribute: bool):
        self.images = _real(40).images
        self.first_label = first_label
        if attribute:
            self.targets = [first_label + i % 10 for i in range(40)]

    def __len__(self):
        return 40

    def __getitem__(self, i):
        return self.images[i], self.first_label + i % 10


@pytest.mark.parametrize("attribute", [True, False])
@pytest.mark.parametrize("policy", ["uniform", [1.0] * 10])
def test_real_labels_outside_the_banks_classes_are_refused_whatever_the_policy(bank, attribute, policy):
    # With a policy that needs no class counts the labels went unread: one-based labels mixed with the bank's
    # zero-based ones, and class 0 was synthetic only.
    first = 1 if attribute else 10  # the item-only check reads the first item: make that one out of range
    with pytest.raises(GanaugError, match=r"the real dataset has labels in \[.*\] but the bank knows 10 classes"):
        SyntheticMix(_OneBased(first, attribute), bank, 0.5, class_policy=policy)
    assert len(SyntheticMix(_OneBased(0, attribute), bank, 0.5, class_policy=policy)) == 80


def test_labels_are_one_per_item_in_a_row_or_a_column(gen, bank):
    # Any 2-d shape of the right size was flattened: a (20, 2) array for 40 items paired labels with other items.
    real, labels = _real(40), np.arange(40) % 10
    counts = np.bincount(labels, minlength=10)
    mix = SyntheticMix(real, bank, 0.5, real_labels=labels[:, None])  # an (N, 1) column: taken
    assert len(mix) == 80 and np.allclose(mix.probs, counts / 40)
    images = np.zeros((40, 8, 8, 1), np.uint8)
    assert SyntheticBank.from_arrays(images, labels[:, None]).labels.shape == (40,)
    for bad in (labels.reshape(20, 2), labels.reshape(2, 20), labels.reshape(40, 1, 1), np.int64(3)):
        shape = rf"got shape {bad.shape}".replace("(", r"\(").replace(")", r"\)")
        with pytest.raises(GanaugError, match=rf"real_labels must be one class index per item, of shape \(N,\) or "
                                              rf"\(N, 1\), {shape}"):
            SyntheticMix(real, bank, 0.5, real_labels=bad)
        with pytest.raises(GanaugError, match=rf"labels must be one class index per item, of shape .*{shape}"):
            SyntheticBank.from_arrays(images, bad)
        with pytest.raises(GanaugError, match=rf"real_labels must be one class index per item, of shape .*{shape}"):
            SyntheticBank.generate(gen, 10, class_policy="match", real_labels=bad, progress=False)


def test_a_mix_of_a_mix_is_refused(bank):
    # 'needs a dataset of (image, label) items; item 0 of SyntheticMix is a tuple of length 3' before, and with
    # return_flag=False it mixed: synthetic items counted as real, the two ratios compounded
    once = SyntheticMix(_real(40), bank, 0.5)
    for flag in (False, True):
        with pytest.raises(GanaugError, match=r"already a SyntheticMix: mix the real dataset once"):
            SyntheticMix(SyntheticMix(_real(40), bank, 0.5, return_flag=flag), bank, 0.5)
    assert len(once) == 80


# ------------------------------------------------------------------ a stray label


def test_a_stray_label_without_class_names_is_refused_naming_it():
    # labels [0, 1, 2, 10**6]: a bank of a million classes, a name built for each, accepted silently.
    with pytest.raises(GanaugError, match=r"1000000.*class_names") as e:
        SyntheticBank.from_arrays(np.zeros((4, 8, 8, 1), np.uint8), [0, 1, 2, 10**6])
    assert "4 distinct" in str(e.value)
    # Given class names say how many classes there are: a class without images is then no stray label.
    bank = SyntheticBank.from_arrays(np.zeros((3, 8, 8, 1), np.uint8), [0, 2, 2], ["a", "b", "c"])
    assert bank.class_counts().tolist() == [1, 0, 2]


def test_a_label_of_2_to_the_40_costs_no_memory_per_number_up_to_it(tmp_path):
    # A name for every number up to 2**40: the process grew until the kernel killed it. In a child held to 4 GiB.
    import subprocess
    import sys

    code = ("import resource\nresource.setrlimit(resource.RLIMIT_AS, (1 << 32, 1 << 32))\n"
            "import numpy as np\nfrom ganaug import SyntheticBank\nfrom ganaug.errors import ConfigError\n"
            "try:\n    SyntheticBank.from_arrays(np.zeros((4, 8, 8, 1), np.uint8), [0, 1, 2, 2**40])\n"
            "except ConfigError as e:\n    print('refused:', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("refused:") and str(2**40) in r.stdout


def test_a_dataset_labels_attribute_of_another_shape_is_named_as_itself(bank):
    # Before: a (N, 2) `labels` attribute was flattened to 2N labels and refused as "real_labels has 200 entries",
    # naming an argument the user never passed.
    class Pairs(torch.utils.data.Dataset):
        def __init__(self):
            self.real = _real(100)
            self.labels = np.stack([self.real.labels, self.real.labels], axis=1)

        def __len__(self):
            return len(self.real)

        def __getitem__(self, i):
            return self.real[i]

    with pytest.raises(GanaugError, match=r"Pairs\.labels must be one class index per item, of shape \(N,\) or "
                                          r"\(N, 1\), got shape \(100, 2\).*real_labels="):
        SyntheticMix(Pairs(), bank, 0.5)
    ds = Pairs()
    ds.labels = ds.labels[:, :1]  # a column is taken
    assert SyntheticMix(ds, bank, 0.5).n_real == 100

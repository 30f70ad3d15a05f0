import json
import os
import pickle
import time

import numpy as np
import pytest
import torch

from ganaug import (ArtifactError, ConfigError, GanaugError, Generator, QualityFilter, SyntheticBank, SyntheticMix,
                    export_generator)
from ganaug.data import ImageArrayDataset
from ganaug.mix.bank import IMAGES_FILE, LABELS_FILE, META_FILE
from ganaug.mix.class_policy import class_probabilities, quota, quota_labels
from ganaug.base.dir_lock import LOCK_FILE
from ganaug.base.rng import derive_key, normal
from ganaug.gan.sampling import TrainedGenerator

NAMES = [str(k) for k in range(10)]


@pytest.fixture(scope="session")
def gen():
    torch.manual_seed(0)
    return TrainedGenerator(Generator(10, 8, 1, z_dim=16, width=8), NAMES)


def test_a_bank_is_not_written_into_a_generator_artifact(gen, tmp_path):
    # beside generator.json a directory would be both, and SyntheticMix would take it for the bank
    artifact = export_generator(gen, tmp_path / "generator")
    with pytest.raises(GanaugError, match=r"holds a generator artifact \(generator.json\).*e.g. .*bank"):
        SyntheticBank.generate(gen, 20, artifact, progress=False)
    assert not (artifact / META_FILE).exists()


@pytest.fixture(scope="session")
def disk_bank(gen, tmp_path_factory):
    path = tmp_path_factory.mktemp("bank") / "bank"
    return SyntheticBank.generate(gen, 300, path, seed=1, batch_size=128, progress=False)


def _digit_filter(never=None):
    """A stand-in classifier: an image 'is' class (pixel sum mod 10), with probability 0.91."""

    def classify(images):
        k = images.reshape(len(images), -1).astype(np.int64).sum(1) % 10
        if never is not None:
            k = np.where(k == never, (never + 1) % 10, k)
        probs = np.full((len(images), 10), 0.01)
        probs[np.arange(len(images)), k] = 0.91
        return probs

    return classify


# ----------------------------------------------------------------------------------- rng


def test_counter_normal_is_per_row_and_standard():
    key = derive_key(3, 1)
    z = normal(key, np.arange(4000), 32)
    assert z.dtype == np.float32 and z.shape == (4000, 32)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert np.array_equal(normal(key, np.array([17, 5]), 32), z[[17, 5]])
    assert not np.array_equal(normal(derive_key(3, 2), np.arange(5), 32), z[:5])
    t = normal(key, np.arange(500), 32, truncation=0.5)
    assert np.abs(t).max() <= 0.5 and np.array_equal(normal(key, np.arange(500), 32, truncation=0.5), t)
    with pytest.raises(ValueError, match="truncation"):
        normal(key, np.arange(2), 4, truncation=0)


# -------------------------------------------------------------------------- class policy


def test_class_policies():
    counts = np.array([100, 50, 10])
    assert np.allclose(class_probabilities("match", 3, counts), counts / 160)
    assert np.allclose(class_probabilities("uniform", 3), 1 / 3)
    # Deficits to the largest class: 0, 50, 90.
    assert np.allclose(class_probabilities("balance", 3, counts, n_new=140), [0, 50 / 140, 90 / 140])
    # Beyond the deficits, the rest is spread evenly: no minority overtakes the majority.
    p = class_probabilities("balance", 3, counts, n_new=170)
    assert np.allclose(quota(p, 170) + counts, [110, 110, 110])
    assert np.allclose(class_probabilities("balance", 3, np.array([5, 5, 5]), n_new=9), 1 / 3)
    assert np.allclose(class_probabilities({"b": 3, 0: 1}, 3, class_names=["a", "b", "c"]), [0.25, 0.75, 0])
    assert np.allclose(class_probabilities([1, 1, 2], 3), [0.25, 0.25, 0.5])
    labels = quota_labels(np.array([0.5, 0.3, 0.2]), 11, np.random.default_rng(0))
    assert np.bincount(labels).tolist() == quota(np.array([0.5, 0.3, 0.2]), 11).tolist() and len(labels) == 11


@pytest.mark.parametrize(
    "policy, match",
    [("often", "unknown class_policy"), ([1, 2], "one per class"), ([1, -1, 1], "non-negative"),
     ({"z": 1}, "unknown class"), ([0, 0, 0], "positive sum")],
)
def test_class_policy_errors(policy, match):
    with pytest.raises(ValueError, match=match):
        class_probabilities(policy, 3, np.array([1, 2, 3]), class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="real_labels"):
        class_probabilities("balance", 3)


@pytest.mark.parametrize("policy", [{"a": "x"}, {0: None}, {"b": [1]}, ["x", 1, 1], [[1, 2], [3]]])
def test_class_policy_weights_that_are_not_numbers_are_named(policy):
    # float()'s "could not convert string to float: 'x'" and TypeError, naming no setting.
    with pytest.raises(GanaugError, match=r"class_policy weights must be numbers, got"):
        class_probabilities(policy, 3, np.array([1, 2, 3]), class_names=["a", "b", "c"])


# ---------------------------------------------------------------------------------- bank


def test_generate_in_memory_is_seeded_and_batch_independent(gen):
    a = SyntheticBank.generate(gen, 250, seed=3, batch_size=250, progress=False)
    b = SyntheticBank.generate(gen, 250, seed=3, batch_size=64, progress=False)
    c = SyntheticBank.generate(gen, 250, seed=4, progress=False)
    assert a.images.dtype == np.uint8 and a.images.shape == (250, 8, 8, 1) and a.path is None
    assert a.class_counts().tolist() == [25] * 10
    assert np.array_equal(a.labels, b.labels)
    # Same noise per row whatever the batch size; the forward may round one level apart.
    assert np.abs(a.images.astype(int) - b.images.astype(int)).max() <= 1
    assert not np.array_equal(a.images, c.images)


def test_generate_with_policy_and_real_labels(gen):
    real = np.repeat(np.arange(10), [50] * 9 + [5])
    bank = SyntheticBank.generate(gen, 45, class_policy="balance", real_labels=real, progress=False)
    assert bank.class_counts().tolist() == [0] * 9 + [45]
    with pytest.raises(ValueError, match="real_labels"):
        SyntheticBank.generate(gen, 10, class_policy="match", progress=False)
    with pytest.raises(ValueError, match="size"):
        SyntheticBank.generate(gen, 0, progress=False)


@pytest.mark.parametrize("labels", [np.arange(20) % 10 + 0.9, [True, False] * 10, ["3"] * 20])
def test_labels_that_are_not_class_indices_are_refused_not_cut(gen, labels):
    # 0.9 became class 0 and True class 1 without a word; "3" gave int()'s "invalid literal".
    images = np.zeros((20, 8, 8, 1), dtype=np.uint8)
    with pytest.raises(GanaugError, match=r"labels must be integer class indices, got (float64|bool|<U1)"):
        SyntheticBank.from_arrays(images, labels, NAMES)
    with pytest.raises(GanaugError, match=r"real_labels must be integer class indices, got (float64|bool|<U1)"):
        SyntheticBank.generate(gen, 10, class_policy="match", real_labels=labels, progress=False)
    whole = SyntheticBank.from_arrays(images, torch.arange(20) % 10, NAMES)  # integer tensors are indices
    assert whole.class_counts().tolist() == [2] * 10


def test_from_arrays_checks_its_class_names_like_a_generator(gen):
    # Duplicates were kept (a label given by name meant either class), a string was split into one class a letter,
    # and integer names stayed integers, so a mix refused the bank for names "differing" from '0'..'9'.
    images, labels = np.zeros((20, 8, 8, 1), dtype=np.uint8), np.arange(20) % 3
    with pytest.raises(GanaugError, match=r"class_names has duplicates \['a'\]"):
        SyntheticBank.from_arrays(images, labels, ["a", "a", "b"])
    with pytest.raises(GanaugError, match=r"class_names must be a list of names, got the string 'abc'"):
        SyntheticBank.from_arrays(images, labels, "abc")
    bank = SyntheticBank.from_arrays(images, np.arange(20) % 10, range(10))
    assert bank.class_names == NAMES
    SyntheticMix(ImageArrayDataset(images, np.arange(20) % 10, NAMES), bank, 0.5)  # the same classes


def test_from_arrays_takes_class_names_as_an_array():
    # class_name_list read `class_names or ()`, numpy's "truth value of an array ... is ambiguous" for names from
    # np.unique or a dataset's array, which from_arrays took before it checked its names as a generator's.
    images, labels = np.zeros((20, 8, 8, 1), dtype=np.uint8), np.arange(20) % 3
    for names in (np.array(["a", "b", "c"]), np.arange(3)):
        assert SyntheticBank.from_arrays(images, labels, names).class_names == [str(n) for n in names]
    with pytest.raises(GanaugError, match=r"class_names is empty"):
        SyntheticBank.from_arrays(images, labels, np.array([], dtype=str))


def _files(path):
    """The bank directory's files, without the lock its writer held (dir_lock; it holds no data)."""
    return sorted(p.name for p in path.iterdir() if p.name != LOCK_FILE)


def test_bank_on_disk_is_memory_mapped(disk_bank, gen):
    path = disk_bank.path
    assert _files(path) == sorted([IMAGES_FILE, LABELS_FILE, META_FILE])
    bank = SyntheticBank.open(path, expect_num_classes=10, expect_image_shape=(8, 8, 1), expect_class_names=NAMES)
    assert isinstance(bank.images, np.memmap) and not bank.images.flags.writeable
    assert np.array_equal(bank.images, disk_bank.images) and len(bank) == 300
    meta = json.loads((path / META_FILE).read_text())
    assert meta["image_shape"] == [8, 8, 1] and meta["seed"] == 1 and meta["class_counts"] == [30] * 10
    assert meta["generator"]["architecture"]["kwargs"]["z_dim"] == 16
    # Workers started with spawn get the files, not a pickled copy of the pool.
    clone = pickle.loads(pickle.dumps(bank))
    assert len(pickle.dumps(bank)) < 20_000 and np.array_equal(clone.images, bank.images)


def test_open_rejects_other_dataset_and_missing_bank(disk_bank, tmp_path):
    with pytest.raises(ArtifactError, match="10 classes, expected 3"):
        SyntheticBank.open(disk_bank.path, expect_num_classes=3)
    with pytest.raises(ArtifactError, match="shape"):
        SyntheticBank.open(disk_bank.path, expect_image_shape=(28, 28, 1))
    with pytest.raises(ArtifactError, match="bank.json not found"):
        SyntheticBank.open(tmp_path)
    (tmp_path / IMAGES_FILE).write_bytes(b"")
    with pytest.raises(ArtifactError, match="interrupted"):
        SyntheticBank.open(tmp_path)
    other = TrainedGenerator(Generator(3, 8, 1, z_dim=8, width=8), ["a", "b", "c"])
    with pytest.raises(ArtifactError, match="generator the bank was made with"):
        SyntheticBank.open(disk_bank.path, generator=other)


def test_generate_from_artifact_dir(gen, tmp_path):
    art = export_generator(gen, tmp_path / "gen")
    bank = SyntheticBank.generate(art, 20, tmp_path / "bank", progress=False)
    assert len(SyntheticBank.open(tmp_path / "bank")) == 20
    assert bank.meta["generator"]["weights_sha256"]
    with pytest.raises(FileExistsError, match="overwrite") as e:
        SyntheticBank.generate(art, 20, tmp_path / "bank", progress=False, overwrite=False)
    assert isinstance(e.value, GanaugError)  # a message from ganaug-sample, not a traceback


# -------------------------------------------------------------------------------- filter


def test_quality_filter_keeps_only_confident_images_and_reports(gen, tmp_path):
    classify = _digit_filter()
    qf = QualityFilter(classify, threshold=0.9)
    bank = SyntheticBank.generate(gen, 100, tmp_path / "b", filter=qf, batch_size=200, progress=False)
    sums = bank.images.reshape(100, -1).astype(np.int64).sum(1) % 10
    assert np.array_equal(sums, bank.labels)
    acc = bank.acceptance
    assert set(acc) == set(NAMES)
    for k, r in acc.items():
        assert r["accepted"] == 10 and r["proposed"] >= 10 and 0.02 < r["rate"] < 0.5
    assert json.loads((tmp_path / "b" / META_FILE).read_text())["filter"]["acceptance"] == acc


def test_calibrated_filter_thresholds_are_saved_with_the_bank(gen, tmp_path):
    qf = QualityFilter(_digit_filter(), threshold=0.9)
    qf.class_thresholds = np.linspace(0.1, 0.9, 10)
    bank = SyntheticBank.generate(gen, 50, tmp_path / "b", filter=qf, batch_size=200, progress=False)
    saved = json.loads((tmp_path / "b" / META_FILE).read_text())["filter"]["class_thresholds"]
    assert list(saved) == list(NAMES) and list(saved.values()) == pytest.approx(np.linspace(0.1, 0.9, 10).tolist(), abs=1e-4)
    assert len(bank) == 50


def test_quality_filter_stops_on_hopeless_class(gen):
    qf = QualityFilter(_digit_filter(never=3), threshold=0.9)
    with pytest.raises(GanaugError, match=r"'3': 0 of") as e:
        SyntheticBank.generate(gen, 50, filter=qf, batch_size=500, progress=False)
    # The way out names settings that exist (issue 43: it said min_acceptance, which no command takes).
    assert "tune.filter_fallback=unfiltered" in str(e.value) and "bank.filter_fallback=unfiltered" in str(e.value)


def test_quality_filter_fallback_passes_a_hopeless_class_unfiltered(gen, tmp_path):
    classify = _digit_filter(never=3)
    qf = QualityFilter(classify, threshold=0.9, fallback="unfiltered")
    with pytest.warns(UserWarning, match=r"'3': 0 of .*pass unfiltered"):
        bank = SyntheticBank.generate(gen, 50, tmp_path / "b", filter=qf, batch_size=500, progress=False)
    assert len(bank) == 50 and np.bincount(bank.labels, minlength=10).tolist() == [5] * 10
    # Every other class is still filtered: each kept image is one the classifier calls its class.
    called = classify(np.asarray(bank.images)).argmax(1)
    other = bank.labels != 3
    assert np.array_equal(called[other], bank.labels[other])
    assert not np.any(called[~other] == 3)
    acc = json.loads((tmp_path / "b" / META_FILE).read_text())["filter"]["acceptance"]
    assert acc[NAMES[3]]["unfiltered"] is True
    assert all("unfiltered" not in r for name, r in acc.items() if name != NAMES[3])


def test_quality_filter_with_reference_classifier(gen):
    from ganaug.data import load_digits

    real = load_digits("train")
    qf = QualityFilter.from_real(real.images, real.labels, 10, threshold=0.0, steps=5)
    bank = SyntheticBank.generate(gen, 30, filter=qf, progress=False)
    assert all(r["rate"] == 1.0 for r in bank.acceptance.values())


def test_quality_filter_argument_errors():
    with pytest.raises(ValueError, match="threshold"):
        QualityFilter(_digit_filter(), threshold=1.5)
    with pytest.raises(ValueError, match=r"fallback must be one of \[None, 'unfiltered'\], got 'skip'"):
        QualityFilter(_digit_filter(), fallback="skip")
    with pytest.raises(ValueError, match="fallback must be one of"):  # named before a classifier is trained
        QualityFilter.from_real(np.zeros((2, 8, 8, 1), np.uint8), np.array([0, 1]), 10, fallback="skip")
    for steps in (0, -1):  # an untrained classifier judged the images before
        with pytest.raises(GanaugError, match=rf"steps must be a positive integer .*got {steps}"):
            QualityFilter.from_real(np.zeros((2, 8, 8, 1), np.uint8), np.array([0, 1]), 10, steps=steps)
    qf = QualityFilter(lambda x: np.full((len(x), 10), 3.0))
    with pytest.raises(ValueError, match="softmax"):
        qf(np.zeros((2, 8, 8, 1), np.uint8), np.array([0, 1]))


# ------------------------------------------------------------------------------- refresh


def test_refresh_new_and_rolling_in_memory(gen):
    bank = SyntheticBank.generate(gen, 40, seed=0, progress=False)
    before, labels = bank.images.copy(), bank.labels.copy()
    bank.refresh(0.25, round=1)
    changed = np.any(bank.images != before, axis=(1, 2, 3))
    assert changed[:10].all() and not changed[10:].any()
    bank.refresh(0.25, round=2)
    changed = np.any(bank.images != before, axis=(1, 2, 3))
    assert changed[:20].all() and not changed[20:].any()
    bank.refresh(1.0, round=3)
    assert np.any(bank.images != before, axis=(1, 2, 3)).mean() > 0.9
    assert np.array_equal(bank.labels, labels)
    with pytest.raises(GanaugError, match="needs the generator"):
        SyntheticBank.from_arrays(before, labels).refresh()


@pytest.mark.parametrize("args, match", [
    (("x",), r"refresh fraction must be a fraction in \(0, 1\], got 'x'"),
    ((None,), r"refresh fraction must be a fraction in \(0, 1\], got None"),
    ((True,), r"refresh fraction must be a fraction in \(0, 1\], got True"),
    ((1.5,), r"refresh fraction must be a fraction in \(0, 1\], got 1.5"),
    ((0.5, "x"), r"refresh round must be a positive integer, got 'x'"),
    ((0.5, None), r"refresh round must be a positive integer, got None"),
    ((0.5, 1.5), r"refresh round must be a positive integer, got 1.5"),
    ((0.5, 1, "no"), r"progress must be true or false, got 'no'"),
])
def test_refresh_names_a_bad_argument_and_leaves_the_pool(gen, args, match):
    # 'x' and None gave float()'s or int()'s own errors, True counted as fraction 1, progress='no' as true.
    bank = SyntheticBank.generate(gen, 20, seed=0, progress=False)
    before = bank.images.copy()
    with pytest.raises(ConfigError, match=match):
        bank.refresh(*args)
    assert np.array_equal(bank.images, before)
    bank.refresh(0.5, 2**1100 + 1)  # any round, as before: the check does not make it a float
    assert not np.array_equal(bank.images, before)


def test_refresh_on_disk_replaces_file_atomically(gen, tmp_path):
    bank = SyntheticBank.generate(gen, 30, tmp_path / "b", progress=False)
    before = np.array(bank.images)
    bank.refresh(0.5, round=1)
    assert _files(tmp_path / "b") == sorted([IMAGES_FILE, LABELS_FILE, META_FILE])
    again = SyntheticBank.open(tmp_path / "b")
    assert np.array_equal(again.images, bank.images)
    assert np.any(again.images[:15] != before[:15]) and np.array_equal(again.images[15:], before[15:])
    assert again.meta["refreshes"] == 1


# ----------------------------------------------------------------- files: modes, temporaries

KILLED_WRITE = """
import os, sys
import torch
import ganaug.mix.bank
from ganaug import Generator, SyntheticBank
from ganaug.gan.sampling import TrainedGenerator

def killed(*args, **kwargs):
    os._exit(9)  # as SIGKILL: no cleanup runs, the half-written pool stays under its temporary name

ganaug.mix.bank._fill = killed
gen = TrainedGenerator(Generator(10, 8, 1, z_dim=16, width=8), [str(k) for k in range(10)])
bank = SyntheticBank.generate(gen, 300, sys.argv[1], progress=False) if sys.argv[2] == "generate" else None
if sys.argv[2] == "refresh":
    SyntheticBank.open(sys.argv[1], generator=gen).refresh(0.5)
"""


@pytest.mark.parametrize("killed_in", ["generate", "refresh"])
def test_next_write_removes_temporaries_of_a_killed_write(gen, tmp_path, python, killed_in):
    import subprocess

    path = tmp_path / "b"
    if killed_in == "refresh":
        SyntheticBank.generate(gen, 30, path, progress=False)
    done = subprocess.run([python, "-c", KILLED_WRITE, str(path), killed_in], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 9, done.stderr[-2000:]
    assert list(path.glob(".*.tmp")), "the killed write left no temporary: the test reproduces nothing"
    # Files that are not ganaug's temporaries of this bank are left alone.
    (path / ".notes.tmp").write_text("mine")
    (path / f".{IMAGES_FILE}.tmp").write_text("not one of ganaug's names")
    bank = SyntheticBank.generate(gen, 30, path, progress=False)
    assert _files(path) == sorted(
        [IMAGES_FILE, LABELS_FILE, META_FILE, ".notes.tmp", f".{IMAGES_FILE}.tmp"])
    bank.refresh(0.5, round=1)


def test_temporaries_of_a_live_writer_are_kept_and_a_killed_ones_removed(gen, tmp_path):
    from ganaug.base.files import STALE_AFTER_S, temp_prefix

    path = tmp_path / "b"
    SyntheticBank.generate(gen, 30, path, progress=False)
    # Another process writing this bank right now (it touched its temporary a moment ago), and one
    # killed long ago on another machine sharing the disk.
    live = path / f"{temp_prefix(path / IMAGES_FILE)}abcd.tmp"
    live.write_bytes(b"being written")
    dead = path / f".{IMAGES_FILE}.otherhost-12.efgh.tmp"
    dead.write_bytes(b"half")
    old = time.time() - STALE_AFTER_S - 60
    os.utime(dead, (old, old))
    SyntheticBank.generate(gen, 30, path, progress=False)
    assert live.exists() and not dead.exists()


def test_bank_files_get_the_umask_mode(gen, tmp_path):
    old = os.umask(0o022)
    try:
        bank = SyntheticBank.generate(gen, 30, tmp_path / "b", progress=False)
        bank.refresh(0.5, round=1)
    finally:
        os.umask(old)
    modes = {name: oct((tmp_path / "b" / name).stat().st_mode & 0o777) for name in _files(tmp_path / "b")}
    assert modes == {IMAGES_FILE: "0o644", LABELS_FILE: "0o644", META_FILE: "0o644"}


def test_the_same_seed_gives_the_same_images_from_a_bank_and_from_sample(gen):
    # One noise: TrainedGenerator.sample(seed=s) draws what a bank of seed s draws in its first round.
    bank = SyntheticBank.generate(gen, 50, class_policy="uniform", seed=7, progress=False)
    images, labels = gen.sample(labels=np.asarray(bank.labels), seed=7, batch_size=1000)
    assert np.array_equal(labels, np.asarray(bank.labels))
    assert np.array_equal(images, np.asarray(bank.images))
    other, _ = gen.sample(labels=np.asarray(bank.labels), seed=8, batch_size=1000)
    assert not np.array_equal(other, images)


def test_a_copy_of_an_open_bank_refuses_a_bank_regenerated_in_place_since(gen, tmp_path):
    # Issue 42.10: spawn workers reopen the bank by path; a bank regenerated there while a DataLoader used it
    # was served to the workers while the main process served the old one.
    bank = SyntheticBank.generate(gen, 40, tmp_path / "bank", seed=0, class_policy="uniform")
    copy_before = pickle.loads(pickle.dumps(bank))
    assert np.array_equal(copy_before.images, bank.images)  # unchanged files: the copy opens them
    in_flight = pickle.dumps(bank)  # what a spawned worker receives
    SyntheticBank.generate(gen, 40, tmp_path / "bank", seed=1, class_policy="uniform")
    worker = pickle.loads(in_flight)
    with pytest.raises(ArtifactError, match="changed since this bank was opened"):
        worker.images

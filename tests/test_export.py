import json
import os
import time

import numpy as np
import pytest
import torch

from ganaug import ArtifactError, GanaugError, Generator, export_generator, load_generator
from ganaug.gan.artifact import META_FILE, WEIGHTS_FILE


@pytest.fixture
def artifact(tmp_path):
    torch.manual_seed(0)
    g = Generator(3, 8, 1, z_dim=8, width=8).eval()
    path = export_generator(g, tmp_path / "gen", class_names=["a", "b", "c"])
    return g, path


def test_roundtrip_matches_original(artifact):
    g, path = artifact
    loaded = load_generator(path)
    assert loaded.class_names == ["a", "b", "c"]
    assert loaded.image_shape == (8, 8, 1)
    z, y = torch.randn(6, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        assert torch.allclose(loaded.generate(z, y), g(z, y), atol=1e-6)
    meta = json.loads((path / META_FILE).read_text())
    assert meta["value_range"] == [-1.0, 1.0] and meta["num_classes"] == 3
    assert not list(path.glob("*.tmp"))


def test_sample_is_uint8_hwc_and_reproducible(artifact):
    _, path = artifact
    gen = load_generator(path)
    a, ya = gen.sample(n_per_class=4, seed=3)
    b, _ = gen.sample(n_per_class=4, seed=3)
    c, _ = gen.sample(n_per_class=4, seed=4)
    assert a.dtype == np.uint8 and a.shape == (12, 8, 8, 1)
    assert ya.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    imgs, labels = gen.sample(labels=[2, 0], seed=1, truncation=0.5)
    assert imgs.shape == (2, 8, 8, 1) and labels.tolist() == [2, 0]


def test_sample_bad_labels(artifact):
    gen = load_generator(artifact[1])
    with pytest.raises(ValueError, match="out of range"):
        gen.sample(labels=[3])
    with pytest.raises(ValueError, match="exactly one"):
        gen.sample()
    # each of these drew images before: 1.5 as class 1, True as class 1, 2.5 per class as 2
    for labels, what in (([1.5, 0], "float64"), ([True, False], "bool")):
        with pytest.raises(GanaugError, match=rf"labels must be class indices \(integers\) or class names.*{what}"):
            gen.sample(labels=labels)
    for n in (2.5, True, 0):
        with pytest.raises(GanaugError, match=rf"n_per_class must be a positive integer, got {n}"):
            gen.sample(n_per_class=n)
    with pytest.raises(GanaugError, match=r"label 'd' is not a class of this generator: \['a', 'b', 'c'\]"):
        gen.sample(labels=["a", "d"])


def test_a_device_torch_cannot_use_is_named(artifact, monkeypatch):
    # torch's "Expected one of cpu, cuda, ipu, ..." RuntimeError and "not compiled with CUDA" AssertionError before
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(GanaugError, match=r"device must be auto, cpu, cuda or cuda:<index>, got 'tpu'"):
        load_generator(artifact[1], device="tpu")
    with pytest.raises(GanaugError, match=r"device=cuda but torch sees no CUDA device here"):
        load_generator(artifact[1], device="cuda")
    # The CLI probe: meta (holds no data) copied out to a NotImplementedError, mps to torch's "not linked" error.
    with pytest.raises(GanaugError, match=r"device must be auto, cpu, cuda or cuda:<index>, got 'meta'"):
        load_generator(artifact[1], device="meta")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(GanaugError, match=r"device=mps but torch sees no Apple GPU \(MPS\) here"):
        load_generator(artifact[1], device="mps")
    assert load_generator(artifact[1], device="auto").device == torch.device("cpu")


def test_sample_takes_class_names_for_labels(artifact):
    gen = load_generator(artifact[1])
    by_name, names = gen.sample(labels=["c", "a"], seed=1)
    by_index, indices = gen.sample(labels=[2, 0], seed=1)
    assert names.tolist() == indices.tolist() == [2, 0] and np.array_equal(by_name, by_index)


def test_expectations_catch_other_dataset(artifact):
    _, path = artifact
    with pytest.raises(ArtifactError, match="3 classes, expected 10"):
        load_generator(path, expect_num_classes=10)
    with pytest.raises(ArtifactError, match="shape"):
        load_generator(path, expect_image_shape=(28, 28, 1))


def test_tampered_weights(artifact):
    _, path = artifact
    data = bytearray((path / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (path / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="tampered"):
        load_generator(path)


def test_truncated_weights(artifact):
    _, path = artifact
    data = (path / WEIGHTS_FILE).read_bytes()
    (path / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="truncated"):
        load_generator(path)


def test_missing_and_corrupt_meta(artifact, tmp_path):
    _, path = artifact
    with pytest.raises(ArtifactError, match="no generator artifact"):
        load_generator(tmp_path / "nowhere")
    (path / META_FILE).write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_generator(path)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_exported_files_get_the_umask_mode(tmp_path, umask, mode):
    # safetensors writes its file owner-only; a generator shared with a group must stay loadable.
    old = os.umask(umask)
    try:
        path = export_generator(Generator(3, 8, 1, z_dim=8, width=8), tmp_path / "gen")
    finally:
        os.umask(old)
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in path.iterdir()} == {
        WEIGHTS_FILE: oct(mode), META_FILE: oct(mode)}


def test_export_removes_temporaries_of_a_killed_export(artifact):
    from ganaug.base.files import STALE_AFTER_S, temp_prefix

    _, path = artifact
    dead = path / f"{temp_prefix(path / WEIGHTS_FILE)}abcd.tmp"
    dead.write_bytes(b"half")
    old = time.time() - STALE_AFTER_S - 60  # untouched for over an hour: its writer is gone
    os.utime(dead, (old, old))
    export_generator(Generator(3, 8, 1, z_dim=8, width=8), path)
    assert not dead.exists() and sorted(p.name for p in path.iterdir()) == sorted([WEIGHTS_FILE, META_FILE])


def test_unwritable_destination_names_the_file(tmp_path, monkeypatch):
    import ganaug.base.files
    from ganaug import GanaugError
    from ganaug.base.files import atomic_write_bytes

    (tmp_path / "file").write_text("x")
    with pytest.raises(GanaugError, match=r"cannot create the directory .*file/out: .*/file is a file") as e:
        atomic_write_bytes(tmp_path / "file" / "out" / "a.json", b"{}")
    assert isinstance(e.value, OSError)

    def denied(path, dir_fd=None):  # what a directory this user cannot write gives (tests may run as root)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(ganaug.base.files, "make_temp", denied)
    with pytest.raises(GanaugError, match=r"cannot write .*a.json.*Permission denied.*writable"):
        atomic_write_bytes(tmp_path / "a.json", b"{}")

import gzip
import hashlib
import io
import urllib.request

import numpy as np
import pytest

import ganaug.data.fashion_mnist as fm
from ganaug.data import FASHION_MNIST_CLASSES, load_fashion_mnist, resolve_fashion_mnist
from ganaug.errors import GanaugDataError

N = {"train": 20, "t10k": 10}


@pytest.fixture
def fake_files(idx_bytes):
    """name.gz -> gzipped bytes of a tiny, valid Fashion-MNIST look-alike."""
    rng = np.random.default_rng(0)
    out = {}
    for prefix, n in N.items():
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        out[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images))
        out[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels))
    return out


@pytest.fixture
def fill(fake_files):
    def fill(directory, gz=True):
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in fake_files.items():
            if gz:
                (directory / name).write_bytes(data)
            else:
                (directory / name.removesuffix(".gz")).write_bytes(gzip.decompress(data))
        return directory

    return fill


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No Debian files, no env var, cache under tmp_path: only what a test puts there exists."""
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.delenv(fm.ENV_ROOT, raising=False)
    monkeypatch.setenv(fm.ENV_CACHE, str(tmp_path / "cache"))
    return tmp_path


def test_loads_plain_and_gz_files_with_official_names(isolated, fill):
    ds = load_fashion_mnist("test", root=fill(isolated / "plain", gz=False))
    assert ds.image_shape == (28, 28, 1) and len(ds) == 10
    assert ds.class_names == list(FASHION_MNIST_CLASSES) and ds.class_names[9] == "Ankle boot"
    ds = load_fashion_mnist("train", root=fill(isolated / "gz"))
    np.testing.assert_array_equal(ds.labels, np.arange(20) % 10)


def test_resolution_order(isolated, monkeypatch, fill):
    dirs = ("debian", "env", "root", "cache/fashion-mnist")
    debian, env, root, cache = (fill(isolated / d) for d in dirs)
    monkeypatch.setenv(fm.ENV_ROOT, str(env))
    assert resolve_fashion_mnist(root=root) == root
    assert resolve_fashion_mnist() == env
    monkeypatch.delenv(fm.ENV_ROOT)
    assert resolve_fashion_mnist() == debian
    (debian / "t10k-labels-idx1-ubyte.gz").unlink()  # an incomplete folder does not count
    assert resolve_fashion_mnist() == cache
    assert resolve_fashion_mnist(cache_dir=env) == env


def test_explicit_root_that_lacks_files_stops_rather_than_falling_back(isolated, fill):
    fill(isolated / "debian")
    with pytest.raises(GanaugDataError, match=r"empty \(data.dataset.root\) does not exist"):
        resolve_fashion_mnist(root=isolated / "empty")


def test_missing_everywhere_lists_paths_and_fixes(isolated):
    with pytest.raises(GanaugDataError) as e:
        load_fashion_mnist()
    msg = str(e.value)
    for path in ("debian", "cache/fashion-mnist"):
        assert str(isolated / path) in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "data.dataset.download=true" in msg and "data.dataset.root=" in msg


class _FakeUrlopen:
    def __init__(self, payloads):
        self.payloads, self.urls = payloads, []

    def __call__(self, url, timeout=None):
        self.urls.append(url)
        return io.BytesIO(self.payloads[url.rsplit("/", 1)[1]])


def test_download_verifies_md5_and_writes_files(isolated, monkeypatch, fake_files):
    files = fake_files
    monkeypatch.setattr(fm, "MD5", {n: hashlib.md5(d).hexdigest() for n, d in files.items()})
    fake = _FakeUrlopen(files)
    monkeypatch.setattr(urllib.request, "urlopen", fake)
    ds = load_fashion_mnist("train", download=True)
    assert len(ds) == 20 and len(fake.urls) == 4
    assert all(u.startswith(fm.URL) for u in fake.urls)
    cache = isolated / "cache" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(files)
    load_fashion_mnist("test", download=True)
    assert len(fake.urls) == 4  # found in the cache, not fetched again


def test_checksum_mismatch_leaves_no_file(isolated, monkeypatch, fake_files):
    files = fake_files
    monkeypatch.setattr(urllib.request, "urlopen", _FakeUrlopen(files))  # real MD5s won't match
    with pytest.raises(GanaugDataError, match="checksum mismatch.*train-images-idx3-ubyte.gz"):
        load_fashion_mnist(download=True)
    assert list((isolated / "cache" / "fashion-mnist").iterdir()) == []


def test_network_error_is_a_data_error(isolated, monkeypatch):
    def fail(url, timeout=None):
        raise urllib.error.URLError("no route")

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    with pytest.raises(GanaugDataError, match="could not download.*apt-get install"):
        resolve_fashion_mnist(download=True)
    assert list((isolated / "cache" / "fashion-mnist").iterdir()) == []


def test_a_mirror_that_sends_more_than_any_file_holds_is_stopped_and_leaves_no_file(isolated, monkeypatch,
                                                                                      fake_files):
    monkeypatch.setattr(fm, "MAX_DOWNLOAD_BYTES", 100)
    monkeypatch.setattr(urllib.request, "urlopen", _FakeUrlopen({n: b"x" * 150 for n in fake_files}))
    with pytest.raises(GanaugDataError, match=r"sent more than 100 bytes.*apt-get install"):
        resolve_fashion_mnist(download=True)
    assert list((isolated / "cache" / "fashion-mnist").iterdir()) == []


def test_a_killed_downloads_temporary_is_removed_by_the_next(isolated, monkeypatch, fake_files):
    # Written through atomic_file: a SIGKILL leaves its private temporary, which the next download clears.
    import os

    from ganaug.base.files import STALE_AFTER_S, temp_prefix

    cache = isolated / "cache" / "fashion-mnist"
    cache.mkdir(parents=True)
    dead = cache / f"{temp_prefix(cache / 'train-images-idx3-ubyte.gz')}0123456789ab.tmp"
    dead.mkdir()
    (dead / "train-images-idx3-ubyte.gz").write_bytes(b"half a file")
    old = os.stat(dead).st_mtime - 2 * STALE_AFTER_S
    for p in (dead / "train-images-idx3-ubyte.gz", dead):
        os.utime(p, (old, old))
    monkeypatch.setattr(fm, "MD5", {n: hashlib.md5(d).hexdigest() for n, d in fake_files.items()})
    monkeypatch.setattr(urllib.request, "urlopen", _FakeUrlopen(fake_files))
    assert resolve_fashion_mnist(download=True) == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted(fake_files)


def test_truncated_file_errors(isolated, fill):
    root = fill(isolated / "root")
    path = root / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-100]))
    with pytest.raises(GanaugDataError, match="train-images-idx3-ubyte.gz.*delete it"):
        load_fashion_mnist(root=root)


def test_bad_split(isolated, fill):
    with pytest.raises(GanaugDataError, match="'test', 'train'"):
        load_fashion_mnist("val", root=fill(isolated / "root"))


@pytest.mark.skipif(not fm.DEBIAN_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_debian_files():
    ds = load_fashion_mnist("train", root=fm.DEBIAN_DIR)
    assert ds.images.shape == (60000, 28, 28, 1) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.class_counts(), [6000] * 10)
    assert len(load_fashion_mnist("test", root=fm.DEBIAN_DIR)) == 10000

"""Inputs a careless or unlucky user could hand the data readers: each stops with a fix."""

import gzip
import struct
import subprocess
import sys
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import ganaug.data.fashion_mnist as fm
from ganaug.data import (GANDataModule, ImageArrayDataset, from_dataset, load_dataset, load_fashion_mnist, read_idx,
                         resolve_fashion_mnist)
from ganaug.errors import ConfigError, GanaugDataError

# --- non-finite pixels -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_pixels_are_refused_with_the_item_index(bad):
    images = np.random.default_rng(0).random((6, 4, 4, 1), dtype=np.float32)
    images[3, 1, 2, 0] = bad
    images[5, 0, 0, 0] = bad
    ds = [(images[i], i % 2) for i in range(6)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "invalid value encountered in cast" must not happen
        with pytest.raises(GanaugDataError, match=r"item 3 .*(NaN|inf)"):
            from_dataset(ds)


def test_all_nan_dataset_is_refused():
    ds = TensorDataset(torch.full((4, 1, 4, 4), float("nan")), torch.tensor([0, 1, 0, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(GanaugDataError, match=r"item 0 .*NaN"):
            from_dataset(ds)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_non_finite_torch_float_tensors_are_refused(dtype):
    x = torch.rand(5, 3, 4, 4).to(dtype)
    x[2, 0, 0, 0] = float("inf")
    with pytest.raises(GanaugDataError, match=r"item 2 .*(NaN|inf)"):
        from_dataset(TensorDataset(x, torch.arange(5) % 2))


def test_finite_bfloat16_tensors_are_read():
    x = torch.rand(4, 1, 4, 4).to(torch.bfloat16)
    ds = from_dataset(TensorDataset(x, torch.arange(4) % 2))
    assert ds.images.dtype == np.uint8 and ds.image_shape == (4, 4, 1)


def test_image_array_dataset_names_non_finite_floats():
    # Floats are refused here anyway; the message must not suggest a cast that maps NaN to black.
    images = np.zeros((3, 2, 2, 1), np.float32)
    images[1, 0, 0, 0] = np.nan
    with pytest.raises(GanaugDataError, match=r"index 1 .*NaN"):
        ImageArrayDataset(images, [0, 1, 0])


# --- explicit data paths that do not exist -------------------------------------------------------


@pytest.fixture
def fake_fmnist(idx_bytes):
    def fill(directory):
        directory.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        for prefix, n in (("train", 20), ("t10k", 10)):
            images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
            labels = (np.arange(n) % 10).astype(np.uint8)
            for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
                path = directory / f"{prefix}-{kind}-ubyte.gz"
                path.write_bytes(gzip.compress(idx_bytes(array)))
        return directory

    return fill


@pytest.fixture
def debian_copy(tmp_path, monkeypatch, fake_fmnist):
    """A complete copy where the Debian package puts it, and one in the cache: the fallbacks."""
    monkeypatch.setattr(fm, "DEBIAN_DIR", fake_fmnist(tmp_path / "debian"))
    monkeypatch.delenv(fm.ENV_ROOT, raising=False)
    monkeypatch.setenv(fm.ENV_CACHE, str(tmp_path / "cache"))
    fake_fmnist(tmp_path / "cache" / "fashion-mnist")
    return tmp_path


def test_named_root_that_does_not_exist_stops(debian_copy):
    missing = debian_copy / "nonexistent"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(GanaugDataError) as e:
            load_fashion_mnist(root=missing)
    msg = str(e.value)
    assert str(missing) in msg and "does not exist" in msg
    assert "data.dataset.root" in msg and "data.dataset.download=true" in msg


def test_named_root_without_the_files_stops(debian_copy):
    (debian_copy / "mine").mkdir()
    (debian_copy / "mine" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(GanaugDataError, match=r"mine.*t10k-images-idx3-ubyte"):
        resolve_fashion_mnist(root=debian_copy / "mine")


def test_named_root_is_a_file_stops(debian_copy):
    f = debian_copy / "afile"
    f.write_bytes(b"")
    with pytest.raises(GanaugDataError, match="not a folder"):
        resolve_fashion_mnist(root=f)


def test_named_root_with_download_fetches_into_it(debian_copy, monkeypatch):
    fetched = []
    monkeypatch.setattr(fm, "_download", lambda d: fetched.append(d))
    target = debian_copy / "new"
    assert resolve_fashion_mnist(root=target, download=True) == target
    assert fetched == [target]


def test_named_root_that_cannot_be_created_for_download_is_a_data_error(debian_copy):
    blocker = debian_copy / "afile"
    blocker.write_bytes(b"")
    with pytest.raises(GanaugDataError, match=r"cannot create .*afile/sub"):
        resolve_fashion_mnist(root=blocker / "sub", download=True)


def test_env_var_pointing_nowhere_stops(debian_copy, monkeypatch):
    monkeypatch.setenv(fm.ENV_ROOT, str(debian_copy / "typo"))
    with pytest.raises(GanaugDataError, match=rf"typo \(\${fm.ENV_ROOT}\) does not exist"):
        resolve_fashion_mnist()


def test_root_argument_overrides_a_stale_env_var(debian_copy, monkeypatch, fake_fmnist):
    monkeypatch.setenv(fm.ENV_ROOT, str(debian_copy / "typo"))
    root = fake_fmnist(debian_copy / "root")
    assert resolve_fashion_mnist(root=root) == root


def test_empty_env_var_means_unset(debian_copy, monkeypatch):
    monkeypatch.setenv(fm.ENV_ROOT, "")
    assert resolve_fashion_mnist() == debian_copy / "debian"


# --- GANDataModule settings ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    return ImageArrayDataset(np.zeros((20, 4, 4, 1), np.uint8), np.arange(20) % 2)


@pytest.mark.parametrize(
    "key, value",
    [
        ("batch_size", None),
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("batch_size", "64"),
        ("batch_size", True),
        ("num_workers", None),
        ("num_workers", -1),
        ("n_per_class", 0),
        ("n_per_class", "5"),
        ("val_fraction", None),
        ("val_fraction", "0.1"),
        ("val_fraction", 1.0),
        ("val_fraction", float("nan")),
        ("imbalance_ratio", "10"),
        ("imbalance_ratio", 0.5),
        ("imbalance_ratio", float("inf")),
        ("data_seed", None),
        ("data_seed", -1),
        ("drop_last", "false"),
    ],
)
def test_bad_setting_names_the_data_key(tiny, key, value):
    with pytest.raises(GanaugDataError, match=rf"data\.{key}\b"):
        GANDataModule(tiny, **{key: value})


def test_bad_setting_is_refused_before_the_dataset_is_read():
    class Exploding(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            raise AssertionError("read the dataset before checking settings")

    with pytest.raises(GanaugDataError, match=r"data\.batch_size"):
        GANDataModule(Exploding(), batch_size=None)


def test_numpy_integer_settings_are_accepted(tiny):
    dm = GANDataModule(
        tiny, batch_size=np.int64(4), num_workers=np.int32(0), n_per_class=np.int64(5)
    )
    loader = dm.train_dataloader()
    assert loader.batch_size == 4 and type(dm.batch_size) is int
    assert next(iter(loader))[0].shape[0] == 4


# --- a stray label, and labels that cannot all be classes -------------------


def test_a_stray_label_is_refused_before_a_name_is_made_per_class(monkeypatch):
    # Without class_names every number up to the largest label became a class: label 2**40 in a 1 KB
    # .npz grew the process to 22 GB. Nothing per class may be built before the labels are checked.
    import ganaug.data.arrays as arrays
    from ganaug.base.checks import class_name_list

    def spy(names, *a, **kw):
        assert len(names) <= 100, f"built {len(names)} class names for 4 images"
        return class_name_list(names, *a, **kw)

    monkeypatch.setattr(arrays, "class_name_list", spy)
    with pytest.raises(GanaugDataError) as e:
        ImageArrayDataset(np.zeros((4, 8, 8, 1), np.uint8), [0, 1, 2, 10**6])
    msg = str(e.value)
    assert "1000000 (index 3)" in msg and "class_names" in msg and "0..K-1" in msg
    assert len(msg) < 600


def test_a_huge_stray_label_in_an_npz_is_refused_within_a_memory_limit(tmp_path):
    # The probe's case itself, under an address-space limit 1 GiB above the imports: before, the
    # class-name list for label 2**40 ran into it (MemoryError).
    path = tmp_path / "stray.npz"
    np.savez(path, images=np.zeros((4, 8, 8, 1), np.uint8), labels=np.array([0, 1, 2, 2**40]))
    code = (
        "import resource\nfrom ganaug.data import load_dataset\nfrom ganaug.errors import GanaugDataError\n"
        "vm = int(next(l for l in open('/proc/self/status') if l.startswith('VmSize')).split()[1]) * 1024\n"
        "resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), vm + (1 << 30)))\n"
        f"try:\n    load_dataset('arrays', path={str(path)!r})\nexcept GanaugDataError as e:\n"
        "    print('refused:', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("refused:") and str(path) in r.stdout and str(2**40) in r.stdout


@pytest.mark.parametrize("labels", [[0, 2, 2, 2], [1, 1, 2, 2]])
def test_labels_with_gaps_need_empty_classes_allowed_and_stay_bounded_then(labels):
    x = np.zeros((4, 2, 2, 1), np.uint8)
    with pytest.raises(GanaugDataError, match=r"labels run up to 2 .* relabel them 0\.\.K-1"):
        ImageArrayDataset(x, labels)
    # Empty classes allowed: a dataset labelled 1..K, or missing a class, keeps max(label) + 1 classes.
    assert ImageArrayDataset(x, labels, allow_empty_classes=True).num_classes == 3
    # ... but a stray label far above them is refused all the same, not a name per number below it.
    with pytest.raises(GanaugDataError, match=str(2**40)):
        ImageArrayDataset(x, [*labels[:3], 2**40], allow_empty_classes=True)


def test_the_empty_classes_message_lists_a_few_and_counts_the_rest():
    # Before: every empty class listed, 1.5 MB of message for 100 000 names.
    with pytest.raises(GanaugDataError) as e:
        ImageArrayDataset(np.zeros((2, 2, 2, 1), np.uint8), [0, 1], class_names=[f"c{i}" for i in range(100_000)])
    msg = str(e.value)
    assert len(msg) < 600 and "2 ('c2')" in msg and "99998 classes without any image" in msg
    assert "allow_empty_classes=True" in msg


# --- data files whose readers passed numpy's and OpenCV's errors through -----


def _npy(descr, shape, data):
    h = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data


def _npz(path, **members):
    with zipfile.ZipFile(path, "w") as z:
        for key, raw in members.items():
            z.writestr(key + ".npy", raw)
    return path


def test_an_npz_whose_header_claims_more_than_it_holds_is_refused_before_allocating(tmp_path, monkeypatch):
    # A 400-byte file claiming 582 TiB: numpy allocated from the header (MemoryError), and a claim
    # of a few GB would really be allocated.
    path = _npz(tmp_path / "lying.npz", images=_npy("|u1", (10**13, 8, 8, 1), b"\0" * 64),
                labels=_npy("<i8", (1,), b"\0" * 8))
    with pytest.raises(GanaugDataError) as e:
        load_dataset("arrays", path=path)
    msg = str(e.value)
    assert str(path) in msg and "'images'" in msg and "640000000000000 bytes" in msg and "holds 64" in msg
    assert "save it again" in msg


def test_a_truncated_npz_member_names_the_file(tmp_path):
    path = _npz(tmp_path / "short.npz", images=_npy("|u1", (10, 8, 8, 1), b"\0" * 64),
                labels=_npy("<i8", (10,), b"\0" * 80))
    with pytest.raises(GanaugDataError, match=r"short\.npz.*'images'.*640 bytes.*holds 64.*truncated"):
        load_dataset("arrays", path=path)


@pytest.mark.parametrize("content, what", [(b"<html>404 Not Found</html>", "not an .npz"),
                                           (b"", "not an .npz"),
                                           (b"\x93NUMPY", "one .npy array")])
def test_a_file_that_is_not_an_npz_is_named_without_a_pickle_hint(tmp_path, content, what):
    # A web page saved by a failed download drew numpy's hint to load it with allow_pickle.
    path = tmp_path / "page.npz"
    if content.startswith(b"\x93NUMPY"):
        np.save(tmp_path / "page.npy", np.zeros(3))
        (tmp_path / "page.npy").rename(path)
    else:
        path.write_bytes(content)
    with pytest.raises(GanaugDataError) as e:
        load_dataset("arrays", path=path)
    msg = str(e.value)
    assert str(path) in msg and what in msg and "np.savez" in msg and "pickle" not in msg


def test_object_arrays_in_an_npz_are_refused_without_a_pickle_hint(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, images=np.zeros((2, 2, 2, 1), np.uint8), labels=np.array([0, None], dtype=object))
    with pytest.raises(GanaugDataError) as e:
        load_dataset("arrays", path=path)
    msg = str(e.value)
    assert str(path) in msg and "'labels'" in msg and "Python objects" in msg and "allow_pickle" not in msg


def test_a_corrupt_compressed_npz_member_names_the_file(tmp_path):
    path = tmp_path / "crc.npz"
    np.savez_compressed(path, images=np.arange(4 * 64, dtype=np.uint8).reshape(4, 8, 8, 1), labels=np.arange(4) % 2)
    raw = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo("images.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(GanaugDataError, match=r"crc\.npz.*corrupt"):
        load_dataset("arrays", path=path)


def test_a_stray_label_in_an_npz_names_the_file(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((3, 2, 2, 1), np.uint8), labels=np.array([0, 1, 7]))
    with pytest.raises(GanaugDataError, match=rf"{path}: .*7 \(index 2\)"):
        load_dataset("arrays", path=path)


def test_an_idx_header_whose_size_overflows_int64_is_refused(tmp_path):
    # 2**64 elements wrapped to 0 in np.prod(..., dtype=int64): "cannot reshape".
    path = tmp_path / "big-idx"
    path.write_bytes(b"\0\0\x08\x04" + struct.pack(">IIII", 2**16, 2**16, 2**16, 2**16))
    with pytest.raises(GanaugDataError, match=rf"{path}.*needs 18446744073709551616 data bytes, found 0"):
        read_idx(path)


def test_a_gzipped_idx_is_decompressed_no_further_than_its_header_says(tmp_path):
    # 64 KB of gzip: a header for one byte, then 64 MB of zeros, all decompressed before.
    path = tmp_path / "images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(b"\0\0\x08\x01" + (1).to_bytes(4, "big"))
        for _ in range(64):
            f.write(bytes(1 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(GanaugDataError, match=r"images-idx3-ubyte\.gz.*needs 1 data bytes, found more"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_a_gzipped_idx_header_claiming_more_than_gzip_can_hold_is_refused_unread(tmp_path, monkeypatch):
    # Deflate expands at most ~1032 times: a larger claim is a lie, refused before decompressing.
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(b"\0\0\x08\x03" + struct.pack(">III", 60000, 280, 280) + bytes(100)))
    with pytest.raises(GanaugDataError, match=r"t\.gz.*needs 4704000000 data bytes.*\d+-byte gzip file"):
        read_idx(path)


def test_a_gzipped_idx_holding_less_than_its_header_says_is_refused(tmp_path):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(b"\0\0\x08\x01" + struct.pack(">I", 100) + bytes(60)))
    with pytest.raises(GanaugDataError, match=r"t\.gz.*needs 100 data bytes, found 60"):
        read_idx(path)


def test_an_empty_image_file_in_a_folder_is_named(tmp_path):
    # A failed download left a 0-byte .png: OpenCV's "!buf.empty()" assertion, naming no file.
    import cv2

    from ganaug.data import load_image_folder

    for c in "ab":
        (tmp_path / c).mkdir()
        cv2.imwrite(str(tmp_path / c / "0.png"), np.zeros((4, 4), np.uint8))
    (tmp_path / "a" / "empty.png").write_bytes(b"")
    with pytest.raises(GanaugDataError, match=r"a/empty\.png is empty \(0 bytes\).*remove it"):
        load_image_folder(tmp_path)


# --- dataset keywords --------------------------------------------------------


def test_a_wrong_dataset_keyword_names_the_dataset_the_keyword_and_the_accepted_ones():
    # `+bank.dataset_kwargs.splt=train` ended in "load_digits() got an unexpected keyword argument".
    with pytest.raises(ConfigError) as e:
        load_dataset("digits", splt="train")
    msg = str(e.value)
    assert "'digits'" in msg and "'splt'" in msg and "did you mean 'split'" in msg
    assert "test_fraction" in msg and "split_seed" in msg
    with pytest.raises(ConfigError, match=r"'image_folder'.*'sise'.*size"):
        load_dataset("image_folder", root="x", sise=[8, 8])


def test_an_npz_whose_zip_directory_claims_a_huge_member_is_refused_before_reading(tmp_path, monkeypatch):
    # The .npy header agrees with the zip directory's member size, both ~4 GB, over 64 bytes of data:
    # checking the header against the directory alone would let numpy allocate 4 GB.
    claim = 2**32 - 256
    header = _npy("|u1", (claim - 128,), b"")
    assert len(header) == 128
    path = _npz(tmp_path / "dir.npz", images=header + bytes(64), labels=_npy("<i8", (1,), bytes(8)))
    raw = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo("images.npy")
    struct.pack_into("<I", raw, info.header_offset + 22, claim)  # local header: uncompressed size
    central = raw.index(b"PK\x01\x02")  # images.npy is the first member
    struct.pack_into("<I", raw, central + 24, claim)
    path.write_bytes(bytes(raw))
    assert zipfile.ZipFile(path).getinfo("images.npy").file_size == claim

    def no_read(*a, **kw):
        raise AssertionError("read an array whose size was not checked")

    monkeypatch.setattr(np.lib.format, "read_array", no_read)
    with pytest.raises(GanaugDataError, match=rf"dir\.npz: the zip directory says array 'images' takes {claim} bytes"):
        load_dataset("arrays", path=path)


def _little_memory(monkeypatch, free=1 << 20):
    import ganaug.base.resources as resources

    monkeypatch.setattr(resources, "available_memory", lambda: free)


def test_an_npz_that_expands_past_free_memory_is_refused_before_reading(tmp_path, monkeypatch):
    # Before: an honest deflated member (its header matching its bytes) was decompressed whole: zeros deflate about
    # 1,000 times, so a 30 MB file became 30 GB and the OOM killer ended the process. Here 4 MB, with 1 MB free.
    path = tmp_path / "zeros.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("images.npy", _npy("|u1", (4096, 32, 32, 1), bytes(4 << 20)))
        z.writestr("labels.npy", _npy("<i8", (4096,), bytes(8 * 4096)))
    assert path.stat().st_size < 64 << 10
    _little_memory(monkeypatch)
    with pytest.raises(GanaugDataError, match=rf"{path}: array 'images' takes 4.2 MB once read, but 1.0 MB of "
                                              r"memory is free"):
        load_dataset("arrays", path=path)


def test_a_gzipped_idx_that_expands_past_free_memory_is_refused_before_reading(tmp_path, monkeypatch, write_idx):
    path = write_idx(tmp_path / "images-idx3-ubyte.gz", np.zeros((4096, 32, 32), np.uint8), gz=True)
    assert path.stat().st_size < 64 << 10
    _little_memory(monkeypatch)
    tracemalloc.start()
    try:
        with pytest.raises(GanaugDataError, match=rf"{path}: .*4.2 MB once read, but 1.0 MB of memory is free"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    _little_memory(monkeypatch, free=1 << 30)
    assert read_idx(path).shape == (4096, 32, 32)  # enough memory: read as before


def test_an_image_folder_that_would_not_fit_in_memory_is_refused_after_its_first_image(tmp_path, monkeypatch):
    # Before: every image was decoded and kept until np.stack, so a folder of photos larger than the free memory
    # ended in the OOM killer. The first image and the count say the total; resizing as read is the way out.
    import cv2

    from ganaug.data import load_image_folder

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(50):
            cv2.imwrite(str(tmp_path / c / f"{i}.png"), np.full((100, 100), i, np.uint8))
    _little_memory(monkeypatch, free=500_000)  # 100 images of 10,000 bytes: 1 MB
    with pytest.raises(GanaugDataError, match=r"100 images of \(100, 100, 1\) take 1.0 MB once read, but 500.0 KB "
                                              r"of memory is free.*size=\[H,W\]"):
        load_image_folder(tmp_path)
    assert len(load_image_folder(tmp_path, size=(28, 28))) == 100  # resized as read: 78 KB

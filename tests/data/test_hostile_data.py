"""Inputs a careless or unlucky user could hand the data readers: each stops with a fix."""

import gzip
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import ganaug.data.fashion_mnist as fm
from ganaug.data import GANDataModule, ImageArrayDataset, from_dataset, load_fashion_mnist, resolve_fashion_mnist
from ganaug.errors import GanaugDataError

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

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.utils.data import TensorDataset

from ganaug.data import GANDataModule, ImageArrayDataset, load_digits
from ganaug.errors import GanaugDataError


@pytest.fixture(scope="module")
def digits():
    return load_digits("train")


def test_batches_are_nchw_float_in_range(digits):
    dm = GANDataModule(digits, batch_size=32)
    assert dm.num_classes == 10 and dm.class_names == [str(k) for k in range(10)]
    assert dm.image_shape == (8, 8, 1) and len(dm.val_set) == 0 and len(dm.train_set) == len(digits)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (32, 1, 8, 8) and x.dtype == torch.float32
    assert y.shape == (32,) and y.dtype == torch.int64
    assert x.min() >= -1 and x.max() <= 1 and x.min() == -1 and x.max() == 1
    # exact mapping img / 127.5 - 1, from the raw uint8 values
    raw = torch.from_numpy(digits.images[0]).permute(2, 0, 1).float()
    torch.testing.assert_close(dm.train_dataloader().dataset[0][0], raw / 127.5 - 1)
    assert len(dm.train_dataloader()) == len(digits) // 32  # drop_last


def test_n_per_class_and_val_split(digits):
    dm = GANDataModule(digits, n_per_class=10, val_fraction=0.2, data_seed=1)
    np.testing.assert_array_equal(dm.labelled_set.class_counts(), [10] * 10)
    np.testing.assert_array_equal(dm.train_set.class_counts(), [8] * 10)
    np.testing.assert_array_equal(dm.val_set.class_counts(), [2] * 10)


def test_long_tail_regime(digits):
    dm = GANDataModule(digits, imbalance_ratio=10, n_max=100)
    assert dm.train_set.class_counts()[0] == 100 and dm.train_set.class_counts()[-1] == 10
    with pytest.raises(GanaugDataError, match="not both"):
        GANDataModule(digits, n_per_class=5, imbalance_ratio=10)
    with pytest.raises(GanaugDataError, match="n_max only applies"):
        GANDataModule(digits, n_max=5)


def test_dataset_smaller_than_batch_still_yields_a_batch(digits):
    dm = GANDataModule(digits, n_per_class=2, batch_size=64)
    batches = list(dm.train_dataloader())
    assert len(batches) == 1 and batches[0][0].shape[0] == 20


def test_any_torch_dataset_is_converted():
    x = torch.rand(12, 3, 4, 4)
    dm = GANDataModule(TensorDataset(x, torch.arange(12) % 3), batch_size=4)
    assert dm.image_shape == (4, 4, 3) and dm.num_classes == 3


def test_user_transform_is_not_applied_to_gan_batches():
    ds = ImageArrayDataset(
        np.full((4, 2, 2, 1), 255, np.uint8), [0, 1, 0, 1], transform=lambda img: img * 0
    )
    x, _ = next(iter(GANDataModule(ds, batch_size=4).train_dataloader()))
    assert torch.all(x == 1)


def test_buildable_by_hydra():
    cfg = OmegaConf.create(
        {
            "_target_": "ganaug.data.GANDataModule",
            "dataset": {"_target_": "ganaug.data.load_digits", "split": "train"},
            "name": "digits",
            "n_per_class": 5,
            "imbalance_ratio": None,
            "n_max": None,
            "data_seed": 0,
            "val_fraction": 0.0,
            "batch_size": 16,
        }
    )
    dm = instantiate(cfg)
    assert isinstance(dm, GANDataModule) and dm.name == "digits" and len(dm.train_set) == 50


def test_worker_settings(digits):
    loader = GANDataModule(digits, num_workers=2).train_dataloader()
    assert loader.num_workers == 2 and loader.persistent_workers
    assert not GANDataModule(digits).train_dataloader().persistent_workers


def test_batches_gathered_on_the_device_equal_the_host_batches(digits):
    # The GPU path (one resident copy, index batches) gives the host path's tensors, batch for batch.
    host = GANDataModule(digits, n_per_class=30, batch_size=16)
    resident = GANDataModule(digits, n_per_class=30, batch_size=16, on_device=True)
    assert not host.holds_data_on_device() and resident.holds_data_on_device()
    torch.manual_seed(3)
    expected = list(host.train_dataloader())
    torch.manual_seed(3)
    indices = list(resident.train_dataloader())
    assert len(indices) == len(expected) == 300 // 16
    for index, (x, y) in zip(indices, expected):
        assert index.dtype == torch.int64 and index.shape == (16,)
        rx, ry = resident.transfer_batch_to_device(index, torch.device("cpu"), 0)
        torch.testing.assert_close(rx, x, rtol=0, atol=0)
        assert torch.equal(ry, y)
    # The copy is made once per device, not per batch.
    assert list(resident._resident) == [torch.device("cpu")]
    # The host path's (images, labels) pairs still move the usual way.
    x, y = resident.transfer_batch_to_device(expected[0], torch.device("cpu"), 0)
    assert torch.equal(x, expected[0][0])


def test_on_device_auto_follows_the_trainer(digits):
    import pytorch_lightning as pl

    dm = GANDataModule(digits, on_device="auto")
    assert not dm.holds_data_on_device()  # no trainer: the loader yields images
    dm.trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                            enable_checkpointing=False)
    assert not dm.holds_data_on_device()
    with pytest.raises(GanaugDataError, match="data.on_device must be auto, true or false"):
        GANDataModule(digits, on_device="gpu")


def test_on_device_auto_is_on_when_the_trainer_trains_off_the_cpu(digits):
    from types import SimpleNamespace

    dm = GANDataModule(digits, on_device="auto")
    dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cuda", 0)))
    assert dm.holds_data_on_device()
    assert isinstance(next(iter(dm.train_dataloader())), torch.Tensor)  # index batches

import numpy as np
import pytest

from ganaug.data import DATASET_NAMES, load_dataset
from ganaug.errors import GanaugDataError


def test_unknown_name_lists_known_names():
    with pytest.raises(GanaugDataError) as e:
        load_dataset("cifar10")
    assert all(
        name in str(e.value) for name in ("fashion_mnist", "digits", "image_folder", "arrays")
    )
    assert set(DATASET_NAMES) == {"fashion_mnist", "digits", "image_folder", "arrays"}


def test_digits_passes_split_and_kwargs():
    test = load_dataset("digits", split="test", test_fraction=0.5)
    assert abs(len(test) - 1797 / 2) <= 1


def test_arrays_in_memory_and_npz(tmp_path):
    images = np.zeros((4, 3, 3, 1), np.uint8)
    ds = load_dataset("arrays", images=images, labels=[0, 1, 0, 1], class_names=["a", "b"])
    assert ds.class_names == ["a", "b"] and len(ds) == 4
    np.savez(
        tmp_path / "d.npz",
        images=images,
        labels=np.array([1, 0, 1, 0]),
        class_names=np.array(["x", "y"]),
    )
    ds = load_dataset("arrays", path=tmp_path / "d.npz")
    assert ds.class_names == ["x", "y"]
    np.testing.assert_array_equal(ds.labels, [1, 0, 1, 0])
    with pytest.raises(GanaugDataError, match="not both"):
        load_dataset("arrays", path=tmp_path / "d.npz", images=images)
    with pytest.raises(GanaugDataError, match="does not exist"):
        load_dataset("arrays", path=tmp_path / "nope.npz")


def test_npz_with_split_keys(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, train_images=np.zeros((2, 3, 3), np.uint8), train_labels=np.array([0, 1]))
    assert len(load_dataset("arrays", "train", path=path)) == 2
    # never fall back to another split's arrays
    with pytest.raises(GanaugDataError, match="test_images"):
        load_dataset("arrays", "test", path=path)


def test_image_folder_split_subfolder(tmp_path):
    import cv2

    for split in ("train", "test"):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
            cv2.imwrite(str(tmp_path / split / cls / "0.png"), np.zeros((4, 4), np.uint8))
    assert load_dataset("image_folder", "test", root=tmp_path).class_names == ["a", "b"]
    assert len(load_dataset("image_folder", root=tmp_path / "train")) == 2
    with pytest.raises(GanaugDataError, match="no folder .*val"):
        load_dataset("image_folder", "val", root=tmp_path)

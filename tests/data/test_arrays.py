import albumentations as A
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset, Subset, TensorDataset

from ganaug.data import ImageArrayDataset, from_dataset
from ganaug.errors import GanaugDataError


def _images(n=6, h=4, w=5, c=1):
    return np.arange(n * h * w * c, dtype=np.int64).reshape(n, h, w, c).astype(np.uint8)


def test_attributes_and_items():
    ds = ImageArrayDataset(_images(c=3), [0, 1, 2, 0, 1, 2], class_names=["a", "b", "c"])
    assert len(ds) == 6 and ds.num_classes == 3 and ds.class_names == ["a", "b", "c"]
    assert ds.image_shape == (4, 5, 3) and ds.labels.dtype == np.int64
    image, label = ds[4]
    assert (
        image.dtype == np.uint8 and image.shape == (4, 5, 3) and label == 1 and type(label) is int
    )
    image[:] = 0  # items are copies: the dataset must not change
    assert ds.images[4].any()
    np.testing.assert_array_equal(ds.class_counts(), [2, 2, 2])


def test_grayscale_without_channel_axis_and_default_names():
    ds = ImageArrayDataset(_images()[..., 0], [0, 1, 2, 3, 0, 1])
    assert ds.image_shape == (4, 5, 1) and ds.class_names == ["0", "1", "2", "3"]


def test_float_images_rejected_with_fix():
    with pytest.raises(GanaugDataError, match="uint8.*float32.*astype\\(np.uint8\\)"):
        ImageArrayDataset(_images().astype(np.float32) / 255, [0, 1, 0, 1, 0, 1])


@pytest.mark.parametrize(
    "images, match",
    [
        (np.zeros((2, 4), np.uint8), "N×H×W×C"),
        (np.zeros((2, 4, 4, 2), np.uint8), "1 or 3 channels"),
        (np.zeros((2, 3, 8, 8), np.uint8), "transpose\\(0, 2, 3, 1\\)"),
    ],
)
def test_bad_shapes(images, match):
    with pytest.raises(GanaugDataError, match=match):
        ImageArrayDataset(images, [0, 0])


def test_label_errors():
    with pytest.raises(GanaugDataError, match="6 images but 5 labels"):
        ImageArrayDataset(_images(), [0, 1, 0, 1, 0])
    with pytest.raises(GanaugDataError, match="label 3 at index 5 is outside \\[0, 3\\)"):
        ImageArrayDataset(_images(), [0, 1, 2, 0, 1, 3], class_names=["a", "b", "c"])
    with pytest.raises(GanaugDataError, match="label -1 at index 0"):
        ImageArrayDataset(_images(), [-1, 1, 2, 0, 1, 2])
    with pytest.raises(GanaugDataError, match="must be integers.*astype"):
        ImageArrayDataset(_images(), np.array([0, 1, 0, 1, 0, 1], dtype=float))
    with pytest.raises(GanaugDataError, match="duplicates \\['a'\\]"):
        ImageArrayDataset(_images(), [0, 1, 0, 1, 0, 1], class_names=["a", "a"])


def test_empty_classes_named_unless_allowed():
    with pytest.raises(GanaugDataError, match="1 \\('b'\\), 3 \\('d'\\)"):
        ImageArrayDataset(_images(), [0, 2, 0, 2, 0, 2], class_names=["a", "b", "c", "d"])
    ds = ImageArrayDataset(
        _images(), [0, 2, 0, 2, 0, 2], class_names=["a", "b", "c", "d"], allow_empty_classes=True
    )
    np.testing.assert_array_equal(ds.class_counts(), [3, 0, 3, 0])


def test_albumentations_transform_called_by_keyword():
    images = _images(c=3)
    ds = ImageArrayDataset(images, [0, 1, 0, 1, 0, 1], transform=A.Compose([A.HorizontalFlip(p=1)]))
    image, _ = ds[2]
    np.testing.assert_array_equal(image, images[2][:, ::-1])
    single = ImageArrayDataset(images, [0, 1, 0, 1, 0, 1], transform=A.HorizontalFlip(p=1))
    np.testing.assert_array_equal(single[2][0], images[2][:, ::-1])


def test_plain_callable_transform_called_positionally():
    ds = ImageArrayDataset(_images(), [0, 1, 0, 1, 0, 1], transform=lambda img: img.sum())
    assert ds[1] == (int(_images()[1].sum()), 1)


def test_subset_keeps_classes_and_transform():
    flip = A.HorizontalFlip(p=1)
    ds = ImageArrayDataset(_images(), [0, 1, 2, 0, 1, 2], class_names=list("abc"), transform=flip)
    sub = ds.subset([3, 0])
    assert sub.class_names == ["a", "b", "c"] and sub.transform is flip
    np.testing.assert_array_equal(sub.labels, [0, 0])
    np.testing.assert_array_equal(sub.images, ds.images[[3, 0]])
    assert len(ds.subset(np.zeros(6, bool))) == 0  # an empty subset is legal (e.g. no val split)


class _Items(Dataset):
    def __init__(self, items, classes=None):
        self.items = items
        if classes is not None:
            self.classes = classes

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_from_dataset_uint8_arrays_and_classes_attribute():
    items = [(np.full((3, 3), i, np.uint8), i % 2) for i in range(4)]
    ds = from_dataset(_Items(items, classes=["even", "odd"]))
    assert ds.image_shape == (3, 3, 1) and ds.class_names == ["even", "odd"]
    np.testing.assert_array_equal(ds.images[:, 0, 0, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(ds.labels, [0, 1, 0, 1])
    # through a torch Subset, the wrapped dataset's names are still found
    assert from_dataset(Subset(_Items(items, classes=["e", "o"]), [0, 1])).class_names == ["e", "o"]


def test_from_dataset_float_tensors_zero_one_and_minus_one_one():
    x01 = torch.tensor([0.0, 0.5, 1.0]).reshape(3, 1, 1, 1).expand(3, 3, 2, 2)
    ds = from_dataset(TensorDataset(x01, torch.tensor([0, 1, 2])))
    assert ds.image_shape == (2, 2, 3)
    np.testing.assert_array_equal(ds.images[:, 0, 0, 0], [0, 128, 255])
    # one image entirely >= 0 must not switch the scale of a [-1, 1] dataset
    xpm = torch.tensor([-1.0, 0.0, 0.5]).reshape(3, 1, 1, 1).expand(3, 1, 2, 2)
    ds = from_dataset(TensorDataset(xpm, torch.tensor([0, 1, 1])))
    np.testing.assert_array_equal(ds.images[:, 0, 0, 0], [0, 128, 191])
    with pytest.raises(GanaugDataError, match="values in \\[0, 3\\].*Normalize"):
        from_dataset(TensorDataset(xpm * 2 + 2, torch.tensor([0, 1, 1])))


def test_from_dataset_pil_images_and_num_classes():
    items = [(Image.new("RGB", (5, 4), (10, 20, 30)), 0), (Image.new("RGBA", (5, 4)), 1)]
    ds = from_dataset(_Items(items), num_classes=3, allow_empty_classes=True)
    assert ds.image_shape == (4, 5, 3) and ds.class_names == ["0", "1", "2"]
    np.testing.assert_array_equal(ds.images[0, 0, 0], [10, 20, 30])


def test_from_dataset_names_first_inconsistent_item():
    items = [(np.zeros((3, 3), np.uint8), 0)] * 2 + [(np.zeros((4, 3), np.uint8), 1)] * 2
    with pytest.raises(
        GanaugDataError, match="item 2 has image shape \\(4, 3, 1\\).*item 0 has \\(3, 3, 1\\)"
    ):
        from_dataset(_Items(items))
    with pytest.raises(GanaugDataError, match="item 1 has label 0.5"):
        from_dataset(_Items([(np.zeros((3, 3), np.uint8), 0), (np.zeros((3, 3), np.uint8), 0.5)]))
    with pytest.raises(GanaugDataError, match="item 0 is a tensor.*permute"):
        from_dataset(TensorDataset(torch.zeros(2, 8, 8, 3), torch.tensor([0, 1])))


def test_from_dataset_of_array_dataset_does_not_apply_its_transform():
    base = ImageArrayDataset(_images(), [0, 1, 0, 1, 0, 1], transform=lambda img: None)
    assert from_dataset(base) is base
    renamed = from_dataset(base, class_names=["x", "y"])
    assert renamed.class_names == ["x", "y"]
    np.testing.assert_array_equal(renamed.images, base.images)

import cv2
import numpy as np
import pytest

from ganaug.data import load_image_folder
from ganaug.errors import GanaugDataError


def _write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def test_grayscale_classes_sorted_and_labels(tmp_path):
    for cls, value in (("b_dog", 200), ("a_cat", 100)):
        for i in range(2):
            _write(tmp_path / cls / f"{i}.png", np.full((6, 5), value, np.uint8))
    (tmp_path / "a_cat" / "notes.txt").write_text("ignored")
    ds = load_image_folder(tmp_path)
    assert ds.class_names == ["a_cat", "b_dog"] and ds.image_shape == (6, 5, 1)
    np.testing.assert_array_equal(ds.labels, [0, 0, 1, 1])
    np.testing.assert_array_equal(ds.images[:, 0, 0, 0], [100, 100, 200, 200])


def test_rgb_is_converted_from_bgr_and_alpha_dropped(tmp_path):
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's order
    _write(tmp_path / "x" / "rgb.png", bgr)
    bgra = np.concatenate([bgr, np.full((4, 4, 1), 7, np.uint8)], axis=2)
    _write(tmp_path / "y" / "rgba.png", bgra)
    _write(tmp_path / "y" / "photo.JPG", bgr)
    ds = load_image_folder(tmp_path)
    assert ds.image_shape == (4, 4, 3) and len(ds) == 3
    np.testing.assert_array_equal(ds.images[0, 0, 0], [0, 0, 255])
    np.testing.assert_allclose(ds.images[2, 0, 0], [0, 0, 255], atol=10)  # JPEG is lossy


def test_mixed_sizes_error_then_resize(tmp_path):
    a = _write(tmp_path / "a" / "big.png", np.full((8, 8), 50, np.uint8))
    b = _write(tmp_path / "b" / "small.png", np.full((4, 6), 50, np.uint8))
    with pytest.raises(GanaugDataError) as e:
        load_image_folder(tmp_path)
    msg = str(e.value)
    assert str(a) in msg and str(b) in msg and "(8, 8, 1)" in msg and "(4, 6, 1)" in msg
    assert "data.dataset.size=[H,W]" in msg and "channels" not in msg
    ds = load_image_folder(tmp_path, size=[5, 7])
    assert ds.image_shape == (5, 7, 1)
    assert np.all(ds.images == 50)


def test_mixed_channels_error_then_convert(tmp_path):
    _write(tmp_path / "a" / "gray.png", np.full((4, 4), 90, np.uint8))
    _write(tmp_path / "b" / "color.png", np.full((4, 4, 3), 90, np.uint8))
    with pytest.raises(GanaugDataError, match=r"data\.dataset\.channels=1 or 3"):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, channels=3).image_shape == (4, 4, 3)
    gray = load_image_folder(tmp_path, channels=1)
    assert gray.image_shape == (4, 4, 1) and np.all(gray.images == 90)


def test_empty_class_folder_is_named(tmp_path):
    _write(tmp_path / "full" / "0.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "hollow").mkdir()
    with pytest.raises(GanaugDataError, match="without images.*hollow"):
        load_image_folder(tmp_path)


def test_no_images_and_missing_root(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "readme.txt").write_text("x")
    with pytest.raises(GanaugDataError, match="no images"):
        load_image_folder(tmp_path)
    with pytest.raises(GanaugDataError, match="no class sub-folders"):
        load_image_folder(tmp_path / "a")
    with pytest.raises(GanaugDataError, match="does not exist.*data.dataset.root"):
        load_image_folder(tmp_path / "missing")


def test_16_bit_and_corrupt_files_are_errors(tmp_path):
    deep = _write(tmp_path / "a" / "deep.png", np.full((4, 4), 1000, np.uint16))
    with pytest.raises(GanaugDataError, match="deep.png is a uint16 image \\(16-bit\\)"):
        load_image_folder(tmp_path)
    deep.unlink()
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(GanaugDataError, match="could not decode.*broken.png"):
        load_image_folder(tmp_path)


@pytest.mark.parametrize("splits", [("train",), ("test", "train")])
def test_a_root_one_level_above_the_class_folders_is_named(tmp_path, splits):
    # root/train/<class>/*.png (and root/test/...): each split would pass for a class of all the images
    for split in splits:
        for cls in ("cat", "dog"):
            _write(tmp_path / split / cls / "0.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(GanaugDataError, match=rf"one level above the class folders.*at {tmp_path / splits[0]}$"):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path / splits[0]).class_names == ["cat", "dog"]


def test_images_nested_below_their_class_folders_are_read(tmp_path):
    _write(tmp_path / "cat" / "a" / "0.png", np.zeros((4, 4), np.uint8))
    _write(tmp_path / "cat" / "b" / "1.png", np.zeros((4, 4), np.uint8))
    _write(tmp_path / "dog" / "2.png", np.zeros((4, 4), np.uint8))
    _write(tmp_path / "dog" / "a" / "3.png", np.zeros((4, 4), np.uint8))
    ds = load_image_folder(tmp_path)
    assert ds.class_names == ["cat", "dog"] and ds.labels.tolist() == [0, 0, 1, 1]
    # every class in the same sub-folders (by year, by source) is a layout, not a mistake
    for cls in ("cat", "dog"):
        for year in ("2019", "2020"):
            _write(tmp_path / "years" / cls / year / "0.png", np.zeros((4, 4), np.uint8))
    assert load_image_folder(tmp_path / "years").class_names == ["cat", "dog"]

from collections import Counter

import numpy as np
import pytest

from ganaug.data import load_digits
from ganaug.errors import GanaugDataError


def test_shapes_values_and_names():
    full = load_digits("all")
    assert full.images.shape == (1797, 8, 8, 1) and full.images.dtype == np.uint8
    assert full.images.max() == 255 and full.images.min() == 0
    # 0..16 mapped by round(v * 255 / 16): only those 17 levels can occur
    levels = {round(v * 255 / 16) for v in range(17)}
    assert set(np.unique(full.images).tolist()) <= levels
    assert full.class_names == [str(k) for k in range(10)]


def test_split_is_disjoint_stratified_and_seeded():
    train, test = load_digits("train"), load_digits("test")
    assert len(train) + len(test) == 1797
    assert abs(len(test) - 0.25 * 1797) <= 1
    # train + test must be exactly the full set, as a multiset (a few digits repeat)
    rows = lambda ds: Counter(
        (r.tobytes(), int(lbl)) for r, lbl in zip(ds.images, ds.labels, strict=True)
    )
    assert rows(train) + rows(test) == rows(load_digits("all"))
    share = test.class_counts() / (train.class_counts() + test.class_counts())
    assert np.all(np.abs(share - 0.25) < 0.02)
    np.testing.assert_array_equal(load_digits("train").images, train.images)
    assert not np.array_equal(load_digits("train", split_seed=1).labels, train.labels)


def test_bad_arguments():
    with pytest.raises(GanaugDataError, match="unknown digits split"):
        load_digits("val")
    with pytest.raises(GanaugDataError, match="test_fraction"):
        load_digits(test_fraction=1.0)

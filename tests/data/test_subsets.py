import numpy as np
import pytest

from ganaug.data import labelled_subset, long_tail, train_val_split
from ganaug.data.subsets import long_tail_counts
from ganaug.errors import GanaugDataError


def _ids(ds):
    ids = ds.images[:, 0, 0, 0].astype(int) + 256 * ds.images[:, 0, 1, 0].astype(int)
    return set(ids.tolist())


def test_labelled_subset_exact_counts_deterministic_and_nested(make_dataset):
    ds = make_dataset([30, 40, 25])
    sub = labelled_subset(ds, 10, seed=3)
    np.testing.assert_array_equal(sub.class_counts(), [10, 10, 10])
    assert sub.class_names == ds.class_names
    np.testing.assert_array_equal(labelled_subset(ds, 10, seed=3).images, sub.images)
    assert _ids(labelled_subset(ds, 10, seed=4)) != _ids(sub)
    assert _ids(sub) <= _ids(labelled_subset(ds, 20, seed=3))


def test_labelled_subset_short_class_is_named(make_dataset):
    ds = make_dataset([30, 8, 25])
    with pytest.raises(GanaugDataError, match="1 \\('1': has 8, needs 10\\)") as e:
        labelled_subset(ds, 10, seed=0)
    assert "'0'" not in str(e.value)
    with pytest.raises(GanaugDataError, match="positive integer"):
        labelled_subset(ds, 0, seed=0)


def test_long_tail_counts():
    assert long_tail_counts(3, 10.0, 100) == [100, 32, 10]
    assert long_tail_counts(5, 1.0, 7) == [7] * 5
    assert long_tail_counts(4, 1000.0, 50)[-1] == 1  # never below one image
    assert long_tail_counts(1, 10.0, 9) == [9]


def test_long_tail_subset(make_dataset):
    ds = make_dataset([120, 110, 105])
    lt = long_tail(ds, imbalance_ratio=10, n_max=100, seed=0)
    np.testing.assert_array_equal(lt.class_counts(), [100, 32, 10])
    np.testing.assert_array_equal(long_tail(ds, 10, 100, seed=0).images, lt.images)
    # default n_max is the smallest class, so each class can supply its share
    np.testing.assert_array_equal(long_tail(ds, 4, seed=0).class_counts(), [105, 52, 26])
    with pytest.raises(GanaugDataError, match="has 105, needs 200"):
        long_tail(ds, 1.0, n_max=200, seed=0)
    with pytest.raises(GanaugDataError, match="imbalance_ratio must be >= 1"):
        long_tail(ds, 0.5, seed=0)


def test_train_val_split_stratified_disjoint_deterministic(make_dataset):
    ds = make_dataset([20, 10, 1])
    train, val = train_val_split(ds, 0.2, seed=5)
    np.testing.assert_array_equal(val.class_counts(), [4, 2, 0])
    np.testing.assert_array_equal(train.class_counts(), [16, 8, 1])  # a lone image stays in train
    assert _ids(train).isdisjoint(_ids(val)) and _ids(train) | _ids(val) == _ids(ds)
    again = train_val_split(ds, 0.2, seed=5)[1]
    np.testing.assert_array_equal(again.images, val.images)
    train, val = train_val_split(ds, 0.0, seed=5)
    assert len(val) == 0 and len(train) == len(ds) and val.num_classes == 3
    # even a huge fraction leaves every class one training image
    assert train_val_split(ds, 0.99, seed=0)[0].class_counts().min() == 1
    with pytest.raises(GanaugDataError, match="val_fraction"):
        train_val_split(ds, 1.0, seed=0)

"""The argument checks every layer shares (ganaug.base.checks): one wording, one set of accepted values."""
import sys

import numpy as np
import pytest

from ganaug.base.checks import check_flag, class_name_list
from ganaug.data.arrays import ImageArrayDataset
from ganaug.errors import ConfigError, GanaugDataError
from ganaug.classify.loss import check_loss_args


@pytest.mark.parametrize("value", ["false", "no", 0, 1, None, [True]])
def test_a_flag_that_is_not_true_or_false_is_refused(value):
    with pytest.raises(ConfigError, match=rf"shuffle must be true or false, got {value!r}".replace("[", r"\[")):
        check_flag("shuffle", value)


def test_numpy_booleans_count_as_flags_in_every_layer():
    # A flag read from a numpy array (a sweep's grid) was taken by SyntheticMix but refused by the loss.
    assert check_flag("x", np.bool_(True)) is True
    check_loss_args(1.0, 0.0, None, confidence_weight=np.bool_(False))


def test_class_names_give_one_distinct_string_per_class():
    assert class_name_list(None, 3) == ["0", "1", "2"]
    assert class_name_list([3, "b"], 2) == ["3", "b"]
    with pytest.raises(ConfigError, match=r"3 class names for a generator with 2 classes"):
        class_name_list(["a", "b", "c"], 2)
    with pytest.raises(ConfigError, match=r"got the string 'ab'; pass e.g."):
        class_name_list("ab", 2)


def test_a_dataset_reports_bad_class_names_as_bad_data():
    x = np.zeros((2, 4, 4, 1), np.uint8)
    with pytest.raises(GanaugDataError, match=r"class_names has duplicates \['a'\]"):
        ImageArrayDataset(x, [0, 1], class_names=["a", "a"])
    with pytest.raises(GanaugDataError, match="class_names is empty"):
        ImageArrayDataset(x, [0, 1], class_names=[])


def _bad_calls():
    import torch

    from ganaug.eval import stats
    from ganaug.mix.class_policy import class_probabilities
    from ganaug.gan.diffaug import parse_policy
    from ganaug.mix.filter import QualityFilter
    from ganaug.mix.plan import check_ratio
    from ganaug.gan.nets import Generator

    return {
        "ratio": lambda: check_ratio(1.5),
        "class_policy": lambda: class_probabilities("bogus", 3),
        "diffaug": lambda: parse_policy("blur", 1),
        "filter threshold": lambda: QualityFilter(torch.nn.Identity(), threshold=2.0),
        "filter fallback": lambda: QualityFilter(torch.nn.Identity(), fallback="skip"),
        "generator channels": lambda: Generator(num_classes=2, image_size=8, channels=2),
        "paired stats": lambda: stats.paired_diff_ci([1.0, 2.0], [1.0]),
    }


@pytest.mark.parametrize("name", sorted(_bad_calls()))
def test_every_bad_argument_is_a_ganaug_error(name):
    # `except ganaug.GanaugError` is how a user (and every CLI) tells their own mistake from a bug;
    # these raised a bare ValueError before.
    import ganaug

    with pytest.raises(ganaug.ConfigError):
        _bad_calls()[name]()


def test_class_name_list_does_not_scan_every_name_once_per_name():
    # names.count(n) per name: 100 000 names took minutes. A profiler hook sees each method call
    # made on a list as long as the names; a linear check makes none per name.
    names = [f"c{i}" for i in range(2000)]
    scans = []

    def hook(frame, event, arg):
        owner = getattr(arg, "__self__", None)
        if event == "c_call" and isinstance(owner, list) and len(owner) == len(names):
            scans.append(arg.__name__)

    sys.setprofile(hook)
    try:
        assert class_name_list(names) == names
    finally:
        sys.setprofile(None)
    assert len(scans) < 10, f"{len(scans)} calls of {sorted(set(scans))} over all the names"


def test_duplicate_class_names_are_listed_a_few_then_counted():
    with pytest.raises(ConfigError) as e:
        class_name_list([f"c{i // 2}" for i in range(20_000)])
    msg = str(e.value)
    assert len(msg) < 400 and "'c0', 'c1'" in msg and "10000 names appear more than once" in msg


@pytest.mark.parametrize("value", [None, 3, "", " "])
@pytest.mark.parametrize("call", ["load_recipe", "load_generator", "SyntheticBank.open"])
def test_a_path_argument_that_is_no_path_is_named(call, value):
    # None (a setting left unset) gave Python's 'expected str, bytes or os.PathLike object, not NoneType'; an empty
    # string (an unset environment variable) looked in the current directory.
    import ganaug

    fn = {"load_recipe": ganaug.load_recipe, "load_generator": ganaug.load_generator,
          "SyntheticBank.open": ganaug.SyntheticBank.open}[call]
    with pytest.raises(ConfigError, match=rf"^{call}: path must be a path \(a str or os.PathLike\), got "
                                          rf"{value!r}; "):
        fn(value)


def test_class_indices_is_one_check_for_a_banks_labels_and_a_mixs_real_labels():
    # The bank checked its labels in a copy of the mix's check; the mix's message named no fix.
    import ganaug
    from ganaug.base.checks import class_indices

    assert class_indices("labels", [[1], [2]]).tolist() == [1, 2] and class_indices("labels", []).dtype == np.int64
    images, floats = np.zeros((4, 8, 8, 1), np.uint8), np.array([0.0, 1.0, 0.9, 1.0])
    real = ImageArrayDataset(images, np.array([0, 1, 0, 1]), ["a", "b"])
    bank = ganaug.SyntheticBank.from_arrays(images, [0, 1, 0, 1], ["a", "b"])
    fix = r"must be integer class indices, got float64 values; map them to 0..K-1 \(whole numbers stored as floats"
    with pytest.raises(ConfigError, match="^labels " + fix):
        ganaug.SyntheticBank.from_arrays(images, floats)
    with pytest.raises(GanaugDataError, match="^real labels " + fix):
        ganaug.SyntheticMix(real, bank, 0.5, real_labels=floats)

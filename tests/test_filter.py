import numpy as np
import pytest
import torch

from ganaug import GanaugError, QualityFilter


def _fixed_confidence(conf_by_class):
    """A classifier whose probability for an image's class is encoded in the image: pixel value / 255."""
    k = len(conf_by_class)

    def classify(images):
        c = images.reshape(len(images), -1)[:, 0].astype(np.int64) % k
        p = images.reshape(len(images), -1)[:, 1].astype(np.float64) / 255
        probs = np.tile(((1 - p) / (k - 1))[:, None], (1, k))
        probs[np.arange(len(images)), c] = p
        return probs

    return classify


def _images(classes, confidences):
    x = np.zeros((len(classes), 4, 4, 1), np.uint8)
    x[:, 0, 0, 0] = classes
    x[:, 0, 1, 0] = np.round(np.asarray(confidences) * 255)
    return x


def test_calibration_lowers_the_threshold_of_classes_real_images_are_unsure_of():
    qf = QualityFilter(_fixed_confidence([0, 0, 0]), threshold=0.9)
    # Real validation images: class 0 sure (0.98), class 1 unsure (median 0.5), class 2 absent.
    real_y = np.array([0, 0, 0, 1, 1, 1])
    real = _images(real_y, [0.98, 0.98, 0.98, 0.4, 0.5, 0.6])
    qf.calibrate(real, real_y, quantile=0.5)
    assert qf.class_thresholds == pytest.approx([0.9, 0.5, 0.9], abs=0.01)
    syn_y = np.array([0, 0, 1, 1, 2])
    keep = qf(_images(syn_y, [0.95, 0.6, 0.55, 0.45, 0.6]), syn_y)
    # The uncalibrated filter would keep only the first image.
    assert keep.tolist() == [True, False, True, False, False]
    assert "per-class thresholds 0.90, 0.50, 0.90" in qf.describe()


def test_calibrated_filter_names_its_thresholds_when_a_class_is_hopeless():
    qf = QualityFilter(_fixed_confidence([0, 0]), threshold=0.9)
    qf.calibrate(_images([0, 1], [0.3, 0.95]), np.array([0, 1]), quantile=0.5)
    y = np.zeros(200, np.int64)
    qf(_images(y, np.full(200, 0.1)), y)
    with pytest.raises(GanaugError, match=r"per-class thresholds 0.30, 0.90\) accepts almost nothing for '0'"):
        qf.check_progress(y, ["0", "1"])


def test_fallback_lets_only_the_stuck_class_through_and_reset_forgets_it():
    qf = QualityFilter(_fixed_confidence([0, 0]), threshold=0.9, fallback="unfiltered")
    y = np.zeros(99, np.int64)
    qf(_images(y, np.full(99, 0.1)), y)
    qf.check_progress(y, ["0", "1"])  # 99 proposals: too few to judge
    assert not qf.unfiltered.any()
    y = np.array([0, 1])
    qf(_images(y, [0.1, 0.1]), y)
    with pytest.warns(UserWarning, match=r"'0': 0 of 100 \(0.00%\)"):
        qf.check_progress(np.array([0, 1]), ["0", "1"])
    assert qf(_images([0, 1], [0.1, 0.1]), np.array([0, 1])).tolist() == [True, False]
    assert qf.report(["a", "b"])["a"]["unfiltered"] is True and "unfiltered" not in qf.report(["a", "b"])["b"]
    qf.reset()
    assert qf(_images([0], [0.1]), np.array([0])).tolist() == [False]


@pytest.mark.parametrize("batch_size", [0, 2.5, True])
def test_a_batch_size_that_cannot_batch_is_refused_at_construction(batch_size):
    # accepted before: batch_size=0 failed at the first bank batch, inside predict's range()
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer \(images classified at a time\)"):
        QualityFilter(torch.nn.Linear(2, 2), batch_size=batch_size)


def test_calibration_errors_are_named():
    qf = QualityFilter(_fixed_confidence([0, 0]), threshold=0.9)
    with pytest.raises(ValueError, match="quantile must lie in"):
        qf.calibrate(_images([0], [0.5]), np.array([0]), quantile=1.5)
    with pytest.raises(ValueError, match="needs real images"):
        qf.calibrate(np.zeros((0, 4, 4, 1), np.uint8), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        qf.calibrate(_images([0, 1], [0.5, 0.5]), np.array([0, 2]))
    qf.class_thresholds = np.array([0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="calibrated for 3 classes, its classifier knows 2"):
        qf(_images([0], [0.5]), np.array([0]))

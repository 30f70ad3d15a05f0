import math

import numpy as np
import pytest
import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from ganaug.classify.classifier import train_classifier
from ganaug.classify.metrics import (
    DomainFeatureExtractor,
    cas,
    extract_features,
    fid,
    kid,
    label_agreement,
    precision_recall,
)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits(digits_shuffled):
    return digits_shuffled


@pytest.fixture(scope="module")
def extractor(digits):
    x, y = digits
    return DomainFeatureExtractor(train_classifier(x[:1000], y[:1000], 10, steps=200, seed=0))


def brighten(x, delta):
    return np.clip(x.astype(np.int16) + delta, 0, 255).astype(np.uint8)


def add_noise(x, sigma, seed=0):
    noise = np.random.default_rng(seed).normal(0.0, sigma, x.shape)
    return np.clip(x + noise, 0, 255).astype(np.uint8)


K = 8


def toy(n, seed):
    """Class k = a bright 3×3 square at slot k of a 2×4 grid, on a noisy dark background.

    Eight classes rather than four: a classifier trained on shuffled labels picks an arbitrary
    label per (compact) class, so its accuracy is a count of lucky classes over K; with K = 8
    "near chance" cannot come out at 0.5 by luck.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, n)
    img = rng.normal(40, 20, (n, 16, 16, 1))
    for i, k in enumerate(labels):
        r, c = (k // 4) * 8 + 2, (k % 4) * 4 + 1
        img[i, r : r + 3, c : c + 3] += 160
    return np.clip(img, 0, 255).astype(np.uint8), labels.astype(np.int64)


# ---------------------------------------------------------------- extractor and torchmetrics


def test_extractor_plugs_into_torchmetrics_without_probe(extractor):
    calls = []
    handle = extractor.register_forward_hook(lambda *a: calls.append(1))
    try:
        metric = FrechetInceptionDistance(feature=extractor)
    finally:
        handle.remove()
    # torchmetrics would probe a 3×299×299 uint8 image if num_features were missing.
    assert calls == [] and extractor.num_features == 128
    metric.train()
    assert not extractor.training and not extractor.model.training


def test_extractor_uint8_and_float_inputs_agree(extractor, digits):
    x = torch.from_numpy(digits[0][:32]).permute(0, 3, 1, 2).contiguous()
    f_u8 = extractor(x)
    assert f_u8.dtype == torch.float64 and f_u8.shape == (32, 128)
    torch.testing.assert_close(extractor(x.float() / 255), f_u8, rtol=1e-5, atol=1e-5)
    sym = DomainFeatureExtractor(extractor.model, float_range=(-1.0, 1.0))
    torch.testing.assert_close(sym(x.float() / 127.5 - 1), f_u8, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="N×1×H×W"):
        extractor(torch.zeros(2, 3, 8, 8))


# ----------------------------------------------------------------------------------- FID/KID


def test_fid_of_a_set_with_itself_is_zero(extractor, digits):
    a = digits[0][:800]
    scale = fid(a, brighten(a, 60), extractor)
    assert scale > 1.0
    assert abs(fid(a, a, extractor)) < 1e-6 * scale
    # two halves of the real data are close compared with a visible shift
    assert fid(a, digits[0][800:1600], extractor) < 0.2 * scale


def test_fid_grows_with_brightness_shift_and_noise(extractor, digits):
    a = digits[0][:800]
    shifts = [fid(a, brighten(a, d), extractor) for d in (0, 15, 40, 90)]
    noises = [fid(a, add_noise(a, s), extractor) for s in (0, 10, 30, 70)]
    assert all(x < y for x, y in zip(shifts, shifts[1:])), shifts
    assert all(x < y for x, y in zip(noises, noises[1:])), noises


def test_kid_near_zero_for_identical_and_larger_when_shifted(extractor, digits):
    a = digits[0][:600]
    same, _ = kid(a, a, extractor, subset_size=200, subsets=20)
    small, _ = kid(a, brighten(a, 30), extractor, subset_size=200, subsets=20)
    large, std = kid(a, brighten(a, 90), extractor, subset_size=200, subsets=20)
    assert abs(same) < 0.1 * large
    assert same < small < large and std > 0
    assert kid(a, a, extractor, subset_size=200, subsets=5, seed=1) == kid(
        a, a, extractor, subset_size=200, subsets=5, seed=1
    )


def test_fid_kid_input_errors(extractor, digits):
    a = digits[0][:100]
    with pytest.raises(ValueError, match="subset_size=200"):
        kid(a, a, extractor, subset_size=200)
    with pytest.raises(ValueError, match="differ in shape"):
        fid(a, np.zeros((100, 10, 10, 1), np.uint8), extractor)
    with pytest.raises(ValueError, match="channels"):
        fid(np.repeat(a, 3, -1), np.repeat(a, 3, -1), extractor)
    with pytest.raises(ValueError, match="at least 2"):
        fid(a, a[:1], extractor)
    with pytest.raises(ValueError, match="uint8"):
        fid(a.astype(np.float32), a, extractor)


# ------------------------------------------------------------------- CAS and label agreement


@pytest.fixture(scope="module")
def toy_sets():
    return toy(400, seed=1), toy(400, seed=2), toy(400, seed=3)  # synthetic, real train, test


def test_cas_on_separable_data(toy_sets):
    (xs, ys), (xr, yr), (xt, yt) = toy_sets
    out = cas(xs, ys, xr, yr, xt, yt, K, steps=60, batch_size=32)
    assert out["cas"] > 0.95 and out["real_acc"] > 0.95
    assert out["cas_ratio"] == pytest.approx(out["cas"] / out["real_acc"])
    assert 0.95 < out["cas_ratio"] < 1.05


def test_cas_with_shuffled_synthetic_labels_is_near_chance(toy_sets):
    (xs, ys), _, (xt, yt) = toy_sets
    shuffled = np.random.default_rng(0).permutation(ys)
    out = cas(xs, shuffled, None, None, xt, yt, K, steps=60, batch_size=32, real_acc=0.98)
    assert out["real_acc"] == 0.98
    assert out["cas"] < 0.4  # chance is 1/8
    assert out["cas_ratio"] == pytest.approx(out["cas"] / 0.98)


def test_cas_needs_real_data_or_real_acc(toy_sets):
    (xs, ys), _, (xt, yt) = toy_sets
    with pytest.raises(ValueError, match="real_acc"):
        cas(xs, ys, None, None, xt, yt, K, steps=1)
    with pytest.raises(ValueError, match="synthetic_labels"):
        cas(xs, ys + K, None, None, xt, yt, K, steps=1, real_acc=1.0)
    # two untrained classifiers scored a CAS ratio near 1 ("synthetic as good as real") before
    with pytest.raises(ValueError, match=r"steps must be a positive integer \(each CAS classifier's"):
        cas(xs, ys, None, None, xt, yt, K, steps=0, real_acc=1.0)


def test_cas_trains_both_classifiers_with_the_given_recipe(toy_sets, monkeypatch):
    import ganaug.classify.metrics as metrics

    (xs, ys), (xr, yr), (xt, yt) = toy_sets
    seen, real_train = [], metrics.train_classifier

    def spy(*args, **kwargs):
        seen.append({k: kwargs[k] for k in ("precision", "arch", "width", "device")})
        return real_train(*args, **kwargs)

    monkeypatch.setattr(metrics, "train_classifier", spy)
    cas(xs, ys, xr, yr, xt, yt, K, steps=2, batch_size=32, precision="bf16-mixed", arch="resnet", width=8)
    assert seen == [{"precision": "bf16-mixed", "arch": "resnet", "width": 8, "device": "cpu"}] * 2


def test_label_agreement_detects_ignored_conditioning(toy_sets):
    (xr, yr), _, (xt, yt) = toy_sets
    clf = train_classifier(xr, yr, K, steps=60, batch_size=32)
    good = label_agreement(clf, xt, yt, K)
    assert good["overall"] > 0.95 and min(good["per_class"]) > 0.9
    bad = label_agreement(clf, xt, (yt + 1) % K, K)
    assert bad["overall"] < 0.1
    missing = label_agreement(clf, xt[yt != 3], yt[yt != 3], K)
    assert math.isnan(missing["per_class"][3])
    with pytest.raises(ValueError, match="predicts 8 classes"):
        label_agreement(clf, xt, yt, 9)


# --------------------------------------------------------------------------- precision/recall


def test_precision_recall_separates_fidelity_from_diversity():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(500, 8))
    same = precision_recall(real, real)
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    # collapse onto a few real modes: faithful but not diverse
    collapsed = real[rng.integers(0, 500, 5)].repeat(100, 0) + rng.normal(0, 0.01, (500, 8))
    pr = precision_recall(real, collapsed)
    assert pr["precision"] > 0.9 and pr["recall"] < 0.1
    far = precision_recall(real, rng.normal(10, 1, (500, 8)))
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    with pytest.raises(ValueError, match="more than k=3"):
        precision_recall(real[:3], real)
    with pytest.raises(ValueError, match="same d"):
        precision_recall(real, real[:, :4])


def test_precision_recall_on_extracted_features(extractor, digits):
    x = digits[0]
    real = extract_features(extractor, x[:500])
    held_out = precision_recall(real, extract_features(extractor, x[500:1000]))
    shifted = precision_recall(real, extract_features(extractor, brighten(x[500:1000], 120)))
    assert held_out["precision"] > shifted["precision"]
    assert held_out["recall"] > shifted["recall"]

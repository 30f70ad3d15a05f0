"""Sample-quality metrics with a domain classifier as the feature network.

Inception features say little about 28×28 grayscale garments, and would need a download; FID/KID
here use the penultimate layer of a SmallCNN trained on the real data, fed through torchmetrics.
FID does not predict usefulness for classification, so CAS and label agreement measure that
directly.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from ganaug.classify.classifier import (
    SmallCNN,
    _check_images,
    _check_labels,
    _check_num_classes,
    accuracy,
    check_trained_steps,
    predict,
    train_classifier,
)
from ganaug.base.pixels import to_unit

from ganaug.errors import ConfigError

__all__ = [
    "DomainFeatureExtractor",
    "extract_features",
    "fid",
    "kid",
    "cas",
    "label_agreement",
    "precision_recall",
]


class DomainFeatureExtractor(nn.Module):
    """Penultimate features of a trained SmallCNN, shaped for torchmetrics' ``feature=``.

    Input is an N×C×H×W tensor: uint8 (0..255, what torchmetrics passes with ``normalize=False``)
    or float in ``float_range`` — by default [0, 1], torchmetrics' ``normalize=True``
    convention; pass ``float_range=(-1, 1)`` to feed generator output directly. Output is float64
    (N, feature_dim): torchmetrics accumulates FID statistics in float64 but computes KID in the
    features' dtype, so returning float64 keeps both stable.

    The module never leaves eval mode (BatchNorm batch statistics would make features depend on
    batch composition), and exposes ``num_features`` so torchmetrics does not probe it with a
    3×299×299 dummy image.
    """

    def __init__(self, model: SmallCNN, float_range: tuple[float, float] = (0.0, 1.0)) -> None:
        super().__init__()
        if not isinstance(model, SmallCNN):
            raise ConfigError(f"model must be a SmallCNN, got {type(model).__name__}")
        lo, hi = float_range
        if not hi > lo:
            raise ConfigError(f"float_range must be (low, high) with high > low, got {float_range}")
        self.model = model
        self.float_range = (lo, hi)
        self.num_features = int(model.feature_dim)
        self.in_channels = model.in_channels
        self.image_size = model.image_size
        super().train(False)

    def train(self, mode: bool = True) -> DomainFeatureExtractor:
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ConfigError(
                f"feature extractor expects N×{self.in_channels}×H×W input, got {tuple(x.shape)}"
            )
        param = next(self.model.parameters())
        if x.dtype == torch.uint8:
            x = to_unit(x.to(param.device)).to(param.dtype)
        elif torch.is_floating_point(x):
            lo, hi = self.float_range
            x = (x.to(param.device, param.dtype) - lo) * (2.0 / (hi - lo)) - 1.0
        else:
            raise ConfigError(f"feature extractor expects uint8 or float input, got {x.dtype}")
        return self.model.features(x).double()


def _as_extractor(extractor: DomainFeatureExtractor | SmallCNN) -> DomainFeatureExtractor:
    if isinstance(extractor, DomainFeatureExtractor):
        return extractor
    if isinstance(extractor, SmallCNN):
        return DomainFeatureExtractor(extractor)
    raise ConfigError(
        f"extractor must be a DomainFeatureExtractor or SmallCNN, got {type(extractor).__name__}"
    )


def _check_pair(real: Any, fake: Any, extractor: DomainFeatureExtractor, min_n: int, what: str):
    real = _check_images(real, "real_images")
    fake = _check_images(fake, "fake_images")
    if real.shape[1:] != fake.shape[1:]:
        raise ConfigError(
            f"real and fake images differ in shape: {real.shape[1:]} vs {fake.shape[1:]} (H×W×C)"
        )
    if real.shape[-1] != extractor.in_channels:
        raise ConfigError(
            f"images have {real.shape[-1]} channels, the extractor expects {extractor.in_channels}"
        )
    if tuple(real.shape[1:3]) != tuple(extractor.image_size):
        raise ConfigError(
            f"images are {real.shape[1]}×{real.shape[2]}, the extractor was trained on "
            f"{extractor.image_size[0]}×{extractor.image_size[1]}"
        )
    for name, arr in (("real_images", real), ("fake_images", fake)):
        if len(arr) < min_n:
            raise ConfigError(f"{what} needs at least {min_n} {name}, got {len(arr)}")
    return real, fake


def _nchw_uint8_batches(images: np.ndarray, batch_size: int, device: torch.device):
    for start in range(0, len(images), batch_size):
        chunk = np.ascontiguousarray(images[start : start + batch_size])
        yield torch.from_numpy(chunk).permute(0, 3, 1, 2).to(device)


def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


@torch.no_grad()
def extract_features(
    extractor: DomainFeatureExtractor | SmallCNN, images: np.ndarray, batch_size: int = 512
) -> torch.Tensor:
    """float64 (N, d) features of uint8 N×H×W×C images (for ``precision_recall``)."""
    extractor = _as_extractor(extractor)
    images = _check_images(images)
    device = _device_of(extractor)
    return torch.cat([extractor(x).cpu() for x in _nchw_uint8_batches(images, batch_size, device)])


@torch.no_grad()
def fid(
    real_images: np.ndarray,
    fake_images: np.ndarray,
    extractor: DomainFeatureExtractor | SmallCNN,
    batch_size: int = 512,
) -> float:
    """Fréchet distance between domain-classifier features of two uint8 N×H×W×C image sets.

    Only comparable between runs that use the same extractor (same data, steps and seed) and
    similar sample counts: FID is biased upwards for small N.
    """
    extractor = _as_extractor(extractor)
    real, fake = _check_pair(real_images, fake_images, extractor, 2, "FID")
    device = _device_of(extractor)
    metric = FrechetInceptionDistance(feature=extractor, normalize=False).to(device)
    for x in _nchw_uint8_batches(real, batch_size, device):
        metric.update(x, real=True)
    for x in _nchw_uint8_batches(fake, batch_size, device):
        metric.update(x, real=False)
    return float(metric.compute())


@torch.no_grad()
def kid(
    real_images: np.ndarray,
    fake_images: np.ndarray,
    extractor: DomainFeatureExtractor | SmallCNN,
    subset_size: int = 1000,
    subsets: int = 100,
    seed: int = 0,
    batch_size: int = 512,
) -> tuple[float, float]:
    """Kernel (polynomial-MMD) distance between feature sets: ``(mean, std)`` over random subsets.

    Unbiased, so it can come out slightly negative for matching distributions. ``subset_size``
    must not exceed either set's size. The subset draws are seeded by ``seed`` in a forked RNG.
    """
    extractor = _as_extractor(extractor)
    if int(subset_size) != subset_size or subset_size < 2:
        raise ConfigError(f"subset_size must be an integer >= 2, got {subset_size}")
    real, fake = _check_pair(
        real_images, fake_images, extractor, int(subset_size), f"KID with subset_size={subset_size}"
    )
    device = _device_of(extractor)
    with warnings.catch_warnings():
        # torchmetrics warns that KID buffers all features; that is the point here.
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(
            feature=extractor, subsets=int(subsets), subset_size=int(subset_size), normalize=False
        ).to(device)
    for x in _nchw_uint8_batches(real, batch_size, device):
        metric.update(x, real=True)
    for x in _nchw_uint8_batches(fake, batch_size, device):
        metric.update(x, real=False)
    # compute() draws subsets with the global torch RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def cas(
    synthetic_images: np.ndarray,
    synthetic_labels: np.ndarray,
    real_train_images: np.ndarray | None,
    real_train_labels: np.ndarray | None,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int,
    steps: int,
    seed: int = 0,
    *,
    real_acc: float | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    width: int = 32,
    arch: str = "smallcnn",
    lr_schedule: str = "cosine",
    device: str | torch.device = "cpu",
    precision: str = "32-true",
    progress: bool = False,
) -> dict:
    """Classification Accuracy Score: train on synthetic only, test on real.

    Returns ``dict(cas, real_acc, cas_ratio)``, where ``real_acc`` is the same recipe (steps,
    batch size, lr, seed) trained on the real training images, and ``cas_ratio = cas / real_acc``.
    Pass a precomputed ``real_acc`` to skip that second training (the real images may then be
    None).
    """
    num_classes = _check_num_classes(num_classes)
    check_trained_steps(steps, "each CAS classifier")  # two untrained classifiers score a ratio near 1
    recipe = dict(steps=steps, batch_size=batch_size, lr=lr, seed=seed, width=width, arch=arch, lr_schedule=lr_schedule,
                  device=device, precision=precision)
    test_images = _check_images(test_images, "test_images")
    test_labels = _check_labels(test_labels, len(test_images), num_classes, "test_labels")
    synthetic_images = _check_images(synthetic_images, "synthetic_images")
    synthetic_labels = _check_labels(
        synthetic_labels, len(synthetic_images), num_classes, "synthetic_labels"
    )
    if synthetic_images.shape[1:] != test_images.shape[1:]:
        raise ConfigError(
            f"synthetic images are {synthetic_images.shape[1:]} (H×W×C), test images "
            f"{test_images.shape[1:]}"
        )
    if real_acc is None:
        if real_train_images is None or real_train_labels is None:
            raise ConfigError("pass real_train_images and real_train_labels, or a precomputed real_acc")
        real_train_images = _check_images(real_train_images, "real_train_images")
        if real_train_images.shape[1:] != test_images.shape[1:]:
            raise ConfigError(
                f"real training images are {real_train_images.shape[1:]} (H×W×C), test images "
                f"{test_images.shape[1:]}"
            )
        real_model = train_classifier(
            real_train_images, real_train_labels, num_classes, progress=progress, **recipe
        )
        real_acc = accuracy(real_model, test_images, test_labels)
    synth_model = train_classifier(
        synthetic_images, synthetic_labels, num_classes, progress=progress, **recipe
    )
    cas_value = accuracy(synth_model, test_images, test_labels)
    ratio = cas_value / real_acc if real_acc > 0 else math.nan
    return dict(cas=cas_value, real_acc=float(real_acc), cas_ratio=ratio)


def label_agreement(
    classifier: nn.Module, images: np.ndarray, labels: np.ndarray, num_classes: int
) -> dict:
    """How often a real-data classifier assigns generated images to their conditioning label.

    Low overall agreement, or a class near 0, means the generator ignores (or confuses) its
    conditioning. Returns ``dict(overall, per_class)``; a class with no images gets nan.
    """
    num_classes = _check_num_classes(num_classes)
    images = _check_images(images)
    labels = _check_labels(labels, len(images), num_classes)
    probs = predict(classifier, images)
    if probs.shape[1] != num_classes:
        raise ConfigError(
            f"classifier predicts {probs.shape[1]} classes, num_classes is {num_classes}"
        )
    hit = probs.argmax(1) == labels
    per_class = [
        float(hit[labels == c].mean()) if np.any(labels == c) else math.nan
        for c in range(num_classes)
    ]
    return dict(overall=float(hit.mean()), per_class=per_class)


def _kth_nn_radius(feats: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    radii = []
    for start in range(0, len(feats), chunk):
        d = torch.cdist(feats[start : start + chunk], feats)
        # k + 1 smallest because each point's nearest neighbour is itself at distance 0.
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def _coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int):
    inside = []
    for start in range(0, len(points), chunk):
        d = torch.cdist(points[start : start + chunk], centres)
        inside.append((d <= radii[None, :]).any(dim=1))
    return torch.cat(inside).double().mean().item()


@torch.no_grad()
def precision_recall(
    real_feats: torch.Tensor | np.ndarray,
    fake_feats: torch.Tensor | np.ndarray,
    k: int = 3,
    chunk: int = 1024,
) -> dict:
    """Improved precision and recall (Kynkäänniemi et al., 2019) on (N, d) feature sets.

    Each set's manifold is the union of balls reaching each point's k-th nearest neighbour.
    Precision: share of fake points inside the real manifold (fidelity); recall: share of real
    points inside the fake manifold (diversity; mode collapse shows here). Cost is O(N²) memory
    per chunk row, fine for a few thousand points; use ``extract_features`` to get the inputs.
    """
    real = torch.as_tensor(np.asarray(real_feats) if not torch.is_tensor(real_feats) else real_feats)
    fake = torch.as_tensor(np.asarray(fake_feats) if not torch.is_tensor(fake_feats) else fake_feats)
    real, fake = real.double().cpu(), fake.double().cpu()
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ConfigError(
            f"features must be (N, d) with the same d, got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    if int(k) != k or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k}")
    for name, f in (("real_feats", real), ("fake_feats", fake)):
        if len(f) <= k:
            raise ConfigError(f"{name} needs more than k={k} points, got {len(f)}")
    real_r = _kth_nn_radius(real, k, chunk)
    fake_r = _kth_nn_radius(fake, k, chunk)
    return dict(
        precision=_coverage(fake, real, real_r, chunk),
        recall=_coverage(real, fake, fake_r, chunk),
    )

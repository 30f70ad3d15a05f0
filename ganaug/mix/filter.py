"""Keep only synthetic images that a classifier trained on the real data calls their own class.

Filtering by a real-data classifier's confidence in the conditioning label is the cheapest
reliable quality lever reported for GAN augmentation; the per-class acceptance rate it records
also shows which classes the generator has not learned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import warnings

import numpy as np
from torch import nn

from ganaug.base.checks import fraction, positive_int
from ganaug.errors import ConfigError, GanaugError


class QualityFilter:
    """Accepts an image when ``classifier`` gives its label a probability >= ``threshold``.

    classifier: a ``torch.nn.Module`` taking float N×C×H×W in [-1, 1] and returning logits (e.g.
        :class:`ganaug.classify.classifier.SmallCNN`), or any callable mapping uint8 N×H×W×C images to
        class probabilities N×K.
    min_acceptance: below this acceptance rate for a class (after at least 100 proposals),
        generation stops with an error instead of running for ever.
    fallback: what happens to such a class instead. ``None``: the error. ``"unfiltered"``: from
        then on the filter accepts every image of that class (with a warning, and the class marked
        ``unfiltered`` in :meth:`report`), so one class the generator has not learned does not cost
        the filter's benefit on all the others.
    """

    FALLBACKS = (None, "unfiltered")

    @classmethod
    def check_fallback(cls, fallback: str | None, name: str = "fallback", error: type[Exception] = ConfigError):
        """Return ``fallback`` if it is one of FALLBACKS, else raise ``error`` naming it as ``name``."""
        if fallback not in cls.FALLBACKS:
            raise error(f"{name} must be one of {list(cls.FALLBACKS)}, got {fallback!r}")
        return fallback

    def __init__(
        self,
        classifier: nn.Module | Callable[[np.ndarray], np.ndarray],
        threshold: float = 0.9,
        batch_size: int = 512,
        min_acceptance: float = 0.01,
        fallback: str | None = None,
    ) -> None:
        if not callable(classifier):
            raise ConfigError(f"classifier must be a torch Module or a callable, got {type(classifier).__name__}")
        if isinstance(threshold, bool) or not 0.0 <= float(threshold) <= 1.0:
            raise ConfigError(f"threshold must be a probability in [0, 1], got {threshold!r}")
        positive_int("batch_size", batch_size, why="images classified at a time")
        if not 0.0 <= float(min_acceptance) < 1.0:
            raise ConfigError(f"min_acceptance must be in [0, 1), got {min_acceptance!r}")
        self.fallback = self.check_fallback(fallback)
        self.classifier = classifier
        self.threshold = float(threshold)
        self.batch_size = int(batch_size)
        self.min_acceptance = float(min_acceptance)
        self.proposed = np.zeros(0, dtype=np.int64)
        self.accepted = np.zeros(0, dtype=np.int64)
        self.unfiltered = np.zeros(0, dtype=bool)  # classes passed through by the fallback
        self.class_thresholds: np.ndarray | None = None

    def calibrate(self, images: np.ndarray, labels: np.ndarray, quantile: float = 0.5) -> QualityFilter:
        """Lower the threshold of classes the classifier is unsure of even on real images.

        A classifier trained on a long tail is rarely 90% sure of a rare class, so a fixed
        threshold rejects nearly every synthetic image of exactly the classes that need them most.
        Calibrated, class k accepts an image when its probability is >= min(threshold, the
        ``quantile`` of the probabilities the classifier gives real images of class k): as sure
        as it is of real ones. ``images``, ``labels``: real images the classifier was *not*
        trained on (a validation split); a class without any keeps ``threshold``. Returns self.
        """
        fraction("quantile", quantile)
        labels = np.asarray(labels, dtype=np.int64)
        if len(labels) == 0:
            raise ConfigError("calibrate needs real images (e.g. the validation split); got none")
        probs = self.probabilities(images)
        from ganaug.classify.classifier import _check_labels

        k = probs.shape[1]
        labels = _check_labels(labels, len(probs), k, name="calibrate: labels")
        own = probs[np.arange(len(labels)), labels]
        self.class_thresholds = np.array([
            min(self.threshold, float(np.quantile(own[labels == c], quantile))) if np.any(labels == c)
            else self.threshold for c in range(k)])
        return self

    @classmethod
    def from_real(
        cls,
        images: np.ndarray,
        labels: np.ndarray,
        num_classes: int,
        threshold: float = 0.9,
        steps: int = 500,
        seed: int = 0,
        fallback: str | None = None,
        **train_kwargs,
    ) -> QualityFilter:
        """Train the reference classifier (`train_classifier`) on real uint8 N×H×W×C images."""
        from ganaug.classify.classifier import check_trained_steps, train_classifier

        cls.check_fallback(fallback)  # before the training, not after it
        check_trained_steps(steps, "the filter's classifier")
        model = train_classifier(images, labels, num_classes, steps=steps, seed=seed, **train_kwargs)
        return cls(model, threshold, fallback=fallback)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        if isinstance(self.classifier, nn.Module):
            from ganaug.classify.classifier import predict

            probs = predict(self.classifier, images, batch_size=self.batch_size)
        else:
            probs = np.asarray(self.classifier(images), dtype=np.float64)
        if probs.ndim != 2 or probs.shape[0] != len(images):
            raise ConfigError(
                f"the filter's classifier returned shape {probs.shape} for {len(images)} images; "
                "it must return probabilities N×K"
            )
        if probs.size and (probs.min() < -1e-6 or np.abs(probs.sum(1) - 1).max() > 1e-3):
            raise ConfigError(
                "the filter's classifier returned values that are not probabilities (rows must be "
                "non-negative and sum to 1); apply softmax to its logits"
            )
        return probs

    def __call__(self, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Boolean mask of accepted images; updates the per-class counts."""
        labels = np.asarray(labels, dtype=np.int64)
        probs = self.probabilities(images)
        k = probs.shape[1]
        if labels.size and labels.max() >= k:
            raise ConfigError(
                f"the filter's classifier knows {k} classes but a label is {int(labels.max())}; "
                "train it on the same classes as the generator"
            )
        if self.class_thresholds is not None and len(self.class_thresholds) != k:
            raise ConfigError(f"the filter was calibrated for {len(self.class_thresholds)} classes, its classifier knows {k}")
        cut = self.threshold if self.class_thresholds is None else self.class_thresholds[labels]
        keep = probs[np.arange(len(labels)), labels] >= cut
        size = max(k, len(self.proposed))
        self._grow(size)
        if self.unfiltered.any():
            keep |= self.unfiltered[labels]
        self.proposed += np.bincount(labels, minlength=size)
        self.accepted += np.bincount(labels[keep], minlength=size)
        return keep

    def _grow(self, size: int) -> None:
        self.proposed = np.pad(self.proposed, (0, size - len(self.proposed)))
        self.accepted = np.pad(self.accepted, (0, size - len(self.accepted)))
        self.unfiltered = np.pad(self.unfiltered, (0, size - len(self.unfiltered)))

    def acceptance(self) -> np.ndarray:
        """Accepted / proposed per class (nan where nothing was proposed)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.accepted / self.proposed

    def report(self, class_names: Sequence[str] | None = None) -> dict[str, dict]:
        names = list(class_names) if class_names is not None else [str(k) for k in range(len(self.proposed))]
        rates = self.acceptance()
        return {
            names[k]: {
                "proposed": int(self.proposed[k]),
                "accepted": int(self.accepted[k]),
                "rate": None if np.isnan(rates[k]) else round(float(rates[k]), 4),
                **({"unfiltered": True} if k < len(self.unfiltered) and self.unfiltered[k] else {}),
            }
            for k in range(len(self.proposed))
        }

    def check_progress(self, pending_classes: np.ndarray, class_names: Sequence[str]) -> None:
        """Act on a class still needing images whose acceptance rate is too low to finish.

        Raises, or with ``fallback="unfiltered"`` lets that class through unfiltered from now on.
        """
        rates = self.acceptance()
        stuck = [
            k for k in np.unique(pending_classes)
            if k < len(self.proposed) and self.proposed[k] >= 100 and rates[k] < self.min_acceptance
            and not self.unfiltered[k]
        ]
        if stuck:
            detail = ", ".join(
                f"{class_names[k]!r}: {self.accepted[k]} of {self.proposed[k]} ({rates[k]:.2%})" for k in stuck
            )
            if self.fallback == "unfiltered":
                self.unfiltered[stuck] = True
                warnings.warn(f"the quality filter ({self.describe()}) accepts almost nothing for {detail}; "
                              "the rest of those classes' images pass unfiltered (fallback='unfiltered')",
                              stacklevel=2)
                return
            raise GanaugError(
                f"the quality filter ({self.describe()}) accepts almost nothing for {detail}; "
                "lower the threshold, train the generator longer, or let such a class through unfiltered "
                "(ganaug-tune tune.filter_fallback=unfiltered, ganaug-sample bank.filter_fallback=unfiltered, "
                f"QualityFilter(fallback='unfiltered'); the limit is {self.min_acceptance:.0%} accepted)"
            )

    def describe(self) -> str:
        if self.class_thresholds is None:
            return f"threshold {self.threshold}"
        return "per-class thresholds " + ", ".join(f"{t:.2f}" for t in self.class_thresholds)

    def reset(self) -> None:
        """Forget the counts, and the classes the fallback passed through: each generation decides anew."""
        self.proposed = np.zeros(0, dtype=np.int64)
        self.accepted = np.zeros(0, dtype=np.int64)
        self.unfiltered = np.zeros(0, dtype=bool)

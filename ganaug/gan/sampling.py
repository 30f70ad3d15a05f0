"""Sampling from a trained generator: noise, truncation, and conversion to user-facing images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ganaug.base.checks import class_name_list, label_column, positive_int
from ganaug.errors import ConfigError
from ganaug.base.rng import MIN_TRUNCATION, check_seed, check_truncation, sample_noise  # noqa: F401  (re-exported: the public home)
from ganaug.gan.nets import Generator
from ganaug.base.pixels import to_uint8
from ganaug.base.resources import check_fits, resolve_device


def to_uint8_hwc(x: torch.Tensor) -> np.ndarray:
    """Float NCHW in [-1, 1] -> numpy uint8 NHWC, the form albumentations and users expect."""
    return to_uint8(x).permute(0, 2, 3, 1).cpu().numpy()


class TrainedGenerator:
    """A generator with its metadata: what `load_generator` returns and `ConditionalGAN.sampler()` gives.

    `sample` is seeded and reproducible: noise is always drawn on the CPU, so the same seed gives the
    same images on any device.
    """

    def __init__(self, net: Generator, class_names: Sequence[str], meta: dict | None = None):
        self.net = net.eval()
        self.class_names = class_name_list(class_names, net.num_classes)
        self.meta = dict(meta or {})

    @property
    def num_classes(self) -> int:
        return self.net.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.net.image_size, self.net.image_size, self.net.channels)

    @property
    def z_dim(self) -> int:
        return self.net.z_dim

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def to(self, device) -> TrainedGenerator:
        """Move to ``device`` (cpu, cuda, cuda:<index>, or auto: CUDA when present)."""
        self.net.to(resolve_device(device))
        return self

    def _check_fits(self, n: int, setting: str, value: int) -> None:
        h, w, c = self.image_shape  # per image: its pixels, label (int64) and noise (float32)
        check_fits(n * (h * w * c + 8 + 4 * self.z_dim), setting, value,
                   fix=" (a bank is written to disk in batches: ganaug-sample bank.enabled=true)")

    def _labels(self, labels, n_per_class) -> torch.Tensor:
        if (labels is None) == (n_per_class is None):
            raise ConfigError("give exactly one of `labels` or `n_per_class`")
        if n_per_class is not None:
            positive_int("n_per_class", n_per_class)
            self._check_fits(self.num_classes * int(n_per_class), "n_per_class", int(n_per_class))
            return torch.arange(self.num_classes).repeat_interleave(int(n_per_class))
        a = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        if a.ndim:  # one label may be given as a scalar
            a = label_column("labels", a)
        self._check_fits(a.size, "len(labels)", a.size)
        if a.dtype.kind in "US":  # class names
            index = {name: k for k, name in enumerate(self.class_names)}
            unknown = next((str(v) for v in a.reshape(-1) if str(v) not in index), None)
            if unknown is not None:
                raise ConfigError(f"label {unknown!r} is not a class of this generator: {self.class_names}")
            a = np.array([index[str(v)] for v in a.reshape(-1)], dtype=np.int64)
        elif a.size and a.dtype.kind not in "iu":
            # a float label would be cut to an integer class, a bool taken for class 0 or 1
            raise ConfigError(f"labels must be class indices (integers) or class names {self.class_names}, "
                              f"got {a.dtype} values")
        y = torch.as_tensor(a.astype(np.int64), dtype=torch.int64).reshape(-1)
        bad = y[(y < 0) | (y >= self.num_classes)]
        if bad.numel():
            raise ConfigError(
                f"label {int(bad[0])} out of range: this generator has {self.num_classes} classes "
                f"({self.class_names})"
            )
        return y

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One batched forward: float NCHW in [-1, 1] on the generator's device."""
        dev = self.device
        return self.net(z.to(dev), y.to(dev))

    def sample(
        self,
        labels: Sequence[int] | np.ndarray | torch.Tensor | None = None,
        n_per_class: int | None = None,
        seed: int = 0,
        truncation: float | None = None,
        batch_size: int = 500,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (images uint8 N×H×W×C, labels int64 N) for the given labels (class indices or
        names) or n per class."""
        positive_int("batch_size", batch_size, why="images generated at a time")
        seed = check_seed(seed)
        y = self._labels(labels, n_per_class)
        z = torch.from_numpy(sample_noise(seed, len(y), self.z_dim, truncation))
        h, w, c = self.image_shape
        out = np.empty((len(y), h, w, c), dtype=np.uint8)
        for start in range(0, len(y), batch_size):
            sl = slice(start, start + batch_size)
            out[sl] = to_uint8_hwc(self.generate(z[sl], y[sl]))
        return out, y.numpy()

"""Reference classifier: the yardstick for CAS, FID/KID features and the downstream benchmark.

Everything that compares conditions (real only, classical augmentation, synthetic mixes) must
train this model with the same recipe and the same number of optimizer steps, so the training
loop counts optimizer steps, never epochs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from ganaug.classify.batch_mix import BATCH_MIXES, mix_batch
from ganaug.base.checks import check_flag, positive_int
from ganaug.errors import ConfigError
from ganaug.classify.loss import SyntheticAwareLoss, check_loss_args
from ganaug.base.pixels import to_unit
from ganaug.classify.split_norm import batch_norm_layers, split_batch_norm

__all__ = [
    "CLASSIFIERS",
    "SmallCNN",
    "SmallResNet",
    "build_classifier",
    "to_tensor",
    "train_classifier",
    "train_classifier_on_loader",
    "predict",
    "accuracy",
    "balanced_accuracy",
]

Transform = Callable[..., dict]
LR_SCHEDULES = ("constant", "cosine")


# --------------------------------------------------------------------------- validation helpers


def _check_images(images: Any, name: str = "images") -> np.ndarray:
    if isinstance(images, torch.Tensor):
        raise ConfigError(
            f"{name} must be a numpy uint8 array N×H×W×C, got a torch.Tensor; "
            "call .numpy() on an NHWC uint8 tensor first"
        )
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ConfigError(f"{name} must have dtype uint8 (values 0..255), got {images.dtype}")
    if images.ndim != 4:
        raise ConfigError(
            f"{name} must be 4-dimensional N×H×W×C, got shape {images.shape}"
            + ("; add a channel axis with images[..., None]" if images.ndim == 3 else "")
        )
    if images.shape[-1] not in (1, 3):
        raise ConfigError(
            f"{name} must be channels-last with C = 1 or 3, got shape {images.shape} "
            "(an N×C×H×W array must be transposed to N×H×W×C)"
        )
    if images.shape[0] == 0:
        raise ConfigError(f"{name} is empty")
    return images


def _check_labels(labels: Any, n: int, num_classes: int, name: str = "labels") -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ConfigError(f"{name} must be one-dimensional, got shape {labels.shape}")
    if labels.shape[0] != n:
        raise ConfigError(f"{name} has {labels.shape[0]} entries but there are {n} images")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(f"{name} must be integers, got dtype {labels.dtype}")
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise ConfigError(
            f"{name} must lie in [0, {num_classes}), got values in [{labels.min()}, {labels.max()}]"
        )
    return labels.astype(np.int64, copy=False)


def _check_num_classes(num_classes: int) -> int:
    if int(num_classes) != num_classes or num_classes < 2:
        raise ConfigError(f"num_classes must be an integer >= 2, got {num_classes}")
    return int(num_classes)


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 N×H×W×C numpy images → float32 N×C×H×W tensor in [-1, 1] (x = img / 127.5 - 1)."""
    images = _check_images(images)
    # astype copies, so read-only inputs (memory-mapped banks) are fine.
    return to_unit(torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2)).contiguous()


def _uint8_batch_to_input(x: torch.Tensor, in_channels: int) -> torch.Tensor:
    # Loaders over uint8 data (e.g. collated HWC items) are accepted as well as normalised floats.
    if x.shape[1] != in_channels and x.shape[-1] == in_channels:
        x = x.permute(0, 3, 1, 2)
    return to_unit(x)


# --------------------------------------------------------------------------------------- model


class SmallCNN(nn.Module):
    """Three conv stages (w/2 | w, w | 2w, 2w; BN, ReLU, max-pool) → 2×2 average pool → 128-d features.

    About 100k parameters at 28×28 with ``width=32``. A stage max-pools only if that leaves at
    least 2 pixels, and the head pools adaptively, so 8×8 to 64×64 inputs share one design.
    ``forward`` returns logits; ``features`` returns the penultimate (N, feature_dim) activations.
    """

    arch = "smallcnn"
    # What `to_tensor` gives (img / 127.5 - 1); SyntheticAwareLoss holds a teacher's inputs to it.
    input_range = (-1.0, 1.0)

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int | tuple[int, int],
        width: int = 32,
        feature_dim: int = 128,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        h, w = self._record(num_classes, in_channels, image_size, width, feature_dim)

        layers: list[nn.Module] = []
        c_in, size = in_channels, min(h, w)
        # A single cheap conv at full resolution before pooling: most of the compute of a
        # VGG-style net sits in its full-resolution layers, and CPU budgets are the constraint.
        for c_out, n_convs in ((max(width // 2, 1), 1), (width, 2), (2 * width, 2)):
            for _ in range(n_convs):
                layers += [
                    nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True),
                ]
                c_in = c_out
            if size >= 4:
                layers.append(nn.MaxPool2d(2))
                size //= 2
        self.body = nn.Sequential(*layers)
        # 2×2 rather than global pooling keeps coarse layout, which matters for centred digits
        # and garments where "where the ink is" is class information.
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.embed = nn.Sequential(nn.Linear(4 * c_in, feature_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def _record(self, num_classes: int, in_channels: int, image_size, width: int, feature_dim: int) -> tuple[int, int]:
        """Check and keep what every classifier here describes itself by; returns (H, W)."""
        h, w = _pair(image_size)
        if in_channels not in (1, 3):
            raise ConfigError(f"in_channels must be 1 or 3, got {in_channels}")
        if min(h, w) < 4:
            raise ConfigError(f"image_size must be at least 4×4, got {h}×{w}")
        self.num_classes, self.in_channels = _check_num_classes(num_classes), in_channels
        self.image_size, self.width, self.feature_dim = (h, w), width, feature_dim
        # Optimizer steps this instance has been trained for (set by the training loop).
        self.steps_trained = 0
        return h, w

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ConfigError(
                f"{type(self).__name__} expects float N×{self.in_channels}×H×W input, got shape {tuple(x.shape)}"
            )
        if not torch.is_floating_point(x):
            raise ConfigError(
                f"{type(self).__name__} expects float input in [-1, 1], got dtype {x.dtype}; use to_tensor()"
            )
        if tuple(x.shape[2:]) != self.image_size:
            # Pooling would take them, and the logits would mean nothing.
            raise ConfigError(f"{type(self).__name__} was built for {self.image_size[0]}×{self.image_size[1]} images, "
                              f"got {x.shape[2]}×{x.shape[3]}; resize them, or use a classifier of that size")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self.embed(self.pool(self.body(x)).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


class _PointwiseStride(nn.Conv2d):
    """A 1×1 convolution with stride s, computed as the s-subsampled input through a 1×1 stride-1 one: the same
    numbers, bit for bit, without torch 2.13's strided channels-last CPU kernel, whose backward corrupts the
    heap for 4-15 input channels (a crash, not an error). Batches reach the network channels-last: that
    is how a 1-channel NHWC batch permuted to NCHW reads."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__(c_in, c_out, 1, bias=False)
        self.step = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x[:, :, ::self.step, ::self.step])


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = (nn.Sequential(_PointwiseStride(c_in, c_out, stride), nn.BatchNorm2d(c_out))
                     if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.skip(x))


class SmallResNet(SmallCNN):
    """A CIFAR-style ResNet for 8–64 px: a 3×3 stem, three stages of ``blocks`` basic blocks (w, 2w, 4w
    channels; the last two halve the resolution) → global average pool → logits.

    ``width=16, blocks=2`` is ResNet-14 (175k parameters at 28 px, 1 channel); ``blocks=3``, He et al.'s ResNet-20.
    Residual networks are what users train; a gain that only the `SmallCNN` sees is reported as such.
    ``features`` returns the pooled (N, 4w) activations.
    """

    arch = "resnet"

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int | tuple[int, int],
        width: int = 16,
        blocks: int = 2,
    ) -> None:
        nn.Module.__init__(self)
        self._record(num_classes, in_channels, image_size, width, 4 * width)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                                   nn.ReLU(inplace=True)]
        c_in = width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for b in range(blocks):
                layers.append(_BasicBlock(c_in, c_out, stride=2 if stage and not b else 1))
                c_in = c_out
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c_in, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self.pool(self.body(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# The classifiers a benchmark or tune run can train (ClassifierSettings.arch): name -> class.
CLASSIFIERS: dict[str, type[SmallCNN]] = {cls.arch: cls for cls in (SmallCNN, SmallResNet)}


def build_classifier(
    arch: str, num_classes: int, in_channels: int, image_size: int | tuple[int, int], width: int
) -> SmallCNN:
    """A fresh classifier of the registry's ``arch``."""
    if arch not in CLASSIFIERS:
        raise ConfigError(f"unknown classifier arch {arch!r}; choose one of {sorted(CLASSIFIERS)}")
    return CLASSIFIERS[arch](num_classes, in_channels, image_size, width=width)


def model_path(model: Any) -> str | None:
    """A user's model factory as ``"module:function"``, the form settings and fingerprints hold; a string is
    checked to name one."""
    if model is None:
        return None
    if callable(model) and not isinstance(model, str):
        module, name = getattr(model, "__module__", None), getattr(model, "__qualname__", "")
        if not module or "<" in name:
            raise ConfigError(f"model must be a module-level function or class (importable by name, so a run can be "
                              f"named and repeated), got {model!r}")
        model = f"{module}:{name}"
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"model must name a factory of torch.nn.Module as 'package.module:function', got {model!r}")
    resolve_model(model)
    return model


def resolve_model(path: str) -> Callable[..., nn.Module]:
    """The factory a ``"package.module:function"`` (or ``package.module.function``) path names."""
    import importlib

    module, _, name = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"model={path!r} names no importable factory ({e}); give 'package.module:function', a "
                          "function taking num_classes, in_channels and image_size and returning a torch.nn.Module"
                          ) from None
    if not callable(obj):
        raise ConfigError(f"model={path!r} is not callable: give a function or class making a torch.nn.Module")
    return obj


def build_model(model: str | None, arch: str, num_classes: int, in_channels: int,
                image_size: int | tuple[int, int], width: int) -> nn.Module:
    """The network a run trains: the user's (``model``, a factory path) or ganaug's ``arch``."""
    if model is None:
        return build_classifier(arch, num_classes, in_channels, image_size, width)
    factory, size = resolve_model(model), _pair(image_size)
    args = dict(num_classes=num_classes, in_channels=in_channels, image_size=size)
    try:
        inspect.signature(factory).bind(**args)
    except TypeError:
        raise ConfigError(f"model={model!r} must accept the keyword arguments num_classes, in_channels and image_size "
                          f"(e.g. def make(num_classes, in_channels, image_size): ...); its signature is "
                          f"{inspect.signature(factory)}") from None
    except ValueError:  # a builtin without a signature: let the call say
        pass
    net = factory(**args)
    if not isinstance(net, nn.Module):
        raise ConfigError(f"model={model!r} returned a {type(net).__name__}, not a torch.nn.Module")
    _check_logits(net, model, num_classes, in_channels, size)
    if not hasattr(net, "steps_trained"):
        net.steps_trained = 0
    return net


def _check_logits(net: nn.Module, model: str, num_classes: int, in_channels: int, size: tuple[int, int]) -> None:
    """One forward pass on two blank images, so that a network built for other images or classes is named here
    rather than by torch's shape error (or an IndexError on a label) in the middle of the tune."""
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            out = net(torch.zeros(2, in_channels, *size))
    except Exception as e:  # noqa: BLE001 - whatever the user's forward raises on these images
        raise ConfigError(f"model={model!r} fails on a batch of {in_channels}x{size[0]}x{size[1]} images (the "
                          f"data's): {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; build it for "
                          "the in_channels and image_size it is given") from None
    finally:
        net.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"model={model!r} must return logits of shape (batch, num_classes) = (2, {num_classes}) "
                          f"on 2 images, got {shape}; build its last layer for the num_classes it is given")


# ------------------------------------------------------------------------------------ training


class _ArrayDataset(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Transform | None):
        self.images = images
        self.labels = torch.as_tensor(np.array(labels, dtype=np.int64))  # a copy: labels may be a read-only memmap
        self.transform = transform
        # Without a transform, convert once instead of per item.
        self._tensor = None if transform is not None else to_tensor(images)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._tensor is not None:
            return self._tensor[i], self.labels[i]
        img = _apply_transform(self.transform, self.images[i])
        return _hwc_to_chw(img), self.labels[i]


def _apply_transform(transform: Transform, img: np.ndarray) -> np.ndarray:
    out = transform(image=img)["image"]
    if isinstance(out, torch.Tensor) or not isinstance(out, np.ndarray) or out.dtype != np.uint8:
        kind = type(out).__name__ if not isinstance(out, np.ndarray) else f"array of {out.dtype}"
        raise ConfigError(
            f"transform must return a uint8 H×W×C image, got {kind}; drop Normalize/ToTensorV2 "
            "from it (the classifier normalises itself), or use train_classifier_on_loader"
        )
    if out.ndim == 2 and img.shape[-1] == 1:
        out = out[..., None]
    if out.ndim != 3 or out.shape[-1] != img.shape[-1]:
        raise ConfigError(f"transform changed the image layout from {img.shape} to {out.shape}")
    if out.shape != img.shape:
        raise ConfigError(
            f"transform changed the image size from {img.shape} to {out.shape}; "
            "the classifier is built for one size"
        )
    return out


def _hwc_to_chw(img: np.ndarray) -> torch.Tensor:
    return to_unit(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1))


class _EndlessSampler(Sampler[int]):
    """Shuffled epochs back to back (or weighted draws), from its own numpy Generator."""

    def __init__(self, n: int, seed: int, weights: np.ndarray | None = None):
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.p = None if weights is None else weights / weights.sum()

    def __iter__(self) -> Iterator[int]:
        while True:
            if self.p is None:
                idx = self.rng.permutation(self.n)
            else:
                idx = self.rng.choice(self.n, size=self.n, replace=True, p=self.p)
            yield from idx.tolist()

    def __len__(self) -> int:  # DataLoader only uses this for its own length; never exhausted
        return self.n


def _set_epoch(loader: Iterable, epoch: int) -> None:
    # The PyTorch convention (DistributedSampler, ganaug.SyntheticMix): whoever owns an epoch-
    # dependent stream exposes set_epoch; without it every pass would repeat the first epoch.
    owners = [getattr(loader, "batch_sampler", None), getattr(loader, "sampler", None), getattr(loader, "dataset", None)]
    for owner in owners:
        if owner is not None and callable(getattr(owner, "set_epoch", None)):
            owner.set_epoch(epoch)
            return


def _cycle(loader: Iterable) -> Iterator:
    epoch = 0
    while True:
        _set_epoch(loader, epoch)
        epoch += 1
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ConfigError(
                "loader yielded no batches (empty dataset, or a one-shot iterator that was "
                "already consumed); pass a re-iterable DataLoader"
            )


def check_trained_steps(steps: Any, what: str) -> int:
    """``steps`` of a classifier whose judgement is used (a filter, a score): at least one; an
    untrained classifier would judge at chance without a word."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ConfigError(f"steps must be a positive integer ({what}'s optimizer steps), got {steps!r}: an untrained "
                          "classifier would judge at chance")
    return int(steps)


def train_classifier_on_loader(
    loader: Iterable,
    num_classes: int,
    in_channels: int,
    image_size: int | tuple[int, int],
    *,
    steps: int,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    width: int = 32,
    arch: str = "smallcnn",
    lr_schedule: str = "cosine",
    synthetic_weight: float = 1.0,
    teacher: nn.Module | None = None,
    synthetic_soft_labels: float = 0.0,
    synthetic_confidence_weight: bool = False,
    synthetic_split_norm: bool = False,
    batch_mix: str = "none",
    batch_mix_alpha: float = 1.0,
    model: str | None = None,
    device: str | torch.device = "cpu",
    precision: str = "32-true",
    progress: bool = False,
) -> SmallCNN:
    """Train a fresh classifier (``arch`` of `CLASSIFIERS`, ``width``) for exactly ``steps`` optimizer steps,
    cycling over ``loader``.

    ``loader`` yields ``(x, y)``: x float N×C×H×W normalised as img/127.5 - 1 (uint8 NCHW/NHWC
    batches are normalised here), y int labels in [0, num_classes). It is re-iterated when it
    runs out, so its length does not decide how long training lasts. Model initialisation and
    dropout are seeded from ``seed`` inside a forked RNG, leaving the caller's global RNG
    untouched; the loader's own shuffling is the loader's business.

    Uses AdamW (identical to Adam at the default ``weight_decay=0``). ``lr_schedule="cosine"``
    anneals the learning rate to 0 over ``steps``; ``"constant"`` keeps it. Returns the model in
    eval mode, with ``model.steps_trained == steps``.

    Batches may also be ``(x, y, is_synthetic)`` (``SyntheticMix(..., return_flag=True)``): then
    synthetic items weigh ``synthetic_weight`` against 1 for real ones in the loss (a weighted
    mean over the batch). With a ``teacher`` (a classifier taking the same inputs, e.g. one trained on the real images)
    and ``synthetic_soft_labels`` = a in (0, 1], a synthetic item's target is
    ``(1 - a) * its label + a * the teacher's softmax on the very image the student
    sees`` (after augmentation): the generator's label errors are corrected by what real data
    says the image is. ``synthetic_confidence_weight`` multiplies a synthetic item's weight by the
    teacher's probability of its label (`SyntheticAwareLoss`). ``synthetic_split_norm``
    normalises synthetic items with their own batch statistics and keeps them out of the running
    statistics the model is evaluated with (`ganaug.classify.split_norm.split_batch_norm`).

    ``batch_mix`` (``"mixup"`` or ``"cutmix"``, mixing ratio ~ Beta(``batch_mix_alpha``, same)) blends
    every batch with a shuffled copy of itself (`ganaug.classify.batch_mix`, which says how synthetic items'
    weights and soft labels carry over); an item with a synthetic partner counts as synthetic for
    split batch norm. Its draws come from ``seed``.

    ``model`` ("package.module:function") trains the user's own network instead of ``arch``: the factory is
    called with ``num_classes``, ``in_channels`` and ``image_size`` (H, W) and returns a ``torch.nn.Module``
    taking float N×C×H×W inputs in [-1, 1] and giving N×K logits.

    The loop runs under Lightning Fabric, as the GAN runs under Lightning: ``device`` picks the
    accelerator (``"cpu"``, ``"cuda"``, ``"cuda:1"``) and ``precision`` is Fabric's
    (``"32-true"``; ``"bf16-mixed"`` on a GPU).
    """
    num_classes = _check_num_classes(num_classes)
    if arch not in CLASSIFIERS:
        raise ConfigError(f"unknown classifier arch {arch!r}; choose one of {sorted(CLASSIFIERS)}")
    check_loss_args(synthetic_weight, synthetic_soft_labels, teacher, prefix="synthetic_",
                    confidence_weight=synthetic_confidence_weight)
    if lr_schedule not in LR_SCHEDULES:
        raise ConfigError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
    synthetic_split_norm = check_flag("synthetic_split_norm", synthetic_split_norm)
    split_norm_wanted = synthetic_split_norm
    if int(steps) != steps or steps < 0:
        raise ConfigError(f"steps must be a non-negative integer, got {steps}")
    if batch_mix not in BATCH_MIXES:
        raise ConfigError(f"batch_mix must be one of {BATCH_MIXES}, got {batch_mix!r}")
    if not float(batch_mix_alpha) > 0 or not np.isfinite(batch_mix_alpha):
        raise ConfigError(f"batch_mix_alpha must be a positive number, got {batch_mix_alpha!r}")
    mix_rng = np.random.default_rng(seed)
    steps = int(steps)
    device = torch.device(device)
    fabric = _fabric(device, precision)
    image_size = _pair(image_size)
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        model = build_model(model, arch, num_classes, in_channels, image_size, width)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        # Cosine annealing ends on a small step size, so the final weights are not one noisy
        # point of a constant-LR random walk: that noise otherwise swamps gains of a point or two.
        sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
                 if lr_schedule == "cosine" else None)
        # A network without batch norm (a user's, tune.model) has no statistics to keep apart: as recipe.norm.
        synthetic_split_norm = split_norm_wanted and bool(batch_norm_layers(model))
        module, optimizer = fabric.setup(model, opt)
        module.train()
        criterion = fabric.to_device(SyntheticAwareLoss(synthetic_weight, synthetic_soft_labels, teacher,
                                                        synthetic_confidence_weight))
        batches = _cycle(loader)
        bar = tqdm(total=steps, disable=not progress, desc="classifier", leave=False)
        try:
            for step in range(steps):
                x, y, flag = _unpack(next(batches), step)
                x = torch.as_tensor(x)
                y = torch.as_tensor(y)
                if not torch.is_floating_point(x):
                    x = _uint8_batch_to_input(x, in_channels)
                if x.ndim != 4 or x.shape[1] != in_channels or tuple(x.shape[2:]) != image_size:
                    raise ConfigError(
                        f"batch {step}: expected x of shape N×{in_channels}×{image_size[0]}×"
                        f"{image_size[1]}, got {tuple(x.shape)}"
                    )
                if y.ndim != 1 or y.shape[0] != x.shape[0] or torch.is_floating_point(y):
                    raise ConfigError(
                        f"batch {step}: expected y as {x.shape[0]} integer labels, got "
                        f"shape {tuple(y.shape)} dtype {y.dtype}"
                    )
                if y.min() < 0 or y.max() >= num_classes:
                    raise ConfigError(
                        f"batch {step}: labels must lie in [0, {num_classes}), got values in "
                        f"[{int(y.min())}, {int(y.max())}]"
                    )
                x, y = fabric.to_device((x, y.to(torch.int64)))
                if batch_mix == "none":
                    with split_batch_norm(module, flag if synthetic_split_norm else None):
                        logits = module(x)
                    loss = criterion(logits, y, flag, x)
                else:
                    mixed, perm, lam = mix_batch(x, batch_mix, float(batch_mix_alpha), mix_rng)
                    flag_b = None if flag is None else torch.as_tensor(flag, device=x.device).bool()[perm]
                    norm_flag = None if flag is None else torch.as_tensor(flag, device=x.device).bool() | flag_b
                    with split_batch_norm(module, norm_flag if synthetic_split_norm else None):
                        logits = module(mixed)
                    loss = lam * criterion(logits, y, flag, x) + (1.0 - lam) * criterion(logits, y[perm], flag_b, x[perm])
                optimizer.zero_grad(set_to_none=True)
                fabric.backward(loss)
                optimizer.step()
                if sched is not None:
                    sched.step()
                model.steps_trained += 1
                if progress and (step % 20 == 0 or step == steps - 1):
                    bar.set_postfix(loss=f"{loss.item():.3f}")
                bar.update(1)
        finally:
            bar.close()
    return model.eval()


def _fabric(device: torch.device, precision: str):
    # Imported here: the classifier is core (the recipe's teacher), and the core imports no Lightning.
    from lightning_fabric import Fabric

    devices = [device.index or 0] if device.type == "cuda" else 1
    return Fabric(accelerator=device.type, devices=devices, precision=precision)


def _unpack(batch, step: int) -> tuple:
    if isinstance(batch, (tuple, list)) and len(batch) == 3:
        return tuple(batch)
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1], None
    raise ConfigError(f"batch {step}: expected (x, y) or (x, y, is_synthetic), got {type(batch).__name__}"
                      + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""))


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    width: int = 32,
    arch: str = "smallcnn",
    lr_schedule: str = "cosine",
    transform: Transform | None = None,
    sample_weights_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    extra_batches: Iterable[tuple[np.ndarray, np.ndarray]] | None = None,
    device: str | torch.device = "cpu",
    precision: str = "32-true",
    progress: bool = False,
) -> SmallCNN:
    """Train a classifier (``arch`` of `CLASSIFIERS`) on uint8 N×H×W×C ``images`` for exactly ``steps``
    optimizer steps.

    Batches of ``batch_size`` are drawn from shuffled epochs, one after another, from a numpy
    Generator seeded with ``seed``; with the same seed (and a deterministic transform) the
    result is bit-identical.

    transform: albumentations-style ``transform(image=img)["image"]`` on one uint8 H×W×C image,
        returning uint8 H×W×C of the same shape (no Normalize/ToTensorV2: normalisation is
        done here). Applied in a DataLoader with ``num_workers=0``. Its own RNG (e.g.
        ``Compose(seed=...)``) is the caller's to seed.
    sample_weights_fn: called once with the int64 labels, returns N non-negative sampling
        weights; each "epoch" then draws N indices with replacement in proportion to them
        (e.g. ``lambda y: 1 / np.bincount(y)[y]`` for class-balanced batches).
    extra_batches: iterator of ``(uint8 N'×H×W×C images, labels)``; one item is appended to
        every real batch (after ``transform``, which is applied to it too). To keep the total
        batch size fixed across benchmark conditions, lower ``batch_size`` by N'. Running out
        before ``steps`` is an error.
    """
    num_classes = _check_num_classes(num_classes)
    images = _check_images(images)
    labels = _check_labels(labels, len(images), num_classes)
    positive_int("batch_size", batch_size)
    weights = None
    if sample_weights_fn is not None:
        weights = np.asarray(sample_weights_fn(labels), dtype=np.float64)
        if weights.shape != (len(images),):
            raise ConfigError(
                f"sample_weights_fn must return {len(images)} weights, got shape {weights.shape}"
            )
        if not np.all(np.isfinite(weights)) or weights.min() < 0 or weights.sum() <= 0:
            raise ConfigError("sample_weights_fn must return finite, non-negative weights, not all 0")

    dataset = _ArrayDataset(images, labels, transform)
    loader = DataLoader(
        dataset,
        batch_size=int(batch_size),
        sampler=_EndlessSampler(len(images), seed, weights),
        num_workers=0,
    )
    batches: Iterable = loader
    if extra_batches is not None:
        batches = _with_extra(loader, iter(extra_batches), images.shape[1:], num_classes, transform)
    return train_classifier_on_loader(
        batches,
        num_classes,
        images.shape[-1],
        images.shape[1:3],
        steps=steps,
        lr=lr,
        weight_decay=weight_decay,
        seed=seed,
        width=width,
        arch=arch,
        lr_schedule=lr_schedule,
        device=device,
        precision=precision,
        progress=progress,
    )


def _with_extra(
    loader: Iterable,
    extra: Iterator,
    hwc: tuple[int, ...],
    num_classes: int,
    transform: Transform | None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for i, (x, y) in enumerate(loader):
        try:
            ex_images, ex_labels = next(extra)
        except StopIteration:
            raise ConfigError(f"extra_batches ran out after {i} batches") from None
        ex_images = _check_images(ex_images, "extra_batches images")
        if ex_images.shape[1:] != tuple(hwc):
            raise ConfigError(
                f"extra_batches images have shape {ex_images.shape[1:]} per image, "
                f"the training images {tuple(hwc)}"
            )
        ex_labels = _check_labels(ex_labels, len(ex_images), num_classes, "extra_batches labels")
        if transform is None:
            ex_x = to_tensor(ex_images)
        else:
            ex_x = torch.stack([_hwc_to_chw(_apply_transform(transform, im)) for im in ex_images])
        yield torch.cat([x, ex_x]), torch.cat([y, torch.from_numpy(ex_labels)])


# ---------------------------------------------------------------------------------- evaluation


def _model_device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class probabilities (float32 N×K) of ``model`` on uint8 N×H×W×C ``images``.

    Runs in eval mode and restores the model's previous mode afterwards.
    """
    images = _check_images(images)
    device = _model_device(model)
    was_training = model.training
    model.eval()
    try:
        out = []
        for start in range(0, len(images), batch_size):
            x = to_tensor(images[start : start + batch_size]).to(device)
            out.append(torch.softmax(model(x).float(), dim=1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy().astype(np.float32, copy=False)


def _predicted_labels(model: nn.Module, images: np.ndarray, labels: Any) -> tuple[np.ndarray, ...]:
    probs = predict(model, images)
    labels = _check_labels(labels, len(probs), probs.shape[1])
    return probs.argmax(1), labels, probs.shape[1]


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy on uint8 N×H×W×C images."""
    pred, labels, _ = _predicted_labels(model, images, labels)
    return float((pred == labels).mean())


def balanced_accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``labels``.

    The honest number on long-tail test sets, where plain accuracy rewards ignoring rare classes.
    """
    import warnings

    from sklearn.metrics import balanced_accuracy_score  # lazy: `import ganaug.classify.classifier` stays light

    pred, labels, _ = _predicted_labels(model, images, labels)  # rejects empty inputs
    with warnings.catch_warnings():
        # sklearn warns when ``pred`` has a class ``labels`` lacks (not averaged over, by design) or
        # when both hold a single class; neither is a problem for this metric.
        warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")
        return float(balanced_accuracy_score(labels, pred))

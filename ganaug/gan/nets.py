"""Class-conditional generator G(z, y) and projection discriminator D(x, y).

Both are small residual networks in the SNGAN/BigGAN family: the generator is conditioned by
class-conditional batch norm (plus the class embedding concatenated to z), the discriminator by a
projection term, with spectral norm on every weight of D. Sizes from 8 to 64 px work; the number
of resolution stages is derived from the image size.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from ganaug.base.checks import positive_int
from ganaug.errors import ConfigError
from ganaug.gan.spectral import spectral_norm

MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 128


def resolution_plan(image_size: int) -> tuple[int, int]:
    """Return (initial size, number of ×2 stages) for an image size.

    The generator starts from the smallest size >= 4 reachable by halving (7 for 28 px, 4 for
    32 px) so that odd sizes like 28 need no cropping.
    """
    if not isinstance(image_size, int) or not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise ConfigError(
            f"image_size must be an int in [{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}], got {image_size!r}; "
            "resize the dataset (e.g. data.dataset.size=[32,32] for an image folder)"
        )
    size, stages = image_size, 0
    while size % 2 == 0 and size // 2 >= 4:
        size //= 2
        stages += 1
    if stages == 0:
        raise ConfigError(
            f"image_size {image_size} cannot be reached by doubling from a size >= 4; "
            "use an even size such as 8, 16, 28, 32 or 64"
        )
    return size, stages


def _sizes(**sizes) -> list[int]:
    """Each size as an int >= 1, in order: 0 made empty layers (a ZeroDivisionError in spectral norm), 2.5 torch's
    "type must be tuple of ints"."""
    return [positive_int(name, value) for name, value in sizes.items()]


class ConditionalBatchNorm2d(nn.Module):
    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        # Start as the identity so every class begins from the same, unconditioned network.
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.bn(x)
        return out * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


class GBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, num_classes: int):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(in_ch, num_classes)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.bn2 = ConditionalBatchNorm2d(out_ch, num_classes)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class Generator(nn.Module):
    """G(z, y) -> images, float NCHW in [-1, 1]."""

    def __init__(
        self,
        num_classes: int,
        image_size: int = 28,
        channels: int = 1,
        z_dim: int = 128,
        width: int = 32,
        embed_dim: int = 32,
    ):
        super().__init__()
        num_classes, z_dim, width, embed_dim = _sizes(num_classes=num_classes, z_dim=z_dim, width=width,
                                                      embed_dim=embed_dim)
        if channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {channels}")
        self.config = dict(
            num_classes=num_classes, image_size=image_size, channels=channels,
            z_dim=z_dim, width=width, embed_dim=embed_dim,
        )
        self.num_classes, self.image_size, self.channels, self.z_dim = num_classes, image_size, channels, z_dim
        self.init_size, stages = resolution_plan(image_size)
        widths = [width * 2 ** min(stages - i, 3) for i in range(stages + 1)]
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.fc = nn.Linear(z_dim + embed_dim, widths[0] * self.init_size**2)
        self.blocks = nn.ModuleList(GBlock(widths[i], widths[i + 1], num_classes) for i in range(stages))
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out_conv = nn.Conv2d(widths[-1], channels, 3, padding=1)
        self._width0 = widths[0]

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z, self.embed(y)], dim=1))
        h = h.view(z.shape[0], self._width0, self.init_size, self.init_size)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class DBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, downsample: bool, first: bool = False):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(in_ch, out_ch, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = spectral_norm(nn.Conv2d(in_ch, out_ch, 1)) if (in_ch != out_ch or downsample) else None
        self.downsample, self.first = downsample, first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The first block sees raw pixels: no pre-activation, so negative pixel values survive.
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.skip is not None:
            s = self.skip(s)
        if self.downsample:
            s = F.avg_pool2d(s, 2)
        return h + s


# Widths double per stage up to 8x; every block pools after its convolutions.
MAX_DOUBLINGS = 3


class Discriminator(nn.Module):
    """D(x, y) -> one logit per image; conditioning by projection (Miyato & Koyama, 2018)."""

    def __init__(self, num_classes: int, image_size: int = 28, channels: int = 1, width: int = 32):
        super().__init__()
        num_classes, width = _sizes(num_classes=num_classes, width=width)
        if channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {channels}")
        _, stages = resolution_plan(image_size)
        self.config = dict(num_classes=num_classes, image_size=image_size, channels=channels, width=width)
        widths = [width * 2 ** min(i, MAX_DOUBLINGS) for i in range(stages + 1)]
        blocks = [DBlock(channels, widths[0], downsample=True, first=True)]
        blocks += [DBlock(widths[i], widths[i + 1], downsample=i + 1 < stages) for i in range(stages)]
        self.blocks = nn.Sequential(*blocks)
        self.fc = spectral_norm(nn.Linear(widths[-1], 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, widths[-1]))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.fc(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)

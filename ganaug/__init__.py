"""ganaug: class-conditional GAN data augmentation for PyTorch training pipelines.

``import ganaug`` is lean: the error classes are loaded eagerly, every other public name on first
use (PEP 562 ``__getattr__``), so ``ganaug.SyntheticMix`` or ``ganaug.load_generator`` never pulls
in Hydra, omegaconf, Lightning or the tuner/benchmark machinery; ``ganaug.ConditionalGAN`` and
``ganaug.tune_mix`` load them when asked for.
"""

import os
from typing import TYPE_CHECKING

from ._lazy import lazy_exports

# albumentations asks PyPI for its latest version on import (up to 2 s, and a warning, per process: each
# benchmark worker, each test worker) unless this is set. Training on a cluster or in CI must not
# depend on the network; set NO_ALBUMENTATIONS_UPDATE=0 before importing ganaug to keep the check.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"

from .errors import ArtifactError, ConfigError, GanaugDataError, GanaugError, OutputError  # noqa: E402

if TYPE_CHECKING:  # the real imports, for IDEs and type checkers; at runtime see __getattr__
    from .bank import SyntheticBank
    from .export import export_generator, load_generator
    from .filter import QualityFilter
    from .gan import ConditionalGAN
    from .loss import SyntheticAwareLoss
    from .mix import SyntheticMix
    from .mix_loaders import mix_dataloader, mix_datamodule
    from .mix_samplers import MixedBatchSampler, SyntheticMixSampler
    from .nets import Discriminator, Generator
    from .recipe import Recipe, load_recipe
    from .sampling import TrainedGenerator
    from .split_norm import split_batch_norm
    from .tune import TuneResult, tune_mix

# public name -> the submodule (relative to this package) that defines it
_LAZY: dict[str, str] = {
    "ConditionalGAN": ".gan",
    "Discriminator": ".nets",
    "Generator": ".nets",
    "MixedBatchSampler": ".mix_samplers",
    "QualityFilter": ".filter",
    "Recipe": ".recipe",
    "SyntheticAwareLoss": ".loss",
    "SyntheticBank": ".bank",
    "SyntheticMix": ".mix",
    "SyntheticMixSampler": ".mix_samplers",
    "TrainedGenerator": ".sampling",
    "TuneResult": ".tune",
    "export_generator": ".export",
    "load_generator": ".export",
    "load_recipe": ".recipe",
    "mix_dataloader": ".mix_loaders",
    "mix_datamodule": ".mix_loaders",
    "split_batch_norm": ".split_norm",
    "tune_mix": ".tune",
}

__all__ = [
    "ArtifactError",
    "ConditionalGAN",
    "ConfigError",
    "Discriminator",
    "GanaugDataError",
    "GanaugError",
    "Generator",
    "MixedBatchSampler",
    "OutputError",
    "QualityFilter",
    "Recipe",
    "SyntheticAwareLoss",
    "SyntheticBank",
    "SyntheticMix",
    "SyntheticMixSampler",
    "TrainedGenerator",
    "TuneResult",
    "export_generator",
    "load_generator",
    "load_recipe",
    "mix_dataloader",
    "mix_datamodule",
    "split_batch_norm",
    "tune_mix",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, hidden={"TYPE_CHECKING", "lazy_exports"})

"""ganaug: class-conditional GAN data augmentation for PyTorch training pipelines.

``import ganaug`` is lean: the error classes are loaded eagerly, every other public name on first
use (PEP 562 ``__getattr__``), so ``ganaug.SyntheticMix`` or ``ganaug.load_generator`` never pulls
in Hydra, omegaconf, Lightning or the tuner/benchmark machinery; ``ganaug.ConditionalGAN`` and
``ganaug.tune_mix`` load them when asked for.
"""

import os
from typing import TYPE_CHECKING

from ganaug._lazy import lazy_exports

# albumentations asks PyPI for its latest version on import (up to 2 s, and a warning, per process: each
# benchmark worker, each test worker) unless this is set. Training on a cluster or in CI must not
# depend on the network; set NO_ALBUMENTATIONS_UPDATE=0 before importing ganaug to keep the check.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from ganaug._version import __version__  # noqa: E402,F401

from ganaug.errors import ArtifactError, ConfigError, GanaugDataError, GanaugError, OutputError  # noqa: E402

if TYPE_CHECKING:  # the real imports, for IDEs and type checkers; at runtime see __getattr__
    from ganaug.mix.bank import SyntheticBank
    from ganaug.gan.artifact import export_generator, load_generator
    from ganaug.mix.filter import QualityFilter
    from ganaug.gan.module import ConditionalGAN
    from ganaug.classify.loss import SyntheticAwareLoss
    from ganaug.mix.dataset import SyntheticMix
    from ganaug.mix.loaders import mix_dataloader, mix_datamodule
    from ganaug.mix.samplers import MixedBatchSampler, SyntheticMixSampler
    from ganaug.gan.nets import Discriminator, Generator
    from ganaug.mix.recipe import Recipe, load_recipe
    from ganaug.gan.sampling import TrainedGenerator
    from ganaug.classify.split_norm import split_batch_norm
    from ganaug.eval.tune import TuneResult, TuneSettings, tune_mix

# public name -> the submodule (relative to this package) that defines it
_LAZY: dict[str, str] = {
    "ConditionalGAN": ".gan.module",
    "Discriminator": ".gan.nets",
    "Generator": ".gan.nets",
    "MixedBatchSampler": ".mix.samplers",
    "QualityFilter": ".mix.filter",
    "Recipe": ".mix.recipe",
    "SyntheticAwareLoss": ".classify.loss",
    "SyntheticBank": ".mix.bank",
    "SyntheticMix": ".mix.dataset",
    "SyntheticMixSampler": ".mix.samplers",
    "TrainedGenerator": ".gan.sampling",
    "TuneResult": ".eval.tune",
    "TuneSettings": ".eval.tune",
    "export_generator": ".gan.artifact",
    "load_generator": ".gan.artifact",
    "load_recipe": ".mix.recipe",
    "mix_dataloader": ".mix.loaders",
    "mix_datamodule": ".mix.loaders",
    "split_batch_norm": ".classify.split_norm",
    "tune_mix": ".eval.tune",
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
    "TuneSettings",
    "export_generator",
    "load_generator",
    "load_recipe",
    "mix_dataloader",
    "mix_datamodule",
    "split_batch_norm",
    "tune_mix",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, hidden={"TYPE_CHECKING", "lazy_exports"})

"""ganaug: class-conditional GAN data augmentation for PyTorch training pipelines."""

__version__ = "0.1.0"

from .errors import ArtifactError, GanaugDataError, GanaugError  # noqa: E402
from .export import export_generator, load_generator  # noqa: E402
from .gan import ConditionalGAN  # noqa: E402
from .nets import Discriminator, Generator  # noqa: E402
from .sampling import TrainedGenerator  # noqa: E402
from .bank import SyntheticBank  # noqa: E402
from .filter import QualityFilter  # noqa: E402
from .loss import SyntheticAwareLoss  # noqa: E402
from .mix import SyntheticMix  # noqa: E402
from .mix_loaders import mix_dataloader, mix_datamodule  # noqa: E402
from .mix_samplers import MixedBatchSampler, SyntheticMixSampler  # noqa: E402
from .recipe import Recipe, load_recipe  # noqa: E402
from .tune import TuneResult, tune_mix  # noqa: E402

__all__ = [
    "ArtifactError",
    "ConditionalGAN",
    "Discriminator",
    "GanaugDataError",
    "GanaugError",
    "Generator",
    "MixedBatchSampler",
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
    "tune_mix",
]

"""Datasets in the user-boundary format (uint8 HWC images, int labels) and the GAN's DataModule.

Every public name is loaded on first use (PEP 562 ``__getattr__``): importing one reader, or
``ganaug.data.arrays`` from the core, does not pull in Lightning (``GANDataModule``), OpenCV
(``load_image_folder``) or the other readers.
"""

from typing import TYPE_CHECKING

from ganaug._lazy import lazy_exports

if TYPE_CHECKING:  # the real imports, for IDEs and type checkers; at runtime see __getattr__
    from ganaug.data.arrays import ImageArrayDataset, from_dataset
    from ganaug.data.datamodule import GANDataModule, GANTensorDataset
    from ganaug.data.digits import load_digits
    from ganaug.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist, resolve_fashion_mnist
    from ganaug.data.idx import read_idx
    from ganaug.data.image_folder import load_image_folder
    from ganaug.data.registry import DATASET_NAMES, load_dataset
    from ganaug.data.subsets import labelled_subset, long_tail, train_val_split

# public name -> the submodule (relative to this package) that defines it
_LAZY: dict[str, str] = {
    "DATASET_NAMES": ".registry",
    "FASHION_MNIST_CLASSES": ".fashion_mnist",
    "GANDataModule": ".datamodule",
    "GANTensorDataset": ".datamodule",
    "ImageArrayDataset": ".arrays",
    "from_dataset": ".arrays",
    "labelled_subset": ".subsets",
    "load_dataset": ".registry",
    "load_digits": ".digits",
    "load_fashion_mnist": ".fashion_mnist",
    "load_image_folder": ".image_folder",
    "long_tail": ".subsets",
    "read_idx": ".idx",
    "resolve_fashion_mnist": ".fashion_mnist",
    "train_val_split": ".subsets",
}

__all__ = [
    "DATASET_NAMES",
    "FASHION_MNIST_CLASSES",
    "GANDataModule",
    "GANTensorDataset",
    "ImageArrayDataset",
    "from_dataset",
    "labelled_subset",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_image_folder",
    "long_tail",
    "read_idx",
    "resolve_fashion_mnist",
    "train_val_split",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, hidden={"TYPE_CHECKING", "lazy_exports"})

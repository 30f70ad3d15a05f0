"""Datasets in the user-boundary format (uint8 HWC images, int labels) and the GAN's DataModule."""

from ganaug.data.arrays import ImageArrayDataset, from_dataset
from ganaug.data.datamodule import GANDataModule, GANTensorDataset
from ganaug.data.digits import load_digits
from ganaug.data.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    load_fashion_mnist,
    resolve_fashion_mnist,
)
from ganaug.data.idx import read_idx
from ganaug.data.image_folder import load_image_folder
from ganaug.data.registry import DATASET_NAMES, load_dataset
from ganaug.data.subsets import labelled_subset, long_tail, train_val_split

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

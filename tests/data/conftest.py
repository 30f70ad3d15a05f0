import gzip
import struct

import numpy as np
import pytest

from ganaug.data import ImageArrayDataset

_TYPE_BYTES = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes written by hand with struct, independent of the reader under test."""
    array = np.asarray(array)
    header = struct.pack(">BBBB", 0, 0, _TYPE_BYTES[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.fixture
def idx_bytes():
    return encode_idx


@pytest.fixture
def write_idx():
    def write(path, array, gz=False):
        data = encode_idx(array)
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    return write


@pytest.fixture
def make_dataset():
    """counts[k] images of class k; pixels (0, 0) and (0, 1) hold the item's index (base 256)."""

    def make(counts, shape=(4, 4, 1)):
        labels = np.repeat(np.arange(len(counts)), counts)
        rng = np.random.default_rng(0)
        labels = labels[rng.permutation(len(labels))]
        images = np.zeros((len(labels), *shape), dtype=np.uint8)
        images[:, 0, 0, 0] = np.arange(len(labels)) % 256
        images[:, 0, 1, 0] = np.arange(len(labels)) // 256
        return ImageArrayDataset(images, labels)

    return make

"""Reader for the IDX format of MNIST and Fashion-MNIST, gzipped or not."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from ganaug.errors import GanaugDataError

_GZIP_MAGIC = b"\x1f\x8b"

# IDX type byte -> big-endian numpy dtype.
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _corrupt(path: Path, why: str) -> GanaugDataError:
    return GanaugDataError(
        f"{path} is not a valid IDX file ({why}); it is probably truncated or corrupt: "
        "delete it and download it again"
    )


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file into a native-endian, writable numpy array of the header's shape.

    Gzip is detected from the file's first bytes, not its name, since mirrors and packagers
    rename files both ways.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise GanaugDataError(f"IDX file {path} does not exist; check the path") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise _corrupt(path, f"gzip stream broken: {e}") from None

    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise _corrupt(path, "bad magic number, expected 00 00 <type> <ndim>")
    dtype = _DTYPES.get(raw[2])
    if dtype is None:
        raise _corrupt(path, f"unknown data type byte 0x{raw[2]:02x}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise _corrupt(path, f"header declares {ndim} dimensions but the file has {len(raw)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise _corrupt(
            path, f"header shape {shape} needs {expected} data bytes, found {len(raw) - header}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    # astype copies, which also makes the array writable (frombuffer over bytes is read-only).
    return data.astype(dtype.newbyteorder("="))

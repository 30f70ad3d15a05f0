"""Reader for the IDX format of MNIST and Fashion-MNIST, gzipped or not."""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ganaug.base.resources import memory_shortfall
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


# Deflate expands data at most ~1032 times; a header claiming more than that of its file is a lie.
_GZIP_MAX_RATIO = 1100
_CHUNK = 1 << 20


def _read_exactly(stream: BinaryIO, n: int) -> bytearray:
    """Up to `n` bytes, grown as they arrive: memory follows what the file holds, not what a header says."""
    data = bytearray()
    while len(data) < n:
        chunk = stream.read(min(_CHUNK, n - len(data)))
        if not chunk:
            break
        data += chunk
    return data


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file into a native-endian, writable numpy array of the header's shape.

    Gzip is detected from the file's first bytes, not its name, since mirrors and packagers
    rename files both ways. A gzipped file is decompressed as it is read, no further than its
    header's shape needs (and one byte more, to see that nothing follows).
    """
    path = Path(path)
    try:
        file = open(path, "rb")
    except FileNotFoundError:
        raise GanaugDataError(f"IDX file {path} does not exist; check the path") from None
    with file:
        size = os.fstat(file.fileno()).st_size
        gz = file.read(2) == _GZIP_MAGIC
        file.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=file, mode="rb") if gz else file  # type: ignore[assignment]
        try:
            magic = stream.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
                raise _corrupt(path, "bad magic number, expected 00 00 <type> <ndim>")
            dtype = _DTYPES.get(magic[2])
            if dtype is None:
                raise _corrupt(path, f"unknown data type byte 0x{magic[2]:02x}")
            ndim = magic[3]
            dims = stream.read(4 * ndim)
            if ndim == 0 or len(dims) < 4 * ndim:
                raise _corrupt(
                    path, f"header declares {ndim} dimensions but the file has {4 + len(dims)} bytes"
                )
            shape = struct.unpack(f">{ndim}I", dims)
            # Python ints: numpy's int64 product wraps to 0 for four dimensions of 2**16.
            expected = math.prod(shape) * dtype.itemsize
            header = 4 + 4 * ndim
            if gz and expected > _GZIP_MAX_RATIO * size:
                raise _corrupt(
                    path, f"header shape {shape} needs {expected} data bytes, more than a "
                    f"{size}-byte gzip file can hold"
                )
            if not gz and size - header != expected:
                raise _corrupt(path, f"header shape {shape} needs {expected} data bytes, found {size - header}")
            # A gzip that holds what its header says still expands up to ~1,000 times: 30 MB can be 30 GB.
            short = memory_shortfall(expected)
            if short:
                raise GanaugDataError(f"{path}: its header shape {shape} of {dtype} takes {short}; free memory, "
                                      "or write a smaller file")
            raw = _read_exactly(stream, expected)
            extra = gz and len(raw) == expected and stream.read(1)
        except (EOFError, OSError, zlib.error) as e:
            raise _corrupt(path, f"{'gzip stream broken' if gz else 'unreadable'}: {e}") from None
    if len(raw) != expected or extra:
        found = f"more than {expected}" if extra else len(raw)
        raise _corrupt(path, f"header shape {shape} needs {expected} data bytes, found {found}")
    # The bytearray is this array's own and writable: a copy is needed only to swap the byte order.
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)

import gzip

import numpy as np
import pytest

from ganaug.data import read_idx
from ganaug.errors import GanaugDataError


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
def test_roundtrip(tmp_path, write_idx, gz, dtype):
    array = (
        (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
        if dtype != np.uint8
        else (np.arange(30, dtype=np.uint8).reshape(2, 3, 5))
    )
    path = write_idx(tmp_path / "a.idx", array, gz=gz)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)
    out[0, 0, 0] = 1  # must be writable, unlike a frombuffer view over bytes


def test_gzip_detected_by_content_not_name(tmp_path, write_idx):
    labels = np.array([3, 1, 4], dtype=np.uint8)
    gz_named_plain = write_idx(tmp_path / "x.gz", labels, gz=False)
    plain_named_gz = write_idx(tmp_path / "y-idx1-ubyte", labels, gz=True)
    np.testing.assert_array_equal(read_idx(gz_named_plain), labels)
    np.testing.assert_array_equal(read_idx(plain_named_gz), labels)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_data_is_an_error_naming_the_path(tmp_path, write_idx, gz):
    path = write_idx(tmp_path / "t.idx", np.zeros((4, 3, 3), np.uint8))
    raw = path.read_bytes()[:-5]
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(GanaugDataError, match=r"t\.idx.*truncated or corrupt.*delete it") as e:
        read_idx(path)
    assert "needs 36 data bytes, found 31" in str(e.value)


def test_truncated_gzip_stream(tmp_path, write_idx):
    path = write_idx(tmp_path / "t.gz", np.zeros((50, 8, 8), np.uint8), gz=True)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(GanaugDataError, match="gzip stream broken"):
        read_idx(path)


def test_trailing_bytes_and_bad_magic(tmp_path, write_idx):
    path = write_idx(tmp_path / "t.idx", np.zeros(3, np.uint8))
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(GanaugDataError, match="found 4"):
        read_idx(path)
    path.write_bytes(b"\x01\x00\x08\x01" + b"\0" * 8)
    with pytest.raises(GanaugDataError, match="bad magic"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x07\x01" + b"\0" * 8)
    with pytest.raises(GanaugDataError, match="unknown data type"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(GanaugDataError, match="does not exist"):
        read_idx(tmp_path / "nope")

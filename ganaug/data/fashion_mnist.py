"""Fashion-MNIST: find the files locally (or fetch them on request) and load a split."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ganaug.data.arrays import ImageArrayDataset
from ganaug.data.idx import read_idx
from ganaug.errors import GanaugDataError
from ganaug.base.files import atomic_file, remove_stale_temps

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

ENV_ROOT = "GANAUG_FASHION_MNIST"
ENV_CACHE = "GANAUG_CACHE"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

# Base names; each may exist with or without ".gz".
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
_ALL_FILES = tuple(name for pair in SPLIT_FILES.values() for name in pair)
# More than any of the four files holds (train images, the largest, is under 30 MB): a mirror that sends more
# is not serving them, and is stopped before it fills the disk.
MAX_DOWNLOAD_BYTES = 64 << 20


def default_cache_dir() -> Path:
    """Download cache for Fashion-MNIST.

    ``$GANAUG_CACHE/fashion-mnist``, else ``${XDG_CACHE_HOME:-~/.cache}/ganaug/fashion-mnist``.
    """
    base = os.environ.get(ENV_CACHE)
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
        base = os.path.join(xdg, "ganaug")
    return Path(base).expanduser() / "fashion-mnist"


def _find_file(directory: Path, base: str) -> Path | None:
    for name in (base + ".gz", base):
        if (directory / name).is_file():
            return directory / name
    return None


def _missing(directory: Path) -> list[str]:
    return [base for base in _ALL_FILES if _find_file(directory, base) is None]


def _complete(directory: Path) -> bool:
    return not _missing(directory)


def _download(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        # With a named root this is the user's path, so a typo in it lands here.
        raise GanaugDataError(
            f"cannot create {directory} to download Fashion-MNIST into: {e}. Correct the path, "
            "or point it at a folder you can write to"
        ) from e
    names = [base + ".gz" for base in _ALL_FILES]
    remove_stale_temps(directory, names)  # a download killed earlier
    for base, name in zip(_ALL_FILES, names):
        if _find_file(directory, base) is not None:
            continue
        url = URL + name
        # A killed or failed download leaves no file under the name (`atomic_file`).
        with atomic_file(directory / name) as tmp, open(tmp, "wb") as out:
            md5 = hashlib.md5()
            for chunk in _chunks(url, directory):
                md5.update(chunk)
                out.write(chunk)
            if md5.hexdigest() != MD5[name]:
                raise GanaugDataError(
                    f"checksum mismatch for {url}: MD5 {md5.hexdigest()}, expected {MD5[name]}; "
                    "the download was corrupted or the mirror changed. Retry, or install the files "
                    "with `apt-get install dataset-fashion-mnist` and leave download off"
                )


def _chunks(url: str, directory: Path):
    """The file at ``url``, a MiB at a time; a network error, or more bytes than any of the files has, is a
    data error (the files are checked by MD5 only once whole)."""
    got = 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(1 << 20):
                got += len(chunk)
                if got > MAX_DOWNLOAD_BYTES:
                    raise GanaugDataError(f"{url} sent more than {MAX_DOWNLOAD_BYTES:,} bytes, more than any "
                                          "Fashion-MNIST file holds: the mirror changed. Install the files with "
                                          "`apt-get install dataset-fashion-mnist` instead")
                yield chunk
    except OSError as e:
        raise GanaugDataError(
            f"could not download {url} into {directory}: {e}. Check the network, or install "
            "the files with `apt-get install dataset-fashion-mnist`, or point "
            "data.dataset.root=... at a folder holding them"
        ) from e


def _check_named(directory: Path, what: str, instead: str, download: bool) -> Path:
    """``directory`` if it holds the files (fetching them with ``download``), else an error.

    A folder the user named is where the data must come from: falling back to another copy
    would train on data they did not choose (a typo in the path would go unnoticed, and a
    modified copy there would be silently replaced by the official one).
    """
    if directory.exists() and not directory.is_dir():
        raise GanaugDataError(
            f"{what} {directory} is a file, not a folder; point it at the folder holding the "
            "Fashion-MNIST IDX files"
        )
    missing = _missing(directory)
    if not missing:
        return directory
    if download:
        _download(directory)
        return directory
    problem = (
        "does not exist"
        if not directory.exists()
        else f"lacks {', '.join(b + '[.gz]' for b in missing)}"
    )
    raise GanaugDataError(
        f"Fashion-MNIST folder {directory} ({what}) {problem}. Fix one of: correct the path (or "
        f"put the files there); {instead}; or set data.dataset.download=true (download=True) to "
        f"fetch the files into {directory}"
    )


def resolve_fashion_mnist(
    root: str | os.PathLike | None = None,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Returns a directory holding the four Fashion-MNIST IDX files (gzipped or not).

    A ``root`` given, else a non-empty ``$GANAUG_FASHION_MNIST``, is the only place looked in: it
    must hold the files, or with ``download=True`` they are fetched into it. Otherwise looks, in
    order, in ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``)
    and ``cache_dir`` (default :func:`default_cache_dir`); with ``download=True`` it then fetches
    the missing files into ``cache_dir``. Downloads are MD5-checked.
    """
    fallback = f"{DEBIAN_DIR} (`apt-get install dataset-fashion-mnist`), then the download cache"
    if root is not None:
        instead = f"drop data.dataset.root to search ${ENV_ROOT} if set, {fallback}"
        return _check_named(Path(root).expanduser(), "data.dataset.root", instead, download)
    if os.environ.get(ENV_ROOT):
        # Set by the user as deliberately as root: a typo there must not go unnoticed either.
        instead = f"unset ${ENV_ROOT} to search {fallback}"
        env_root = Path(os.environ[ENV_ROOT]).expanduser()
        return _check_named(env_root, f"${ENV_ROOT}", instead, download)

    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    candidates = [("Debian package dataset-fashion-mnist", DEBIAN_DIR), ("cache", cache)]
    for _, directory in candidates:
        if _complete(directory):
            return directory

    if download:
        _download(cache)
        return cache

    tried = "\n".join(f"  - {d} ({what})" for what, d in candidates)
    raise GanaugDataError(
        "Fashion-MNIST not found. Looked for train-images-idx3-ubyte[.gz], "
        "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz] and "
        "t10k-labels-idx1-ubyte[.gz] in:\n"
        f"{tried}\n"
        "Fix one of: `apt-get install dataset-fashion-mnist`; set data.dataset.download=true "
        f"(load_fashion_mnist(download=True)) to fetch it into {cache}; or set "
        f"data.dataset.root=/path/to/folder (or ${ENV_ROOT}) to a folder holding the files."
    )


def load_fashion_mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
    transform: Callable | None = None,
) -> ImageArrayDataset:
    """The train (60000) or test (10000) split as 28×28×1 uint8 images with the official names."""
    if split not in SPLIT_FILES:
        raise GanaugDataError(
            f"unknown Fashion-MNIST split {split!r}; use one of {sorted(SPLIT_FILES)}"
        )
    directory = resolve_fashion_mnist(root=root, download=download, cache_dir=cache_dir)
    image_base, label_base = SPLIT_FILES[split]
    image_path = _find_file(directory, image_base)
    label_path = _find_file(directory, label_base)
    assert image_path is not None and label_path is not None  # resolve checked all four
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise GanaugDataError(
            f"{image_path} holds {images.dtype} data of shape {images.shape}, not 28×28 uint8 "
            "images; it is not a Fashion-MNIST image file: replace it"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise GanaugDataError(
            f"{label_path} holds labels of shape {labels.shape} for {len(images)} images in "
            f"{image_path}; the pair does not match: replace them"
        )
    if len(labels) and int(labels.max()) >= len(FASHION_MNIST_CLASSES):
        raise GanaugDataError(
            f"{label_path} has label {int(labels.max())}, beyond the 10 Fashion-MNIST classes; "
            "replace it"
        )
    return ImageArrayDataset(
        images[..., None], labels, class_names=list(FASHION_MNIST_CLASSES), transform=transform
    )

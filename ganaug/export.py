"""The generator artifact: a directory with `generator.safetensors` and `generator.json`.

No pickle anywhere: weights are safetensors, everything needed to rebuild the network is JSON,
and the JSON records the SHA-256 of the weights so a tampered or truncated file is caught before
it is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import ArtifactError
from .nets import Generator
from .sampling import TrainedGenerator

FORMAT_NAME = "ganaug-generator"
FORMAT_VERSION = 1
WEIGHTS_FILE = "generator.safetensors"
META_FILE = "generator.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def default_file_mode() -> int:
    return 0o666 & ~_umask()


def default_dir_mode() -> int:
    return 0o777 & ~_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: a killed job leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, default_file_mode())  # mkstemp's 0600 would make results unreadable to others
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_generator(
    generator: Generator | TrainedGenerator,
    path: str | os.PathLike,
    class_names: list[str] | None = None,
    extra: dict | None = None,
) -> Path:
    """Write the artifact directory `path`; returns it.

    The weights go first and the JSON (which names the weights' hash) last, so an interrupted
    export is detected on load rather than silently mixing old and new files.
    """
    from . import __version__

    if isinstance(generator, TrainedGenerator):
        class_names = class_names or generator.class_names
        net = generator.net
    else:
        net = generator
    class_names = list(class_names) if class_names is not None else [str(i) for i in range(net.num_classes)]
    if len(class_names) != net.num_classes:
        raise ValueError(f"{len(class_names)} class names for a generator with {net.num_classes} classes")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    weights = path / WEIGHTS_FILE
    fd, tmp = tempfile.mkstemp(dir=path, prefix=f".{WEIGHTS_FILE}.", suffix=".tmp")
    os.fchmod(fd, default_file_mode())
    os.close(fd)
    try:
        save_file(state, tmp, metadata={"format": FORMAT_NAME})
        sha = _sha256(Path(tmp))
        os.replace(tmp, weights)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "ganaug_version": __version__,
        "architecture": {"name": "Generator", "kwargs": dict(net.config)},
        "num_classes": net.num_classes,
        "class_names": class_names,
        "image_shape": [net.image_size, net.image_size, net.channels],
        "value_range": [-1.0, 1.0],
        "output": "uint8 HWC via sample(); float NCHW in value_range via generate()",
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": sha,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    atomic_write_bytes(path / META_FILE, json.dumps(meta, indent=2).encode())
    return path


def read_versioned_json(meta_path: Path, format_name: str, format_version: int, required: tuple[str, ...],
                        redo: str) -> dict:
    """Read a ganaug metadata JSON, checking its format, version and fields; `redo` says how to fix it."""
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(f"{meta_path} is not valid JSON ({e}); it is corrupt: {redo}") from e
    if not isinstance(meta, dict) or meta.get("format") != format_name:
        raise ArtifactError(f"{meta_path} is not a {format_name} file (format != {format_name!r})")
    if meta.get("format_version", 0) > format_version:
        raise ArtifactError(
            f"{meta_path} has format_version {meta.get('format_version')}, newer than this ganaug "
            f"understands ({format_version}); upgrade ganaug"
        )
    for key in required:
        if key not in meta:
            raise ArtifactError(f"{meta_path} lacks the field {key!r}; it is incomplete: {redo}")
    return meta


def check_expected(what: str, verb: str, made: str, num_classes: int, image_shape: tuple, class_names: list,
                   expect_num_classes=None, expect_image_shape=None, expect_class_names=None) -> None:
    """Turn "made for another dataset" into an error (generators and banks alike)."""
    if expect_num_classes is not None and num_classes != expect_num_classes:
        raise ArtifactError(f"{what} has {num_classes} classes, expected {expect_num_classes}: "
                            f"it was {made} for another dataset")
    if expect_image_shape is not None and tuple(image_shape) != tuple(expect_image_shape):
        raise ArtifactError(f"{what} {verb} images of shape {tuple(image_shape)} (H, W, C), expected "
                            f"{tuple(expect_image_shape)}: it was {made} for another dataset or size")
    if expect_class_names is not None and list(class_names) != list(expect_class_names):
        raise ArtifactError(f"{what} has classes {list(class_names)}, expected {list(expect_class_names)}")


def read_generator_meta(path: str | os.PathLike) -> dict:
    """An exported generator's JSON (format-checked) without loading its weights."""
    return _read_meta(Path(path))


def _read_meta(path: Path) -> dict:
    meta_path = path / META_FILE
    if not meta_path.is_file():
        hint = " (a directory is expected, not the .safetensors file)" if path.is_file() else ""
        raise ArtifactError(
            f"no generator artifact at {path}{hint}: {META_FILE} not found. Export one with "
            "ganaug-train (it writes <run dir>/generator) or ganaug.export_generator()"
        )
    return read_versioned_json(meta_path, FORMAT_NAME, FORMAT_VERSION,
                               ("architecture", "num_classes", "class_names", "image_shape", "weights_sha256"),
                               "re-export the generator")


def load_generator(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    expect_num_classes: int | None = None,
    expect_image_shape: tuple[int, int, int] | None = None,
    expect_class_names: list[str] | None = None,
) -> TrainedGenerator:
    """Rebuild a generator from its artifact, with no training code, data or checkpoint.

    The `expect_*` arguments turn "a generator for another dataset" into an error instead of
    images of the wrong size or labels that mean something else.
    """
    path = Path(path)
    meta = _read_meta(path)
    weights = path / meta.get("weights_file", WEIGHTS_FILE)
    if not weights.is_file():
        raise ArtifactError(f"{weights} is missing; the artifact is incomplete, re-export it")
    sha = _sha256(weights)
    if sha != meta["weights_sha256"]:
        raise ArtifactError(
            f"{weights} does not match the hash recorded in {META_FILE} (tampered, truncated or "
            "from another export); re-export the generator"
        )
    shape = tuple(meta["image_shape"])
    check_expected(f"generator at {path}", "makes", "trained", meta["num_classes"], shape, meta["class_names"],
                   expect_num_classes, expect_image_shape, expect_class_names)
    arch = meta["architecture"]
    if arch.get("name") != "Generator":
        raise ArtifactError(f"unknown generator architecture {arch.get('name')!r} in {path}")
    try:
        net = Generator(**arch["kwargs"])
        state = load_file(str(weights), device="cpu")
        net.load_state_dict(state, strict=True)
    except (SafetensorError, RuntimeError, TypeError, ValueError) as e:
        raise ArtifactError(f"cannot rebuild the generator from {path}: {e}") from e
    if list(shape) != [net.image_size, net.image_size, net.channels]:
        raise ArtifactError(f"{META_FILE} in {path} is inconsistent: image_shape {shape} vs architecture")
    return TrainedGenerator(net, meta["class_names"], meta).to(device)

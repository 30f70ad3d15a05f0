"""The generator artifact: a directory with `generator.safetensors` and `generator.json`.

No pickle anywhere: weights are safetensors, everything needed to rebuild the network is JSON,
and the JSON records the SHA-256 of the weights so a tampered or truncated file is caught before
it is used. The hash does not vouch for the JSON (whoever edits it can update the hash), so every
field is type-checked and the sizes it claims are compared with the weights' header before any
memory is allocated for them.
"""

from __future__ import annotations

import inspect
import json
import os
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath, PureWindowsPath

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ganaug.base.checks import check_path, class_name_list
from ganaug.base.records import check_regular
from ganaug.errors import ArtifactError, ConfigError
from ganaug.base.files import (
    file_sha256,
    default_file_mode,
    remove_stale_temps,
    make_dir,
    atomic_file,
    atomic_write_bytes,
    is_int,
    is_sha256_hex,
)
from ganaug.gan.nets import Generator
from ganaug.gan.sampling import TrainedGenerator

FORMAT_NAME = "ganaug-generator"
FORMAT_VERSION = 1
WEIGHTS_FILE = "generator.safetensors"
META_FILE = "generator.json"


# The fields export_generator writes itself; loading reads them.
META_FIELDS = ("format", "format_version", "ganaug_version", "architecture", "num_classes", "class_names",
               "image_shape", "value_range", "output", "weights_file", "weights_sha256", "created")


def _check_extra(extra: dict | None) -> dict:
    if extra is None:
        return {}
    if not isinstance(extra, dict):
        raise ConfigError(f"extra must be a dict of JSON values, got {type(extra).__name__}")
    # An extra key of the artifact's own would rewrite what loading reads (num_classes, the weights'
    # hash): an artifact that no longer loads, or loads as another one.
    clash = sorted(set(extra) & set(META_FIELDS))
    if clash:
        raise ConfigError(f"extra keys {clash} are the artifact's own fields; name them otherwise (e.g. "
                          f"'train_{clash[0]}')")
    try:
        json.dumps(extra)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"extra must hold JSON values (numbers, strings, lists, dicts): {e}") from None
    return extra


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
    from ganaug._version import __version__

    if isinstance(generator, TrainedGenerator):
        class_names = class_names or generator.class_names
        net = generator.net
    else:
        net = generator
    if not isinstance(net, Generator):
        raise TypeError(f"export_generator writes a ganaug Generator (or TrainedGenerator), got {type(net).__name__}")
    class_names = class_name_list(class_names, net.num_classes)
    extra = _check_extra(extra)  # before anything is written
    path = make_dir(Path(path))
    remove_stale_temps(path, (WEIGHTS_FILE, META_FILE))
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_file(path / WEIGHTS_FILE) as tmp:
        save_file(state, tmp, metadata={"format": FORMAT_NAME})
        # safetensors replaces the file with an owner-only one: set the mode once it is done.
        os.chmod(tmp, default_file_mode())
        sha = file_sha256(Path(tmp))
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
    }
    atomic_write_bytes(path / META_FILE, json.dumps({**meta, **extra}, indent=2).encode())
    return path


def read_versioned_json(meta_path: Path, format_name: str, format_version: int, required: tuple[str, ...],
                        redo: str) -> dict:
    """Read a ganaug metadata JSON, checking its format, version and fields; `redo` says how to fix it."""
    from ganaug.base.records import read_json

    meta = read_json(meta_path, ArtifactError, f"{format_name} record")
    if not isinstance(meta, dict) or meta.get("format") != format_name:
        raise ArtifactError(f"{meta_path} is not a {format_name} file (format != {format_name!r})")
    version = meta.get("format_version", 0)
    if not is_int(version):
        raise field_error(meta_path, "format_version", "an integer", version, redo)
    if version > format_version:
        raise ArtifactError(
            f"{meta_path} has format_version {version}, newer than this ganaug "
            f"understands ({format_version}); upgrade ganaug"
        )
    for key in required:
        if key not in meta:
            raise ArtifactError(f"{meta_path} lacks the field {key!r}; it is incomplete: {redo}")
    return meta


# -- field checks shared by the generator's and the bank's JSON: a wrong type is named with its field
# instead of surfacing as a TypeError deep inside numpy or torch.

def field_error(meta_path: Path, field: str, expected: str, got, redo: str) -> ArtifactError:
    return ArtifactError(f"{meta_path}: {field} must be {expected}, got {got!r:.80}; {redo}")


def check_positive_int(meta_path: Path, field: str, x, redo: str) -> int:
    if not is_int(x) or x < 1:
        raise field_error(meta_path, field, "a positive integer", x, redo)
    return x


def check_class_names(meta_path: Path, x, redo: str) -> list[str]:
    if not isinstance(x, list) or not all(isinstance(n, str) for n in x) or not x or len(set(x)) != len(x):
        raise field_error(meta_path, "class_names", "a non-empty list of strings, no name twice", x, redo)
    return x


def check_image_shape(meta_path: Path, x, redo: str) -> tuple[int, int, int]:
    if not isinstance(x, list) or len(x) != 3 or not all(is_int(v) and v > 0 for v in x):
        raise field_error(meta_path, "image_shape", "a list of 3 positive integers [H, W, C]", x, redo)
    return tuple(x)


def contained_file(directory: Path, name, field: str, meta_path: Path, redo: str) -> Path:
    """`directory / name`, refusing a name (or a symlink) that leads out of the directory."""
    # A NUL cannot be in a file name: os.stat's "embedded null byte" would name neither the field nor the file.
    if not isinstance(name, str) or name.strip() in ("", ".", "..") or "\x00" in name:
        raise field_error(meta_path, field, f"a string naming a file inside {directory}", name, redo)
    if (PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute()
            or ".." in PurePosixPath(name.replace("\\", "/")).parts):
        raise ArtifactError(f"{meta_path}: {field} {name!r:.80} leads out of the directory; it must name a file "
                            f"inside {directory}: {redo}")
    target = directory / name
    real, home = target.resolve(), directory.resolve()
    if real != home and home not in real.parents:
        raise ArtifactError(f"{meta_path}: {field} {name!r:.80} is a link to {real}; it must name a file "
                            f"inside {directory}: {redo}")
    return target


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


_REDO = "re-export the generator (ganaug-train or ganaug.export_generator)"
_GENERATOR_KWARGS = tuple(inspect.signature(Generator).parameters)


def _read_meta(path: Path) -> dict:
    meta_path = path / META_FILE
    if not meta_path.exists():  # not is_file(): a FIFO or folder there is named as such by the reader
        hint = " (a directory is expected, not the .safetensors file)" if path.is_file() else ""
        raise ArtifactError(
            f"no generator artifact at {path}{hint}: {META_FILE} not found. Export one with "
            "ganaug-train (it writes <run dir>/generator) or ganaug.export_generator()"
        )
    meta = read_versioned_json(meta_path, FORMAT_NAME, FORMAT_VERSION,
                               ("architecture", "num_classes", "class_names", "image_shape", "weights_sha256"), _REDO)
    _check_fields(meta_path, meta)
    return meta


def _check_fields(meta_path: Path, meta: dict) -> None:
    """Type-check every field loading reads, before any of them sizes anything."""
    k = check_positive_int(meta_path, "num_classes", meta["num_classes"], _REDO)
    names = check_class_names(meta_path, meta["class_names"], _REDO)
    if len(names) != k:
        raise ArtifactError(f"{meta_path}: class_names has {len(names)} names but num_classes is {k}; {_REDO}")
    check_image_shape(meta_path, meta["image_shape"], _REDO)
    split = meta.get("data_split")  # written by ganaug-train; ganaug-tune compares it key by key
    if split is not None and not isinstance(split, dict):
        raise field_error(meta_path, "data_split", 'a mapping of the data options the GAN trained on ({"n_per_class": '
                          '..., "data_seed": ..., ...}) or null', split, _REDO)
    sha = meta["weights_sha256"]
    if not is_sha256_hex(sha):
        raise field_error(meta_path, "weights_sha256", "a string of 64 hex digits (SHA-256)", sha, _REDO)
    arch = meta["architecture"]
    if not isinstance(arch, dict) or not isinstance(arch.get("kwargs"), dict):
        raise field_error(meta_path, "architecture", 'an object {"name": "Generator", "kwargs": {...}}', arch, _REDO)
    if arch.get("name") != "Generator":
        raise ArtifactError(f"{meta_path}: unknown generator architecture {arch.get('name')!r:.80}; "
                            "this ganaug builds only 'Generator': " + _REDO)
    for key, value in arch["kwargs"].items():
        if key not in _GENERATOR_KWARGS:
            raise ArtifactError(f"{meta_path}: architecture.kwargs.{key} = {value!r:.80} is unknown: Generator "
                                f"takes {list(_GENERATOR_KWARGS)}; {_REDO}")
        check_positive_int(meta_path, f"architecture.kwargs.{key}", value, _REDO)


def _expected_tensors(meta_path: Path, meta: dict) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The tensors the JSON's architecture needs, from a network on the meta device (no memory, no time)."""
    try:
        with torch.device("meta"):
            net = Generator(**meta["architecture"]["kwargs"])
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise ArtifactError(f"{meta_path}: architecture.kwargs do not make a Generator ({e}); {_REDO}") from e
    if net.num_classes != meta["num_classes"]:
        raise ArtifactError(f"{meta_path}: num_classes {meta['num_classes']} disagrees with "
                            f"architecture.kwargs.num_classes {net.num_classes}; {_REDO}")
    if list(meta["image_shape"]) != [net.image_size, net.image_size, net.channels]:
        raise ArtifactError(f"{meta_path}: image_shape {meta['image_shape']} disagrees with the architecture's "
                            f"{[net.image_size, net.image_size, net.channels]}; {_REDO}")
    return tensor_specs(net)


_ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
              torch.int64: "I64", torch.int32: "I32"}


# -- weights whose sizes a JSON or YAML record names (a generator's, a recipe's teacher): the network is built on the
# meta device (shapes, no memory) and compared with the weights' safetensors header, read alone, before any memory is
# allocated for it; then it costs at most what the file holds, whatever the record claims.

def tensor_specs(net: torch.nn.Module) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Each tensor of ``net``'s state dict as a safetensors header names it: (dtype, shape). Build ``net`` under
    ``with torch.device("meta")``."""
    return {k: (_ST_DTYPES.get(v.dtype, str(v.dtype)), tuple(v.shape)) for k, v in net.state_dict().items()}


def read_weights_header(weights: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The tensors a safetensors file holds, from its header alone (the data is not read); raises SafetensorError,
    OSError or ValueError for a file without a valid header."""
    with safe_open(str(weights), framework="pt", device="cpu") as f:
        return {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()}


def header_problems(found: dict, expected: dict, most: int = 3, dtypes: bool = True) -> str | None:
    """How the tensors ``found`` in a header differ from those ``expected`` (`tensor_specs`), or None; without
    ``dtypes``, shapes alone (load_state_dict casts floats, and a cast costs at most a small factor of the file)."""
    def differs(k: str) -> bool:
        return found[k] != expected[k] if dtypes else found[k][1] != expected[k][1]

    problems = [f"{k} is missing" for k in expected if k not in found]
    problems += [f"{k} is not part of the architecture" for k in found if k not in expected]
    problems += [f"{k} has shape {found[k][1]} ({found[k][0]}) but the architecture needs {expected[k][1]} "
                 f"({expected[k][0]})" for k in expected if k in found and differs(k)]
    if not problems:
        return None
    return "; ".join(problems[:most]) + (f" (and {len(problems) - most} more)" if len(problems) > most else "")


def _check_weights_header(weights: Path, meta_path: Path, expected: dict) -> None:
    """Compare the safetensors header (read alone, without the data) with the tensors the JSON needs."""
    try:
        found = read_weights_header(weights)
    except (SafetensorError, OSError, ValueError) as e:
        raise ArtifactError(f"{weights} has no valid safetensors header ({e}); {_REDO}") from e
    problems = header_problems(found, expected)
    if problems:
        raise ArtifactError(f"{weights} does not hold the network {meta_path.name} describes: {problems}; {_REDO}")


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
    path = check_path("load_generator: path", path, "pass the directory ganaug-train or export_generator wrote")
    meta = _read_meta(path)
    meta_path = path / META_FILE
    weights = contained_file(path, meta.get("weights_file", WEIGHTS_FILE), "weights_file", meta_path, _REDO)
    try:
        # Hashing and safetensors open it by path: on a FIFO each would wait for a writer forever.
        check_regular(weights, ArtifactError, "generator weights file", _REDO)
    except FileNotFoundError:
        raise ArtifactError(f"{weights} is missing; the artifact is incomplete, re-export it") from None
    sha = file_sha256(weights)
    if sha != meta["weights_sha256"]:
        raise ArtifactError(
            f"{weights} does not match the hash recorded in {META_FILE} (tampered, truncated or "
            "from another export); re-export the generator"
        )
    shape = tuple(meta["image_shape"])
    check_expected(f"generator at {path}", "makes", "trained", meta["num_classes"], shape, meta["class_names"],
                   expect_num_classes, expect_image_shape, expect_class_names)
    expected = _expected_tensors(meta_path, meta)
    # Only now, with every size confirmed by the weights themselves, is memory allocated: at most
    # what the file holds.
    _check_weights_header(weights, meta_path, expected)
    try:
        net = Generator(**meta["architecture"]["kwargs"])
        state = load_file(str(weights), device="cpu")
        net.load_state_dict(state, strict=True)
    except (SafetensorError, RuntimeError, TypeError, ValueError) as e:
        raise ArtifactError(f"cannot rebuild the generator from {path}: {e}") from e
    return TrainedGenerator(net, meta["class_names"], meta).to(device)

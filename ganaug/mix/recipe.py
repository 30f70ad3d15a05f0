"""`load_recipe`: a synthetic mix and its loss, read from a file as plain data.

The recipe is ``<out_dir>/recipe.yaml``, written by `ganaug-tune`: the `SyntheticMix` settings
(``source``, ``ratio``, ``class_policy``, ``seed``, ``truncation``, ``refresh``, ``return_flag``)
and the loss settings (``soft_labels``, ``synthetic_weight``, ``confidence_weight``, ``split_norm``, ``teacher``:
the real-data classifier (`SmallCNN` or `SmallResNet`) in ``reference.safetensors``, with its
arch, width, classes and image shape). Relative paths are relative to the recipe's directory, so a
tune directory can be moved. ``mix.yaml`` beside it holds the same mix settings alone as a Hydra
partial (conf/mix/default.yaml's format), for Hydra configs that compose ``mix`` themselves;
`load_recipe` reads it and conf/mix/*.yaml too, with the loss then plain cross-entropy.

    recipe = ganaug.load_recipe("runs/tune-digits")
    train_set = recipe.wrap(train_set, transform=..., return_flag=True)  # items: (image, label, is_synthetic)
    criterion = recipe.loss()                   # plain cross-entropy, same call, when real only won
    for x, y, is_synthetic in loader:
        with recipe.norm(model, is_synthetic):  # split batch-norm statistics, when the recipe was measured so
            logits = model(x)
        loss = criterion(logits, y, is_synthetic, x)

``source_id`` (written by `ganaug-tune`) is what the source held when it was measured: a bank regenerated
or a generator retrained in the same place since is refused, not silently mixed in.

A config that Hydra instantiates is code: every ``_target_`` in it is imported and called, e.g.
``torch.load`` of a pickle. So the YAML is parsed as plain data (`ganaug.base.records`: no tags, no
aliases), only the keys above are accepted, every value is type-checked, and nothing is built but
`SyntheticMix` and the loss.
``_target_: ganaug.SyntheticMix`` at the top is tolerated (mix.yaml's Hydra target, never
imported from the file); any other ``_target_``, at the top or nested, is refused, not run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ganaug.mix.bank import META_FILE as BANK_META
from ganaug.classify.classifier import CLASSIFIERS, build_classifier
from ganaug.errors import ConfigError, GanaugError
from ganaug.gan.artifact import META_FILE as GENERATOR_META
from ganaug.gan.artifact import header_problems, read_weights_header, tensor_specs
from ganaug.classify.loss import MAX_SYNTHETIC_WEIGHT, NormalizedInputs, SyntheticAwareLoss
from ganaug.base.checks import check_path
from ganaug.base.records import check_regular, read_json, read_yaml
from ganaug.mix.dataset import SyntheticMix
from ganaug.classify.split_norm import batch_norm_layers, split_batch_norm

__all__ = ["Recipe", "RecipeError", "load_recipe", "RECIPE_FILE", "MIX_FILE"]

RECIPE_FILE = "recipe.yaml"
MIX_FILE = "mix.yaml"
MIX_TARGET = "ganaug.SyntheticMix"
MIX_KEYS = ("source", "ratio", "class_policy", "seed", "truncation", "refresh", "return_flag")
LOSS_KEYS = ("soft_labels", "synthetic_weight", "confidence_weight", "split_norm", "teacher")
# Keys an earlier ganaug-tune wrote for a setting since removed, read only at the value that turned it off, so those
# recipes still load and mean what they meant.
RETIRED_KEYS = {"feedback_weight": False}
# What the source held when the tune measured it; a recipe without it (hand-written, or older) is not checked.
SOURCE_ID_KEY = "source_id"
TUNE_RECORD = "tune.json"  # beside a recipe.yaml that ganaug-tune wrote
CANDIDATES_DIR = "recipes"  # ganaug-tune's recipe of every measured candidate
HYDRA_KEYS = ("_target_", "_partial_")
TEACHER_KEYS = ("file", "width", "num_classes", "image_shape")  # and "arch" (smallcnn when left out)
POLICIES = ("match", "uniform", "balance")
TEACHER_FIX = "rerun ganaug-tune, or fix the teacher entry"
NEVER = ("ganaug never instantiates targets from files, and neither should you: hydra.utils.instantiate on "
         "this file would import and call whatever it names")


class RecipeError(GanaugError, ValueError):
    """A recipe file that is missing, malformed, or not a ganaug recipe."""


@dataclass(frozen=True)
class Recipe:
    """A synthetic mix and the loss to train with it; `load_recipe` makes one from a file.

    ``teacher`` is the real-data classifier's weights file (safetensors) and ``teacher_model``
    the classifier it fits (``arch``, ``width``, ``num_classes``, ``image_shape`` H×W×C), or both None.
    """

    path: Path
    source: Path | None
    ratio: float
    class_policy: str | tuple[float, ...] | dict = "match"
    seed: int = 0
    truncation: float | None = None
    refresh: float | None = None
    return_flag: bool = False
    soft_labels: float = 0.0
    synthetic_weight: float = 1.0
    confidence_weight: bool = False
    split_norm: bool = False
    teacher: Path | None = None
    teacher_model: dict | None = None

    @property
    def needs_flag(self) -> bool:
        """Whether the loss (or the normalisation) treats synthetic items apart, so batches must carry the flag."""
        return self.ratio > 0 and (self.synthetic_weight != 1.0 or self.soft_labels > 0 or self.confidence_weight
                                   or self.split_norm)

    def norm(self, model: nn.Module, is_synthetic: Any):
        """The context to run the model's forward pass in: `ganaug.split_batch_norm` when the recipe keeps
        synthetic items' batch-norm statistics apart (``split_norm``), else one that changes nothing. A model
        without batch norm has no statistics to keep apart: there too it changes nothing, so one training loop
        serves every recipe and every model."""
        split = self.split_norm and self.ratio > 0 and bool(batch_norm_layers(model))
        return split_batch_norm(model, is_synthetic if split else None)

    def wrap(self, train_set: Any, transform: Any = None, **kwargs: Any) -> Any:
        """``SyntheticMix(train_set, source, ratio=..., ...)`` with this recipe's settings.

        ``transform`` and ``kwargs`` go to `SyntheticMix` (kwargs override the recipe's values).
        Real only (ratio 0) gives ``train_set`` itself (with a ``transform``, a `SyntheticMix` of
        its items alone, transformed; with ``source`` or ``ratio``, the mix they make). Items are
        ``(image, label, is_synthetic)`` when `return_flag` is set or the loss needs it (`needs_flag`):
        call the loss as ``criterion(logits, y, is_synthetic, x)``.
        """
        if self.ratio == 0:
            # The flag would only ever be False here, and a third item breaks `for x, y in loader`.
            args = {"source": None, "ratio": 0.0, "seed": self.seed, "return_flag": False, **kwargs}
            if transform is None and not args["return_flag"] and not {"source", "ratio"} & set(kwargs):
                return train_set
            return SyntheticMix(train_set, transform=transform, **args)
        if self.refresh is not None and "source" not in kwargs:
            # The bank's directory alone cannot regenerate it: refreshing needs the generator, which a recipe
            # does not name (a path in a data file is not followed).
            raise RecipeError(f"{self.path}: refresh: {self.refresh:g} regenerates a share of the bank every epoch, "
                              "which needs the bank's generator; pass the bank opened with it: recipe.wrap(train_set, "
                              "source=ganaug.SyntheticBank.open(recipe.source, generator=<generator directory>)), or "
                              "set refresh: null in the file")
        args = {"source": str(self.source), "ratio": self.ratio, "class_policy": self.class_policy,
                "seed": self.seed, "truncation": self.truncation, "refresh": self.refresh,
                "return_flag": self.return_flag or self.needs_flag, **kwargs}
        if self.needs_flag and not args["return_flag"]:
            raise RecipeError(f"{self.path}: this recipe's loss (soft_labels={self.soft_labels:g}, synthetic_weight="
                              f"{self.synthetic_weight:g}) tells synthetic items apart, so it needs "
                              "return_flag=True; leave return_flag out")
        if isinstance(args["class_policy"], tuple):
            args["class_policy"] = list(args["class_policy"])
        return SyntheticMix(train_set, transform=transform, **args)

    def loss(self, teacher: nn.Module | None = None, input_norm: tuple[Any, Any] | None = None) -> SyntheticAwareLoss:
        """The loss the recipe was measured with, a `SyntheticAwareLoss`: plain cross-entropy when the recipe
        treats synthetic items like real ones, taking the same call, ``criterion(logits, y, is_synthetic, x)``
        or ``criterion(logits, y)``, so a loop keeps working whichever recipe a tune picks.

        The teacher (for soft labels) is the recipe's classifier, loaded with safetensors; it
        takes float N×C×H×W batches in [-1, 1] (``img / 127.5 - 1``) and refuses others. If your model's
        inputs are normalised otherwise, say how once: ``input_norm=(mean, std)`` of your ``A.Normalize``
        (``(0, 1)`` for torchvision's ``ToTensor`` scale, [0, 1]), and the loss converts each batch for the
        teacher; or pass a ``teacher`` that takes your inputs.
        """
        if not self.needs_flag:
            return SyntheticAwareLoss()
        if (self.soft_labels > 0 or self.confidence_weight) and teacher is None:
            teacher = self.load_teacher()
            if input_norm is not None:
                teacher = NormalizedInputs(teacher, *_mean_std(input_norm),
                                           channels=self.teacher_model["image_shape"][2])
        return SyntheticAwareLoss(synthetic_weight=self.synthetic_weight, soft_labels=self.soft_labels,
                                  teacher=teacher, confidence_weight=self.confidence_weight)

    def load_teacher(self) -> nn.Module:
        """The real-data classifier of ``teacher``, in eval mode.

        The recipe's width and classes size the network: it is built in memory only once the file's safetensors
        header holds those very tensors, so it costs at most what the file holds, whatever the recipe says."""
        if self.teacher is None:
            raise RecipeError(f"{self.path} names no teacher: its loss uses no soft labels")
        spec = self.teacher_model
        h, w, c = spec["image_shape"]

        def build() -> nn.Module:
            return build_classifier(spec["arch"], spec["num_classes"], c, (h, w), spec["width"])

        def not_it(why: str) -> RecipeError:
            return RecipeError(f"{self.teacher} is not the weights of {CLASSIFIERS[spec['arch']].__name__}"
                               f"(width={spec['width']}, num_classes={spec['num_classes']}, image_shape="
                               f"{spec['image_shape']}) that {self.path} describes ({why}); {TEACHER_FIX}")

        try:
            check_regular(self.teacher, RecipeError, "teacher weights file", TEACHER_FIX)
            found = read_weights_header(self.teacher)
        except FileNotFoundError:
            raise RecipeError(f"{self.path}: teacher.file {self.teacher} does not exist; keep the tune directory "
                              "whole, or set teacher.file to where it now is") from None
        except RecipeError:
            raise
        except (SafetensorError, OSError, ValueError) as e:
            raise not_it(f"no valid safetensors header: {_first_line(e)}") from None
        try:
            with torch.device("meta"):
                expected = tensor_specs(build())
        except (TypeError, ValueError, RuntimeError, OverflowError) as e:
            raise not_it(f"those settings make no network: {_first_line(e)}") from None
        problems = header_problems(found, expected, dtypes=False)  # a half-precision teacher loads as before
        if problems:
            raise not_it(problems)
        model = build()
        try:
            model.load_state_dict(load_file(str(self.teacher)))
        except (SafetensorError, RuntimeError, OSError) as e:
            raise not_it(_first_line(e)) from None
        return model.eval()


def _mean_std(input_norm: Any) -> tuple[Any, Any]:
    """``input_norm`` as its two values. Any pair, not only a tuple: a Hydra config gives a ListConfig, numpy an
    array of two rows; a string or a mapping of two keys would unpack into letters or keys."""
    if not isinstance(input_norm, (str, bytes, Mapping)):
        try:
            mean, std = input_norm
            return mean, std
        except (TypeError, ValueError):
            pass
    raise ConfigError(f"input_norm must be (mean, std), those of your A.Normalize, got {input_norm!r}")


def _first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def load_recipe(path: str | os.PathLike, candidate: str | None = None) -> Recipe:
    """Read a ganaug recipe: a `ganaug-tune` out_dir (its recipe.yaml), or a file (recipe.yaml, mix.yaml,
    conf/mix/*.yaml).

    Only known keys with plain values are accepted; anything else raises `RecipeError` before
    any of it is used. The source (and teacher) must exist. ``candidate`` (a tune's out_dir only): any
    candidate the tune measured, by its name in tune.md (e.g. ``"generator/syn0.25"``), not only the one chosen.
    """
    path = check_path("load_recipe: path", path,
                      f"pass the out_dir of ganaug-tune (with {RECIPE_FILE}), or a recipe file")
    if candidate is not None:
        path = _candidate_file(path, candidate)
    if path.is_dir():
        if not (path / RECIPE_FILE).exists():  # not is_file(): a FIFO there is named as such by the reader
            if (path / MIX_FILE).exists():
                # mix.yaml alone would load the mix with plain cross-entropy: not what the tune measured.
                raise RecipeError(f"{path} has {MIX_FILE} but no {RECIPE_FILE}, which holds the loss the mix was "
                                  f"measured with: rerun ganaug-tune to write it again, or pass {path / MIX_FILE} "
                                  "itself for the mix alone with plain cross-entropy")
            raise RecipeError(f"{path} has no {RECIPE_FILE} or {MIX_FILE}: pass the out_dir of ganaug-tune, "
                              "or a recipe file")
        path = path / RECIPE_FILE
    elif not path.exists():
        raise RecipeError(f"{path} does not exist: pass the out_dir of ganaug-tune (with {RECIPE_FILE}), "
                          "or a recipe file")
    path = path.resolve()
    doc = _read(path)
    _refuse_targets(doc, path)
    _check_keys(doc, path, MIX_KEYS + LOSS_KEYS + HYDRA_KEYS + (SOURCE_ID_KEY,) + tuple(RETIRED_KEYS), "")
    for key, off in RETIRED_KEYS.items():
        if key in doc and doc[key] != off:
            raise RecipeError(f"{path}: {key}: {doc[key]!r} asks for a setting this ganaug no longer has (it lost on "
                              f"validation); rerun ganaug-tune to write a recipe it can train, or set {key}: {off}")
    _check_complete(doc, path)
    if not set(LOSS_KEYS) & set(doc) and (path.parent / RECIPE_FILE).is_file() and path.name != RECIPE_FILE:
        # The tune's loss settings are in recipe.yaml: training without them is not what it measured.
        warnings.warn(f"{path} holds the mix only; {path.parent / RECIPE_FILE} has its loss as well: "
                      f"load_recipe({str(path.parent)!r})", stacklevel=2)
    return _build(doc, path)


# ------------------------------------------------------------------------------ checking


def _read(path: Path) -> dict:
    doc = read_yaml(path, RecipeError, "ganaug recipe")
    if not isinstance(doc, dict):
        raise RecipeError(f"{path} holds a {type(doc).__name__}, not a mapping of settings, so it is not a "
                          "ganaug recipe")
    return doc


def _candidate_file(tune_dir: Path, candidate: str) -> Path:
    root = (tune_dir / CANDIDATES_DIR).resolve()
    files = (sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))
             if root.is_dir() else [])
    if candidate not in files:  # only a name the tune wrote: never a path built from the argument
        raise RecipeError(f"{tune_dir} has no measured candidate {candidate!r}; its candidates: {files or 'none'} "
                          "(a tune's out_dir, written by this version of ganaug-tune)")
    return root / f"{candidate}.yaml"


def _tune_dir(path: Path) -> Path | None:
    """The tune directory a recipe file was written into by ganaug-tune (tune.json there), or None."""
    for d in (path.parent, *path.parents):
        if (d / TUNE_RECORD).is_file() and (path.name == RECIPE_FILE and d == path.parent
                                            or CANDIDATES_DIR in path.relative_to(d).parts[:1]):
            return d
    return None


def _check_complete(doc: dict, path: Path) -> None:
    """A recipe that ganaug-tune wrote (recipe.yaml, or recipes/<candidate>.yaml, in a directory with tune.json)
    holds every key it writes: one cut short would load its missing keys at their defaults (no teacher, no
    source check) as if measured so."""
    if _tune_dir(path) is None:
        return  # a hand-written recipe may leave settings at their defaults
    wanted = [*MIX_KEYS, *LOSS_KEYS] + ([SOURCE_ID_KEY] if doc.get("source") is not None else [])
    missing = [k for k in wanted if k not in doc]
    if missing:
        raise RecipeError(f"{path} lacks {', '.join(missing)}, which ganaug-tune writes (the file was cut short or "
                          f"edited): rerun ganaug-tune on {path.parent} to write it again")


def _refuse_targets(doc: dict, path: Path) -> None:
    top = doc.get("_target_", MIX_TARGET)
    if top != MIX_TARGET:
        raise RecipeError(f"{path}: `_target_: {top}`: only {MIX_TARGET} is accepted there (mix.yaml's Hydra "
                          f"target), so this is not a ganaug recipe. {NEVER}")
    seen: set[int] = set()
    todo = [(v, k) for k, v in doc.items() if k != "_target_"]
    while todo:
        value, where = todo.pop()
        if id(value) in seen:  # YAML aliases share objects: visit each once
            continue
        seen.add(id(value))
        if isinstance(value, dict):
            if "_target_" in value:
                raise RecipeError(f"{path}: `_target_: {value['_target_']}` at {where}: a ganaug recipe holds "
                                  f"plain values only, so this is not a ganaug recipe. {NEVER}")
            todo += [(v, f"{where}.{k}") for k, v in value.items()]
        elif isinstance(value, list):
            todo += [(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _check_keys(doc: dict, path: Path, known: tuple[str, ...], prefix: str) -> None:
    for key in doc:
        if key not in known:
            raise RecipeError(f"{path}: unknown key {prefix + str(key)!r}, so it is not a ganaug recipe "
                              f"(its keys: {', '.join(prefix + k for k in known)}). {NEVER}")


def _fail(path: Path, key: str, wanted: str, value: Any) -> RecipeError:
    return RecipeError(f"{path}: {key} must be {wanted}, got {value!r}; fix it in the file, or rerun ganaug-tune")


def _flag(doc: dict, key: str, path: Path) -> bool:
    value = doc.get(key, False)
    if not isinstance(value, bool):
        raise _fail(path, key, "true or false", value)
    return value


def _number(doc: dict, key: str, path: Path, default: Any, lo: float, hi: float, *, lo_open=False, hi_open=False,
            wanted: str) -> Any:
    value = doc.get(key, default)
    if value is None and default is None:  # an optional setting left unset
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi):
        raise _fail(path, key, wanted, value)
    return float(value)


def _class_policy(value: Any, path: Path) -> str | tuple[float, ...] | dict:
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if value in POLICIES:
        return value
    if isinstance(value, list) and value and all(number(v) for v in value):
        return tuple(float(v) for v in value)
    if (isinstance(value, dict) and value and all(number(v) for v in value.values())
            and all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in value)):
        return {k: float(v) for k, v in value.items()}
    raise _fail(path, "class_policy", "match, uniform, balance, a list of class weights or {class: weight}", value)


def _existing(value: Any, key: str, path: Path, file: str | None = None) -> Path:
    """The path ``value`` names; ``file``: what it must be, a regular file (a FIFO would hang its reader)."""
    if not isinstance(value, str) or not value or "\x00" in value:
        raise _fail(path, key, "a path (relative to the recipe's directory, or absolute)", value)
    p = Path(value)
    p = (p if p.is_absolute() else path.parent / p).resolve()
    if not p.exists():
        raise RecipeError(f"{path}: {key} {p} does not exist; keep the tune directory whole, or set {key} to "
                          "where it now is")
    if file is not None:
        check_regular(p, RecipeError, file, f"set {key} in {path} to the file ganaug-tune wrote, or rerun it")
    return p


def _teacher(doc: dict, path: Path) -> tuple[Path | None, dict | None]:
    value = doc.get("teacher")
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise _fail(path, "teacher", "a mapping of " + ", ".join(TEACHER_KEYS), value)
    _check_keys(value, path, (*TEACHER_KEYS, "arch"), "teacher.")
    missing = [k for k in TEACHER_KEYS if k not in value]
    if missing:
        raise RecipeError(f"{path}: teacher lacks {', '.join(missing)}; it needs {', '.join(TEACHER_KEYS)}")

    def positive(k: str, least: int) -> int:
        v = value[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < least:
            raise _fail(path, f"teacher.{k}", f"an integer >= {least}", v)
        return v

    shape = value["image_shape"]
    if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                  and v > 0 for v in shape) and shape[2] in (1, 3)):
        raise _fail(path, "teacher.image_shape", "[H, W, C] with C = 1 or 3", shape)
    arch = value.get("arch", "smallcnn")
    if arch not in CLASSIFIERS:
        raise _fail(path, "teacher.arch", f"one of {sorted(CLASSIFIERS)}", arch)
    model = {"arch": arch, "width": positive("width", 1), "num_classes": positive("num_classes", 2),
             "image_shape": tuple(shape)}
    return _existing(value["file"], "teacher.file", path, file="teacher weights file"), model


def source_content_id(source: str | os.PathLike) -> str | None:
    """What a bank or generator directory holds, as its own record states it: a bank's digests, a generator's
    weights hash (None for anything else). Cheap: the record is read, not the images or weights."""
    for name, field in ((BANK_META, "digest"), (GENERATOR_META, "weights_sha256")):
        record = Path(source) / name
        if record.is_file():
            try:
                doc = read_json(record, RecipeError, name)
            except RecipeError:
                return None
            value = doc.get(field) if isinstance(doc, dict) else None
            return None if value is None else hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
    return None


def _check_source_id(doc: dict, source: Path, refresh: float | None, path: Path) -> None:
    pinned = doc.get(SOURCE_ID_KEY)
    if pinned is None or refresh is not None:  # a refreshed bank changes by design
        return
    if not isinstance(pinned, str):
        raise _fail(path, SOURCE_ID_KEY, "a string (what ganaug-tune measured), or null", pinned)
    now = source_content_id(source)
    if now is None:  # /etc, or a bank whose bank.json is gone: not "changed since"
        raise RecipeError(f"{path}: the source {source} is not a synthetic bank or an exported generator (no readable "
                          f"{BANK_META} or {GENERATOR_META} in it); point source at the tune's bank or generator "
                          "directory, or rerun ganaug-tune")
    if now != pinned:
        # A generator retrained in the same place, a bank regenerated there: not what the tune measured.
        raise RecipeError(f"{path}: the source {source} is not what ganaug-tune measured this recipe with (its "
                          "weights or images changed since); rerun ganaug-tune on it, or set source_id: null in the "
                          "file to use it anyway")


def _build(doc: dict, path: Path) -> Recipe:
    if doc.get("_partial_", True) is not True:
        raise _fail(path, "_partial_", "true (the dataset comes at runtime), or left out", doc["_partial_"])
    if "ratio" not in doc:
        raise RecipeError(f"{path}: no ratio; a recipe needs at least ratio (and source when ratio > 0)")
    ratio = _number(doc, "ratio", path, 0.0, 0.0, 1.0, hi_open=True, wanted="a number in [0, 1)")
    source = doc.get("source")
    if source is None and ratio > 0:
        raise RecipeError(f"{path}: ratio {ratio:g} needs a source (a bank or generator directory); "
                          "set source, or ratio: 0 for real only")
    seed = doc.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise _fail(path, "seed", "a non-negative integer", seed)
    flag = _flag(doc, "return_flag", path)
    soft = _number(doc, "soft_labels", path, 0.0, 0.0, 1.0, wanted="a number in [0, 1]")
    teacher, model = _teacher(doc, path)
    if soft > 0 and teacher is None:
        raise RecipeError(f"{path}: soft_labels > 0 needs a teacher (the real-data classifier whose softmax is "
                          "mixed in); add the teacher entry ganaug-tune writes, or set soft_labels: 0")
    confidence = _flag(doc, "confidence_weight", path)
    if confidence and teacher is None:
        raise RecipeError(f"{path}: confidence_weight needs a teacher (the real-data classifier whose confidence "
                          "weighs each synthetic item); add the teacher entry ganaug-tune writes, or set it false")
    split_norm = _flag(doc, "split_norm", path)
    source = None if source is None else _existing(source, "source", path)
    refresh = _number(doc, "refresh", path, None, 0.0, 1.0, lo_open=True, wanted="a fraction in (0, 1]")
    if source is not None:
        _check_source_id(doc, source, refresh, path)
    return Recipe(
        path=path,
        source=source,
        ratio=ratio,
        class_policy=_class_policy(doc.get("class_policy", "match"), path),
        seed=seed,
        truncation=_number(doc, "truncation", path, None, 0.0, math.inf, lo_open=True, wanted="a positive number"),
        refresh=refresh,
        return_flag=flag,
        soft_labels=soft,
        synthetic_weight=_number(doc, "synthetic_weight", path, 1.0, 0.0, MAX_SYNTHETIC_WEIGHT,
                                 wanted=f"a number in [0, {MAX_SYNTHETIC_WEIGHT:g}] (against 1 for a real item)"),
        confidence_weight=confidence,
        split_norm=split_norm,
        teacher=teacher,
        teacher_model=model,
    )

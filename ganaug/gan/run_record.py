"""The settings that define a training run, recorded beside its checkpoints.

A rerun of `ganaug-train` resumes `checkpoints/last.ckpt`. Resuming is only right when the rerun
asks for the same run: the same labelled images, the same networks and optimiser, the same seed. A
checkpoint resumed under other settings would go on training the old GAN and export it with the
new settings in its provenance (a generator that saw the validation images, labelled as one that
did not). So the first start writes `run.json`; a later start compares and refuses on a difference.

Only how long to train (`gan.max_steps`) and where the files come from (`data.dataset.root`, ...)
may change between starts: continuing a finished run for more updates is a supported use. What is
read there is recorded too (`data.content`, a hash of the training images, labels and class names):
a class folder renamed, or images added or moved, is other data under the same settings.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ganaug.base.config_schema import gan_identity
from ganaug.errors import GanaugError
from ganaug.base.files import atomic_write_bytes, check_unlinked

log = logging.getLogger(__name__)

RECORD_FILE = "run.json"
FORMAT_VERSION = 1
# Which labelled images a run trains on: `ganaug-tune` checks them to keep validation images unseen.
SPLIT_KEYS = ("n_per_class", "imbalance_ratio", "n_max", "data_seed", "val_fraction")
# Where the images are read from, not which: a moved dataset is the same data.
LOCATION_KEYS = ("root", "download", "cache_dir")
# How long, not what: a finished run may be continued for more updates.
LENGTH_KEYS = ("max_steps",)


# Recorded after runs were: a record without them is compared without them, then completed.
ADDED_KEYS = ("data.content", "trainer.precision")
# Lightning's short names for its precisions: the same training.
PRECISION_ALIASES = {"32": "32-true", "16": "16-mixed", "bf16": "bf16-mixed", "64": "64-true"}


def precision_name(precision: Any) -> str:
    """Lightning's precision setting by its full name (``32`` and ``"32-true"`` are the same training)."""
    return PRECISION_ALIASES.get(str(precision), str(precision))
# Values a reader cannot compare by eye: the difference is said in words.
DESCRIBED = {"data.content": "the training images, their labels and class names"}


class RunSettingsChanged(GanaugError, ValueError):
    """A rerun asks for other settings than the run whose checkpoints it would resume."""


def data_split(data_cfg: DictConfig) -> dict:
    """Which labelled images a run trains on."""
    return {k: data_cfg.get(k) for k in SPLIT_KEYS}


def run_settings(cfg: DictConfig, content: str | None = None) -> dict:
    """The settings that make two starts the same run (see the module docstring); ``content``: the
    training set's `engine.data_fingerprint`."""
    data = cfg.data
    dataset = OmegaConf.to_container(data.get("dataset") or {}, resolve=True)
    gan = OmegaConf.to_container(cfg.gan, resolve=True)
    return {
        "seed": cfg.get("seed"),
        "data": {
            "name": data.get("name"),
            **data_split(data),
            "batch_size": data.get("batch_size"),
            "dataset": {k: v for k, v in dataset.items() if k not in LOCATION_KEYS},
            **({} if content is None else {"content": content}),
        },
        "gan": {k: v for k, v in gan_identity(gan).items() if k not in LENGTH_KEYS},
        # Autocast makes other weights: a run trained at 32-true resumed at bf16-mixed is another run.
        "trainer": {"precision": precision_name((cfg.get("trainer") or {}).get("precision", "32-true"))},
    }


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def differences(recorded: dict, current: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """`key: recorded -> current` for every setting that differs, as Hydra override paths."""
    a, b = _flatten(recorded), _flatten(current)
    a, b = ({k: v for k, v in d.items() if k not in ignore} for d in (a, b))
    unset = object()

    def show(v):
        return "(unset)" if v is unset else json.dumps(v)

    def line(k):
        if k in DESCRIBED:
            return f"{k} ({DESCRIBED[k]}): changed"
        return f"{k}: {show(a.get(k, unset))} -> {show(b.get(k, unset))}"

    return [line(k) for k in sorted(set(a) | set(b)) if a.get(k, unset) != b.get(k, unset)]


def read_record(run_dir: Path) -> dict | None:
    path = Path(run_dir) / RECORD_FILE
    if not path.is_file():
        return None
    fix = ("delete it only if the checkpoints beside it belong to the settings you are running now, or start "
           "afresh with resume=false or another run_name")
    from ganaug.base.records import read_json

    try:
        doc = read_json(path, GanaugError, "run record")
    except GanaugError as e:
        raise GanaugError(f"{e}; {fix}") from None
    settings = doc.get("settings") if isinstance(doc, dict) else None
    if not isinstance(settings, dict) or not settings:
        # {"settings": null} was adopted as "no record" and overwritten with whatever ran next.
        raise GanaugError(f"{path} is not a valid run record (its settings are {settings!r}, not the run's "
                          f"settings); {fix}")
    return settings


def write_record(run_dir: Path, settings: dict) -> Path:
    path = Path(run_dir) / RECORD_FILE
    doc = {"format": "ganaug-run", "format_version": FORMAT_VERSION, "settings": settings}
    atomic_write_bytes(path, json.dumps(doc, indent=2, sort_keys=True).encode())
    return path


def check_resume(run_dir: Path, settings: dict, ckpt_path: str | None) -> dict:
    """The settings the run's weights were trained with; refuses a resume under other settings.

    With nothing to resume, `settings` becomes the run's record. A run started before runs were
    recorded is adopted with a warning: there is nothing to compare its checkpoint with.
    """
    recorded = read_record(run_dir)
    if ckpt_path is None or recorded is None:
        if ckpt_path is not None:
            log.warning("%s has checkpoints but no %s (made before runs were recorded): resuming it as a run "
                        "of these settings", run_dir, RECORD_FILE)
        write_record(run_dir, settings)
        return settings
    unrecorded = tuple(k for k in ADDED_KEYS if k not in _flatten(recorded))
    diff = differences(recorded, settings, ignore=unrecorded)
    if unrecorded and not diff:
        # made before these were recorded: nothing to compare them with; from now on they are
        log.warning("%s does not record %s (made before it was recorded): resuming it as a run of this data",
                    Path(run_dir) / RECORD_FILE, ", ".join(unrecorded))
        write_record(run_dir, settings)
        return settings
    if diff:
        lines = "\n  ".join(diff)
        raise RunSettingsChanged(
            f"{ckpt_path} belongs to a run with other settings than these, so it cannot be resumed "
            f"(recorded in {Path(run_dir) / RECORD_FILE}):\n  {lines}\n"
            "Train these settings as a new run with run_name=<new name> (or out_dir=<new dir>), or "
            "discard the old run's checkpoints with resume=false.")
    return recorded


_TAGS = (("n_per_class", "n"), ("imbalance_ratio", "lt"), ("n_max", "max"), ("val_fraction", "val"),
         ("data_seed", "ds"))
_DEFAULTS = {"val_fraction": 0.0, "data_seed": 0}


def split_tag(n_per_class=None, imbalance_ratio=None, n_max=None, val_fraction=0.0, data_seed=0) -> str:
    """`-n100-val0.2`-style suffix of the default run name: empty for all the images, no validation split."""
    values = {"n_per_class": n_per_class, "imbalance_ratio": imbalance_ratio, "n_max": n_max,
              "val_fraction": val_fraction, "data_seed": data_seed}
    parts = []
    for key, short in _TAGS:
        v = values[key]
        if v is None or v == _DEFAULTS.get(key):
            continue
        parts.append(f"-{short}{v:g}" if isinstance(v, float) else f"-{short}{v}")
    return "".join(parts)


def hydra_dir(out: str, sub: str) -> str:
    """Hydra's own directory ``<out>/<sub>`` beside a command's output ``out``; or, when it cannot be made
    there (a file in the way, no permission, an empty ``out``, a link planted at it or in it), one in this
    user's temp directory. Hydra makes it before the command runs, so it would fail with a traceback
    (ganaug-sample out=samples.npz, a file), or write into the current directory, where the command names the
    setting and the fix."""
    if str(out).strip():
        path = Path(out) / sub
        try:
            # A link planted below out (out/.hydra-run -> someone's folder), or inside Hydra's directory (its
            # .hydra, its log file), would have Hydra write through it: ganaug makes no links there.
            check_unlinked(path, below=out)
            path.mkdir(parents=True, exist_ok=True)  # what Hydra does next; trying it is the one sure test
            with os.scandir(path) as entries:
                if not any(e.is_symlink() for e in entries):
                    return str(path)
        except OSError:  # OutputError included
            pass
    fallback = _private_temp() / sub
    try:
        fallback.mkdir(parents=True, exist_ok=True)  # train's log opens here before Hydra makes its directory
    except OSError:
        pass  # Hydra's own error then names it
    return str(fallback)


@functools.cache
def _private_temp() -> Path:
    """<tmp>/ganaug-hydra-<uid>, a directory of this user's alone; else a fresh one. The temp directory is every
    local user's: a link or a folder planted at a fixed name there would receive Hydra's files. Cached, so a
    command's config and log land together."""
    path = Path(tempfile.gettempdir()) / f"ganaug-hydra-{os.getuid() if hasattr(os, 'getuid') else 0}"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return Path(tempfile.mkdtemp(prefix="ganaug-hydra-"))
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode) and st.st_uid == getattr(os, "getuid", lambda: st.st_uid)() and not st.st_mode & 0o077:
        return path
    return Path(tempfile.mkdtemp(prefix="ganaug-hydra-"))


def register_resolvers() -> None:
    """`${ganaug_split:...}` in conf/train.yaml's default run name, `${ganaug_hydra_dir:...}` in the hydra.run.dir
    of sample, tune and bench and in train's hydra.output_subdir; safe to call more than once."""
    if not OmegaConf.has_resolver("ganaug_split"):
        OmegaConf.register_new_resolver("ganaug_split", split_tag)
    if not OmegaConf.has_resolver("ganaug_hydra_dir"):
        OmegaConf.register_new_resolver("ganaug_hydra_dir", hydra_dir)

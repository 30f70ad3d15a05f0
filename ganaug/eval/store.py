"""Finished units (of a tune or a benchmark), one JSON file each, so an interrupted job resumes where it stopped;
and what their fingerprints hashed, so results stored by earlier versions stay current."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ganaug.errors import ArtifactError
from ganaug.base.files import atomic_write_bytes, check_unlinked, remove

# The one mapping between the settings objects of today and what stored fingerprints hashed (issue 45). ADDED:
# settings that came after runs were stored, left out of a key while they hold the value that reproduces those
# runs. REMOVED: levers that lost on validation and left the product (benchmarks/results/ablation.md names the
# commit holding their code), put back into a key at the one value every run now has. (The GAN's own added keys
# live in base/config_schema.py: a resumed training run checks them below this layer.)
ADDED: dict[str, dict[str, Any]] = {
    "classifier": {"batch_mix": "none", "batch_mix_alpha": 1.0, "model": None},
    "synthetic_use": {"split_norm": False},
}
REMOVED: dict[str, dict[str, Any]] = {
    "synthetic_use": {"weight_schedule": "constant", "label_smoothing": 0.0, "teacher": "reference"},
}


def stored_key(concern: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` as the stored fingerprints of ``concern`` hashed them."""
    added = ADDED.get(concern, {})
    d = {**REMOVED.get(concern, {}), **settings}
    return {k: v for k, v in d.items() if not (k in added and v == added[k])}


def digest(*parts: Any) -> str:
    """The first 16 hex digits of a SHA-256 over plain values (JSON, keys sorted): every fingerprint's hash."""
    return hashlib.sha256(json.dumps(list(parts), sort_keys=True, default=str).encode()).hexdigest()[:16]


def fingerprint(*parts) -> str:
    """A short, stable hash of config nodes and plain values: the settings a unit was made with."""
    return digest(*[OmegaConf.to_container(p, resolve=True) if OmegaConf.is_config(p) else p for p in parts])


def gan_id(regime: str, gan_seed: int | str) -> str:
    """The unit that trains a regime's GAN of one seed."""
    return f"{regime}/gan-g{gan_seed}"


def choice_id(regime: str, gan_seed: int | str) -> str:
    """The unit that chooses that GAN's generator on validation; its candidates' ids lie under it."""
    return f"{regime}/select-g{gan_seed}"


def gan_of(unit_id: str) -> tuple[str, str, str] | None:
    """(regime, "gan" or "select", GAN seed) of a GAN's unit, its generator choice or a candidate; else None."""
    regime, _, rest = unit_id.partition("/")
    for kind in ("gan", "select"):
        if rest.startswith(f"{kind}-g"):
            return regime, kind, rest.removeprefix(f"{kind}-g").split("/")[0]
    return None


def trains_gan(unit_id: str) -> bool:
    of = gan_of(unit_id)
    return of is not None and of[1] == "gan"


def gan_training_seconds(record: dict) -> float | None:
    """A GAN record's training time over every stretch; None where it holds its last stretch only (resumed
    from a checkpoint made before checkpoints kept the clock: `stretches` 1 or missing)."""
    if record.get("resumed_from") and record.get("stretches", 1) < 2:
        return None
    return record.get("train_seconds", record.get("seconds"))


REDO = "delete it, and the unit is made again when the command runs again"


def _read(path: Path) -> dict:
    from ganaug.base.records import read_json

    # Records are written whole (temp file, then rename); one that does not parse was edited or merged.
    try:
        record = read_json(path, ArtifactError, "unit record")
    except ArtifactError as e:
        raise ArtifactError(f"{e}: {REDO}") from None
    if not isinstance(record, dict):
        raise ArtifactError(f"{path} holds a {type(record).__name__}, not a unit record: {REDO}")
    return record


def score_problem(rec: dict, keys: tuple[str, ...] = ("val",), allow_skipped: bool = False) -> str | None:
    """What is wrong with a classifier run's record, or None: each of ``keys`` holds a finite number (or, with
    ``allow_skipped``, None in a record marked skipped). A NaN scored as a candidate would win or lose a choice."""
    for key in keys:
        v = rec.get(key)
        if v is None and allow_skipped and rec.get("skipped"):
            continue
        if key not in rec:
            return f"it has no {key}"
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return f"its {key} is {v!r:.80}, not a finite number"
    return None


class UnitStore:
    """``root`` (``<dir>/units``) holds one record per unit. Nothing in it, nor ``units`` itself, is read or
    written through a link (`check_unlinked` below ``<dir>``, the directory a setting names): a planted
    ``units -> elsewhere`` would otherwise receive every record and supply the scores a choice is made on.
    ``setting`` names ``<dir>``'s option in that refusal (default: the held root's, e.g. ``out_dir``)."""

    def __init__(self, root: str | Path, setting: str | None = None):
        self.root = Path(root)
        self.setting = setting

    def _checked(self, path: Path) -> Path:
        return check_unlinked(path, below=self.root.parent, setting=self.setting)

    def _path(self, unit_id: str) -> Path:
        if ".." in unit_id or unit_id.startswith("/"):
            raise ValueError(f"bad unit id {unit_id!r}")
        return self._checked(self.root / f"{unit_id}.json")

    def has(self, unit_id: str) -> bool:
        return self._path(unit_id).is_file()

    def get(self, unit_id: str) -> dict:
        return _read(self._path(unit_id))

    def current(self, unit_id: str, fingerprint: str, problem: Callable[[dict], str | None] | None = None
                ) -> dict | None:
        """The stored record if it was made with the settings `fingerprint` names, else None.

        ``problem`` says what is wrong with a current record's fields (None: nothing), for a reader that
        needs them: a record that parses, with the right fingerprint but a score hand-edited to text or
        NaN, is refused by name like one that does not parse, not left to fail later in the arithmetic."""
        try:
            rec = self.get(unit_id)
        except FileNotFoundError:
            return None
        if rec.get("fingerprint") != fingerprint:
            return None
        wrong = problem(rec) if problem is not None else None
        if wrong:
            raise ArtifactError(f"{self.root / unit_id}.json is not a record ganaug wrote ({wrong}): {REDO}")
        return rec

    def put(self, unit_id: str, record: dict) -> dict:
        """Store `record` as `unit_id`'s; returns it as `get` will read it back."""
        stored = {"unit": unit_id, **record}
        atomic_write_bytes(self._path(unit_id), json.dumps(stored, indent=2).encode())
        return stored

    def drop(self, unit_id: str) -> None:
        """Forget `unit_id`'s record (made from inputs that are gone); it is made again."""
        remove(self._path(unit_id))

    def generator_record(self, regime: str, gan_seed: int | str, stored: Callable[[str], bool] | None = None) -> str:
        """The unit whose record names the generator a GAN seed's banks are made from: its choice once made,
        else the GAN's own (final weights). `stored` says whether a record counts (default: it exists; a
        benchmark also asks that its settings be current)."""
        choice = choice_id(regime, gan_seed)
        return choice if (stored or self.has)(choice) else gan_id(regime, gan_seed)

    def all(self) -> list[dict]:
        self._checked(self.root)
        return [_read(self._checked(p)) for p in sorted(self.root.rglob("*.json"))]

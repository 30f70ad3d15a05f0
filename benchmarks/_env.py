"""Shared by the benchmark scripts: where results go and how they are written."""

from __future__ import annotations

import json
from pathlib import Path

from ganaug.export import atomic_write_bytes
from ganaug.provenance import environment, environment_markdown  # noqa: F401

RESULTS = Path(__file__).resolve().parent / "results"


def write_json(path: Path, payload: dict) -> Path:
    atomic_write_bytes(path, json.dumps(payload, indent=2).encode())
    return path

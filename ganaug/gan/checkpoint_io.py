"""Lightning's checkpoints written the way ganaug writes every file (`base.files.atomic_file`).

Lightning saves and prunes checkpoints by name throughout training, long after `train` checked the run
directory for links: a link planted at ``checkpoints/`` mid-run had every later checkpoint written, and old
ones deleted, wherever it pointed. Through `atomic_file` and `files.remove`, no link below the held run
directory is followed (a remote URL, e.g. ``s3://``, is Lightning's own business). A CheckpointIO plugin of the
user's own (AsyncCheckpointIO, say) is left to write as it does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from ganaug.base.files import atomic_file, remove


def _remote(path) -> bool:
    return "://" in str(path)


class HeldCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose local writes and removals go through `base.files`."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if _remote(path) or storage_options is not None:
            return super().save_checkpoint(checkpoint, path, storage_options)
        with atomic_file(Path(path)) as tmp:
            torch.save(checkpoint, tmp)

    def remove_checkpoint(self, path) -> None:
        if _remote(path):
            return super().remove_checkpoint(path)
        remove(Path(path), tree=True)  # as Lightning's rm(recursive=True)


def use_held_checkpoint_io(trainer) -> None:
    """Give ``trainer`` a `HeldCheckpointIO` unless a plugin of the user's already writes its checkpoints."""
    if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
        trainer.strategy.checkpoint_io = HeldCheckpointIO()

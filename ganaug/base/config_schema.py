"""Schemas of the Hydra configs, as plain dataclasses (no Hydra here: conf/__init__.py registers them).

A config group's YAML lists its schema first in its defaults list, so Hydra checks every key and
type when the config is composed: ``gan.max_steps=6k`` or a misspelt ``gan.dwidth=32`` fails before
any data is read, with Hydra's message naming the key. Values are checked where the objects are
built (`ConditionalGAN`'s constructor); `tests/test_config_schema.py` keeps each schema equal to its
target's signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class GANConfig:
    """conf/gan/*.yaml: `ganaug.ConditionalGAN`'s settings (the data gives num_classes, sizes, names)."""

    _target_: str = "ganaug.ConditionalGAN"
    max_steps: int = 6000
    z_dim: int = 128
    g_width: int = 16
    d_width: int = 32
    embed_dim: int = 32
    loss: str = "hinge"
    n_dis: int = 1
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.0, 0.999])
    ema_decay: float = 0.999
    ema_start: int = 200
    diffaug: str | None = "auto"
    lecam_weight: float = 0.0
    lecam_decay: float = 0.99
    d_pass: str = "separate"
    compile: str | None = None


# GAN settings added after GANs were trained and stored, with the value that reproduces those GANs.
# At that value a setting is left out of the GAN's identity (benchmark fingerprints, run records), so
# the weights made before it existed still match: a GAN costs hours, a schema change should not.
# "trainer.precision": the benchmark adds the trainer's precision to a GAN's identity (autocast makes
# other weights); full precision is what every stored GAN was trained in.
# "d_pass": separate D passes over real and fake, each with its own power iteration, trained every stored GAN.
# "compile": eager, as every stored GAN ran (a compiled update may round otherwise).
GAN_KEYS_ADDED = {"d_arch": "standard", "trainer.precision": "32-true", "d_pass": "separate", "compile": None}


def without_added(settings: Mapping[str, Any], added: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` without the keys of ``added`` that still hold the value ``added`` gives them."""
    return {k: v for k, v in settings.items() if not (k in added and v == added[k])}


def gan_identity(gan: Mapping[str, Any]) -> dict[str, Any]:
    """A GAN config's settings (a plain mapping) without the added keys at their original value."""
    return without_added(gan, GAN_KEYS_ADDED)


# (config group, schema name, schema): what conf/__init__.py stores in Hydra's ConfigStore.
SCHEMAS = [("gan", "gan_schema", GANConfig)]

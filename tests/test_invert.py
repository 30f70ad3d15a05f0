"""Latent neighbourhoods: real images' latent codes, and banks drawn around them."""

import numpy as np
import pytest
import torch

from ganaug.mix.bank import SyntheticBank
from ganaug.eval.engine import BankSettings, build_bank
from ganaug.errors import ConfigError
from ganaug.mix.invert import invert_latents
from ganaug.gan.nets import Generator
from ganaug.gan.sampling import TrainedGenerator, to_uint8_hwc


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    return TrainedGenerator(Generator(3, 8, 1, z_dim=16, width=8), ["a", "b", "c"])


def _real(gen, n=24, seed=1):
    """Images the generator can make exactly: from known codes."""
    g = torch.Generator().manual_seed(seed)
    z, y = torch.randn(n, gen.z_dim, generator=g), torch.arange(n) % 3
    return to_uint8_hwc(gen.generate(z, y)), y.numpy()


def _mse(gen, codes, images, labels):
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    return float(((gen.generate(torch.from_numpy(codes), torch.from_numpy(labels)) - x) ** 2).mean())


def test_inverted_codes_rebuild_the_images_and_leave_the_generator_alone(gen):
    images, labels = _real(gen)
    before = [p.detach().clone() for p in gen.net.parameters()]
    codes = invert_latents(gen, images, labels, steps=150, lr=0.05, batch_size=10)
    assert codes.shape == (24, gen.z_dim) and codes.dtype == np.float32
    prior = np.random.default_rng(5).standard_normal(codes.shape).astype(np.float32)
    assert _mse(gen, codes, images, labels) < 0.3 * _mse(gen, prior, images, labels)
    assert all(torch.equal(a, b) for a, b in zip(before, gen.net.parameters()))
    assert all(p.requires_grad for p in gen.net.parameters())
    assert np.array_equal(codes, invert_latents(gen, images, labels, steps=150, lr=0.05, batch_size=10))
    with pytest.raises(ConfigError, match="images must be uint8 N×8×8×1"):
        invert_latents(gen, images[..., 0], labels)
    with pytest.raises(ConfigError, match="one class in"):
        invert_latents(gen, images, labels + 3)


def _nearest(bank_images, real):
    d = ((bank_images[:, None].astype(np.float32) - real[None].astype(np.float32)) ** 2).mean(axis=(2, 3, 4))
    return float(d.min(axis=1).mean())


def test_a_bank_drawn_around_real_codes_lies_near_the_real_images(gen, tmp_path):
    images, labels = _real(gen)
    codes = invert_latents(gen, images, labels, steps=150, batch_size=24)
    near = SyntheticBank.generate(gen, 60, tmp_path / "near", class_policy="uniform", seed=3, progress=False,
                                  anchors=(codes, labels), anchor_spread=0.2)
    prior = SyntheticBank.generate(gen, 60, tmp_path / "prior", class_policy="uniform", seed=3, progress=False)
    assert _nearest(np.asarray(near.images), images) < 0.5 * _nearest(np.asarray(prior.images), images)
    assert near.meta["anchors"]["count"] == 24 and near.meta["anchors"]["spread"] == 0.2
    again = SyntheticBank.generate(gen, 60, None, class_policy="uniform", seed=3, progress=False,
                                   anchors=(codes, labels), anchor_spread=0.2)
    assert np.array_equal(np.asarray(again.images), np.asarray(near.images))
    reopened = SyntheticBank.open(tmp_path / "near", generator=gen)
    with pytest.raises(ConfigError, match="drawn around real images' latent codes"):
        reopened.refresh()
    with pytest.raises(ConfigError, match="no anchor of class 'c'"):
        SyntheticBank.generate(gen, 30, None, class_policy="uniform", progress=False,
                               anchors=(codes[labels < 2], labels[labels < 2]))
    with pytest.raises(ConfigError, match="anchor_spread must be a positive number"):
        SyntheticBank.generate(gen, 30, None, progress=False, class_policy="uniform", anchors=(codes, labels),
                               anchor_spread=0)


def test_bank_settings_keep_stored_fingerprints_and_build_bank_inverts_the_real_images(gen, tmp_path):
    assert "anchors" not in BankSettings().key() and "anchor_spread" not in BankSettings().key()
    real = BankSettings(anchors="real")
    assert real.key()["anchors"] == "real" and real.key() != BankSettings(anchors="real", anchor_spread=1.0).key()
    with pytest.raises(ConfigError, match="bank_anchors must be one of"):
        BankSettings(anchors="nearby")
    images, labels = _real(gen)
    with pytest.raises(ConfigError, match="needs those images"):
        build_bank(gen, tmp_path / "b", BankSettings(size=30, class_policy="uniform", anchors="real"), seed=0,
                   real_labels=labels)
    rec = build_bank(gen, tmp_path / "b", BankSettings(size=30, class_policy="uniform", anchors="real"), seed=0,
                     real_labels=labels, real_images=images)
    assert rec["anchors"] == {"kind": "real", "spread": 0.5} and rec["size"] == 30
    assert SyntheticBank.open(tmp_path / "b").meta["anchors"]["count"] == len(images)

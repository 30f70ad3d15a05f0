"""Mixup and CutMix in the classifier loop (ganaug.classify.batch_mix), and the augmentation policies of conf/augment."""

import os
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from ganaug.classify.batch_mix import mix_batch
from ganaug.classify.classifier import train_classifier_on_loader
from ganaug.eval.engine import ClassifierSettings, run_fingerprint
from ganaug.errors import ConfigError
from ganaug.classify.loss import SyntheticAwareLoss

pytestmark = pytest.mark.usefixtures("one_thread")


def test_mixup_blends_each_item_with_its_partner_by_lam():
    x = torch.arange(4, dtype=torch.float32).reshape(4, 1, 1, 1).expand(4, 1, 4, 4).contiguous()
    mixed, perm, lam = mix_batch(x, "mixup", 1.0, np.random.default_rng(3))
    assert 0 < lam < 1
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[perm])


def test_cutmix_pastes_a_box_and_lam_is_the_share_of_pixels_kept():
    x = torch.zeros(8, 1, 10, 10)
    x[:, 0] = torch.arange(8, dtype=torch.float32).reshape(8, 1, 1)
    for seed in range(20):
        mixed, perm, lam = mix_batch(x, "cutmix", 1.0, np.random.default_rng(seed))
        own = (mixed == x).all(dim=1).float().mean(dim=(1, 2))  # pixels still the item's own
        moved = perm != torch.arange(8)
        assert torch.allclose(own[moved], torch.full_like(own[moved], lam))


def test_the_same_seed_mixes_the_same_way():
    x = torch.randn(6, 1, 8, 8)
    a = mix_batch(x, "cutmix", 0.5, np.random.default_rng(1))
    b = mix_batch(x, "cutmix", 0.5, np.random.default_rng(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]


def test_the_mixed_loss_is_cross_entropy_against_the_mixed_target():
    # Why mixing is done on the loss: CE is linear in its target, so lam*CE(a) + (1-lam)*CE(b) is the blend's CE.
    torch.manual_seed(0)
    logits, ya, yb, lam = torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1]), torch.tensor([2, 2, 0, 1, 1]), 0.3
    crit = SyntheticAwareLoss()
    split = lam * crit(logits, ya) + (1 - lam) * crit(logits, yb)
    target = lam * torch.nn.functional.one_hot(ya, 3) + (1 - lam) * torch.nn.functional.one_hot(yb, 3)
    assert torch.allclose(split, torch.nn.functional.cross_entropy(logits, target.float()))


def _loader(digits_shuffled, n=300, flag=False):
    x, y = digits_shuffled
    tensors = [torch.from_numpy(x[:n]), torch.from_numpy(y[:n])]
    if flag:
        tensors.append(torch.arange(n) % 4 == 0)
    return DataLoader(TensorDataset(*tensors), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_batch_mix_changes_training_and_is_reproducible(digits_shuffled, kind):
    kw = dict(steps=15, seed=0, width=8)
    plain = train_classifier_on_loader(_loader(digits_shuffled), 10, 1, 8, **kw)
    a = train_classifier_on_loader(_loader(digits_shuffled), 10, 1, 8, batch_mix=kind, **kw)
    b = train_classifier_on_loader(_loader(digits_shuffled), 10, 1, 8, batch_mix=kind, **kw)
    assert torch.equal(_weights(a), _weights(b))
    assert not torch.allclose(_weights(a), _weights(plain))


def test_batch_mix_with_synthetic_flags_soft_labels_and_split_norm(digits_shuffled):
    teacher = train_classifier_on_loader(_loader(digits_shuffled), 10, 1, 8, steps=5, seed=1, width=8)
    model = train_classifier_on_loader(_loader(digits_shuffled, flag=True), 10, 1, 8, steps=10, seed=0, width=8,
                                       batch_mix="mixup", teacher=teacher, synthetic_soft_labels=0.5,
                                       synthetic_confidence_weight=True, synthetic_split_norm=True)
    assert model.steps_trained == 10


@pytest.mark.parametrize("bad, match", [({"batch_mix": "mixcut"}, "batch_mix must be one of"),
                                        ({"batch_mix_alpha": 0}, "batch_mix_alpha must be a positive")])
def test_bad_batch_mix_settings_are_named(digits_shuffled, bad, match):
    with pytest.raises(ConfigError, match=match):
        train_classifier_on_loader(_loader(digits_shuffled), 10, 1, 8, steps=1, **bad)
    with pytest.raises(ConfigError, match="classifier." + match):
        ClassifierSettings(**bad)


def test_stored_runs_keep_their_fingerprint_and_a_mixed_run_gets_another():
    # Runs stored before batch_mix existed were made without it: at its default it is not in the key.
    plain = ClassifierSettings()
    assert "batch_mix" not in plain.key() and "batch_mix_alpha" not in plain.key()
    fps = {run_fingerprint("t", "v", "accuracy", ClassifierSettings(batch_mix=m), None, 0)
           for m in ("none", "mixup", "cutmix")}
    assert len(fps) == 3


@pytest.mark.parametrize("policy", ["flip_shift", "fashion_mnist", "erasing", "trivial", "digits"])
def test_every_augmentation_policy_composes_and_keeps_uint8_hwc(policy):
    import conf  # noqa: F401 - registers the schemas
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=os.path.abspath("conf"), version_base="1.3"):
        cfg = compose("bench", overrides=[f"augment={policy}"])
    transform = instantiate(cfg.augment)
    transform.set_random_seed(0)
    img = (np.random.default_rng(0).random((28, 28, 1)) * 255).astype(np.uint8)
    changed = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a deprecated or unknown argument would warn
        for _ in range(30):
            out = transform(image=img)["image"]
            assert out.shape == img.shape and out.dtype == np.uint8
            changed += not np.array_equal(out, img)
    assert changed > 15


def test_fashion_mnist_augment_is_flip_shift():
    # The name the stored benchmark runs were made under: the same pipeline, hence the same fingerprints.
    import conf  # noqa: F401
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from ganaug.eval.engine import transform_key

    with initialize_config_dir(config_dir=os.path.abspath("conf"), version_base="1.3"):
        keys = [transform_key(instantiate(compose("bench", overrides=[f"augment={p}"]).augment))
                for p in ("fashion_mnist", "flip_shift", "erasing")]
    assert keys[0] == keys[1] != keys[2]

import inspect

import pytest
import torch
from omegaconf import OmegaConf

from ganaug import ConditionalGAN


def _gan(**kw):
    args = dict(num_classes=3, image_size=8, channels=1, z_dim=8, g_width=8, d_width=8)
    args.update(kw)
    return ConditionalGAN(**args)


def test_max_steps_counts_generator_updates():
    assert _gan(max_steps=100, n_dis=1).trainer_max_steps() == 200
    assert _gan(max_steps=100, n_dis=2).trainer_max_steps() == 300


@pytest.mark.parametrize("kw,match", [
    ({"loss": "wasserstein"}, "gan.loss=.wasserstein. is unknown"),
    ({"n_dis": 0}, "n_dis"),
    ({"ema_decay": 1.0}, "ema_decay"),
    ({"d_arch": "tiny"}, "gan.d_arch='tiny' is unknown"),
    ({"class_names": ["a"]}, "class names"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        _gan(**kw)


def test_ema_tracks_generator():
    gan = _gan(ema_decay=0.5, ema_start=0)
    with torch.no_grad():
        for p in gan.generator.parameters():
            p.add_(1.0)
    before = [p.clone() for p in gan.ema.parameters()]
    gan.g_updates += 1
    gan._update_ema()
    for b, e, g in zip(before, gan.ema.parameters(), gan.generator.parameters()):
        assert torch.allclose(e, 0.5 * b + 0.5 * g)


def test_ema_is_not_trained_and_stays_in_eval():
    gan = _gan()
    assert not any(p.requires_grad for p in gan.ema.parameters())
    gan.train()
    assert not gan.ema.training and gan.generator.training


def test_losses():
    gan = _gan(loss="hinge")
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert gan._d_loss(real, fake).item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    ns = _gan(loss="nonsaturating")
    assert ns._d_loss(real, fake).item() > 0


def test_sampler_shares_ema_weights():
    gan = _gan()
    s = gan.sampler()
    assert s.net is gan.ema and s.class_names == ["0", "1", "2"]
    images, labels = s.sample(n_per_class=2)
    assert images.shape == (6, 8, 8, 1)


def test_python_defaults_are_the_configured_recipe(compose_cfg):
    # A user of the Python API gets the networks the benchmark measured, not an unmeasured variant.
    conf = OmegaConf.to_container(compose_cfg("train").gan)
    conf.pop("_target_")
    params = inspect.signature(ConditionalGAN).parameters
    defaults = {k: params[k].default for k in conf}
    defaults["betas"] = list(defaults["betas"])
    assert defaults == conf

import builtins
import inspect

import pytest
import torch
from omegaconf import OmegaConf

import ganaug.gan.callbacks
import ganaug.gan.module
import ganaug.gan.progress
from ganaug import ConditionalGAN, GanaugError
from ganaug.gan.train import train


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
    ({"class_names": ["a"]}, "class names"),
    # each of these trained before: no noise, no class input, a negative regulariser, or failed in torch
    ({"z_dim": 0}, r"gan.z_dim must be a positive integer, got 0"),
    ({"embed_dim": 0}, r"gan.embed_dim must be a positive integer, got 0"),
    ({"g_width": 0}, r"gan.g_width must be a positive integer, got 0"),
    ({"d_width": -8}, r"gan.d_width must be a positive integer, got -8"),
    ({"lr_g": -1.0}, r"gan.lr_g must be a positive number, got -1.0"),
    ({"lr_d": 0}, r"gan.lr_d must be a positive number, got 0"),
    ({"betas": [0.5]}, r"gan.betas must be two numbers in \[0, 1\) \(Adam's\), got \[0.5\]"),
    ({"betas": [0.5, 1.5]}, r"gan.betas must be two numbers in \[0, 1\)"),
    ({"lecam_weight": -1.0}, r"gan.lecam_weight must be a number >= 0 \(0: off\), got -1.0"),
    ({"lecam_decay": 1.0}, r"gan.lecam_decay must be in \[0, 1\), got 1.0"),
    ({"ema_start": -5}, r"gan.ema_start must be an integer >= 0 \(generator updates\), got -5"),
    ({"diffaug": "foo"}, r"gan.diffaug='foo': unknown DiffAugment op\(s\) \['foo'\]"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match) as e:
        _gan(**kw)
    assert isinstance(e.value, GanaugError)  # a message from ganaug-train, not a traceback


def test_ema_tracks_generator():
    gan = _gan(ema_decay=0.5, ema_start=0)
    with torch.no_grad():
        for p in gan.generator.parameters():
            p.add_(1.0)
    before = [p.clone() for p in gan.ema.parameters()]
    gan._update_ema(1)
    for b, e, g in zip(before, gan.ema.parameters(), gan.generator.parameters()):
        assert torch.allclose(e, 0.5 * b + 0.5 * g)


def test_ema_is_not_trained_and_stays_in_eval():
    gan = _gan()
    assert not any(p.requires_grad for p in gan.ema.parameters())
    gan.train()
    assert not gan.ema.training and gan.generator.training


def test_losses():
    from ganaug.gan.update import d_loss

    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert d_loss(real, fake, "hinge").item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert d_loss(real, fake, "nonsaturating").item() > 0


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


def _fit(gan, x, y):
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    trainer = pl.Trainer(max_steps=gan.trainer_max_steps(), logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(gan, DataLoader(TensorDataset(x, y), batch_size=8))


good_x = torch.rand(16, 1, 8, 8) * 2 - 1
good_y = torch.arange(16) % 3


@pytest.mark.parametrize("x, y, match", [
    # ganaug-train feeds img / 127.5 - 1; a loader of the user's own would otherwise train a GAN on another
    # scale (its samples then exported as if in [-1, 1]) or fail deep inside a convolution or an embedding.
    (torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8), good_y, r"float images .* got torch.uint8"),
    (good_x * 127.5 + 127.5, good_y, r"images in \[-1, 1\], but the first batch ranges over \[[0-9.]+, [0-9.]+\]"),
    (good_x.permute(0, 2, 3, 1).contiguous(), good_y, r"N×1×8×8 .* got \(8, 8, 8, 1\)"),
    (good_x, good_y + 1, r"labels in \[0, 3\), got 3"),
    (good_x, good_y.float(), r"integer class labels"),
])
def test_a_batch_it_cannot_train_on_is_named_at_the_first_step(x, y, match):
    with pytest.raises(ValueError, match=match):
        _fit(_gan(max_steps=2), x, y)


def test_a_first_batch_in_zero_one_is_warned_about_and_a_good_one_trains():
    with pytest.warns(UserWarning, match=r"within \[0, 1\]: ConditionalGAN trains on images in \[-1, 1\]"):
        _fit(_gan(max_steps=1), (good_x + 1) / 2, good_y)
    gan = _gan(max_steps=2)
    _fit(gan, good_x, good_y)
    assert int(gan.g_updates) == 2


def test_the_host_copy_of_g_updates_follows_every_change_to_the_buffer():
    gan = _gan()
    assert gan.generator_updates() == 0
    gan._count_up("g_updates")
    gan._count_up("g_updates")
    assert gan.generator_updates() == 2 == int(gan.g_updates)
    gan.g_updates.fill_(40)  # a direct write, as a test or a user's script may make
    assert gan.generator_updates() == 40
    other = _gan()
    other.g_updates.fill_(7)
    gan.load_state_dict(other.state_dict())  # what resuming from a checkpoint does
    assert gan.generator_updates() == 7
    gan.g_updates = torch.tensor(3)  # a new buffer object, as .to(device) makes
    assert gan.generator_updates() == 3
    assert ganaug.gan.module.updates_done(gan) == 3


def test_an_update_and_its_callbacks_read_no_counter_from_the_device(compose_cfg, fast, tmp_path, monkeypatch,
                                                                    one_thread):
    # Each read of a counter on a GPU waits for the queued work, so the host cannot run ahead; the
    # callbacks ask for the count after every update. Reads are counted as int(<tensor>) in the modules
    # that run each update.
    reads = []

    class IsInt(type):  # the modules also use int as a type, in isinstance checks
        def __instancecheck__(cls, obj):
            return isinstance(obj, builtins.int)

    class counting_int(metaclass=IsInt):
        def __new__(cls, x=0, *args):
            if torch.is_tensor(x):
                reads.append(builtins.int(x))
            return builtins.int(x, *args)

    for module in (ganaug.gan.module, ganaug.gan.callbacks, ganaug.gan.progress):
        monkeypatch.setattr(module, "int", counting_int, raising=False)
    steps = 12
    result = train(compose_cfg(overrides=fast + [
        f"gan.max_steps={steps}", f"out_dir={tmp_path}", "trainer.enable_progress_bar=true",
        "callbacks.progress.refresh_interval=0", "callbacks.progress.file_refresh_interval=0",
        "callbacks.sample_grid.every_n_steps=5", "callbacks.snapshots.every_n_steps=5",
        "callbacks.checkpoint.every_n_steps=5"]))
    assert result["g_updates"] == steps
    # A few reads when training starts and after the checkpoint loads, none per update.
    assert len(reads) <= 4, f"{len(reads)} device reads of a counter in {steps} updates"

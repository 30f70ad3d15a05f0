"""ganaug's spectral-norm parametrization against torch's old hook, which trained every stored GAN."""

import pytest
import torch
from torch.nn.utils import spectral_norm as old_hook

import ganaug.gan.nets as nets
from ganaug.gan.spectral import frozen, upgrade_state_dict
from ganaug.gan.train import train


def _pair(monkeypatch, **kw):
    """The same discriminator twice from one seed: with torch's hook, then with ganaug's parametrization."""
    with monkeypatch.context() as m:
        m.setattr(nets, "spectral_norm", old_hook)
        torch.manual_seed(0)
        old = nets.Discriminator(10, 8, 1, width=8, **kw).to(memory_format=torch.channels_last)
    torch.manual_seed(0)
    new = nets.Discriminator(10, 8, 1, width=8, **kw).to(memory_format=torch.channels_last)
    return old, new


def test_same_numbers_as_the_old_hook_bit_for_bit(monkeypatch):
    # Two forwards before one backward (real, then fake: the D step), then a forward alone (the G step).
    old, new = _pair(monkeypatch)
    opts = [torch.optim.Adam(d.parameters(), lr=1e-2) for d in (old, new)]
    gen = torch.Generator().manual_seed(1)
    for _ in range(4):
        x, f = torch.randn(6, 1, 8, 8, generator=gen), torch.randn(6, 1, 8, 8, generator=gen)
        y = torch.randint(0, 10, (6,), generator=gen)
        outs = []
        for d, opt in zip((old, new), opts):
            loss = torch.relu(1 - d(x, y)).mean() + torch.relu(1 + d(f, y)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            outs.append((loss.detach(), d(f, y).detach()))
        assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
    state = upgrade_state_dict(old.state_dict())
    assert state.keys() == new.state_dict().keys()
    assert all(torch.equal(v, new.state_dict()[k]) for k, v in state.items())
    # Evaluation mode and a frozen estimate both use the vectors as they are, without an iteration.
    old.eval(), new.eval()
    assert torch.equal(old(x, y), new(x, y))
    u = dict(new.named_buffers())["blocks.0.conv1.parametrizations.weight.0._u"].clone()
    new.train()
    with frozen(new):
        new(x, y)
    assert torch.equal(dict(new.named_buffers())["blocks.0.conv1.parametrizations.weight.0._u"], u)
    new(x, y)
    assert not torch.equal(dict(new.named_buffers())["blocks.0.conv1.parametrizations.weight.0._u"], u)


def test_a_gan_trains_as_with_the_old_hook_and_resumes_its_checkpoints(compose_cfg, fast, tmp_path, monkeypatch):
    # The whole update (G, D, DiffAugment, Adam, EMA) over 12 updates: the generator is the one the old hook
    # trained, bit for bit. Then a checkpoint the old hook wrote at update 12 resumes under the new keys, to
    # the weights an uninterrupted new run reaches at update 20.
    from safetensors.torch import load_file

    def weights(d):
        return load_file(str(d / "generator" / "generator.safetensors"))

    with monkeypatch.context() as m:
        m.setattr(nets, "spectral_norm", old_hook)
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path / 'old'}", "gan.max_steps=12"]))
    train(compose_cfg(overrides=fast + [f"out_dir={tmp_path / 'new'}", "gan.max_steps=12"]))
    a, b = weights(tmp_path / "old"), weights(tmp_path / "new")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    train(compose_cfg(overrides=fast + [f"out_dir={tmp_path / 'old'}", "gan.max_steps=20"]))
    train(compose_cfg(overrides=fast + [f"out_dir={tmp_path / 'new'}", "gan.max_steps=20"]))
    a, b = weights(tmp_path / "old"), weights(tmp_path / "new")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", ["conv1", "fc", "embed"])
def test_upgrade_renames_only_spectral_norm_keys(name):
    state = {f"blocks.0.{name}.weight_orig": 1, f"blocks.0.{name}.weight_u": 2, f"blocks.0.{name}.weight_v": 3,
             f"blocks.0.{name}.bias": 4, "g.weight": 5}
    assert upgrade_state_dict(state) == {
        f"blocks.0.{name}.parametrizations.weight.original": 1, f"blocks.0.{name}.parametrizations.weight.0._u": 2,
        f"blocks.0.{name}.parametrizations.weight.0._v": 3, f"blocks.0.{name}.bias": 4, "g.weight": 5}


def test_one_pass_over_real_and_fake_is_the_two_passes_at_one_weight(monkeypatch):
    # gan.d_pass=joint rests on this: D has no batch norm, so a batch's logits do not depend on its other images.
    _, d = _pair(monkeypatch)
    gen = torch.Generator().manual_seed(2)
    real, fake = torch.randn(5, 1, 8, 8, generator=gen), torch.randn(5, 1, 8, 8, generator=gen)
    y = torch.randint(0, 10, (5,), generator=gen)
    with frozen(d):
        together = d(torch.cat([real, fake]), torch.cat([y, y]))
        assert torch.allclose(together, torch.cat([d(real, y), d(fake, y)]), atol=1e-5)


def test_an_unknown_d_pass_is_named():
    from ganaug.errors import ConfigError
    from ganaug.gan.module import ConditionalGAN

    with pytest.raises(ConfigError, match=r"gan.d_pass='both' is unknown; choose one of \['separate', 'joint'\]"):
        ConditionalGAN(3, 8, 1, d_pass="both")


def test_the_compiled_update_is_one_graph_per_step_and_trains_as_eager(compose_cfg, fast, tmp_path):
    # gan.compile compiles each step with fullgraph=True: a graph break fails here rather than falling back to
    # eager on a GPU. aot_eager runs the same aten operations as eager: the same weights, bit for bit.
    from safetensors.torch import load_file

    for name, extra in (("eager", []), ("compiled", ["gan.compile=aot_eager"])):
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path / name}", "gan.max_steps=6", "gan.d_pass=joint",
                                            *extra]))
    a, b = (load_file(str(tmp_path / n / "generator" / "generator.safetensors")) for n in ("eager", "compiled"))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("value, message", [("tensorrt_x", "unknown backend 'tensorrt_x'"),
                                            ("none", "eager is null"),
                                            ("aot_eager:reduce-overhead", "a mode goes with inductor only")])
def test_a_bad_compile_setting_is_named(value, message):
    from ganaug.errors import ConfigError
    from ganaug.gan.module import ConditionalGAN

    with pytest.raises(ConfigError, match=f"gan.compile={value!r}: {message}"):
        ConditionalGAN(3, 8, 1, compile=value)


def test_a_copy_of_a_gan_steps_its_own_networks():
    # The update's two steps are cached closures over the networks; a deep copy must not reuse the original's.
    import copy

    from ganaug.gan.module import ConditionalGAN

    gan = ConditionalGAN(3, 8, 1, z_dim=16, g_width=8, d_width=8)
    d_step, _ = gan._loss_steps()
    twin = copy.deepcopy(gan)
    assert twin._loss_steps()[0] is not d_step
    x, y, z = torch.rand(4, 1, 8, 8) * 2 - 1, torch.tensor([0, 1, 2, 0]), torch.randn(4, 16)
    twin.discriminator.fc.bias.data.add_(1.0)  # only the twin's D changes (spectral norm undoes a scale)
    from ganaug.gan.diffaug import draw

    draws = draw(x, twin.augment.ops, torch.Generator().manual_seed(0))
    _, real_twin, _ = twin._loss_steps()[0](x, y, z, draws, draws)
    _, real_gan, _ = d_step(x, y, z, draws, draws)
    assert not torch.allclose(real_twin, real_gan)

import pytest
import torch

from ganaug.gan.nets import Discriminator, Generator, resolution_plan


@pytest.mark.parametrize("arch", ["standard", "lean"])
@pytest.mark.parametrize("size,channels", [(8, 1), (28, 1), (32, 3), (64, 3)])
def test_shapes_and_range(size, channels, arch):
    g, d = Generator(5, size, channels, z_dim=16, width=8), Discriminator(5, size, channels, width=8, arch=arch)
    y = torch.tensor([0, 1, 2, 4])
    x = g(torch.randn(4, 16), y)
    assert x.shape == (4, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert d(x, y).shape == (4,)


def test_resolution_plan():
    assert resolution_plan(28) == (7, 2)
    assert resolution_plan(32) == (4, 3)
    assert resolution_plan(8) == (4, 1)
    with pytest.raises(ValueError, match="image_size"):
        resolution_plan(4)
    with pytest.raises(ValueError, match="doubling"):
        resolution_plan(9)


def test_generator_is_class_conditional():
    torch.manual_seed(0)
    g = Generator(3, 8, 1, z_dim=8, width=8)
    # Perturb the conditional parameters away from their identity init, as training would.
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, torch.nn.Embedding):
                m.weight.normal_()
    g.eval()
    z = torch.randn(1, 8).repeat(3, 1)
    x = g(z, torch.tensor([0, 1, 2]))
    assert not torch.allclose(x[0], x[1]) and not torch.allclose(x[1], x[2])


def test_discriminator_depends_on_label():
    torch.manual_seed(0)
    d = Discriminator(3, 8, 1, width=8)
    x = torch.randn(1, 1, 8, 8).repeat(3, 1, 1, 1)
    out = d(x, torch.tensor([0, 1, 2]))
    assert len(set(out.tolist())) == 3


def test_discriminator_is_spectrally_normalised():
    d = Discriminator(3, 8, 1, width=8)
    names = [n for n, _ in d.named_parameters()]
    convs = [m for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding))]
    assert convs and all(hasattr(m, "weight_orig") for m in convs), names


def test_bad_channels():
    with pytest.raises(ValueError, match="channels"):
        Generator(3, 8, 2)


def test_the_lean_discriminator_costs_fewer_flops_at_the_same_depth():
    from torch.utils.flop_counter import FlopCounterMode

    def cost(d):
        x, y = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
        with FlopCounterMode(display=False) as counter:
            d(x, y).sum().backward()
        return counter.get_total_flops()

    standard, lean = Discriminator(10, 28, 1, width=32), Discriminator(10, 28, 1, width=32, arch="lean")
    assert len(lean.blocks) == len(standard.blocks)
    assert 0.5 < cost(lean) / cost(standard) < 0.6
    # Widths stop at 2x: the last stage has 64 channels, not 128.
    assert lean.fc.weight_orig.shape == (1, 64) and standard.fc.weight_orig.shape == (1, 128)
    # The first block pools between its convolutions; the others are the standard blocks.
    assert lean.blocks[0].pool_first and not any(b.pool_first for b in lean.blocks[1:])
    with pytest.raises(ValueError, match="unknown discriminator arch 'tiny'"):
        Discriminator(10, 28, 1, arch="tiny")

import pytest
import torch
from torch.nn.utils import parametrize

from ganaug.gan.nets import Discriminator, Generator, resolution_plan


@pytest.mark.parametrize("size,channels", [(8, 1), (28, 1), (32, 3), (64, 3)])
def test_shapes_and_range(size, channels):
    g, d = Generator(5, size, channels, z_dim=16, width=8), Discriminator(5, size, channels, width=8)
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
    assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs), names


def test_bad_channels():
    with pytest.raises(ValueError, match="channels"):
        Generator(3, 8, 2)


@pytest.mark.parametrize("kwargs, name", [({"num_classes": 0}, "num_classes"), ({"num_classes": 2.5}, "num_classes"),
                                          ({"width": 0}, "width"), ({"width": 2.5}, "width"), ({"z_dim": 0}, "z_dim"),
                                          ({"z_dim": 2.5}, "z_dim"), ({"embed_dim": "8"}, "embed_dim")])
def test_sizes_that_are_not_positive_integers_are_named(kwargs, name):
    # Discriminator(0, ...) gave a ZeroDivisionError from spectral norm, z_dim=2.5 torch's "type must be tuple of
    # ints", width=0 a network of empty layers, and z_dim=0 a generator without noise, all from user code.
    args = {"num_classes": 3, "image_size": 8, "channels": 1, "width": 8, **kwargs}
    with pytest.raises(ValueError, match=rf"{name} must be a positive integer"):
        Generator(**args, **({} if "z_dim" in kwargs else {"z_dim": 16}))
    if "z_dim" not in kwargs and "embed_dim" not in kwargs:
        with pytest.raises(ValueError, match=rf"{name} must be a positive integer"):
            Discriminator(**args)
    assert Generator(3, 8, 1, z_dim=16.0, width=8).config["z_dim"] == 16  # a whole float, as YAML may give

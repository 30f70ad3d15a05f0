import pytest
import torch

from ganaug.gan.diffaug import DiffAugment, diff_augment, parse_policy


def test_policy_parsing():
    assert parse_policy("auto", 1) == ("translation", "cutout")
    assert parse_policy("auto", 3) == ("color", "translation", "cutout")
    assert parse_policy("none", 3) == ()
    with pytest.raises(ValueError, match="unknown DiffAugment"):
        parse_policy("rotate", 1)


def test_translation_shifts_content_and_keeps_shape():
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 3:5, 3:5] = 1.0
    out = diff_augment(x, ("translation",), torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    # Mass is preserved when the object stays inside; some samples must actually move.
    assert torch.allclose(out.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))
    assert (out != x).any(dim=(1, 2, 3)).sum() > 10


def test_cutout_zeroes_a_square():
    x = torch.ones(16, 1, 8, 8)
    out = diff_augment(x, ("cutout",), torch.Generator().manual_seed(0))
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert (zeros > 0).all() and (zeros <= 16).all()  # at most a 4x4 square at 8 px


def test_augment_is_differentiable():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    DiffAugment("auto", 3)(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_colour_draws_for_fakes_take_the_fakes_dtype_under_autocast():
    # The draws for fakes used to come from the fakes themselves: bf16 under bf16-mixed.
    from ganaug.gan.diffaug import draw
    from ganaug.gan.module import _output_dtype

    x = torch.zeros(2, 3, 8, 8)
    assert _output_dtype(x) == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dtype = _output_dtype(x)
    assert dtype == torch.bfloat16
    a = draw(x, ("color",), torch.Generator().manual_seed(0), dtype)
    b = draw(torch.zeros(2, 3, 8, 8, dtype=torch.bfloat16), ("color",), torch.Generator().manual_seed(0))
    assert all(torch.equal(p, q) and p.dtype == torch.bfloat16 for p, q in zip(a[0], b[0]))

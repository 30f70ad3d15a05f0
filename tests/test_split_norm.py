import copy
import io

import pytest
import torch
from torch import nn

import ganaug
from ganaug.classify.classifier import train_classifier_on_loader
from ganaug.classify.split_norm import split_batch_norm


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, 6), nn.BatchNorm1d(6))


def _batch():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10, 1, 8, 8, generator=g)
    flag = torch.tensor([0, 1, 0, 0, 1, 1, 0, 1, 0, 0], dtype=torch.bool)
    x[flag] = x[flag] * 3 + 2  # synthetic items with other statistics
    return x, flag


def _stats(net: nn.Module) -> list[torch.Tensor]:
    return [t.clone() for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            for t in (m.running_mean, m.running_var)]


def test_real_and_synthetic_items_are_normalised_apart_and_only_real_ones_reach_the_running_statistics():
    x, flag = _batch()
    net, real_only, syn_only, mixed = _net(), _net(), _net(), _net()
    with split_batch_norm(net, flag):
        out = net(x)
    # Each part comes out as the same network gives it on that part alone (shared weights, own statistics).
    assert torch.allclose(out[~flag], real_only(x[~flag]), atol=1e-5)
    assert torch.allclose(out[flag], syn_only(x[flag]), atol=1e-5)
    # The running statistics moved with the real items alone; a plain mixed batch moves them elsewhere.
    for a, b in zip(_stats(net), _stats(real_only)):
        assert torch.allclose(a, b, atol=1e-6)
    mixed(x)
    assert not all(torch.allclose(a, b, atol=1e-3) for a, b in zip(_stats(mixed), _stats(real_only)))
    # Gradients reach both parts' inputs.
    x = x.clone().requires_grad_(True)
    with split_batch_norm(net, flag):
        net(x).square().sum().backward()
    assert x.grad[flag].abs().sum() > 0 and x.grad[~flag].abs().sum() > 0


def test_outside_the_block_eval_mode_and_batches_without_synthetic_items_are_untouched():
    x, flag = _batch()
    net, plain = _net(), _net()
    with split_batch_norm(net, torch.zeros(10, dtype=torch.bool)):
        assert torch.equal(net(x), plain(x))
    with pytest.raises(RuntimeError, match="boom"):
        with split_batch_norm(net, flag):
            raise RuntimeError("boom")
    assert not any("forward" in vars(m) for m in net.modules())
    net.eval(), plain.eval()
    with split_batch_norm(net, flag):
        assert torch.equal(net(x), plain(x))


def test_nested_blocks_restore_what_each_one_found():
    # Called twice around one forward pass (a LightningModule's step and the user's loop, say): the inner
    # block's end gives back the outer one's split, the outer one's end the plain layers.
    x, flag = _batch()
    net, twice = _net(), _net()
    with split_batch_norm(twice, flag):
        twice(x)
    with split_batch_norm(net, flag):
        with split_batch_norm(net, torch.zeros(10, dtype=torch.bool)):
            pass
        with split_batch_norm(net, ~flag):
            pass
        net(x)
        for a, b in zip(_stats(net), _stats(twice)):
            assert torch.allclose(a, b, atol=1e-6)
    assert not any("forward" in vars(m) for m in net.modules())


def test_a_copy_or_pickle_made_inside_a_block_is_a_plain_model():
    # An EMA teacher copied mid-step: its layers must not keep this batch's split after the block.
    x, flag = _batch()
    net, plain = _net(), _net()
    with split_batch_norm(net, flag):
        copied = copy.deepcopy(net)
        buffer = io.BytesIO()
        torch.save(net, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    other = torch.randn(6, 1, 8, 8)  # another batch size than the flags describe
    for model in (copied, loaded):
        assert torch.allclose(model(other), plain(other), atol=1e-6)
        for a, b in zip(_stats(model), _stats(plain)):
            assert torch.allclose(a, b, atol=1e-6)  # plain batch norm: the whole batch reached the statistics
        plain.load_state_dict(_net().state_dict())
    # The copy's layers are the copy's: the original's statistics do not move when the copy trains.
    before = _stats(net)
    copied(other)
    assert all(torch.equal(a, b) for a, b in zip(before, _stats(net)))


def test_bad_flags_and_models_without_batch_norm_are_named():
    x, flag = _batch()
    with pytest.raises(ValueError, match="saw 10 items, but is_synthetic flags 9"):
        net = _net()
        with split_batch_norm(net, flag[:9]):
            net(x)
    with pytest.raises(ValueError, match="no batch-norm layer"):
        with split_batch_norm(nn.Linear(3, 2), flag):
            pass
    with pytest.raises(ValueError, match="is_synthetic must be one true/false flag per item"):
        with split_batch_norm(_net(), flag[None]):
            pass


@pytest.mark.parametrize("flag", [torch.tensor([True, False]), None])
def test_a_model_that_is_no_module_is_named(flag):
    # None gave Python's AttributeError ''NoneType' object has no attribute 'modules''.
    with pytest.raises(TypeError, match=r"split_batch_norm: model must be a torch Module \(the network whose batch "
                                        r"norms to split\), got NoneType"):
        with split_batch_norm(None, flag):
            pass


def test_training_with_split_norm_keeps_synthetic_items_out_of_the_classifiers_running_statistics():
    x, flag = _batch()
    x = torch.nn.functional.interpolate(x, size=(12, 12)).clamp(-1, 1)
    y = torch.arange(10) % 3
    kw = dict(num_classes=3, in_channels=1, image_size=12, steps=1, seed=0, width=8)
    split = train_classifier_on_loader([(x, y, flag)], synthetic_split_norm=True, **kw)
    real_only = train_classifier_on_loader([(x[~flag], y[~flag])], **kw)
    plain = train_classifier_on_loader([(x, y, flag)], **kw)
    # One step: the running statistics come from the forward pass of the initial weights, so the split
    # run's must equal a run on the real items alone, and a plain mixed run's must not.
    for a, b in zip(_stats(split), _stats(real_only)):
        assert torch.allclose(a, b, atol=1e-5)
    assert not all(torch.allclose(a, b, atol=1e-3) for a, b in zip(_stats(plain), _stats(real_only)))
    with pytest.raises(ValueError, match="synthetic_split_norm must be true or false"):
        train_classifier_on_loader([(x, y, flag)], synthetic_split_norm="yes", **kw)


def test_the_top_level_name():
    assert ganaug.split_batch_norm is split_batch_norm and "split_batch_norm" in ganaug.__all__

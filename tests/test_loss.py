import pytest
import torch
import torch.nn.functional as F

from ganaug import ConfigError, SyntheticAwareLoss
from ganaug.classify.classifier import SmallCNN


def test_weighting_arithmetic():
    logits = torch.randn(6, 4)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    flag = torch.tensor([False, False, False, True, True, True])
    ce = F.cross_entropy(logits, y, reduction="none")
    assert torch.allclose(SyntheticAwareLoss()(logits, y, flag), ce.mean())
    loss = SyntheticAwareLoss(synthetic_weight=0.5)
    with pytest.warns(UserWarning, match="without is_synthetic"):
        assert torch.allclose(loss(logits, y), ce.mean())  # no flags: plain cross-entropy
    assert torch.allclose(loss(logits, y, flag), (ce[:3].sum() + 0.5 * ce[3:].sum()) / 4.5)
    assert torch.allclose(SyntheticAwareLoss(synthetic_weight=0.0)(logits, y, flag), ce[:3].sum() / 3)


def test_teacher_soft_labels_arithmetic():
    logits = torch.randn(4, 3, requires_grad=True)
    x = torch.randn(4, 5)
    y = torch.tensor([0, 1, 2, 0])
    flag = torch.tensor([False, True, False, True])
    teacher = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Dropout(0.5))
    a = 0.75
    loss = SyntheticAwareLoss(synthetic_weight=0.5, soft_labels=a, teacher=teacher)
    loss.train()  # the teacher stays in eval mode: its dropout would make the targets noise
    assert not teacher.training
    got = loss(logits, y, flag, x)
    onehot = F.one_hot(y, 3).float()
    target = (1 - a) * onehot + a * torch.softmax(teacher(x), dim=1).detach()
    per = -(target * torch.log_softmax(logits, dim=1)).sum(1)
    ce = F.cross_entropy(logits, y, reduction="none")
    assert torch.allclose(got, (ce[0] + ce[2] + 0.5 * (per[1] + per[3])) / 3.0)
    got.backward()
    assert logits.grad is not None and all(p.grad is None for p in teacher.parameters())  # teacher untouched


def test_teacher_moves_with_the_loss():
    teacher = torch.nn.Linear(5, 3)
    SyntheticAwareLoss(soft_labels=0.5, teacher=teacher).to(torch.float64)
    assert teacher.weight.dtype == torch.float64


def test_bad_settings_and_inputs_are_named():
    with pytest.raises(ValueError, match="synthetic_weight"):
        SyntheticAwareLoss(synthetic_weight=-1)
    with pytest.raises(ValueError, match="soft_labels must lie"):
        SyntheticAwareLoss(soft_labels=1.5, teacher=torch.nn.Linear(1, 1))
    with pytest.raises(ValueError, match="needs a teacher"):
        SyntheticAwareLoss(soft_labels=0.5)
    # a path where the model goes: an AttributeError ('str' has no 'eval') before
    with pytest.raises(TypeError, match=r"teacher must be a torch Module .*got str; load one first"):
        SyntheticAwareLoss(soft_labels=0.5, teacher="reference.safetensors")
    logits, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="is_synthetic has 3 entries for a batch of 4"):
        SyntheticAwareLoss(synthetic_weight=0.5)(logits, y, torch.tensor([True, False, True]))
    soft = SyntheticAwareLoss(soft_labels=0.5, teacher=torch.nn.Linear(5, 3))
    with pytest.raises(ValueError, match="pass the batch's inputs"):
        soft(logits, y, torch.tensor([True, False, True, False]))
    with pytest.raises(ValueError, match=r"inputs has 2 items for a batch of 4"):  # an IndexError on a mask before
        soft(logits, y, torch.tensor([True, False, True, False]), torch.randn(2, 5))
    with pytest.raises(ValueError, match="teacher returns 2 classes, the model 3"):
        SyntheticAwareLoss(soft_labels=0.5, teacher=torch.nn.Linear(5, 2))(
            logits, y, torch.tensor([True, False, True, False]), torch.randn(4, 5))
    with pytest.raises(ValueError, match="expected logits N×K and N labels"):
        SyntheticAwareLoss()(logits, y[:3])


@pytest.mark.parametrize("kwargs, match", [
    ({"synthetic_weight": "x"}, r"synthetic_weight must lie in \[0, 1000\] .*got 'x'"),
    ({"synthetic_weight": None}, r"synthetic_weight must lie in \[0, 1000\] .*got None"),
    ({"synthetic_weight": True}, r"synthetic_weight must lie in \[0, 1000\] .*got True"),
    ({"soft_labels": "0.5"}, r"soft_labels must lie in \[0, 1\], got '0.5'"),
    ({"soft_labels": None}, r"soft_labels must lie in \[0, 1\], got None"),
])
def test_a_setting_that_is_no_number_is_named(kwargs, match):
    # float()'s 'could not convert string to float' or 'argument must be ... a real number, not NoneType' before,
    # and True was taken for weight 1.
    with pytest.raises(ConfigError, match=match):
        SyntheticAwareLoss(teacher=torch.nn.Linear(1, 1), **kwargs)


def test_inputs_that_are_no_tensor_are_named():
    # A numpy batch reached the teacher: torch's 'linear(): argument 'input' must be Tensor, not numpy.ndarray'.
    import numpy as np

    soft = SyntheticAwareLoss(soft_labels=0.5, teacher=torch.nn.Linear(5, 3))
    logits, y, flag = torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), torch.tensor([True, False, True, False])
    for inputs in (np.zeros((4, 5), np.float32), [[0.0] * 5] * 4):
        with pytest.raises(TypeError, match=rf"inputs must be the batch the model was called on, a tensor, got "
                                            rf"{type(inputs).__name__}"):
            soft(logits, y, flag, inputs)
    assert soft(logits, y, flag, torch.zeros(4, 5)).isfinite()


@pytest.mark.parametrize("flag", [
    torch.tensor([0.5, 0.0, 0.5, 0.0]),          # floats: 0.5 counted as synthetic
    torch.tensor([[True, False], [True, False]]),  # 2-d of the batch's size: flattened into flags
    torch.tensor([0, 1, 2, 0]),                  # the labels passed for the flag: every label > 0 synthetic
    ["yes", "no", "yes", "no"],
])
def test_a_flag_that_is_not_one_true_or_false_per_item_is_refused(flag):
    from ganaug.classify.split_norm import split_batch_norm

    logits, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ConfigError, match=r"is_synthetic must be one true/false flag per item"):
        SyntheticAwareLoss(synthetic_weight=0.5)(logits, y, flag)
    with pytest.raises(ConfigError, match=r"is_synthetic must be one true/false flag per item"):
        with split_batch_norm(torch.nn.BatchNorm1d(3), flag):
            pass


def test_flags_as_bools_or_0_1_integers_in_a_row_or_a_column_are_taken():
    import numpy as np

    logits, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    loss = SyntheticAwareLoss(synthetic_weight=0.5)
    expected = loss(logits, y, torch.tensor([True, False, True, False]))
    for flag in ([True, False, True, False], np.array([1, 0, 1, 0], np.uint8), torch.tensor([[1], [0], [1], [0]])):
        assert torch.equal(loss(logits, y, flag), expected)


def test_confidence_weight_scales_each_synthetic_item_by_the_teachers_belief_in_its_label():
    logits = torch.randn(4, 3, requires_grad=True)
    y = torch.tensor([0, 1, 2, 0])
    flag = torch.tensor([False, True, True, False])
    # The teacher's class probabilities are the inputs themselves (log of them as logits).
    p = torch.tensor([[1, 0, 0], [0.2, 0.8, 0.0], [0.5, 0.5, 0.0], [1, 0, 0]]) + 1e-9
    teacher = torch.nn.Identity()
    loss = SyntheticAwareLoss(synthetic_weight=0.5, teacher=teacher, confidence_weight=True)
    got = loss(logits, y, flag, p.log())
    ce = F.cross_entropy(logits, y, reduction="none")
    w = torch.tensor([1.0, 0.5 * 0.8, 0.5 * 0.0, 1.0])  # item 2's label has probability 0: it drops out
    assert torch.allclose(got, (w * ce).sum() / w.sum(), atol=1e-6)
    assert not torch.allclose(got, SyntheticAwareLoss(synthetic_weight=0.5)(logits, y, flag))
    with pytest.raises(ValueError, match="confidence_weight needs a teacher"):
        SyntheticAwareLoss(confidence_weight=True)
    with pytest.raises(ValueError, match="confidence_weight must be true or false"):
        SyntheticAwareLoss(confidence_weight=1, teacher=teacher)


def test_a_teacher_is_given_inputs_in_the_range_it_was_trained_on():
    # ganaug's classifiers take img / 127.5 - 1; a batch normalised otherwise (0..255 floats, mean/std
    # normalisation) would give soft labels and confidences of a meaningless input, without an error.
    teacher = SmallCNN(3, 1, 8, width=4)
    loss = SyntheticAwareLoss(soft_labels=0.5, teacher=teacher)
    logits, y, flag = torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), torch.tensor([True, False, True, False])
    for bad in (torch.full((4, 1, 8, 8), 255.0), torch.linspace(-0.5, 2.0, 4 * 64).reshape(4, 1, 8, 8)):
        with pytest.raises(ValueError, match=r"takes images in \[-1, 1\].*inputs range over \[-?[0-9.]+, [0-9.]+\]"):
            loss(logits, y, flag, bad)
    ok = torch.rand(4, 1, 8, 8) * 2 - 1
    assert torch.isfinite(loss(logits, y, flag, ok))
    # Only what the teacher scores is checked: the real items may be scaled as the model likes.
    ok[~flag] = 200.0
    assert torch.isfinite(loss(logits, y, flag, ok))
    # A teacher that declares no range (the user's own) is not second-guessed.
    own = SyntheticAwareLoss(soft_labels=0.5, teacher=torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)))
    assert torch.isfinite(own(logits, y, flag, torch.full((4, 1, 8, 8), 255.0)))


def test_a_loss_that_tells_synthetic_apart_warns_when_the_flag_is_left_out():
    # A loop that unpacks the flag but forgets to pass it trained with plain cross-entropy, silently.
    logits, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    teacher = torch.nn.Linear(5, 3)
    for loss in (SyntheticAwareLoss(synthetic_weight=0.5),
                 SyntheticAwareLoss(soft_labels=0.5, teacher=teacher, confidence_weight=True)):
        with pytest.warns(UserWarning, match="without is_synthetic.*criterion.eval"):
            got = loss(logits, y)
        assert torch.allclose(got, F.cross_entropy(logits, y))
    with pytest.warns(UserWarning, match=r"SyntheticAwareLoss\(synthetic_weight=0.5\)"):
        SyntheticAwareLoss(synthetic_weight=0.5)(logits, y)
    # The repr names the settings that differ from the defaults, and only those.
    shown = SyntheticAwareLoss(soft_labels=0.5, teacher=teacher, confidence_weight=True).extra_repr()
    assert shown == "soft_labels=0.5, confidence_weight=True"
    # Real-only batches (validation) in eval mode, a plain loss, or a flag given: no warning.
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SyntheticAwareLoss(synthetic_weight=0.5).eval()(logits, y)
        SyntheticAwareLoss()(logits, y)
        SyntheticAwareLoss(synthetic_weight=0.5)(logits, y, torch.zeros(4, dtype=torch.bool))


def test_a_teacher_fed_images_in_0_1_is_refused_on_the_first_batches():
    # Issue 42.6: x / 255 (torchvision's ToTensor) lies inside [-1, 1], so it passed; the teacher's accuracy fell
    # from 0.87 to 0.10 and soft labels and confidence weights became noise.
    from ganaug.classify.classifier import SmallCNN

    teacher = SmallCNN(10, 1, (8, 8), width=4)
    loss = SyntheticAwareLoss(soft_labels=0.5, teacher=teacher)
    g = torch.Generator().manual_seed(0)
    img = torch.randint(0, 256, (16, 1, 8, 8), generator=g).float()
    img[:, :, 0, 0] = 0  # black background, as generated images have
    logits, y, syn = torch.randn(16, 10), torch.arange(16) % 10, torch.ones(16, dtype=torch.bool)
    with pytest.raises(ConfigError, match=r"takes images in \[-1, 1\].*range over \[0, 1\]"):
        loss(logits, y, syn, img / 255)
    loss(logits, y, syn, img / 127.5 - 1)  # its own scale

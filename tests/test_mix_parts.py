"""The parts `SyntheticMix` is made of: the pure epoch plan, and the source protocol."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ganaug import SyntheticMix
from ganaug.mix.class_policy import quota
from ganaug.data import ImageArrayDataset
from ganaug.mix.plan import IndexLayout, bank_slots, slot_labels
from ganaug.mix.sources import SyntheticSource, open_source

NAMES = ["a", "b", "c"]


@pytest.mark.parametrize("n_real,n_syn", [(10, 0), (10, 3), (7, 7), (5, 95), (300, 100), (1, 19)])
def test_layout_keeps_real_order_and_spreads_slots(n_real, n_syn):
    layout = IndexLayout(n_real, n_syn)
    syn, where = layout.locate(np.arange(len(layout), dtype=np.int64))
    assert where[~syn].tolist() == list(range(n_real))
    assert where[syn].tolist() == list(range(n_syn))
    assert layout.synthetic_indices().tolist() == np.flatnonzero(syn).tolist()
    # Any window of b consecutive indices holds floor or ceil of its share of slots.
    for b in (b for b in (1, 4, 16) if b <= len(layout)):
        counts = np.convolve(syn.astype(int), np.ones(b, int), "valid")
        share = b * n_syn / len(layout)
        assert counts.min() >= np.floor(share) and counts.max() <= np.ceil(share)
    # Scalar and array lookups agree.
    for i in range(len(layout)):
        assert layout.locate(i) == (bool(syn[i]), int(where[i]))


def test_slot_labels_are_a_pure_function_of_seed_epoch_and_quota():
    q = np.array([5, 0, 3])
    a = slot_labels(0, 1, q)
    assert np.array_equal(a, slot_labels(0, 1, q))
    assert np.bincount(a, minlength=3).tolist() == [5, 0, 3]
    others = [slot_labels(s, e, q) for s, e in ((0, 2), (1, 1))]
    assert all(not np.array_equal(a, o) for o in others)


def test_bank_slots_draw_distinct_images_of_each_slots_label():
    bank_labels = np.repeat([0, 1, 2], [6, 4, 5])
    q = np.array([6, 2, 3])
    labels = slot_labels(3, 0, q)
    slots = bank_slots(3, 0, labels, q, bank_labels)
    assert np.array_equal(bank_labels[slots], labels)
    assert len(set(slots.tolist())) == len(slots)  # no class asks for more than the bank holds
    assert not np.array_equal(slots, bank_slots(3, 1, labels, q, bank_labels))


class StripeSource:
    """A source that is neither a bank nor a generator: image of slot j is j's label, everywhere."""

    kind = "stripes"
    num_classes = 3
    class_names = NAMES
    image_shape = (4, 4, 1)

    def __init__(self):
        self.prepared = []

    def check_quota(self, quota, n_syn):
        pass

    def set_epoch(self, epoch):
        pass

    def prepare(self, seed, epoch, labels, quota):
        self.prepared.append(epoch)
        self.labels = labels

    def images(self, slots):
        return np.broadcast_to(self.labels[slots, None, None, None] * 50 + 10, (len(slots), 4, 4, 1)).astype(np.uint8)

    def image(self, slot):
        return self.images(np.array([slot]))[0]


def test_any_object_with_the_source_protocol_feeds_a_mix():
    src = StripeSource()
    assert isinstance(src, SyntheticSource)
    real = ImageArrayDataset(np.zeros((30, 4, 4, 1), np.uint8), np.repeat([0, 1, 2], 10), NAMES)
    mix = SyntheticMix(real, src, 0.25, return_flag=True)
    assert mix.n_syn == 10 and mix.bank is None and mix.generator is None
    seen = 0
    for epoch in (0, 1):
        mix.set_epoch(epoch)
        for x, y, flag in DataLoader(mix, batch_size=8):
            syn = flag.bool()
            # Synthetic images carry their label as drawn by the plan; real ones are zeros.
            assert torch.equal(x[syn][:, 0, 0, 0].long(), y[syn] * 50 + 10)
            assert (x[~syn] == 0).all()
            seen += int(syn.sum())
    assert seen == 20 and src.prepared[-1] == 1
    counts = np.bincount(mix.synthetic_labels(), minlength=3)
    assert counts.tolist() == quota(np.full(3, 1 / 3), 10).tolist()


def test_a_custom_source_takes_no_truncation_and_other_objects_are_named():
    with pytest.raises(ValueError, match="truncation applies to generator sources only"):
        open_source(StripeSource(), truncation=1.0)
    with pytest.raises(TypeError, match="SyntheticSource's members; got dict"):
        open_source({"images": None})

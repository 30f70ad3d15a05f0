import math
import warnings

import albumentations as A
import numpy as np
import pytest
import torch
from albumentations.pytorch import ToTensorV2
from torch.utils.data import DataLoader, Dataset

from ganaug import (
    ArtifactError,
    ConfigError,
    GanaugDataError,
    Generator,
    MixedBatchSampler,
    SyntheticBank,
    SyntheticMix,
    SyntheticMixSampler,
    export_generator,
    mix_dataloader,
)
from ganaug.mix.class_policy import quota
from ganaug.data import ImageArrayDataset
from ganaug.gan.sampling import TrainedGenerator

NAMES = [str(k) for k in range(10)]
# Imbalanced on purpose, so match / balance / uniform give different counts.
COUNTS = [60, 50, 40, 30, 30, 25, 25, 20, 10, 10]


def _indexed_images(n: int) -> np.ndarray:
    """Images that carry their own index in two pixels, so loaders' items can be traced back."""
    images = np.full((n, 8, 8, 1), 7, dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(n) % 256
    images[:, 0, 1, 0] = np.arange(n) // 256
    return images


def _index_of(image) -> int:
    image = np.asarray(image)
    return int(image[0, 0, 0]) + 256 * int(image[0, 1, 0])


def _syn_index(mix, slot: int) -> int:
    """The mix index of synthetic slot `slot` (slots are spread among the real items)."""
    return int(mix.synthetic_indices()[slot])


def _real_index(mix, r: int) -> int:
    """The mix index of real item `r`."""
    return int(np.setdiff1d(np.arange(len(mix)), mix.synthetic_indices())[r])


@pytest.fixture(scope="session")
def gen():
    torch.manual_seed(0)
    return TrainedGenerator(Generator(10, 8, 1, z_dim=16, width=8), NAMES)


@pytest.fixture(scope="session")
def real():
    labels = np.repeat(np.arange(10), COUNTS)
    return ImageArrayDataset(_indexed_images(len(labels)), labels, NAMES)


@pytest.fixture(scope="session")
def bank(gen):
    return SyntheticBank.generate(gen, 1000, seed=0, progress=False)


def _batches(loader, epochs=(0,)):
    out = []
    for e in epochs:
        loader.dataset.set_epoch(e)
        out.append([tuple(t.clone() for t in b) for b in loader])
    return out


def _synthetic_images(batches) -> list[bytes]:
    return [x.numpy().tobytes() for xs, _, flags in batches for x, f in zip(xs, flags) if f]


# ------------------------------------------------------------------------------ structure


def test_length_and_real_items(real, bank):
    mix = SyntheticMix(real, bank, 0.25)
    assert mix.n_real == 300 and mix.n_syn == 100 and len(mix) == 400
    for i in (0, 17, 299):
        image, label = mix[_real_index(mix, i)]
        assert np.array_equal(image, real[i][0]) and label == real[i][1] and type(label) is int
    image, label = mix[-1]
    assert image.dtype == np.uint8 and image.shape == (8, 8, 1) and isinstance(label, int)
    # One synthetic item after every three real ones, the real items in order.
    assert mix.synthetic_indices().tolist() == list(range(3, 400, 4))
    assert [mix.is_synthetic(i) for i in range(400)] == [i % 4 == 3 for i in range(400)]
    assert mix.is_synthetic(-1) and not mix.is_synthetic(-2)
    with pytest.raises(IndexError):
        mix[400]
    plain = SyntheticMix(real, None, 0.0)
    assert len(plain) == 300 and np.array_equal(plain[5][0], real[5][0])


def test_shuffled_loader_fraction_within_binomial_tolerance(real, bank):
    ratio = 0.3
    mix = SyntheticMix(real, bank, ratio, return_flag=True)
    loader = DataLoader(mix, batch_size=32, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(0))
    per_batch = [int(f.sum()) for epoch in _batches(loader, range(8)) for _, _, f in epoch]
    n_items = 32 * len(per_batch)
    sd = math.sqrt(ratio * (1 - ratio) / n_items)
    assert abs(sum(per_batch) / n_items - ratio) < 3 * sd + 1 / len(mix)
    # Single batches scatter around the ratio, as binomial draws of 32 do.
    batch_sd = math.sqrt(32 * ratio * (1 - ratio))
    assert all(abs(k - 32 * ratio) < 5 * batch_sd for k in per_batch)
    assert np.std(per_batch) > 0.5


def test_batch_sampler_gives_exact_fraction_and_every_item_once(gen):
    labels = np.arange(960) % 10
    data = ImageArrayDataset(_indexed_images(960), labels, NAMES)
    mix = SyntheticMix(data, gen, 0.25, return_flag=True)
    assert mix.n_syn == 320
    loader = DataLoader(mix, batch_sampler=MixedBatchSampler(mix, 64))
    batches = _batches(loader)[0]
    assert len(batches) == 20 and all(int(f.sum()) == 16 for _, _, f in batches)
    seen = sorted(_index_of(x) for xs, _, fs in batches for x, f in zip(xs, fs) if not f)
    assert seen == list(range(960))
    assert len(set(_synthetic_images(batches))) == 320



@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler_shards_batches_evenly_across_processes(gen, drop_last):
    from torch.utils.data import DistributedSampler

    mix = SyntheticMix(ImageArrayDataset(_indexed_images(300), np.arange(300) % 10, NAMES), gen, 0.25)
    whole = list(MixedBatchSampler(mix, 64, drop_last=drop_last))  # 400 items: 6 full batches and 16 left
    shards = [MixedBatchSampler(mix, 64, drop_last=drop_last, num_replicas=3, rank=r) for r in range(3)]
    got = [list(s) for s in shards]
    # Every process takes as many steps (DDP would hang otherwise), and the shards are the whole plan.
    assert {len(g) for g in got} == {len(shards[0])} == {2 if drop_last else 3}
    flat = [b for step in zip(*got) for b in step]
    assert flat[:len(whole)] == whole[:len(flat)]
    if not drop_last:
        assert flat[len(whole):] == whole[:len(flat) - len(whole)]  # padded by wrapping around
    # Lightning's way: a DistributedSampler of the mix in place of the mix.
    via_dist = MixedBatchSampler(DistributedSampler(mix, num_replicas=3, rank=1), 64, drop_last=drop_last)
    assert list(via_dist) == got[1]
    with pytest.raises(ValueError, match="rank must lie in"):
        MixedBatchSampler(mix, 64, num_replicas=2, rank=2)

@pytest.mark.parametrize("kwargs, match", [
    ({"num_replicas": 2, "rank": "1"}, r"rank must be a non-negative integer .*got '1'"),
    ({"num_replicas": 2, "rank": 1.5}, r"rank must be a non-negative integer .*got 1.5"),
    ({"num_replicas": 2, "rank": True}, r"rank must be a non-negative integer .*got True"),
    ({"num_replicas": 2, "rank": -1}, r"rank must be a non-negative integer .*got -1"),
    ({"num_replicas": 2.7, "rank": 0}, r"num_replicas must be a positive integer .*got 2.7"),
    ({"num_replicas": "2", "rank": 0}, r"num_replicas must be a positive integer .*got '2'"),
    ({"num_replicas": 0, "rank": 0}, r"num_replicas must be a positive integer .*got 0"),
])
def test_batch_sampler_refuses_a_rank_or_replica_count_it_would_cut(bank, kwargs, match):
    # int() took '1' for rank 1, 1.5 for rank 1 and 2.7 for 2 replicas: a process could take another's shard.
    mix = SyntheticMix(ImageArrayDataset(_indexed_images(40), np.arange(40) % 10, NAMES), bank, 0.5)
    with pytest.raises(ConfigError, match=match):
        MixedBatchSampler(mix, 8, **kwargs)
    whole = MixedBatchSampler(mix, 8, num_replicas=2.0, rank=np.int64(1))  # whole floats, as YAML may give
    assert (whole.num_replicas, whole.rank) == (2, 1) and type(whole.rank) is int


def test_every_real_item_seen_once_per_epoch_with_workers(real, bank):
    mix = SyntheticMix(real, bank, 0.5, return_flag=True)
    loader = DataLoader(mix, batch_size=50, sampler=SyntheticMixSampler(mix), num_workers=2)
    for epoch in _batches(loader, (0, 1)):
        seen = sorted(_index_of(x) for xs, _, fs in epoch for x, f in zip(xs, fs) if not f)
        assert seen == list(range(300))
        assert sum(int(f.sum()) for _, _, f in epoch) == 300


# ---------------------------------------------------------------------------- class policy


@pytest.mark.parametrize(
    "policy, expected",
    [
        ("match", quota(np.array(COUNTS) / 300, 300)),
        ("uniform", [30] * 10),
        # Deficits to the largest class (60) total 300: exactly filled.
        ("balance", [60 - c for c in COUNTS]),
        ({"0": 1, 9: 3}, [75] + [0] * 8 + [225]),
    ],
)
def test_class_policy_counts(real, bank, policy, expected):
    mix = SyntheticMix(real, bank, 0.5, class_policy=policy)
    assert np.bincount(mix.synthetic_labels(), minlength=10).tolist() == list(expected)
    fetched = [mix[i][1] for i in mix.synthetic_indices()]
    assert np.bincount(fetched, minlength=10).tolist() == list(expected)


def test_bank_images_match_their_labels(real, bank):
    mix = SyntheticMix(real, bank, 0.5, class_policy="balance")
    lookup = {bank.images[i].tobytes(): int(bank.labels[i]) for i in range(len(bank))}
    items = mix.__getitems__(mix.synthetic_indices().tolist())
    assert all(lookup[img.tobytes()] == y for img, y in items)
    assert len({img.tobytes() for img, _ in items}) == 300


# ---------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("mode", ["bank", "on-the-fly"])
def test_seeded_reproducible_and_epochs_differ(real, bank, gen, mode):
    source = bank if mode == "bank" else gen

    def run(seed):
        mix = SyntheticMix(real, source, 0.4, seed=seed, return_flag=True)
        loader = DataLoader(mix, batch_size=40, sampler=SyntheticMixSampler(mix), num_workers=2)
        return _batches(loader, (0, 1))

    a, b, c = run(0), run(0), run(1)
    for ea, eb in zip(a, b):
        assert all(torch.equal(x, y) for ba, bb in zip(ea, eb) for x, y in zip(ba, bb))
    e0, e1 = set(_synthetic_images(a[0])), set(_synthetic_images(a[1]))
    # Each epoch takes other images: new noise on the fly, another random subset of the bank.
    assert len(e0 & e1) < (1 if mode == "on-the-fly" else len(e0) // 2)
    assert e0 != set(_synthetic_images(c[0]))


@pytest.mark.parametrize("mode", ["bank", "on-the-fly"])
def test_two_workers_draw_no_duplicates_and_match_one_process(real, bank, gen, mode):
    mix = SyntheticMix(real, bank if mode == "bank" else gen, 0.5, return_flag=True)
    two = _synthetic_images(_batches(DataLoader(mix, batch_size=32, shuffle=True, num_workers=2))[0])
    assert len(two) == 300 and len(set(two)) == 300
    one = _batches(DataLoader(mix, batch_size=32, shuffle=True, num_workers=0))[0]
    one_images = _synthetic_images(one)
    if mode == "bank":
        assert set(two) == set(one_images)
    else:  # one forward thread vs several may round a pixel differently
        arr = lambda bs: np.sort(np.stack([np.frombuffer(b, np.uint8) for b in bs]).astype(int), axis=0)
        assert np.abs(arr(two) - arr(one_images)).max() <= 1


def test_persistent_workers_see_set_epoch(real, gen):
    mix = SyntheticMix(real, gen, 0.5, return_flag=True)
    loader = DataLoader(mix, batch_size=60, sampler=SyntheticMixSampler(mix), num_workers=2, persistent_workers=True)
    epochs = _batches(loader, (0, 1))
    assert set(_synthetic_images(epochs[0])).isdisjoint(_synthetic_images(epochs[1]))
    # The same epoch in this process: the persistent workers had really moved on to epoch 1.
    fresh = SyntheticMix(real, gen, 0.5, return_flag=True)
    ref = _batches(DataLoader(fresh, batch_size=60, sampler=SyntheticMixSampler(fresh)), (1,))[0]
    got = np.stack([np.frombuffer(b, np.uint8) for b in _synthetic_images(epochs[1])]).astype(int)
    want = np.stack([np.frombuffer(b, np.uint8) for b in _synthetic_images(ref)]).astype(int)
    assert np.abs(got - want).max() <= 1


def test_workers_get_distinct_augmentation_streams():
    flat = ImageArrayDataset(np.full((64, 8, 8, 1), 128, np.uint8), np.arange(64) % 10, NAMES)
    fake = SyntheticBank.from_arrays(np.full((64, 8, 8, 1), 128, np.uint8), np.arange(64) % 10, NAMES)
    aug = A.Compose([A.RandomBrightnessContrast(p=1.0)], seed=0)
    mix = SyntheticMix(flat, fake, 0.0, transform=aug)
    first, second = list(DataLoader(mix, batch_size=32, num_workers=2))
    assert not torch.equal(first[0], second[0])


def test_single_item_access_matches_batched(real, gen):
    mix = SyntheticMix(real, gen, 0.5, chunk_size=16)
    idx = [_syn_index(mix, j) for j in (0, 45, 299)]
    batched = mix.__getitems__(idx)
    single = [mix[i] for i in idx]
    for (a, ya), (b, yb) in zip(batched, single):
        assert ya == yb and np.abs(a.astype(int) - b.astype(int)).max() <= 1


# ------------------------------------------------------------------------------ transforms


def test_albumentations_transform_applies_to_both(real, bank):
    t = A.Compose([A.HorizontalFlip(p=1.0), A.Normalize(mean=0.5, std=0.5), ToTensorV2()])
    mix = SyntheticMix(real, bank, 0.5, transform=t)
    x, y = mix[_real_index(mix, 3)]
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (1, 8, 8)
    flipped = real.images[3][:, ::-1, 0] / 127.5 - 1
    assert np.allclose(x[0].numpy(), flipped, atol=1e-5)
    s, _ = mix[_syn_index(mix, 150)]
    assert s.shape == (1, 8, 8) and s.dtype == torch.float32 and -1 <= s.min() and s.max() <= 1
    raw = {bank.images[i][:, ::-1].tobytes() for i in range(len(bank))}
    assert np.rint((s[0].numpy() + 1) * 127.5).astype(np.uint8)[..., None].tobytes() in raw


def test_plain_callable_transform_and_hw_images(gen):
    calls = []

    def transform(img):
        calls.append(img.shape)
        return torch.as_tensor(img, dtype=torch.float32)[None] / 255

    labels = np.arange(50) % 10
    hw = [(img[..., 0], int(y)) for img, y in zip(_indexed_images(50), labels)]
    mix = SyntheticMix(hw, gen, 0.5, transform=transform, class_policy="uniform")
    x, _ = mix[_syn_index(mix, 20)]
    assert x.shape == (1, 8, 8) and calls[-1] == (8, 8)


def test_dataset_with_its_own_transform_serves_synthetic_too(real, bank):
    t = A.Compose([A.Normalize(mean=0.5, std=0.5), ToTensorV2()])
    ds = ImageArrayDataset(real.images, real.labels, NAMES, transform=t)
    mix = SyntheticMix(ds, bank, 0.5)
    assert mix[0][0].dtype == torch.float32 and mix[_syn_index(mix, 100)][0].shape == mix[0][0].shape


class _TensorDataset(Dataset):
    """What a torchvision-style dataset yields: float C×H×W tensors in [-1, 1]."""

    def __init__(self, n=40):
        self.x = torch.rand(n, 1, 8, 8) * 2 - 1
        self.y = torch.arange(n) % 10

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def _to_pm1(img):
    return torch.from_numpy(img).permute(2, 0, 1).float() / 127.5 - 1


def test_tensor_dataset_with_synthetic_transform(gen):
    mix = SyntheticMix(_TensorDataset(), gen, 0.5, synthetic_transform=_to_pm1, class_policy="uniform")
    (x, y), (s, sy) = mix[0], mix[_syn_index(mix, 5)]
    assert s.shape == x.shape and s.dtype == x.dtype
    assert isinstance(sy, torch.Tensor) and sy.dtype == y.dtype


def test_pil_dataset_gets_pil_synthetic_images(gen):
    from PIL import Image

    pil = [(Image.fromarray(img[..., 0]), int(k % 10)) for k, img in enumerate(_indexed_images(30))]
    mix = SyntheticMix(pil, gen, 0.5, class_policy="uniform")
    img = mix[_syn_index(mix, 10)][0]
    assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (8, 8)


@pytest.mark.parametrize("hw_only", [False, True])
def test_a_uint8_tensor_dataset_gets_uint8_tensor_synthetic_images(gen, hw_only):
    # torch.from_numpy of raw H×W×C (or H×W) arrays: the raw images in a tensor, which need no synthetic_transform
    images = torch.from_numpy(_indexed_images(40))
    images = images[..., 0] if hw_only else images
    ds = torch.utils.data.TensorDataset(images, torch.arange(40) % 10)
    mix = SyntheticMix(ds, gen, 0.5, class_policy="uniform")
    (x, y), (s, sy) = mix[0], mix[_syn_index(mix, 5)]
    assert isinstance(s, torch.Tensor) and s.dtype == torch.uint8 and s.shape == x.shape
    assert isinstance(sy, torch.Tensor) and sy.dtype == y.dtype
    batch = next(iter(torch.utils.data.DataLoader(mix, batch_size=len(mix))))
    assert batch[0].shape == (len(mix), *x.shape)  # real and synthetic items collate together


# ------------------------------------------------------------------------------ mismatches


def test_tensor_dataset_without_synthetic_transform(gen):
    with pytest.raises(GanaugDataError, match=r"yields torch\.float32 tensor of shape \(1, 8, 8\) images, .*"
                                              "synthetic_transform"):
        SyntheticMix(_TensorDataset(), gen, 0.5, class_policy="uniform")


@pytest.mark.parametrize(
    "synthetic_transform, match",
    [
        (lambda img: torch.from_numpy(img).permute(2, 0, 1), "dtypes differ"),
        (lambda img: torch.from_numpy(img).permute(2, 0, 1).float(), "scales differ"),
        (lambda img: torch.from_numpy(img).permute(2, 0, 1).float() / 255, r"outside the \[0, 1\]"),
        (lambda img: torch.from_numpy(img).float(), "shapes differ"),
        (lambda img: img, "real images are torch"),
    ],
)
def test_item_mismatches(gen, synthetic_transform, match):
    ds = _TensorDataset()
    with pytest.raises(GanaugDataError, match=match):
        SyntheticMix(ds, gen, 0.5, synthetic_transform=synthetic_transform, class_policy="uniform")
    SyntheticMix(ds, gen, 0.5, synthetic_transform=synthetic_transform, class_policy="uniform", check_items=False)


def test_dull_synthetic_images_are_not_a_range_mismatch(real):
    gray = SyntheticBank.from_arrays(np.full((100, 8, 8, 1), 128, np.uint8), np.arange(100) % 10, NAMES)
    t = A.Compose([A.Normalize(mean=0.5, std=0.5), ToTensorV2()])
    SyntheticMix(real, gray, 0.2, transform=t, class_policy="uniform")
    SyntheticMix(_TensorDataset(), gray, 0.2, synthetic_transform=_to_pm1, class_policy="uniform")


def test_generator_for_other_shape_or_classes(real, gen, tmp_path):
    big = ImageArrayDataset(np.zeros((20, 16, 16, 1), np.uint8), np.arange(20) % 10, NAMES)
    with pytest.raises(ArtifactError, match="8×8×1 images but the real dataset's are 16×16×1"):
        SyntheticMix(big, gen, 0.5)
    rgb = ImageArrayDataset(np.zeros((20, 8, 8, 3), np.uint8), np.arange(20) % 10, NAMES)
    with pytest.raises(ArtifactError, match="8×8×3"):
        SyntheticMix(rgb, gen, 0.5)
    three = TrainedGenerator(Generator(3, 8, 1, z_dim=8, width=8), ["a", "b", "c"])
    with pytest.raises(ArtifactError, match="10 classes but the generator has 3"):
        SyntheticMix(real, three, 0.5)
    path = export_generator(three, tmp_path / "g3")
    with pytest.raises(ArtifactError, match="10 classes but the generator has 3"):
        SyntheticMix(real, path, 0.5)
    named = ImageArrayDataset(real.images, real.labels, list("abcdefghij"))
    with pytest.raises(ArtifactError, match="check_class_names=False"):
        SyntheticMix(named, gen, 0.5)
    SyntheticMix(named, gen, 0.5, check_class_names=False)


@pytest.mark.parametrize("shape, got", [((16, 16, 1), "16×16×1"), ((8, 8, 3), "8×8×3"), ((16, 16), "16×16×1")])
def test_uint8_tensor_images_of_another_size_are_named_as_such(gen, shape, got):
    # torch.from_numpy of raw images of another size used to be told they were not raw H×W×C images
    ds = torch.utils.data.TensorDataset(torch.zeros((20, *shape), dtype=torch.uint8), torch.arange(20) % 10)
    with pytest.raises(ArtifactError, match=f"8×8×1 images but the real dataset's are {got}: .*synthetic_transform"):
        SyntheticMix(ds, gen, 0.5)


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5, "0.5", True, float("nan")])
def test_bad_ratio(real, bank, ratio):
    with pytest.raises(ValueError, match="ratio"):
        SyntheticMix(real, bank, ratio)


def test_bad_arguments(real, bank, tmp_path):
    with pytest.raises(ValueError, match="unknown class_policy"):
        SyntheticMix(real, bank, 0.5, class_policy="most")
    with pytest.raises(ValueError, match="truncation is fixed"):
        SyntheticMix(real, bank, 0.5, truncation=1.0)
    with pytest.raises(ValueError, match="source is None"):
        SyntheticMix(real, None, 0.5)
    with pytest.raises(ArtifactError, match="neither a synthetic bank"):
        SyntheticMix(real, tmp_path, 0.5)
    with pytest.raises(ValueError, match="refresh needs"):
        SyntheticMix(real, SyntheticBank.from_arrays(bank.images, bank.labels, NAMES), 0.5, refresh=1.0)
    with pytest.raises(GanaugDataError, match=r"\(image, label\) items"):
        SyntheticMix([(np.zeros((8, 8, 1), np.uint8), 0, "x")], bank, 0.5)
    with pytest.raises(TypeError, match="source"):
        SyntheticMix(real, 42, 0.5)


def test_small_bank_warns_and_missing_class_fails(real, bank):
    small = SyntheticBank.from_arrays(bank.images[:50], bank.labels[:50], NAMES)
    with pytest.warns(UserWarning, match="repeat within an epoch"):
        SyntheticMix(real, small, 0.5)
    no_nines = bank.labels != 9
    partial = SyntheticBank.from_arrays(bank.images[no_nines], bank.labels[no_nines], NAMES)
    with pytest.raises(ArtifactError, match=r"no images of \['9'\]"):
        SyntheticMix(real, partial, 0.5, class_policy="uniform")


# --------------------------------------------------------------------- sources, refresh, hydra


def test_sources_from_paths(real, gen, tmp_path):
    gpath = export_generator(gen, tmp_path / "gen")
    assert SyntheticMix(real, gpath, 0.5).generator is not None
    SyntheticBank.generate(gen, 400, tmp_path / "bank", progress=False)
    mix = SyntheticMix(real, str(tmp_path / "bank"), 0.5)
    assert mix.bank is not None and isinstance(mix.bank.images, np.memmap)


def test_refresh_gives_new_images_to_persistent_workers(real, gen, tmp_path):
    bank = SyntheticBank.generate(gen, 300, tmp_path / "bank", progress=False)
    old = {bank.images[i].tobytes() for i in range(len(bank))}
    mix = SyntheticMix(real, bank, 0.5, refresh=1.0, return_flag=True, class_policy="uniform")
    loader = DataLoader(mix, batch_size=100, sampler=SyntheticMixSampler(mix), num_workers=2, persistent_workers=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        epochs = _batches(loader, (0, 1))
    new = {bank.images[i].tobytes() for i in range(len(bank))}
    assert set(_synthetic_images(epochs[0])) <= old
    assert set(_synthetic_images(epochs[1])) <= new and new.isdisjoint(old)


def test_hydra_mix_group(compose_cfg, real, bank):
    from hydra.utils import instantiate

    cfg = compose_cfg(None, ["+mix=default", "mix.ratio=0.25", "mix.class_policy=uniform"])
    mix = instantiate(cfg.mix)(real, source=bank)
    assert isinstance(mix, SyntheticMix) and mix.n_syn == 100
    assert np.bincount(mix.synthetic_labels()).tolist() == [10] * 10
    none = instantiate(compose_cfg(None, ["+mix=none"]).mix)(real)
    assert len(none) == len(real)


# ------------------------------------------------------------------------ loaders, lightning


def test_mix_dataloader_keeps_settings(real, bank):
    def collate(batch):
        return torch.utils.data.default_collate(batch)

    loader = DataLoader(real, batch_size=64, shuffle=True, collate_fn=collate, drop_last=True)
    mixed = mix_dataloader(loader, bank, 0.5, return_flag=True)
    assert mixed.batch_size == 64 and mixed.collate_fn is collate and mixed.drop_last
    assert isinstance(mixed.sampler, SyntheticMixSampler) and len(mixed.dataset) == 600
    exact = mix_dataloader(loader, bank, 0.5, exact=True, return_flag=True)
    assert all(int(f.sum()) == 32 for _, _, f in exact)


@pytest.mark.parametrize("loader, match", [
    # a mixed loader mixed again: 'uses a SyntheticMixSampler, which cannot be carried over' before
    (lambda real, bank: mix_dataloader(DataLoader(real, batch_size=8, shuffle=True), bank, 0.5),
     r"already mixed: its dataset is a SyntheticMix; mix the real loader once"),
    # batching off: 'uses a custom batch_sampler' before, which it does not
    (lambda real, bank: DataLoader(real, batch_size=None), r"batch_size=None \(no batching\); give it a batch_size"),
    (lambda real, bank: DataLoader(real, batch_sampler=torch.utils.data.BatchSampler(
        torch.utils.data.RandomSampler(real), 8, False)), r"custom batch_sampler"),
    # a RandomSampler that resamples: its replacement and epoch length were dropped without a word
    (lambda real, bank: DataLoader(real, batch_size=8, sampler=torch.utils.data.RandomSampler(
        real, replacement=True)), r"RandomSampler draws with replacement, 300 items an epoch from 300; the mix "),
    (lambda real, bank: DataLoader(real, batch_size=8, sampler=torch.utils.data.RandomSampler(
        real, num_samples=100)), r"draws without replacement, 100 items an epoch from 300"),
])
def test_a_loader_that_cannot_be_mixed_is_named(real, bank, loader, match):
    with pytest.raises(ValueError, match=match):
        mix_dataloader(loader(real, bank), bank, 0.5)


def test_mix_datamodule_in_lightning(real, bank):
    import pytorch_lightning as pl
    from torch import nn
    from torch.nn import functional as F

    from ganaug import mix_datamodule

    class DM(pl.LightningDataModule):
        def train_dataloader(self):
            return DataLoader(real, batch_size=32, shuffle=True)

        def val_dataloader(self):
            return DataLoader(real, batch_size=100)

    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(64, 10)
            self.synthetic = {}

        def training_step(self, batch, _):
            x, y, flag = batch
            self.synthetic.setdefault(self.current_epoch, []).append(int(flag.sum()))
            return F.cross_entropy(self.lin(x.float().flatten(1) / 255), y)

        def validation_step(self, batch, _):
            assert len(batch) == 2  # validation stays real

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm = mix_datamodule(DM(), bank, 0.5, exact=True, return_flag=True)
    model = Model()
    trainer = pl.Trainer(
        max_epochs=2, limit_train_batches=3, limit_val_batches=1, accelerator="cpu", logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    assert model.synthetic == {0: [16, 16, 16], 1: [16, 16, 16]}
    assert trainer.train_dataloader.dataset.epoch == 1


@pytest.mark.parametrize("datamodule", [None, DataLoader(range(4)), object()])
def test_mix_datamodule_names_what_is_no_datamodule(bank, datamodule):
    # An AttributeError ('NoneType' object has no attribute 'train_dataloader') before.
    from ganaug import mix_datamodule

    with pytest.raises(TypeError, match=rf"mix_datamodule: datamodule must be a LightningDataModule \(or any object "
                                        rf"with a train_dataloader method\), got {type(datamodule).__name__}; "):
        mix_datamodule(datamodule, bank, 0.5)


@pytest.mark.parametrize("kwargs, match", [
    ({"ratio": 5.0}, r"ratio must be in \[0, 1\) .*got 5.0"),
    ({"ratio": "0.5"}, r"ratio must be a number in \[0, 1\), got '0.5'"),
    ({"ratio": 0.5, "exact": "no"}, r"exact must be true or false, got 'no'"),
])
def test_mix_datamodule_refuses_a_bad_ratio_at_the_call(real, bank, kwargs, match):
    # Before, the call passed and the error came when Lightning asked for the first train loader.
    from ganaug import mix_datamodule

    class DM:
        def train_dataloader(self):
            return DataLoader(real, batch_size=32, shuffle=True)

    dm = DM()
    with pytest.raises(ConfigError, match=match):
        mix_datamodule(dm, bank, **kwargs)
    assert "train_dataloader" not in vars(dm)  # left as it was: it can still be mixed
    assert isinstance(mix_datamodule(dm, bank, 0.5).train_dataloader().dataset, SyntheticMix)


def test_mix_datamodule_refuses_no_source_at_the_call(real):
    # Before, mix_datamodule(dm, None, 0.25) passed and SyntheticMix's "source is None" came at the first train loader.
    from ganaug import mix_datamodule

    class DM:
        def train_dataloader(self):
            return DataLoader(real, batch_size=32, shuffle=True)

    dm = DM()
    with pytest.raises(ConfigError, match=r"source is None: give a SyntheticBank, a generator, or their directory"):
        mix_datamodule(dm, None, 0.25)
    assert "train_dataloader" not in vars(dm)
    mixed = mix_datamodule(dm, None, 0.0).train_dataloader().dataset  # ratio 0: real only, as SyntheticMix takes it
    assert mixed.n_syn == 0 and len(mixed) == len(real)


@pytest.mark.xdist_group("ddp")
def test_mix_datamodule_under_ddp_draws_new_synthetic_items_each_epoch(tmp_path, python, repo):
    import json
    import os
    import subprocess

    modes = ("sampler", "exact")
    done = subprocess.run([python, str(repo / "tests" / "ddp_mix_probe.py"), str(tmp_path), ",".join(modes)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    for mode in modes:
        ranks = [json.loads((tmp_path / mode / f"rank{r}.json").read_text()) for r in (0, 1)]
        for epoch in ("0", "1"):
            real = [ranks[r][epoch]["real"] for r in (0, 1)]
            # The ranks split each epoch: every real item once, on one rank only.
            assert sorted(real[0] + real[1]) == list(range(96)), mode
            syn = [ranks[r][epoch]["synthetic"] for r in (0, 1)]
            assert len(syn[0]) + len(syn[1]) == 32, mode  # 96 real items at ratio 0.25
            assert not set(syn[0]) & set(syn[1]), mode
        # set_epoch reaches the mix through Lightning's distributed sampler: a new synthetic draw.
        for r in (0, 1):
            assert set(ranks[r]["0"]["synthetic"]) != set(ranks[r]["1"]["synthetic"]), mode
            assert ranks[r]["0"]["real"] != ranks[r]["1"]["real"], mode  # and a new shuffle


def test_real_tensors_in_0_1_against_a_synthetic_path_in_pm1_are_a_range_mismatch(gen):
    # Issue 42.7: the reverse was caught; real [0, 1] (ToTensor) with a synthetic [-1, 1] path passed.
    class UnitRange(_TensorDataset):
        def __getitem__(self, i):
            return (self.x[i] + 1) / 2, self.y[i]

    with pytest.raises(GanaugDataError, match=r"maps black to -1 .*no value of 16 real images goes below"):
        SyntheticMix(UnitRange(), gen, 0.5, synthetic_transform=_to_pm1, class_policy="uniform")
    SyntheticMix(_TensorDataset(), gen, 0.5, synthetic_transform=_to_pm1, class_policy="uniform")  # [-1, 1]: fine


def test_a_dark_real_image_is_no_range_mismatch(gen):
    class Dark(_TensorDataset):  # dark images on the [-1, 1] scale: all below mid-grey
        def __getitem__(self, i):
            return self.x[i].clamp(max=0.0), self.y[i]

    SyntheticMix(Dark(), gen, 0.5, synthetic_transform=_to_pm1, class_policy="uniform")


@pytest.mark.parametrize("class_policy", ["uniform", [0.1] * 10])
def test_labels_outside_the_generators_classes_are_caught_without_a_labels_attribute(gen, class_policy):
    # Issue 42.8: only item 0 was checked, so one-based labels 1..10 passed and label 10 trained against nothing.
    class OneBased(Dataset):
        def __init__(self):
            self.x = _indexed_images(20)

        def __len__(self):
            return 20

        def __getitem__(self, i):
            return self.x[i], i % 10 + 1

    mix = SyntheticMix(OneBased(), gen, 0.5, class_policy=class_policy)
    real = [i for i in range(len(mix)) if not mix.layout.locate(mix._index(i))[0]]
    with pytest.raises(ArtifactError, match=r"real item 9 has label 10, but the generator knows 10 classes"):
        [mix[i] for i in real]
    with pytest.raises(ArtifactError, match="label 10"):
        list(torch.utils.data.DataLoader(mix, batch_size=8))

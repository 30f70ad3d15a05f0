import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import DataLoader

import ganaug
from ganaug import (GanaugError, SyntheticAwareLoss, SyntheticMix, TuneSettings, export_generator, load_recipe,
                    tune_mix)
from ganaug.classify.classifier import SmallCNN
from ganaug.data import ImageArrayDataset, load_digits
from ganaug.data.subsets import train_val_split
from ganaug.gan.nets import Generator
from ganaug.mix.recipe import RecipeError
from ganaug.gan.sampling import TrainedGenerator

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.filterwarnings("ignore:the bank is smaller than one epoch")]

REPO = Path(__file__).resolve().parents[1]
NAMES = [str(i) for i in range(10)]


class _Payload:
    """What a hostile checkpoint holds: unpickling it creates a file (a stand-in for any code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _export(path, seed=0):
    torch.manual_seed(seed)
    return export_generator(TrainedGenerator(Generator(10, 8, 1, z_dim=16, width=8), NAMES), path)


def _to_input(img):
    # A user's transform: uint8 H×W×C → float C×H×W in [-1, 1], the reference classifier's inputs.
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div(127.5).sub(1.0)


@pytest.fixture(scope="module")
def train():
    return load_digits("train")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    # Validation images drawn from the generator itself make a synthetic candidate win, so the
    # recipe carries a bank, soft labels and the teacher (see test_tune).
    root = tmp_path_factory.mktemp("recipe")
    gen = _export(root / "gen")
    train, _ = train_val_split(load_digits("train"), 0.2, 0)
    images, labels = ganaug.load_generator(gen).sample(n_per_class=30, seed=123)
    val = ImageArrayDataset(images, labels, NAMES)
    # The recipe of soft labels alone (the defaults add confidence weights and split batch norm, under which an
    # untrained generator's images gain nothing here): its mechanics are what these tests use.
    settings = TuneSettings(ratios=[0.75], filter_thresholds=[None], seeds=[0], steps=60, batch_size=32, lr=3e-3,
                            width=8, bank_size=400, synthetic_confidence_weight=False, synthetic_split_norm=False)
    result = tune_mix(gen, train, val, settings, out_dir=root / "tune", progress=False)
    assert result.best != "real"
    return result


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------ refusing code


def _hostile(tmp_path, where):
    marker = tmp_path / "pwned"
    payload = tmp_path / "payload.pt"
    torch.save(_Payload(marker), payload)
    nested = {
        "torch.load": f"source:\n  _target_: torch.load\n  f: {payload}\n  weights_only: false\n",
        "builtins.open": f"source: null\nclass_policy:\n  - _target_: builtins.open\n    _args_: [{marker}, w]\n",
        "builtins.exec": f"source: null\nclass_policy:\n  - _target_: builtins.exec\n"
                         f"    _args_: [\"open({str(marker)!r}, 'w')\"]\n",
    }[where]
    text = "_target_: ganaug.SyntheticMix\n_partial_: true\nratio: 0.25\n" + nested
    return _write(tmp_path / "mix.yaml", text), marker


@pytest.mark.parametrize("where", ["torch.load", "builtins.open", "builtins.exec"])
def test_a_nested_target_is_refused_and_never_runs(tmp_path, where):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    path, marker = _hostile(tmp_path, where)
    with pytest.raises(RecipeError, match=rf"_target_: {where}.*not a ganaug recipe.*never instantiates") as err:
        load_recipe(path)
    assert isinstance(err.value, GanaugError) and isinstance(err.value, ValueError)
    assert not marker.exists()
    if where == "builtins.exec":
        return  # recent Hydra blocklists exec itself; the two above it runs
    # The payload is live: what the README used to suggest runs it.
    try:
        instantiate(OmegaConf.load(path))
    except Exception:  # noqa: BLE001 - the damage is done before any error
        pass
    assert marker.exists()


def test_a_foreign_top_level_target_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = _write(tmp_path / "r.yaml", f"_target_: builtins.open\nfile: {marker}\nmode: w\n")
    with pytest.raises(RecipeError, match=r"_target_: builtins.open.*only ganaug.SyntheticMix"):
        load_recipe(path)
    assert not marker.exists()


def test_an_unknown_key_is_refused_by_name(tmp_path):
    path = _write(tmp_path / "mix.yaml", "source: null\nratio: 0.0\nrato: 0.3\n")
    with pytest.raises(RecipeError, match=r"unknown key 'rato'.*not a ganaug recipe.*never instantiates"):
        load_recipe(path)
    _write(path, "source: null\nratio: 0.0\n_recursive_: true\n")
    with pytest.raises(RecipeError, match="unknown key '_recursive_'"):
        load_recipe(path)


@pytest.mark.parametrize("line, message", [
    ("ratio: '0.25'", "ratio must be a number in"),
    ("ratio: 1.0", r"ratio must be a number in \[0, 1\)"),
    ("seed: -1", "seed must be a non-negative integer"),
    ("return_flag: 'yes'", "return_flag must be true or false"),
    ("split_norm: 1", "split_norm must be true or false"),
    ("feedback_weight: true", "asks for a setting this ganaug no longer has"),
    ("class_policy: {a: {b: 1}}", "class_policy must be"),
    ("soft_labels: 0.5", "soft_labels > 0 needs a teacher"),
    ("teacher: {file: t.safetensors, width: 8, num_classes: 10, image_shape: [8, 8, 1], model: x}",
     "unknown key 'teacher.model'"),
    ("_partial_: false", "_partial_"),
    ('source: "bank\\0"', "source must be a path"),  # a NUL in YAML: os's "embedded null byte" before
])
def test_values_are_type_checked(tmp_path, line, message):
    text = "source: null\nratio: 0.0\n"
    key = line.split(":")[0]
    text = "\n".join(l for l in text.splitlines() if not l.startswith(key + ":")) + "\n" + line + "\n"
    with pytest.raises(RecipeError, match=message):
        load_recipe(_write(tmp_path / "mix.yaml", text))


def test_a_recipe_an_earlier_tune_wrote_with_a_retired_key_switched_off_still_loads(tmp_path):
    # Earlier ganaug-tune wrote `feedback_weight: false` into every recipe; the lever left (it lost on validation).
    recipe = load_recipe(_write(tmp_path / "mix.yaml", "source: null\nratio: 0.0\nfeedback_weight: false\n"))
    assert recipe.ratio == 0.0 and not recipe.needs_flag


def test_not_a_mapping_or_not_yaml_is_refused(tmp_path):
    with pytest.raises(RecipeError, match="not a ganaug recipe"):
        load_recipe(_write(tmp_path / "a.yaml", "- 1\n- 2\n"))
    with pytest.raises(RecipeError, match="not YAML"):
        load_recipe(_write(tmp_path / "b.yaml", "ratio: [\n"))
    marker = tmp_path / "pwned"
    with pytest.raises(RecipeError, match="not YAML"):  # PyYAML's own way to run code: a safe parser refuses it
        load_recipe(_write(tmp_path / "c.yaml", f"ratio: !!python/object/apply:builtins.open [{marker}, w]\n"))
    assert not marker.exists()
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecipeError, match="no recipe.yaml or mix.yaml"):
        load_recipe(tmp_path / "empty")


def test_the_source_is_resolved_against_the_recipe_directory_and_must_exist(tuned, tmp_path):
    bank = Path(tuned.candidate()["bank"])
    shutil.copytree(bank, tmp_path / "here" / "bank")
    recipe = load_recipe(_write(tmp_path / "here" / "mix.yaml", "source: bank\nratio: 0.25\n"))
    assert recipe.source == (tmp_path / "here" / "bank").resolve()
    with pytest.raises(RecipeError, match=r"source .*nowhere does not exist"):
        load_recipe(_write(tmp_path / "there" / "mix.yaml", "source: nowhere\nratio: 0.25\n"))
    with pytest.raises(RecipeError, match="ratio 0.25 needs a source"):
        load_recipe(REPO / "conf" / "mix" / "default.yaml")


def test_the_teacher_is_checked_against_its_file(tuned, tmp_path):
    from safetensors.torch import save_file

    bank = Path(tuned.candidate()["bank"])
    shutil.copytree(bank, tmp_path / "bank")
    entry = "teacher: {file: t.safetensors, width: 8, num_classes: 10, image_shape: [8, 8, 1]}\n"
    text = "source: bank\nratio: 0.5\nsoft_labels: 0.5\n" + entry
    with pytest.raises(RecipeError, match=r"teacher.file .*t.safetensors does not exist"):
        load_recipe(_write(tmp_path / "recipe.yaml", text))
    other = SmallCNN(10, 1, (8, 8), width=4)  # another width than the recipe says
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(tmp_path / "t.safetensors"))
    recipe = load_recipe(tmp_path)
    with pytest.raises(RecipeError, match=r"is not the weights of SmallCNN\(width=8"):
        recipe.loss()
    mine = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    assert recipe.loss(teacher=mine).teacher is mine  # a teacher that takes your model's inputs


def _small_bank(root):
    from ganaug import SyntheticBank

    torch.manual_seed(0)
    gen = export_generator(Generator(10, 8, 1, z_dim=8, width=8), root / "gen")
    return SyntheticBank.generate(gen, 20, root / "bank", progress=False).path


def _teacher_recipe(root, arch="smallcnn", width=8, num_classes=10):
    return _write(root / "recipe.yaml", "source: bank\nratio: 0.5\nsoft_labels: 0.5\nteacher: {file: t.safetensors, "
                  f"arch: {arch}, width: {width}, num_classes: {num_classes}, image_shape: [8, 8, 1]}}\n")


def _spy_on_builds(monkeypatch) -> list[str]:
    """The device of each teacher network load_recipe builds, in order."""
    import ganaug.mix.recipe

    built, real = [], ganaug.mix.recipe.build_classifier

    def spy(*args, **kwargs):
        net = real(*args, **kwargs)
        built.append(next(net.parameters()).device.type)
        return net

    monkeypatch.setattr(ganaug.mix.recipe, "build_classifier", spy)
    return built


@pytest.mark.parametrize("arch", ["smallcnn", "resnet"])
def test_a_teacher_is_built_in_memory_only_once_its_file_holds_the_sizes_the_recipe_names(tmp_path, arch,
                                                                                           monkeypatch):
    # recipe.yaml's width sized the teacher before its file was read: width 1200 cost 380 MB for any file.
    from safetensors.torch import save_file

    from ganaug.classify.classifier import CLASSIFIERS

    _small_bank(tmp_path)
    small = CLASSIFIERS[arch](10, 1, (8, 8), width=4)
    save_file({k: v.contiguous() for k, v in small.state_dict().items()}, str(tmp_path / "t.safetensors"))
    built = _spy_on_builds(monkeypatch)
    recipe = load_recipe(_teacher_recipe(tmp_path, arch, width=64))
    with pytest.raises(RecipeError, match=r"t.safetensors is not the weights of .*\(width=64.* has shape") as e:
        recipe.loss()
    assert "rerun ganaug-tune, or fix the teacher entry" in str(e.value)
    assert "cpu" not in built  # only the shape-only (meta device) network
    assert load_recipe(_teacher_recipe(tmp_path, arch, width=4)).loss().teacher is not None  # the file's own sizes
    assert built[-1] == "cpu"


def test_absurd_teacher_sizes_are_a_recipe_error_not_an_allocation(tmp_path):
    # width 10**6 or 10**9 classes: torch's "DefaultCPUAllocator: can't allocate" (or the machine's memory) before.
    from safetensors.torch import save_file

    _small_bank(tmp_path)
    save_file({k: v.contiguous() for k, v in SmallCNN(10, 1, (8, 8), width=8).state_dict().items()},
              str(tmp_path / "t.safetensors"))
    dirs = []
    for width, k in [(10**6, 10), (8, 10**9)]:
        _teacher_recipe(tmp_path / f"w{width}-k{k}", width=width, num_classes=k)
        shutil.copytree(tmp_path / "bank", tmp_path / f"w{width}-k{k}" / "bank")
        shutil.copy(tmp_path / "t.safetensors", tmp_path / f"w{width}-k{k}")
        dirs.append(str(tmp_path / f"w{width}-k{k}"))
    code = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, (1 << 32, 1 << 32))\n"
            "from ganaug import load_recipe\nfrom ganaug.mix.recipe import RecipeError\n"
            f"for d in {dirs!r}:\n    try:\n        load_recipe(d).loss()\n    except RecipeError as e:\n"
            "        print('refused:', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    refused = [line for line in r.stdout.splitlines() if line.startswith("refused:")]
    assert len(refused) == 2 and all("t.safetensors is not the weights of SmallCNN" in line for line in refused)
    assert "width=1000000" in refused[0] and "num_classes=1000000000" in refused[1]


def test_a_teacher_file_that_is_no_safetensors_is_named_before_anything_is_built(tmp_path, monkeypatch):
    _small_bank(tmp_path)
    (tmp_path / "t.safetensors").write_bytes(b"not even read before the network is built")
    built = _spy_on_builds(monkeypatch)
    with pytest.raises(RecipeError, match=r"t.safetensors is not the weights of SmallCNN\(width=1200.*header"):
        load_recipe(_teacher_recipe(tmp_path, width=1200)).loss()
    assert "cpu" not in built


# ------------------------------------------------------------------------------ using a recipe


def test_a_real_only_recipe_gives_back_the_dataset(train, tmp_path):
    # The mix.yaml ganaug-tune used to write when real only won: ratio 0 with the flag on.
    path = _write(tmp_path / "mix.yaml", "_target_: ganaug.SyntheticMix\n_partial_: true\nsource: null\n"
                                         "ratio: 0.0\nclass_policy: match\nseed: 0\ntruncation: null\n"
                                         "refresh: null\nreturn_flag: true\n")
    for recipe in (load_recipe(path), load_recipe(REPO / "conf" / "mix" / "none.yaml")):
        assert recipe.ratio == 0.0 and recipe.wrap(train) is train
        criterion = recipe.loss()
        for x, y in DataLoader(recipe.wrap(train), batch_size=256):
            assert x.shape[0] == y.shape[0]
        # Plain cross-entropy, called either way: a loop written for a synthetic recipe,
        # criterion(logits, y, is_synthetic, x), keeps working when a rerun of the tune picks real only.
        logits, y = torch.randn(5, 10), torch.tensor([0, 1, 2, 3, 4])
        expected = torch.nn.functional.cross_entropy(logits, y)
        assert torch.allclose(criterion(logits, y), expected)
        assert torch.allclose(criterion(logits, y, torch.zeros(5, dtype=torch.bool), torch.zeros(5, 1, 8, 8)), expected)
    # With a transform, the real items still come as plain (image, label) pairs.
    x, y = next(iter(DataLoader(load_recipe(path).wrap(train, transform=_to_input), batch_size=4)))
    assert x.shape == (4, 1, 8, 8) and x.dtype == torch.float32


def test_source_and_ratio_given_to_wrap_override_a_real_only_recipe(train, tmp_path):
    # wrap's keywords override the recipe's values; on a real-only recipe source= and ratio= were dropped without a
    # word (the dataset came back unmixed), or, with a transform, met Python's 'got multiple values for argument'.
    recipe = load_recipe(_write(tmp_path / "mix.yaml", "ratio: 0.0\nsource: null\n"))
    bank = ganaug.SyntheticBank.from_arrays(np.zeros((20, 8, 8, 1), np.uint8), np.arange(20) % 10)
    for transform in (None, _to_input):
        mix = recipe.wrap(train, transform=transform, source=bank, ratio=0.25)
        assert isinstance(mix, SyntheticMix) and mix.ratio == 0.25 and mix.n_syn > 0 and not mix.return_flag
        assert recipe.wrap(train, transform=transform, source=bank).ratio == 0.0
        with pytest.raises(GanaugError, match=r"source is None: give a SyntheticBank"):
            recipe.wrap(train, transform=transform, ratio=0.25)
    assert recipe.wrap(train) is train


def test_a_tuned_recipe_trains_a_user_model(tuned):
    recipe = load_recipe(tuned.out_dir)
    best = tuned.candidate()
    assert recipe.path == (tuned.out_dir / "recipe.yaml").resolve()
    assert recipe.source == Path(best["bank"]) and recipe.ratio == best["ratio"] == 0.75
    assert (recipe.soft_labels, recipe.synthetic_weight, recipe.return_flag) == (0.5, 1.0, True)
    assert recipe.teacher == (tuned.out_dir / "reference.safetensors").resolve()
    # mix.yaml holds the same mix, for Hydra configs that compose it themselves.
    with pytest.warns(UserWarning, match="holds the mix only.*recipe.yaml has its loss"):
        mix_only = load_recipe(tuned.mix_path)
    assert (mix_only.source, mix_only.ratio, mix_only.return_flag) == (recipe.source, 0.75, True)

    train, _ = train_val_split(load_digits("train"), 0.2, 0)
    mix = recipe.wrap(train, transform=_to_input)
    criterion = recipe.loss()
    assert isinstance(mix, SyntheticMix) and mix.return_flag and mix.ratio == 0.75
    assert isinstance(criterion, SyntheticAwareLoss) and criterion.soft_labels == 0.5
    teacher = criterion.teacher
    assert isinstance(teacher, SmallCNN) and not teacher.training
    stored = load_file(str(recipe.teacher))
    assert all(torch.equal(v, stored[k]) for k, v in teacher.state_dict().items())

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    x, y, is_synthetic = next(iter(DataLoader(mix, batch_size=64, shuffle=True)))
    assert is_synthetic.any() and not is_synthetic.all()
    loss = criterion(model(x), y, is_synthetic, x)
    # Soft labels change the synthetic items' targets: not plain cross-entropy.
    assert not torch.isclose(loss, torch.nn.functional.cross_entropy(model(x), y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(RecipeError, match="return_flag"):
        recipe.wrap(train, return_flag=False)


def test_a_moved_tune_directory_still_loads(tuned, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(tuned.out_dir, moved, ignore=shutil.ignore_patterns("units"))
    recipe = load_recipe(moved / "recipe.yaml")
    assert recipe.source == (moved / "banks" / "gen" / "unfiltered").resolve()
    assert recipe.teacher == (moved / "reference.safetensors").resolve()


def test_a_source_that_changed_since_the_tune_is_refused(tuned, tmp_path):
    # A bank regenerated (or a generator retrained) in the same place: the recipe mixed in images the tune
    # never measured, without a word.
    import yaml

    from ganaug.mix.recipe import source_content_id

    moved = tmp_path / "moved"
    shutil.copytree(tuned.out_dir, moved, ignore=shutil.ignore_patterns("units"))
    doc = yaml.safe_load((moved / "recipe.yaml").read_text())
    bank = moved / doc["source"]
    assert doc["source_id"] == source_content_id(bank) and load_recipe(moved).source == bank.resolve()
    ganaug.SyntheticBank.generate(tuned.candidate()["generator"], 400, bank, seed=7, progress=False)
    with pytest.raises(RecipeError, match=r"is not what ganaug-tune measured this recipe with .*rerun ganaug-tune"):
        load_recipe(moved)
    doc["source_id"] = None  # the user's way to take it anyway (left out, it reads as a file cut short)
    (moved / "recipe.yaml").write_text(yaml.safe_dump(doc))
    assert load_recipe(moved).source == bank.resolve()
    # The same for a generator drawn from on the fly: its weights are its identity.
    gen = _export(tmp_path / "gen")
    recipe = _write(tmp_path / "gen_recipe.yaml", f"source: {gen}\nratio: 0.25\nsource_id: {source_content_id(gen)}\n")
    assert load_recipe(recipe).source == Path(gen).resolve()
    _export(tmp_path / "gen", seed=1)
    with pytest.raises(RecipeError, match="is not what ganaug-tune measured"):
        load_recipe(recipe)


def test_a_resnet_teacher_loads_as_one_and_an_old_recipe_means_the_cnn(tuned, tmp_path):
    from safetensors.torch import save_file

    from ganaug.classify.classifier import SmallResNet

    shutil.copytree(Path(tuned.candidate()["bank"]), tmp_path / "bank")
    resnet = SmallResNet(10, 1, (8, 8), width=8)
    save_file({k: v.contiguous() for k, v in resnet.state_dict().items()}, str(tmp_path / "t.safetensors"))
    head = "source: bank\nratio: 0.5\nsoft_labels: 0.5\n"
    entry = "teacher: {file: t.safetensors, arch: resnet, width: 8, num_classes: 10, image_shape: [8, 8, 1]}\n"
    teacher = load_recipe(_write(tmp_path / "recipe.yaml", head + entry)).loss().teacher
    assert isinstance(teacher, SmallResNet)
    assert all(torch.equal(v, resnet.state_dict()[k]) for k, v in teacher.state_dict().items())
    # Without arch (recipes written before the second classifier) the teacher is a SmallCNN.
    _write(tmp_path / "recipe.yaml", head + entry.replace("arch: resnet, ", ""))
    with pytest.raises(RecipeError, match=r"is not the weights of SmallCNN\(width=8"):
        load_recipe(tmp_path).loss()
    _write(tmp_path / "recipe.yaml", head + entry.replace("resnet", "vit"))
    with pytest.raises(RecipeError, match="teacher.arch"):
        load_recipe(tmp_path)


def test_a_confidence_weighted_recipe_gives_that_loss_with_its_teacher(tuned, tmp_path):
    shutil.copytree(Path(tuned.candidate()["bank"]), tmp_path / "bank")
    shutil.copy(tuned.out_dir / "reference.safetensors", tmp_path / "t.safetensors")
    width = tuned.settings["width"]
    entry = f"teacher: {{file: t.safetensors, width: {width}, num_classes: 10, image_shape: [8, 8, 1]}}\n"
    recipe = load_recipe(_write(tmp_path / "recipe.yaml", "source: bank\nratio: 0.5\nconfidence_weight: true\n" + entry))
    assert recipe.needs_flag
    loss = recipe.loss()
    assert loss.confidence_weight and loss.teacher is not None and loss.soft_labels == 0
    with pytest.raises(RecipeError, match="confidence_weight needs a teacher"):
        load_recipe(_write(tmp_path / "recipe.yaml", "source: bank\nratio: 0.5\nconfidence_weight: true\n"))
    with pytest.raises(RecipeError, match="confidence_weight"):
        load_recipe(_write(tmp_path / "recipe.yaml", "source: bank\nratio: 0.5\nconfidence_weight: 0.5\n" + entry))


# ------------------------------------------------------------------------------ complete or refused (issue 42.5)


def test_a_tune_directory_without_recipe_yaml_is_refused_not_loaded_from_mix_yaml(tuned, tmp_path):
    # Before: mix.yaml loaded ratio 0.75 with plain cross-entropy, dropping the teacher and soft labels.
    out = tmp_path / "tune"
    shutil.copytree(tuned.out_dir, out)
    (out / "recipe.yaml").unlink()
    with pytest.raises(RecipeError, match="has mix.yaml but no recipe.yaml.*rerun ganaug-tune.*mix.yaml itself"):
        load_recipe(out)


@pytest.mark.parametrize("cut_after", ["ratio:", "return_flag:", "teacher:"])
def test_a_recipe_yaml_cut_short_is_refused(tuned, tmp_path, cut_after):
    # Before: cut after ratio, it loaded with defaults and no source_id, so no source check.
    out = tmp_path / "tune"
    shutil.copytree(tuned.out_dir, out)
    text = (out / "recipe.yaml").read_text()
    lines = text.splitlines(keepends=True)
    keep = next(i for i, line in enumerate(lines) if line.startswith(cut_after))
    (out / "recipe.yaml").write_text("".join(lines[:keep + 1]).replace("ratio:\n", "ratio: 0.75\n")
                                     .replace("teacher:\n", ""))
    with pytest.raises(RecipeError, match="lacks .*which ganaug-tune writes.*rerun ganaug-tune"):
        load_recipe(out)


def test_a_hand_written_recipe_may_leave_settings_at_their_defaults(tuned, tmp_path):
    bank = Path(tuned.candidate()["bank"])
    shutil.copytree(bank, tmp_path / "bank")
    recipe = load_recipe(_write(tmp_path / "recipe.yaml", "source: bank\nratio: 0.25\n"))
    assert recipe.ratio == 0.25 and recipe.soft_labels == 0.0


@pytest.mark.parametrize("damage", ["etc", "no bank.json"])
def test_a_source_that_is_no_bank_is_named_as_such_not_as_changed(tuned, tmp_path, damage):
    import yaml

    moved = tmp_path / "moved"
    shutil.copytree(tuned.out_dir, moved, ignore=shutil.ignore_patterns("units"))
    doc = yaml.safe_load((moved / "recipe.yaml").read_text())
    if damage == "etc":
        doc["source"] = "/etc"
        (moved / "recipe.yaml").write_text(yaml.safe_dump(doc))
    else:
        (moved / doc["source"] / "bank.json").unlink()
    with pytest.raises(RecipeError, match="is not a synthetic bank or an exported generator"):
        load_recipe(moved)


def test_any_measured_candidate_loads_by_name_and_a_name_is_not_a_path(tuned, tmp_path):
    # Issue 43: a runner-up could not be tried without editing YAML.
    moved = tmp_path / "moved"
    shutil.copytree(tuned.out_dir, moved)
    for c in tuned.candidates:
        recipe = load_recipe(moved, candidate=c["name"])
        assert recipe.ratio == c["ratio"]
        if c["ratio"]:
            assert recipe.source == (moved / Path(c["bank"]).relative_to(tuned.out_dir)).resolve()
            assert recipe.teacher == (moved / "reference.safetensors").resolve()
    with pytest.raises(RecipeError, match=r"no measured candidate '\.\./\.\./etc/passwd'.*its candidates: \['"):
        load_recipe(moved, candidate="../../etc/passwd")


def test_the_loss_takes_the_users_normalisation_once(tuned):
    # Issue 43: the teacher's input scale had to be converted by hand in the loop.
    import albumentations as A
    from albumentations.pytorch import ToTensorV2

    recipe = load_recipe(tuned.out_dir)
    train, _ = train_val_split(load_digits("train"), 0.2, 0)
    images = train.images[:32]
    ours = torch.stack([A.Compose([A.Normalize(mean=0.5, std=0.5), ToTensorV2()])(image=i)["image"] for i in images])
    theirs = torch.stack([A.Compose([A.Normalize(mean=0.1307, std=0.3081), ToTensorV2()])(image=i)["image"]
                          for i in images])
    logits, y, syn = torch.randn(32, 10), torch.as_tensor(train.labels[:32]), torch.ones(32, dtype=torch.bool)
    expected = recipe.loss()(logits, y, syn, ours)
    got = recipe.loss(input_norm=(0.1307, 0.3081))(logits, y, syn, theirs)
    assert torch.allclose(got, expected, atol=1e-5)
    with pytest.raises(GanaugError, match="takes images in"):  # that scale, unannounced, is refused
        recipe.loss()(logits, y, syn, theirs)


@pytest.mark.parametrize("input_norm, why", [
    (0.5, "got 0.5"), ((0.5,), r"got \(0\.5,\)"), ((0.5, 0.5, 0.5), "got"), (("a", "b"), "got 'a', 'b'"),
    ((0.5, float("inf")), "got 0.5, inf"), (((0.5,) * 3, (0.5,) * 3), "3 and 3 values for a teacher of 1 channel"),
])
def test_an_input_norm_that_is_no_mean_and_std_for_the_teacher_is_named(tuned, input_norm, why):
    # Python's "Value after * must be an iterable", a NormalizedInputs argument count, torch's "invalid data type
    # 'str'"; std inf passed and the teacher was said to take images in [-0, 0]; three channels for a one-channel
    # teacher met the classifier's shape check at the first batch.
    with pytest.raises(GanaugError, match=r"input_norm must be \(mean, std\).*" + why):
        load_recipe(tuned.out_dir).loss(input_norm=input_norm)


def test_an_input_norm_from_a_hydra_config_or_an_array_is_taken_as_a_tuple_is(tuned):
    # The (mean, std) check took only a tuple or a list: the same pair from a Hydra config (a ListConfig) or as a
    # numpy array of two rows, taken before it, was refused as no (mean, std).
    from omegaconf import OmegaConf

    recipe = load_recipe(tuned.out_dir)
    x = (torch.rand(8, 1, 8, 8) - 0.25) / 0.5  # images in [0, 1] under that normalisation
    logits, y, syn = torch.randn(8, 10), torch.arange(8) % 10, torch.ones(8, dtype=torch.bool)
    expected = recipe.loss(input_norm=((0.25,), (0.5,)))(logits, y, syn, x)
    for input_norm in (OmegaConf.create({"norm": [[0.25], [0.5]]}).norm, np.array([[0.25], [0.5]]),
                       (np.float32(0.25), np.float32(0.5))):
        assert torch.allclose(recipe.loss(input_norm=input_norm)(logits, y, syn, x), expected)


def test_a_half_precision_teacher_loads_as_it_did_before_its_header_was_checked(tmp_path):
    # The header check compared float types too: a teacher saved in F16, which load_state_dict casts, was refused.
    import torch
    from safetensors.torch import save_file

    _small_bank(tmp_path)
    net = SmallCNN(10, 1, (8, 8), width=8)
    save_file({k: v.half().contiguous() if v.is_floating_point() else v.contiguous()
               for k, v in net.state_dict().items()}, str(tmp_path / "t.safetensors"))
    teacher = load_recipe(_teacher_recipe(tmp_path, width=8)).load_teacher()
    w = next(iter(teacher.state_dict().values()))
    assert w.dtype == torch.float32
    assert torch.equal(w, next(iter(net.state_dict().values())).half().float())

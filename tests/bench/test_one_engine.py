"""ganaug-tune and ganaug-bench are one engine: the same run on the same data is one fingerprint, one score."""

import numpy as np
import pytest
import torch
from ganaug.eval import engine
from ganaug import TuneSettings, tune_mix
from ganaug.bench.runner import run_benchmark
from ganaug.eval.store import UnitStore
from ganaug.errors import ConfigError
from _scripts import load_script

pytestmark = pytest.mark.filterwarnings("ignore:the bank is smaller than one epoch")


def _agreement():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "agreement.py"
    module = load_script(path, "agreement")
    return module


def test_ganaug_tune_on_a_regimes_data_agrees_with_the_benchmark_run_for_run(compose_cfg, tmp_path, tiny):
    # The check benchmarks/agreement.py makes of the n100 regime, on the toy benchmark: ganaug-tune's
    # run_tune with the regime's data options, the benchmark's generator and settings, with and
    # without classical augmentation.
    overrides = tiny + [f"bench.out_dir={tmp_path / 'bench'}"]
    run_benchmark(compose_cfg("bench", overrides))
    res = _agreement().compare(overrides, "n30", tmp_path / "tune")
    assert {p["condition"] for p in res["pairs"]} == {"real", "syn0.5", "syn0.5-filt", "classical",
                                                       "classical+syn0.5"}
    assert len(res["pairs"]) == 5 * 2 and res["agree"], [p for p in res["pairs"] if not p["agree"]]
    assert all(p["tune_fingerprint"] == p["bench_fingerprint"] for p in res["pairs"])
    assert res["tune_commands"][1].startswith("ganaug-tune data=digits data.n_per_class=30")
    # One classifier seed: its runs only (tune's stored runs are reused, not retrained).
    one = _agreement().compare(overrides, "n30", tmp_path / "tune", seeds=[1])
    assert one["agree"] and len(one["pairs"]) == 5 and {p["clf_seed"] for p in one["pairs"]} == {1}
    assert all("tune.seeds=[1]" in c for c in one["tune_commands"])


def test_classifier_runs_go_to_cuda_when_present(monkeypatch):
    from ganaug.data import load_digits

    train = load_digits("train")
    seen = []
    real = engine.train_classifier_on_loader

    def spy(*args, **kwargs):
        seen.append(kwargs["device"])
        kwargs["device"] = "cpu"  # this machine has no GPU: record the choice, train where it can
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "train_classifier_on_loader", spy)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    clf = engine.ClassifierSettings(steps=2, batch_size=16, width=4)
    model = engine.train_run(train, clf, seed=0)
    assert seen == [torch.device("cuda")] and next(model.parameters()).device.type == "cpu"
    assert engine.resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert engine.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="^classifier.device=cuda but torch sees no CUDA device here; use "
                                          "device=auto or device=cpu"):
        engine.ClassifierSettings(device="cuda")


@pytest.mark.parametrize("make, match", [
    (lambda: engine.ClassifierSettings(steps=0), "steps must be a positive integer"),
    (lambda: engine.ClassifierSettings(lr_schedule="step"), "lr_schedule must be one of"),
    (lambda: engine.ClassifierSettings(precision="8-bit"), "precision must be one of"),
    (lambda: engine.ClassifierSettings(arch="vit"), r"arch must be one of \['resnet', 'smallcnn'\]"),
    (lambda: engine.BankSettings(filter_threshold=1.5), r"filter_threshold must lie in \[0, 1\]"),
    (lambda: engine.SyntheticUse(0.99), r"ratios must lie in \[0, 0.95\]"),
    (lambda: engine.SyntheticUse(0.5, confidence_weight="yes"), "synthetic_confidence_weight must be true or false"),
])
def test_settings_objects_refuse_bad_values_by_name(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_a_setting_that_cannot_shape_a_step_leaves_its_fingerprint_alone():
    # Filter settings shape only filtered banks; the device, no result at all.
    plain = engine.BankSettings()
    assert engine.fingerprint("bank", plain) == engine.fingerprint("bank", engine.BankSettings(filter_fallback="unfiltered"))
    assert engine.fingerprint("bank", engine.BankSettings(filter_threshold=0.9)) != engine.fingerprint(
        "bank", engine.BankSettings(filter_threshold=0.9, filter_fallback="unfiltered"))
    assert engine.ClassifierSettings(device="cpu").key() == engine.ClassifierSettings().key()
    assert engine.fingerprint("run", engine.ClassifierSettings(steps=10)) != engine.fingerprint(
        "run", engine.ClassifierSettings(steps=11))
    assert engine.fingerprint("run", engine.ClassifierSettings()) != engine.fingerprint(
        "run", engine.ClassifierSettings(arch="resnet"))
    # Confidence weights, like soft labels, need a teacher: whose classifier it is then shapes the run.
    weighted = engine.SyntheticUse(0.5, confidence_weight=True)
    assert weighted.needs_teacher and weighted.needs_flag and "teacher" in weighted.key()
    assert "teacher" not in engine.SyntheticUse(0.5).key()
    assert weighted.key()["teacher"] == "reference"


def test_the_second_classifier_runs_through_the_engine_and_comes_back_from_disk(tmp_path):
    from ganaug.classify.classifier import SmallResNet
    from ganaug.data import load_digits

    train = load_digits("train")
    clf = engine.ClassifierSettings(steps=3, batch_size=16, width=8, arch="resnet", device="cpu")
    model = engine.train_run(train, clf, seed=0)
    assert isinstance(model, SmallResNet)
    back = engine.load_classifier(engine.save_classifier(model, tmp_path / "m.safetensors"), train, clf)
    assert isinstance(back, SmallResNet)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in back.state_dict().items())


def test_tune_draws_each_banks_noise_from_the_gans_recorded_seed(tmp_path):
    from ganaug import export_generator
    from ganaug.data import load_digits, train_val_split
    from ganaug.gan.nets import Generator
    from ganaug.gan.sampling import TrainedGenerator

    torch.manual_seed(0)
    net = Generator(10, 8, 1, z_dim=16, width=8)
    gen = export_generator(TrainedGenerator(net, [str(i) for i in range(10)]), tmp_path / "g", extra={"seed": 3})
    train, val = train_val_split(load_digits("train"), 0.2, 0)
    tune_mix(gen, train, val, TuneSettings(ratios=[0.5], filter_thresholds=[None, 0.0], seeds=[0], steps=2,
                                           batch_size=16, width=4, bank_size=100), out_dir=tmp_path / "t", progress=False)
    store = UnitStore(tmp_path / "t" / "units")
    # As the benchmark draws the banks of its GAN seed 3: the unfiltered from 3, the filtered from 1003.
    assert store.get("banks/g/unfiltered")["seed"] == 3 and store.get("banks/g/filt0")["seed"] == 1003


def test_a_bad_setting_fails_before_any_gan_trains(compose_cfg, tmp_path, tiny):
    for override, match in (("bench.ratios=[0.99]", r"bench.ratios must lie in \(0, 0.95\]"),
                            ("bench.classifier.precision=8-bit", "bench.classifier.precision must be one of"),
                            ("bench.synthetic_soft_labels=1.5", r"bench.synthetic_soft_labels must lie in \[0, 1\]")):
        with pytest.raises(ConfigError, match=match):
            run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", override]))
        assert not (tmp_path / "units").exists()


def test_a_run_draws_its_synthetic_items_from_a_bank_and_refuses_a_generator(tmp_path, monkeypatch):
    # Items made on the fly lost on validation (ablation.md): a run handed a generator would measure them silently.
    from ganaug import SyntheticBank, export_generator
    from ganaug.data import load_digits
    from ganaug.gan.nets import Generator
    from ganaug.gan.sampling import TrainedGenerator

    torch.manual_seed(0)
    gen = export_generator(TrainedGenerator(Generator(10, 8, 1, z_dim=16, width=8), [str(i) for i in range(10)]),
                           tmp_path / "g")
    SyntheticBank.generate(gen, 50, tmp_path / "bank", class_policy="uniform", progress=False)
    train = load_digits("train")
    loaders = []
    monkeypatch.setattr(engine, "train_classifier_on_loader",
                        lambda batches, *a, **k: loaders.append(batches) or torch.nn.Linear(1, 1))
    clf = engine.ClassifierSettings(steps=2, batch_size=16, width=4)
    engine.train_run(train, clf, seed=0, source=tmp_path / "bank", use=engine.SyntheticUse(0.5))
    mix = loaders.pop().dataset
    from_bank = np.stack([np.asarray(mix[int(i)][0]) for i in mix.layout.synthetic_indices()])
    assert mix.source.kind == "bank" and len(from_bank) > 50
    assert len(np.unique(from_bank.reshape(len(from_bank), -1), axis=0)) <= 50
    with pytest.raises(ConfigError, match="given a generator: pass the bank's directory"):
        engine.train_run(train, clf, seed=0, source=tmp_path / "g", use=engine.SyntheticUse(0.5))
    assert not loaders
    # Stored runs from banks keep their fingerprints: the lever's key was never in them.
    assert "source" not in engine.SyntheticUse(0.5).key()

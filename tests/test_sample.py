import os
import re
import tracemalloc

import numpy as np
import pytest
import torch

from ganaug import ConfigError, GanaugError, Generator, SyntheticBank, export_generator, load_generator
from ganaug.cli.sample import sample


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    torch.manual_seed(0)
    net = Generator(10, 8, 1, z_dim=16, width=8)
    return export_generator(net, tmp_path_factory.mktemp("gen") / "gen", class_names=[str(k) for k in range(10)])


def _cfg(compose_cfg, artifact, out, *extra):
    return compose_cfg("sample", [f"generator={artifact}", "n_per_class=3", f"out={out}", *extra])


def test_sample_writes_npz_and_grid(compose_cfg, artifact, tmp_path):
    result = sample(_cfg(compose_cfg, artifact, tmp_path))
    with np.load(result["samples"]) as npz:
        assert npz["images"].shape == (30, 8, 8, 1) and npz["images"].dtype == np.uint8
        assert np.bincount(npz["labels"]).tolist() == [3] * 10
    assert (tmp_path / "grid.png").is_file() and result["n"] == 30
    assert "bank" not in result and not (tmp_path / "bank").exists()


@pytest.mark.parametrize("names", [[str(k) for k in range(10)],
                                   # made alike for the file system: one png/a_b/ folder held both classes
                                   ["a b", "a_b", "Cat", "cat", *"efghij"],
                                   # "..": its PNGs went to out/ itself; ".": to png/; ".e": a hidden folder, which
                                   # an image folder reader skips
                                   ["..", ".", "_", "__", ".e", *"fghij"]])
def test_png_folders_read_back_as_the_same_classes_and_images(compose_cfg, tmp_path, names):
    from ganaug.data import load_image_folder

    torch.manual_seed(0)
    gen = export_generator(Generator(10, 8, 1, z_dim=16, width=8), tmp_path / "gen", class_names=names)
    result = sample(_cfg(compose_cfg, gen, tmp_path / "out", "png=true"))
    back = load_image_folder(tmp_path / "out" / "png", channels=1)
    with np.load(result["samples"]) as npz:
        images, labels = npz["images"], npz["labels"]
    assert back.num_classes == 10 and np.bincount(back.labels).tolist() == [3] * 10
    pngs = [p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.png")]
    assert all(p.parts[0] == "png" and len(p.parts) == 3 for p in pngs if p.name != "grid.png")
    assert len(pngs) == 31
    # each folder holds exactly the images of one class, and of a different class than every other folder
    matches = [[c for c in range(10) if np.array_equal(back.images[back.labels == k], images[labels == c])]
               for k in range(10)]
    assert sorted(sum(matches, [])) == list(range(10)), dict(zip(back.class_names, matches))


def test_sample_writes_a_bank(compose_cfg, artifact, tmp_path):
    result = sample(_cfg(compose_cfg, artifact, tmp_path, "bank.enabled=true", "bank.size=40", "truncation=1.0"))
    bank = SyntheticBank.open(result["bank"], expect_num_classes=10, expect_image_shape=(8, 8, 1))
    assert len(bank) == 40 and bank.class_counts().tolist() == [4] * 10
    assert bank.meta["truncation"] == 1.0 and result["acceptance"] is None


def test_a_bank_in_out_itself_is_refused_before_sampling(compose_cfg, artifact, tmp_path):
    # ganaug-sample holds out while it writes, and the bank would hold it too: name it, not "in use".
    with pytest.raises(ConfigError, match=r"bank.path is out itself .*its own directory, e.g. the default"):
        sample(_cfg(compose_cfg, artifact, tmp_path, "bank.enabled=true", "bank.size=40", f"bank.path={tmp_path}"))
    assert not (tmp_path / "samples.npz").exists()


@pytest.mark.parametrize("progress", [True, False])
def test_the_bank_shows_a_progress_bar_unless_asked_not_to(compose_cfg, artifact, tmp_path, capsys, progress):
    # a 50,000-image filtered bank takes minutes: the brief's bar on anything long
    sample(_cfg(compose_cfg, artifact, tmp_path, "bank.enabled=true", "bank.size=40", f"progress={progress}"))
    assert bool(re.search(r"bank: +\d+%", capsys.readouterr().err)) == progress  # tqdm's "bank: 100%|..."


def test_sample_bank_with_filter_and_match_policy(compose_cfg, artifact, tmp_path):
    cfg = _cfg(
        compose_cfg, artifact, tmp_path, "bank.enabled=true", "bank.size=100", "bank.dataset=digits",
        "bank.class_policy=match", "bank.filter_threshold=0.0", "bank.filter_steps=3",
    )
    result = sample(cfg)
    bank = SyntheticBank.open(result["bank"])
    assert len(bank) == 100 and bank.class_counts().min() >= 9
    assert set(result["acceptance"]) == {str(k) for k in range(10)}
    assert all(r["rate"] == 1.0 for r in result["acceptance"].values())


def test_sample_bank_filter_fallback_lets_a_rejected_class_through(compose_cfg, artifact, tmp_path):
    base = ["bank.enabled=true", "bank.size=50", "bank.dataset=digits", "bank.filter_threshold=1.0",
            "bank.filter_steps=3"]
    with pytest.raises(GanaugError, match="accepts almost nothing"):
        sample(_cfg(compose_cfg, artifact, tmp_path / "a", *base))
    with pytest.warns(UserWarning, match="pass unfiltered"):
        result = sample(_cfg(compose_cfg, artifact, tmp_path / "b", *base, "bank.filter_fallback=unfiltered"))
    assert len(SyntheticBank.open(result["bank"])) == 50
    assert all(r.get("unfiltered") for r in result["acceptance"].values())


def test_sample_bank_filter_class_quantile_calibrates_on_held_out_real_images(compose_cfg, artifact, tmp_path,
                                                                              monkeypatch):
    from ganaug.data import load_digits
    from ganaug.mix.filter import QualityFilter

    seen = {}
    fit, calibrate = QualityFilter.from_real.__func__, QualityFilter.calibrate

    def spy_fit(cls, images, *args, **kwargs):
        seen["fit"] = images
        return fit(cls, images, *args, **kwargs)

    def spy_calibrate(self, images, *args, **kwargs):
        seen["held"] = images
        return calibrate(self, images, *args, **kwargs)

    monkeypatch.setattr(QualityFilter, "from_real", classmethod(spy_fit))
    monkeypatch.setattr(QualityFilter, "calibrate", spy_calibrate)
    base = ["bank.enabled=true", "bank.size=50", "bank.dataset=digits", "bank.filter_threshold=1.0",
            "bank.filter_steps=30", "bank.filter_fallback=unfiltered"]
    with pytest.warns(UserWarning, match="pass unfiltered"):  # the generator is untrained
        result = sample(_cfg(compose_cfg, artifact, tmp_path / "a", *base, "bank.filter_class_quantile=0.5"))
    real = load_digits("train").images
    assert len(seen["fit"]) + len(seen["held"]) == len(real) and 0.15 < len(seen["held"]) / len(real) < 0.25
    # Disjoint: the calibration images are not among those the filter's classifier trained on.
    fit_rows = {img.tobytes() for img in seen["fit"]}
    assert sum(img.tobytes() in fit_rows for img in seen["held"]) < 0.05 * len(seen["held"])  # digits has duplicates
    thresholds = np.array(list(SyntheticBank.open(result["bank"]).meta["filter"]["class_thresholds"].values()))
    # Threshold 1.0 lowered, class by class, to the median confidence in held-out real images of the class.
    assert len(thresholds) == 10 and np.all(thresholds < 1.0) and len(np.unique(thresholds)) > 1
    with pytest.raises(ValueError, match=r"bank.filter_class_quantile must lie in \[0, 1\]"):
        sample(_cfg(compose_cfg, artifact, tmp_path / "b", *base, "bank.filter_class_quantile=2"))
    with pytest.raises(ValueError, match=r"bank.calibration_fraction must lie in \(0, 1\)"):
        sample(_cfg(compose_cfg, artifact, tmp_path / "c", *base, "bank.filter_class_quantile=0.5",
                    "bank.calibration_fraction=0"))


def test_sample_bank_policy_needs_dataset(compose_cfg, artifact, tmp_path):
    with pytest.raises(ValueError, match="bank.dataset"):
        sample(_cfg(compose_cfg, artifact, tmp_path, "bank.enabled=true", "bank.class_policy=balance"))
    with pytest.raises(ValueError, match="bank.dataset"):
        sample(_cfg(compose_cfg, artifact, tmp_path, "bank.enabled=true", "bank.filter_threshold=0.5"))


@pytest.mark.parametrize(
    "overrides, message",
    [(["bank.class_policy=[1,2]"], r"bank.class_policy.*2 entries, one per class is needed \(10\)"),
     (["bank.class_policy=most"], r"bank.class_policy.*unknown class_policy 'most'"),
     (["bank.class_policy={11: 1.0}"], r"bank.class_policy"),
     (["bank.class_policy=match"], "bank.dataset"),
     (["bank.dataset=digits", "bank.filter_threshold=0.5", "bank.filter_class_quantile=2"],
      "bank.filter_class_quantile"),
     (["bank.dataset=no_such_set"], "no_such_set"),
     # A typo, and the split the bank always reads: TypeErrors naming load_digits or load_dataset before.
     (["bank.dataset=digits", "+bank.dataset_kwargs.splt=train"], r"'digits' takes no keyword 'splt'"),
     (["bank.dataset=digits", "+bank.dataset_kwargs.split=test"], r"bank.dataset_kwargs.split.*train split"),
     # The CLI probe: samples.npz and grid.png written, then exit 2 (or a traceback, or a bank thrown away).
     (["bank.path="], r"bank.path is empty"),
     (["bank.path=null"], r"bank.path is empty"),
     (["bank.filter_fallback=foo"], r"bank.filter_fallback must be one of"),
     (["bank.dataset=digits", "bank.filter_threshold=0.9", "bank.filter_class_quantile=0.5",
       "bank.calibration_fraction=abc"], r"bank.calibration_fraction must lie in \(0, 1\)"),
     (["bank.dataset=digits", "bank.dataset_kwargs=abc"], r"bank.dataset_kwargs must be a mapping")],
)
def test_a_bad_bank_setting_is_refused_before_the_samples_are_drawn(compose_cfg, artifact, tmp_path, overrides,
                                                                    message):
    with pytest.raises(GanaugError, match=message):
        sample(_cfg(compose_cfg, artifact, tmp_path, "bank.enabled=true", *overrides))
    assert not (tmp_path / "samples.npz").exists()


@pytest.mark.parametrize(
    "setting, value",
    [("batch_size", 0), ("batch_size", -5), ("n_per_class", 0), ("grid_per_class", -1), ("bank.size", 0),
     ("bank.filter_steps", 0), ("truncation", 0), ("truncation", -1.0), ("seed", -1), ("batch_size", 2.5)],
)
def test_bad_numeric_settings_name_the_setting(compose_cfg, artifact, tmp_path, setting, value):
    overrides = [f"{setting}={value}"] + (["bank.enabled=true"] if setting.startswith("bank.") else [])
    with pytest.raises(GanaugError, match=rf"{setting} must be .*got {value}") as e:
        sample(_cfg(compose_cfg, artifact, tmp_path, *overrides))
    assert isinstance(e.value, ValueError)
    assert not (tmp_path / "samples.npz").exists()  # refused before anything is written


@pytest.mark.parametrize("flag", ["png", "progress", "bank.enabled"])
def test_a_flag_that_is_not_true_or_false_is_named(compose_cfg, artifact, tmp_path, flag):
    # any string counted as true: png=no wrote the PNGs
    with pytest.raises(GanaugError, match=rf"{flag} must be true or false, got 'no'"):
        sample(_cfg(compose_cfg, artifact, tmp_path, f"{flag}=no"))
    assert not (tmp_path / "samples.npz").exists()


def test_a_device_torch_lacks_is_a_message_and_auto_falls_back(compose_cfg, artifact, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(GanaugError, match="device=cuda but torch sees no CUDA device here; use device=auto or device=cpu"):
        sample(_cfg(compose_cfg, artifact, tmp_path, "device=cuda"))
    assert not (tmp_path / "samples.npz").exists()
    assert sample(_cfg(compose_cfg, artifact, tmp_path, "device=auto"))["n"] == 30


def test_a_link_planted_at_the_bank_is_refused_before_the_samples_are_written(compose_cfg, artifact, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "bank").symlink_to(victim)
    with pytest.raises(GanaugError, match=r"bank is a symbolic link"):
        sample(_cfg(compose_cfg, artifact, out, "bank.enabled=true"))
    assert sorted(os.listdir(out)) == [".ganaug.lock", "bank"] and not os.listdir(victim)


def test_unwritable_output_names_the_path(compose_cfg, artifact, tmp_path):
    (tmp_path / "taken").write_text("a file where the output directory should go")
    with pytest.raises(GanaugError, match=r"taken.*it comes from out=.*taken.*: set another") as e:
        sample(_cfg(compose_cfg, artifact, tmp_path / "taken" / "out"))
    assert str(tmp_path / "taken") in str(e.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_read_only_output_directory_names_the_file(compose_cfg, artifact, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(GanaugError, match=r"samples.npz.*Permission denied"):
            sample(_cfg(compose_cfg, artifact, out))
    finally:
        out.chmod(0o755)


def test_bank_path_that_is_a_file_is_a_clear_error(compose_cfg, artifact, tmp_path):
    (tmp_path / "bankfile").write_text("x")
    with pytest.raises(GanaugError, match=r"bankfile is a file.*bank.path="):
        sample(_cfg(compose_cfg, artifact, tmp_path, "bank.enabled=true", f"bank.path={tmp_path / 'bankfile'}"))


@pytest.mark.parametrize("overrides, match", [
    (["n_per_class=1000000000"], r"n_per_class=1,000,000,000 needs [0-9.]+ TB of memory, but .* is free: lower "
                                 r"n_per_class \(a bank is written to disk"),
    (["bank.enabled=true", "bank.size=100000000000", "bank.class_policy=uniform"],
     r"bank.size=100,000,000,000 needs [0-9.]+ [GT]B of (memory|disk space at .*bank), but .* is free: lower bank.size"),
])
def test_a_sample_larger_than_the_machine_is_refused_before_it_is_drawn(compose_cfg, artifact, tmp_path,
                                                                       overrides, match):
    # An extra zero typed into a count: the allocator's traceback (or a job killed minutes in) before this.
    tracemalloc.start()
    try:
        with pytest.raises(GanaugError, match=match):
            sample(_cfg(compose_cfg, artifact, tmp_path / "out", f"bank.path={tmp_path / 'bank'}", *overrides))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100e6 and not (tmp_path / "out" / "samples.npz").exists() and not (tmp_path / "bank").exists()


def test_a_bank_the_disk_cannot_hold_is_refused_by_the_library_too(artifact, tmp_path, monkeypatch):
    import shutil

    gen = load_generator(artifact)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 5000, 5000))
    with pytest.raises(GanaugError, match=r"size=1,000 needs 72.0 KB of disk space at .*b, but 5.0 KB is free"):
        SyntheticBank.generate(gen, 1000, tmp_path / "b")
    assert not (tmp_path / "b").exists()
    with pytest.raises(GanaugError, match=r"size=10,000,000,000,000 needs .* of memory.*or give the bank a path"):
        SyntheticBank.generate(gen, 10**13, None)
    assert len(SyntheticBank.generate(gen, 50, tmp_path / "small")) == 50  # what fits is not second-guessed


def test_an_existing_bank_is_refused_unless_overwrite_is_set(compose_cfg, artifact, tmp_path):
    # Replacing a bank in place silently is how a tune's scores came to stand on other images (issue 42.3, 42.4).
    bank_args = ("bank.enabled=true", "bank.size=40")
    first = sample(_cfg(compose_cfg, artifact, tmp_path / "a", *bank_args))
    before = SyntheticBank.open(first["bank"]).meta["digest"]
    with pytest.raises(ConfigError, match=r"a bank already exists at bank.path=.*bank.overwrite=true"):
        sample(_cfg(compose_cfg, artifact, tmp_path / "b", *bank_args, f"bank.path={first['bank']}", "seed=3"))
    assert SyntheticBank.open(first["bank"]).meta["digest"] == before
    again = sample(_cfg(compose_cfg, artifact, tmp_path / "b", *bank_args, f"bank.path={first['bank']}", "seed=3",
                        "bank.overwrite=true"))
    assert SyntheticBank.open(again["bank"]).meta["digest"] != before

import numpy as np
import pytest
import torch

from ganaug import GanaugError, Generator, SyntheticBank, export_generator
from ganaug.sample import sample


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


def test_sample_writes_a_bank(compose_cfg, artifact, tmp_path):
    result = sample(_cfg(compose_cfg, artifact, tmp_path, "bank.enabled=true", "bank.size=40", "truncation=1.0"))
    bank = SyntheticBank.open(result["bank"], expect_num_classes=10, expect_image_shape=(8, 8, 1))
    assert len(bank) == 40 and bank.class_counts().tolist() == [4] * 10
    assert bank.meta["truncation"] == 1.0 and result["acceptance"] is None


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
    from ganaug.filter import QualityFilter

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

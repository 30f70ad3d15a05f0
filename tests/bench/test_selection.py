import pytest
from omegaconf import OmegaConf

from ganaug.bench.runner import run_benchmark
from ganaug.bench.selection import SelectionError, candidate_steps, check_settings, choose, generator_at, steps_summary
from ganaug.eval.store import UnitStore
from ganaug.errors import ConfigError

# Snapshots every 20 of the GAN's 40 updates: two candidates, g000020 and the final generator.
SNAPSHOTS = ["train.callbacks.snapshots.every_n_steps=20"]
SELECT = ["bench.select_generator.by=val_cas", "bench.select_generator.every=20",
          "bench.select_generator.samples=50"]


def test_candidate_steps_are_multiples_and_the_end():
    assert candidate_steps(3000, 1000) == [1000, 2000, 3000]
    assert candidate_steps(3000, 1000, min_step=2000) == [2000, 3000]
    assert candidate_steps(2500, 1000) == [1000, 2000, 2500]
    assert candidate_steps(500, 1000) == [500]


def test_generator_at_names_the_snapshot_or_the_final_export(tmp_path):
    final = tmp_path / "gan" / "generator"
    (tmp_path / "gan" / "snapshots" / "g001000").mkdir(parents=True)
    assert generator_at(final, 3000, 3000) == final
    assert generator_at(final, 1000, 3000) == tmp_path / "gan" / "snapshots" / "g001000"
    assert generator_at(final, 2000, 3000) is None


def test_bad_settings_are_named():
    assert check_settings(None) == "final"
    with pytest.raises(SelectionError, match="by must be one of"):
        check_settings(OmegaConf.create({"by": "fid"}))
    with pytest.raises(SelectionError, match="every must be a positive integer"):
        check_settings(OmegaConf.create({"by": "val_cas", "every": 0, "samples": 10}))
    with pytest.raises(SelectionError, match="steps must be a positive integer"):
        check_settings(OmegaConf.create({"by": "val_cas", "every": 10, "samples": 10, "steps": 0}))


def test_choose_takes_the_best_val_cas_and_the_earlier_on_a_tie():
    cands = [{"step": 1000, "val_cas": 0.6, "generator": "a"}, {"step": 2000, "val_cas": 0.7, "generator": "b"},
             {"step": 3000, "val_cas": 0.7, "generator": "c"},
             {"step": 500, "val_cas": None, "generator": None, "missing": "no snapshot g000500"}]
    got = choose("n100", 0, cands)
    assert (got["step"], got["generator"], got["val_cas"]) == (2000, "b", 0.7)
    assert [c["step"] for c in got["candidates"]] == [1000, 2000, 3000, 500]
    assert steps_summary(got["candidates"]) == "1000: 60.0, 2000: 70.0*, 3000: 70.0"
    with pytest.raises(SelectionError, match="no candidate generator could be scored: no snapshot g000500"):
        choose("n100", 0, cands[3:])


def test_benchmark_makes_banks_from_the_generator_chosen_on_val(compose_cfg, tmp_path, tiny):
    payload = run_benchmark(compose_cfg("bench", tiny + SNAPSHOTS + SELECT + [f"bench.out_dir={tmp_path}"]))
    store = UnitStore(tmp_path / "units")
    gan = store.get("n30/gan-g0")
    cands = [store.get(f"n30/select-g0/s{s:06d}") for s in (20, 40)]
    assert cands[0]["generator"].endswith("snapshots/g000020") and cands[1]["generator"] == gan["generator"]
    assert all(0.0 <= c["val_cas"] <= 1.0 and c["samples"] >= 50 for c in cands)
    chosen = store.get("n30/select-g0")
    best = max(cands, key=lambda c: (c["val_cas"], -c["step"]))
    assert chosen["step"] == best["step"] and chosen["generator"] == best["generator"]
    # The banks (hence every synthetic condition and the GAN metrics) come from that generator.
    assert store.get("n30/bank-g0")["generator"] == chosen["generator"]
    assert payload["summary"]["n30"]["generator_choice"][0]["step"] == chosen["step"]
    assert f"chosen after {chosen['step']} updates" in (tmp_path / "results.md").read_text()

    # Back to the final generator: the GAN and the real-only runs are kept, the banks redone.
    mtime = {u: (tmp_path / "units" / f"{u}.json").stat().st_mtime_ns for u in ("n30/gan-g0", "n30/real/c0",
                                                                                "n30/bank-g0")}
    run_benchmark(compose_cfg("bench", tiny + SNAPSHOTS + [f"bench.out_dir={tmp_path}"]))
    after = {u: (tmp_path / "units" / f"{u}.json").stat().st_mtime_ns for u in mtime}
    assert after["n30/gan-g0"] == mtime["n30/gan-g0"] and after["n30/real/c0"] == mtime["n30/real/c0"]
    assert after["n30/bank-g0"] != mtime["n30/bank-g0"]
    assert store.get("n30/bank-g0")["generator"] == gan["generator"]


def test_a_gan_without_snapshots_falls_back_to_its_final_generator(compose_cfg, tmp_path, tiny):
    run_benchmark(compose_cfg("bench", tiny + SELECT + ["~train.callbacks.snapshots", f"bench.out_dir={tmp_path}"]))
    store = UnitStore(tmp_path / "units")
    assert "no snapshot g000020" in store.get("n30/select-g0/s000020")["missing"]
    chosen = store.get("n30/select-g0")
    assert chosen["step"] == 40 and chosen["generator"] == store.get("n30/gan-g0")["generator"]


def test_banks_follow_the_choice_even_when_it_is_not_the_final_generator(compose_cfg, tmp_path, tiny, monkeypatch):
    from ganaug.bench import runner, selection

    def prefer_earliest(name, g, cands):
        return selection.choose(name, g, [{**c, "val_cas": 1.0 / c["step"]} for c in cands])

    monkeypatch.setattr(runner, "choose", prefer_earliest)
    run_benchmark(compose_cfg("bench", tiny + SNAPSHOTS + SELECT + [f"bench.out_dir={tmp_path}"]))
    store = UnitStore(tmp_path / "units")
    assert store.get("n30/select-g0")["step"] == 20
    assert store.get("n30/bank-g0")["generator"].endswith("snapshots/g000020")


def test_a_second_classifier_can_keep_the_first_ones_generator_choice(compose_cfg, tmp_path, tiny):
    # The ResNet runs score candidates with the small CNN (bench.select_generator.classifier), so they adopt
    # its generator choice and train on the same synthetic images; left at null, they choose their own.
    cnn = tiny + SNAPSHOTS + SELECT
    run_benchmark(compose_cfg("bench", cnn + [f"bench.out_dir={tmp_path / 'cnn'}"]))
    resnet = cnn + ["bench.classifier.arch=resnet", f"bench.reuse_from={tmp_path / 'cnn'}"]
    keep = ["bench.select_generator.classifier.arch=smallcnn", "bench.select_generator.classifier.width=8"]
    # Only the units the assertions read (and what they need): whole runs cost CI 10 s more.
    run_benchmark(compose_cfg("bench", resnet + keep + [f"bench.out_dir={tmp_path / 'kept'}",
                                                        "only=[n30/select-g0/*,n30/bank-g0,n30/reference,n30/real/c0]"]))
    run_benchmark(compose_cfg("bench", resnet + [f"bench.out_dir={tmp_path / 'own'}", "only=[n30/select-g0/*]"]))
    first, kept, own = (UnitStore(tmp_path / d / "units") for d in ("cnn", "kept", "own"))
    candidates = [f"n30/select-g0/s{s:06d}" for s in (20, 40)]
    assert all(kept.get(c).get("adopted_from") == str(tmp_path / "cnn") for c in candidates)
    assert [kept.get(c)["val_cas"] for c in candidates] == [first.get(c)["val_cas"] for c in candidates]
    assert kept.get("n30/bank-g0")["generator"] == first.get("n30/bank-g0")["generator"]
    assert not any(own.get(c).get("adopted_from") for c in candidates)
    # The classifier runs are the ResNet's own either way.
    assert kept.get("n30/real/c0").get("adopted_from") is None
    with pytest.raises(ConfigError, match="select_generator.classifier: unknown setting.*depth"):
        run_benchmark(compose_cfg("bench", cnn + ["+bench.select_generator.classifier.depth=3",
                                                   f"bench.out_dir={tmp_path / 'bad'}"]))


def _prefer_earliest(monkeypatch):
    from ganaug.bench import runner

    def prefer_earliest(name, g, cands):
        return choose(name, g, [{**c, "val_cas": 1.0 / c["step"]} for c in cands])

    monkeypatch.setattr(runner, "choose", prefer_earliest)


def test_a_directory_that_kept_only_the_chosen_generators_lends_its_gans(compose_cfg, tmp_path, tiny, monkeypatch):
    # benchmarks/keep_weights.py after issue 45's trim commits, of each GAN, only the generator its choice names
    # (here the snapshot after 20 updates): a later benchmark reusing the directory adopts the GAN, its choice and
    # its scores, and makes its banks from that generator; it trains no GAN again.
    import shutil

    _prefer_earliest(monkeypatch)
    cfg = tiny + SNAPSHOTS + SELECT
    first, second = tmp_path / "first", tmp_path / "second"
    run_benchmark(compose_cfg("bench", cfg + [f"bench.out_dir={first}", "only=[n30/gan-g0,n30/select-g0*]"]))
    chosen = UnitStore(first / "units").get("n30/select-g0")["generator"]
    assert chosen.endswith("snapshots/g000020")
    shutil.rmtree(first / "n30/gan-g0/generator")
    shutil.rmtree(first / "n30/gan-g0/checkpoints", ignore_errors=True)
    run_benchmark(compose_cfg("bench", cfg + [f"bench.out_dir={second}", f"bench.reuse_from={first}",
                                              "only=[n30/gan-g0,n30/select-g0*,n30/reference,n30/bank-g0]"]))
    mine = UnitStore(second / "units")
    assert all(mine.get(u)["adopted_from"] == str(first)
               for u in ("n30/gan-g0", "n30/select-g0", "n30/select-g0/s000020", "n30/select-g0/s000040"))
    assert not (second / "n30/gan-g0").exists()
    assert mine.get("n30/bank-g0")["generator"] == chosen


def test_the_runs_batch_mixing_leaves_the_reference_and_the_generator_choice_alone(compose_cfg, tmp_path, tiny):
    # Mixup and CutMix are the classical policy of the runs under test; the classifiers that measure (the reference,
    # the teacher of soft labels and confidence weights; the candidates' CAS; the GAN's CAS) train on plain batches,
    # so a benchmark on another policy adopts them.
    cfg = tiny + SNAPSHOTS + SELECT
    first, second = tmp_path / "first", tmp_path / "second"
    only = "only=[n30/gan-g0,n30/select-g0*,n30/reference,n30/bank-g0,n30/metrics-g0]"
    run_benchmark(compose_cfg("bench", cfg + [f"bench.out_dir={first}", only]))
    run_benchmark(compose_cfg("bench", cfg + [f"bench.out_dir={second}", f"bench.reuse_from={first}",
                                              "bench.classifier.batch_mix=cutmix", only]))
    mine = UnitStore(second / "units")
    measured = ["n30/reference", "n30/select-g0", "n30/select-g0/s000020", "n30/metrics-g0"]
    assert all(mine.get(u)["adopted_from"] == str(first) for u in measured)
    ref = "n30/reference_classifier.safetensors"
    assert (second / ref).read_bytes() == (first / ref).read_bytes()


def test_the_reference_trains_on_plain_batches_whatever_the_runs_batch_mixing():
    import numpy as np
    import torch

    from ganaug.data import ImageArrayDataset
    from ganaug.eval import engine

    rng = np.random.default_rng(0)
    train = ImageArrayDataset(rng.integers(0, 256, (40, 8, 8, 1), dtype=np.uint8), np.arange(40) % 4)
    plain = engine.ClassifierSettings(steps=6, batch_size=8, width=4)
    mixed = engine.ClassifierSettings(steps=6, batch_size=8, width=4, batch_mix="cutmix")
    a, b = engine.train_reference(train, plain), engine.train_reference(train, mixed)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert engine.reference_fingerprint("data", plain) == engine.reference_fingerprint("data", mixed)
    # the runs themselves do mix: the settings differ where they train under test
    assert not all(torch.equal(a.state_dict()[k], v) for k, v in engine.train_run(train, mixed, seed=0).state_dict().items())


def test_a_generator_folder_without_its_weights_file_counts_as_gone(compose_cfg, tmp_path, tiny):
    # What a fresh clone may hold: the artifact's generator.json, committed, its weights left out (and no
    # checkpoint). The GAN trains again, for the metrics still to do read its bank.
    cfg = compose_cfg("bench", tiny + SNAPSHOTS + SELECT + [
        f"bench.out_dir={tmp_path}", "only=[n30/gan-g0,n30/select-g0*,n30/reference,n30/bank-g0,n30/metrics-g0]"])
    run_benchmark(cfg)
    import shutil

    for p in tmp_path.rglob("generator.safetensors"):
        p.unlink()
    shutil.rmtree(tmp_path / "n30/bank-g0")
    shutil.rmtree(tmp_path / "n30/gan-g0/checkpoints", ignore_errors=True)
    (tmp_path / "units/n30/metrics-g0.json").unlink()
    run_benchmark(cfg)
    assert (tmp_path / "n30/gan-g0/generator/generator.safetensors").is_file()
    assert (tmp_path / "n30/bank-g0").is_dir()

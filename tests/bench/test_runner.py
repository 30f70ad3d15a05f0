import json
import os

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from ganaug.mix.bank import SyntheticBank
from ganaug.bench.runner import (
    StaleGANError,
    Unit,
    calibrate_gan_cost,
    critical_path,
    next_unit,
    plan_from_config,
    run_benchmark,
)
from ganaug.eval.engine import class_balanced_loader
from ganaug.data import ImageArrayDataset
from ganaug.eval.store import UnitStore
from ganaug.errors import ConfigError, GanaugError

# The generator chosen on validation CAS between a snapshot after 20 of the GAN's 40 updates and the
# final one (the toy benchmark takes its final one).
SELECT = ["train.callbacks.snapshots.every_n_steps=20", "bench.select_generator.by=val_cas",
          "bench.select_generator.every=20", "bench.select_generator.samples=50"]


class _Bar:
    """Records what the benchmark's progress bar is told."""

    made = []
    disable = False

    def __init__(self, total, initial=0, **kw):
        self.total, self.n, self.initial, self.seen = total, initial, initial, []
        _Bar.made.append(self)

    def update(self, n):
        self.n += n

    def set_description_str(self, text, refresh=True):
        self.seen.append((text, self.n))

    def close(self):
        self.seen.append(("closed", self.n))


def test_ci_benchmark_runs_resumes_and_reports(compose_cfg, tmp_path, tiny, monkeypatch, capsys):
    import ganaug.bench.progress as progress

    monkeypatch.setattr(progress, "tqdm", _Bar)
    cfg = compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}"])
    payload = run_benchmark(cfg)
    # The bar moves while a GAN trains (most of the time), not only when a unit ends, and ends at the total.
    bar = _Bar.made[-1]
    during = [(text, n) for text, n in bar.seen if "GAN seed 0 " in text]
    percents = {int(text.rsplit(" ", 1)[1].rstrip("%")) for text, _ in during}
    assert any(0 < p < 100 for p in percents), percents
    assert sorted(n for _, n in during) == [n for _, n in during]
    assert bar.seen[-1] == ("closed", pytest.approx(bar.total))
    s = payload["summary"]["n30"]
    names = list(s["conditions"])
    assert names == ["real", "classical", "syn0.5", "syn0.5-filt", "classical+syn0.5"]
    for c in s["conditions"].values():
        assert c["n"] == 2 and 0.0 <= c["test"]["mean"] <= 1.0
    assert s["chosen_on_val"] in {"syn0.5", "syn0.5-filt", "classical+syn0.5"}
    assert "gain_vs_real" in s["conditions"]["syn0.5"] and "gain_vs_classical" in s["conditions"]["syn0.5"]
    assert {"cas", "cas_ratio", "fid", "kid", "label_agreement"} <= set(s["gan"])
    for f in ("results.json", "results.md", "accuracy_vs_ratio.png", "n30/samples-g0.png"):
        assert (tmp_path / f).is_file(), f
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["meta"]["cpu"] and data["meta"]["date"] and data["meta"]["commit"]
    # Each unit's time says how much of the machine it had.
    assert all(r["made_on"]["load"]["own_cpu_per_s"] > 0 for r in data["runs"])
    assert data["meta"]["units_load"]["n"] == len(data["runs"])
    assert "- load while the units ran" in (tmp_path / "results.md").read_text()
    # The classical baseline is named (issue 44): here the digits config's transforms, composed in Python.
    assert "`classical`: `augment=" in (tmp_path / "results.md").read_text()
    assert len(data["runs"]) == len(UnitStore(tmp_path / "units").all())
    # Every synthetic run trained for the same steps at the same batch size as the baselines.
    runs = [r for r in data["runs"] if "condition" in r]
    assert {(r["steps"], r["batch_size"]) for r in runs} == {(20, 32)}

    # A second run of the same command finds every unit done and retrains nothing; run on other
    # threads, it must not claim the stored runs for its own command, threads or date.
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "units").rglob("*.json")}
    record = (tmp_path / "results.json").read_bytes()
    monkeypatch.setattr("sys.argv", ["ganaug-bench", "threads=1", f"bench.out_dir={tmp_path}"])
    again = run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", "threads=1"]))
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "units").rglob("*.json")}
    assert (tmp_path / "results.json").read_bytes() == record
    assert again["meta"]["command"] == data["meta"]["command"] and again["config"]["threads"] == data["config"]["threads"]

    # A run of fewer seeds into the same directory finds its units done: the report of the whole benchmark
    # stays as it is, not replaced by one of a part of its runs (and then claimed again by a full rerun).
    part = run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", "bench.classifier_seeds=[0]"]))
    assert (tmp_path / "results.json").read_bytes() == record and len(part["runs"]) == len(data["runs"])
    assert "is kept as it is" in capsys.readouterr().out

    # Each unit names the machine it ran on; units made elsewhere (a lent GPU) are counted apart.
    records = UnitStore(tmp_path / "units").all()
    assert all(r["made_on"]["torch"] and r["made_on"]["cpu"] for r in records)
    # Worker processes (executor.workers, a local Ray) inherit the commit the run started with.
    assert os.environ["GANAUG_COMMIT"] == data["meta"]["commit"] == records[0]["made_on"]["commit"]
    here = data["meta"]["units_made_on"]
    assert list(here.values()) == [len(records)]
    gan = tmp_path / "units/n30/gan-g0.json"
    gan.write_text(json.dumps({**json.loads(gan.read_text()), "made_on": {"gpu": "Lent GPU", "torch": "9.9"}}))
    mixed = run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", "report_only=true"]))
    assert mixed["meta"]["units_made_on"] == {next(iter(here)): len(records) - 1, "Lent GPU (torch 9.9)": 1}
    assert "1 on Lent GPU (torch 9.9)" in (tmp_path / "results.md").read_text()


def _weights_gone(out):
    """What a fresh clone of the repository lacks: everything .gitignore keeps out of it (generators,
    snapshots, checkpoints, banks, reference classifiers); the unit records stay."""
    import shutil

    for p in sorted(out.rglob("*"), key=lambda p: -len(p.parts)):
        if p.is_dir() and (p.name in {"generator", "snapshots", "checkpoints"} or p.name.startswith("bank-g")):
            shutil.rmtree(p)
        elif p.is_file() and p.suffix == ".safetensors":
            p.unlink()


def _mtimes(out):
    return {str(p.relative_to(out / "units")): p.stat().st_mtime_ns for p in (out / "units").rglob("*.json")}


def test_a_stored_unit_whose_files_are_gone_is_made_again_while_a_run_needs_them(compose_cfg, tmp_path, tiny):
    # A record copied without its files (a device that sent back records only, banks deleted to free
    # disk) must not count as done while a unit still to run reads them: it would fail later, mid-run.
    import shutil

    cfg = compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}"])
    run_benchmark(cfg)
    units = tmp_path / "units"
    (units / "n30/syn0.5/c1-g0.json").unlink()
    runs = {k: v for k, v in _mtimes(tmp_path).items() if "/c" in k}
    bank_record = (units / "n30/bank-g0.json").stat().st_mtime_ns
    reference = next((tmp_path / "n30").glob("reference*.safetensors"))
    shutil.rmtree(tmp_path / "n30/bank-g0")
    reference.unlink()
    run_benchmark(cfg)
    assert (tmp_path / "n30/bank-g0").is_dir() and reference.is_file()
    assert (units / "n30/bank-g0.json").stat().st_mtime_ns != bank_record
    # Same settings, same fingerprints: the runs made from them stay; the missing one is made.
    assert runs == {k: v for k, v in _mtimes(tmp_path).items() if k in runs}
    assert (units / "n30/syn0.5/c1-g0.json").is_file()


def test_a_bank_made_again_with_other_images_is_named_in_the_runs_and_the_report(compose_cfg, tmp_path, tiny,
                                                                                 monkeypatch, caplog):
    # Banks are not committed: a rerun on a fresh machine makes them again, and a generator's arithmetic differs
    # between CPUs, so the images may differ. Same fingerprints, so runs stored before keep their scores: each run
    # names the images it read, and the report the conditions whose runs read two banks.
    import shutil

    from ganaug.mix import bank as bank_module

    cfg = compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}"])
    run_benchmark(cfg)
    units = UnitStore(tmp_path / "units")
    first = {units.get(f"n30/syn0.5/c{c}-g0")["bank_content_id"] for c in (0, 1)}
    assert len(first) == 1 and None not in first
    assert units.get("n30/bank-g0")["content_ids"]["unfiltered"] == next(iter(first))
    (tmp_path / "units/n30/syn0.5/c1-g0.json").unlink()
    shutil.rmtree(tmp_path / "n30/bank-g0")
    real_fill = bank_module._fill

    def other_cpus_images(gen, out, *args, **kwargs):  # the same noise, one grey level apart
        real_fill(gen, out, *args, **kwargs)
        out[:] = np.minimum(out, 254) + 1

    monkeypatch.setattr(bank_module, "_fill", other_cpus_images)
    with caplog.at_level("WARNING", logger="ganaug.bench.runner"):
        run_benchmark(cfg)
    assert "GAN seed 0's unfiltered and filtered bank(s), made again, hold other images" in caplog.text
    ids = [units.get(f"n30/syn0.5/c{c}-g0")["bank_content_id"] for c in (0, 1)]
    assert ids[0] in first and ids[1] not in first
    assert ("Banks made again: syn0.5 (GAN seed 0): its runs read 2 different banks' images"
            in (tmp_path / "results.md").read_text())
    caplog.clear()
    with caplog.at_level("WARNING", logger="ganaug.bench.runner"):  # other settings: a new bank, not a remade one
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", "bench.bank_size=120"]))
    assert "made again" not in caplog.text
    assert "banks_remade" not in json.loads((tmp_path / "results.json").read_text())["summary"]["n30"]


def test_a_finished_benchmark_without_its_weights_has_nothing_to_do(compose_cfg, tmp_path, tiny):
    # A fresh clone holds the committed records, not the ignored weights and banks: rerunning the
    # command reports, it neither retrains nor fails reading a generator that is not there.
    cfg = compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}"])
    run_benchmark(cfg)
    before, results = _mtimes(tmp_path), (tmp_path / "results.json").read_bytes()
    _weights_gone(tmp_path)
    run_benchmark(cfg)
    assert _mtimes(tmp_path) == before
    assert (tmp_path / "results.json").read_bytes() == results
    assert not list(tmp_path.rglob("*.safetensors"))


def test_a_part_finished_without_its_weights_has_nothing_to_do_when_the_rest_is_left_out(compose_cfg, tmp_path, tiny):
    # long_runs.sh runs a part (only=), leaving the GAN metrics to do: on a fresh clone they made every rerun
    # remake the banks and the reference they read (and retrain a GAN whose weights were not kept), unselected.
    part = "only=['*/reference','*/gan-*','*/bank-*','*/*/*']"  # all but n30/metrics-g*
    cfg = compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", part])
    run_benchmark(cfg)
    assert not (tmp_path / "units/n30/metrics-g0.json").exists()
    before = _mtimes(tmp_path)
    _weights_gone(tmp_path)
    run_benchmark(cfg)
    assert _mtimes(tmp_path) == before
    assert not list(tmp_path.rglob("*.safetensors")) and not list(tmp_path.rglob("bank-g*/"))


@pytest.mark.parametrize("select", [[], SELECT], ids=["final", "val_cas"])
def test_an_unfinished_benchmark_without_its_weights_retrains_what_it_needs(compose_cfg, tmp_path, tiny, select,
                                                                            capsys, monkeypatch):
    # The same fresh clone of a benchmark stopped half-way: the GAN whose generator is gone is trained
    # again, and what was made from its old weights (the generator choice, banks, metrics, synthetic runs)
    # is made again from the new ones; what was made without them (real, classical) stays.
    cfg = compose_cfg("bench", tiny + select + [f"bench.out_dir={tmp_path}"])
    run_benchmark(cfg)
    units = tmp_path / "units"
    (units / "n30/syn0.5/c1-g0.json").unlink()
    before = _mtimes(tmp_path)
    _weights_gone(tmp_path)
    # Retraining elsewhere (another machine, a GPU) gives other weights: a seed the fingerprints do not see.
    import ganaug.bench.runner as runner

    train_cfg = runner.Regime.train_cfg
    monkeypatch.setattr(runner.Regime, "train_cfg",
                        lambda self, g: OmegaConf.merge(train_cfg(self, g), {"seed": g + 7}))
    capsys.readouterr()
    done = run_benchmark(cfg)
    assert "n30: GAN seed 0's generator is gone" in capsys.readouterr().out
    assert done["meta"]["units_done"] == done["meta"]["units_total"]
    after = _mtimes(tmp_path)
    changed = {k for k in before if after[k] != before[k]}
    made_from_weights = {k for k in before if k.startswith(("n30/gan-g0", "n30/select-g0", "n30/bank-g0",
                                                           "n30/metrics-g0")) or k.endswith("-g0.json")}
    # The reference classifier's weights are gone too: retrained, with the same settings fingerprint.
    assert made_from_weights and changed == made_from_weights | {"n30/reference.json"}
    assert "n30/syn0.5/c1-g0.json" in after
    store = UnitStore(units)
    source = "n30/select-g0" if select else "n30/gan-g0"
    assert os.path.isdir(store.get(source)["generator"])
    assert store.get("n30/bank-g0")["generator"] == store.get(source)["generator"]
    if select:  # the choice was scored again on the new generator's snapshots
        assert any(k.startswith("n30/select-g0/") for k in changed)


def test_interrupted_benchmark_continues(compose_cfg, tmp_path, tiny):
    cfg = compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}"])
    run_benchmark(cfg)
    store = UnitStore(tmp_path / "units")
    victim = "n30/syn0.5/c1-g0"
    kept = store.get("n30/real/c0")
    (tmp_path / "units" / f"{victim}.json").unlink()
    # report_only summarises what is stored and says the results are partial; it trains nothing.
    partial = run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", "report_only=true"]))
    assert partial["meta"]["units_done"] == partial["meta"]["units_total"] - 1
    assert "Partial results" in (tmp_path / "results.md").read_text() and not store.has(victim)
    done = run_benchmark(cfg)
    assert done["meta"]["units_done"] == done["meta"]["units_total"]
    assert "Partial" not in (tmp_path / "results.md").read_text()
    assert store.has(victim) and store.get("n30/real/c0") == kept


def test_changed_settings_redo_exactly_what_they_affect(compose_cfg, tmp_path, tiny):
    base = tiny + [f"bench.out_dir={tmp_path}"]
    run_benchmark(compose_cfg("bench", base))
    units = tmp_path / "units"
    mtimes = {str(p.relative_to(units)): p.stat().st_mtime_ns for p in units.rglob("*.json")}

    def redone() -> set[str]:
        return {k for k, t in mtimes.items() if (units / k).stat().st_mtime_ns != t}

    # Another classical pipeline: only the runs that use it are stale.
    run_benchmark(compose_cfg("bench", base + ["augment.transforms.0.translate_px.x=[-2,2]"]))
    assert redone() == {"n30/classical/c0.json", "n30/classical/c1.json",
                        "n30/classical+syn0.5/c0-g0.json", "n30/classical+syn0.5/c1-g0.json"}

    # Synthetic items down-weighted in the loss: the synthetic runs only, and they record it.
    before = redone()
    payload = run_benchmark(compose_cfg("bench", base + ["bench.synthetic_weight=0.5"]))
    assert redone() - before == {"n30/syn0.5/c0-g0.json", "n30/syn0.5/c1-g0.json", "n30/syn0.5-filt/c0-g0.json",
                                 "n30/syn0.5-filt/c1-g0.json", "n30/classical+syn0.5/c0-g0.json",
                                 "n30/classical+syn0.5/c1-g0.json"} - before
    assert all(r.get("synthetic_weight") == 0.5 for r in payload["runs"] if r.get("ratio"))
    assert not any("synthetic_weight" in r for r in payload["runs"] if r.get("ratio") == 0.0)

    # Another classifier recipe: every classifier-dependent unit (the filter's reference, hence
    # the banks and metrics too) is redone; the GAN is kept.
    payload = run_benchmark(compose_cfg("bench", base + ["bench.classifier.steps=25"]))
    assert "n30/gan-g0.json" not in redone() and "n30/bank-g0.json" in redone()
    assert {r["steps"] for r in payload["runs"] if "condition" in r} == {25}
    assert len(payload["runs"]) == len(mtimes)  # the report holds current runs only

    # A GAN trained with other settings is never reused or silently retrained.
    with pytest.raises(StaleGANError, match="train.gan"):
        run_benchmark(compose_cfg("bench", base + ["bench.classifier.steps=25", "train.gan.max_steps=41"]))
    # Nor one trained under another precision (trainer=gpu's bf16 autocast).
    with pytest.raises(StaleGANError, match="train.trainer.precision"):
        run_benchmark(compose_cfg("bench", base + ["bench.classifier.steps=25", "train.trainer.precision=bf16-mixed"]))


def test_a_gan_trained_on_images_that_changed_since_is_refused_not_reused(compose_cfg, tmp_path, tiny, monkeypatch):
    # The GAN's fingerprint names its data by settings (data=digits, the regime's subset), so changed images
    # at the same place passed for the old ones: the old GAN's banks were mixed into the new data, while
    # the classifiers (fingerprinted by content) trained on the new images. Two classes swap labels here,
    # as a renamed class folder would.
    import ganaug.data

    base = tiny + [f"bench.out_dir={tmp_path / 'out'}", "only=[n30/gan-*]"]
    run_benchmark(compose_cfg("bench", base))
    assert UnitStore(tmp_path / "out" / "units").get("n30/gan-g0")["data_content"]
    load = ganaug.data.load_digits

    def relabelled(split="train", **kw):
        ds = load(split, **kw)
        if split == "train":
            ds.labels[:] = np.where(ds.labels == 0, 1, np.where(ds.labels == 1, 0, ds.labels))
        return ds

    monkeypatch.setattr(ganaug.data, "load_digits", relabelled)
    with pytest.raises(StaleGANError, match=r"n30/gan-g0.json: it was trained on other images than the regime's "
                                            r"training set now .*a class folder renamed\); use a new bench.out_dir"):
        run_benchmark(compose_cfg("bench", base))
    # nor adopted from another directory
    other = tiny + [f"bench.out_dir={tmp_path / 'other'}", "only=[n30/gan-*]", f"bench.reuse_from={tmp_path / 'out'}"]
    monkeypatch.setattr("ganaug.bench.runner._train_gan", lambda *a, **k: pytest.fail("trained"), raising=True)
    with pytest.raises(pytest.fail.Exception, match="trained"):
        run_benchmark(compose_cfg("bench", other))


def test_ablation_adopts_gans_and_runs_made_with_the_same_settings(compose_cfg, tmp_path, tiny):
    first = tmp_path / "main"
    run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={first}"]))
    trained = UnitStore(first / "units").get("n30/gan-g0")

    # Same GAN settings, another way of using the samples: nothing is retrained.
    ablation = tmp_path / "ratio0.25"
    payload = run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={ablation}", "bench.ratios=[0.25]",
                                                         f"bench.reuse_from={first}"]))
    gan = UnitStore(ablation / "units").get("n30/gan-g0")
    assert gan["generator"] == trained["generator"] and gan["adopted_from"] == str(first)
    assert not (ablation / "n30" / "gan-g0").exists()
    assert {r["ratio"] for r in payload["runs"] if r.get("condition", "real") != "real" and r["ratio"]} == {0.25}
    # The baselines are not retrained either: they are the very runs of the first directory.
    mine, theirs = UnitStore(ablation / "units"), UnitStore(first / "units")
    for uid in ("n30/real/c0", "n30/classical/c1"):
        assert mine.get(uid)["adopted_from"] == str(first)
        assert mine.get(uid)["test"] == theirs.get(uid)["test"]
    assert "adopted_from" not in mine.get("n30/syn0.25/c0-g0")
    assert mine.get("n30/metrics-g0")["cas"] == theirs.get("n30/metrics-g0")["cas"]  # same GAN, same bank
    # The reference classifier and the banks are files: copied, byte for byte, not retrained.
    for uid, path in (("n30/reference", "n30/reference_classifier.safetensors"),
                      ("n30/bank-g0", "n30/bank-g0/unfiltered/images.npy")):
        assert mine.get(uid)["adopted_from"] == str(first)
        assert (ablation / path).read_bytes() == (first / path).read_bytes()

    # Other GAN settings: the stored GAN does not fit, so this run trains its own.
    other = tmp_path / "other_gan"
    run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={other}", "train.gan.max_steps=30",
                                               f"bench.reuse_from={first}"]))
    own = UnitStore(other / "units").get("n30/gan-g0")
    assert "adopted_from" not in own and (other / "n30" / "gan-g0" / "generator").is_dir()
    assert "adopted_from" in UnitStore(other / "units").get("n30/real/c0")  # independent of the GAN
    assert "adopted_from" not in UnitStore(other / "units").get("n30/metrics-g0")


def test_a_generator_choice_is_adopted_only_with_the_gan_it_was_made_from(compose_cfg, tmp_path, tiny):
    # A directory whose generators are gone (a fresh clone) still holds candidate scores and a choice
    # whose fingerprints name settings only: adopted beside a GAN trained here, they would choose a
    # snapshot by another generator's scores.
    first, second = tmp_path / "first", tmp_path / "second"
    run_benchmark(compose_cfg("bench", tiny + SELECT + [f"bench.out_dir={first}"]))
    _weights_gone(first)
    run_benchmark(compose_cfg("bench", tiny + SELECT + [f"bench.out_dir={second}", f"bench.reuse_from={first}"]))
    mine = UnitStore(second / "units")
    assert mine.get("n30/real/c0")["adopted_from"] == str(first)  # made without the GAN
    chosen = [r for r in mine.all() if r["unit"].startswith(("n30/gan-g0", "n30/select-g0"))]
    assert len(chosen) > 2 and not [r["unit"] for r in chosen if "adopted_from" in r]
    assert mine.get("n30/select-g0")["generator"].startswith(str(second))


def test_reuse_from_takes_a_list_searched_in_order_and_names_a_missing_directory(compose_cfg, tmp_path, tiny):
    first = tmp_path / "main"
    run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={first}"]))
    # An ablation with one extra ratio: its own runs of that ratio only.
    extra = tmp_path / "ratio0.9"
    run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={extra}", "bench.ratios=[0.9]",
                                               f"bench.reuse_from={first}"]))
    both = tmp_path / "both"
    run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={both}", "bench.ratios=[0.5,0.9]",
                                               f"bench.reuse_from=[{first},{extra}]"]))
    mine = UnitStore(both / "units")
    assert mine.get("n30/syn0.5/c0-g0")["adopted_from"] == str(first)
    assert mine.get("n30/syn0.9/c0-g0")["adopted_from"] == str(extra)  # only the second source has it
    assert mine.get("n30/real/c0")["adopted_from"] == str(first)       # the first source wins
    with pytest.raises(FileNotFoundError, match="no benchmark units"):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path / 'x'}",
                                                   f"bench.reuse_from={tmp_path / 'missing'}"]))

def _unit(uid, cost, after=()):
    return Unit(uid, uid, cost, lambda: {}, list(after))


def _order(pending):
    """The ids in the order the in-process loop starts them, each unit finishing before the next starts."""
    pending, done, order = list(pending), set(), []
    while pending:
        u = next_unit(pending, done.__contains__)
        order.append(u.id)
        pending.remove(u)
        done.add(u.id)
    return order


def test_next_unit_starts_the_ready_unit_with_the_longest_path():
    pending = [_unit("n100/reference", 3), _unit("n100/run", 3, ["n100/reference"]), _unit("n50/gan", 24),
               _unit("n50/select", 3, ["n50/gan"]), _unit("longtail/gan", 24)]
    # Both GANs go before the short units listed ahead of them; among equals, list order; never
    # a unit before what it depends on.
    assert _order(pending) == ["n50/gan", "longtail/gan", "n100/reference", "n100/run", "n50/select"]


def test_a_free_unit_that_gates_a_chain_starts_before_a_costlier_lone_one():
    # A generator choice costs nothing, but banks and classifier runs wait for it: it goes before a
    # baseline run (costliest-first started the baseline, leaving the chain idle meanwhile).
    pending = [_unit("n100/classical/c0", 10), _unit("n100/select-g0", 0),
               _unit("n100/bank-g0", 1, ["n100/select-g0"]), _unit("n100/syn/c0-g0", 10, ["n100/bank-g0"]),
               _unit("n100/syn/c1-g0", 10, ["n100/bank-g0"])]
    assert critical_path(pending) == {"n100/classical/c0": 10, "n100/select-g0": 11, "n100/bank-g0": 11,
                                      "n100/syn/c0-g0": 10, "n100/syn/c1-g0": 10}
    assert _order(pending) == ["n100/select-g0", "n100/bank-g0", "n100/classical/c0", "n100/syn/c0-g0",
                               "n100/syn/c1-g0"]


def test_the_gan_cost_is_what_this_machine_measured(tmp_path):
    from ganaug.base.provenance import machine

    here = {k: machine()[k] for k in ("cpu", "gpu")}
    store = UnitStore(tmp_path)
    gans = [_unit(f"{r}/gan-g0", 400.0) for r in ("n50", "n100", "n500", "longtail")]  # 100 updates x 4
    runs = [_unit(f"n50/real/c{c}", 300.0) for c in range(3)]
    # Planned: a GAN update costs 4 classifier steps. Measured here: 1.0 s per update, 0.1 s per step.
    store.put("n50/gan-g0", {"g_updates": 100, "train_seconds": 100.0, "seconds": 30.0, "stretches": 2,
                             "resumed_from": "last.ckpt", "made_on": here})
    store.put("n100/gan-g0", {"g_updates": 100, "seconds": 5.0, "made_on": {**here, "gpu": "a lent GPU"}})
    store.put("n500/gan-g0", {"g_updates": 100, "seconds": 7.0, "resumed_from": "last.ckpt",  # last stretch only
                              "made_on": here})
    # Resumed from a checkpoint made before the clock was kept: its train_seconds are the last stretch too.
    store.put("longtail/gan-g0", {"g_updates": 100, "train_seconds": 8.0, "stretches": 1, "seconds": 9.0,
                                  "resumed_from": "last.ckpt", "made_on": here})
    for c, s in enumerate([29.0, 30.0, 31.0]):
        store.put(f"n50/real/c{c}", {"condition": "real", "steps": 300, "seconds": s, "made_on": here})
    done = lambda uid: store.has(uid)  # noqa: E731
    # No classifier run measured yet: the planned costs stand.
    assert calibrate_gan_cost(gans + runs[:0], store, done) is None and gans[0].cost == 400.0
    assert calibrate_gan_cost(gans + runs, store, done) == pytest.approx(100.0 / 400 / (30.0 / 300))
    assert [u.cost for u in gans] == pytest.approx([1000.0] * 4)  # 10 classifier steps per update


def test_class_balanced_loader_draws_every_class_equally():
    labels = np.repeat(np.arange(3), [90, 9, 1])
    ds = ImageArrayDataset(np.zeros((100, 4, 4, 1), np.uint8), labels)
    loader = class_balanced_loader(ds, 10, seed=0)
    drawn = np.concatenate([y.numpy() for _ in range(30) for _, y in loader])
    share = np.bincount(drawn, minlength=3) / len(drawn)
    assert np.allclose(share, 1 / 3, atol=0.04), share
    again = np.concatenate([y.numpy() for _, y in class_balanced_loader(ds, 10, seed=0)])
    assert np.array_equal(again, drawn[:len(again)])  # seeded: a run is reproducible


def test_long_tail_regime_adds_the_reweighted_classical_baseline(compose_cfg, tmp_path, tiny):
    # A bank larger than the tail's deficit, as `balance` then also has images of the head class to spread.
    only_tail = [o for o in tiny if o != "~bench.regimes.longtail"] + ["~bench.regimes.n30", "bench.classifier_seeds=[0]",
                                                                       "bench.bank_size=400"]
    payload = run_benchmark(compose_cfg("bench", only_tail + [f"bench.out_dir={tmp_path}"]))
    s = payload["summary"]["longtail"]
    assert list(s["conditions"])[:3] == ["real", "classical", "classical+reweight"]
    rw = [r for r in payload["runs"] if r.get("condition") == "classical+reweight"]
    assert len(rw) == 1 and rw[0]["reweight"] and rw[0]["metric"] == "balanced_accuracy"
    assert "gain_vs_classical+reweight" in s["conditions"]["classical+syn0.5"]
    assert "Δ vs classical+reweight" in (tmp_path / "results.md").read_text()


def test_truncation_remakes_the_banks_not_the_gan(compose_cfg, tmp_path, tiny):
    base = tiny + [f"bench.out_dir={tmp_path}", "bench.filter_options=[false]",
                   "bench.classical_synthetic_filter_options=[]", "bench.classifier_seeds=[0]"]
    run_benchmark(compose_cfg("bench", base))
    units = tmp_path / "units"
    gan_mtime = (units / "n30/gan-g0.json").stat().st_mtime_ns
    plain = np.asarray(SyntheticBank.open(tmp_path / "n30/bank-g0/unfiltered").images)
    run_benchmark(compose_cfg("bench", base + ["bench.truncation=0.5"]))
    assert (units / "n30/gan-g0.json").stat().st_mtime_ns == gan_mtime
    bank = SyntheticBank.open(tmp_path / "n30/bank-g0/unfiltered")
    assert bank.meta["truncation"] == 0.5 and UnitStore(units).get("n30/bank-g0")["truncation"] == 0.5
    assert not np.array_equal(np.asarray(bank.images), plain)


def _rerun_watched(compose_cfg, out, base, override, monkeypatch):
    """Run `base`, then `base + override` with the classifier loop watched: (payload, the units made again,
    each classifier run's (batches, keyword arguments))."""
    from ganaug.eval import engine

    run_benchmark(compose_cfg("bench", base))
    units = out / "units"
    before = {str(p.relative_to(units)): p.stat().st_mtime_ns for p in units.rglob("*.json")}
    calls = []
    real_train = engine.train_classifier_on_loader

    def spy(batches, *args, **kwargs):
        calls.append((batches, kwargs))
        return real_train(batches, *args, **kwargs)

    monkeypatch.setattr(engine, "train_classifier_on_loader", spy)
    payload = run_benchmark(compose_cfg("bench", base + override))
    return payload, {k for k, t in before.items() if (units / k).stat().st_mtime_ns != t}, calls


def test_soft_labels_from_the_reference_redo_only_synthetic_runs(compose_cfg, tmp_path, tiny, monkeypatch):
    base = tiny + [f"bench.out_dir={tmp_path}", "bench.filter_options=[false]", "bench.synthetic_soft_labels=0.0",
                   "bench.classical_synthetic_filter_options=[]", "bench.classifier_seeds=[0]"]
    payload, redone, calls = _rerun_watched(compose_cfg, tmp_path, base, ["bench.synthetic_soft_labels=0.5"],
                                            monkeypatch)
    assert redone == {"n30/syn0.5/c0-g0.json"}
    seen = [kwargs.get("teacher") for _, kwargs in calls]
    assert len(seen) == 1 and seen[0] is not None  # the regime's real-data reference classifier
    syn = [r for r in payload["runs"] if r.get("ratio")]
    assert [r["synthetic_soft_labels"] for r in syn] == [0.5]


def test_synthetic_use_flags_items_only_for_the_levers_that_differ_from_plain_cross_entropy():
    from ganaug.eval.engine import SyntheticUse

    assert not SyntheticUse(0.5).needs_flag
    for lever in ({"weight": 0.5}, {"soft_labels": 0.5}, {"split_norm": True}):
        assert SyntheticUse(0.5, **lever).needs_flag, lever
    # The teacher (always the reference now) is hashed only when soft labels use it, as it always was.
    assert "teacher" not in SyntheticUse(0.5).key() and SyntheticUse(0.5, soft_labels=0.5).key()["teacher"] == "reference"


def test_a_regime_can_run_its_own_conditions_without_touching_its_gan(compose_cfg, tmp_path, tiny):
    base = tiny + [f"bench.out_dir={tmp_path}", "bench.classifier_seeds=[0]"]
    run_benchmark(compose_cfg("bench", base))
    gan = (tmp_path / "units/n30/gan-g0.json").stat().st_mtime_ns
    payload = run_benchmark(compose_cfg("bench", base + ["+bench.regimes.n30.classical_synthetic_filter_options=[true]",
                                                         "+bench.regimes.n30.ratios=[0.25]"]))
    names = set(payload["summary"]["n30"]["conditions"])
    assert {"classical+syn0.25-filt", "syn0.25", "syn0.25-filt"} <= names and "classical+syn0.5" not in names
    assert (tmp_path / "units/n30/gan-g0.json").stat().st_mtime_ns == gan  # same data, same GAN


def test_a_regime_can_calibrate_its_filter_per_class_without_touching_its_gan(compose_cfg, tmp_path, tiny):
    base = tiny + [f"bench.out_dir={tmp_path}", "bench.classifier_seeds=[0]", "bench.filter_options=[true]",
                   "bench.classical_synthetic_filter_options=[]", "bench.filter_threshold=0.999"]
    run_benchmark(compose_cfg("bench", base))
    gan = (tmp_path / "units/n30/gan-g0.json").stat().st_mtime_ns
    assert UnitStore(tmp_path / "units").get("n30/bank-g0")["filter_class_thresholds"] is None
    # quantile 0: each class as sure as the classifier is of its least sure real validation image.
    run_benchmark(compose_cfg("bench", base + ["+bench.regimes.n30.filter_class_quantile=0.0"]))
    assert (tmp_path / "units/n30/gan-g0.json").stat().st_mtime_ns == gan  # same data, same GAN
    cut = UnitStore(tmp_path / "units").get("n30/bank-g0")["filter_class_thresholds"]
    assert len(cut) == 10 and max(cut) <= 0.999 and min(cut) < 0.999


def test_a_regime_can_let_a_class_its_filter_rejects_through_unfiltered(compose_cfg, tmp_path, tiny):
    base = tiny + [f"bench.out_dir={tmp_path}", "bench.classifier_seeds=[0]", "bench.filter_options=[false,true]",
                   "bench.classical_synthetic_filter_options=[]", "bench.filter_threshold=1.0"]
    payload = run_benchmark(compose_cfg("bench", base))
    assert "syn0.5-filt" not in payload["summary"]["n30"]["conditions"]  # skipped: nothing is that sure
    assert payload["summary"]["n30"]["skipped"]
    # The fallback touches the filtered bank's runs only: not the GAN, the unfiltered runs or the metrics.
    kept = ["gan-g0.json", "metrics-g0.json", "syn0.5/c0-g0.json"]
    before = {k: (tmp_path / "units/n30" / k).stat().st_mtime_ns for k in kept}
    with pytest.warns(UserWarning, match="pass unfiltered"):
        payload = run_benchmark(compose_cfg("bench", base + ["+bench.regimes.n30.filter_fallback=unfiltered"]))
    assert {k: (tmp_path / "units/n30" / k).stat().st_mtime_ns for k in kept} == before
    s = payload["summary"]["n30"]
    assert s["conditions"]["syn0.5-filt"]["n"] == 1 and not s["skipped"]
    bank = UnitStore(tmp_path / "units").get("n30/bank-g0")
    assert bank["filter_error"] is None and len(bank["filter_unfiltered"]) == 10
    assert "Filter fallback (GAN seed 0)" in (tmp_path / "results.md").read_text()
    with pytest.raises(ValueError, match=r"n30: filter_fallback must be one of \[None, 'unfiltered'\], got 'keep'"):
        run_benchmark(compose_cfg("bench", base + ["+bench.regimes.n30.filter_fallback=keep"]))



def test_where_batches_are_assembled_is_not_part_of_any_fingerprint(compose_cfg, tmp_path, tiny):
    # data.on_device changes where the GAN's batches are gathered, not the images: a GAN trained with
    # either setting is the same unit (and the GANs stored before the setting existed still match).
    from ganaug.bench.runner import Fingerprints, plan_from_config

    def fps(*extra):
        units, store = plan_from_config(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", *extra]))
        return {u.id: Fingerprints(units, store)(u.id) for u in units if "gan-g" in u.id}

    default = fps()
    assert default and fps("train.data.on_device=true") == default == fps("~train.data.on_device")
    assert fps("train.data.batch_size=7") != default  # the data settings themselves still count



def test_the_committed_ci_records_are_current_under_this_code(compose_cfg, tmp_path, repo):
    # Every fingerprint of benchmarks/results/ci (the baseline CI compares with) still matches: a
    # setting added since (gan.d_arch, data.on_device) at its original value changes no unit. A schema
    # change that should redo units fails here until the baseline is regenerated, as it must be.
    import shutil

    from ganaug.bench.runner import Fingerprints, plan_from_config
    from ganaug.base.config_schema import gan_identity

    shutil.copytree(repo / "benchmarks" / "results" / "ci" / "units", tmp_path / "units")
    # How batches are assembled (loader workers, data held on the device) makes no other GAN either.
    for loading in ([], ["train.data.num_workers=2", "train.data.on_device=true"]):
        units, store = plan_from_config(compose_cfg("bench", ["bench=ci", f"bench.out_dir={tmp_path}", *loading]))
        fps = Fingerprints(units, store)
        stored = {u.id: store.get(u.id)["fingerprint"] for u in units if store.has(u.id)}
        assert len(stored) == len(units) > 20
        assert {uid: fps(uid) for uid in stored} == stored, loading
    # Which images do: another batch size is another GAN.
    units, store = plan_from_config(compose_cfg("bench", ["bench=ci", f"bench.out_dir={tmp_path}",
                                                          "train.data.batch_size=32"]))
    fps = Fingerprints(units, store)
    assert fps("n30/gan-g0") != store.get("n30/gan-g0")["fingerprint"]
    assert gan_identity({"d_width": 32, "d_arch": "standard"}) == {"d_width": 32}
    assert gan_identity({"d_arch": "lean"}) == {"d_arch": "lean"}
    from ganaug.eval.engine import SyntheticUse

    assert "split_norm" not in SyntheticUse(0.25).key() and SyntheticUse(0.25, split_norm=True).key() != \
        SyntheticUse(0.25).key()
    # Levers that left the product are hashed at the value every run now has (eval/store.py's REMOVED), so the
    # stored units above stay current: the loop over them is what fails if that mapping is wrong.
    assert {"weight_schedule": "constant", "label_smoothing": 0.0}.items() <= SyntheticUse(0.25).key().items()


@pytest.mark.parametrize("override, match", [
    ("bench.data_seed=-1", r"bench.data_seed must be a non-negative integer, got -1; it picks the labelled subset, e.g. bench.data_seed=1"),
    ("bench.data_seed=one", "bench.data_seed must be a non-negative integer"),
    ("bench.val_fraction=0", r"bench.val_fraction must be a number in \(0, 1\)"),
    ("bench.val_fraction=1.5", "got 1.5, set e.g. bench.val_fraction=0.2"),
    # a group of settings replaced by one value, as if it named a choice: AttributeError before
    ("bench.classifier=resnet", r"bench.classifier is a group of settings, not one value: got 'resnet'; set its "
                                r"keys, e.g. bench.classifier.arch=resnet"),
    ("bench.select_generator=val_cas", r"bench.select_generator is a group .* e.g. bench.select_generator.by=val_cas"),
    ("bench.regimes=n30", r"bench.regimes is a group .*got 'n30'; .*bench/regimes=<file>"),
    ("bench.regimes.n30=big", r"bench.regimes.n30 is a group .*got 'big'; .*bench.regimes.n30.n_per_class=100"),
    # found only when the generator choice ran, after the GAN had trained
    ("bench.select_generator.classifier=resnet", r"bench.select_generator.classifier is a group .*"
                                                 r"bench.select_generator.classifier.arch=resnet"),
    ("bench.select_generator.classifier.width=0", r"bench.select_generator.classifier.width must be a positive "
                                                  r"integer, got 0"),
    # any string counted as true
    ("report_only=yes", r"report_only must be true or false, got 'yes'"),
    ("progress=maybe", r"progress must be true or false, got 'maybe'"),
    ("threads=-1", r"threads must be a positive integer \(torch threads\), or null"),  # torch's traceback before
    # a ValueError from float() before, or (metrics) only once the GAN had trained
    ("bench.ratios=[x]", r"bench.ratios must list numbers .*got 'x'"),
    # no synthetic condition to measure, yet the GANs trained for hours
    ("bench.ratios=[]", r"bench.ratios is empty: list the synthetic shares to measure, e.g. bench.ratios=\[0.25\]"),
    ("bench.gan_cost_per_step=x", r"bench.gan_cost_per_step must be a positive number .*got 'x'"),
    ("bench.gan_cost_per_step=-1", r"bench.gan_cost_per_step must be a positive number"),
    ("bench.metrics_samples=x", r"bench.metrics_samples must be a positive integer, got 'x'"),
    ("bench.kid_subset=0", r"bench.kid_subset must be a positive integer, got 0"),
    ("bench.classical_synthetic_filter_options=[maybe]", r"bench.classical_synthetic_filter_options must list "
                                                        r"true/false .*got \['maybe'\]"),  # counted as true before
    ("bench.filter_options=[2]", r"bench.filter_options must list true/false"),
    # when the first bank was drawn, after the GAN had trained: a traceback, or "the bank has no images of"
    ("bench.class_policy=[1,2]", r"bench.class_policy=\[1(\.0)?, 2(\.0)?\]: class_policy weights have 2 entries, "
                                 r"one per class is needed \(10\)"),
    ("bench.bank_size=5", r"bench.bank_size=5 is fewer images than the 10 classes"),
    # named bench.device before, a key that does not exist
    pytest.param("bench.classifier.device=cuda", r"^bench.classifier.device=cuda but torch sees no CUDA device here",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")),
])
def test_bad_settings_are_named_as_the_user_set_them(compose_cfg, tmp_path, tiny, override, match):
    with pytest.raises(ConfigError, match=match):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", override]))


def test_a_report_of_a_directory_without_units_is_refused(compose_cfg, tmp_path, tiny):
    # a mistyped bench.out_dir: an empty '0 of 57 units' report written into a new directory before
    with pytest.raises(ConfigError, match=r"report_only: .*missing holds no benchmark units .*name the "
                                          r"bench.out_dir of a run"):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path / 'missing'}", "report_only=true"]))
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("override, match", [
    # A seed listed twice is one run counted as two independent ones: a CI narrower than the data allow.
    ("bench.classifier_seeds=[1,1]", r"bench.classifier_seeds lists seed 1 twice"),
    ("bench.regimes.n30.gan_seeds=[0,0]", r"bench.regimes.n30.gan_seeds lists seed 0 twice"),
    # Empty: the synthetic conditions (or every classifier run) would silently vanish.
    ("bench.regimes.n30.gan_seeds=[]", r"bench.regimes.n30.gan_seeds is empty"),
    ("bench.classifier_seeds=[]", r"bench.classifier_seeds is empty"),
    ("bench.classifier_seeds=[-1]", r"bench.classifier_seeds must list non-negative integers, got \[-1\]"),
    ("bench.classifier_seeds=[a]", r"bench.classifier_seeds must list non-negative integers, got \['a'\]"),
    ("bench.classifier_seeds=3", r"bench.classifier_seeds must be a list of seeds, got 3; set e.g. "
                                 r"bench.classifier_seeds=\[0,1,2\]"),
])
def test_seed_lists_are_checked_before_anything_runs(compose_cfg, tmp_path, tiny, override, match):
    with pytest.raises(ConfigError, match=match):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path / 'out'}", override]))
    assert not (tmp_path / "out" / "units").exists()


@pytest.mark.parametrize("override, match", [
    # named "gan.z_dim" (a key of ganaug-train, not of ganaug-bench) when the first GAN started, after the
    # reference classifiers of every regime had trained
    ("train.gan.z_dim=0", r"train.gan.z_dim must be a positive integer, got 0"),
    ("train.gan.max_steps=0", r"train.gan.max_steps=0: it counts generator updates"),
    ("train.gan.diffaug=blur", r"train.gan.diffaug='blur': unknown DiffAugment op"),
    ("train.gan.n_dis=0", r"train.gan.n_dis must be an integer >= 1"),
    ("train.trainer.max_epochs=1", r"train.trainer.max_epochs=1: the GAN's length is gan.max_steps"),
    # the data module named them data.* (ganaug-train's keys), which ganaug-bench does not have
    ("bench.regimes.n30.n_per_class=0", r"^bench.regimes.n30.n_per_class must be a positive integer, got 0; set e.g. "
                                        r"bench.regimes.n30.n_per_class=100"),
    ("bench.regimes.n30.n_per_class=100000", r"^not enough images in class\(es\) .*lower the per-class count "
                                             r"\(bench.regimes.n30.n_per_class / bench.regimes.n30.n_max\)"),
    ("+bench.regimes.n30.imbalance_ratio=10", r"^set either bench.regimes.n30.n_per_class .* or "
                                              r"bench.regimes.n30.imbalance_ratio"),
    ("train.data.batch_size=0", r"^train.data.batch_size must be a positive integer, got 0; set e.g. "
                                r"train.data.batch_size=64"),
])
def test_gan_and_data_settings_are_named_as_ganaug_bench_keys_before_anything_runs(compose_cfg, tmp_path, tiny,
                                                                                  override, match):
    with pytest.raises(GanaugError, match=match):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path / 'out'}", override]))
    assert not (tmp_path / "out" / "units").exists()


def test_renaming_data_keys_leaves_paths_alone():
    from ganaug.bench import runner

    def rename(text):
        with pytest.raises(GanaugError) as e, runner._data_keys_named("n30"):
            raise GanaugError(text)
        return str(e.value)

    assert rename("no images under /srv/data.dataset/pets or ~/my-data.n_max; set data.dataset.root=...") == \
        "no images under /srv/data.dataset/pets or ~/my-data.n_max; set train.data.dataset.root=..."
    # the renamed error keeps the cause the data module gave
    cause = OSError(13, "Permission denied", "/srv/pets")
    with pytest.raises(GanaugError) as e, runner._data_keys_named("n30"):
        raise GanaugError("cannot read data.dataset.root") from cause
    assert str(e.value) == "cannot read train.data.dataset.root" and e.value.__cause__ is cause


def test_a_value_listed_twice_plans_its_condition_once(compose_cfg, tmp_path):
    # Each unit id is one stored record: a duplicated ratio or filter option used to plan every one of its
    # classifier runs twice (the same work run twice, one record written over the other).
    once, _ = plan_from_config(compose_cfg("bench", ["bench=ci", f"bench.out_dir={tmp_path}"]))
    for override in ("bench.ratios=[0.25,0.5,0.25]", "bench.classical_synthetic_filter_options=[true,true]",
                     "bench.filter_options=[false,true,false]"):
        units, _ = plan_from_config(compose_cfg("bench", ["bench=ci", f"bench.out_dir={tmp_path}", override]))
        ids = [u.id for u in units]
        assert len(ids) == len(set(ids)), override
    units, _ = plan_from_config(compose_cfg("bench", ["bench=ci", f"bench.out_dir={tmp_path}",
                                                     "bench.ratios=[0.25,0.5,0.25]"]))
    assert [u.id for u in units] == [u.id for u in once]


def test_only_runs_the_selected_units_and_a_later_call_the_rest(compose_cfg, tmp_path, tiny):
    # A benchmark split by session or machine: the units that need no GAN now, the GAN chain later.
    base = tiny + [f"bench.out_dir={tmp_path}"]
    store = UnitStore(tmp_path / "units")
    part = run_benchmark(compose_cfg("bench", base + ["only=[n30/reference,n30/real/*,n30/classical/*]"]))
    made = {r["unit"] for r in store.all()}
    assert "n30/reference" in made and {"n30/real/c0", "n30/classical/c0"} <= made
    assert not any("gan-" in u or "syn" in u or "bank-" in u for u in made)
    assert part["meta"]["units_done"] == len(made) < part["meta"]["units_total"]
    assert "Partial results" in (tmp_path / "results.md").read_text()
    assert "only=" not in part["meta"]["command"]
    kept = store.get("n30/real/c0")
    done = run_benchmark(compose_cfg("bench", base))
    assert done["meta"]["units_done"] == done["meta"]["units_total"]
    assert store.get("n30/real/c0") == kept  # not run again


@pytest.mark.parametrize("only, match", [
    ("[n30/bank-*]", r"n30/bank-g0 waits for n30/gan-g0, which is neither done nor selected"),
    ("[n30/gan-*,n3/real/*]", r"'n3/real/\*' matches no unit of this benchmark"),
    ("[]", "only must be a unit-id pattern or a list of them"),
])
def test_only_names_a_selection_that_cannot_run(compose_cfg, tmp_path, tiny, only, match):
    with pytest.raises(ConfigError, match=match):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", f"only={only}"]))
    assert not UnitStore(tmp_path / "units").all()  # refused before anything ran


def test_a_selection_naming_no_unit_is_refused_before_anything_is_adopted(compose_cfg, tmp_path, tiny):
    first = tmp_path / "first"
    run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={first}"]))
    second = tmp_path / "second"
    with pytest.raises(ConfigError, match="matches no unit"):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={second}", f"bench.reuse_from={first}",
                                                   "only=[n3/real/*]"]))
    assert not UnitStore(second / "units").all()


def test_the_classical_condition_is_named_with_its_batch_mixing_and_steps(compose_cfg, tmp_path, tiny):
    from ganaug.bench.report import classical_words

    words = classical_words(compose_cfg("bench", tiny + ["augment=flip_shift", "bench.classifier.batch_mix=cutmix"]))
    assert words == "`augment=HorizontalFlip+Affine` with CutMix batches, 20 classifier steps"


def test_a_stored_run_with_a_bad_score_is_named_when_the_benchmark_reruns(compose_cfg, tmp_path, tiny):
    # A record hand-edited to val "n/a" kept its fingerprint, counted as done, and failed in the report's arithmetic
    # (naming neither the file nor the fix). It is refused like a damaged record; deleting it makes it again.
    from ganaug.errors import ArtifactError

    cfg = compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", "only=[*/real/*]"])
    run_benchmark(cfg)
    record = next((tmp_path / "units").rglob("real/c0.json"))
    doc = json.loads(record.read_text())
    record.write_text(json.dumps({**doc, "val": "n/a"}))
    with pytest.raises(ArtifactError) as e:
        run_benchmark(cfg)
    assert str(record.with_suffix("")) in str(e.value) and "its val is 'n/a', not a finite number" in str(e.value)
    assert "delete it, and the unit is made again" in str(e.value)
    record.unlink()
    run_benchmark(cfg)
    assert isinstance(json.loads(record.read_text())["val"], float)


# One cheap unit, should a check be missing: the checks below must come before any unit runs.
ONE_UNIT = "only=[n30/reference]"


@pytest.mark.parametrize("override, match", [
    # a one-value list typed without brackets: TypeError "... is not iterable" before
    ("bench.ratios=0.25", r"^bench.ratios must be a list of synthetic shares, got 0.25; set e.g. "
                          r"bench.ratios=\[0.25\]"),
    ("bench.filter_options=true", r"^bench.filter_options must be a list of true/false, got True; set e.g. "
                                  r"bench.filter_options=\[true\]"),
    ("+bench.regimes.n30.ratios=0.25", r"^bench.regimes.n30.ratios must be a list"),
    # TypeError before
    ("bench.reuse_from=1", r"^bench.reuse_from must be a bench.out_dir of an earlier run, or a list of them, got 1"),
    ("bench.reuse_from=[1]", r"^bench.reuse_from must be a bench.out_dir .*got \[1\]"),
    # AttributeError 'NoneType' has no attribute 'images', once the reference classifier had trained
    ("bench.test_dataset=null", r"^bench.test_dataset is a group of settings, not one value: got None; .*"
                                r"bench.test_dataset._target_=ganaug.data.load_digits"),
    # ConfigAttributeError 'Missing key train_set', or 'Input cfg is not an OmegaConf config object'
    ("train.data=digits", r"^train.data is a group of settings, not one value: got 'digits'; pick a file of "
                          r"conf/data with data@train.data=digits"),
    ("train.gan=default", r"^train.gan is a group .*gan@train.gan=default"),
    ("train.trainer=cpu", r"^train.trainer is a group .*trainer@train.trainer=cpu"),
    ("~augment", r"^augment is missing: it holds the classical condition's transforms; pick a file of "
                 r"conf/augment, e.g. augment=digits"),
])


def test_malformed_settings_are_named_before_anything_runs(compose_cfg, tmp_path, tiny, override, match):
    with pytest.raises(ConfigError, match=match):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path / 'out'}", ONE_UNIT, override]))
    assert not (tmp_path / "out" / "units").exists()


@pytest.mark.parametrize("override, match", [
    # ValueError from int() before
    ("bench.select_generator.every=abc", r"^bench.select_generator.every must be a positive integer .*got 'abc'"),
    ("bench.select_generator.steps=abc", r"^bench.select_generator.steps must be a positive integer .*got 'abc'"),
    ("bench.select_generator.samples=abc", r"^bench.select_generator.samples must be a positive integer"),
    ("bench.select_generator.min_step=-1", r"^bench.select_generator.min_step must be a non-negative integer"),
    # refused once the GAN had trained (hours in a real run)
    ("bench.select_generator.seed=-1", r"^bench.select_generator.seed must be a non-negative integer, got -1"),
    # named ganaug-sample's bank.enabled=true, once the GAN had trained
    ("bench.select_generator.samples=1e12", r"^bench.select_generator.samples=1,000,000,000,000 needs .* of memory"),
])
def test_generator_choice_settings_are_checked_before_anything_runs(compose_cfg, tmp_path, tiny, override, match):
    with pytest.raises(ConfigError, match=match):
        run_benchmark(compose_cfg("bench", tiny + SELECT + [f"bench.out_dir={tmp_path / 'out'}", ONE_UNIT, override]))
    assert not (tmp_path / "out" / "units").exists()


def test_a_bank_the_machine_cannot_hold_is_refused_before_anything_runs(compose_cfg, tmp_path, tiny):
    # refused as "size=..." once the GAN had trained
    with pytest.raises(ConfigError, match=r"^bench.bank_size=100,000,000,000 needs .* lower bench.bank_size"):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path / 'out'}", ONE_UNIT,
                                                  "bench.bank_size=100000000000"]))
    assert not (tmp_path / "out" / "units").exists()


@pytest.mark.parametrize("override, match", [
    # a typo: the reference classifier trained on every image instead of 10 per class, rc 0
    ("+bench.regimes.n10={n_per_clas:10}", r"^bench.regimes.n10 has unknown key\(s\) \['n_per_clas'\]; a regime's "
                                           r"keys are .*n_per_class"),
    ("+bench.regimes.n30.gan_seed=[1]", r"^bench.regimes.n30 has unknown key\(s\) \['gan_seed'\]"),
    # silently replaced by the regime's subset and bench.gan_seeds
    ("train.data.n_per_class=5", r"^train.data.n_per_class=5 is not read by ganaug-bench: each regime sets its "
                                 r"own .*bench.regimes.<name>.n_per_class"),
    ("train.data.val_fraction=0.3", r"^train.data.val_fraction=0.3 is not read by ganaug-bench.*bench.val_fraction"),
    ("train.seed=-1", r"^train.seed=-1 is not read by ganaug-bench: each GAN's seed comes from bench.gan_seeds"),
    # the CLI probe: replaced without a word (out_dir, run_name); one checkpoint would start every GAN (ckpt_path)
    ("train.out_dir=/tmp/gans", r"^train.out_dir=/tmp/gans is not read by ganaug-bench: .*set bench.out_dir="),
    ("train.run_name=mine", r"^train.run_name=mine is not read by ganaug-bench"),
    ("train.ckpt_path=x.ckpt", r"^train.ckpt_path=x.ckpt is not read by ganaug-bench: each GAN resumes from its own"),
])
def test_settings_the_benchmark_would_ignore_are_refused(compose_cfg, tmp_path, tiny, override, match):
    with pytest.raises(ConfigError, match=match):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path / 'out'}", ONE_UNIT, override]))
    assert not (tmp_path / "out" / "units").exists()

"""benchmarks/keep_weights.py: the weights to commit so a long benchmark goes on in a fresh clone."""

import shutil
from pathlib import Path

import pytest

from ganaug.bench.runner import run_benchmark
from ganaug.eval.store import UnitStore

from test_runner import SELECT, _mtimes, _weights_gone  # noqa: E402 (tests/bench is on sys.path)
from _scripts import load_script

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def keep_weights():
    mod = load_script(REPO / "benchmarks" / "keep_weights.py", "keep_weights")
    return mod


def test_kept_weights_let_a_fresh_clone_go_on_without_training_a_gan(compose_cfg, tmp_path, tiny, keep_weights):
    out = tmp_path / "bench"
    cfg = compose_cfg("bench", tiny + SELECT + [f"bench.out_dir={out}"])
    run_benchmark(cfg)
    store = UnitStore(out / "units")
    chosen = Path(store.get("n30/select-g0")["generator"])
    kept = keep_weights.needed(out)
    assert set(kept) == {chosen, out / "n30/reference_classifier.safetensors"}

    # The clone: what is kept (committed) comes back, nothing else ignored does.
    saved = tmp_path / "saved"
    for p in kept:
        (shutil.copytree if p.is_dir() else shutil.copy)(p, saved / p.relative_to(out))
    (out / "units/n30/syn0.5/c1-g0.json").unlink()
    before = _mtimes(out)
    _weights_gone(out)
    shutil.copytree(saved, out, dirs_exist_ok=True)
    run_benchmark(cfg)
    after = _mtimes(out)
    # The bank is made again from the kept generator; no GAN, choice or classifier is trained again.
    assert {k for k in before if after[k] != before[k]} == {"n30/bank-g0.json"}
    assert "n30/syn0.5/c1-g0.json" in after


def test_a_choice_still_to_make_keeps_only_the_snapshots_it_scores(compose_cfg, tmp_path, tiny, keep_weights, capsys):
    # Snapshots every 10 updates of 40, candidates every 20: the snapshot after 20 and the final generator.
    out = tmp_path / "bench"
    select = [o for o in SELECT if "every_n_steps" not in o] + ["train.callbacks.snapshots.every_n_steps=10"]
    run_benchmark(compose_cfg("bench", tiny + select + [f"bench.out_dir={out}"]))
    (out / "units/n30/select-g0.json").unlink()
    gan = Path(UnitStore(out / "units").get("n30/gan-g0")["generator"])
    snapshots = gan.parent / "snapshots"
    assert {"g000010", "g000020", "g000030"} <= {p.name for p in snapshots.iterdir()}
    kept = set(keep_weights.needed(out))
    assert {gan, snapshots / "g000020"} <= kept
    assert not kept & {snapshots, snapshots / "g000010", snapshots / "g000030"}
    keep_weights.main([str(out)])
    assert "MB in 3 paths" in capsys.readouterr().out
    # Where the directory does not record its selection settings, every snapshot is kept.
    (out / "results.json").unlink()
    assert snapshots in keep_weights.needed(out)


def test_it_names_a_directory_that_is_no_benchmark(tmp_path, keep_weights):
    with pytest.raises(SystemExit, match="holds no benchmark units"):
        keep_weights.main([str(tmp_path)])


def test_a_gan_stopped_part_way_is_named_and_kept_on_request(compose_cfg, tmp_path, tiny, keep_weights, capsys):
    # A session that ends while a GAN trains: without its checkpoint, a fresh clone starts it from scratch.
    out = tmp_path / "bench"
    run_benchmark(compose_cfg("bench", tiny + SELECT + [f"bench.out_dir={out}"]))
    for uid in ("n30/gan-g0", "n30/select-g0"):
        (out / "units" / f"{uid}.json").unlink()
    ckpt, snapshots = out / "n30/gan-g0/checkpoints/last.ckpt", out / "n30/gan-g0/snapshots"
    assert ckpt.is_file() and snapshots.is_dir()
    keep_weights.main([str(out)])
    got = capsys.readouterr()
    assert "gan-g0 stopped part-way" in got.err and "--unfinished" in got.err and str(ckpt) not in got.out
    keep_weights.main([str(out), "--unfinished"])
    got = capsys.readouterr()
    assert str(ckpt) in got.out and str(snapshots) in got.out and not got.err

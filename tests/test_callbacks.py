import json
import os
import shutil
import subprocess
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
from safetensors.torch import load_file

from ganaug import ArtifactError, ConditionalGAN, load_generator
from ganaug.gan.callbacks import GeneratorSnapshots, list_snapshots
from ganaug.gan.train import build_callbacks, train

SNAP = "callbacks.snapshots.every_n_steps=5"


def _weights(path):
    return load_file(str(path / "generator.safetensors"))


def _same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k].numpy(), wb[k].numpy()) for k in wa)


def _tiny_gan(step=0):
    gan = ConditionalGAN(num_classes=3, image_size=8, channels=1, z_dim=8, g_width=8, d_width=8)
    gan.g_updates.fill_(step)
    return gan


def _trainer(root, rank0=True):
    return SimpleNamespace(is_global_zero=rank0, default_root_dir=str(root))


def test_snapshots_follow_schedule_and_last_equals_final_export(compose_cfg, fast, tmp_path, one_thread):
    result = train(compose_cfg(overrides=fast + [SNAP, f"out_dir={tmp_path}"]))
    assert result["g_updates"] == 20
    snaps = tmp_path / "snapshots"
    # Nothing but the snapshots: no staging debris left after a clean run.
    assert sorted(p.name for p in snaps.iterdir()) == ["g000005", "g000010", "g000015", "g000020"]
    final_meta = json.loads((tmp_path / "generator" / "generator.json").read_text())
    for step, path in zip((5, 10, 15, 20), list_snapshots(snaps)):
        gen = load_generator(path, expect_num_classes=10, expect_image_shape=(8, 8, 1))
        images, labels = gen.sample(n_per_class=2, seed=0)
        assert images.shape == (20, 8, 8, 1) and images.dtype == np.uint8
        assert sorted(set(labels.tolist())) == list(range(10))
        assert gen.meta["g_updates"] == step
        assert gen.meta["dataset"] == "digits" and gen.meta["class_names"] == final_meta["class_names"]
        assert gen.meta["train_config"] == final_meta["train_config"]
    assert _same_weights(snaps / "g000020", tmp_path / "generator")
    assert not _same_weights(snaps / "g000005", tmp_path / "generator")


def test_resume_keeps_written_snapshots_continues_schedule_and_prunes(compose_cfg, fast, tmp_path, one_thread):
    train(compose_cfg(overrides=fast + [SNAP, "+callbacks.checkpoint.save_top_k=-1", f"out_dir={tmp_path}"]))
    ckpts, snaps = tmp_path / "checkpoints", tmp_path / "snapshots"
    # As if killed at step ~17: the last checkpoint is from step 10, snapshots 15 and 20 exist already.
    shutil.copyfile(ckpts / "g_updates=10.ckpt", ckpts / "last.ckpt")
    before = {p.name: (p.stat().st_ino, (p / "generator.json").stat().st_mtime_ns) for p in list_snapshots(snaps)}

    second = train(compose_cfg(overrides=fast + [SNAP, "callbacks.snapshots.keep=4", "gan.max_steps=25",
                                                 f"out_dir={tmp_path}"]))
    assert second["resumed_from"].endswith("last.ckpt") and second["g_updates"] == 25
    # g000005 pruned (oldest beyond keep=4); the replayed 15 and 20 untouched; 25 added once.
    assert sorted(p.name for p in snaps.iterdir()) == ["g000010", "g000015", "g000020", "g000025"]
    for name in ("g000010", "g000015", "g000020"):
        p = snaps / name
        assert (p.stat().st_ino, (p / "generator.json").stat().st_mtime_ns) == before[name]
    assert load_generator(snaps / "g000025").meta["g_updates"] == 25
    assert _same_weights(snaps / "g000025", tmp_path / "generator")


def test_fresh_run_moves_an_earlier_runs_snapshots_aside(tmp_path):
    GeneratorSnapshots(every_n_steps=1).write(_tiny_gan(3), tmp_path)
    GeneratorSnapshots(every_n_steps=1, dirpath=str(tmp_path)).on_train_start(_trainer(tmp_path), _tiny_gan(0))
    assert list_snapshots(tmp_path) == []
    (aside,) = tmp_path.glob(".earlier-*")
    assert load_generator(aside / "g000003").meta["g_updates"] == 3


def test_keep_prunes_oldest_and_skips_replayed_steps_it_would_prune(tmp_path):
    cb = GeneratorSnapshots(every_n_steps=1, keep=2)
    for step in (1, 2, 3, 4):
        assert cb.write(_tiny_gan(step), tmp_path) == tmp_path / f"g{step:06d}"
    assert [p.name for p in list_snapshots(tmp_path)] == ["g000003", "g000004"]
    # A resumed run replaying step 2 would write it only for pruning to delete it.
    assert cb.write(_tiny_gan(2), tmp_path) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g000003", "g000004"]


def test_one_snapshot_per_generator_update_and_only_on_rank_zero(tmp_path, monkeypatch):
    gan = _tiny_gan(0)
    calls = []
    export = gan.export_generator
    monkeypatch.setattr(gan, "export_generator", lambda *a, **k: calls.append(int(gan.g_updates)) or export(*a, **k))
    cb = GeneratorSnapshots(every_n_steps=2)
    rank0, rank1 = _trainer(tmp_path), _trainer(tmp_path / "rank1", rank0=False)
    cb.on_train_start(rank0, gan)
    # n_dis=2: two batches (D updates) end on each generator update.
    for step in (0, 1, 1, 2, 2, 3, 3, 4, 4):
        gan.g_updates.fill_(step)
        cb.on_train_batch_end(rank0, gan, None, None, 0)
        cb.on_train_batch_end(rank1, gan, None, None, 0)
    assert calls == [2, 4]
    assert [p.name for p in list_snapshots(tmp_path / "snapshots")] == ["g000002", "g000004"]
    assert not (tmp_path / "rank1").exists()


def test_failed_export_leaves_no_snapshot(tmp_path, monkeypatch):
    import ganaug.gan.artifact

    def interrupted(path, data):
        raise KeyboardInterrupt  # after the weights, before the JSON that makes them loadable

    monkeypatch.setattr(ganaug.gan.artifact, "atomic_write_bytes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        GeneratorSnapshots().write(_tiny_gan(500), tmp_path)
    assert list_snapshots(tmp_path) == []
    assert not list(tmp_path.rglob("generator.*"))  # the half-export was removed, not left as debris


KILLED = textwrap.dedent("""
    import os, sys
    import ganaug.gan.artifact
    from ganaug import ConditionalGAN
    from ganaug.gan.callbacks import GeneratorSnapshots

    def killed(path, data):
        os._exit(9)  # no cleanup runs, as with SIGKILL: the weights are on disk, the JSON is not

    gan = ConditionalGAN(num_classes=3, image_size=8, channels=1, z_dim=8, g_width=8, d_width=8)
    gan.g_updates.fill_(500)
    ganaug.gan.artifact.atomic_write_bytes = killed
    GeneratorSnapshots().write(gan, sys.argv[1])
""")


def test_killed_export_leaves_nothing_loadable_and_next_start_clears_it(tmp_path, python):
    done = subprocess.run([python, "-c", KILLED, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 9, done.stderr[-2000:]
    assert list_snapshots(tmp_path) == []
    (debris,) = (tmp_path / ".partial").iterdir()
    assert (debris / "generator.safetensors").is_file()
    with pytest.raises(ArtifactError):
        load_generator(debris)

    gan = _tiny_gan(500)
    cb = GeneratorSnapshots(every_n_steps=500, dirpath=str(tmp_path))
    cb.on_train_start(_trainer(tmp_path), _tiny_gan(400))
    assert not (tmp_path / ".partial").exists()
    cb.on_train_batch_end(_trainer(tmp_path), gan, None, None, 0)
    assert load_generator(tmp_path / "g000500").meta["g_updates"] == 500


def test_config_wiring(compose_cfg, fast, tmp_path):
    cfg = compose_cfg(overrides=fast + [f"out_dir={tmp_path}"])
    assert cfg.callbacks.snapshots.every_n_steps == 500 and cfg.callbacks.snapshots.keep is None
    (cb,) = [c for c in build_callbacks(cfg, tmp_path) if isinstance(c, GeneratorSnapshots)]
    assert cb.dirpath == str(tmp_path / "snapshots")
    assert cb.extra["dataset"] == "digits" and cb.extra["train_config"]["g_width"] == 8

    dropped = compose_cfg(overrides=fast + ["~callbacks.snapshots"])
    assert "snapshots" not in dropped.callbacks
    assert not any(isinstance(c, GeneratorSnapshots) for c in build_callbacks(dropped, tmp_path))


@pytest.mark.parametrize("kwargs", [{"every_n_steps": 0}, {"keep": 0}])
def test_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        GeneratorSnapshots(**kwargs)


@pytest.mark.parametrize("cls, kwargs, message", [
    # The Python API refuses what ganaug-train refuses before the data is read (one table, the class's SETTINGS):
    # a 1e8-image grid passed to SampleGrid went through until update 500.
    ("SampleGrid", {"n_per_class": 100_000_000}, r"n_per_class must be at most 100"),
    ("SampleGrid", {"seed": "abc"}, r"seed must be a non-negative integer"),
    ("GANCheckpoint", {"every_n_minutes": "abc"}, r"every_n_minutes must be a positive number"),
    ("GANCheckpoint", {"every_n_steps": 2.5}, r"every_n_steps must be a positive integer"),
    ("GANProgressBar", {"refresh_interval": "abc"}, r"refresh_interval must lie in \[0, 3600\]"),
])
def test_a_callback_built_in_python_refuses_what_the_command_refuses(cls, kwargs, message):
    from ganaug.errors import ConfigError
    from ganaug.gan import callbacks, progress

    with pytest.raises(ConfigError, match=message):
        (getattr(callbacks, cls, None) or getattr(progress, cls))(**kwargs)

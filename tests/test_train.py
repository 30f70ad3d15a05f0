import json
import logging
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import torch

from ganaug import load_generator
from ganaug.gan.train import train


def _ckpt(path):
    # Our own checkpoint, written by this test: trusted, so full unpickling is fine here.
    return torch.load(path, map_location="cpu", weights_only=False)


def _steps_saved(ckpt_dir):
    return [int(float(p.stem.split("=")[1])) for p in ckpt_dir.glob("g_updates=*.ckpt")]


def test_end_to_end_digits_exports_and_reloads(compose_cfg, fast, tmp_path):
    cfg = compose_cfg(overrides=fast + [f"out_dir={tmp_path}"])
    result = train(cfg)
    assert result["g_updates"] == 20 and result["resumed_from"] is None
    gen = load_generator(result["generator"], expect_num_classes=10, expect_image_shape=(8, 8, 1))
    images, labels = gen.sample(n_per_class=3, seed=0)
    assert images.shape == (30, 8, 8, 1) and images.dtype == np.uint8
    meta = json.loads((tmp_path / "generator" / "generator.json").read_text())
    assert meta["dataset"] == "digits" and meta["g_updates"] == 20
    assert meta["class_names"] == [str(i) for i in range(10)]
    # The labelled images it saw, so ganaug-tune can refuse to validate on them.
    assert meta["data_split"] == {k: cfg.data.get(k) for k in
                                  ("n_per_class", "imbalance_ratio", "n_max", "data_seed", "val_fraction")}
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.png")) == ["grid_000010.png", "grid_000020.png"]
    ckpt = _ckpt(tmp_path / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 40  # 20 generator + 20 discriminator updates



def test_the_gpu_trainer_settings_train_here_too(compose_cfg, fast, tmp_path, monkeypatch):
    # trainer=gpu: full precision and the regime resident on the device. Run on the CPU (the numbers
    # differ from a GPU's, the code path is the same), every batch gathered from the resident copy, under
    # the bf16 autocast a user can turn on.
    from ganaug.data import GANDataModule

    gathered, real = [], GANDataModule._resident_on
    monkeypatch.setattr(GANDataModule, "_resident_on", lambda self, device: (gathered.append(device), real(self, device))[1])
    gpu = compose_cfg(overrides=fast + ["trainer=gpu"])
    assert gpu.trainer.accelerator == "gpu" and gpu.trainer.precision == "32-true" and gpu.data.on_device == "auto"
    assert gpu.trainer.benchmark is True
    cfg = compose_cfg(overrides=fast + ["trainer=gpu", "trainer.accelerator=cpu", "data.on_device=true",
                                        "trainer.precision=bf16-mixed",
                                        "gan.max_steps=6", f"out_dir={tmp_path}"])
    assert train(cfg)["g_updates"] == 6
    assert len(gathered) == 6 and set(gathered) == {torch.device("cpu")}
    images, _ = load_generator(tmp_path / "generator").sample(n_per_class=2, seed=0)
    assert images.shape == (20, 8, 8, 1)

def test_resume_continues_with_optimizer_and_ema_state(compose_cfg, fast, tmp_path):
    first = train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}"]))
    assert first["g_updates"] == 20
    ckpt = _ckpt(tmp_path / "checkpoints" / "last.ckpt")
    assert any(k.startswith("ema.") for k in ckpt["state_dict"])
    ema_at_20 = {k: v for k, v in ckpt["state_dict"].items() if k.startswith("ema.")}

    second = train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "gan.max_steps=30"]))
    assert second["resumed_from"].endswith("last.ckpt")
    assert second["g_updates"] == 30
    ckpt = _ckpt(tmp_path / "checkpoints" / "last.ckpt")
    # Adam's step counter continued from 20: the optimizer state was restored, not rebuilt.
    g_state = ckpt["optimizer_states"][0]["state"]
    assert int(next(iter(g_state.values()))["step"]) == 30
    moved = [k for k, v in ema_at_20.items() if not torch.equal(v, ckpt["state_dict"][k])]
    assert moved, "EMA weights should keep evolving after resume"


def test_a_resumed_run_tells_its_training_time_over_every_stretch(compose_cfg, fast, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="ganaug.gan.train")
    first = train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}"]))
    assert first["stretches"] == 1 and first["train_seconds"] > 0
    ckpt = _ckpt(tmp_path / "checkpoints" / "last.ckpt")
    saved = ckpt["callbacks"]["TrainingClock"]["seconds"]
    assert 0 < saved <= first["train_seconds"]
    second = train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "gan.max_steps=30"]))
    assert second["stretches"] == 2 and second["train_seconds"] > saved
    assert "after 30 generator updates (training" in caplog.text and ", over 2 runs)" in caplog.text

    # A checkpoint written before the clock existed resumes too: its earlier time is unknown, so not counted.
    del ckpt["callbacks"]["TrainingClock"]
    torch.save(ckpt, tmp_path / "checkpoints" / "last.ckpt")
    third = train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "gan.max_steps=25"]))
    assert third["g_updates"] == 25 and third["stretches"] == 1 and third["train_seconds"] > 0


def test_killed_run_resumes_with_same_command(tmp_path, python, fast, repo):
    # Killed (SIGKILL: no chance to save on the way out) before its first step-based checkpoint:
    # the time-based last.ckpt is what it resumes from.
    out = tmp_path / "run"
    def cmd(max_steps):
        return [python, "-m", "ganaug.cli.train", *fast, f"gan.max_steps={max_steps}",
                "callbacks.checkpoint.every_n_steps=4000", "callbacks.checkpoint.every_n_minutes=0.01",
                f"out_dir={out}", f"hydra.run.dir={tmp_path / 'hydra'}"]

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(cmd(400), cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    last = out / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    try:
        while not (last.is_file() and _ckpt(last)["global_step"] >= 20):
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.time() < deadline
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not _steps_saved(out / "checkpoints")  # no step-based checkpoint: the clock wrote last.ckpt
    assert not list((out / "checkpoints").glob("*.tmp")) and not (out / "generator").exists()
    killed_at = _ckpt(last)["global_step"] // 2
    assert 10 <= killed_at < 400

    done = subprocess.run(cmd(killed_at + 5), cwd=repo, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming from" in done.stderr + done.stdout
    meta = json.loads((out / "generator" / "generator.json").read_text())
    assert meta["g_updates"] == killed_at + 5


# Two processes each: run one DDP test at a time under pytest-xdist (--dist loadgroup).
@pytest.mark.xdist_group("ddp")
def test_ddp_two_cpu_processes(tmp_path, python, fast, repo):
    cmd = [python, "-m", "ganaug.cli.train", *fast, "gan.max_steps=6", "trainer=ddp", "trainer.accelerator=cpu",
           "trainer.devices=2", f"out_dir={tmp_path}", f"hydra.run.dir={tmp_path / 'hydra'}"]
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    assert "GLOBAL_RANK: 1" in log and "Starting with 2 processes" in log
    gen = load_generator(tmp_path / "generator")
    assert gen.meta["g_updates"] == 6


def test_multirun_sweep(tmp_path, python, fast, repo):
    cmd = [python, "-m", "ganaug.cli.train", "-m", *fast, "gan.max_steps=2", "gan.lr_g=1e-4,2e-4",
           "~callbacks.sample_grid", f"hydra.sweep.dir={tmp_path}"]
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr[-3000:]
    lrs = sorted(load_generator(tmp_path / str(i) / "generator").meta["train_config"]["lr_g"] for i in (0, 1))
    assert lrs == [1e-4, 2e-4]


def test_unknown_dataset_is_a_clear_error(compose_cfg):
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="imagenet"):
        compose_cfg(overrides=["data=imagenet"])


def test_missing_resume_checkpoint(compose_cfg, fast, tmp_path):
    cfg = compose_cfg(overrides=fast + [f"out_dir={tmp_path}", f"ckpt_path={tmp_path / 'nope.ckpt'}"])
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        train(cfg)


def _weights(run_dir):
    from safetensors.torch import load_file

    state = _ckpt(run_dir / "checkpoints" / "last.ckpt")["state_dict"]
    return {**load_file(str(run_dir / "generator" / "generator.safetensors")), **state}


def test_resume_is_exact(compose_cfg, fast, tmp_path):
    # Issue 42.9: a run stopped at update 12 (mid-epoch: digits has 21 batches an epoch) and rerun to 30 equals
    # a run of 30 updates, bit for bit: the data order, the noise and DiffAugment's draws continue where they
    # stopped. Before, the resumed run drew another shuffle and other noise (mean |Δpixel| 0.94/255).
    whole = tmp_path / "whole"
    train(compose_cfg(overrides=fast + [f"out_dir={whole}", "gan.max_steps=30"]))
    parts = tmp_path / "parts"
    train(compose_cfg(overrides=fast + [f"out_dir={parts}", "gan.max_steps=12"]))
    second = train(compose_cfg(overrides=fast + [f"out_dir={parts}", "gan.max_steps=30"]))
    assert second["resumed_from"]
    a, b = _weights(whole), _weights(parts)
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, differ[:5]
    # A second seed is another run: the check above could not pass by training nothing.
    other = tmp_path / "other"
    train(compose_cfg(overrides=fast + [f"out_dir={other}", "gan.max_steps=30", "seed=1"]))
    assert any(not torch.equal(a[k], v) for k, v in _weights(other).items())


def test_training_turns_tf32_off_unless_asked(compose_cfg, fast, tmp_path):
    # Issue 46: torch turns TF32 on for cuDNN convolutions by default, so GPU GANs at 32-true were not the recipe.
    torch.backends.cudnn.conv.fp32_precision = "tf32"
    try:
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path / 'a'}", "gan.max_steps=1"]))
        assert torch.backends.cudnn.conv.fp32_precision == "ieee"
        assert torch.backends.cuda.matmul.fp32_precision == "ieee"
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path / 'b'}", "gan.max_steps=1", "tf32=true"]))
        assert torch.backends.cudnn.conv.fp32_precision == "tf32"
    finally:
        torch.backends.cudnn.conv.fp32_precision = "tf32"
        torch.backends.cuda.matmul.fp32_precision = "none"

"""ganaug-train under clumsy and hostile use: changed settings, interrupts, damaged or planted checkpoints."""

import json
import os
import signal
import subprocess
import time

import cv2
import numpy as np
import pytest
import torch

from ganaug.errors import ConfigError, GanaugError
from ganaug.gan.run_record import RunSettingsChanged
from ganaug.gan.train import train


def _env(**extra):
    return {**os.environ, "PYTHONWARNINGS": "ignore", **extra}


def _cli(python, repo, args, tmp_path, timeout=180, env=None):
    cmd = [python, "-m", "ganaug.cli.train", *args, f"hydra.run.dir={tmp_path / 'hydra'}"]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=timeout, env=env or _env())


# -- 1. a rerun never resumes a run of other settings ------------------------------------------------


def test_rerun_with_another_split_refuses_to_resume(compose_cfg, fast, tmp_path):
    train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}"]))
    with pytest.raises(RunSettingsChanged) as e:
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "data.val_fraction=0.2"]))
    message = str(e.value)
    assert "data.val_fraction: 0.0 -> 0.2" in message
    assert "run_name=" in message and "resume=false" in message
    # What the message offers works, and the export then describes the images it was trained on.
    train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "data.val_fraction=0.2", "resume=false"]))
    meta = json.loads((tmp_path / "generator" / "generator.json").read_text())
    assert meta["data_split"]["val_fraction"] == 0.2


def test_rerun_with_other_gan_settings_refuses_but_a_longer_run_resumes(compose_cfg, fast, tmp_path):
    train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}"]))
    with pytest.raises(RunSettingsChanged, match=r"gan.lr_g: 0.0002 -> 0.0001"):
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "gan.lr_g=1e-4"]))
    longer = train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "gan.max_steps=25"]))
    assert longer["resumed_from"] and longer["g_updates"] == 25
    # The CLI probe: a shorter rerun exited 0 and exported the 25-update generator recorded as max_steps 10.
    exported = (tmp_path / "generator" / "generator.json").read_bytes()
    with pytest.raises(ConfigError, match=r"last.ckpt is at 25 generator updates, past gan.max_steps=10"):
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "gan.max_steps=10"]))
    assert (tmp_path / "generator" / "generator.json").read_bytes() == exported


def test_explicit_checkpoint_is_checked_against_the_run_that_wrote_it(compose_cfg, fast, tmp_path):
    train(compose_cfg(overrides=fast + [f"out_dir={tmp_path / 'a'}"]))
    ckpt = tmp_path / "a" / "checkpoints" / "last.ckpt"
    with pytest.raises(RunSettingsChanged, match="data.n_per_class"):
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path / 'b'}", f"ckpt_path={ckpt}",
                                            "data.n_per_class=50"]))


def _image_folder(root, classes):
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(6):
            cv2.imwrite(str(root / name / f"{i}.png"), rng.integers(0, 255, (8, 8), dtype=np.uint8))


def test_a_rerun_on_changed_images_refuses_to_resume(compose_cfg, fast, tmp_path):
    # data.dataset.root names where the images are, not which: a class folder renamed from dog to ant
    # sorts first, so the old weights' class 0 (cat) would go on training on the dog images as 'ant'.
    root = tmp_path / "images"
    _image_folder(root, ["cat", "dog"])
    folder = fast[1:] + ["data=image_folder", f"data.dataset.root={root}", f"out_dir={tmp_path / 'run'}",
                         "data.batch_size=4"]
    train(compose_cfg(overrides=folder))
    (root / "dog").rename(root / "ant")
    longer = folder + ["gan.max_steps=25"]
    with pytest.raises(RunSettingsChanged, match=r"data.content \(the training images, their labels and class "
                                                  r"names\): changed"):
        train(compose_cfg(overrides=longer))
    (root / "ant").rename(root / "dog")
    (root / "cat" / "0.png").unlink()  # one image fewer: other images, too
    with pytest.raises(RunSettingsChanged, match=r"data.content"):
        train(compose_cfg(overrides=longer))


def test_a_run_recorded_before_its_data_content_was_resumes_and_records_it(compose_cfg, fast, tmp_path):
    train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}"]))
    record = tmp_path / "checkpoints" / "run.json"
    doc = json.loads(record.read_text())
    content = doc["settings"]["data"].pop("content")
    record.write_text(json.dumps(doc))
    longer = train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "gan.max_steps=25"]))
    assert longer["resumed_from"] and json.loads(record.read_text())["settings"]["data"]["content"] == content


def test_default_run_name_tells_data_splits_apart(compose_cfg):
    names = {compose_cfg(overrides=o).run_name for o in
             ([], ["data.n_per_class=100"], ["data.val_fraction=0.2"], ["data.imbalance_ratio=10"],
              ["data.data_seed=1"], ["data.n_max=500"])}
    assert len(names) == 6
    assert compose_cfg().run_name == "fashion_mnist-seed0"  # the README's main job keeps its directory
    assert compose_cfg(overrides=["data.n_per_class=100"]).run_name == "fashion_mnist-n100-seed0"


# -- 6. no work lost to an interrupt --------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_saves_a_checkpoint_and_says_how_to_resume(sig, tmp_path, python, fast, repo):
    out = tmp_path / "run"
    args = [*fast, "gan.max_steps=5000", "callbacks.checkpoint.every_n_steps=4000", "callbacks.checkpoint.every_n_minutes=null",
            "callbacks.sample_grid.every_n_steps=5", "~callbacks.snapshots", f"out_dir={out}"]
    cmd = [python, "-m", "ganaug.cli.train", *args, f"hydra.run.dir={tmp_path / 'hydra'}"]
    proc = subprocess.Popen(cmd, cwd=repo, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "samples" / "grid_000005.png").exists():  # training has started
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read()[-2000:] if proc.poll() else "slow"
        time.sleep(0.1)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr[-2000:]
    assert "Traceback" not in stderr
    assert "interrupted after" in stderr and "Rerun the same command to resume" in stderr
    assert not (out / "generator").exists()  # an unfinished GAN is not exported as if it were done
    stopped_at = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] // 2
    assert stopped_at >= 5
    if sig != signal.SIGINT:
        return  # resuming is the same for either signal

    done = _cli(python, repo, [*args, f"gan.max_steps={stopped_at + 3}"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming from" in done.stderr + done.stdout
    assert json.loads((out / "generator" / "generator.json").read_text())["g_updates"] == stopped_at + 3
    # That the resumed run equals an uninterrupted one: test_train.py::test_resume_is_exact (the signal saves
    # last.ckpt at an update's end, as a run ending at gan.max_steps does).


# The time-based checkpoint (written before the first step-based one, and resumed after a SIGKILL) is
# tested in test_train.py::test_killed_run_resumes_with_same_command.


# -- 7, 9. damaged and planted checkpoints ------------------------------------------------------------


def test_truncated_last_checkpoint_is_named_with_the_fix(compose_cfg, fast, tmp_path):
    train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}"]))
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    with pytest.raises(GanaugError, match=r"last.ckpt is not a readable checkpoint.*resume=false"):
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}"]))


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_planted_pickle_checkpoint_is_not_run(compose_cfg, fast, tmp_path, monkeypatch):
    # torch's default for weights_only follows the environment; resuming must not.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    (tmp_path / "checkpoints").mkdir()
    torch.save({"state_dict": {}, "x": _Payload(marker)}, tmp_path / "checkpoints" / "last.ckpt")
    with pytest.raises(GanaugError, match="does not unpickle"):
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}"]))
    assert not marker.exists()


# -- 14. clear messages (the command-line side is in test_cli.py) ------------------------------------


@pytest.mark.parametrize("steps", [0, -5])
def test_max_steps_out_of_range_is_named(steps, compose_cfg, fast, tmp_path):
    with pytest.raises(ConfigError, match=rf"gan.max_steps={steps}"):
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", f"gan.max_steps={steps}"]))
    assert not (tmp_path / "generator").exists()


@pytest.mark.parametrize("override, match", [
    ("seed=-1", r"seed must be a non-negative integer, got -1; set e.g. seed=0"),  # numpy's ValueError before
    ("seed=1.5", r"seed must be a non-negative integer, got 1.5"),
    ("resume=maybe", r"resume must be true or false, got 'maybe'"),  # taken as true before
    # Found by the CLI probe: each of these was a traceback, most of them only once training had begun.
    ("seed=99999999999999999999", r"seed must be at most 4294967295"),
    ("tf32=maybe", r"tf32 must be true or false, got 'maybe'"),  # turned TF32 on
    ("trainer.enable_progress_bar=maybe", r"trainer.enable_progress_bar must be true or false"),
    ("export_dir=", r"export_dir is empty"),  # the export went into out_dir itself
    ("callbacks.sample_grid.n_per_class=-1", r"callbacks.sample_grid.n_per_class must be a positive integer"),
    ("callbacks.sample_grid.n_per_class=100000000", r"callbacks.sample_grid.n_per_class must be at most 100"),
    ("callbacks.sample_grid.seed=abc", r"callbacks.sample_grid.seed must be a non-negative integer"),
    ("callbacks.checkpoint.every_n_steps=abc", r"callbacks.checkpoint.every_n_steps must be a positive integer"),
    ("callbacks.checkpoint.every_n_minutes=abc", r"callbacks.checkpoint.every_n_minutes must be a positive number"),
    ("callbacks.snapshots.keep=0", r"callbacks.snapshots.keep must be a positive integer"),
    ("callbacks.progress.refresh_interval=abc", r"callbacks.progress.refresh_interval must lie in"),
    ("callbacks.snapshots.dirpath=''", r"callbacks.snapshots.dirpath is empty"),
    ("logger.name=", r"logger.name is empty: set logger.name=logs"),  # the logs went to <out_dir>/version_0
    ("data.name=null", r"data.name must name the dataset, got None"),  # the run went to runs/None-seed0
    ("trainer.devices=2", r"trainer.devices=2 trains in several processes.*use e.g. trainer=ddp trainer.devices=2"),
])
def test_top_level_settings_out_of_range_are_named(override, match, compose_cfg, fast, tmp_path):
    with pytest.raises(ConfigError, match=match):
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path / 'run'}", override]))
    assert not (tmp_path / "run").exists()  # refused before the run directory is made


def test_a_logger_whose_name_is_no_folder_may_leave_it_empty(compose_cfg, fast, tmp_path):
    # WandbLogger's name is a display name, null by default: only a folder logger's empty name is refused.
    from ganaug.gan.train import _check_run_keys

    _check_run_keys(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "logger.name=null",
                                                  "logger._target_=pytorch_lightning.loggers.WandbLogger"]))
    with pytest.raises(ConfigError, match="logger.name is empty"):
        _check_run_keys(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "logger.name=null",
                                                      "logger._target_=pytorch_lightning.loggers.TensorBoardLogger"]))


@pytest.mark.parametrize("override", ["trainer.max_epochs=1", "+trainer.max_steps=10", "+trainer.max_time=00:00:01:00"])
def test_a_trainer_length_beside_gan_max_steps_is_refused(override, compose_cfg, fast, tmp_path):
    # max_epochs=1 stopped the GAN part-way (21 of 50 updates on digits) and exported it as the finished
    # one; trainer.max_steps was replaced without a word by the one gan.max_steps gives.
    key = override.lstrip("+").split("=")[0]
    with pytest.raises(ConfigError, match=rf"{key}=.*: the GAN's length is gan.max_steps .*gan.max_steps=2000"):
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path / 'run'}", override]))
    assert not (tmp_path / "run").exists()


def test_training_stopped_by_a_callback_is_not_exported_and_resumes(compose_cfg, fast, tmp_path):
    import pytorch_lightning as pl

    from ganaug.gan.train import IncompleteTraining

    class StopEarly(pl.Callback):  # as EarlyStopping would
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if int(pl_module.g_updates) >= 10:
                trainer.should_stop = True

    cfg = compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "callbacks.checkpoint.every_n_steps=5"])
    with pytest.raises(IncompleteTraining, match=r"stopped after 10 of 20 generator updates, not on a signal: .*"
                                                 r"not exported. .*rerun the same command to resume"):
        train(cfg, extra_callbacks=[StopEarly()])
    assert not (tmp_path / "generator").exists()
    result = train(cfg)
    assert result["g_updates"] == 20 and result["resumed_from"] and (tmp_path / "generator").is_dir()


def test_a_checkpoint_path_that_is_a_directory_is_named(compose_cfg, fast, tmp_path):
    # 'does not exist' before, of a directory that does
    with pytest.raises(GanaugError, match=rf"ckpt_path={tmp_path} is a directory; give the checkpoint file, e.g. "
                                          rf"ckpt_path={tmp_path}/last.ckpt"):
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path / 'run'}", f"ckpt_path={tmp_path}"]))


def test_an_out_dir_that_cannot_be_created_is_named(compose_cfg, fast, tmp_path):
    from ganaug.cli.messages import user_message

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError) as e:
        train(compose_cfg(overrides=fast + [f"out_dir={blocker / 'run'}"]))
    assert str(blocker) in user_message(e.value)


# -- asking for a GPU the machine does not have ------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_trainer_gpu_without_a_gpu_is_a_message_before_any_data_is_read(python, fast, repo, tmp_path):
    done = _cli(python, repo, [*fast, "trainer=gpu", f"out_dir={tmp_path / 'run'}"], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "trainer.accelerator=gpu (trainer=gpu), but torch" in done.stderr and "trainer=cpu" in done.stderr
    assert not (tmp_path / "run").exists()


def test_a_rerun_at_another_precision_refuses_to_resume(compose_cfg, fast, tmp_path):
    # Issue 42.9: trainer.precision was not in run.json, so a rerun at bf16 resumed a 32-bit run silently.
    from ganaug.gan.run_record import RunSettingsChanged

    train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "gan.max_steps=4"]))
    with pytest.raises(RunSettingsChanged, match=r"trainer.precision: \"32-true\" -> \"bf16-mixed\""):
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "gan.max_steps=6", "trainer.precision=bf16-mixed"]))
    # Lightning's short name is the same setting.
    assert train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "gan.max_steps=6", "trainer.precision=32"]))[
        "g_updates"] == 6


def test_a_run_json_without_the_precision_resumes_and_records_it(compose_cfg, fast, tmp_path):
    train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "gan.max_steps=4"]))
    record = tmp_path / "checkpoints" / "run.json"
    doc = json.loads(record.read_text())
    del doc["settings"]["trainer"]
    record.write_text(json.dumps(doc))
    train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "gan.max_steps=6"]))
    assert json.loads(record.read_text())["settings"]["trainer"] == {"precision": "32-true"}


@pytest.mark.parametrize("content, match", [
    (b"root:x:0:0:root:/root:/bin/bash\n", "a file starting .*neither a zip archive"),  # ckpt_path=/etc/passwd: IndexError before
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", "a git-lfs pointer"),
    (b"<!DOCTYPE html><html><body>Not found</body></html>", "an HTML or XML page"),
    (b"", "empty"),
])
def test_a_file_that_is_no_checkpoint_is_named_for_what_it_is(compose_cfg, fast, tmp_path, content, match):
    ckpt = tmp_path / "given.ckpt"
    ckpt.write_bytes(content)
    with pytest.raises(GanaugError, match=f"is not a PyTorch checkpoint: it is {match}"):
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path / 'run'}", f"ckpt_path={ckpt}"]))



def test_a_network_no_machine_holds_is_refused_before_allocating(compose_cfg, fast, tmp_path):
    # Issue 42.13: gan.z_dim=100000000 asked for a 204 GB allocation, reported through Hydra without the setting.
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"gan.z_dim=100000000.*M parameters.*far too large"):
        train(compose_cfg(overrides=fast + [f"out_dir={tmp_path}", "gan.z_dim=100000000"]))
    assert time.perf_counter() - start < 30

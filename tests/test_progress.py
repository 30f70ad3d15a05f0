"""The progress a user reads: one bar in generator updates, start-up lines, no irrelevant Lightning chatter."""

import logging
from types import SimpleNamespace

import pytest
import torch
from pytorch_lightning.utilities.parsing import AttributeDict
from tqdm import tqdm

import ganaug.gan.train as train_mod
from ganaug.gan.progress import DurationEstimate, GANProgressBar, format_duration
from ganaug.gan.train import QUIET_INFO, build_callbacks, quiet_lightning, train

# Redraw on every batch, whatever the output is: the tests read every redraw.
BAR_ON = [
    "trainer.enable_progress_bar=true",
    "callbacks.progress.refresh_interval=0",
    "callbacks.progress.file_refresh_interval=0",
]


@pytest.fixture
def built(monkeypatch):
    """The callbacks each train() call used, in call order."""
    calls = []

    def spy(*args, **kwargs):
        calls.append(build_callbacks(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(train_mod, "build_callbacks", spy)
    return calls


def _bar(callbacks):
    bars = [cb for cb in callbacks if isinstance(cb, GANProgressBar)]
    assert len(bars) == 1
    return bars[0].train_progress_bar


def test_bar_format_counts_with_separators_and_times_this_process_only():
    # A run resumed at 1,000 that did 234 updates in 10 s: 23.4 updates/s, so 4,766 left take 3 min 24 s.
    # Counting the restored 1,000 as done in those 10 s would claim 123.4/s and 39 s.
    line = tqdm.format_meter(n=1234, total=6000, elapsed=10.0, initial=1000, unit="upd",
                             prefix="generator updates", bar_format=GANProgressBar.BAR_FORMAT)
    assert "1,234/6,000" in line
    assert "00:10<03:23" in line or "00:10<03:24" in line
    assert "23.40upd/s" in line


def test_progress_bar_follows_enable_progress_bar(compose_cfg, fast, tmp_path):
    off = compose_cfg(overrides=fast)  # FAST: trainer.enable_progress_bar=false
    assert not any(isinstance(cb, GANProgressBar) for cb in build_callbacks(off, tmp_path))
    on = compose_cfg(overrides=fast + ["trainer.enable_progress_bar=true"])
    assert sum(isinstance(cb, GANProgressBar) for cb in build_callbacks(on, tmp_path)) == 1


def test_one_bar_over_the_job_and_resumed_from_restored_count(compose_cfg, fast, tmp_path, capsys, caplog, built,
                                                              one_thread):
    caplog.set_level(logging.INFO, logger="ganaug.gan.train")
    overrides = fast + BAR_ON + [f"out_dir={tmp_path}"]
    first = train(compose_cfg(overrides=overrides + ["gan.max_steps=6"]))
    bar = _bar(built[0])
    assert (bar.initial, bar.n, bar.total) == (0, 6, 6) == (0, first["g_updates"], 6)
    out = capsys.readouterr().out
    # One bar over generator updates (digits has 21 batches an epoch: Lightning's bar would say "Epoch 0").
    assert "generator updates: 100%" in out and "| 6/6 [" in out and "Epoch" not in out
    assert "loss/d=" in out and "loss/g=" in out

    lines = [r.getMessage() for r in caplog.records if r.name == "ganaug.gan.train"]
    assert any(m.startswith("data: digits, 1,347 labelled images in 10 classes, 8x8x1") for m in lines)
    assert f"output directory: {tmp_path} (checkpoints in {tmp_path / 'checkpoints'})" in lines
    device = next(m for m in lines if m.startswith("device: "))
    assert "cpu" in device and "precision=32-true" in device and f"{torch.get_num_threads()} torch threads" in device
    duration = next(m for m in lines if m.startswith("expected duration: "))
    assert "6 generator updates" in duration and "progress bar shows the ETA" in duration

    caplog.clear()
    second = train(compose_cfg(overrides=overrides + ["gan.max_steps=12"]))
    assert second["resumed_from"]
    bar = _bar(built[1])
    assert (bar.initial, bar.n, bar.total) == (6, 12, 12)
    out = capsys.readouterr().out
    assert "| 6/12 [" in out and "| 12/12 [" in out and "| 0/12 [" not in out


def test_enable_progress_bar_false_trains_without_a_bar(compose_cfg, fast, tmp_path, capsys, caplog, built,
                                                        one_thread):
    caplog.set_level(logging.INFO, logger="ganaug.gan.train")
    result = train(compose_cfg(overrides=fast + ["gan.max_steps=3", f"out_dir={tmp_path}"]))
    assert result["g_updates"] == 3
    assert not any(isinstance(cb, GANProgressBar) for cb in built[0])
    assert "generator updates:" not in capsys.readouterr().out
    lines = [r.getMessage() for r in caplog.records if r.name == "ganaug.gan.train"]
    assert f"output directory: {tmp_path} (checkpoints in {tmp_path / 'checkpoints'})" in lines
    duration = next(m for m in lines if m.startswith("expected duration: "))
    assert "progress bar" not in duration


def test_duration_estimate_times_updates_after_warm_up(caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="ganaug.gan.train")
    clock = iter([100.0, 100.5])  # read at update 2 (after the skipped first) and at update 7
    monkeypatch.setattr("ganaug.gan.progress.time.perf_counter", lambda: next(clock))
    gan = SimpleNamespace(g_updates=torch.tensor(0), hparams=AttributeDict(n_dis=1, max_steps=6000))
    trainer = SimpleNamespace(is_global_zero=True)
    est = DurationEstimate(skip=2, measure=5)
    est.on_train_start(trainer, gan)
    for _ in range(10):
        gan.g_updates += 1
        est.on_train_batch_end(trainer, gan, None, None, 0)
    assert est.per_update == pytest.approx(0.1)
    (message,) = [r.getMessage() for r in caplog.records]
    assert message == ("expected duration: about 10 min for the remaining 5,993 generator updates "
                       "(100 ms per update, timed over updates 3-7)")


def test_format_duration():
    assert format_duration(42) == "42 s"
    assert format_duration(600) == "10 min"
    assert format_duration(3 * 3600 + 5 * 60) == "3 h 05 min"


@pytest.mark.parametrize("message, shown", [
    ("💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger](...)", False),
    ("💡 Tip: For seamless cloud uploads and versioning, try installing [litmodels](...)", False),
    ("`Trainer.fit` stopped: `max_steps=120` reached.", False),
    ("`Trainer.fit` stopped: `max_epochs=3` reached.", True),
    ("GPU available: False, used: False", True),
])
def test_quiet_lightning_drops_only_info_lines_that_do_not_apply(message, shown):
    assert QUIET_INFO
    quiet_lightning()
    from lightning_utilities.core import rank_zero

    record = rank_zero.log.makeRecord(rank_zero.log.name, logging.INFO, __file__, 1, message, None, None)
    assert bool(rank_zero.log.filter(record)) is shown


def test_quiet_lightning_drops_the_loader_workers_warning_and_keeps_others():
    import warnings

    from lightning_fabric.utilities.warnings import PossibleUserWarning

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_lightning()
        warnings.warn("The 'train_dataloader' does not have many workers which may be a bottleneck. Consider "
                      "increasing the value of the `num_workers` argument` to `num_workers=15`", PossibleUserWarning)
        warnings.warn("Consider setting `persistent_workers=True` in 'train_dataloader'", PossibleUserWarning)
    assert [str(w.message) for w in seen] == ["Consider setting `persistent_workers=True` in 'train_dataloader'"]

"""Every ganaug command reports a user error as one message and exit status 2, not a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import InstantiationException

from ganaug.cli.messages import user_errors
from ganaug.errors import ConfigError

CASES = {
    "ganaug-train": (["data=digits", "gan.max_steps=0"], "ganaug-train: error: gan.max_steps=0"),
    "ganaug-tune": (["data=digits", "tune.steps=5"], "ganaug-tune: error: no generator given"),
    "ganaug-bench": (["bench=ci", "bench.data_seed=-1", "progress=false"],
                     "ganaug-bench: error: bench.data_seed must be a non-negative integer"),
    "ganaug-sample": (["generator=/nonexistent/generator"], "ganaug-sample: error: no generator artifact at /nonexistent"),
}
MODULES = {"ganaug-train": "ganaug.cli.train", "ganaug-tune": "ganaug.cli.tune", "ganaug-bench": "ganaug.bench.runner",
           "ganaug-sample": "ganaug.cli.sample"}


def _args(command, tmp_path):
    args = [*CASES[command][0], f"hydra.run.dir={tmp_path / 'hydra'}"]
    args += {"ganaug-train": [f"out_dir={tmp_path / 'run'}"], "ganaug-tune": [f"out_dir={tmp_path / 'tune'}"],
             "ganaug-bench": [f"bench.out_dir={tmp_path / 'bench'}"]}.get(command, [])
    return args


def test_a_command_prints_a_user_error_as_a_message(tmp_path, python):
    # One real process: what a shell sees (exit status, stderr), Hydra included.
    cmd = [python, "-m", MODULES["ganaug-train"], *_args("ganaug-train", tmp_path)]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 2, done.stderr[-3000:]
    assert CASES["ganaug-train"][1] in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", sorted(set(CASES) - {"ganaug-train"}))
def test_every_command_prints_a_user_error_as_a_message(command, tmp_path, monkeypatch, capsys):
    # In this process (no second interpreter to start): the same entry point, through Hydra.
    import importlib

    main = importlib.import_module(MODULES[command]).main
    monkeypatch.setattr(sys, "argv", [command, *_args(command, tmp_path)])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code == 2, err[-3000:]
    assert CASES[command][1] in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command, args, message", [
    # a setting the config leaves as ??? and the command line did not give: an omegaconf traceback before
    ("ganaug-sample", [], "ganaug-sample: error: generator is not set: give it on the command line, e.g. "
                          "generator=runs/<run>/generator"),
    ("ganaug-train", ["data=image_folder"], "ganaug-train: error: data.dataset.root is not set: give it on the "
                                            "command line, e.g. data.dataset.root=/path/to/images"),
])
def test_a_required_setting_left_out_is_named(command, args, message, tmp_path, monkeypatch, capsys):
    import importlib

    main = importlib.import_module(MODULES[command]).main
    monkeypatch.setattr(sys, "argv", [command, *args, f"hydra.run.dir={tmp_path / 'hydra'}",
                                      *([f"out_dir={tmp_path / 'run'}"] if command == "ganaug-train" else [])])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and "Traceback" not in err, err[-3000:]


def _tiny_generator(tmp_path):
    import torch

    from ganaug import Generator, export_generator

    torch.manual_seed(0)
    return export_generator(Generator(10, 8, 1, z_dim=8, width=8), tmp_path / "gen")


def _user_error(command, argv, cwd, monkeypatch, capsys) -> str:
    """Run `command` in-process in `cwd`; assert it stops with a user error (exit 2, no traceback)."""
    import importlib

    main = importlib.import_module(MODULES[command]).main
    monkeypatch.setattr(sys, "argv", [command, *argv])
    monkeypatch.chdir(cwd)
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err, err[-3000:]
    return err


@pytest.mark.parametrize("command", ["ganaug-sample", "ganaug-bench", "ganaug-train"])
def test_an_output_directory_that_is_a_file_is_named(command, tmp_path, monkeypatch, capsys):
    # Hydra made its own directory inside it first (sample's out/.hydra-run, bench's out_dir/.hydra) and
    # failed with a NotADirectoryError traceback: ganaug-sample out=samples.npz, rerun with the file there.
    blocker = tmp_path / "samples.npz"
    blocker.write_bytes(b"not a directory")
    argv = {"ganaug-sample": [f"generator={_tiny_generator(tmp_path)}", f"out={blocker}", "progress=false"],
            "ganaug-bench": ["bench=ci", f"bench.out_dir={blocker}", "progress=false"],
            "ganaug-train": ["data=digits", f"out_dir={blocker}"]}[command]
    err = _user_error(command, argv, tmp_path, monkeypatch, capsys)
    assert f"{blocker} is a file; move it or choose another location (it comes from" in err, err[-3000:]
    assert blocker.read_bytes() == b"not a directory"


def _raising(e):
    @user_errors("ganaug-x")
    def task():
        raise e

    return task


def test_a_user_error_wrapped_by_hydra_instantiate_is_unwrapped(capsys):
    wrapped = InstantiationException("Error in call to target 'ganaug.X'")
    wrapped.__cause__ = ConfigError("gan.max_steps=0: must be >= 1")
    with pytest.raises(SystemExit) as e:
        _raising(wrapped)()
    assert e.value.code == 2
    assert capsys.readouterr().err == "ganaug-x: error: gan.max_steps=0: must be >= 1\n"


def test_a_file_error_names_the_file(capsys):
    with pytest.raises(SystemExit):
        _raising(PermissionError(13, "Permission denied", "/data/out/run.json"))()
    assert "ganaug-x: error: /data/out/run.json: Permission denied; choose a location" in capsys.readouterr().err


def test_hydra_full_error_keeps_the_traceback(monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError):
        _raising(ConfigError("bad"))()


def test_a_bug_is_not_dressed_as_a_user_error():
    with pytest.raises(KeyError):
        _raising(KeyError("bug"))()


@pytest.mark.parametrize("command, args, message", [
    ("ganaug-sample", ["out="], "out is empty; set out=<directory> (or out=. for the current directory)"),
    ("ganaug-bench", ["bench=ci", "bench.out_dir="], "bench.out_dir is empty; set bench.out_dir=<directory>"),
    ("ganaug-tune", ["data=digits", "out_dir="], "out_dir is empty; set out_dir=<directory>"),
    ("ganaug-train", ["data=digits", "run_name="], "run_name is empty; set run_name=<name>"),
])
def test_an_empty_output_setting_is_refused_not_the_current_directory(command, args, message, tmp_path, monkeypatch,
                                                                        capsys):
    # out_dir=$OUT with OUT unset: the benchmark started 113 units in the current directory (and would
    # resume from whatever stood there), tune and sample wrote their files there.
    generator = _tiny_generator(tmp_path)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    extra = {"ganaug-sample": [f"generator={generator}"], "ganaug-tune": [f"generators=[{generator}]"]}
    quiet = [] if command == "ganaug-train" else ["progress=false"]
    err = _user_error(command, [*args, *extra.get(command, []), *quiet], cwd, monkeypatch, capsys)
    assert message in err, err[-3000:]
    if command != "ganaug-train":  # Hydra makes runs/ (its run dir) before train can look at run_name
        assert not list(cwd.iterdir())


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc, where no directory can be made")
@pytest.mark.parametrize("command", ["ganaug-sample", "ganaug-bench"])
def test_an_output_directory_that_cannot_be_made_is_named(command, tmp_path, monkeypatch, capsys):
    # Hydra made its own directory in it first, and failed with a FileNotFoundError traceback.
    argv = {"ganaug-sample": [f"generator={_tiny_generator(tmp_path)}", "out=/proc/ganaug-out", "progress=false"],
            "ganaug-bench": ["bench=ci", "bench.out_dir=/proc/ganaug-out", "progress=false"]}[command]
    err = _user_error(command, argv, tmp_path, monkeypatch, capsys)
    assert "/proc/ganaug-out" in err and "set another" in err, err[-3000:]


@pytest.mark.parametrize("config", ["train", "sample", "tune", "bench"])
def test_every_command_takes_threads(compose_cfg, config):
    # Issue 43: ganaug-train threads=1 was refused (Key 'threads' is not in struct) while tune and bench took it.
    extra = ["generator=g"] if config == "sample" else []
    assert compose_cfg(config, [*extra, "threads=1"]).threads == 1


def test_ganaug_train_applies_threads_before_anything_else(tmp_path, python, repo):
    r = subprocess.run([python, "-m", "ganaug.cli.train", "data=digits", "threads=0", f"out_dir={tmp_path / 'run'}",
                        f"hydra.run.dir={tmp_path / 'h'}"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "threads must be a positive integer" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()

"""Every ganaug command reports a user error as one message and exit status 2, not a traceback."""

import os
import subprocess

import pytest
from hydra.errors import InstantiationException

from ganaug.cli import user_errors
from ganaug.errors import ConfigError

CASES = {
    "ganaug-train": (["data=digits", "gan.max_steps=0"], "ganaug-train: error: gan.max_steps=0"),
    "ganaug-tune": (["data=digits", "tune.steps=5"], "ganaug-tune: error: no generator given"),
    "ganaug-bench": (["bench=ci", "bench.teacher=bogus", "progress=false"], "ganaug-bench: error: bench.teacher must be one of"),
    "ganaug-sample": (["generator=/nonexistent/generator"], "ganaug-sample: error: no generator artifact at /nonexistent"),
}
MODULES = {"ganaug-train": "ganaug.train", "ganaug-tune": "ganaug.tune", "ganaug-bench": "ganaug.bench.runner", "ganaug-sample": "ganaug.sample"}


@pytest.mark.parametrize("command", sorted(CASES))
def test_user_error_is_a_message(command, tmp_path, python, repo):
    args, expected = CASES[command]
    cmd = [python, "-m", MODULES[command], *args, f"hydra.run.dir={tmp_path / 'hydra'}"]
    if command == "ganaug-train":
        cmd.append(f"out_dir={tmp_path / 'run'}")
    if command == "ganaug-tune":
        cmd.append(f"out_dir={tmp_path / 'tune'}")
    if command == "ganaug-bench":
        cmd.append(f"bench.out_dir={tmp_path / 'bench'}")
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 2, done.stderr[-3000:]
    assert expected in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr


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

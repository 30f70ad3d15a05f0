"""Every ganaug command reports a user error as one message and exit status 2, not a traceback."""

import os
import subprocess

import pytest

CASES = {
    "ganaug-tune": (["data=digits", "tune.steps=5"], "ganaug-tune: error: no generator given"),
    "ganaug-bench": (["bench=ci", "bench.teacher=bogus", "progress=false"], "ganaug-bench: error: bench.teacher must be one of"),
    "ganaug-sample": (["generator=/nonexistent/generator"], "ganaug-sample: error: no generator artifact at /nonexistent"),
}
MODULES = {"ganaug-tune": "ganaug.tune", "ganaug-bench": "ganaug.bench.runner", "ganaug-sample": "ganaug.sample"}


@pytest.mark.parametrize("command", sorted(CASES))
def test_user_error_is_a_message(command, tmp_path, python, repo):
    args, expected = CASES[command]
    cmd = [python, "-m", MODULES[command], *args, f"hydra.run.dir={tmp_path / 'hydra'}"]
    if command == "ganaug-tune":
        cmd.append(f"out_dir={tmp_path / 'tune'}")
    if command == "ganaug-bench":
        cmd.append(f"bench.out_dir={tmp_path / 'bench'}")
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 2, done.stderr[-3000:]
    assert expected in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr

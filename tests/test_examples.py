import os
import runpy
import subprocess
import sys

import pytest

EXAMPLES = {
    "plain_pytorch.py": "test accuracy",
    "lightning_datamodule.py": "synthetic items per epoch",
}


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_runs_on_digits(script, repo, python):
    # One intra-op thread: the examples' DataLoader workers already share the few CI cores, and
    # oversubscribed OpenMP threads make a seconds-long run take minutes.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [python, str(repo / "docs" / "examples" / script), "--epochs", "1"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert EXAMPLES[script] in proc.stdout


@pytest.mark.parametrize("script", sorted(EXAMPLES))
@pytest.mark.parametrize("args, message", [
    (["--ratio", "1.5"], "error: ratio must be in [0, 1)"),
    (["--generator", "no/such/dir"], "error: no/such/dir is neither a synthetic bank"),
    (["--epochs", "0"], "error: --epochs must be >= 1 and --workers >= 0, got 0 and 0"),
])
def test_example_names_a_bad_argument_without_a_traceback(script, args, message, repo, monkeypatch, capsys):
    # Run as `python script ...` would, in this process (a new interpreter per case cost 8 s of imports):
    # the script must end in SystemExit with the message; any other exception is the traceback a user sees.
    path = repo / "docs" / "examples" / script
    monkeypatch.setattr(sys, "argv", [str(path), *args, "--workers", "0"])
    monkeypatch.chdir(repo)
    with pytest.raises(SystemExit) as ended:
        runpy.run_path(str(path), run_name="__main__")
    code = ended.value.code
    assert code not in (0, None)
    printed = capsys.readouterr().err + (code if isinstance(code, str) else "")
    assert message in printed, printed[-2000:]

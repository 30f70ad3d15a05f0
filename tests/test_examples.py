import os
import subprocess

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
        [python, str(repo / "examples" / script), "--epochs", "1"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert EXAMPLES[script] in proc.stdout

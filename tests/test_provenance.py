"""What a result records about the code that made it."""

import subprocess

from ganaug.provenance import environment, git_commit


def _git(repo, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_a_long_run_names_the_commit_it_started_with(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a").write_text("1")
    _git(tmp_path, "add", "a")
    _git(tmp_path, "commit", "-qm", "one")
    first = _git(tmp_path, "rev-parse", "--short", "HEAD")
    assert git_commit(tmp_path) == first
    (tmp_path / "a").write_text("2")
    _git(tmp_path, "commit", "-qam", "two")  # committed while the run goes on
    assert git_commit(tmp_path) == first


def test_outside_a_checkout_the_commit_is_unknown(tmp_path):
    assert git_commit(tmp_path) == "unknown" and environment("x")["command"] == "x"

"""What a result records about the code that made it."""

import subprocess

from ganaug.base.provenance import environment, git_commit


def _git(repo, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_a_long_run_names_the_commit_it_started_with(tmp_path, monkeypatch):
    monkeypatch.delenv("GANAUG_COMMIT", raising=False)
    _git(tmp_path, "init", "-q")
    (tmp_path / "a").write_text("1")
    _git(tmp_path, "add", "a")
    _git(tmp_path, "commit", "-qm", "one")
    first = _git(tmp_path, "rev-parse", "--short", "HEAD")
    assert git_commit(tmp_path) == first
    (tmp_path / "a").write_text("2")
    _git(tmp_path, "commit", "-qam", "two")  # committed while the run goes on
    assert git_commit(tmp_path) == first


def test_rewritten_benchmark_results_do_not_make_the_code_dirty(tmp_path, monkeypatch):
    # long_runs.sh chains benchmarks: each rewrites its committed report, and the next one started after it
    # recorded "-dirty" though no code had changed.
    monkeypatch.delenv("GANAUG_COMMIT", raising=False)
    _git(tmp_path, "init", "-q")
    report = tmp_path / "benchmarks" / "results" / "seed2" / "results.md"
    report.parent.mkdir(parents=True)
    report.write_text("1")
    (tmp_path / "code.py").write_text("1")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "one")
    first = _git(tmp_path, "rev-parse", "--short", "HEAD")
    report.write_text("2")
    assert git_commit(tmp_path) == first
    git_commit.cache_clear()
    (tmp_path / "code.py").write_text("2")
    assert git_commit(tmp_path) == first + "-dirty"
    assert git_commit(tmp_path / "benchmarks") == first + "-dirty"  # from a subdirectory: the whole tree
    git_commit.cache_clear()


def test_outside_a_checkout_the_commit_is_unknown(tmp_path, monkeypatch):
    monkeypatch.delenv("GANAUG_COMMIT", raising=False)
    assert git_commit(tmp_path) == "unknown" and environment("x")["command"] == "x"


def test_outside_a_checkout_the_commit_can_be_given(tmp_path, monkeypatch):
    # A copy of the tree run on another machine (no .git there) names the commit it was copied from.
    monkeypatch.setenv("GANAUG_COMMIT", "abc1234")
    git_commit.cache_clear()
    (tmp_path / "copy").mkdir()
    assert git_commit(tmp_path / "copy") == "abc1234"
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "a").write_text("1")
    _git(repo, "add", "a")
    _git(repo, "commit", "-qm", "one")
    assert git_commit(repo) == "abc1234"  # given, it wins: a benchmark's workers name the commit it started with
    monkeypatch.delenv("GANAUG_COMMIT")
    git_commit.cache_clear()
    assert git_commit(repo) == _git(repo, "rev-parse", "--short", "HEAD")

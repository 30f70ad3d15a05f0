"""Every ```python block in README.md runs as written, on its own, in a fresh directory.

A reader copies one snippet at a time, so each runs in its own interpreter (``python -c``) with an
empty temporary directory as the working directory: whatever a snippet needs (a generator, a
tune directory) it has to make itself. Shell blocks (```bash) are not run here.
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
OPEN = re.compile(r"^(?P<indent>[ \t]*)```python[ \t]*$")
TIMEOUT_S = 120


def python_snippets(text: str) -> list[tuple[int, str]]:
    """(line number of the opening fence, dedented code) of every ```python block, in order."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        m = OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        start, indent, body = i + 1, m["indent"], []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"README.md:{start}: ```python block is never closed")
        if lines[i][: len(indent)] != indent:
            raise AssertionError(f"README.md:{i + 1}: closing fence is not indented like its opening one")
        found.append((start, textwrap.dedent("\n".join(body)) + "\n"))
        i += 1
    return found


SNIPPETS = python_snippets(README.read_text(encoding="utf-8"))


def _first_line(code: str) -> str:
    return next((line for line in code.splitlines() if line.strip()), "")


def test_the_readme_has_its_snippets():
    # A broken extractor must not pass by finding nothing.
    assert len(SNIPPETS) >= 6, [line for line, _ in SNIPPETS]


@pytest.mark.parametrize("line, code", SNIPPETS, ids=[f"README.md:{line}" for line, _ in SNIPPETS])
def test_snippet_is_python_not_a_diff(line, code):
    # A diff (+/- lines) is not something a reader can paste and run: write the whole code.
    diff_lines = [s for s in code.splitlines() if s[:1] in ("+", "-")]
    assert not diff_lines, f"README.md:{line} ({_first_line(code)!r}) looks like a diff: {diff_lines[:3]}"
    compile(code, f"README.md:{line}", "exec")


@pytest.mark.parametrize("line, code", SNIPPETS, ids=[f"README.md:{line}" for line, _ in SNIPPETS])
def test_snippet_runs(line, code, tmp_path):
    # One intra-op thread: the test machine's few cores are shared, and DataLoader workers in
    # some snippets already take them.
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"README.md:{line} ({_first_line(code)!r}) ran past {TIMEOUT_S} s")
    assert proc.returncode == 0, (
        f"README.md:{line} ({_first_line(code)!r}) exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    )

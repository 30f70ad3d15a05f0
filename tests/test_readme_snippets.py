"""Every ```python block in README.md runs as written, on its own, in a fresh directory.

A reader copies one snippet at a time, so each runs in a namespace of its own with an empty
temporary directory as the working directory: whatever a snippet needs (a generator, a tune
directory) it has to make itself. Shell blocks (```bash) are not run here.

The recipe snippets fall back to a toy tune on an untrained generator, whose winner is real data
alone; test_readme_path.py runs them after the README's first-run commands, with a synthetic recipe too.
"""

import re
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
OPEN = re.compile(r"^(?P<indent>[ \t]*)```python[ \t]*$")


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
RECIPE_SNIPPETS = [(line, code) for line, code in SNIPPETS if "ganaug.load_recipe(" in code]


def _first_line(code: str) -> str:
    return next((line for line in code.splitlines() if line.strip()), "")


def _run(line: int, code: str) -> None:
    try:
        exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__main__"})
    except Exception as e:
        pytest.fail(f"README.md:{line} ({_first_line(code)!r}) raised {type(e).__name__}: {e}")


def test_the_readme_has_its_snippets():
    # A broken extractor must not pass by finding nothing; the README's loop section has a plain
    # PyTorch and a Lightning snippet of the recipe path.
    assert len(SNIPPETS) >= 2, [line for line, _ in SNIPPETS]
    assert len(RECIPE_SNIPPETS) >= 2, [line for line, _ in SNIPPETS]
    assert any("pytorch_lightning" in code for _, code in RECIPE_SNIPPETS)
    assert any("pytorch_lightning" not in code for _, code in RECIPE_SNIPPETS)


def test_the_extractor_finds_indented_blocks_and_skips_other_languages():
    text = "x\n```bash\nls\n```\n- item\n\n  ```python\n  a = 1\n  ```\n```python\nb = 2\n```\n"
    assert python_snippets(text) == [(7, "a = 1\n"), (10, "b = 2\n")]
    with pytest.raises(AssertionError, match="never closed"):
        python_snippets("```python\na = 1\n")


@pytest.mark.parametrize("line, code", SNIPPETS, ids=[f"README.md:{line}" for line, _ in SNIPPETS])
def test_snippet_is_python_not_a_diff(line, code):
    # A diff (+/- lines) is not something a reader can paste and run: write the whole code.
    diff_lines = [s for s in code.splitlines() if s[:1] in ("+", "-")]
    assert not diff_lines, f"README.md:{line} ({_first_line(code)!r}) looks like a diff: {diff_lines[:3]}"
    compile(code, f"README.md:{line}", "exec")


@pytest.mark.parametrize("line, code", SNIPPETS, ids=[f"README.md:{line}" for line, _ in SNIPPETS])
def test_snippet_runs(line, code, tmp_path, monkeypatch):
    # The snippet's exact text, in a namespace of its own and an empty working directory, so it
    # can lean on nothing another snippet made. In this process rather than a new interpreter:
    # the same code runs, without paying torch's and Lightning's import again for each snippet.
    monkeypatch.chdir(tmp_path)
    _run(line, code)

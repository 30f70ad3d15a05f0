"""Every ```python block in README.md runs as written, on its own, in a fresh directory.

A reader copies one snippet at a time, so each runs in a namespace of its own with an empty
temporary directory as the working directory: whatever a snippet needs (a generator, a tune
directory) it has to make itself. Shell blocks (```bash) are not run here.

The recipe snippets fall back to a toy tune on an untrained generator, whose winner is real data
alone; they are run a second time with the tune's synthetic candidate written as the recipe (as
`ganaug-tune` writes it when that candidate wins), so the soft-label path of the loop runs too.
"""

import re
import textwrap
from pathlib import Path

import pytest
import yaml

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


@pytest.mark.parametrize("line, code", RECIPE_SNIPPETS, ids=[f"README.md:{line}" for line, _ in RECIPE_SNIPPETS])
def test_recipe_snippet_runs_when_a_synthetic_candidate_wins(line, code, tmp_path, monkeypatch):
    # With a trained generator the tune's winner is often synthetic: its recipe has a bank, soft labels
    # and a teacher, batches carry the is_synthetic flag and the loss takes four arguments. Write the
    # toy tune's synthetic candidate as the recipe, exactly as ganaug-tune writes a winner's.
    import ganaug

    real_tune_mix = ganaug.tune_mix
    written = []

    def tune_then_pick_synthetic(*args, **kwargs):
        result = real_tune_mix(*args, **kwargs)
        name = next(c["name"] for c in result.candidates if c["bank"] is not None)
        config = result.recipe_config(name)
        assert config["ratio"] > 0 and config["soft_labels"] > 0 and config["teacher"]
        result.recipe_path.write_text(yaml.safe_dump(config))
        written.append(result.recipe_path)
        return result

    monkeypatch.setattr(ganaug, "tune_mix", tune_then_pick_synthetic)
    monkeypatch.chdir(tmp_path)
    _run(line, code)
    assert written, f"README.md:{line} did not run its toy tune"
    recipe = ganaug.load_recipe(written[0])
    assert recipe.ratio > 0 and recipe.needs_flag

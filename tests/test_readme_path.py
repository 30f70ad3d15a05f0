"""The README's documented path, in order, as a newcomer follows it (issue 43.3): the first-run commands,
then each recipe snippet in the directory those commands wrote, then the same snippets with the tune's
synthetic candidate as the recipe (soft labels, a teacher, split batch norm on a model that has none).

Toy scale only: a few overrides are appended to each documented command; the commands themselves are read
from README.md, so a changed command is what this test runs.
"""

import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from test_readme_snippets import README, RECIPE_SNIPPETS, _run

pytestmark = pytest.mark.filterwarnings("ignore")

# Appended to each documented command: seconds instead of minutes, same code path.
TOY = {
    "ganaug-train": ["gan.g_width=8", "gan.d_width=8", "gan.z_dim=16", "gan.max_steps=20", "gan.ema_start=5",
                     "callbacks.sample_grid.every_n_steps=10", "callbacks.checkpoint.every_n_steps=10",
                     "trainer.enable_progress_bar=false"],
    "ganaug-tune": ["tune.steps=40", "tune.width=8", "tune.bank_size=300", "tune.ratios=[0.25]",
                    "tune.filter_thresholds=[null]", "progress=false"],
}


def first_run_commands(text: str) -> list[list[str]]:
    """The `.venv/bin/...` command lines of the README's "First run" section, split as a shell would."""
    section = text.split("## First run", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README.md: the First run section has no ```bash block"
    return [shlex.split(line) for line in block[1].splitlines() if line.startswith(".venv/bin/")]


def _entry_point(name: str):
    from importlib.metadata import entry_points

    (ep,) = [ep for ep in entry_points(group="console_scripts") if ep.name == name]
    return ep.load()


def test_the_first_run_section_is_a_train_then_a_tune():
    commands = first_run_commands(README.read_text(encoding="utf-8"))
    assert [Path(c[0]).name for c in commands] == ["ganaug-train", "ganaug-tune"]


def test_the_documented_sequence_runs_in_order(tmp_path, monkeypatch):
    import ganaug

    monkeypatch.chdir(tmp_path)
    for command in first_run_commands(README.read_text(encoding="utf-8")):
        name = Path(command[0]).name
        monkeypatch.setattr(sys, "argv", [name, *command[1:], *TOY[name]])
        _entry_point(name)()  # the installed command's own function, through Hydra
    tune_dir = tmp_path / "runs" / "tune-digits"
    assert (tune_dir / "recipe.yaml").is_file(), sorted(p.name for p in tmp_path.rglob("*"))[:20]

    # The snippets now find the tune the commands wrote: none may fall back to its own toy tune.
    def no_fallback(*args, **kwargs):
        raise AssertionError("the snippet ran its own tune instead of the documented commands' recipe")

    monkeypatch.setattr(ganaug, "tune_mix", no_fallback)
    for line, code in RECIPE_SNIPPETS:
        _run(line, code)

    # The commands' tune, with its synthetic candidate taken instead (as a trained generator's often wins, or as
    # a user tries the runner-up: `load_recipe(dir, candidate=...)`): soft labels, a teacher, split batch norm
    # over the snippets' model, which has no batch norm.
    (candidate,) = [p for p in (tune_dir / "recipes").rglob("*.yaml") if yaml.safe_load(p.read_text())["ratio"] > 0]
    name = candidate.relative_to(tune_dir / "recipes").with_suffix("").as_posix()
    load_recipe = ganaug.load_recipe
    recipe = load_recipe(tune_dir, candidate=name)
    assert recipe.ratio > 0 and recipe.needs_flag and recipe.split_norm and recipe.soft_labels > 0
    monkeypatch.setattr(ganaug, "load_recipe", lambda path: load_recipe(path, candidate=name))
    for line, code in RECIPE_SNIPPETS:
        _run(line, code)

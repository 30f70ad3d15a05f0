"""Hostile records (issue 42, items 2, 5 and 11): recipe.yaml, bank.json, generator.json, run.json and unit
records are read as bounded plain data, and a damaged one is a message naming it, not a traceback or a hang."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganaug import export_generator, load_generator, load_recipe
from ganaug.errors import ArtifactError, GanaugError
from ganaug.gan.nets import Generator
from ganaug.mix.recipe import RecipeError
from ganaug.base.records import read_json, read_yaml

BOMB = ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
        "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    torch.manual_seed(0)
    return export_generator(Generator(10, 8, 1, z_dim=16, width=8), tmp_path_factory.mktemp("g") / "gen")


def test_a_yaml_alias_bomb_in_a_recipe_is_refused_at_once(tmp_path):
    # Nine nested aliases under one key: 9^9 strings once walked. Before: 45 s, then MemoryError (or the machine).
    paths = []
    for key in ("ratio", "seed", "class_policy", "source", "source_id"):
        path = tmp_path / key / "recipe.yaml"
        path.parent.mkdir()
        path.write_text(f"{key}:\n" + "".join("  " + line + "\n" for line in BOMB.splitlines()))
        paths.append(str(path))
    code = (f"import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))\n"
            f"from ganaug import load_recipe\nfrom ganaug.mix.recipe import RecipeError\n"
            f"for p in {paths!r}:\n    try:\n        load_recipe(p)\n    except RecipeError as e:\n"
            f"        print('refused:', e)\n")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    refused = [line for line in r.stdout.splitlines() if line.startswith("refused:")]
    assert len(refused) == 5 and all("YAML alias" in line and "write the value out" in line for line in refused)
    assert time.perf_counter() - t0 < 60


def test_read_yaml_refuses_aliases_tags_and_huge_files(tmp_path):
    (tmp_path / "ok.yaml").write_text("a: 1\nb: [1, 2]\n")
    assert read_yaml(tmp_path / "ok.yaml", RecipeError, "recipe") == {"a": 1, "b": [1, 2]}
    (tmp_path / "alias.yaml").write_text("a: &x 1\nb: *x\n")
    with pytest.raises(RecipeError, match=r"alias \(\*x\) at line 2"):
        read_yaml(tmp_path / "alias.yaml", RecipeError, "recipe")
    (tmp_path / "big.yaml").write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(RecipeError, match="far larger than any recipe"):
        read_yaml(tmp_path / "big.yaml", RecipeError, "recipe", max_bytes=1000)
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 100 + "]" * 100 + "\n")
    with pytest.raises(RecipeError, match="nests deeper"):
        read_yaml(tmp_path / "deep.yaml", RecipeError, "recipe")
    (tmp_path / "bin.yaml").write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(RecipeError, match="not text"):
        read_yaml(tmp_path / "bin.yaml", RecipeError, "recipe")


@pytest.mark.parametrize("text, match", [
    ('{"format_version": ' + "9" * 5000 + "}", "not valid JSON"),  # ValueError: over 4,300 digits
    ("[" * 100000 + "]" * 100000, "nests deeper"),                  # RecursionError in the parser
    ("[" * 40 + "]" * 40, "nests deeper"),                          # deeper than any record, parsed
    ("\xff", "not valid JSON"),
])
def test_read_json_names_what_python_would_raise_as_a_traceback(tmp_path, text, match):
    path = tmp_path / "r.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ArtifactError, match=match):
        read_json(path, ArtifactError, "record")


@pytest.mark.parametrize("text, match", [
    ('{"format": "ganaug-generator", "format_version": ' + "9" * 5000 + "}", "not valid JSON"),
    ("[" * 100000 + "]" * 100000, "nests deeper"),
])
def test_generator_json_with_a_huge_integer_or_deep_nesting_is_an_artifact_error(artifact, tmp_path, text, match):
    gen = tmp_path / "gen"
    shutil.copytree(artifact, gen)
    (gen / "generator.json").write_text(text)
    with pytest.raises(ArtifactError, match=match):
        load_generator(gen)



@pytest.mark.parametrize("doc", [{"settings": None}, {"settings": {}}, [], {"format": "ganaug-run"}])
def test_a_run_record_that_is_not_one_is_refused_not_adopted(tmp_path, doc):
    # {"settings": null} resumed with another seed and overwrote the record.
    from ganaug.gan.run_record import check_resume

    (tmp_path / "run.json").write_text(json.dumps(doc))
    with pytest.raises(GanaugError, match="not a valid run record.*resume=false"):
        check_resume(tmp_path, {"seed": 1}, None)
    assert json.loads((tmp_path / "run.json").read_text()) == doc  # left as it was


def test_a_unit_record_that_is_not_an_object_is_named(tmp_path):
    from ganaug.eval.store import UnitStore

    store = UnitStore(tmp_path)
    (tmp_path / "n100").mkdir()
    (tmp_path / "n100" / "real.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError, match="not a unit record: delete it"):
        store.get("n100/real")




def test_a_tune_json_nested_too_deep_is_rewritten_not_a_traceback(tmp_path):
    # tune.json (and the benchmark's results) are read back to keep their provenance: a RecursionError before.
    from ganaug.base.provenance import stored_if_unchanged

    (tmp_path / "tune.json").write_text("[" * 100000 + "]" * 100000)
    assert stored_if_unchanged(tmp_path / "tune.json", {"best": "real"}) is None


# ------------------------------------------------------------------------------ a FIFO where a file is read


def _fifo_setup(root: Path, where: str) -> tuple[Path, str]:
    """A FIFO planted at ``where``; the code, run in a child, that reads it."""
    from ganaug import SyntheticBank

    torch.manual_seed(0)
    gen = export_generator(Generator(3, 8, 1, z_dim=8, width=8), root / "gen")
    if where == "record":
        fifo = root / "r.json"
        code = f"from ganaug.base.records import read_json\nread_json({str(fifo)!r}, ArtifactError, 'record')"
    elif where == "unit record":
        fifo = root / "units" / "n100" / "real.json"
        fifo.parent.mkdir(parents=True)
        code = f"from ganaug.eval.store import UnitStore\nUnitStore({str(root / 'units')!r}).get('n100/real')"
    elif where in ("labels.npy", "images.npy"):
        bank = SyntheticBank.generate(gen, 12, root / "bank", progress=False).path
        fifo = bank / where
        fifo.unlink()
        code = f"from ganaug import SyntheticBank\nSyntheticBank.open({str(bank)!r})"
    elif where == "generator.json":
        fifo = gen / "generator.json"
        fifo.unlink()
        code = f"from ganaug import load_generator\nload_generator({str(gen)!r})"
    elif where == "bank.json":
        bank = SyntheticBank.generate(gen, 12, root / "bank", progress=False).path
        fifo = bank / "bank.json"
        fifo.unlink()
        code = f"from ganaug import SyntheticBank\nSyntheticBank.open({str(bank)!r})"
    elif where == "recipe.yaml":
        fifo = root / "recipe.yaml"
        code = f"from ganaug import load_recipe\nload_recipe({str(root)!r})"
    else:  # the recipe's teacher.file
        SyntheticBank.generate(gen, 12, root / "bank", progress=False)
        fifo = root / "teacher.safetensors"
        (root / "recipe.yaml").write_text("source: bank\nratio: 0.25\nsoft_labels: 0.5\nteacher: {file: "
                                          "teacher.safetensors, width: 8, num_classes: 3, image_shape: [8, 8, 1]}\n")
        code = f"from ganaug import load_recipe\nload_recipe({str(root)!r}).loss()"
    os.mkfifo(fifo)
    return fifo, code


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("where", ["record", "unit record", "labels.npy", "images.npy", "teacher.file",
                                   # these three did not hang, but were named as missing
                                   "generator.json", "bank.json", "recipe.yaml"])
def test_a_fifo_where_a_file_is_read_is_refused_by_name_not_waited_on(tmp_path, where):
    # open() of a FIFO waits for a writer: each of these hung forever. In a child, so a hang is a failure, not ours.
    fifo, code = _fifo_setup(tmp_path, where)
    code = ("from ganaug.errors import ArtifactError, GanaugError\ntry:\n"
            + "".join(f"    {line}\n" for line in code.splitlines())
            + "except GanaugError as e:\n    print(f'refused: {type(e).__name__}: {e}')\n")
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still waiting on the FIFO {fifo} after 300 s")
    assert r.returncode == 0, r.stderr[-2000:]
    refused = r.stdout.strip()
    assert refused.startswith("refused:") and str(fifo) in refused and "FIFO" in refused, refused
    assert "not a regular file" in refused

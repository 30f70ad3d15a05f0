"""The package's layers are folders, and an import only points down (docs/design.md): a layer may use the ones
below it, never one above. Checked on every import statement, function-level ones included."""

import ast
from pathlib import Path

import ganaug

PACKAGE = Path(ganaug.__file__).parent
# Bottom to top. The package root (errors, the lazy public names) sits below everything; cli and bench on top.
LAYERS = ["base", "data", "gan", "classify", "mix", "eval", "cli", "bench"]
ROOT_MODULES = {"errors", "_lazy", "_version"}


def _layer(module: str) -> int | None:
    """The rank of a `ganaug....` module; -1 for the root's own modules; None for the package itself."""
    parts = module.split(".")
    if parts[0] != "ganaug" or len(parts) == 1:
        return None
    if parts[1] in ROOT_MODULES:
        return -1
    assert parts[1] in LAYERS, f"{module}: not in a layer folder ({', '.join(LAYERS)})"
    return LAYERS.index(parts[1])


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found += [(node.lineno, f"{name}.{a.name}" if name == "ganaug" else name) for a in node.names]
    return [(line, name) for line, name in found if name == "ganaug" or name.startswith("ganaug.")]


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        yield path, ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def test_the_package_root_holds_at_most_six_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 6, top


def test_every_module_lives_in_a_layer_folder():
    for path, module in _modules():
        if module != "ganaug":
            _layer(module)  # asserts


def test_no_import_points_up():
    upward = []
    for path, module in _modules():
        if module == "ganaug":
            continue  # the public names: the package's front door, imported lazily
        own = _layer(module)
        for line, name in _imports(path, module):
            target = _layer(name)
            if target is not None and target > own:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {module} imports {name}")
    assert not upward, "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path):
    # The check itself must be able to fail: a gan module importing the mix layer.
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from ganaug.mix.bank import SyntheticBank\n")
    [(line, name)] = _imports(bad, "ganaug.gan.bad")
    assert _layer(name) > _layer("ganaug.gan.bad") and line == 2

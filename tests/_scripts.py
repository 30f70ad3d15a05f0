"""Load a benchmark script (benchmarks/*.py are scripts, not a package) as a module, for the tests that call its
functions: one loader for all of them."""

import importlib.util
from pathlib import Path
from types import ModuleType


def load_script(path: Path, name: str) -> ModuleType:
    """``path`` executed as a fresh module called ``name`` (a script puts benchmarks/ on sys.path itself)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

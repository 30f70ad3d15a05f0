"""Public names a package loads on first use (PEP 562): one implementation for ganaug and ganaug.data."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, lazy: dict[str, str], hidden: set[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`(__getattr__, __dir__)` for `package`: each name in `lazy` comes from its submodule when first asked for.

    `lazy` maps a public name to the submodule (relative to `package`) that defines it; `hidden`
    are the package's own helper globals, left out of `dir()`.
    """

    def __getattr__(name: str) -> Any:
        module = lazy.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # cache: later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted((set(vars(sys.modules[package])) - hidden) | set(lazy))

    return __getattr__, __dir__

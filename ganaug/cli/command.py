"""The one shape of every console script: Hydra composes ``conf/<config>.yaml`` with the command line, the
command's torch threads are set, and its function runs with user errors printed as messages (messages.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ganaug.base.resources import set_threads
from ganaug.cli.messages import user_errors

CONFIG_PATH = "pkg://ganaug.conf"


def hydra_command(command: str, config_name: str, run: Callable[[Any], Any], *,
                  output: str = "out_dir=... or run_name=...",
                  on_interrupt: str = "what finished is stored: rerun the same command to go on from there"
                  ) -> Callable[[], None]:
    """The ``main`` of ``command`` (e.g. ganaug-train): ``run(cfg)`` on conf/``config_name``.yaml as composed by
    Hydra. The config's ``hydra.job.name`` names Hydra's log file, whatever module defines ``main``."""

    def main() -> None:
        import hydra

        @hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=config_name)
        @user_errors(command, output=output, on_interrupt=on_interrupt)
        def task(cfg: Any) -> None:
            set_threads(cfg)  # before anything else allocates torch's thread pool
            run(cfg)

        task()

    main.__doc__ = f"`{command}`: {config_name}.yaml composed from the command line."
    return main

"""Where the benchmark's units run: in this process (`local`) or as Ray tasks (`ray`).

The unit store stays the skip-if-done cache and the only place results live; an executor decides
only where and when a unit runs. Under Ray, each unit is a task that takes its dependencies' tasks
as arguments (GAN → generator choice → banks → classifier runs), so Ray starts it once they have
finished; nothing polls. A task rebuilds the plan from the config (units hold closures, which do
not travel) and stores its own record, so the directory is the same whichever executor wrote it.

    ganaug-bench executor=ray                          # an embedded Ray on this machine
    ganaug-bench executor=ray executor.address=auto    # a running Ray cluster (out_dir on a shared disk)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf

from ..errors import ConfigError

EXECUTORS = ("local", "ray")


def check_executor(cfg: DictConfig) -> str:
    name = str((cfg.get("executor") or {}).get("name", "local"))
    if name not in EXECUTORS:
        raise ConfigError(f"executor must be one of {list(EXECUTORS)} (executor=ray, or leave it out), got {name!r}")
    if name == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError("executor=ray needs Ray: pip install 'ganaug[ray]' (or run without executor=ray)")
    return name


def run_unit(cfg_yaml: str, unit_id: str, *_dependencies) -> str:
    """Run one unit of the benchmark `cfg_yaml` describes, unless it is done; in a fresh process.

    `_dependencies` are the results of the tasks this unit waits for: Ray passes them once they
    have finished, and only their having finished matters.
    """
    import torch

    from .runner import Fingerprints, plan_from_config, quiet_benchmark

    cfg = OmegaConf.create(cfg_yaml)
    quiet_benchmark()
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    units, store = plan_from_config(cfg)
    fps = Fingerprints(units, store)
    unit = next(u for u in units if u.id == unit_id)
    if not fps.done(unit_id):
        store.put(unit_id, {**unit.run(), "fingerprint": fps(unit_id)})
    return unit_id


def run_on_ray(cfg: DictConfig, units: list, todo: list, advance: Callable[[object], None]) -> None:
    """Submit every unit still to do as a Ray task, in plan order, each after its dependencies."""
    import ray

    ex = cfg.executor
    started = not ray.is_initialized()
    if started:
        ray.init(address=ex.get("address"), num_cpus=ex.get("num_cpus"), include_dashboard=False,
                 log_to_driver=bool(ex.get("log_to_driver", False)), ignore_reinit_error=True)
    try:
        task = ray.remote(run_unit)
        cfg_yaml = OmegaConf.to_yaml(cfg, resolve=True)
        # A GAN trained on a GPU asks Ray for one; every other unit is a CPU unit.
        gpu = str(cfg.train.trainer.get("accelerator", "cpu")) in ("gpu", "cuda")
        todo_ids = {u.id for u in todo}
        refs, unit_of = {}, {}
        for u in units:  # plan order: a unit's dependencies come before it
            if u.id not in todo_ids:
                continue
            deps = [refs[a] for a in u.after if a in refs]
            is_gan = u.id.rsplit("/", 1)[-1].startswith("gan-g")
            ref = task.options(num_cpus=1, num_gpus=1 if gpu and is_gan else 0, name=u.id).remote(
                cfg_yaml, u.id, *deps)
            refs[u.id], unit_of[ref] = ref, u
        pending = list(refs.values())
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            ray.get(ready[0])  # a failed unit raises here, with its traceback
            advance(unit_of[ready[0]])
    finally:
        if started:
            ray.shutdown()


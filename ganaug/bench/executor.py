"""Where the benchmark's units run: on this machine (`local`) or as Ray tasks (`ray`).

The unit store stays the skip-if-done cache and the only place results live; an executor decides
only where and when a unit runs. Under Ray, each unit is a task that takes its dependencies' tasks
as arguments (GAN → generator choice → banks → classifier runs), so Ray starts it once they have
finished; nothing polls. A task rebuilds the plan from the config (units hold closures, which do
not travel) and stores its own record, so the directory is the same whichever executor wrote it.

    ganaug-bench executor.workers=2                    # a process pool on this machine, one thread each
    ganaug-bench executor=ray                          # an embedded Ray on this machine
    ganaug-bench executor=ray executor.address=auto    # a running Ray cluster (out_dir on a shared disk)
"""

from __future__ import annotations

import importlib.util
import os
import socket
import signal
import threading
import time
from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf

from ganaug.base.checks import positive_int
from ganaug.errors import ConfigError

EXECUTORS = ("local", "ray")


def check_executor(cfg: DictConfig) -> str:
    name = str((cfg.get("executor") or {}).get("name", "local"))
    if name not in EXECUTORS:
        raise ConfigError(f"executor must be one of {list(EXECUTORS)} (executor=ray, or leave it out), got {name!r}")
    workers = (cfg.get("executor") or {}).get("workers", 1)
    if name == "local":
        positive_int("executor.workers", workers, why="processes on this machine")
    if name == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError("executor=ray needs Ray: pip install 'ganaug[ray]' (or run without executor=ray)")
    if name == "ray":
        _check_ray_address(cfg.executor.get("address"))
    return name


START_RAY = "start the cluster (ray start --head) or leave executor.address out for a Ray on this machine"


def _check_ray_address(address) -> None:
    # Ray retries an address where nothing listens for minutes, printing its own log lines meanwhile.
    if address is None or str(address) == "auto":
        return
    text = str(address)
    host, sep, port = text.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"executor.address={text} must be auto, host:port or ray://host:port (or null: a Ray "
                          "started on this machine)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise ConfigError(f"executor.address={text}: nothing answers at {host}:{port} ({e.strerror or e}); "
                          f"{START_RAY}") from None


def run_unit(cfg_yaml: str, unit_id: str, *_dependencies, progress_queue=None) -> str:
    """Run one unit of the benchmark `cfg_yaml` describes, unless it is done; in a fresh process.

    `_dependencies` are the results of the tasks this unit waits for: Ray passes them once they
    have finished, and only their having finished matters. A `progress_queue` receives
    ``(unit_id, fraction done)`` as a unit that reports progress (a GAN) advances.
    """
    from ganaug.base.resources import set_threads
    from ganaug.bench.runner import Fingerprints, plan_from_config, quiet_benchmark, run_and_store

    cfg = OmegaConf.create(cfg_yaml)
    quiet_benchmark()
    set_threads(cfg)
    units, store = plan_from_config(cfg)
    progress = None if progress_queue is None else _reporter(progress_queue, unit_id)
    _busy.set()
    try:
        run_and_store(next(u for u in units if u.id == unit_id), Fingerprints(units, store), progress)
    finally:
        _busy.clear()
    return unit_id


# Set while this process runs a unit (see pool_worker_setup).
_busy = threading.Event()


def pool_worker_setup(parent: int) -> None:
    """Initializer of the benchmark's pool workers: each leaves once the benchmark process is gone.

    An idle worker waits on the pool's task queue, whose writing end every worker holds too, so it
    never sees the benchmark die and would wait forever. A unit under way is let finish: stopped with
    its process group, a GAN saves its checkpoint and stops; otherwise the unit stores its record.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        while _busy.is_set():
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, name="leave-with-the-benchmark", daemon=True).start()


def _reporter(progress_queue, unit_id: str) -> Callable[[float], None]:
    def report(fraction: float) -> None:
        try:
            progress_queue.put((unit_id, fraction))
        except (OSError, EOFError):
            # The process showing the bar is gone (the benchmark was stopped): a GAN told to stop must
            # still reach its checkpoint, and one not told to goes on.
            pass

    return report


def _one_thread_each(cfg: DictConfig) -> str:
    # Units in parallel share the cores: one torch thread each unless `threads` says otherwise.
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain["threads"] = plain.get("threads") or 1
    return OmegaConf.to_yaml(OmegaConf.create(plain))


def run_in_pool(cfg: DictConfig, units: list, todo: list, advance: Callable[[object], None], workers: int,
                move: Callable[[object, float], None] | None = None) -> None:
    """Run the units still to do in a pool of `workers` processes, the ready ones with the longest path to
    the end first (`runner.critical_path`).

    `move(unit, fraction)` hears how far each running unit that reports progress (a GAN) has got.
    """
    import multiprocessing
    import queue
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from ganaug.bench.runner import critical_path

    cfg_yaml = _one_thread_each(cfg)
    todo_ids = {u.id for u in todo}
    pending = [u for u in units if u.id in todo_ids]
    rank = critical_path(pending)
    by_id = {u.id: u for u in pending}
    finished: set[str] = set()
    running: dict = {}
    # spawn, not fork: a forked child would inherit this process's torch and Lightning state.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                                       initializer=pool_worker_setup,
                                                       initargs=(os.getpid(),)) as pool:
        reports = manager.Queue() if move is not None else None
        while pending or running:
            ready = [u for u in pending if all(a not in todo_ids or a in finished for a in u.after)]
            for u in sorted(ready, key=lambda u: -rank[u.id])[:workers - len(running)]:
                running[pool.submit(run_unit, cfg_yaml, u.id, progress_queue=reports)] = u
                pending.remove(u)
            if not running:  # cannot happen with a plan whose dependencies come first
                raise RuntimeError(f"no unit can run: {[u.id for u in pending[:5]]}")
            done, _ = wait(running, timeout=None if reports is None else 1.0, return_when=FIRST_COMPLETED)
            while reports is not None:
                try:
                    uid, fraction = reports.get_nowait()
                except queue.Empty:
                    break
                if uid not in finished:
                    move(by_id[uid], fraction)
            for future in done:
                future.result()  # a failed unit raises here
                unit = running.pop(future)
                finished.add(unit.id)
                advance(unit)


def run_on_ray(cfg: DictConfig, units: list, todo: list, advance: Callable[[object], None]) -> None:
    """Submit every unit still to do as a Ray task, in plan order, each after its dependencies."""
    import ray

    from ganaug.eval.store import trains_gan

    ex = cfg.executor
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=ex.get("address"), num_cpus=ex.get("num_cpus"), include_dashboard=False,
                     log_to_driver=bool(ex.get("log_to_driver", False)), ignore_reinit_error=True)
        except ConnectionError as e:  # address=auto with no Ray running, a cluster gone meanwhile
            raise ConfigError(f"executor.address={ex.get('address')}: {e}; {START_RAY}") from None
    # SIGTERM (a scheduler's stop) killed the driver inside Ray's core worker: exit 134 and a C++ stack dump,
    # no word from ganaug. As Ctrl-C: leave the loop, shut Ray down, say how to go on (cli.user_errors).
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        task = ray.remote(run_unit)
        cfg_yaml = _one_thread_each(cfg)
        # A GAN trained on a GPU asks Ray for one; every other unit is a CPU unit.
        gpu = str(cfg.train.trainer.get("accelerator", "cpu")) in ("gpu", "cuda")
        todo_ids = {u.id for u in todo}
        # Workers of a cluster (or of a Ray started before this run) do not have this process's
        # environment: the commit each record names travels with the task.
        env = {"env_vars": {"GANAUG_COMMIT": os.environ["GANAUG_COMMIT"]}} if "GANAUG_COMMIT" in os.environ else None
        refs, unit_of = {}, {}
        for u in units:  # plan order: a unit's dependencies come before it
            if u.id not in todo_ids:
                continue
            deps = [refs[a] for a in u.after if a in refs]
            ref = task.options(num_cpus=1, num_gpus=1 if gpu and trains_gan(u.id) else 0, name=u.id,
                               runtime_env=env).remote(
                cfg_yaml, u.id, *deps)
            refs[u.id], unit_of[ref] = ref, u
        pending = list(refs.values())
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            ray.get(ready[0])  # a failed unit raises here, with its traceback
            advance(unit_of[ready[0]])
    finally:
        signal.signal(signal.SIGTERM, previous)
        if started:
            ray.shutdown()


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


"""The benchmark's units on Ray give what they give in this process."""

import os

import pytest

from ganaug.base import provenance
from ganaug.bench.runner import run_benchmark
from ganaug.eval.store import UnitStore
from ganaug.errors import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore:the bank is smaller than one epoch")


def _scores(out):
    return {r["unit"]: (r.get("val"), r.get("test"), r.get("cas"), r.get("run_fingerprint"))
            for r in UnitStore(out / "units").all()}


@pytest.mark.xdist_group("local_run")
def test_ray_runs_the_same_units_to_the_same_results_as_local(compose_cfg, tmp_path, local_run, monkeypatch):
    ray = pytest.importorskip("ray")
    base, (local_dir, local) = local_run[2], local_run[:2]
    # A Ray the user started before the run (as a cluster is): its workers were not forked from this
    # process, yet every record names the commit the run started with.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    monkeypatch.setenv("GANAUG_COMMIT", "c0ffee1")
    provenance.git_commit.cache_clear()  # read once per process
    try:
        on_ray = run_benchmark(compose_cfg("bench", base + [f"bench.out_dir={tmp_path / 'ray'}", "executor=ray"]))
        # Every unit is done: a second run under Ray finds nothing to do. (A Ray the run starts itself is
        # the SIGTERM test's; a third Ray start here cost 15 s of CI.)
        before = {p: p.stat().st_mtime_ns for p in (tmp_path / "ray" / "units").rglob("*.json")}
        run_benchmark(compose_cfg("bench", base + [f"bench.out_dir={tmp_path / 'ray'}", "executor=ray"]))
        assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "ray" / "units").rglob("*.json")}
    finally:
        ray.shutdown()
        provenance.git_commit.cache_clear()
    a, b = _scores(local_dir), _scores(tmp_path / "ray")
    assert set(a) == set(b) and len(a) == local["meta"]["units_total"] == on_ray["meta"]["units_done"]
    assert a == b
    assert {r["made_on"]["commit"] for r in UnitStore(tmp_path / "ray" / "units").all()} == {"c0ffee1"}


def test_an_unknown_executor_is_named(compose_cfg, tmp_path, tiny):
    with pytest.raises(ConfigError, match="executor must be one of"):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", "executor.name=dask"]))


@pytest.mark.xdist_group("local_run")
def test_a_local_pool_runs_the_same_units_to_the_same_results(compose_cfg, tmp_path, local_run, monkeypatch):
    import ganaug.bench.executor as executor

    # The bar hears each GAN's own progress from the pool's processes, as it does in this one.
    heard, real_pool = [], executor.run_in_pool

    def listening(cfg, units, todo, advance, workers, move):
        return real_pool(cfg, units, todo, advance, workers,
                         lambda unit, fraction: (heard.append((unit.id, fraction)), move(unit, fraction)))

    monkeypatch.setattr(executor, "run_in_pool", listening)
    base = local_run[2]
    pooled = run_benchmark(compose_cfg("bench", base + [f"bench.out_dir={tmp_path / 'two'}", "executor.workers=2"]))
    assert pooled["meta"]["units_done"] == pooled["meta"]["units_total"]
    assert _scores(local_run[0]) == _scores(tmp_path / "two")
    gan = [f for uid, f in heard if uid == "n30/gan-g0"]
    # A fresh GAN first reports where it starts (0 updates), then its updates.
    assert len(gan) > 5 and gan == sorted(gan) and gan[0] == 0 < gan[1] < gan[-1] <= 1
    with pytest.raises(ConfigError, match="executor.workers must be a positive integer"):
        run_benchmark(compose_cfg("bench", base + [f"bench.out_dir={tmp_path / 'x'}", "executor.workers=0"]))


def test_a_unit_goes_on_when_the_process_showing_its_progress_is_gone(compose_cfg, tmp_path, tiny):
    # Stopping a pooled benchmark (kill -TERM on its process group) stops the pool's manager first: a GAN
    # told to save and stop then failed reporting its next update, before its checkpoint was written.
    import ganaug.bench.executor as executor

    class GoneQueue:
        def put(self, item):
            raise BrokenPipeError(32, "Broken pipe")

    cfg = compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}"])
    assert executor.run_unit(executor._one_thread_each(cfg), "n30/gan-g0", progress_queue=GoneQueue()) == "n30/gan-g0"
    assert UnitStore(tmp_path / "units").get("n30/gan-g0")["g_updates"] == 40


_POOL_PARENT = """
import multiprocessing, os, time
from concurrent.futures import ProcessPoolExecutor
from ganaug.bench.executor import pool_worker_setup

if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    setup = {"initializer": pool_worker_setup, "initargs": (multiprocessing.current_process().pid,)}
    with ProcessPoolExecutor(1, mp_context=ctx, **setup) as pool:
        print(pool.submit(os.getpid).result(), flush=True)   # the worker is idle from here on
        time.sleep(600)
"""


def test_pool_workers_leave_with_the_benchmark_that_started_them(tmp_path):
    # Stopping a pooled benchmark left its idle workers blocked forever on the dead process's task queue
    # (every worker holds its writing end): orphans piled up across stops.
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(_POOL_PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _alive(worker):
            time.sleep(0.2)
        assert not _alive(worker), "the pool worker outlived its benchmark"
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_a_ray_address_where_nothing_answers_is_a_message_before_anything_runs(compose_cfg, tmp_path, tiny, scheme):
    # Ray itself retries a dead address for minutes, printing its own log lines.
    import time

    pytest.importorskip("ray")
    address = f"{scheme}127.0.0.1:{_closed_port()}"
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"executor.address={address}: nothing answers at 127.0.0.1:\d+ .*"
                                          r"ray start --head.*leave executor.address out"):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", "executor=ray",
                                                   f"executor.address={address}"]))
    assert time.perf_counter() - t0 < 30 and not (tmp_path / "units").exists()
    with pytest.raises(ConfigError, match=r"executor.address=nowhere must be auto, host:port or ray://host:port"):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", "executor=ray",
                                                   "executor.address=nowhere"]))


def test_no_running_ray_for_address_auto_is_a_message(compose_cfg, tmp_path, tiny, monkeypatch):
    ray = pytest.importorskip("ray")

    def no_cluster(**_):
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", no_cluster)
    with pytest.raises(ConfigError, match=r"executor.address=auto: Could not find any running Ray instance\..*"
                                          r"ray start --head"):
        run_benchmark(compose_cfg("bench", tiny + [f"bench.out_dir={tmp_path}", "executor=ray",
                                                   "executor.address=auto"]))


def test_sigterm_to_a_ray_driver_is_a_message_and_ray_is_shut_down(tmp_path, tiny, python, repo):
    # Issue 42.14: SIGTERM to the driver ended in exit 134 with Ray's C++ stack dump and no ganaug message.
    import signal
    import subprocess
    import time

    pytest.importorskip("ray")
    out = tmp_path / "bench"
    proc = subprocess.Popen([python, "-m", "ganaug.bench.runner", *tiny, f"bench.out_dir={out}", "executor=ray",
                             "executor.num_cpus=1", "train.gan.max_steps=3000", f"hydra.run.dir={tmp_path / 'h'}"],
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while not list((out / "units").rglob("*.json")):  # Ray is up and a unit has finished
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-2000:]
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "ganaug-bench: interrupted; what finished is stored" in err
    assert "Traceback" not in err and "SIGABRT" not in err and "*** " not in err

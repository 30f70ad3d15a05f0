"""benchmarks/gpu_check.py, the prepared GPU check: its code paths on the CPU at toy size (CI has no GPU; what it
measures on one is committed from a lent machine)."""

import json

from _scripts import load_script


def test_the_gpu_check_times_updates_counts_what_they_launch_and_writes_its_record(repo, tmp_path):
    check = load_script(repo / "benchmarks" / "gpu_check.py", "gpu_check")
    out = tmp_path / "out"
    assert check.main(["--out", str(out), "--device", "cpu", "--data", "digits", "--updates", "2", "--warmup", "2",
                       "--stacked", "2", "--stacked-updates", "2"]) == 0
    record = json.loads((out / "gpu_check.json").read_text())
    update = record["update"]
    assert update["updates_timed"] == 2 and update["ms_per_update_median"] > 0
    assert len(update["kernels_per_update"]) >= 1 and min(update["kernels_per_update"]) > 100
    assert record["environment"]["commit"] and "load" in record["environment"]
    text = (out / "gpu_check.md").read_text()
    assert "per generator update" in text and "Not built yet" in text
    # The joint pass launches fewer operations than the default; the stacked GANs were timed.
    assert min(record["update_joint"]["kernels_per_update"]) < min(update["kernels_per_update"])
    assert record["stacked"]["gans"] == 2 and record["stacked"]["ms_per_stacked_update_median"] > 0
    assert "2 stacked GANs" in text and "d_pass=joint" in text
    assert record["update_graphed"]["overrides"][-1] == "gan.compile=aot_eager" and "compiled" in text
    # The main job's line says whether the goal was met, and a failed run is a failure, not a time.
    failed = {**record, "main_job": {"command": "ganaug-train trainer=gpu", "returncode": 2, "wall_s": 3.0,
                                     "goal_s": 60.0, "met": False}}
    assert "failed (exit 2)" in check.markdown(failed)
    # A part that raised is recorded as failed and the rest still reported.
    broken = {**record, "update_graphed": {"error": "BackendCompilerFailed: inductor"}}
    assert "update_graphed: failed (BackendCompilerFailed: inductor)" in check.markdown(broken)
    assert "per generator update" in check.markdown(broken)


def test_a_failing_part_is_recorded_and_the_others_still_run(repo, tmp_path, monkeypatch):
    # A lent GPU's minutes are few: a compile that fails must not cost the other measurements.
    check = load_script(repo / "benchmarks" / "gpu_check.py", "gpu_check")
    done = []

    def fake_updates(device, data, root, updates, warmup, extra=()):
        done.append(list(extra))
        if any("compile" in o for o in extra):
            raise RuntimeError("inductor failed")
        return {"updates_timed": 1, "ms_per_update_median": 1.0, "ms_per_update_mean": 1.0, "kernels_per_update": [9],
                "counted": "top-level aten operations", "wall_s": 1.0, "overrides": list(extra)}

    monkeypatch.setattr(check, "time_updates", fake_updates)
    out = tmp_path / "out"
    assert check.main(["--out", str(out), "--device", "cpu", "--stacked", "0"]) == 1
    record = json.loads((out / "gpu_check.json").read_text())
    assert len(done) == 3 and record["update_graphed"] == {"error": "RuntimeError: inductor failed"}
    assert record["update"]["ms_per_update_median"] == 1.0 and record["update_joint"]["overrides"] == ["gan.d_pass=joint"]

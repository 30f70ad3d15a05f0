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

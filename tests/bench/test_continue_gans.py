import json
import subprocess
from pathlib import Path

from ganaug.bench.runner import run_benchmark
from ganaug.eval.store import UnitStore

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "studies" / "continue_gans.sh"


def _continue(src, dst, *gans):
    return subprocess.run(["bash", str(SCRIPT), str(src), str(dst), *gans], capture_output=True, text=True)


def test_a_longer_gan_resumes_from_another_runs_checkpoint(compose_cfg, tmp_path, tiny):
    short, long = tmp_path / "short", tmp_path / "long"
    # Only the units the test reads (and what they need).
    run_benchmark(compose_cfg("bench", tiny + ["train.gan.max_steps=20", f"bench.out_dir={short}", "only=[n30/gan-g0]"]))
    done = _continue(short, long, "n30/gan-g0")
    assert done.returncode == 0, done.stderr
    run_benchmark(compose_cfg("bench", tiny + [
        "train.gan.max_steps=40", "bench.select_generator.by=val_cas", "bench.select_generator.every=20",
        "bench.select_generator.samples=50", f"bench.out_dir={long}", "only=[n30/gan-g0,n30/select-g0/*]"]))
    store = UnitStore(long / "units")
    gan = store.get("n30/gan-g0")
    assert gan["g_updates"] == 40 and gan["resumed_from"].endswith("checkpoints/last.ckpt")
    # Its time covers both runs: the short one's, kept in the checkpoint, and this one's.
    assert gan["stretches"] == 2 and gan["train_seconds"] > 0
    # The copied last.ckpt is replaced by the run's own, so that a kill resumes from the newest.
    ckpts = sorted(p.name for p in (long / "n30" / "gan-g0" / "checkpoints").glob("last*.ckpt"))
    assert ckpts == ["last.ckpt"]
    # The short run's final generator is the long run's first candidate, weights unchanged.
    first = store.get("n30/select-g0/s000020")
    assert first["generator"].endswith("snapshots/g000020")
    sha = [json.loads((Path(d) / "generator.json").read_text())["weights_sha256"]
           for d in (short / "n30" / "gan-g0" / "generator", first["generator"])]
    assert sha[0] == sha[1]


def test_it_refuses_a_missing_checkpoint_and_an_existing_one(tmp_path):
    missing = _continue(tmp_path / "nowhere", tmp_path / "dst", "n30/gan-g0")
    assert missing.returncode != 0 and "no checkpoint" in missing.stderr
    src = tmp_path / "src" / "n30" / "gan-g0"
    (src / "checkpoints").mkdir(parents=True)
    (src / "checkpoints" / "last.ckpt").write_bytes(b"ckpt")
    (src / "samples").mkdir()
    (src / "generator").mkdir()
    (src / "generator" / "generator.json").write_text(json.dumps({"g_updates": 20}))
    assert _continue(tmp_path / "src", tmp_path / "dst", "n30/gan-g0").returncode == 0
    again = _continue(tmp_path / "src", tmp_path / "dst", "n30/gan-g0")
    assert again.returncode != 0 and "already has a checkpoint" in again.stderr
    assert (tmp_path / "dst" / "n30" / "gan-g0" / "snapshots" / "g000020" / "generator.json").exists()

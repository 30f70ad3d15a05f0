import os
import subprocess
import sys

from ganaug.bench.store import UnitStore, fingerprint


def test_put_get_has(tmp_path):
    store = UnitStore(tmp_path)
    assert not store.has("n100/real/c0")
    store.put("n100/real/c0", {"test": 0.8})
    assert store.has("n100/real/c0") and store.get("n100/real/c0")["test"] == 0.8
    assert [r["unit"] for r in store.all()] == ["n100/real/c0"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_current_only_for_the_same_settings(tmp_path):
    store = UnitStore(tmp_path)
    fp = fingerprint({"steps": 3000}, 0)
    assert store.current("a/b", fp) is None  # nothing stored
    store.put("a/b", {"test": 0.8, "fingerprint": fp})
    assert store.current("a/b", fp)["test"] == 0.8
    assert store.current("a/b", fingerprint({"steps": 5000}, 0)) is None
    store.put("a/c", {"test": 0.7})  # made before fingerprints existed
    assert store.current("a/c", fp) is None


def test_claim_is_exclusive_and_stale_locks_are_taken_over(tmp_path):
    store = UnitStore(tmp_path)
    assert store.claim("a/b")
    # Another live process holds a unit: it cannot be claimed here.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "a" / "c.lock").write_text(str(other.pid))
        assert not store.claim("a/c")
        assert store.held_by_others() == ["a/c"]
    finally:
        other.kill()
        other.wait()
    # Its process died (a killed run): the lock is stale and the unit free again.
    assert store.claim("a/c")
    store.release("a/c")
    assert not (tmp_path / "a" / "c.lock").exists()
    assert os.path.exists(tmp_path / "a" / "b.lock")

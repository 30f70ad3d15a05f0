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

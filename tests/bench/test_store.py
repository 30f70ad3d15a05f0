import math

import pytest

from ganaug import GanaugError
from ganaug.eval.store import UnitStore, fingerprint, score_problem


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


def test_unit_ids_of_a_gan_read_back():
    from ganaug.eval.store import choice_id, gan_id, gan_of, trains_gan
    assert gan_of(gan_id("n100", 2)) == ("n100", "gan", "2") and trains_gan(gan_id("n100", 2))
    assert gan_of(f"{choice_id('longtail', 0)}/s003000") == ("longtail", "select", "0")
    assert gan_of("n100/bank-g0") is None and not trains_gan("n100/syn0.25/c0-g1")
    assert not trains_gan(choice_id("n100", 1))


def test_the_generator_record_is_the_choice_once_made(tmp_path):
    store = UnitStore(tmp_path)
    store.put("n100/gan-g0", {"generator": "final"})
    assert store.generator_record("n100", 0) == "n100/gan-g0"
    store.put("n100/select-g0", {"generator": "snapshot"})
    assert store.generator_record("n100", 0) == "n100/select-g0"


def test_a_record_that_is_not_json_is_named_with_the_fix(tmp_path):
    # a merge conflict or a hand edit in a committed results directory: JSONDecodeError tracebacks before
    store = UnitStore(tmp_path)
    store.put("n100/real/s0", {"fingerprint": "a"})
    path = tmp_path / "n100" / "real" / "s0.json"
    path.write_text('<<<<<<< HEAD\n{"fingerprint": "a"}\n=======\n')
    for read in (lambda: store.get("n100/real/s0"), lambda: store.current("n100/real/s0", "a"), store.all):
        with pytest.raises(GanaugError, match=rf"{path} is not valid JSON \(.*\), so it is not a unit record.*: delete it"):
            read()


@pytest.mark.parametrize(("rec", "keys", "allow_skipped", "problem"), [
    ({"val": 0.8}, ("val",), False, None),
    ({"val": 0.8, "test": 0.7}, ("val", "test"), False, None),
    ({}, ("val",), False, "it has no val"),
    ({"val": 0.8}, ("val", "test"), False, "it has no test"),
    ({"val": math.nan}, ("val",), False, "its val is nan, not a finite number"),
    ({"val": True}, ("val",), False, "its val is True, not a finite number"),
    ({"val": 0.8, "test": None}, ("val", "test"), False, "its test is None, not a finite number"),
    # a skipped run scores nothing: None (or no key) passes only where skipping is allowed and marked
    ({"val": None, "test": None, "skipped": True}, ("val", "test"), True, None),
    ({"skipped": True}, ("val", "test"), True, None),
    ({"val": None, "skipped": True}, ("val",), False, "its val is None, not a finite number"),
    ({"val": None}, ("val",), True, "its val is None, not a finite number"),
    ({"val": math.inf, "skipped": True}, ("val",), True, "its val is inf, not a finite number"),
])
def test_score_problem_names_what_a_record_lacks(rec, keys, allow_skipped, problem):
    assert score_problem(rec, keys, allow_skipped) == problem

"""benchmarks/stored_fingerprints.py: the stored units still match the code, and one that does not is named."""

import json
import shutil

from _scripts import load_script


def test_stored_units_are_checked_against_the_code_and_a_changed_one_is_named(repo, tmp_path, capsys):
    tool = load_script(repo / "benchmarks" / "stored_fingerprints.py", "stored_fingerprints")
    ci = tmp_path / "ci"
    shutil.copytree(repo / "benchmarks" / "results" / "ci", ci, ignore=shutil.ignore_patterns("*.png"))
    assert tool.main([str(ci)]) == 0
    assert "0 differ" in capsys.readouterr().out
    record = ci / "units" / "n30" / "real" / "c0.json"
    doc = json.loads(record.read_text())
    record.write_text(json.dumps({**doc, "fingerprint": "0" * 16}))
    assert tool.main([str(ci)]) == 1
    assert "n30/real/c0" in capsys.readouterr().out

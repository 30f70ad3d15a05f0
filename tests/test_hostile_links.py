"""Nothing follows a link it did not make: a symbolic link planted below an output directory (banks/<g>/<bank>,
units/, <out>/bank, <out_dir>/generator, a file in a bench.reuse_from directory) is refused by name, and what it
points at is neither written nor read. The output directory a setting names may itself be a link (runs/ on a
bigger disk)."""

import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import ganaug
from ganaug.base import files
from ganaug.base.dir_lock import hold_dir
from ganaug.base.files import atomic_file, atomic_write_bytes, check_unlinked, make_dir
from ganaug.errors import ArtifactError, OutputError

# The toy tunes' one seed and small bank are warned about, and beside the point here.
pytestmark = [pytest.mark.filterwarnings("ignore:1 classifier seed"),
              pytest.mark.filterwarnings("ignore:the bank is smaller than one epoch")]


def _victim(path: Path) -> Path:
    """Someone else's folder, outside any output directory, holding one file of theirs."""
    path.mkdir(parents=True)
    (path / "mine.txt").write_text("precious\n")
    return path


def _untouched(victim: Path) -> None:
    assert sorted(os.listdir(victim)) == ["mine.txt"] and (victim / "mine.txt").read_text() == "precious\n"


# -- the check itself -------------------------------------------------------------------------------------


def test_a_link_below_a_held_directory_is_refused_for_directories_and_files(tmp_path):
    victim = _victim(tmp_path / "victim")
    out = tmp_path / "out"
    (out / "banks").mkdir(parents=True)
    (out / "banks" / "g").symlink_to(victim)
    with hold_dir(out, "ganaug-tune", "out_dir"):
        with pytest.raises(OutputError, match=rf"{out / 'banks' / 'g'} is a symbolic link \(to {victim}\) below "
                                              rf"{out}.*remove the link, or choose another out_dir"):
            make_dir(out / "banks" / "g" / "unfiltered")
        with pytest.raises(OutputError, match="is a symbolic link"):
            atomic_write_bytes(out / "banks" / "g" / "bank.json", b"{}")
        with pytest.raises(OutputError, match="is a symbolic link"):
            check_unlinked(out / "banks" / "g" / "images.npy")  # a read: refused as well
    _untouched(victim)


def test_the_output_directory_itself_may_be_a_link(tmp_path):
    # Users link runs/ (or the run itself) to a bigger disk: that link is theirs.
    disk = tmp_path / "disk"
    disk.mkdir()
    (tmp_path / "runs").symlink_to(disk)
    (disk / "run").mkdir()
    (tmp_path / "run").symlink_to(disk / "run")
    for out in (tmp_path / "runs" / "tune", tmp_path / "run"):
        with hold_dir(out, "ganaug-tune", "out_dir"):
            atomic_write_bytes(make_dir(out / "banks" / "g") / "bank.json", b"{}")
            # A path spelled through the real directory is checked below it too.
            atomic_write_bytes(Path(os.path.realpath(out)) / "units" / "r.json", b"{}")
    assert (disk / "tune" / "banks" / "g" / "bank.json").is_file() and (disk / "run" / "units" / "r.json").is_file()


def test_outside_a_held_directory_links_are_the_users(tmp_path):
    victim = _victim(tmp_path / "elsewhere")
    (tmp_path / "link").symlink_to(victim)
    atomic_write_bytes(tmp_path / "link" / "new.txt", b"x")  # nobody holds tmp_path: the user's own path
    assert (victim / "new.txt").read_bytes() == b"x"


def test_a_linked_file_is_replaced_not_written_through(tmp_path):
    # The rename replaces the name: a link planted where a record goes is swapped for the record.
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "tune.json").symlink_to(victim)
    with hold_dir(out, "ganaug-tune", "out_dir"):
        atomic_write_bytes(out / "tune.json", b"{}")
    assert not (out / "tune.json").is_symlink() and (out / "tune.json").read_bytes() == b"{}"
    assert victim.read_text() == "precious\n"


def _swap_for_link(directory: Path, victim: Path) -> Path:
    """What a racing writer does between ganaug's check and its write: move ``directory`` away and put a link to
    ``victim`` in its place. Returns where the directory went."""
    moved = directory.with_name(directory.name + "-moved")
    directory.rename(moved)
    directory.symlink_to(victim)
    return moved


@pytest.mark.skipif(not files._WALK, reason="the race is closed where descriptors name directories (Linux)")
def test_a_link_swapped_in_after_the_check_is_not_written_through(tmp_path):
    # Before: the temporary's name was a path, looked up again at each write; a directory swapped for a link
    # once the check had passed sent the file (here bank.json) into the victim's folder.
    victim = _victim(tmp_path / "victim")
    out = tmp_path / "out"
    with hold_dir(out, "ganaug-tune", "out_dir"):
        with atomic_file(out / "banks" / "g" / "bank.json") as tmp:
            moved = _swap_for_link(out / "banks" / "g", victim)
            Path(tmp).write_bytes(b"{}")
    _untouched(victim)
    assert (moved / "bank.json").read_bytes() == b"{}"  # written in the directory that was checked


@pytest.mark.skipif(not files._WALK, reason="the race is closed where descriptors name directories (Linux)")
def test_a_link_swapped_in_while_directories_are_made_is_not_followed(tmp_path, monkeypatch):
    # Before: make_dir checked the path, then made it by name: a link swapped in between made directories
    # in the victim's folder (victim/g/unfiltered).
    victim = _victim(tmp_path / "victim")
    out = tmp_path / "out"
    (out / "banks").mkdir(parents=True)
    real_mkdir, swapped = os.mkdir, []

    def racing_mkdir(path, mode=0o777, *, dir_fd=None):
        if not swapped:
            swapped.append(_swap_for_link(out / "banks", victim))
        return real_mkdir(path, mode, dir_fd=dir_fd)

    with hold_dir(out, "ganaug-tune", "out_dir"):
        monkeypatch.setattr(os, "mkdir", racing_mkdir)
        try:
            make_dir(out / "banks" / "g" / "unfiltered")
        except OutputError as e:  # refusing the link is as good as not following it
            assert "symbolic link" in str(e)
        monkeypatch.undo()
    _untouched(victim)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or not files._WALK,
                    reason="acts as another user (uid 65534), which needs root")
def test_another_user_cannot_replace_the_temporary_by_a_link(tmp_path):
    # A shared output directory (mode 0777): before, another user could remove the temporary while the file was
    # being written and put a link to any file of the runner's in its place; the write went through the link.
    import subprocess
    import tempfile

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    shared = Path(tempfile.mkdtemp())
    try:
        shared.chmod(0o777)
        out = shared / "out"
        with hold_dir(out, "ganaug-tune", "out_dir"):
            out.chmod(0o777)
            with atomic_file(out / "s.json") as tmp:
                planted = subprocess.run(["/bin/sh", "-c", 'rm -f "$1" && ln -s "$2" "$1"', "sh",
                                          os.path.realpath(tmp), str(victim)], user=65534, capture_output=True)
                Path(tmp).write_bytes(b"{}")
        assert planted.returncode != 0, planted
        assert victim.read_text() == "precious\n" and (out / "s.json").read_bytes() == b"{}"
    finally:
        shutil.rmtree(shared)


def test_a_directory_one_may_write_but_not_list_is_written(tmp_path):
    # Writing a file by name needs write and search permission on its directory, not read: a held directory of
    # mode 0300 was refused once its descriptor was opened for reading. Root reads anything: the write runs
    # without that privilege (setpriv).
    import subprocess

    out = tmp_path / "out"
    out.mkdir()
    code = ("import sys; from ganaug.base.dir_lock import hold_dir; from ganaug.base.files import atomic_write_bytes\n"
            "with hold_dir(sys.argv[1], 'ganaug-tune', 'out_dir'):\n"
            "    atomic_write_bytes(sys.argv[1] + '/units/r.json', b'{}')")
    command = [sys.executable, "-c", code, str(out)]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root ignores the mode, and setpriv is not here to drop that privilege")
        command = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"] + command
    out.chmod(0o300)
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    finally:
        out.chmod(0o700)
    assert done.returncode == 0, done.stderr
    assert (out / "units" / "r.json").read_bytes() == b"{}"


def test_a_killed_writers_private_temporary_is_removed_by_the_next(tmp_path):
    from ganaug.base.files import STALE_AFTER_S, remove_stale_temps, temp_prefix

    dead = tmp_path / f"{temp_prefix(tmp_path / 'bank.json')}0123456789ab.tmp"
    dead.mkdir()
    (dead / "bank.json").write_bytes(b"half")
    live = tmp_path / f"{temp_prefix(tmp_path / 'images.npy')}cdef01234567.tmp"  # this process's, alive
    live.mkdir()
    (live / "images.npy").write_bytes(b"filling")
    old = time.time() - STALE_AFTER_S - 60
    os.utime(dead / "bank.json", (old, old))
    os.utime(dead, (old, old))
    # A private temporary is as fresh as its newest file: one of another host, being filled for over an hour.
    busy = tmp_path / ".images.npy.otherhost-12.89abcdef0123.tmp"
    busy.mkdir()
    (busy / "images.npy").write_bytes(b"still filling")
    os.utime(busy, (old, old))
    # Folders that only look like one: a user's, not named as make_temp names, or holding a folder.
    theirs = [tmp_path / ".bank.json.backup-2024.old.tmp", tmp_path / ".bank.json.otherhost-9.0123456789ab.tmp"]
    theirs[0].mkdir()
    (theirs[0] / "notes.txt").write_text("mine")
    (theirs[1] / "sub").mkdir(parents=True)
    for d in theirs:
        os.utime(d, (old, old))
    assert remove_stale_temps(tmp_path, ["bank.json", "images.npy"]) == [dead]
    assert not dead.exists() and (live / "images.npy").read_bytes() == b"filling" and busy.is_dir()
    assert all(d.is_dir() for d in theirs)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="makes another user's (65534) folder")
def test_another_users_private_temporary_is_left_to_them(tmp_path):
    # Before: listing another user's 0700 temporary raised PermissionError, and every export or bank write in
    # that shared directory failed. Root lists anything: the clearing runs without that privilege (setpriv).
    import subprocess

    from ganaug.base.files import STALE_AFTER_S

    if not shutil.which("setpriv"):
        pytest.skip("setpriv is not here to drop root's privilege")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    tmp_path.chmod(0o755)
    other = shared / ".generator.json.otherhost-4242.0123456789ab.tmp"
    other.mkdir(mode=0o700)
    (other / "generator.json").write_text("{}")
    os.chown(other / "generator.json", 65534, 65534)
    os.chown(other, 65534, 65534)
    old = time.time() - STALE_AFTER_S - 60
    os.utime(other, (old, old))
    code = ("import sys; from ganaug.base.files import remove_stale_temps\n"
            "print(remove_stale_temps(sys.argv[1], ['generator.json']))")
    done = subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search,-fowner",
                           sys.executable, "-c", code, str(shared)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
    assert other.is_dir()


def test_cleaning_up_does_not_stop_the_work_but_a_link_still_does(tmp_path, monkeypatch, caplog):
    # Before: a snapshot that could not be pruned (a file in it another process held open on NFS, one of another
    # user's) stopped training with an OutputError after the new snapshot was written.
    from ganaug.base.files import remove

    out = tmp_path / "out"
    (out / "trash" / "g1").mkdir(parents=True)
    (out / "trash" / "g1" / "f").write_text("x")
    real_rmtree = shutil.rmtree

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    with hold_dir(out, "ganaug-train", "out_dir"):
        monkeypatch.setattr(shutil, "rmtree", denied)
        with pytest.raises(OutputError, match=r"cannot remove .*trash.*not this user's to delete"):
            remove(out / "trash", tree=True)
        with caplog.at_level("WARNING"):
            remove(out / "trash", tree=True, best_effort=True)
        assert "not this user's to delete" in caplog.text and "left in place" in caplog.text
        monkeypatch.setattr(shutil, "rmtree", real_rmtree)
        with pytest.raises(OutputError, match="cannot remove .*trash"):
            remove(out / "trash")  # a directory where a file was expected: not removed unless asked for a tree
        (out / "elsewhere").symlink_to(tmp_path)
        with pytest.raises(OutputError, match="is a symbolic link"):
            remove(out / "elsewhere" / "out", tree=True, best_effort=True)
    assert (out / "trash" / "g1" / "f").read_text() == "x"


@pytest.mark.parametrize("walk", [True, False], ids=["descriptors", "by-name"])
def test_a_library_error_while_writing_names_the_file(tmp_path, monkeypatch, walk):
    monkeypatch.setattr(files, "_WALK", files._WALK and walk)  # by name: where descriptors cannot name directories
    out = tmp_path / "out"
    with hold_dir(out, "ganaug-tune", "out_dir"):
        with pytest.raises(ValueError) as e:
            with atomic_file(out / "units" / "r.json"):
                raise ValueError("disk said no")
    assert f"while writing {out / 'units' / 'r.json'}" in "\n".join(getattr(e.value, "__notes__", []))
    assert sorted(os.listdir(out / "units")) == []  # the temporary is gone


@pytest.mark.parametrize("walk", [True, False], ids=["descriptors", "by-name"])
def test_a_file_is_written_whole_or_not_at_all(tmp_path, monkeypatch, walk):
    monkeypatch.setattr(files, "_WALK", files._WALK and walk)
    target = tmp_path / "out" / "r.json"
    atomic_write_bytes(target, b"old")
    with pytest.raises(OSError):  # a disk that fills half-way: the old file stays whole, no temporary is left
        with atomic_file(target) as tmp:
            Path(tmp).write_bytes(b"ne")
            raise OSError(28, "No space left on device")
    assert target.read_bytes() == b"old" and sorted(os.listdir(target.parent)) == ["r.json"]
    with atomic_file(target) as tmp:
        Path(tmp).write_bytes(b"new")
    assert target.read_bytes() == b"new" and sorted(os.listdir(target.parent)) == ["r.json"]


def test_a_held_directory_removed_during_the_run_is_named(tmp_path):
    out = tmp_path / "out"
    with hold_dir(out, "ganaug-tune", "out_dir"):
        shutil.rmtree(out)
        with pytest.raises(OutputError, match=rf"{out}, the directory out_dir names, is gone"):
            atomic_write_bytes(out / "units" / "r.json", b"{}")


def test_remove_and_move_follow_no_link_below_a_held_directory(tmp_path):
    # Deleting and renaming by name went through a planted link: remove(out/banks/g/bank.json) deleted the
    # victim's bank.json; now refused by name, and a link at the name itself is removed, not followed.
    from ganaug.base.files import move, remove

    victim = _victim(tmp_path / "victim")
    (victim / "bank.json").write_text("theirs\n")
    (victim / "tree").mkdir()
    out = tmp_path / "out"
    (out / "banks").mkdir(parents=True)
    (out / "banks" / "g").symlink_to(victim)
    (out / "mine").write_text("x")
    with hold_dir(out, "ganaug-tune", "out_dir"):
        for act in (lambda: remove(out / "banks" / "g" / "bank.json"), lambda: remove(out / "banks" / "g" / "tree", tree=True),
                    lambda: move(out / "mine", out / "banks" / "g" / "bank.json"),
                    lambda: move(out / "banks" / "g" / "bank.json", out / "stolen.json")):
            with pytest.raises(OutputError, match=rf"{out / 'banks' / 'g'} is a symbolic link"):
                act()
        remove(out / "banks" / "g")  # the link itself
    assert sorted(os.listdir(victim)) == ["bank.json", "mine.txt", "tree"]
    assert (victim / "bank.json").read_text() == "theirs\n" and not (out / "banks" / "g").exists()


@pytest.mark.skipif(not files._WALK, reason="the race is closed where descriptors name directories (Linux)")
def test_a_link_swapped_in_before_a_tree_is_removed_is_not_followed(tmp_path, monkeypatch):
    from ganaug.base.files import remove

    victim = _victim(tmp_path / "victim")
    (victim / "staging").mkdir()
    (victim / "staging" / "theirs.txt").write_text("precious\n")
    out = tmp_path / "out"
    (out / "snapshots" / "staging").mkdir(parents=True)
    real_rmtree, moved = shutil.rmtree, []

    def racing_rmtree(path, *args, **kwargs):
        if not moved:
            moved.append(_swap_for_link(out / "snapshots", victim))
        return real_rmtree(path, *args, **kwargs)

    with hold_dir(out, "ganaug-train", "out_dir"):
        monkeypatch.setattr(shutil, "rmtree", racing_rmtree)
        remove(out / "snapshots" / "staging", tree=True)
        monkeypatch.undo()
    assert (victim / "staging" / "theirs.txt").read_text() == "precious\n"
    assert not (moved[0] / "staging").exists()  # removed where it was checked


# -- unit records -----------------------------------------------------------------------------------------


def test_a_unit_store_reads_and_writes_no_link(tmp_path):
    from ganaug.eval.store import UnitStore

    victim = _victim(tmp_path / "victim")
    (victim / "runs").mkdir()
    (victim / "runs" / "a.json").write_text(json.dumps({"unit": "runs/a", "val": 1.0, "fingerprint": "f"}))
    out = tmp_path / "out"
    out.mkdir()
    (out / "units").symlink_to(victim)
    store = UnitStore(out / "units", setting="bench.reuse_from")  # not held: a reuse_from directory is read only
    for read in (lambda: store.get("runs/a"), lambda: store.current("runs/a", "f"), lambda: store.has("runs/a"),
                 store.all, lambda: store.put("runs/b", {"val": 0.5})):
        with pytest.raises(OutputError, match=rf"{out / 'units'} is a symbolic link.*another bench.reuse_from"):
            read()
    assert sorted(os.listdir(victim / "runs")) == ["a.json"]
    # A record file that is a link: not read either.
    (out / "units").unlink()
    (out / "units" / "runs").mkdir(parents=True)
    (out / "units" / "runs" / "a.json").symlink_to(victim / "runs" / "a.json")
    with pytest.raises(OutputError, match=r"a\.json is a symbolic link"):
        store.current("runs/a", "f")


# -- ganaug-tune ------------------------------------------------------------------------------------------

TOY = dict(ratios=(0.25,), filter_thresholds=(None,), seeds=(0,), steps=10, width=8, bank_size=60)


@pytest.fixture(scope="module")
def toy_tune(tmp_path_factory):
    from ganaug.data import load_digits, train_val_split

    root = tmp_path_factory.mktemp("tune")
    torch.manual_seed(0)
    gen = ganaug.export_generator(ganaug.Generator(num_classes=10, image_size=8, width=8), root / "g10")
    train, val = train_val_split(load_digits("train"), val_fraction=0.2, seed=0)
    return gen, train, val, ganaug.TuneSettings(**TOY)


def _tune(toy_tune, out):
    gen, train, val, settings = toy_tune
    return ganaug.tune_mix(gen, train, val, settings, out_dir=out, progress=False)


def test_tune_refuses_a_link_planted_at_a_bank(toy_tune, tmp_path):
    # Before: the bank was written into the victim (images.npy and bank.json replaced, labels.npy and a lock
    # added) and the recipe named the victim's absolute path as its source.
    victim = _victim(tmp_path / "victim_bank")
    out = tmp_path / "tune"
    (out / "banks" / "g10").mkdir(parents=True)
    (out / "banks" / "g10" / "unfiltered").symlink_to(victim)
    with pytest.raises(OutputError, match=r"banks/g10/unfiltered is a symbolic link .*choose another out_dir"):
        _tune(toy_tune, out)
    _untouched(victim)
    assert not (out / "recipe.yaml").exists()
    # Removed, as the message says: the tune runs, and its recipe names the bank inside out_dir.
    (out / "banks" / "g10" / "unfiltered").unlink()
    result = _tune(toy_tune, out)
    assert result.candidate("g10/syn0.25")["bank"] == str(out / "banks" / "g10" / "unfiltered")
    assert "source: ../../banks/g10/unfiltered\n" in (out / "recipes" / "g10" / "syn0.25.yaml").read_text()


def test_tune_neither_writes_nor_reads_units_through_a_planted_link(toy_tune, tmp_path):
    # Before: every unit record went into the victim, and a rerun took its scores from there, so whoever
    # planted the link chose the recipe.
    first = tmp_path / "first"
    _tune(toy_tune, first)
    victim = tmp_path / "victim_units"
    shutil.copytree(first / "units", victim)
    run = victim / "runs" / "g10" / "syn0.25" / "s0.json"
    doc = json.loads(run.read_text())
    run.write_text(json.dumps({**doc, "val": 1.0}))  # a planted score
    before = {p: p.read_bytes() for p in victim.rglob("*.json")}
    out = tmp_path / "tune"
    out.mkdir()
    (out / "units").symlink_to(victim)
    with pytest.raises(OutputError, match=rf"{out / 'units'} is a symbolic link .*choose another out_dir"):
        _tune(toy_tune, out)
    assert {p: p.read_bytes() for p in victim.rglob("*.json")} == before
    assert not (out / "tune.json").exists()


def _edit_run_record(out: Path, edit) -> Path:
    path = out / "units" / "runs" / "g10" / "syn0.25" / "s0.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("edit, what", [
    (lambda d: d.update(val="n/a"), "its val is 'n/a', not a finite number"),
    (lambda d: d.update(score=d.pop("val")), "it has no val"),
    (lambda d: d.update(val=math.nan), "its val is nan, not a finite number"),
    (lambda d: d.update(val_outcomes="zz"), "its val_outcomes is not the hex of"),
    (lambda d: d.update(candidate="real"), "it names candidate 'real'"),
], ids=["val-text", "val-missing", "val-nan", "outcomes-not-hex", "another-candidate"])
def test_a_unit_record_with_a_bad_score_is_named_like_a_damaged_one(toy_tune, tmp_path, edit, what):
    # Before: the rerun ended in a ValueError or KeyError deep in the statistics, naming neither the file nor
    # the fix ("values contains non-finite values" for NaN).
    out = tmp_path / "tune"
    _tune(toy_tune, out)
    path = _edit_run_record(out, edit)
    with pytest.raises(ArtifactError) as e:
        _tune(toy_tune, out)
    message = str(e.value)
    assert str(path) in message and what in message and "delete it, and the unit is made again" in message
    path.unlink()  # the way out the message gives
    assert isinstance(_tune(toy_tune, out).candidate("g10/syn0.25")["val"]["mean"], float)


# -- ganaug-sample and ganaug-train -----------------------------------------------------------------------


def test_sample_refuses_a_link_planted_at_its_default_bank(tmp_path, capsys, monkeypatch):
    from ganaug.cli.sample import main as sample_main

    torch.manual_seed(0)
    gen = ganaug.export_generator(ganaug.Generator(num_classes=3, image_size=8, width=8), tmp_path / "gen")
    victim = _victim(tmp_path / "victim")
    out = tmp_path / "out"
    out.mkdir()
    (out / "bank").symlink_to(victim)
    monkeypatch.setattr(sys, "argv", ["ganaug-sample", f"generator={gen}", f"out={out}", "n_per_class=2",
                                      "progress=false", "bank.enabled=true", "bank.size=30",
                                      f"hydra.run.dir={tmp_path / 'hydra'}"])
    with pytest.raises(SystemExit) as e:
        sample_main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err, err[-2000:]
    assert f"ganaug-sample: error: {out / 'bank'} is a symbolic link" in err and "choose another out" in err
    _untouched(victim)


@pytest.mark.parametrize("sub", [".hydra-run", ".hydra-run/.hydra"])
def test_hydra_writes_nothing_through_a_link_planted_at_its_directory(tmp_path, capsys, monkeypatch, sub):
    # Hydra makes <out>/.hydra-run (its config, overrides and log) before ganaug's code runs: a link planted there
    # had them written into someone else's folder. Its directory then goes to the temp directory instead.
    import tempfile

    from ganaug.cli.sample import main as sample_main
    from ganaug.gan.run_record import _private_temp, hydra_dir

    torch.manual_seed(0)
    gen = ganaug.export_generator(ganaug.Generator(num_classes=3, image_size=8, width=8), tmp_path / "gen")
    victim = _victim(tmp_path / "victim")
    out = tmp_path / "out"
    (out / sub).parent.mkdir(parents=True, exist_ok=True)
    (out / sub).symlink_to(victim)
    assert Path(hydra_dir(str(out), ".hydra-run")) == _private_temp() / ".hydra-run"
    monkeypatch.setattr(sys, "argv", ["ganaug-sample", f"generator={gen}", f"out={out}", "n_per_class=2",
                                      "progress=false"])
    sample_main()
    assert (out / "samples.npz").is_file()
    _untouched(victim)


@pytest.mark.parametrize("name", ["ganaug-hydra", f"ganaug-hydra-{os.getuid()}"])
def test_hydra_fallback_directory_is_this_users_own(tmp_path, monkeypatch, request, name):
    # Before: the fallback was <tmp>/ganaug-hydra, one fixed name in a directory every local user can write: a link
    # planted there (or a folder of another user's) received Hydra's files whenever the fallback was taken.
    import tempfile

    from ganaug.gan.run_record import _private_temp, hydra_dir

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    _private_temp.cache_clear()
    request.addfinalizer(_private_temp.cache_clear)  # later tests: the real temp directory again
    (tmp_path / "tmp").mkdir()
    victim = _victim(tmp_path / "victim")
    (tmp_path / "tmp" / name).symlink_to(victim)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".hydra-run").symlink_to(victim)  # the fallback is taken
    got = Path(hydra_dir(str(out), ".hydra-run"))
    assert got.name == ".hydra-run" and not got.resolve().is_relative_to(victim.resolve())
    assert got.is_dir()  # made: ganaug-train's log opens in it before Hydra makes its directory
    assert not any(p.is_symlink() for p in [got.parent, *got.parent.parents] if p.is_relative_to(tmp_path))
    assert os.stat(got.parent).st_uid == os.getuid() and not os.stat(got.parent).st_mode & 0o077
    assert hydra_dir(str(out), ".hydra-run") == str(got)  # one place per process: config and log stay together
    _untouched(victim)


@pytest.mark.parametrize("planted", [".hydra", "train.log", ".hydra/train.log", ".hydra/config.yaml"])
def test_train_hydra_writes_nothing_through_a_link_planted_in_its_run_directory(tmp_path, capsys, monkeypatch,
                                                                                planted):
    # Before: Hydra wrote its config into a linked runs/<name>/.hydra, and appended its log to whatever a linked
    # runs/<name>/train.log named, before ganaug's code ran (an error in the settings came after). Its files now
    # live in <run>/.hydra, or in the temp directory when a link is planted there.
    from ganaug.cli.train import main as train_main

    victim = _victim(tmp_path / "victim")
    run = tmp_path / "run"
    (run / planted).parent.mkdir(parents=True, exist_ok=True)
    (run / planted).symlink_to(victim if planted == ".hydra" else victim / "mine.txt")
    monkeypatch.setattr(sys, "argv", ["ganaug-train", "data=digits", "gan.max_steps=0", f"hydra.run.dir={run}"])
    with pytest.raises(SystemExit) as e:
        train_main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and "gan.max_steps=0" in err and "Traceback" not in err, err[-2000:]
    _untouched(victim)


def test_train_hydra_keeps_its_files_in_the_run_directory(tmp_path, capsys, monkeypatch):
    from ganaug.cli.train import main as train_main

    run = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["ganaug-train", "data=digits", "gan.max_steps=0", f"hydra.run.dir={run}"])
    with pytest.raises(SystemExit):
        train_main()
    assert sorted(p.name for p in (run / ".hydra").iterdir()) == ["config.yaml", "hydra.yaml", "overrides.yaml",
                                                                   "train.log"]
    assert not (run / "train.log").exists()


@pytest.mark.parametrize("planted", ["generator", "checkpoints", "checkpoints/run.json", "logs/version_0"])
def test_train_refuses_a_link_planted_where_it_writes_before_training(compose_cfg, fast, tmp_path, planted):
    # Before: generator.json and generator.safetensors were exported into the victim after the whole training,
    # and a linked run.json was read as this run's settings.
    from ganaug.gan.train import train

    victim = _victim(tmp_path / "victim")
    target = victim / "mine.txt" if planted.endswith(".json") else victim
    out = tmp_path / "run"
    (out / planted).parent.mkdir(parents=True, exist_ok=True)
    (out / planted).symlink_to(target)
    with pytest.raises(OutputError, match=rf"{out / planted} is a symbolic link .*choose another out_dir"):
        train(compose_cfg("train", fast + [f"out_dir={out}"]))
    _untouched(victim)
    assert sorted(os.listdir(out)) == sorted({".ganaug.lock", planted.split("/")[0]})  # refused before training


def test_train_writes_no_checkpoint_through_a_link_planted_during_training(compose_cfg, fast, tmp_path):
    # Before: the check ran once, before training; Lightning then saved (and pruned) checkpoints by name, so a
    # link put at checkpoints/ after the first update received step=10.ckpt and last.ckpt.
    import pytorch_lightning as pl

    from ganaug.gan.train import train

    victim = _victim(tmp_path / "victim")
    out = tmp_path / "run"

    class Plant(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args):
            if trainer.global_step == 2 and not (out / "checkpoints").is_symlink():
                if (out / "checkpoints").exists():
                    _swap_for_link(out / "checkpoints", victim)
                else:
                    (out / "checkpoints").symlink_to(victim)

    with pytest.raises(OutputError, match=rf"{out / 'checkpoints'} is a symbolic link .*choose another out_dir"):
        train(compose_cfg("train", fast + [f"out_dir={out}"]), extra_callbacks=[Plant()])
    _untouched(victim)


def test_train_does_not_resume_from_a_last_checkpoint_linked_elsewhere(compose_cfg, fast, tmp_path):
    # Before: a last.ckpt linked to another run's checkpoint was resumed from: that run's GAN went on under this name.
    from ganaug.gan.train import train

    train(compose_cfg("train", fast + [f"out_dir={tmp_path / 'other'}"]))
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "last.ckpt").symlink_to(tmp_path / "other" / "checkpoints" / "last.ckpt")
    with pytest.raises(OutputError, match=r"checkpoints/last.ckpt is a symbolic link .*choose another out_dir"):
        train(compose_cfg("train", fast + [f"out_dir={out}", "gan.max_steps=30"]))
    assert not (out / "generator").exists()


def test_train_resumes_from_the_last_checkpoint_link_lightning_makes(compose_cfg, fast, tmp_path):
    # callbacks.checkpoint.save_last=link: last.ckpt is a link to a checkpoint beside it, made by the run itself.
    from ganaug.gan.train import train

    link = fast + [f"out_dir={tmp_path}", "callbacks.checkpoint.save_last=link"]
    train(compose_cfg("train", link))
    assert (tmp_path / "checkpoints" / "last.ckpt").is_symlink()
    longer = train(compose_cfg("train", link + ["gan.max_steps=30"]))
    assert longer["resumed_from"] and longer["g_updates"] == 30


# -- ganaug-bench -----------------------------------------------------------------------------------------


def test_bench_reuse_from_copies_no_link(tmp_path):
    # Before: copytree and copy2 followed links in the other directory: someone's file came in as a bank's images.
    from ganaug.bench.runner import _copy_atomic

    secret = tmp_path / "secret.npy"
    np.save(secret, np.arange(3))
    src_root, out = tmp_path / "earlier", tmp_path / "bench"
    (src_root / "n100" / "bank-g0").mkdir(parents=True)
    (src_root / "n100" / "bank-g0" / "images.npy").symlink_to(secret)
    (src_root / "n50").symlink_to(src_root / "n100")
    (src_root / "n100" / "reference.safetensors").symlink_to(secret)
    with hold_dir(out, "ganaug-bench", "bench.out_dir"):
        for o in ("n100/bank-g0", "n50/bank-g0", "n100/reference.safetensors"):
            with pytest.raises(OutputError, match=r"is a symbolic link .*choose another bench.reuse_from"):
                _copy_atomic(src_root / o, out / o, src_root)
    assert sorted(os.listdir(out)) == [".ganaug.lock"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_bench_reuse_from_refuses_a_named_pipe_in_an_adopted_bank(tmp_path):
    # Before (9120918): the copy opened the pipe and waited for a writer, forever.
    import threading

    from ganaug.bench.runner import ReuseError, _copy_atomic

    src_root = tmp_path / "other"
    bank = src_root / "n100" / "bank-g0" / "unfiltered"
    bank.mkdir(parents=True)
    (bank / "images.npy").write_bytes(b"x")
    os.mkfifo(bank / "labels.npy")
    out = tmp_path / "mine"
    raised = []

    def adopt():
        try:
            _copy_atomic(bank, out / "n100" / "bank-g0" / "unfiltered", src_root)
        except ReuseError as e:
            raised.append(str(e))

    with hold_dir(out, "ganaug-bench", "bench.out_dir"):
        worker = threading.Thread(target=adopt, daemon=True)
        worker.start()
        worker.join(30)
    assert raised and "labels.npy is not a regular file" in raised[0] and "bench.reuse_from" in raised[0]
    assert not (out / "n100" / "bank-g0" / "unfiltered").exists()


def test_a_bench_unit_in_a_worker_makes_nothing_through_a_link(tmp_path):
    # A pool or Ray worker runs units without holding bench.out_dir: the check must not depend on the hold.
    from ganaug.bench.runner import Fingerprints, Unit, run_and_store
    from ganaug.eval.store import UnitStore

    victim = _victim(tmp_path / "victim")
    out = tmp_path / "bench"
    out.mkdir()
    (out / "n100").symlink_to(victim)
    store = UnitStore(out / "units")
    unit = Unit("n100/real-c0", "real", 1.0, lambda: atomic_write_bytes(out / "n100" / "x.json", b"{}") or {},
                fingerprint="f")
    with pytest.raises(OutputError, match=r"n100 is a symbolic link .*choose another bench.out_dir"):
        run_and_store(unit, Fingerprints([unit], store))
    _untouched(victim)


def test_a_bench_unit_reads_no_bank_nor_reference_through_a_link(tmp_path):
    # Writes were refused, but the GAN metrics opened the bank and every run loaded the reference through
    # `bench.out_dir/n100 -> elsewhere`: someone else's bank scored, someone else's classifier judging.
    from types import SimpleNamespace

    from ganaug.base.files import output_root
    from ganaug.bench.runner import Regime, _gan_metrics

    victim = tmp_path / "victim"
    (victim / "bank-g0" / "unfiltered").mkdir(parents=True)
    out = tmp_path / "bench"
    out.mkdir()
    (out / "n100").symlink_to(victim)
    regime = SimpleNamespace(out=out / "n100", name="n100")
    with output_root(out, "bench.out_dir"):
        with pytest.raises(OutputError, match=r"n100 is a symbolic link .*choose another bench.out_dir"):
            _gan_metrics(regime, 0)
        with pytest.raises(OutputError, match=r"n100 is a symbolic link"):
            Regime.reference_path(regime)
    # Outside a held directory the paths are the user's: the same regime resolves its reference path.
    assert Regime.reference_path(regime) == out / "n100" / "reference_classifier.safetensors"

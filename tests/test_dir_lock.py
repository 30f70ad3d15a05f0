"""A second ganaug command on an output directory in use stops with a message; a killed one leaves no lock."""

import os
import subprocess
import sys

import pytest

from ganaug.base.dir_lock import LOCK_FILE, DirectoryBusy, hold_dir
from ganaug.errors import OutputError

HOLD = ("import sys, time\nfrom ganaug.base.dir_lock import hold_dir\n"
        "with hold_dir(sys.argv[1], 'ganaug-bench', 'bench.out_dir'):\n"
        "    print('held', flush=True)\n    time.sleep(120)\n")


def test_a_directory_in_use_is_refused_with_its_holder_and_the_way_out(tmp_path):
    with hold_dir(tmp_path / "run", "ganaug-train", "out_dir"):
        with pytest.raises(DirectoryBusy) as e:
            with hold_dir(tmp_path / "run", "ganaug-train", "out_dir"):
                pass
        assert f"pid {os.getpid()}" in str(e.value) and "ganaug-train" in str(e.value)
        assert "another out_dir" in str(e.value) and e.value.exit_code == 75
        with hold_dir(tmp_path / "other", "ganaug-train", "out_dir"):  # another directory is free
            pass
    with hold_dir(tmp_path / "run", "ganaug-train", "out_dir"):  # released at the end of the block
        pass
    assert (tmp_path / "run" / LOCK_FILE).is_file()


def test_a_killed_holder_leaves_no_lock(tmp_path, python):
    holder = subprocess.Popen([python, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DirectoryBusy, match=f"ganaug-bench \\(pid {holder.pid}"):
            with hold_dir(tmp_path, "ganaug-bench", "bench.out_dir"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with hold_dir(tmp_path, "ganaug-bench", "bench.out_dir"):
        pass


def test_ddp_ranks_after_the_first_share_rank_zeros_lock(tmp_path, monkeypatch):
    with hold_dir(tmp_path, "ganaug-train", "out_dir"):
        monkeypatch.setenv("LOCAL_RANK", "1")
        with hold_dir(tmp_path, "ganaug-train", "out_dir"):
            pass


def test_train_and_bench_refuse_a_directory_in_use(tmp_path, compose_cfg, fast, capsys, monkeypatch):
    from ganaug.bench.runner import main as bench_main
    from ganaug.gan.train import train

    with hold_dir(tmp_path / "run", "ganaug-train", "out_dir"):
        with pytest.raises(DirectoryBusy, match="another out_dir"):
            train(compose_cfg("train", fast + [f"out_dir={tmp_path / 'run'}"]))
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing was trained into it
    out = tmp_path / "bench"
    with hold_dir(out, "ganaug-bench", "bench.out_dir"):
        monkeypatch.setattr(sys, "argv", ["ganaug-bench", "bench=ci", "progress=false", f"bench.out_dir={out}",
                                          f"hydra.run.dir={tmp_path / 'hydra'}"])
        with pytest.raises(SystemExit) as e:
            bench_main()
    err = capsys.readouterr().err
    assert e.value.code == 75 and f"ganaug-bench: error: {out} is in use by ganaug-bench" in err, err[-2000:]
    assert "Traceback" not in err and not (out / "units").exists()



def test_sample_and_a_bank_refuse_a_directory_in_use(tmp_path, capsys, monkeypatch):
    # Two writers of one bank ran side by side: each removed the other's temporaries, and the last
    # rename of each file won, so the bank could hold one run's images under the other's labels.
    import torch

    from ganaug import Generator, SyntheticBank, export_generator
    from ganaug.cli.sample import main as sample_main

    torch.manual_seed(0)
    generator = export_generator(Generator(10, 8, 1, z_dim=8, width=8), tmp_path / "gen")
    bank = tmp_path / "bank"
    with hold_dir(bank, "SyntheticBank.generate", "path"):
        with pytest.raises(DirectoryBusy, match="is in use by SyntheticBank.generate .*another path"):
            SyntheticBank.generate(generator, 20, bank, progress=False)
    assert not (bank / "bank.json").exists()
    assert len(SyntheticBank.generate(generator, 20, bank, progress=False)) == 20  # free once released
    out = tmp_path / "samples"
    with hold_dir(out, "ganaug-sample", "out"):
        monkeypatch.setattr(sys, "argv", ["ganaug-sample", f"generator={generator}", f"out={out}", "progress=false"])
        with pytest.raises(SystemExit) as e:
            sample_main()
    err = capsys.readouterr().err
    assert e.value.code == 75 and f"ganaug-sample: error: {out} is in use by ganaug-sample" in err, err[-2000:]
    assert not (out / "samples.npz").exists()


@pytest.mark.parametrize("kind", ["symlink", "dangling", "fifo", "directory"])
def test_a_lock_path_that_is_not_a_regular_file_is_refused_and_left_alone(tmp_path, kind):
    # Anyone who can write in a shared output directory could point the lock at a file the runner can write:
    # opening it "a+" then truncating clobbered that file.
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    lock = out / LOCK_FILE
    if kind == "symlink":
        lock.symlink_to(victim)
    elif kind == "dangling":
        lock.symlink_to(tmp_path / "made-by-the-lock")
    elif kind == "fifo":
        os.mkfifo(lock)
    else:
        lock.mkdir()
    with pytest.raises(OutputError, match=f"{LOCK_FILE} is not a regular file.*remove it"):
        with hold_dir(out, "ganaug-sample", "out"):
            pass
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "made-by-the-lock").exists()


def test_the_lock_file_is_made_without_following_links(tmp_path):
    with hold_dir(tmp_path / "run", "ganaug-train", "out_dir"):
        assert (tmp_path / "run" / LOCK_FILE).is_file() and not (tmp_path / "run" / LOCK_FILE).is_symlink()


def test_ganaug_sample_refuses_a_symlinked_lock_with_a_message(tmp_path):
    import torch

    from ganaug import Generator, export_generator

    torch.manual_seed(0)
    gen = export_generator(Generator(10, 8, 1, z_dim=16, width=8), tmp_path / "gen")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).symlink_to(victim)
    r = subprocess.run([sys.executable, "-m", "ganaug.cli.sample", f"generator={gen}", f"out={out}",
                        "n_per_class=2", "hydra.run.dir=" + str(tmp_path / "hydra")], capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "not a regular file" in r.stderr
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("rank", [None, "1"])
def test_a_held_directory_refuses_a_link_planted_below_it_while_held(tmp_path, monkeypatch, rank):
    # ganaug-sample holds out, then the bank (default bank.path=${out}/bank) holds its own directory: a link
    # planted at <out>/bank received the bank. A DDP rank after the first takes no lock, and refuses it too.
    victim = tmp_path / "victim"
    victim.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "bank").symlink_to(victim)
    if rank:
        monkeypatch.setenv("LOCAL_RANK", rank)
    with hold_dir(out, "ganaug-sample", "out"):
        with pytest.raises(OutputError, match=f"{out / 'bank'} is a symbolic link .*remove the link, or choose "
                                              "another out") as e:
            with hold_dir(out / "bank", "SyntheticBank.generate", "path"):
                pass
    assert f"(it comes from path={out / 'bank'}: set another)" in str(e.value)  # the setting that named it, too
    assert os.listdir(victim) == []
    # Once out is released, a directory given as itself may be a link: the user's own (runs/ on a bigger disk).
    with hold_dir(out / "bank", "SyntheticBank.generate", "path"):
        pass

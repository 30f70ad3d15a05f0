"""ganaug-bench's progress bar: an ETA from this run's own pace, readable in a log file."""

from types import SimpleNamespace

import torch

from ganaug.bench.progress import BenchmarkProgress
from ganaug.gan.progress import UpdateHook

GAN = SimpleNamespace(id="n100/gan-g0", stage="n100: GAN seed 0", cost=20.0)
RUN = SimpleNamespace(id="n100/real/c0", stage="n100: real, classifier seed 0", cost=10.0)


def test_the_eta_counts_the_pace_of_this_run_not_the_work_it_found_done():
    # Half the job stored by an earlier run, and a GAN resumed from its checkpoint at 70%.
    p = BenchmarkProgress(total=100.0, units_total=3, units_done=1, work_done=50.0)
    p.move(GAN, 0.7)
    p.move(GAN, 0.8)
    p.bar.start_t = p.bar._time() - 100.0  # 100 s into this run: 2 units of work done in it, 34 left
    assert p.bar.n == 66.0 and "[01:40<28:20]" in str(p.bar)
    p.finish(GAN)
    p.finish(RUN)  # a unit that reports no progress moves the bar when it ends
    assert p.bar.n == 80.0 and p.units_done == 3 and "| 3/3 units [" in str(p.bar)  # no ", " before the units
    p.close()


def test_in_a_log_file_the_bar_is_redrawn_when_a_unit_ends_not_with_every_update(capsys):
    p = BenchmarkProgress(total=100.0, units_total=2, units_done=0)  # stderr is captured: not a terminal
    capsys.readouterr()
    p.move(GAN, 0.0)
    for k in range(1, 50):
        p.bar.last_print_t -= 1.0  # a second between updates
        p.move(GAN, k / 100)
    assert capsys.readouterr().err.count("benchmark:") <= 2
    p.finish(GAN)
    assert "1/2 units" in capsys.readouterr().err
    p.close()


def test_a_resumed_gan_first_reports_the_updates_it_restored():
    seen = []
    hook = UpdateHook(seen.append)
    gan = SimpleNamespace(g_updates=torch.tensor(4200))
    hook.on_train_start(None, gan)
    hook.on_train_batch_end(None, gan, None, None, 0)  # a discriminator step: no new generator update
    gan.g_updates += 1
    hook.on_train_batch_end(None, gan, None, None, 1)
    assert seen == [4200, 4201]


def test_a_hidden_bar_takes_every_report_and_writes_nothing(capsys):
    p = BenchmarkProgress(total=30.0, units_total=2, units_done=0, enabled=False)  # progress=false
    p.move(GAN, 0.5)
    p.move(GAN, 0.9)
    p.finish(GAN)
    p.close()
    assert p.units_done == 1 and capsys.readouterr().err == ""

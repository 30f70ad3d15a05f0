import math

import pytest

from ganaug.bench.report import load_line, markdown, summarise, units_load
from ganaug.eval.stats import t_quantile


def _run(cond, c, test, val, g=None, ratio=0.0):
    return {"unit": f"r/{cond}/c{c}", "regime": "r", "condition": cond, "ratio": ratio, "classical": "classical" in cond,
            "filtered": False, "clf_seed": c, "gan_seed": g, "test": test, "val": val, "metric": "accuracy"}


def test_paired_gains_and_choice_on_validation():
    records = [
        _run("real", 0, 0.80, 0.70), _run("real", 1, 0.82, 0.72), _run("real", 2, 0.81, 0.71),
        _run("classical", 0, 0.81, 0.71), _run("classical", 1, 0.84, 0.73), _run("classical", 2, 0.83, 0.72),
        # syn0.5 is better on test but worse on validation: the choice must follow validation.
        _run("syn0.25", 0, 0.82, 0.80, 0, 0.25), _run("syn0.25", 1, 0.83, 0.80, 0, 0.25),
        _run("syn0.25", 2, 0.84, 0.80, 0, 0.25),
        _run("syn0.5", 0, 0.90, 0.60, 0, 0.5), _run("syn0.5", 1, 0.90, 0.60, 0, 0.5),
        _run("syn0.5", 2, 0.90, 0.60, 0, 0.5),
    ]
    s = summarise(records)["r"]
    assert s["chosen_on_val"] == "syn0.25"
    g = s["conditions"]["syn0.25"]["gain_vs_real"]
    diffs = [0.02, 0.01, 0.03]
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    half = t_quantile(0.975, 2) * sd / math.sqrt(3)
    assert g["mean"] == pytest.approx(mean)
    assert g["lo"] == pytest.approx(mean - half) and g["hi"] == pytest.approx(mean + half)
    assert g["significant"] == (mean - half > 0)
    vs_classical = s["conditions"]["syn0.25"]["gain_vs_classical"]
    assert vs_classical["mean"] == pytest.approx((0.01 - 0.01 + 0.01) / 3)
    assert "gain_vs_real" not in s["conditions"]["real"]
    md = markdown(summarise(records), {"name": "t", "command": "ganaug-bench", "commit": "x", "date": "d",
                                       "cpu": "c", "cores": 2, "torch": "t", "torch_threads": 2, "data_seed": 0,
                                       "classifier_seeds": [0, 1, 2], "gan_seeds": [0]})
    assert "**syn0.25** (chosen)" in md and "| real |" in md


def test_imbalanced_regimes_are_also_compared_with_classical_plus_reweighting():
    records = [_run("real", c, 0.60, 0.6) for c in range(3)]
    records += [_run("classical", c, 0.62, 0.6) for c in range(3)]
    records += [{**_run("classical+reweight", c, t, 0.6), "reweight": True} for c, t in enumerate((0.66, 0.65, 0.67))]
    records += [_run("classical+syn0.5", c, t, 0.7, 0, 0.5) for c, t in enumerate((0.67, 0.67, 0.67))]
    s = summarise(records)["r"]
    assert list(s["conditions"]) == ["real", "classical", "classical+reweight", "classical+syn0.5"]
    g = s["conditions"]["classical+syn0.5"]["gain_vs_classical+reweight"]
    assert g["mean"] == pytest.approx(0.01)
    assert "gain_vs_classical+reweight" in s["conditions"]["classical"]
    md = markdown(summarise(records), {"name": "t", "command": "ganaug-bench", "commit": "x", "date": "d",
                                       "cpu": "c", "cores": 2, "torch": "t", "torch_threads": 2, "data_seed": 0,
                                       "classifier_seeds": [0, 1, 2], "gan_seeds": [0]})
    assert "| condition | test | Δ vs real | Δ vs classical | Δ vs classical+reweight | val | runs |" in md
    # Balanced regimes keep the two-baseline table.
    plain = markdown(summarise(records[:6]), {"name": "t", "command": "c", "commit": "x", "date": "d", "cpu": "c",
                                               "cores": 2, "torch": "t", "torch_threads": 2, "data_seed": 0,
                                               "classifier_seeds": [0], "gan_seeds": [0]})
    assert "| condition | test | Δ vs real | Δ vs classical | val | runs |" in plain


def test_a_synthetic_gain_over_two_gans_counts_each_baseline_run_once():
    # GAN 1 helps and GAN 0 does not: 6 pairs look consistent, but only 2 GANs stand behind them.
    real = {0: 0.80, 1: 0.82, 2: 0.81}
    records = [_run("real", c, t, t) for c, t in real.items()]
    for g, lift in ((0, 0.000), (1, 0.030)):
        records += [_run("syn0.5", c, t + lift + 0.002 * c, 0.7, g, 0.5) for c, t in real.items()]
    gain = summarise(records)["r"]["conditions"]["syn0.5"]["gain_vs_real"]
    flat = [r["test"] - real[r["clf_seed"]] for r in records if r["condition"] == "syn0.5"]
    from ganaug.eval.stats import mean_ci

    naive = mean_ci(flat)
    assert gain["gan_factor"] == "random" and gain["n_gan"] == 2 and gain["n_clf"] == 3
    assert gain["mean"] == pytest.approx(naive["mean"])
    assert gain["hi"] - gain["lo"] > 2 * (naive["hi"] - naive["lo"])


def test_the_report_says_when_a_gan_time_is_its_last_stretch_only():
    # A GAN resumed from a checkpoint written before the clock was kept in it records the time of the run
    # that finished it, not its whole training.
    records = [_run("real", c, 0.80, 0.70) for c in (0, 1)] + [_run("syn0.25", c, 0.82, 0.72, 0, 0.25) for c in (0, 1)]
    metrics = {"regime": "r", "cas": 0.7, "cas_ratio": 0.9, "fid": 3.0, "kid": 0.5, "label_agreement": 0.8,
               "precision": 0.9, "recall": 0.6, "fid_real_labelled_vs_test": 9.0}
    meta = {"name": "t", "command": "ganaug-bench", "commit": "x", "date": "d", "cpu": "c", "cores": 2, "torch": "t",
            "torch_threads": 2, "data_seed": 0, "classifier_seeds": [0, 1], "gan_seeds": [0, 1]}

    def gan(g, resumed):
        return {"unit": f"r/gan-g{g}", "regime": "r", "gan_seed": g, "seconds": 600.0, "resumed_from": resumed}

    whole = markdown(summarise(records + [metrics, gan(0, None), gan(1, None)]), meta)
    assert "GAN training 10.0" in whole and "resumed" not in whole
    part = markdown(summarise(records + [metrics, gan(0, "r/gan-g0/checkpoints/last.ckpt"), gan(1, None)]), meta)
    assert "(1 of 2 GANs resumed from a checkpoint: their last stretch only)" in part
    # A resumed GAN whose checkpoint kept the training clock records its time over both stretches.
    summed = {**gan(0, "r/gan-g0/checkpoints/last.ckpt"), "train_seconds": 1200.0, "stretches": 2}
    both = markdown(summarise(records + [metrics, summed, gan(1, None)]), meta)
    assert "GAN training 15.0" in both and "resumed" not in both


def test_the_load_units_ran_under_is_summed_up_from_those_that_recorded_it():
    def rec(own, others):
        return {"made_on": {"cpu": "c", "load": {"own_cpu_per_s": own, "others_cpu_share": others}}}

    load = units_load([rec(1.0, 0.0), rec(0.6, 0.5), rec(0.7, None), {"made_on": {"cpu": "c"}}, {}])
    assert load == {"n": 3, "of": 5, "own_cpu_per_s": 0.7, "others_cpu_share": 0.25}
    assert "(3 of 5 recorded it): a median 0.70 CPU-seconds" in load_line(load) and "25% of the cores" in load_line(load)
    assert units_load([{"made_on": {"cpu": "c"}}]) == {"n": 0, "of": 1, "own_cpu_per_s": None, "others_cpu_share": None}

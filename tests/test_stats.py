import math

import numpy as np
import pytest

from ganaug.eval.stats import pooled_strata_ci, crossed_gain_ci, mean_ci, paired_diff_ci, t_quantile


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042), (120, 1.980), (math.inf, 1.960)],
)
def test_t_quantile_975_matches_table(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=5e-4)


def test_t_quantile_other_levels_and_symmetry():
    assert t_quantile(0.95, 10) == pytest.approx(1.812, abs=5e-4)  # 90% two-sided
    assert t_quantile(0.995, 5) == pytest.approx(4.032, abs=5e-4)  # 99% two-sided
    assert t_quantile(0.5, 3) == 0.0
    assert t_quantile(0.025, 7) == pytest.approx(-t_quantile(0.975, 7), rel=1e-12)
    # continuity across the switch to the large-df expansion
    assert t_quantile(0.975, 999.999) == pytest.approx(t_quantile(0.975, 1000.0), abs=1e-7)


def test_t_quantile_agrees_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2.5, 3, 17, 60, 500, 5000, 1e6):
        for p in (0.9, 0.975, 0.999):
            assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-8)


@pytest.mark.parametrize(("p", "df"), [(0.0, 3), (1.0, 3), (0.9, 0), (0.9, -1), (0.9, math.nan)])
def test_t_quantile_rejects_bad_arguments(p, df):
    with pytest.raises(ValueError):
        t_quantile(p, df)


def test_mean_ci_known_sample():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    out = mean_ci(values)
    std = math.sqrt(2.5)  # sum of squared deviations 10, over n - 1 = 4
    half = 2.776445 * std / math.sqrt(5)
    assert out["n"] == 5
    assert out["mean"] == pytest.approx(3.0)
    assert out["std"] == pytest.approx(std)
    assert out["lo"] == pytest.approx(3.0 - half, abs=1e-5)
    assert out["hi"] == pytest.approx(3.0 + half, abs=1e-5)


def test_mean_ci_narrows_with_lower_confidence():
    v = [0.81, 0.84, 0.79, 0.86, 0.83]
    w95, w90 = mean_ci(v, 0.95), mean_ci(v, 0.90)
    assert w90["hi"] - w90["lo"] < w95["hi"] - w95["lo"]
    assert (w95["hi"] - w95["mean"]) / (w90["hi"] - w90["mean"]) == pytest.approx(
        2.776445 / 2.131847, rel=1e-5
    )


def test_mean_ci_single_value_gives_nan_interval():
    out = mean_ci([0.7])
    assert out["mean"] == 0.7 and out["n"] == 1
    assert math.isnan(out["lo"]) and math.isnan(out["hi"]) and math.isnan(out["std"])


@pytest.mark.parametrize(
    ("values", "confidence", "match"),
    [([], 0.95, "empty"), ([1.0, math.nan], 0.95, "non-finite"), ([1.0, 2.0], 1.5, "confidence"),
     ([[1.0, 2.0]], 0.95, "one-dimensional")],
)
def test_mean_ci_rejects_bad_input(values, confidence, match):
    with pytest.raises(ValueError, match=match):
        mean_ci(values, confidence)


def test_paired_diff_of_identical_runs_is_exactly_zero():
    a = np.array([0.81, 0.84, 0.79, 0.86])
    out = paired_diff_ci(a, a.copy())
    assert out["mean"] == 0.0 and out["lo"] == 0.0 and out["hi"] == 0.0
    assert out["significant"] is False


def test_paired_diff_uses_pairing_not_group_spread():
    # Large seed-to-seed spread, constant gain: unpaired CIs would overlap, the paired one
    # must exclude 0.
    base = np.array([0.60, 0.75, 0.90, 0.70, 0.82])
    gain = np.array([0.010, 0.012, 0.009, 0.011, 0.010])
    out = paired_diff_ci(base + gain, base)
    assert out["mean"] == pytest.approx(gain.mean())
    assert out["lo"] > 0 and out["significant"] is True
    ci_a, ci_b = mean_ci(base + gain), mean_ci(base)
    assert ci_a["lo"] < ci_b["hi"]


def test_paired_diff_not_significant_when_ci_spans_zero():
    out = paired_diff_ci([1.0, -1.0, 0.5, -0.4], [0.0, 0.0, 0.0, 0.0])
    assert out["lo"] < 0 < out["hi"] and out["significant"] is False
    neg = paired_diff_ci([0.0, 0.0, 0.0], [0.1, 0.12, 0.11])
    assert neg["hi"] < 0 and neg["significant"] is True


def test_paired_diff_single_pair_is_not_significant():
    out = paired_diff_ci([0.9], [0.1])
    assert out["mean"] == pytest.approx(0.8) and out["significant"] is False


def test_paired_diff_unequal_lengths_names_both():
    with pytest.raises(ValueError, match=r"len\(a\)=3.*len\(b\)=4"):
        paired_diff_ci([1, 2, 3], [1, 2, 3, 4])



# Known answers computed independently by scipy's own t-tests on small samples: the one-sample
# interval of mean_ci is ttest_1samp's, the paired interval of paired_diff_ci is ttest_rel's.
_A = [0.812, 0.845, 0.790, 0.861, 0.833, 0.804]
_B = [0.801, 0.842, 0.771, 0.850, 0.829, 0.806]


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_mean_ci_matches_scipy_ttest_1samp(confidence):
    from scipy import stats

    res = stats.ttest_1samp(_A, 0.0)
    ci = res.confidence_interval(confidence_level=confidence)
    out = mean_ci(_A, confidence)
    assert out["n"] == len(_A) and res.df == len(_A) - 1 and out["confidence"] == confidence
    assert out["mean"] == pytest.approx(np.mean(_A), rel=1e-12)
    assert out["std"] == pytest.approx(np.std(_A, ddof=1), rel=1e-12)
    assert out["lo"] == pytest.approx(ci.low, rel=1e-9)
    assert out["hi"] == pytest.approx(ci.high, rel=1e-9)


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_paired_diff_ci_matches_scipy_ttest_rel(confidence):
    from scipy import stats

    res = stats.ttest_rel(_A, _B)
    ci = res.confidence_interval(confidence_level=confidence)
    out = paired_diff_ci(_A, _B, confidence)
    assert out["n"] == len(_A) and res.df == len(_A) - 1
    assert out["mean"] == pytest.approx(np.mean(np.subtract(_A, _B)), rel=1e-12)
    assert out["lo"] == pytest.approx(ci.low, rel=1e-9)
    assert out["hi"] == pytest.approx(ci.high, rel=1e-9)
    # The interval excludes 0 exactly when the two-sided paired t-test rejects at 1 - confidence.
    assert out["significant"] is bool(res.pvalue < 1.0 - confidence)


def test_t_quantile_matches_scipy_and_normal_limit():
    from scipy import stats

    for df in (1, 4, 9.5, 30):
        assert t_quantile(0.975, df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-12)
    assert t_quantile(0.975, math.inf) == pytest.approx(stats.norm.ppf(0.975), rel=1e-12)
    assert isinstance(t_quantile(0.9, 3), float)

def _crossed(rng, mu, n_gan, n_clf, sd_gan, sd_clf, sd_res):
    d = (mu + rng.normal(0, sd_gan, n_gan)[:, None] + rng.normal(0, sd_clf, n_clf)[None, :]
         + rng.normal(0, sd_res, (n_gan, n_clf)))
    return d, {(g, c): d[g, c] for g in range(n_gan) for c in range(n_clf)}


def test_crossed_gain_ci_covers_the_true_gain_where_pairing_every_run_does_not():
    # GAN seeds that differ (sd 1 point) and a baseline run shared by every GAN seed's pair:
    # treating the 15 pairs as independent gives too narrow an interval; the crossed one holds.
    rng = np.random.default_rng(0)
    mu, sims = 0.01, 1000
    hits = naive = 0
    for _ in range(sims):
        d, gains = _crossed(rng, mu, 3, 5, 0.01, 0.005, 0.005)
        ci = crossed_gain_ci(gains)
        hits += ci["lo"] <= mu <= ci["hi"]
        flat = mean_ci(d.ravel())
        naive += flat["lo"] <= mu <= flat["hi"]
    assert 0.93 <= hits / sims <= 0.99, hits / sims
    assert naive / sims < 0.8, naive / sims


def test_crossed_gain_ci_matches_the_paired_ci_with_one_gan_seed_and_says_so():
    rng = np.random.default_rng(1)
    d, gains = _crossed(rng, 0.0, 1, 5, 0.01, 0.005, 0.005)
    ci = crossed_gain_ci(gains)
    plain = mean_ci(d[0])
    assert ci["gan_factor"] == "fixed: one GAN seed"
    assert (ci["lo"], ci["hi"]) == pytest.approx((plain["lo"], plain["hi"]))
    with pytest.raises(ValueError, match="missing"):
        crossed_gain_ci({(0, 0): 0.1, (0, 1): 0.2, (1, 0): 0.1})
    with pytest.raises(ValueError, match="gains is empty"):  # 'not enough values to unpack' before
        crossed_gain_ci({})


def test_pooled_strata_ci_covers_the_mean_of_two_data_seeds():
    # Two held-out subsets, each with its own true gain (the strata are fixed): the pooled interval
    # covers the mean of the two true gains as often as it claims, and is narrower than either alone.
    rng = np.random.default_rng(2)
    mus, sims, hits, narrower = (0.01, 0.02), 1000, 0, 0
    for _ in range(sims):
        cis = [crossed_gain_ci(_crossed(rng, mu, 3, 5, 0.01, 0.005, 0.005)[1]) for mu in mus]
        pooled = pooled_strata_ci(cis)
        hits += pooled["lo"] <= np.mean(mus) <= pooled["hi"]
        narrower += pooled["half_width"] < min(c["half_width"] for c in cis)
    assert 0.93 <= hits / sims <= 0.99, hits / sims
    assert narrower / sims > 0.5


def test_pooled_strata_ci_of_one_stratum_is_that_stratum_and_missing_intervals_propagate():
    rng = np.random.default_rng(3)
    ci = crossed_gain_ci(_crossed(rng, 0.01, 3, 5, 0.01, 0.005, 0.005)[1])
    one = pooled_strata_ci([ci])
    assert (one["lo"], one["hi"], one["df"]) == pytest.approx((ci["lo"], ci["hi"], ci["df"]))
    partial = pooled_strata_ci([ci, {"mean": 0.02, "half_width": math.nan, "df": 0.0}])
    assert partial["mean"] == pytest.approx((ci["mean"] + 0.02) / 2) and math.isnan(partial["lo"])
    with pytest.raises(ValueError, match="at least one"):
        pooled_strata_ci([])

"""Confidence intervals for the benchmark's seed-paired comparisons.

The Student-t quantile comes from ``scipy.stats.t.ppf``; the interval itself is the textbook
``mean ± t(n-1) · s / sqrt(n)``, i.e. what ``scipy.stats.ttest_1samp(x).confidence_interval()``
(and ``ttest_rel(a, b)`` for pairs) return. It is written out rather than delegated to those
result objects so that all-equal values (e.g. a run compared with itself) give exactly
``lo == hi == mean`` without the precision-loss RuntimeWarning scipy's t-tests raise there;
tests/test_stats.py checks the intervals against ttest_1samp / ttest_rel.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from scipy import stats

from ganaug.errors import ConfigError

__all__ = ["t_quantile", "mean_ci", "paired_diff_ci", "crossed_gain_ci", "pooled_strata_ci", "format_score",
           "format_gain", "paired_bootstrap_gain"]


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t distribution with ``df`` degrees of freedom (``df=inf`` → normal).

    ``t_quantile(0.975, 4)`` is 2.776...; non-integer ``df`` is accepted. A thin wrapper over
    ``scipy.stats.t.ppf`` that raises ValueError on arguments for which scipy returns nan.
    """
    if not 0.0 < p < 1.0:
        raise ConfigError(f"probability must lie strictly between 0 and 1, got {p}")
    if not df > 0:  # also rejects nan
        raise ConfigError(f"degrees of freedom must be positive, got {df}")
    return float(stats.t.ppf(p, df))


def _as_1d(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ConfigError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name} contains non-finite values (a failed run?): {arr.tolist()}")
    return arr


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> dict:
    """Mean with a two-sided Student-t confidence interval.

    Returns ``dict(mean, lo, hi, n, std, confidence)``; ``std`` is the sample standard deviation
    (ddof=1). With a single value the interval is undefined: ``lo``, ``hi`` and ``std`` are nan.
    """
    _check_confidence(confidence)
    arr = _as_1d(values, "values")
    n = int(arr.size)
    mean = float(arr.mean())
    if n < 2:
        nan = float("nan")
        return dict(mean=mean, lo=nan, hi=nan, n=n, std=nan, confidence=confidence)
    std = float(arr.std(ddof=1))
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n)
    return dict(mean=mean, lo=mean - half, hi=mean + half, n=n, std=std, confidence=confidence)


def paired_diff_ci(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> dict:
    """Mean of ``a[i] - b[i]`` with its t confidence interval.

    ``a`` and ``b`` must be paired (same seeds, same order). Adds ``significant``: the interval
    excludes 0 (always False when it is undefined, i.e. n = 1).
    """
    arr_a = _as_1d(a, "a")
    arr_b = _as_1d(b, "b")
    if arr_a.size != arr_b.size:
        raise ConfigError(
            f"paired comparison needs equal lengths, got len(a)={arr_a.size} and len(b)={arr_b.size}"
        )
    out = mean_ci(arr_a - arr_b, confidence)
    # nan comparisons are False, so an undefined interval is never "significant".
    out["significant"] = bool(out["lo"] > 0.0 or out["hi"] < 0.0)
    return out


def crossed_gain_ci(gains: Mapping[tuple[Hashable, Hashable], float], confidence: float = 0.95) -> dict:
    """CI of a mean paired gain when GAN seed and classifier seed are both random factors.

    ``gains`` maps ``(gan_seed, clf_seed)`` to a paired difference (a synthetic run minus the
    baseline run of the same classifier seed), on the full grid of GAN × classifier seeds. The
    baseline run of a classifier seed enters one pair per GAN seed, so the pairs are not
    independent: this is a crossed two-way random-effects design, d = μ + a_gan + b_clf + e. The
    variance of the grand mean, σa²/G + σb²/C + σe²/(GC), is estimated from the ANOVA mean squares
    as (MS_gan + MS_clf − MS_res)/(GC), a negative component estimate set to 0, with Satterthwaite's
    degrees of freedom for the t quantile.
    With one GAN seed its variance cannot be estimated: the interval then holds for that GAN only,
    and ``gan_factor`` says so. Returns mean, lo, hi, half_width, df, n_gan, n_clf, significant,
    gan_factor ("random" or "fixed: one GAN seed").
    """
    _check_confidence(confidence)
    if not gains:
        raise ConfigError("gains is empty: give the paired gain of each (GAN seed, classifier seed)")
    gan_seeds = sorted({g for g, _ in gains}, key=repr)
    clf_seeds = sorted({c for _, c in gains}, key=repr)
    missing = [(g, c) for g in gan_seeds for c in clf_seeds if (g, c) not in gains]
    if missing:
        raise ConfigError(f"gains must cover every (GAN seed, classifier seed) pair; missing {missing[:5]}")
    d = np.array([[float(gains[(g, c)]) for c in clf_seeds] for g in gan_seeds], dtype=np.float64)
    n_gan, n_clf = d.shape
    mean = float(d.mean())
    base = {"mean": mean, "n_gan": n_gan, "n_clf": n_clf, "confidence": confidence, "n": int(d.size)}
    if n_clf < 2:
        return {**base, "lo": math.nan, "hi": math.nan, "half_width": math.nan, "df": 0.0, "significant": False,
                "gan_factor": "random" if n_gan > 1 else "fixed: one GAN seed"}
    if n_gan == 1:
        ci = mean_ci(d[0], confidence)
        return {**base, "lo": ci["lo"], "hi": ci["hi"], "half_width": ci["hi"] - mean, "df": float(n_clf - 1),
                "significant": bool(ci["lo"] > 0 or ci["hi"] < 0), "gan_factor": "fixed: one GAN seed"}
    row, col = d.mean(axis=1), d.mean(axis=0)
    ms_gan = n_clf * float(((row - mean) ** 2).sum()) / (n_gan - 1)
    ms_clf = n_gan * float(((col - mean) ** 2).sum()) / (n_clf - 1)
    resid = d - row[:, None] - col[None, :] + mean
    df_res = (n_gan - 1) * (n_clf - 1)
    ms_res = float((resid ** 2).sum()) / df_res
    # A factor whose mean square falls below the residual's has a negative variance estimate: it is
    # set to 0 (its mean square leaves the sum), so a near-cancelling sum cannot leave ~0 degrees of freedom.
    terms = [(ms, df_) for ms, df_ in ((ms_gan, n_gan - 1), (ms_clf, n_clf - 1)) if ms > ms_res]
    res_coef = 1 - len(terms)
    combo = sum(ms for ms, _ in terms) + res_coef * ms_res
    df = combo ** 2 / (sum(ms ** 2 / df_ for ms, df_ in terms) + res_coef ** 2 * ms_res ** 2 / df_res)
    half = t_quantile(0.5 + confidence / 2, df) * math.sqrt(combo / (n_gan * n_clf))
    return {**base, "lo": mean - half, "hi": mean + half, "half_width": half, "df": float(df),
            "significant": bool(mean - half > 0 or mean + half < 0), "gan_factor": "random"}


def pooled_strata_ci(cis: Sequence[dict], confidence: float = 0.95) -> dict:
    """The mean of independent strata's gains (e.g. held-out data seeds), from each stratum's CI.

    Each ``ci`` is a `crossed_gain_ci` result (mean, half_width, df, confidence). The
    strata are fixed (these labelled subsets, equally weighted): the pooled mean's variance is the sum
    of the strata's variances over k², each read back from its half-width and t quantile, with
    Satterthwaite's degrees of freedom. A stratum without an interval (nan or missing) leaves the
    pooled mean without one.
    """
    _check_confidence(confidence)
    if not cis:
        raise ConfigError("pooled_strata_ci needs at least one stratum")
    k = len(cis)
    mean = float(sum(c["mean"] for c in cis)) / k
    base = {"mean": mean, "n_strata": k, "confidence": confidence, "n": int(sum(c.get("n", 0) for c in cis))}
    variances, dfs = [], []
    for c in cis:
        half, df = c.get("half_width"), c.get("df")
        if half is None or df is None or not (math.isfinite(half) and df > 0):
            return {**base, "lo": math.nan, "hi": math.nan, "half_width": math.nan, "df": 0.0, "significant": False}
        variances.append((half / t_quantile(0.5 + c.get("confidence", 0.95) / 2, df)) ** 2)
        dfs.append(df)
    var = sum(variances) / k ** 2
    if var == 0:
        return {**base, "lo": mean, "hi": mean, "half_width": 0.0, "df": math.inf, "significant": mean != 0}
    df = sum(variances) ** 2 / sum(v ** 2 / d for v, d in zip(variances, dfs))
    half = t_quantile(0.5 + confidence / 2, df) * math.sqrt(var)
    return {**base, "lo": mean - half, "hi": mean + half, "half_width": half, "df": float(df),
            "significant": bool(mean - half > 0 or mean + half < 0)}


def _interval(ci: dict) -> bool:
    lo = ci.get("lo")  # None: read back from JSON, which has no NaN
    return ci.get("n", 0) >= 2 and lo is not None and math.isfinite(lo)


def format_score(ci: dict | None, scale: float = 100.0) -> str:
    """A `mean_ci` as "mean ± half-width" (in points at scale 100); the mean alone without an interval."""
    if not ci:
        return "–"
    if not _interval(ci):
        return f"{ci['mean'] * scale:.1f}"
    return f"{ci['mean'] * scale:.1f} ± {(ci['hi'] - ci['mean']) * scale:.1f}"


def format_gain(g: dict | None, mark: bool = True) -> str:
    """A `paired_diff_ci` as "+mean [lo, hi]" in points; with `mark`, " *" when the CI excludes 0."""
    if not g:
        return "–"
    if not _interval(g):
        return f"{g['mean'] * 100:+.1f}"
    star = " *" if mark and g.get("significant") else ""
    return f"{g['mean'] * 100:+.1f} [{g['lo'] * 100:+.1f}, {g['hi'] * 100:+.1f}]{star}"


def paired_bootstrap_gain(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None, *, lower: float = 0.05,
                          resamples: int = 4000, seed: int = 0) -> dict:
    """The mean gain of ``a`` over ``b`` and its bootstrap lower bound, counting seeds and images as random.

    ``a``, ``b``: per-image outcomes (1 correct, 0 wrong), one row per classifier seed, paired by row (the
    same seed) and by column (the same validation image). Each resample draws seeds and images with
    replacement, independently (a two-way bootstrap: the validation split is a sample too, and with 40
    images its noise outweighs the seeds'). ``weights`` per image make the score a weighted mean (balanced
    accuracy: 1 / class count). Returns mean, lo (the ``lower`` quantile of the resampled gains, a
    one-sided bound), hi (the 1 - ``lower`` quantile), n_seeds, n_images.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.size == 0:
        raise ConfigError(f"a and b must be equal seeds × images arrays, got {a.shape} and {b.shape}")
    s, n = a.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    d = (a - b) * w  # weighted paired differences
    mean = float(d.sum() / (s * w.sum()))
    rng = np.random.default_rng(seed)
    seed_counts = rng.multinomial(s, np.full(s, 1.0 / s), size=resamples)     # resamples × seeds
    image_counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples)    # resamples × images
    gains = np.einsum("rs,si,ri->r", seed_counts, d, image_counts) / (s * (image_counts @ w))
    lo, hi = np.quantile(gains, [lower, 1.0 - lower])
    return {"mean": mean, "lo": float(lo), "hi": float(hi), "n_seeds": s, "n_images": n, "lower": lower}

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

__all__ = ["t_quantile", "mean_ci", "paired_diff_ci", "paired_by_key", "format_score", "format_gain"]


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t distribution with ``df`` degrees of freedom (``df=inf`` → normal).

    ``t_quantile(0.975, 4)`` is 2.776...; non-integer ``df`` is accepted. A thin wrapper over
    ``scipy.stats.t.ppf`` that raises ValueError on arguments for which scipy returns nan.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability must lie strictly between 0 and 1, got {p}")
    if not df > 0:  # also rejects nan
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    return float(stats.t.ppf(p, df))


def _as_1d(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values (a failed run?): {arr.tolist()}")
    return arr


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


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
        raise ValueError(
            f"paired comparison needs equal lengths, got len(a)={arr_a.size} and len(b)={arr_b.size}"
        )
    out = mean_ci(arr_a - arr_b, confidence)
    # nan comparisons are False, so an undefined interval is never "significant".
    out["significant"] = bool(out["lo"] > 0.0 or out["hi"] < 0.0)
    return out


def paired_by_key(
    results_a: Mapping[Hashable, float], results_b: Mapping[Hashable, float]
) -> tuple[list, np.ndarray, np.ndarray]:
    """Align two ``{key: value}`` result maps (keys such as ``(classifier_seed, gan_seed)``).

    Returns ``(keys, a, b)`` with ``a[i]``, ``b[i]`` belonging to ``keys[i]``. Keys are sorted
    when they are comparable, so the output does not depend on dict insertion order. Raises
    ValueError when either map has keys the other lacks: silently dropping unpaired runs would
    bias the comparison.
    """
    keys_a, keys_b = set(results_a), set(results_b)
    if keys_a != keys_b:
        only_a = sorted(map(repr, keys_a - keys_b))
        only_b = sorted(map(repr, keys_b - keys_a))
        raise ValueError(
            "result keys do not match: only in a: "
            f"[{', '.join(only_a)}]; only in b: [{', '.join(only_b)}]"
        )
    if not keys_a:
        raise ValueError("no results to pair")
    try:
        keys = sorted(keys_a)
    except TypeError:
        keys = list(results_a)
    a = np.array([float(results_a[k]) for k in keys], dtype=np.float64)
    b = np.array([float(results_b[k]) for k in keys], dtype=np.float64)
    return keys, a, b


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

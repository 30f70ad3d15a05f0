"""Confidence intervals for the benchmark's seed-paired comparisons.

scipy is deliberately not a dependency, so the Student-t quantile is computed here by inverting
the t CDF, which is expressed through the regularized incomplete beta function.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from statistics import NormalDist

import numpy as np

__all__ = ["t_quantile", "mean_ci", "paired_diff_ci", "paired_by_key"]

_EPS = 1e-15
_TINY = 1e-300


def _betacf(a: float, b: float, x: float) -> float:
    # Modified Lentz evaluation of the continued fraction for I_x(a, b); converges quickly for
    # x < (a + 1) / (a + b + 2), which the caller guarantees via the symmetry relation.
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1.0 / d
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


# For large df the lgamma terms of the beta prefactor cancel catastrophically, so switch to the
# Cornish-Fisher expansion around the normal quantile; at df >= 1000 its truncation error is far
# below 1e-10.
_DF_ASYMPTOTIC = 1000.0


def _t_quantile_asymptotic(p: float, df: float) -> float:
    z = NormalDist().inv_cdf(p)
    if math.isinf(df):
        return z
    g1 = (z**3 + z) / 4.0
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96.0
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384.0
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160.0
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t distribution with ``df`` degrees of freedom (``df=inf`` → normal).

    ``t_quantile(0.975, 4)`` is 2.776...; non-integer ``df`` is accepted.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability must lie strictly between 0 and 1, got {p}")
    if not df > 0:  # also rejects nan
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if df >= _DF_ASYMPTOTIC:
        return _t_quantile_asymptotic(p, df)
    # For t > 0: P(T > t) = I_x(df/2, 1/2) / 2 with x = df / (df + t^2), and I_x increases with x,
    # so bisect on x for I_x = 2 (1 - p). Bisection is slow but cannot diverge, and the relative
    # stopping rule keeps precision when x is tiny (heavy tails, df = 1).
    target = 2.0 * (1.0 - p)
    a, b = df / 2.0, 0.5
    lo, hi = 0.0, 1.0
    for _ in range(4000):
        mid = 0.5 * (lo + hi)
        if _betainc(a, b, mid) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    x = 0.5 * (lo + hi)
    return math.sqrt(df * (1.0 - x) / x)


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

"""Compare two ganaug-bench results: print per-metric differences, fail on real regressions.

    python benchmarks/compare.py OLD/results.json NEW/results.json

On the baseline's machine (same CPU, instruction set, torch and threads) a run repeats the baseline's
arithmetic, so any change is the code's: a metric regresses when it moves the wrong way by more than
its recorded run-to-run spread (the larger of the two runs' standard deviations over seeds). On another
machine the GANs and classifiers train to other weights and the two runs are independent draws: a
metric regresses when a one-sided Welch test on the two means rejects at p < 0.01 (with the CI
benchmark's two GAN seeds that catches a broken GAN, not a drift of one spread). Metrics measured
once have no spread: they are printed but never fail the comparison. Exit status 1 on any regression.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

# What makes two runs' arithmetic the same (results.json's meta).
MACHINE_KEYS = ("cpu", "cpu_capability", "torch", "torch_threads")
# One-sided false-alarm rate of the test between runs made on different machines.
ALPHA = 0.01
# Direction of "better" for each GAN metric; condition scores are all higher-is-better.
GAN_METRICS = {"cas": 1, "cas_ratio": 1, "label_agreement": 1, "precision": 1, "recall": 1, "fid": -1, "kid": -1}


def flatten(results: dict) -> dict[str, tuple[float, float, int, int]]:
    """name -> (mean, std, n, better) for every comparable metric in a results.json."""
    out = {}
    for regime, s in results["summary"].items():
        for cond, c in s["conditions"].items():
            if c.get("test"):
                t = c["test"]
                out[f"{regime}/{cond}/test"] = (t["mean"], t.get("std", math.nan), t.get("n", 1), 1)
        for key, better in GAN_METRICS.items():
            ci = s.get("gan", {}).get(key)
            if ci:
                out[f"{regime}/gan/{key}"] = (ci["mean"], ci.get("std", math.nan), ci.get("n", 1), better)
    return out


def machine(results: dict) -> tuple | None:
    meta = results.get("meta") or {}
    return tuple(meta.get(k) for k in MACHINE_KEYS) if meta.get("cpu") else None


def same_machine(old: dict, new: dict) -> bool:
    """Whether `new` ran where `old` did; results without a machine (older ones) count as the same."""
    a, b = machine(old), machine(new)
    return a is None or b is None or a == b


def welch_tolerance(sa: float, na: int, sb: float, nb: int) -> float | None:
    """How far the new mean may fall below the old before a one-sided Welch test rejects at ALPHA."""
    from scipy.stats import t

    if na < 2 or nb < 2 or not (math.isfinite(sa) and math.isfinite(sb)):
        return None
    va, vb = sa * sa / na, sb * sb / nb
    if va + vb == 0:
        return 0.0
    df = (va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    return float(t.ppf(1 - ALPHA, df)) * math.sqrt(va + vb)


def compare(old: dict, new: dict) -> tuple[list[str], list[str]]:
    a, b = flatten(old), flatten(new)
    same = same_machine(old, new)
    lines, regressions = [], []
    if not same:
        lines.append(f"baseline made on {', '.join(map(str, machine(old)))}; this run on "
                     f"{', '.join(map(str, machine(new)))}: independent draws, compared by a one-sided Welch "
                     f"test at p < {ALPHA}")
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            lines.append(f"{name:45s} {'only in ' + ('new' if name in b else 'old'):>30s}")
            continue
        (ma, sa, na, better), (mb, sb, nb, _) = a[name], b[name]
        diff = mb - ma
        if same:
            spreads = [s for s in (sa, sb) if s is not None and math.isfinite(s)]
            tol = max(spreads) if spreads else None
        else:
            tol = welch_tolerance(sa, na, sb, nb)
        worse = -diff * better
        status = "no spread recorded" if tol is None else ("REGRESSION" if worse > tol else "ok")
        if status == "REGRESSION":
            regressions.append(name)
        tol_s = f"±{tol:.4f}" if tol is not None else "   -   "
        lines.append(f"{name:45s} {ma:10.4f} -> {mb:10.4f}  diff {diff:+.4f} ({'spread' if same else 'allowed'} "
                     f"{tol_s})  {status}")
    return lines, regressions


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("old")
    p.add_argument("new")
    args = p.parse_args(argv)
    with open(args.old) as f:
        old = json.load(f)
    with open(args.new) as f:
        new = json.load(f)
    lines, regressions = compare(old, new)
    print("\n".join(lines))
    if regressions:
        print(f"\n{len(regressions)} metric(s) regressed beyond their run-to-run spread: {', '.join(regressions)}")
        return 1
    print("\nno regression beyond run-to-run spread")
    return 0


if __name__ == "__main__":
    sys.exit(main())

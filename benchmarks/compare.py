"""Compare two ganaug-bench results: print per-metric differences, fail on real regressions.

    python benchmarks/compare.py OLD/results.json NEW/results.json

A metric regresses when it moves the wrong way by more than its recorded run-to-run spread (the
larger of the two runs' standard deviations over seeds). Metrics measured once have no recorded
spread: they are printed but never fail the comparison. Exit status 1 on any regression.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

# Direction of "better" for each GAN metric; condition scores are all higher-is-better.
GAN_METRICS = {"cas": 1, "cas_ratio": 1, "label_agreement": 1, "precision": 1, "recall": 1, "fid": -1, "kid": -1}


def flatten(results: dict) -> dict[str, tuple[float, float, int]]:
    """name -> (mean, std, better) for every comparable metric in a results.json."""
    out = {}
    for regime, s in results["summary"].items():
        for cond, c in s["conditions"].items():
            if c.get("test"):
                out[f"{regime}/{cond}/test"] = (c["test"]["mean"], c["test"].get("std", math.nan), 1)
        for key, better in GAN_METRICS.items():
            ci = s.get("gan", {}).get(key)
            if ci:
                out[f"{regime}/gan/{key}"] = (ci["mean"], ci.get("std", math.nan), better)
    return out


def compare(old: dict, new: dict) -> tuple[list[str], list[str]]:
    a, b = flatten(old), flatten(new)
    lines, regressions = [], []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            lines.append(f"{name:45s} {'only in ' + ('new' if name in b else 'old'):>30s}")
            continue
        (ma, sa, better), (mb, sb, _) = a[name], b[name]
        diff = mb - ma
        spreads = [s for s in (sa, sb) if s is not None and math.isfinite(s)]
        tol = max(spreads) if spreads else None
        worse = -diff * better
        status = "no spread recorded" if tol is None else ("REGRESSION" if worse > tol else "ok")
        if status == "REGRESSION":
            regressions.append(name)
        tol_s = f"±{tol:.4f}" if tol is not None else "   -   "
        lines.append(f"{name:45s} {ma:10.4f} -> {mb:10.4f}  diff {diff:+.4f} (spread {tol_s})  {status}")
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

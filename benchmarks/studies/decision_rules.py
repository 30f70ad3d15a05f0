"""What each decision rule would have given on the held-out runs (issue 43), from the stored runs alone.

The rules choose, per regime, between the baseline (classical augmentation; in the long tail classical +
class-balanced sampling) and each synthetic condition, on the validation split only; the held-out test gain of
the choice is then read from the same runs (the baseline's choice gains 0).

- argmax: the synthetic condition of highest mean validation score (the benchmark's `chosen_on_val` until now).
- interval: ganaug-tune's rule: a synthetic condition only if its validation gain over the baseline has a
  one-sided lower bound above 0 at 1 - 0.05/m (m synthetic conditions), counting the classifier and GAN seeds
  (crossed, `stats.crossed_gain_ci`) and the validation images; else the baseline.

The stored runs record a validation score, not which images each run got right, so the images' share of the
interval is approximated: two classifiers' errors as independent draws on the n validation images,
Var = [p_a(1 - p_a) + p_b(1 - p_b)] / n, which overstates it (their errors overlap) and makes the rule stricter
than ganaug-tune's exact paired bootstrap. New runs record per-image outcomes.

    python benchmarks/studies/decision_rules.py      # writes benchmarks/results/heldout/decision_rules.{json,md}
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _env
from _env import RESULTS, write_json  # noqa: E402

from ganaug.base.files import atomic_write_bytes  # noqa: E402
from ganaug.base.provenance import environment  # noqa: E402
from ganaug.eval.stats import crossed_gain_ci, pooled_strata_ci  # noqa: E402

HELDOUT = RESULTS / "heldout"
DATA_SEEDS = (1, 2)
REGIMES = ("n100", "n50", "n500", "longtail")
CLASSIFIERS = {"small CNN": "", "ResNet-14": "_resnet"}
ALPHA = 0.05


def _units(root: Path, regime: str) -> dict[str, list[dict]]:
    by: dict[str, list[dict]] = {}
    for f in sorted((root / "units" / regime).glob("*/c*.json")):
        rec = json.loads(f.read_text())
        if rec.get("val") is not None and rec.get("test") is not None:
            by.setdefault(rec["condition"], []).append(rec)
    return by


def _gain(runs: dict[str, list[dict]], cond: str, base: str, key: str) -> dict | None:
    b = {r["clf_seed"]: r[key] for r in runs[base]}
    gains = {(r["gan_seed"], r["clf_seed"]): r[key] - b[r["clf_seed"]] for r in runs[cond] if r["clf_seed"] in b}
    return crossed_gain_ci(gains) if gains else None


def _n_val(root: Path, regime: str) -> int:
    ref = json.loads((root / "units" / regime / "reference.json").read_text())
    return round(ref["train_images"] / 4)  # a fifth of the labelled images: a quarter of the training four fifths


def decide(root: Path, regime: str) -> dict | None:
    runs = _units(root, regime)
    base = "classical+reweight" if "classical+reweight" in runs else "classical"
    if base not in runs:
        return None
    synthetic = [c for c in runs if "syn" in c and c.startswith("classical+")]
    if not synthetic:
        return None
    n_val, m = _n_val(root, regime), len(synthetic)
    z = sps.norm.ppf(1 - ALPHA / m)
    p_base = sum(r["val"] for r in runs[base]) / len(runs[base])
    rows = {}
    for c in synthetic:
        g = _gain(runs, c, base, "val")
        se_seed = g["half_width"] / sps.t.ppf(0.975, g["df"]) if math.isfinite(g.get("half_width", math.nan)) else 0.0
        p = sum(r["val"] for r in runs[c]) / len(runs[c])
        se = math.sqrt(se_seed ** 2 + (p * (1 - p) + p_base * (1 - p_base)) / n_val)
        rows[c] = {"val_gain": g["mean"], "lower": g["mean"] - z * se, "test": _gain(runs, c, base, "test")}
    argmax = max(synthetic, key=lambda c: sum(r["val"] for r in runs[c]) / len(runs[c]))
    shown = [c for c in synthetic if rows[c]["lower"] > 0]
    interval = max(shown, key=lambda c: rows[c]["val_gain"]) if shown else base
    zero = {"mean": 0.0, "half_width": 0.0, "df": math.inf, "confidence": 0.95, "lo": 0.0, "hi": 0.0}
    return {"baseline": base, "n_val": n_val, "conditions": rows,
            "argmax": {"choice": argmax, "test": rows[argmax]["test"]},
            "interval": {"choice": interval, "test": rows[interval]["test"] if interval != base else zero}}


def collect() -> dict:
    out = {"classifiers": {}, "environment": environment()}
    for clf, suffix in CLASSIFIERS.items():
        per = {}
        for regime in REGIMES:
            seeds = {s: decide(HELDOUT / f"seed{s}{suffix}", regime) for s in DATA_SEEDS}
            if not all(seeds.values()):
                continue
            row = {"seeds": seeds}
            for rule in ("argmax", "interval"):
                row[rule] = pooled_strata_ci([seeds[s][rule]["test"] for s in DATA_SEEDS])
            per[regime] = row
        out["classifiers"][clf] = per
    return out


def _pts(ci: dict) -> str:
    lo, hi = ci.get("lo"), ci.get("hi")
    band = f" [{100 * lo:+.1f}, {100 * hi:+.1f}]" if lo is not None and math.isfinite(lo) and lo != hi else ""
    return f"{100 * ci['mean']:+.1f}{band}"


def markdown(out: dict) -> str:
    lines = ["# Decision rules on the held-out runs (issue 43)", "",
             "Held-out test gain over the baseline (classical; long tail: classical + class-balanced sampling) of the "
             "condition each rule chooses on validation, data seeds 1 and 2 pooled (points, 95% CI). `interval`: "
             "ganaug-tune's rule, with the validation images' noise approximated (see `benchmarks/studies/decision_rules.py`); "
             "a regime where it keeps the baseline gains 0 by definition.", "",
             "| classifier | regime | argmax: chosen (seed 1 / 2) | its gain | interval: chosen (seed 1 / 2) | its gain | "
             "best lower bound, val (seed 1 / 2) |",
             "|---|---|---|---|---|---|---|"]
    for clf, per in out["classifiers"].items():
        for regime, row in per.items():
            choice = {rule: " / ".join(row["seeds"][s][rule]["choice"] for s in DATA_SEEDS)
                      for rule in ("argmax", "interval")}
            bounds = " / ".join(f"{100 * max(c['lower'] for c in row['seeds'][s]['conditions'].values()):+.1f}"
                                for s in DATA_SEEDS)
            lines.append(f"| {clf} | {regime} | {choice['argmax']} | {_pts(row['argmax'])} | {choice['interval']} | "
                         f"{_pts(row['interval'])} | {bounds} |")
    env = out["environment"]
    lines += ["", f"Made by `python benchmarks/studies/decision_rules.py` at `{env['commit']}` on {env['date']} from the stored "
              "units (no training).", ""]
    return "\n".join(lines)


def main() -> int:
    out = collect()
    write_json(HELDOUT / "decision_rules.json", out)
    atomic_write_bytes(HELDOUT / "decision_rules.md", markdown(out).encode())
    print(markdown(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

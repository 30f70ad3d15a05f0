"""The classical baseline a practitioner would use (issue 44): the strongest standard augmentation, chosen on
validation, with the training length part of the choice.

Every candidate is a policy x a number of classifier steps: no augmentation, flip and shift, random erasing,
TrivialAugment-style, mixup and CutMix (both on top of flip and shift), at 3,000 and 9,000 steps. Each runs
as `ganaug-bench` units (the benchmark's own classifier runs, its seeds, its data seed 0 subset), one
`bench.out_dir` per candidate under `benchmarks/results/policy/<regime>/`; a stored unit is never redone.

The rule, fixed before any result: the candidate with the highest mean validation score over the classifier
seeds is the regime's classical baseline (ties: the fewer steps, then the listed order). The test split is
read by nobody here; it is scored by the units, and shown only beside the choice.

    python benchmarks/policy_choice.py run --regime n100      # resumable; the 3,000-step candidates first
    python benchmarks/policy_choice.py report                 # writes policy/results.{json,md}
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import RESULTS, write_json  # noqa: E402

from ganaug.base.files import atomic_write_bytes  # noqa: E402
from ganaug.base.provenance import environment  # noqa: E402
from ganaug.classify.batch_mix import BATCH_MIX_NAMES  # noqa: E402
from ganaug.eval.stats import mean_ci, paired_diff_ci  # noqa: E402

POLICY = RESULTS / "policy"
# name -> ganaug-bench overrides; "none" runs the `real` condition, every other one `classical`.
POLICIES = {
    "none": [],
    "flip_shift": ["augment=flip_shift"],
    "erasing": ["augment=erasing"],
    "trivial": ["augment=trivial"],
    "mixup": ["augment=flip_shift", "bench.classifier.batch_mix=mixup"],
    "cutmix": ["augment=flip_shift", "bench.classifier.batch_mix=cutmix"],
}
# How reports name them.
POLICY_WORDS = {"none": "no augmentation", "flip_shift": "flip and shift", "erasing": "flip, affine and random erasing",
                "trivial": "TrivialAugment-style",
                **{mix: f"flip and shift with {name}" for mix, name in BATCH_MIX_NAMES.items()}}
STEPS = (3000, 9000)
REGIMES = ("n100", "n50", "n500", "longtail")
SEEDS = "[0,1,2,3,4]"
# Where the data-seed-0 runs of flip-and-shift and real only at 3,000 steps already stand (adopted by fingerprint).
REUSE = ["benchmarks/results/ablation_n100_split_norm"]


def candidate_words(candidate: str) -> str:
    """`cutmix-s3000` -> `flip and shift with CutMix, 3,000 steps`."""
    policy, steps = candidate.rsplit("-s", 1)
    return f"{POLICY_WORDS.get(policy, policy)}, {int(steps):,} classifier steps"


def candidate_dir(regime: str, policy: str, steps: int) -> Path:
    return POLICY / regime / f"{policy}-s{steps}"


def bench_command(regime: str, policy: str, steps: int) -> list[str]:
    cond = "real" if policy == "none" else "classical"
    others = [f"~bench.regimes.{r}" for r in REGIMES if r != regime]
    out = candidate_dir(regime, policy, steps).relative_to(RESULTS.parent.parent)
    return [str(Path(sys.executable).parent / "ganaug-bench"), *others, *POLICIES[policy],
            f"bench.classifier.steps={steps}", f"bench.classifier_seeds={SEEDS}", f"only=[{regime}/{cond}/*]",
            f"bench.out_dir={out}", "bench.data_seed=0", f"bench.reuse_from=[{','.join(REUSE)}]",
            "threads=1", "executor.workers=1", "progress=false"]


def run(regimes: list[str], workers: int) -> None:
    jobs = [(r, p, s) for s in STEPS for r in regimes for p in POLICIES]
    root = RESULTS.parent.parent

    def one(job):
        cmd = bench_command(*job)
        log = candidate_dir(*job).with_suffix(".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as f:
            rc = subprocess.call(cmd, cwd=root, stdout=f, stderr=subprocess.STDOUT)
        print(f"{'/'.join(map(str, job))}: rc {rc}", flush=True)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, jobs))


def _units(regime: str, policy: str, steps: int) -> dict[int, dict]:
    cond = "real" if policy == "none" else "classical"
    d = candidate_dir(regime, policy, steps) / "units" / regime / cond
    out = {}
    for f in sorted(d.glob("c*.json")) if d.exists() else []:
        rec = json.loads(f.read_text())
        rec = rec.get("result", rec)
        out[int(rec["clf_seed"])] = rec
    return out


def choose(scores: dict[str, dict[int, float]], n_seeds: int) -> str | None:
    """The rule: highest mean validation score among complete candidates; ties to fewer steps, then list order."""
    complete = {k: v for k, v in scores.items() if len(v) == n_seeds}
    if not complete:
        return None
    order = list(scores)
    return max(complete, key=lambda k: (round(sum(complete[k].values()) / n_seeds, 10),
                                        -int(k.rsplit("-s", 1)[1]), -order.index(k)))


def report() -> dict:
    n_seeds = len(json.loads(SEEDS))
    out = {"rule": "highest mean validation score over the classifier seeds; ties: fewer steps, then list order",
           "regimes": {}, "environment": environment()}
    for regime in REGIMES:
        cands = {f"{p}-s{s}": _units(regime, p, s) for s in STEPS for p in POLICIES}
        if not any(cands.values()):
            continue
        val = {k: {c: r["val"] for c, r in u.items()} for k, u in cands.items()}
        chosen = choose(val, n_seeds)
        rows = {}
        for k, u in cands.items():
            if not u:
                continue
            row = {"n": len(u), "val": _ci([r["val"] for r in u.values()]), "test": _ci([r["test"] for r in u.values()]),
                   "seconds": sum(r.get("seconds") or 0 for r in u.values()) / len(u)}
            base = cands.get("flip_shift-s3000", {})
            common = sorted(set(u) & set(base))
            if k != "flip_shift-s3000" and len(common) >= 2:
                row["val_vs_flip_shift"] = paired_diff_ci([u[c]["val"] for c in common], [base[c]["val"] for c in common])
            rows[k] = row
        complete = sum(len(u) == n_seeds for u in cands.values())
        out["regimes"][regime] = {"chosen": chosen if complete == len(cands) else None, "leading": chosen,
                                  "complete": complete, "candidates": len(cands), "rows": rows}
    write_json(POLICY / "results.json", out)
    atomic_write_bytes(POLICY / "results.md", markdown(out).encode())
    return out


def _ci(values: list[float]) -> dict:
    """mean_ci, with no bounds (None) where one run leaves them undefined: NaN is not JSON."""
    ci = mean_ci(values)
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in ci.items()}


def _pct(ci: dict | None) -> str:
    if not ci:
        return ""
    lo, hi = ci.get("lo"), ci.get("hi")
    return f"{100 * ci['mean']:.1f}" + (f" [{100 * lo:.1f}, {100 * hi:.1f}]" if lo is not None else "")


def markdown(out: dict) -> str:
    lines = ["# The classical baseline, chosen on validation (issue 44)", "",
             f"Rule (fixed before the runs): {out['rule']}. Data seed 0; the benchmark's classifier and seeds; "
             "`mixup`/`cutmix` are on top of flip and shift. Test scores are shown, never used.", ""]
    for regime, r in out["regimes"].items():
        state = (f"**chosen: {r['chosen']}**" if r["chosen"] else
                 f"not chosen yet ({r['complete']}/{r['candidates']} candidates complete; leading: {r['leading']})")
        lines += [f"## {regime}: {state}", "",
                  "| candidate | runs | validation | vs flip_shift-s3000 (val, paired) | test | s per run |",
                  "|---|---|---|---|---|---|"]
        for k, row in r["rows"].items():
            diff = row.get("val_vs_flip_shift")
            d = f"{100 * diff['mean']:+.1f} [{100 * diff['lo']:+.1f}, {100 * diff['hi']:+.1f}]" if diff else ""
            lines.append(f"| {k} | {row['n']} | {_pct(row['val'])} | {d} | {_pct(row['test'])} | {row['seconds']:.0f} |")
        lines.append("")
    env = out["environment"]
    lines += [f"Commands: `{' '.join(bench_command('n100', 'erasing', 3000)[1:])}` (per candidate; "
              "`benchmarks/policy_choice.py run`). Report made at commit "
              f"`{env['commit']}` on {env['date']} ({env['cpu']}, {env['cores']} cores).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--regime", action="append", choices=REGIMES, required=True)
    r.add_argument("--workers", type=int, default=2)
    sub.add_parser("report")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        run(args.regime, args.workers)
    report()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A cheaper GAN update against its quality, in one table (issue 18's quality guard).

Each candidate is a benchmark directory (the n100 regime, the same data, GAN seeds and classifier
seeds as the reference) and the `profile_update.py` figure of its update. The decision rule was
written before any candidate's results were read: a candidate holds when, against the reference,
- its GANs' CAS (× real) mean is no more than CAS_MARGIN below, and its FID mean no more than
  FID_MARGIN above (2 GAN seeds each: the reference's own seeds differ by about this much), and
- the chosen synthetic condition's validation accuracy, paired run by run (classifier seed, GAN
  seed), is not significantly lower and its mean no more than VAL_MARGIN points lower.
Test scores are shown, but take no part in the decision. Without --profile it compares quality
alone: a rerun of the same recipe against the reference shows the noise the margins must clear.

    python benchmarks/speed_quality.py --reference engine_n100 --candidate ablation_n100_lean_d \\
        --profile profile_update_lean_d --parts "channels_last + foreach/fused (new default)" "lean D (gan.d_arch=lean)"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # as every script here: its siblings by name

from _env import RESULTS, environment, environment_markdown, write_report  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

# The main job's length: conf/gan/default.yaml's generator updates.
MAIN_JOB_UPDATES = int(OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "gan" / "default.yaml").max_steps)
from ganaug.eval.stats import paired_diff_ci  # noqa: E402

CAS_MARGIN = 0.02   # × real
FID_MARGIN = 2.0
VAL_MARGIN = 0.5    # points of validation accuracy


def _gan_metrics(data: dict, regime: str) -> dict[int, dict]:
    return {r["gan_seed"]: r for r in data["runs"] if r.get("regime") == regime and "cas_ratio" in r}


def _runs(data: dict, regime: str, condition: str) -> dict[tuple, dict]:
    return {(r["clf_seed"], r["gan_seed"]): r for r in data["runs"]
            if r.get("regime") == regime and r.get("condition") == condition}


def _selected(data: dict, regime: str) -> dict[int, dict]:
    return {r["gan_seed"]: r for r in data["runs"] if r.get("regime") == regime and "candidates" in r}


def compare(reference: dict, candidate: dict, regime: str, condition: str) -> dict:
    ref_g, cand_g = _gan_metrics(reference, regime), _gan_metrics(candidate, regime)
    seeds = sorted(set(ref_g) & set(cand_g))
    ref_r, cand_r = _runs(reference, regime, condition), _runs(candidate, regime, condition)
    pairs = sorted(set(ref_r) & set(cand_r))
    if not seeds or not pairs:
        raise SystemExit(f"no GAN seeds or runs of {condition} in common at {regime}: is the candidate finished?")
    val = paired_diff_ci([100 * cand_r[k]["val"] for k in pairs], [100 * ref_r[k]["val"] for k in pairs])
    test = paired_diff_ci([100 * cand_r[k]["test"] for k in pairs], [100 * ref_r[k]["test"] for k in pairs])

    def side(g: dict, r: dict, sel: dict) -> dict:
        return {"cas_ratio": {s: g[s]["cas_ratio"] for s in seeds}, "fid": {s: g[s]["fid"] for s in seeds},
                "val_cas_chosen": {s: sel[s].get("val_cas") for s in seeds if s in sel},
                "chosen_step": {s: sel[s].get("step") for s in seeds if s in sel},
                "val": float(np.mean([r[k]["val"] for k in pairs])), "test": float(np.mean([r[k]["test"] for k in pairs]))}

    ref = side(ref_g, ref_r, _selected(reference, regime))
    cand = side(cand_g, cand_r, _selected(candidate, regime))
    cas_d = float(np.mean(list(cand["cas_ratio"].values())) - np.mean(list(ref["cas_ratio"].values())))
    fid_d = float(np.mean(list(cand["fid"].values())) - np.mean(list(ref["fid"].values())))
    checks = {"cas": cas_d >= -CAS_MARGIN, "fid": fid_d <= FID_MARGIN,
              "val": val["mean"] >= -VAL_MARGIN and not (val["hi"] < 0)}
    return {"gan_seeds": seeds, "pairs": [list(p) for p in pairs], "reference": ref, "candidate": cand,
            "cas_ratio_change": cas_d, "fid_change": fid_d, "val_diff": val, "test_diff": test,
            "checks": checks, "holds": all(checks.values())}


def markdown(out: dict) -> str:
    c, ref, cand = out["comparison"], out["comparison"]["reference"], out["comparison"]["candidate"]
    ms = out["ms_per_update"]

    def seeds(d: dict, fmt: str) -> str:
        vals = list(d.values())
        return f"{fmt.format(np.mean(vals))} ({', '.join(fmt.format(v) for v in vals)})"

    rows = []
    for name, side in (("reference", ref), ("candidate", cand)):
        t = ms.get(name)
        speed = f"{1000 * t:.0f} | {MAIN_JOB_UPDATES * t / 60:.0f}" if t else "– | –"
        rows.append(f"| {out[name]} | {speed} | {seeds(side['cas_ratio'], '{:.3f}')} | "
                    f"{seeds(side['fid'], '{:.1f}')} | {seeds(side['val_cas_chosen'], '{:.3f}')} | "
                    f"{100 * side['val']:.2f} | {100 * side['test']:.2f} |")
    v, t = c["val_diff"], c["test_diff"]
    verdict = "**holds**" if c["holds"] else "**does not hold**"
    failed = [k for k, ok in c["checks"].items() if not ok]
    return "\n".join([
        f"# Speed against quality: {out['candidate']} vs {out['reference']} ({out['regime']})", "",
        (f"ms per generator update from `{out['profile']}` (idle, 2 threads); the main job = {MAIN_JOB_UPDATES:,} updates. "
         if out["profile"] else "No timing: a comparison of quality alone. ") +
        f"GAN quality at the end of training: CAS × real and FID (mean, then per GAN seed {c['gan_seeds']}); val CAS of "
        f"the snapshot each benchmark chose. Accuracy: `{out['condition']}`, mean of the {len(c['pairs'])} runs "
        "paired by classifier and GAN seed.", "",
        "| run | ms / update | main job (min) | CAS (× real) | FID | val CAS (chosen) | val acc | test acc |",
        "|---|---|---|---|---|---|---|---|", *rows, "",
        *([f"- update time ratio: **{ms['candidate'] / ms['reference']:.2f}×**"] if ms else []),
        f"- CAS change {c['cas_ratio_change']:+.3f} (margin −{CAS_MARGIN}); FID change {c['fid_change']:+.1f} "
        f"(margin +{FID_MARGIN})",
        f"- validation accuracy, candidate − reference: {v['mean']:+.2f} [{v['lo']:+.2f}, {v['hi']:+.2f}] points "
        f"(margin −{VAL_MARGIN}; not significantly lower)",
        f"- test accuracy (not used to decide): {t['mean']:+.2f} [{t['lo']:+.2f}, {t['hi']:+.2f}] points", "",
        f"Decision rule (module docstring, fixed before the results): {verdict}"
        + (f" (fails: {', '.join(failed)})." if failed else "."), "",
        environment_markdown(out["environment"]),
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", required=True, help="benchmark directory under benchmarks/results")
    p.add_argument("--candidate", required=True)
    p.add_argument("--profile", help="profile_update.py result (name under benchmarks/results); none: quality only")
    p.add_argument("--parts", nargs=2, metavar=("REFERENCE", "CANDIDATE"),
                   help="the two profile_update candidates' names (with --profile)")
    p.add_argument("--regime", default="n100")
    p.add_argument("--condition", default="classical+syn0.25-filt")
    p.add_argument("--out", default=None, help="result name (default speed_quality_<candidate>)")
    args = p.parse_args(argv)
    load = lambda name: json.loads((RESULTS / name / "results.json").read_text())  # noqa: E731
    ms = {}
    if args.profile:
        if not args.parts:
            p.error("--profile needs --parts REFERENCE CANDIDATE")
        profile = json.loads((RESULTS / f"{args.profile}.json").read_text())
        ms = {k: profile["median_seconds_per_update"][n] for k, n in zip(("reference", "candidate"), args.parts)}
    out = {"reference": args.reference, "candidate": args.candidate, "profile": args.profile, "regime": args.regime,
           "condition": args.condition, "ms_per_update": ms,
           "margins": {"cas": CAS_MARGIN, "fid": FID_MARGIN, "val": VAL_MARGIN},
           "comparison": compare(load(args.reference), load(args.candidate), args.regime, args.condition),
           "environment": environment(" ".join(["speed_quality.py", *(argv if argv is not None else sys.argv[1:])]))}
    name = args.out or f"speed_quality_{args.candidate}"
    write_report(RESULTS, name, out, markdown(out))
    print(markdown(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

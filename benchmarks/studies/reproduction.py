"""Is a committed benchmark result reproduced by a rerun of its command? (issue 16's done criterion)

Compares one regime of two `ganaug-bench` results, condition by condition: the test score and the
gains against real data and classical augmentation, each with its 95% CI (the GAN seed a random
factor, `ganaug.eval.stats.crossed_gain_ci`). A result is reproduced when, for every condition, each
run's mean gain lies inside the other's CI. Bit-identical numbers are not expected when the code
changed between the two runs (another classifier loop, kernel or layout): the runs are the same
settings and seeds, not the same floating-point operations. Writes <new>/reproduction-<regime>.md.

    python benchmarks/studies/reproduction.py benchmarks/results/ablation_n100_dwidth32 benchmarks/results/engine_n100
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ganaug.bench.report import summary_of  # noqa: E402
from readme_results import gain, pct  # noqa: E402

MEASURES = ("test", "gain_vs_real", "gain_vs_classical")


def _inside(value: float, ci: dict) -> bool:
    return ci["lo"] <= value <= ci["hi"]


def compare(old: dict, new: dict, regime: str) -> dict:
    """Per condition and measure: both CIs and whether each mean lies inside the other's CI."""
    a = summary_of(old)[regime]["conditions"]
    b = summary_of(new)[regime]["conditions"]
    rows = []
    for cond in [c for c in a if c in b]:
        for m in MEASURES:
            x, y = a[cond].get(m), b[cond].get(m)
            if not x or not y or "lo" not in x or "lo" not in y:
                continue
            rows.append({"condition": cond, "measure": m, "old": x, "new": y,
                         "agree": _inside(x["mean"], y) and _inside(y["mean"], x)})
    return {"regime": regime, "rows": rows, "reproduced": bool(rows) and all(r["agree"] for r in rows)}


def markdown(result: dict, old_dir: Path, new_dir: Path, old_meta: dict, new_meta: dict) -> str:
    fmt = {"test": pct, "gain_vs_real": gain, "gain_vs_classical": gain}
    lines = [f"# Reproduction of `{old_dir.name}` by `{new_dir.name}` ({result['regime']})", "",
             "Same command, settings and seeds, run again by today's engine. Test accuracy in % (mean ± 95% CI "
             "half-width), gains in points with 95% CI (classifier and GAN seeds crossed). A measure agrees when "
             "each run's mean lies inside the other's CI.", "",
             "| condition | measure | committed | rerun | agrees |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        f = fmt[r["measure"]]
        lines.append(f"| {r['condition']} | {r['measure']} | {f(r['old'])} | {f(r['new'])} | "
                     f"{'yes' if r['agree'] else '**no**'} |")
    verdict = "reproduced" if result["reproduced"] else "**not reproduced**"
    lines += ["", f"Verdict: {verdict} ({sum(r['agree'] for r in result['rows'])} of {len(result['rows'])} "
                  "measures agree).", ""]
    for name, d, m in (("committed", old_dir, old_meta), ("rerun", new_dir, new_meta)):
        lines.append(f"- {name}: `{d.relative_to(ROOT) if d.is_relative_to(ROOT) else d}` — `{m.get('command')}`, "
                     f"commit `{m.get('commit')}`, {m.get('date')}, {m.get('cpu')}, {m.get('cores')} cores, "
                     f"{m.get('torch_threads')} threads")
    lines.append(f"- this report: `python benchmarks/studies/reproduction.py {old_dir.name} {new_dir.name} "
                 f"--regime {result['regime']}` (directories under benchmarks/results/)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("old", type=Path, help="the committed result's directory (holds results.json)")
    p.add_argument("new", type=Path, help="the rerun's directory")
    p.add_argument("--regime", default="n100")
    args = p.parse_args(argv)
    dirs = []
    for d in (args.old, args.new):
        d = d if (d / "results.json").is_file() else ROOT / "benchmarks" / "results" / d
        if not (d / "results.json").is_file():
            print(f"reproduction.py: error: {d}/results.json not found; give a ganaug-bench output directory",
                  file=sys.stderr)
            return 2
        dirs.append(d.resolve())
    old, new = (json.loads((d / "results.json").read_text()) for d in dirs)
    for d, data in zip(dirs, (old, new)):
        if args.regime not in data["summary"]:
            print(f"reproduction.py: error: {d.name} has no regime {args.regime!r} "
                  f"(it has {sorted(data['summary'])})", file=sys.stderr)
            return 2
    result = compare(old, new, args.regime)
    md = markdown(result, dirs[0], dirs[1], old.get("meta", {}), new.get("meta", {}))
    (dirs[1] / f"reproduction-{args.regime}.md").write_text(md)
    print(md)
    return 0 if result["reproduced"] else 1


if __name__ == "__main__":
    sys.exit(main())

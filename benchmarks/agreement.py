"""Does `ganaug-tune` on a benchmark regime's data reproduce the benchmark's runs, run for run?

Runs `ganaug-tune` (its `run_tune`, as the command does) on one regime of a finished benchmark: the
same data options (n_per_class, data_seed, val_fraction), the generator each GAN seed's selection
chose, the benchmark's classifier settings, seeds, bank settings and classical augmentation; then
matches every benchmark run of the regime's conditions (real and the synthetic ones without classical
augmentation, if run; classical and classical + synthetic) with tune's run of the same candidate and
seed: same run fingerprint, same validation score. Writes <bench.out_dir>/agreement-<regime>.{json,md}.

    python benchmarks/agreement.py --regime n100 [--seeds 0,1] -- '~bench.regimes.n50' ... bench.out_dir=DIR
    (after the `--`: the overrides the benchmark ran with)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import environment, environment_markdown, write_json  # noqa: E402
from ganaug.base.files import atomic_write_bytes  # noqa: E402
from ganaug.base.provenance import stored_if_unchanged  # noqa: E402


def tune_overrides(bench_cfg, regime: str, generators: list[str], out_dir: Path, augment: str | None,
                   seeds: list[int] | None = None, thresholds: list | None = None) -> list[str]:
    """The `ganaug-tune` command line (as overrides) that runs a regime's conditions as the benchmark did."""
    b, spec = bench_cfg.bench, bench_cfg.bench.regimes[regime]
    c = b.classifier
    imbalanced = spec.get("imbalance_ratio") is not None
    data = [f"data.{k}={spec.get(k) if spec.get(k) is not None else 'null'}"
            for k in ("n_per_class", "imbalance_ratio", "n_max")]
    ratios = sorted({0.0, *[float(r) for r in spec.get("ratios", b.ratios)]})
    if not thresholds:  # the banks of the regime's conditions: filtered (true) and/or unfiltered (false)
        opts = (spec.get("classical_synthetic_filter_options", b.classical_synthetic_filter_options) if augment
                else [False, True])
        thresholds = [b.filter_threshold if f else "null" for f in opts]
    fmt = lambda xs: "[" + ",".join(str(x) for x in xs) + "]"  # noqa: E731
    return [
        f"data={bench_cfg.train.data.name}", *data, f"data.data_seed={b.data_seed}", f"data.val_fraction={b.val_fraction}",
        f"generators={fmt(generators)}", f"out_dir={out_dir}", "progress=false",
        *([f"augment={augment}"] if augment else []),
        f"tune.ratios={fmt(ratios)}", f"tune.filter_thresholds={fmt(thresholds)}",
        f"tune.filter_fallback={spec.get('filter_fallback', b.filter_fallback) or 'null'}",
        f"tune.filter_class_quantile={spec.get('filter_class_quantile', b.filter_class_quantile) or 'null'}",
        f"tune.class_policy={'balance' if imbalanced else b.class_policy}",
        f"tune.steps={c.steps}", f"tune.batch_size={c.batch_size}", f"tune.lr={c.lr}",
        f"tune.lr_schedule={c.lr_schedule}", f"tune.width={c.width}", f"tune.arch={c.get('arch', 'smallcnn')}",
        f"tune.precision={c.precision}", f"tune.seeds={fmt(seeds if seeds is not None else b.classifier_seeds)}",
        f"tune.synthetic_soft_labels={b.synthetic_soft_labels}",
        f"tune.synthetic_confidence_weight={b.synthetic_confidence_weight}",
        f"tune.synthetic_split_norm={b.get('synthetic_split_norm', False)}",
        f"tune.bank_size={b.bank_size}", f"tune.metric={'balanced_accuracy' if imbalanced else 'accuracy'}",
    ]


def compare(bench_overrides: list[str], regime: str, tune_root: Path | None = None,
            seeds: list[int] | None = None) -> dict:
    """Run tune on the regime and pair its runs with the benchmark's; returns the pairs and the verdict."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    import json

    from ganaug.eval.store import UnitStore
    from ganaug.cli.tune import run_tune

    def composed(name: str, overrides: list[str], hydra: bool = False):
        GlobalHydra.instance().clear()
        with initialize_config_module(config_module="ganaug.conf", version_base="1.3"):
            return compose(name, overrides=overrides, return_hydra_config=hydra)

    cfg = composed("bench", bench_overrides, hydra=True)
    augment = cfg.hydra.runtime.choices["augment"]  # the classical augmentation the benchmark used
    out = Path(cfg.bench.out_dir)
    units = UnitStore(out / "units")
    gan_seeds = list(cfg.bench.regimes[regime].get("gan_seeds", cfg.bench.gan_seeds))
    # The generator the benchmark's banks came from: the selection's choice, or the final one.
    generators = {g: units.get(f"{regime}/select-g{g}" if units.has(f"{regime}/select-g{g}") else f"{regime}/gan-g{g}")
                  ["generator"] for g in gan_seeds}
    tune_root = tune_root or out / f"agreement-{regime}"
    bench_runs = [r for r in json.loads((out / "results.json").read_text())["runs"]
                  if r.get("regime") == regime and "condition" in r and (seeds is None or r["clf_seed"] in seeds)]
    results = {}
    for classical in (False, True):
        gens, thresholds = list(generators.values()), None
        if not any("syn" in r["condition"] and r["condition"].startswith("classical") == classical for r in bench_runs):
            # Only real (or only classical) to pair: tune needs one synthetic candidate, the cheapest will do.
            gens, thresholds = gens[:1], [cfg.bench.filter_threshold]
        overrides = tune_overrides(cfg, regime, gens, tune_root / ("classical" if classical else "plain"),
                                   augment if classical else None, seeds, thresholds)
        results[classical] = (overrides, run_tune(composed("tune", overrides)))
    pairs = []
    for r in bench_runs:
        cond = r["condition"]
        overrides, result = results[cond.startswith("classical")]
        name = "real"
        if "syn" in cond:  # [classical+]syn<r>[-filt]: the candidate of this GAN seed's generator
            syn = cond.split("+")[-1]
            ratio = float(syn.removeprefix("syn").split("-")[0])
            threshold = float(cfg.bench.filter_threshold) if syn.endswith("-filt") else None
            gen = Path(generators[r["gan_seed"]]).resolve()
            name = next(c["name"] for c in result.candidates
                        if c["generator"] and Path(c["generator"]).resolve() == gen and c["ratio"] == ratio
                        and c["filter_threshold"] == threshold and c["synthetic_weight"] == 1.0)
        match = [t for t in result.runs if t["candidate"] == name and t["seed"] == r["clf_seed"]]
        t = match[0] if match else {}
        pairs.append({"condition": cond, "gan_seed": r.get("gan_seed"), "clf_seed": r["clf_seed"], "tune_candidate": name,
                      "bench_fingerprint": r["run_fingerprint"], "tune_fingerprint": t.get("run_fingerprint"),
                      "bench_val": r["val"], "tune_val": t.get("val"),
                      "agree": bool(t) and t["run_fingerprint"] == r["run_fingerprint"] and t["val"] == r["val"]})
    return {"regime": regime, "seeds": seeds, "bench_overrides": bench_overrides, "bench_out_dir": str(out),
            "tune_commands": ["ganaug-tune " + " ".join(results[c][0]) for c in (False, True)],
            "pairs": pairs, "agree": bool(pairs) and all(p["agree"] for p in pairs)}


def markdown(res: dict, env: dict) -> str:
    n_ok = sum(p["agree"] for p in res["pairs"])
    seeds = "" if res.get("seeds") is None else f" (classifier seeds {', '.join(map(str, res['seeds']))})"
    lines = [f"# ganaug-tune against the benchmark, regime {res['regime']}{seeds}", "",
             f"**{n_ok} of {len(res['pairs'])} runs agree** (same run fingerprint, same validation score).", "",
             "| condition | GAN seed | classifier seed | tune candidate | fingerprint (bench / tune) | val (bench / tune) |",
             "|---|---|---|---|---|---|"]
    for p in res["pairs"]:
        tv = "–" if p["tune_val"] is None else f"{p['tune_val']:.4f}"
        lines.append(f"| {p['condition']} | {p['gan_seed'] if p['gan_seed'] is not None else '–'} | {p['clf_seed']} | "
                     f"`{p['tune_candidate']}` | `{p['bench_fingerprint']}` / `{p['tune_fingerprint']}` | "
                     f"{p['bench_val']:.4f} / {tv} |")
    lines += ["", "Tune commands:", ""] + [f"- `{c}`" for c in res["tune_commands"]] + ["", environment_markdown(env)]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--regime", required=True)
    p.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=None,
                   help="classifier seeds to pair, e.g. 0,1 (default: all the benchmark ran)")
    p.add_argument("overrides", nargs="*", help="the benchmark's overrides (after --)")
    args = p.parse_args()
    res = compare(args.overrides, args.regime, seeds=args.seeds)
    out = Path(res["bench_out_dir"])
    env = _provenance(out / f"agreement-{args.regime}.json", res)
    md = markdown(res, env)
    print(md)
    write_json(out / f"agreement-{args.regime}.json", {**res, **env})
    atomic_write_bytes(out / f"agreement-{args.regime}.md", md.encode())
    sys.exit(0 if res["agree"] else 1)


def _provenance(path: Path, res: dict) -> dict:
    """This run's environment, or the stored one when the stored check is this very result (a rerun that only
    reused stored runs must not claim them for its own commit and date)."""
    env = environment()
    old = stored_if_unchanged(path, res)
    return env if old is None else {k: old.get(k, v) for k, v in env.items()}


if __name__ == "__main__":
    main()

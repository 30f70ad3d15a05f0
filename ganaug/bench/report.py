"""Benchmark outputs: one JSON with every run and a summary, a Markdown table, a plot."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ganaug.base.files import atomic_write_bytes
from ganaug.base.provenance import environment, machine_label, stored_if_unchanged
from ganaug.classify.batch_mix import BATCH_MIX_NAMES
from ganaug.eval.stats import crossed_gain_ci, format_gain, format_score, mean_ci, paired_diff_ci
from ganaug.bench.selection import steps_summary
from ganaug.eval.store import gan_training_seconds


# What synthetic conditions are compared against (classical+reweight: imbalanced regimes only).
BASELINES = ("real", "classical", "classical+reweight")


def _ci(values) -> dict:
    return mean_ci(np.asarray(values, dtype=float)) if len(values) else {}


def _condition_order(c: dict) -> tuple:
    # real, classical, then synthetic, filtered after unfiltered, then classical + synthetic.
    synthetic = c["ratio"] > 0
    return (synthetic, synthetic and c["classical"], c["filtered"], c["ratio"], c["classical"], c.get("reweight", False))


def _gain(runs: list[dict], baseline: dict) -> dict:
    """Gain over a baseline, paired by classifier seed.

    A synthetic condition's runs span GAN seeds, and each GAN seed's run of classifier seed c is
    paired with the same baseline run c: GAN and classifier seed are crossed random factors
    (`crossed_gain_ci`). A partial grid (a report while the benchmark runs) falls back to pairs.
    """
    gains = {(r["gan_seed"], r["clf_seed"]): r["test"] - baseline[r["clf_seed"]] for r in runs}
    gan_seeds, clf_seeds = {g for g, _ in gains}, {c for _, c in gains}
    if None not in gan_seeds and len(gains) == len(runs) == len(gan_seeds) * len(clf_seeds):
        return crossed_gain_ci(gains)
    return paired_diff_ci(np.array([r["test"] for r in runs]), np.array([baseline[r["clf_seed"]] for r in runs]))


def summarise(records: list[dict], regime_order: list[str] | None = None) -> dict:
    """Per regime: every condition's test score with CI, paired gains against real and classical."""
    skipped = [r for r in records if "condition" in r and r.get("skipped")]
    runs = [r for r in records if "condition" in r and not r.get("skipped")]
    gans = {(r["regime"], r["gan_seed"]): r for r in records
            if r.get("unit", "").endswith(f"gan-g{r.get('gan_seed')}")}
    metrics = [r for r in records if "cas" in r]
    out: dict = {}
    present = {r["regime"] for r in runs}
    for regime in [r for r in (regime_order or []) if r in present] + sorted(present - set(regime_order or [])):
        rr = [r for r in runs if r["regime"] == regime]
        base = {name: {r["clf_seed"]: r["test"] for r in rr if r["condition"] == name} for name in BASELINES}
        base = {k: v for k, v in base.items() if v}
        conds: dict = {}
        for name in sorted(dict.fromkeys(r["condition"] for r in rr),
                           key=lambda n: _condition_order(next(r for r in rr if r["condition"] == n))):
            cr = [r for r in rr if r["condition"] == name]
            entry = {"ratio": cr[0]["ratio"], "classical": cr[0]["classical"], "filtered": cr[0]["filtered"],
                     "n": len(cr), "test": _ci([r["test"] for r in cr]),
                     "val": _ci([r["val"] for r in cr if r["val"] is not None]), "metric": cr[0]["metric"]}
            for b_name, b in base.items():
                if name != b_name and any(r["clf_seed"] in b for r in cr):
                    entry[f"gain_vs_{b_name}"] = _gain([r for r in cr if r["clf_seed"] in b], b)
            conds[name] = entry
        synthetic = {k: v for k, v in conds.items() if v["ratio"] > 0 and v["val"]}
        best = max(synthetic, key=lambda k: synthetic[k]["val"]["mean"]) if synthetic else None
        gm = [m for m in metrics if m["regime"] == regime]
        gan_summary = {key: _ci([m[key] for m in gm]) for key in
                       ("cas", "cas_ratio", "fid", "kid", "label_agreement", "precision", "recall",
                        "fid_real_labelled_vs_test")} if gm else {}
        regime_gans = [g for (reg, _), g in gans.items() if reg == regime]
        choices = sorted(({"gan_seed": r["gan_seed"], "step": r["step"], "candidates": r["candidates"]}
                          for r in records if r.get("by") == "val_cas" and r["regime"] == regime),
                         key=lambda c: c["gan_seed"])
        out[regime] = {"conditions": conds, "chosen_on_val": best, "gan": gan_summary,
                       # Over every stretch of a resumed GAN (train_seconds); a record made before the
                       # checkpoints kept the clock has its last stretch only, and is counted as such.
                       "gan_train_seconds": _ci([g.get("train_seconds", g["seconds"]) for g in regime_gans]),
                       "gan_resumed": sum(1 for g in regime_gans if gan_training_seconds(g) is None),
                       "generator_choice": choices,
                       "skipped": _skipped_notes([r for r in skipped if r["regime"] == regime]),
                       "filter_unfiltered": {r["gan_seed"]: r["filter_unfiltered"] for r in records
                                             if r.get("regime") == regime and r.get("filter_unfiltered")}}
        if remade := _banks_remade(rr):  # only where there is one: committed summaries stay as they were
            out[regime]["banks_remade"] = remade
    return out


RUN_KEYS = {"regime", "condition", "clf_seed", "test", "val", "ratio", "classical", "filtered", "metric"}


def summary_of(results: dict) -> dict:
    """A results.json's summary, made again from its runs when they are whole records.

    So results written before the crossed GAN × classifier interval (`crossed_gain_ci`) are
    reported with it; the summary is a function of the runs. Otherwise the stored summary.
    """
    runs = [r for r in results.get("runs") or [] if "condition" in r]
    if not runs or not all(RUN_KEYS <= set(r) for r in runs):
        return results["summary"]
    return summarise(results["runs"], list(results["summary"]))


def _banks_remade(runs: list[dict]) -> list[str]:
    """Conditions whose runs of one GAN read more than one bank's images (`runner._warn_if_remade_otherwise`)."""
    seen: dict = defaultdict(set)
    for r in runs:
        if r.get("bank_content_id"):
            seen[(r["condition"], r["gan_seed"])].add(r["bank_content_id"])
    return [f"{cond} (GAN seed {g}): its runs read {len(ids)} different banks' images (the bank was made again "
            "between its runs, on a CPU whose arithmetic gave other images)" for (cond, g), ids in sorted(seen.items()) if len(ids) > 1]


def _skipped_notes(skipped: list[dict]) -> list[str]:
    by_reason: dict = defaultdict(set)
    for r in skipped:
        by_reason[(r["gan_seed"], r["skipped"])].add(r["condition"])
    return [f"{', '.join(sorted(conds))} (GAN seed {g}): {reason}" for (g, reason), conds in sorted(by_reason.items())]


def classical_words(cfg: DictConfig) -> str:
    """What the `classical` condition trains with: the augment config (its group choice on a command line, else its
    transforms), the batch mixing and the classifier's steps; every table names it."""
    name = None
    try:
        from hydra.core.hydra_config import HydraConfig

        name = HydraConfig.get().runtime.choices.get("augment")
    except ValueError:  # not under @hydra.main: a config composed in Python
        pass
    if not name:
        aug = OmegaConf.to_container(cfg.augment, resolve=True) if cfg.get("augment") else {}
        name = "+".join(str(t.get("_target_", "?")).rsplit(".", 1)[-1] for t in aug.get("transforms", [])) or "none"
    clf = cfg.bench.classifier
    mix = BATCH_MIX_NAMES.get(str(clf.get("batch_mix", "none")))
    return f"`augment={name}`" + (f" with {mix} batches" if mix else "") + f", {int(clf.steps):,} classifier steps"


def markdown(summary: dict, meta: dict) -> str:
    partial = meta.get("units_done", 0) < meta.get("units_total", 0)
    lines = [f"# Downstream benchmark: {meta['name']}", ""]
    if partial:
        lines += [f"**Partial results: {meta['units_done']} of {meta['units_total']} units finished.** Rerun the "
                  "command to continue; conditions below have only the runs finished so far.", ""]
    lines += [
             "Test score of the same classifier, same steps and batch size, under each condition "
             "(mean ± 95% CI half-width over runs; gains are paired differences in points with 95% CI, "
             "`*` = CI excludes 0; a synthetic condition's CI treats GAN seed and classifier seed as crossed "
             "random factors, and with one GAN seed holds for that GAN only). Balanced accuracy for the "
             "long-tail regime. The synthetic condition "
             "marked **chosen** is the best on the validation split (never the test split)."
             + (f" `classical`: {meta['classical']}." if meta.get("classical") else ""), ""]
    for regime, s in summary.items():
        baselines = [b for b in BASELINES if b in s["conditions"]]
        lines += [f"## {regime}", "", "| condition | test | " + " | ".join(f"Δ vs {b}" for b in baselines)
                  + " | val | runs |", "|---|---|" + "---|" * len(baselines) + "---|---|"]
        for name, c in s["conditions"].items():
            label = f"**{name}** (chosen)" if name == s["chosen_on_val"] else name
            gains = " | ".join(format_gain(c.get(f"gain_vs_{b}")) for b in baselines)
            lines.append(f"| {label} | {format_score(c['test'])} | {gains} | {format_score(c['val'])} | {c['n']} |")
        g = s["gan"]
        if g:
            lines += ["", f"GAN (mean over GAN seeds): CAS {format_score(g['cas'])}% = "
                      f"{g['cas_ratio']['mean']:.2f}× the real-data classifier; FID {format_score(g['fid'], 1)} "
                      f"(real labelled vs test: {format_score(g['fid_real_labelled_vs_test'], 1)}); KID "
                      f"{format_score(g['kid'], 1)}; label agreement {format_score(g['label_agreement'])}%; "
                      f"precision {format_score(g['precision'])}%, recall {format_score(g['recall'])}%; "
                      f"GAN training {format_score(s['gan_train_seconds'], 1 / 60)} min"
                      + (f" ({s['gan_resumed']} of {s['gan_train_seconds']['n']} GANs resumed from a checkpoint: "
                         "their last stretch only)." if s.get("gan_resumed") else ".")]
        for ch in s.get("generator_choice", []):
            lines.append(f"\nGenerator of GAN seed {ch['gan_seed']}: chosen after {ch['step']} updates by CAS on the "
                         f"validation split (updates: val CAS %, chosen *: {steps_summary(ch['candidates'])}).")
        for g, names in sorted(s.get("filter_unfiltered", {}).items()):
            lines.append(f"\nFilter fallback (GAN seed {g}): the filter accepted almost none of the generator's "
                         f"{', '.join(repr(n) for n in names)} images; the filtered bank holds them unfiltered.")
        for note in s.get("skipped", []):
            lines.append(f"\nSkipped: {note}")
        for note in s.get("banks_remade", []):
            lines.append(f"\nBanks made again: {note}")
        lines.append("")
    lines += ["## Reproduce", "", f"`{meta['command']}`", "",
              f"- commit `{meta['commit']}`, {meta['date']}",
              f"- machine: {meta['cpu']}, {meta['cores']} cores, torch {meta['torch']}",
              *(["- units made on: " + "; ".join(f"{n} on {m}" for m, n in meta["units_made_on"].items())]
                if meta.get("units_made_on") else []),
              *([load_line(meta["units_load"])] if (meta.get("units_load") or {}).get("n") else []),
              f"- seeds: data {meta['data_seed']}, classifier {meta['classifier_seeds']}, GAN per regime "
              f"{meta.get('gan_seeds_by_regime', meta['gan_seeds'])}", ""]
    return "\n".join(lines)


def units_load(records: list[dict]) -> dict:
    """How much of the machine the units that recorded it had (`made_on.load`): medians over them."""
    loads = [r["made_on"]["load"] for r in records if isinstance((r.get("made_on") or {}).get("load"), dict)]
    others = [x["others_cpu_share"] for x in loads if x.get("others_cpu_share") is not None]
    return {"n": len(loads), "of": len(records),
            "own_cpu_per_s": float(np.median([x["own_cpu_per_s"] for x in loads])) if loads else None,
            "others_cpu_share": float(np.median(others)) if others else None}


def load_line(load: dict) -> str:
    others = ("" if load["others_cpu_share"] is None else
              f"; other processes (units side by side included) used a median {load['others_cpu_share']:.0%} of the cores")
    return (f"- load while the units ran ({load['n']} of {load['of']} recorded it): a median "
            f"{load['own_cpu_per_s']:.2f} CPU-seconds per second each (1.00 a thread: a core to itself){others}")


BASELINE_STYLE = {"real": ("k", "--"), "classical": ("tab:gray", "--"), "classical+reweight": ("tab:purple", ":")}
SERIES_COLOURS = {"syn": "tab:blue", "syn filtered": "tab:orange", "classical+syn": "tab:red",
                  "classical+syn filtered": "tab:green"}


def plot(summary: dict, path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not summary:
        return None
    fig, axes = plt.subplots(1, len(summary), figsize=(4.2 * len(summary), 3.6), squeeze=False)
    handles: dict = {}
    for ax, (regime, s) in zip(axes[0], summary.items()):
        conds = s["conditions"]
        for name, (style, ls) in BASELINE_STYLE.items():
            if name in conds and conds[name]["test"]:
                t = conds[name]["test"]
                handles[name] = ax.axhline(t["mean"] * 100, color=style, ls=ls, lw=1, label=name)
                if np.isfinite(t["lo"]):
                    ax.axhspan(t["lo"] * 100, t["hi"] * 100, color=style, alpha=0.12)
        series = defaultdict(list)
        for name, c in conds.items():
            if c["ratio"] > 0:
                key = ("classical+" if c["classical"] else "") + ("syn filtered" if c["filtered"] else "syn")
                series[key].append((c["ratio"], c["test"]))
        for key, pts in series.items():
            pts.sort()
            x = [p[0] for p in pts]
            m = np.array([p[1]["mean"] for p in pts]) * 100
            lo = np.array([p[1]["lo"] for p in pts]) * 100
            hi = np.array([p[1]["hi"] for p in pts]) * 100
            # One colour per kind of condition in every panel: panels may lack some of them.
            handles[key], = ax.plot(x, m, marker="o", color=SERIES_COLOURS[key], label=key)
            if np.isfinite(lo).all():
                ax.fill_between(x, lo, hi, color=SERIES_COLOURS[key], alpha=0.15)
        metric = next(iter(conds.values()))["metric"].replace("_", " ")
        ax.set(title=regime, xlabel="synthetic fraction of each batch", ylabel=f"test {metric} (%)")
        ax.grid(alpha=0.3)
    order = [k for k in (*BASELINE_STYLE, *SERIES_COLOURS) if k in handles]
    fig.legend([handles[k] for k in order], order, loc="lower center", ncol=len(order), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _progress_of(meta: dict) -> dict:
    return {k: meta[k] for k in ("units_total", "units_done") if k in meta}


def _larger_report(path: Path, records: list[dict]) -> dict | None:
    """The report at `path` when it holds every one of `records`, as they are, and more runs besides."""
    try:
        old = json.loads(path.read_text())
        by_unit = {r.get("unit"): r for r in old["runs"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    mine = json.loads(json.dumps(records, default=float))
    if len(by_unit) > len(mine) and all(by_unit.get(r.get("unit")) == r for r in mine):
        return old
    return None


def write_reports(cfg: DictConfig, out: Path, records: list[dict], progress: dict | None = None,
                  ran: bool = True) -> dict:
    """results.json, results.md and the plot of `records`. A call that `ran` nothing, whose plan is whole
    (every unit stored), and whose records are a part of the report already there (a run of fewer regimes
    or seeds into a directory of a larger benchmark) keeps that report: it would replace it by a part. A
    plan with a unit missing (a record deleted, a unit still to run) is reported as partial."""
    import sys

    whole = progress is not None and progress.get("units_done") == progress.get("units_total")
    if not ran and whole and (larger := _larger_report(out / "results.json", records)) is not None:
        print(f"ganaug-bench: nothing to run; {out / 'results.json'} reports {len(larger['runs'])} records, these "
              f"{len(records)} among them, and is kept as it is (a report of these alone: another bench.out_dir "
              f"with bench.reuse_from={out})", flush=True)
        return larger
    b = cfg.bench
    # The command that reproduces the runs: without the switches that only change how it reports, or
    # which of its units run now.
    args = [a for a in sys.argv[1:] if not a.startswith(("report_only=", "only=", "progress=", "hydra."))]
    meta = {"name": b.name, **environment(" ".join(["ganaug-bench", *args])),
            "data_seed": b.data_seed, "classifier_seeds": list(b.classifier_seeds), "gan_seeds": list(b.gan_seeds),
            "gan_seeds_by_regime": {k: list(v.get("gan_seeds", b.gan_seeds)) for k, v in b.regimes.items()},
            "units_made_on": dict(Counter(machine_label(r.get("made_on")) for r in records).most_common()),
            "units_load": units_load(records), "classical": classical_words(cfg), **(progress or {})}
    summary = summarise(records, list(b.regimes))
    payload = {"meta": meta, "config": OmegaConf.to_container(cfg, resolve=True), "summary": summary,
               "runs": records}
    kept = stored_if_unchanged(out / "results.json", {"runs": records})
    if kept is not None and "meta" in kept and "config" in kept:
        # The same runs as the record already says: a rerun that trained nothing (or a report_only
        # call) must not claim them for its own command, commit, threads or date.
        payload["meta"], payload["config"] = {**kept["meta"], **_progress_of(meta)}, kept["config"]
        meta = payload["meta"]
    atomic_write_bytes(out / "results.json", json.dumps(payload, indent=2, default=float).encode())
    atomic_write_bytes(out / "results.md", markdown(summary, meta).encode())
    plot(summary, out / "accuracy_vs_ratio.png")
    return payload

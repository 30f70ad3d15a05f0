"""GAN quality along training: CAS, FID/KID, label agreement for each generator snapshot.

Measures exported generators (e.g. `<run>/snapshots/g004000`, written by ganaug-train's
GeneratorSnapshots) exactly as `ganaug-bench` measures a regime's GAN: the same unfiltered bank
(10k images, class policy, seed 0), the same reference classifier for FID features and label
agreement, the same CAS recipe. Each finished snapshot is stored as it completes; a rerun skips it.

    python benchmarks/studies/snapshot_quality.py --regime n100 --out benchmarks/results/snapshots_n100.json \\
        runs/n100-g0-long/snapshots/g004000 runs/n100-g0-long/snapshots/g005000

The regime's reference classifier must exist (run `ganaug-bench` first, at least its reference unit).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from hydra import compose, initialize_config_module  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

from ganaug.mix.bank import SyntheticBank  # noqa: E402
from ganaug.bench.runner import Regime, gan_quality  # noqa: E402
from ganaug.base.files import atomic_write_bytes
from ganaug.gan.artifact import load_generator  # noqa: E402
from ganaug.base.provenance import environment  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("generators", nargs="+", type=Path)
    p.add_argument("--regime", default="n100")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--override", action="append", default=[], help="ganaug-bench override, e.g. bench=ci")
    args = p.parse_args(argv)
    with initialize_config_module("ganaug.conf", version_base="1.3"):
        cfg = compose("bench", overrides=args.override)
    spec = cfg.bench.regimes[args.regime]
    regime = Regime(args.regime, spec, cfg, Path(cfg.bench.out_dir), instantiate(cfg.bench.test_dataset))
    if not regime.reference_path().is_file():
        raise SystemExit(f"{regime.reference_path()} is missing: run ganaug-bench (its {args.regime}/reference unit)")
    dm = regime.datamodule
    policy = "balance" if regime.imbalanced else cfg.bench.class_policy
    done = json.loads(args.out.read_text()) if args.out.is_file() else {
        "command": " ".join(["python", "benchmarks/studies/snapshot_quality.py", *sys.argv[1:]]),
        "environment": environment(), "regime": args.regime, "snapshots": {}}
    for path in args.generators:
        key = str(path)
        if key in done["snapshots"]:
            continue
        gen = load_generator(path, expect_num_classes=dm.num_classes, expect_image_shape=dm.image_shape)
        t0 = time.perf_counter()
        bank = SyntheticBank.generate(gen, cfg.bench.bank_size, None, class_policy=policy,
                                      real_labels=regime.train_set.labels, seed=0, progress=False)
        record = {"g_updates": gen.meta.get("g_updates"),
                  **gan_quality(regime, np.asarray(bank.images), np.asarray(bank.labels)), "seconds": time.perf_counter() - t0}
        done["snapshots"][key] = record
        atomic_write_bytes(args.out, json.dumps(done, indent=2).encode())
        print(f"{key}: {record['g_updates']} G updates, CAS {100 * record['cas']:.1f}% "
              f"({record['cas_ratio']:.2f}x), FID {record['fid']:.1f}, label agreement "
              f"{100 * record['label_agreement']:.1f}%, recall {100 * record['recall']:.1f}%", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

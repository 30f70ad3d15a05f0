#!/usr/bin/env bash
# The long benchmark runs still owed (issues 16 and 19), in the order they are needed. Each
# ganaug-bench stores every finished unit and resumes where it stopped, so rerun this script until it
# ends (a CPU-day on 2 cores; GAN units ask for a GPU under executor=ray with trainer=gpu).
#   nohup setsid bash benchmarks/long_runs.sh > long_runs.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
bench() { .venv/bin/ganaug-bench threads=2 "$@"; }
n100_only=('~bench.regimes.n50' '~bench.regimes.n500' '~bench.regimes.longtail')
seeds='bench.classifier_seeds=[0,1,2,3,4]'
resnet=(bench.classifier.arch=resnet bench.classifier.width=16)

# 1. The committed n100 headline (ablation_n100_dwidth32) rerun by the one engine: data seed 0, GAN
#    seeds 0 and 1, the recipe's ratio; then ganaug-tune on the same data must agree run for run.
headline=("${n100_only[@]}" "$seeds" 'bench.ratios=[0.25]' bench.out_dir=benchmarks/results/engine_n100)
bench "${headline[@]}"
.venv/bin/python benchmarks/agreement.py --regime n100 -- "${headline[@]}"

# 2. The second classifier (ResNet-14) on the same data and GANs, to see on validation whether its
#    recipe is one where classical augmentation helps.
bench "${n100_only[@]}" "$seeds" 'bench.ratios=[0.25]' "${resnet[@]}" \
  bench.reuse_from=benchmarks/results/engine_n100 bench.out_dir=benchmarks/results/resnet_n100

# 3. Held-out labelled subsets (data seeds 1 and 2; no choice looked at them): every regime, three GAN
#    seeds at n100, both classifiers (the ResNet adopting the same GANs).
for s in 1 2; do
  out=benchmarks/results/heldout/seed$s
  bench bench.data_seed=$s 'bench.regimes.n100.gan_seeds=[0,1,2]' "$seeds" 'bench.ratios=[0.25]' bench.out_dir=$out
  bench bench.data_seed=$s 'bench.regimes.n100.gan_seeds=[0,1,2]' "$seeds" 'bench.ratios=[0.25]' "${resnet[@]}" \
    bench.reuse_from=$out bench.out_dir=${out}_resnet
done

#!/bin/bash
# Start a benchmark's GANs from another benchmark's checkpoints instead of from scratch, so that a
# longer-GAN recipe costs only the extra updates:
#   bash benchmarks/studies/continue_gans.sh SRC_OUT_DIR DST_OUT_DIR REGIME/gan-gSEED ...
#   bash benchmarks/studies/continue_gans.sh benchmarks/results/fashion_mnist benchmarks/results/fashion_mnist_gan6000 \
#        n50/gan-g0 n500/gan-g0 longtail/gan-g0
# then run ganaug-bench with bench.out_dir=DST_OUT_DIR: each GAN resumes from SRC's last checkpoint
# (optimizer state, EMA and counters included) up to train.gan.max_steps, and SRC's final generator
# becomes a snapshot candidate for bench.select_generator. Checkpoints are not committed (.gitignore):
# SRC must be a benchmark run on this machine. Only identical GAN and data settings, apart from
# max_steps, make this equivalent to training from scratch.
set -euo pipefail
src=$1 dst=$2
shift 2
for gan in "$@"; do
    from=$src/$gan to=$dst/$gan
    # The newest last*.ckpt: runs made before GANCheckpoint replaced a foreign last.ckpt left their
    # own as last-v1.ckpt beside it.
    ckpt=$(ls -t "$from"/checkpoints/last*.ckpt 2>/dev/null | head -n 1 || true)
    [[ -n $ckpt ]] || { echo "continue_gans: no checkpoint $from/checkpoints/last.ckpt" >&2; exit 1; }
    [[ -e $to/checkpoints/last.ckpt ]] && { echo "continue_gans: $to already has a checkpoint; not overwriting" >&2; exit 1; }
    steps=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['g_updates'])" "$from/generator/generator.json")
    mkdir -p "$to/checkpoints" "$to/snapshots"
    cp -r "$from/samples" "$to/"
    snap=g$(printf %06d "$steps")   # GeneratorSnapshots' naming
    cp -r "$from/generator" "$to/snapshots/.$snap.tmp"
    mv "$to/snapshots/.$snap.tmp" "$to/snapshots/$snap"
    cp "$ckpt" "$to/checkpoints/.last.ckpt.tmp"
    mv "$to/checkpoints/.last.ckpt.tmp" "$to/checkpoints/last.ckpt"   # last: it is what makes the GAN resume
    echo "continue_gans: $to resumes from $steps updates"
done

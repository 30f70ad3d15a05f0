#!/usr/bin/env bash
# The GPU check's two halves (benchmarks/gpu_check.py says what it measures):
#   bash benchmarks/gpu_check.sh prepare   # here: fill the ignored .gpu/ with what the lent machine lacks
#   bash benchmarks/gpu_check.sh command   # print the one command to give the device tool (carry: [".gpu"])
# The lent machine has torch, Lightning, safetensors and scikit-learn, not hydra-core, omegaconf or antlr4, and
# reaches no network: their wheels travel in .gpu/ (under 1 MB). Fashion-MNIST does not (30 MB beside a 38 MiB
# tree is over the tool's 64 MiB): the check times updates on random images of its shapes (--root synthetic).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
prepare)
  grep -qx '/.gpu/' .git/info/exclude || echo '/.gpu/' >> .git/info/exclude
  grep -qx 'ganaug/conf' .git/info/exclude || echo 'ganaug/conf' >> .git/info/exclude
  rm -rf .gpu && mkdir -p .gpu/whl
  py() { .venv/bin/python "$@"; }
  # The versions installed here, as wheels for the machine's Python 3.12; antlr4 4.9.3 has no wheel on PyPI.
  hydra=$(py -c 'import importlib.metadata as m; print(m.version("hydra-core"))')
  omega=$(py -c 'import importlib.metadata as m; print(m.version("omegaconf"))')
  py -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform any -d .gpu/whl "hydra-core==$hydra" "omegaconf==$omega"
  py -m pip wheel -q --no-deps -w .gpu/whl antlr4-python3-runtime==4.9.3
  du -sh .gpu
  ;;
command)
  [ -d .gpu/whl ] || { echo "gpu_check.sh: run 'bash benchmarks/gpu_check.sh prepare' first" >&2; exit 2; }
  commit=$(.venv/bin/python -c 'from ganaug.base.provenance import git_commit; print(git_commit())')
  # ganaug/conf: pkg://ganaug.conf without an install; GANAUG_COMMIT: the tree travels without .git.
  echo "ln -sfn ../conf ganaug/conf && python3 -m pip install -q --no-index --no-deps --no-compile" \
       "--no-cache-dir --target /tmp/site .gpu/whl/*.whl && export PYTHONPATH=\$PWD:/tmp/site" \
       "GANAUG_COMMIT=$commit PYTHONUNBUFFERED=1 && timeout 480 python3 benchmarks/gpu_check.py --out \$OUT" \
       "--root synthetic --updates 500 --main-job 2>&1 | tee \$OUT/gpu_check.log"
  ;;
*)
  echo "usage: bash benchmarks/gpu_check.sh prepare|command" >&2
  exit 2
  ;;
esac

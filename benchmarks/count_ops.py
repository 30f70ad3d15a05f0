"""Operations one GAN update dispatches (issue 46): each is a kernel launch on a GPU, where the update is launch-bound.

Counted on the CPU at the torch dispatcher (`TorchDispatchMode`) over whole updates of the main job's recipe
(Fashion-MNIST 28×28, default conf/gan), EMA on (`gan.ema_start=0`, as from update 200 on), after one warm-up
update. Views (`OpOverload.is_view`) and bare allocations (`empty*`) are left out: they launch nothing.
Counts are exact and machine-independent; the same code gives the same count.

    python benchmarks/count_ops.py        # writes benchmarks/results/count_ops.{json,md}
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import pytorch_lightning as pl
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import RESULTS, environment, environment_markdown, train_quietly, write_report  # noqa: E402

UPDATES = 3  # one warm-up update, then the counted ones


class OpCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if not func.is_view and not name.startswith(("empty", "new_empty")):
            self.ops[name] += 1
        return func(*args, **(kwargs or {}))


class CountUpdates(pl.Callback):
    """Counts the ops of every training batch after the first (one D update and one G update, n_dis=1)."""

    def __init__(self) -> None:
        self.per_update: list[collections.Counter] = []
        self._mode: OpCounter | None = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx >= 1:
            self._mode = OpCounter()
            self._mode.__enter__()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if self._mode is not None:
            self._mode.__exit__(None, None, None)
            self.per_update.append(self._mode.ops)
            self._mode = None


def count(overrides: list[str]) -> dict:
    counter = CountUpdates()
    train_quietly([f"gan.max_steps={UPDATES + 1}", "gan.ema_start=0", "data.n_per_class=20", *overrides], [counter])
    totals = [sum(c.values()) for c in counter.per_update]
    top = collections.Counter()
    for c in counter.per_update:
        top.update(c)
    n = len(counter.per_update)
    return {"per_update": totals, "ops": max(totals), "top": {k: v / n for k, v in top.most_common()}}


# Before this script's first change to the update: commit 4855c45, count_ops.md there.
BEFORE = {"commit": "4855c45", "ops": 1158}
PASSES = {"separate": [], "joint": ["gan.d_pass=joint"]}


def main() -> int:
    results = {name: count(overrides) for name, overrides in PASSES.items()}
    env = environment()
    ops = sorted({k for r in results.values() for k in r["top"]}, key=lambda k: -results["separate"]["top"].get(k, 0))
    md = ["# Operations dispatched per GAN update (issue 46)", "",
          "One D update + one G update + EMA, default recipe, Fashion-MNIST 28×28, views and allocations left out, "
          f"the {len(results['separate']['per_update'])} updates after a warm-up. Goal: ≤ 400. Before: {BEFORE['ops']} (commit "
          f"`{BEFORE['commit']}`).", "",
          "| `gan.d_pass` | operations per update |", "|---|---|",
          *[f"| {name} | **{r['ops']}** ({r['per_update']}) |" for name, r in results.items()], "",
          "`separate` is the default and the numbers of every stored GAN (tests/test_spectral.py holds it bit for bit to "
          "the old spectral-norm hook); `joint` is one D pass over real and fake with one power iteration per D step "
          "and none in the G step: other numbers, not the default before its quality guard.", "",
          "| op | separate | joint |", "|---|---|---|",
          *[f"| {k} | {results['separate']['top'].get(k, 0):g} | {results['joint']['top'].get(k, 0):g} |" for k in ops], "",
          environment_markdown(env)]
    write_report(RESULTS, "count_ops", {"before": BEFORE, **results, "environment": env}, "\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark's one progress bar: the whole job in units of work, its ETA from this run's own pace.

    benchmark:  59%|█████▊    | 81/137 units | longtail: GAN seed 0 73% [12:04<1:52:30]

Work is each unit's planned cost (a GAN's updates count `gan_cost_per_step` classifier steps, or as
many as this machine's finished units measured: `runner.calibrate_gan_cost`). A run that resumes a
benchmark starts the bar at the work already stored, and a GAN resumed from its checkpoint adds the
updates it had made: neither is this run's pace, so both stay out of the ETA, which is the work left
over the work done since this run started (tqdm's average rate: a GAN's steady updates and the
classifier runs that move the bar only when they end average out, where a smoothed rate swings with
each report). In a log file (not a terminal) the bar is redrawn at most every `file_refresh_interval`
seconds and when a unit ends, so the file holds a readable line per event.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

from ganaug.gan.progress import is_terminal


class BenchmarkProgress:
    """`move(unit, fraction)` as a unit that reports progress advances; `finish(unit)` when a unit ends.

    The first fraction a unit reports in this run is where it starts (a GAN reports its restored count
    before its first update): work done before this run, counted as such.
    """

    # The units and the running stage go in tqdm's description: its postfix would start with ", ".
    BAR_FORMAT = "benchmark: {percentage:3.0f}%|{bar}| {desc} [{elapsed}<{remaining}]"

    def __init__(self, total: float, units_total: int, units_done: int, work_done: float = 0.0,
                 enabled: bool = True, refresh_interval: float = 0.5, file_refresh_interval: float = 30.0):
        self.units_total, self.units_done = units_total, units_done
        self._moved: dict[str, float] = {}
        self.bar = tqdm(total=total, initial=work_done, unit="work", dynamic_ncols=True,
                        smoothing=0, bar_format=self.BAR_FORMAT, disable=not enabled,
                        mininterval=refresh_interval if is_terminal(sys.stderr) else file_refresh_interval)
        self.bar.set_description_str(self._units(), refresh=False)

    def _units(self, stage: str = "") -> str:
        return f"{self.units_done}/{self.units_total} units" + (f" | {stage}" if stage else "")

    def start(self, unit) -> None:
        """`unit` starts (shown in the bar; used when one unit runs at a time)."""
        self.bar.set_description_str(self._units(unit.stage))

    def move(self, unit, fraction: float) -> None:
        # A GAN is most of the benchmark's time: the bar moves with its updates, not only when it ends.
        work = unit.cost * min(max(float(fraction), 0.0), 1.0)
        if unit.id not in self._moved:
            self._moved[unit.id] = work
            if not self.bar.disable:  # a disabled tqdm has no `initial`
                self.bar.initial += work  # done before this run: not its pace
            self.bar.n += work
        elif (step := work - self._moved[unit.id]) > 0:
            self._moved[unit.id] = work
            self.bar.update(step)
        self.bar.set_description_str(self._units(f"{unit.stage} {fraction:.0%}"), refresh=False)

    def finish(self, unit) -> None:
        self.units_done += 1
        self.bar.update(unit.cost - self._moved.pop(unit.id, 0.0))
        self.bar.set_description_str(self._units())

    def close(self) -> None:
        self.bar.set_description_str(self._units("done"))
        self.bar.close()

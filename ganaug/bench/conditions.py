"""The benchmark's training conditions: what goes into the classifier's batches."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from ganaug.errors import ConfigError
from ganaug.mix.plan import MAX_RATIO


@dataclass(frozen=True)
class Condition:
    name: str
    ratio: float = 0.0       # expected fraction of synthetic items per batch
    classical: bool = False  # albumentations pipeline on every item (real and synthetic)
    filtered: bool = False   # synthetic items from the classifier-confidence-filtered bank
    reweight: bool = False   # class-balanced sampling of the real images (long-tail baseline)

    @property
    def synthetic(self) -> bool:
        return self.ratio > 0


def condition_name(ratio: float, classical: bool, filtered: bool) -> str:
    parts = (["classical"] if classical else []) + ([f"syn{ratio:g}" + ("-filt" if filtered else "")] if ratio else [])
    return "+".join(parts) or "real"


def _ratio(r) -> float:
    if isinstance(r, bool) or not isinstance(r, (int, float)):
        raise ConfigError(f"bench.ratios must list numbers (the synthetic share of each batch), got {r!r}")
    # Here, not only in engine.SyntheticUse: a ratio that is not > 0 (-0.25, nan) never builds one, and its
    # condition would run as real only under a synthetic name (0: twice, as `real` and `classical` already are).
    if not 0.0 < r <= MAX_RATIO:
        raise ConfigError(f"bench.ratios must lie in (0, {MAX_RATIO}] (the synthetic share of each batch; real only "
                          f"and classical run in every benchmark), got {r!r}")
    return float(r)


# What each condition key lists, and an example of one: a single value typed without brackets (bench.ratios=0.25)
# met "... is not iterable" before.
LISTS = {"ratios": ("synthetic shares", "[0.25, 0.5]"), "filter_options": ("true/false", "[false, true]"),
         "classical_synthetic_filter_options": ("true/false", "[false]")}


def check_list(name: str, key: str, value) -> None:
    """Refuse a condition key (`LISTS`) set to one value instead of a list; ``name``: the setting as the user set it."""
    if OmegaConf.is_list(value) or isinstance(value, (list, tuple)):
        return
    what, example = LISTS[key]
    if isinstance(value, bool):
        example = f"[{str(value).lower()}]"
    elif isinstance(value, (int, float)) and key == "ratios":
        example = f"[{value}]"
    raise ConfigError(f"{name} must be a list of {what}, got {value!r}; set e.g. {name}={example}")


def _flags(bench: DictConfig, key: str) -> list[bool]:
    check_list(f"bench.{key}", key, bench[key])
    values = list(bench[key])
    if not all(isinstance(v, bool) for v in values):  # any string or number would count as true
        raise ConfigError(f"bench.{key} must list true/false (false: the unfiltered bank), got {values}")
    return values


def conditions_for(bench: DictConfig, imbalanced: bool = False) -> list[Condition]:
    """real; classical; synthetic at each ratio with and without the filter; classical + synthetic.

    An imbalanced regime also gets classical + class reweighting: what a user would do about a long
    tail without ganaug, so the synthetic conditions (which fill the rare classes) must beat it too.
    """
    out = [Condition("real"), Condition("classical", classical=True)]
    if imbalanced:
        out.append(Condition("classical+reweight", classical=True, reweight=True))
    check_list("bench.ratios", "ratios", bench.ratios)
    ratios = [_ratio(r) for r in bench.ratios]
    if not ratios:  # no synthetic condition, yet every GAN would still train
        raise ConfigError("bench.ratios is empty: list the synthetic shares to measure, e.g. bench.ratios=[0.25]; for "
                          "the baselines alone, select them: only='[*/real/*,*/classical/*]'")
    for filtered in _flags(bench, "filter_options"):
        for r in ratios:
            out.append(Condition(condition_name(r, False, filtered), r, False, filtered))
    for filtered in _flags(bench, "classical_synthetic_filter_options"):
        for r in ratios:
            out.append(Condition(condition_name(r, True, filtered), r, True, filtered))
    return list(dict.fromkeys(out))  # a value listed twice is the same condition, planned once

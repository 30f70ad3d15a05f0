"""`ganaug-tune`: tune_mix on the composed config's data split (conf/tune.yaml)."""

from __future__ import annotations

import re

from omegaconf import DictConfig, OmegaConf

from ganaug.cli.command import hydra_command
from ganaug.base.checks import check_path
from ganaug.errors import ConfigError
from ganaug.gan.artifact import read_generator_meta
from ganaug.eval.tune import TuneError, TuneResult, TuneSettings, find_generators, tune_mix


def _cli_generators(cfg: DictConfig) -> list[str]:
    gens = cfg.get("generators") or []
    gens = [gens] if isinstance(gens, str) else list(gens)
    for i, g in enumerate(gens):  # [null] or [1]: os.fspath's TypeError before
        check_path(f"generators[{i}]", g, "set generators=[runs/<run>/generator, ...]", error=TuneError)
    if cfg.get("snapshots"):
        gens = [str(p) for p in find_generators(cfg.snapshots)] + gens
    if not gens:
        raise TuneError("no generator given: set generators=[runs/<run>/generator] and/or "
                        "snapshots=runs/<run>/snapshots")
    return gens


def _check_split(generators: list[str], data_cfg: DictConfig) -> None:
    # A GAN that saw the validation images makes its synthetic candidates look better than they
    # are; generators exported without a recorded split (older ganaug) cannot be checked.
    from ganaug.gan.train import data_split

    wanted = data_split(data_cfg)
    for g in generators:
        seen = read_generator_meta(g).get("data_split")  # the JSON alone: tune_mix loads the weights
        if seen is None:
            continue
        if seen != wanted:
            diff = ", ".join(f"data.{k}={seen.get(k)} (here {wanted[k]})" for k in wanted if seen.get(k) != wanted[k])
            raise TuneError(f"{g} was trained on another split of the data: {diff}. Its training images may "
                            "include the validation images the choice is made on; run ganaug-tune with the "
                            "GAN's data options, or train the GAN with these")


def _as_set(message: str, params: dict) -> str:
    """tune_mix's message with its argument named as the command line sets it (ratios -> tune.ratios)."""
    key = next((k for k in sorted(params, key=len, reverse=True) if re.match(rf"{re.escape(k)}[ =\[:]", message)),
               None)
    if key is None:
        return message
    return f"tune.{message}".replace(f"e.g. {key}=", f"e.g. tune.{key}=").replace(f"lower {key}", f"lower tune.{key}")


def run_tune(cfg: DictConfig) -> TuneResult:
    """`ganaug-tune` with a composed config (conf/tune.yaml): the data module's train/val split."""
    from hydra.utils import instantiate

    from ganaug.base.checks import check_flags
    from ganaug.base.resources import set_threads

    check_flags(cfg, "progress")
    if not isinstance(cfg.get("tune"), DictConfig):
        raise ConfigError(f"tune={cfg.get('tune')!r}: the tune's settings are a group (tune.steps=..., tune.ratios=...); "
                          "leave tune out to take conf/tune.yaml's, or set its keys one by one")
    generators = _cli_generators(cfg)  # before the data is read
    set_threads(cfg)
    dm = instantiate(cfg.data)
    if len(dm.val_set) == 0:
        raise TuneError(f"the validation split is empty (data.val_fraction={cfg.data.get('val_fraction')}); set "
                        "data.val_fraction (e.g. 0.2), the same value and data.data_seed the GAN was trained with")
    transform = instantiate(cfg.augment) if cfg.get("augment") else None
    params = OmegaConf.to_container(cfg.tune, resolve=True)
    _check_split(generators, cfg.data)
    try:
        result = tune_mix(generators, dm.train_set, dm.val_set, TuneSettings.from_config(params), out_dir=cfg.out_dir,
                          transform=transform, progress=cfg.get("progress", True))
    except (TuneError, ConfigError) as e:
        raise type(e)(_as_set(str(e), params)) from None
    print(result.markdown())
    print(f"wrote {result.json_path}, {result.markdown_path}, {result.recipe_path} and {result.mix_path}")
    return result


main = hydra_command("ganaug-tune", "tune", run_tune, output="out_dir=...")


if __name__ == "__main__":
    main()

"""`ganaug-sample`: write labelled synthetic images (and a grid) from an exported generator."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from ganaug.mix.bank import META_FILE as BANK_META
from ganaug.mix.bank import SyntheticBank, check_bank_fits
from ganaug.mix.class_policy import class_probabilities, plain_policy
from ganaug.base.checks import check_dir_setting, check_flags, fraction
from ganaug.cli.command import hydra_command
from ganaug.base.dir_lock import hold_dir
from ganaug.eval.engine import resolve_device
from ganaug.errors import ConfigError
from ganaug.base.files import atomic_write_bytes, check_unlinked, is_int, make_dir, make_setting_dir
from ganaug.gan.artifact import load_generator
from ganaug.mix.filter import QualityFilter
from ganaug.gan.grid import save_grid
from ganaug.base.rng import check_seed, check_truncation
from ganaug.gan.sampling import TrainedGenerator

log = logging.getLogger(__name__)


def save_samples_npz(path: Path, images: np.ndarray, labels: np.ndarray, class_names: list[str]) -> Path:
    buf = io.BytesIO()
    np.savez(buf, images=images, labels=labels, class_names=np.array(class_names))
    atomic_write_bytes(path, buf.getvalue())
    return path


def _safe_dirname(name: str) -> str:
    # Leading dots too: "." and ".." name png/ itself and out/, and an image folder reader skips hidden folders.
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    return re.sub(r"^\.+", lambda m: "_" * len(m.group()), name) or "_"


def class_dirnames(class_names: list[str]) -> list[str]:
    """One folder name per class for png/<class>/. Two names made alike ("a b" and "a_b", or "Cat" and
    "cat" on a case-insensitive disk) would merge two classes into one folder, read back as one class:
    then every folder is prefixed with its class index."""
    names = [_safe_dirname(n) for n in class_names]
    if len({n.lower() for n in names}) < len(names):
        names = [f"{k:0{len(str(len(names) - 1))}d}_{n}" for k, n in enumerate(names)]
        log.warning("class names %s give the same folder name once made safe for a file system; the png "
                    "folders are prefixed with the class index: %s", class_names, names)
    return names


def _setting_error(name: str, expected: str, value, example: str) -> ConfigError:
    return ConfigError(f"{name} must be {expected}, got {value!r}; set e.g. {name}={example}")


def check_settings(cfg: DictConfig) -> None:
    """Refuse out-of-range numbers by their setting's name, before anything is loaded or written."""
    def whole(name, value, low, example):
        if not is_int(value) or value < low:
            expected = "a positive integer" if low == 1 else f"an integer >= {low}"
            raise _setting_error(name, expected, value, example)

    whole("n_per_class", cfg.n_per_class, 1, 100)
    whole("batch_size", cfg.batch_size, 1, 500)
    whole("grid_per_class", cfg.grid_per_class, 1, 10)
    check_seed(cfg.seed, "seed", "set e.g. seed=0")
    check_flags(cfg, "png", "progress", "bank.enabled", "bank.overwrite")
    check_truncation(cfg.truncation)
    resolve_device(cfg.device)  # device=cuda where torch has none: a message, not torch's assertion
    b = cfg.get("bank")
    if b is not None and b.enabled:
        whole("bank.size", b.size, 1, 10000)
        whole("bank.filter_steps", b.filter_steps, 1, 500)
        th = b.filter_threshold
        if th is not None and (isinstance(th, bool) or not isinstance(th, (int, float)) or not 0 <= th <= 1):
            raise _setting_error("bank.filter_threshold", "a probability in [0, 1] (or null for no filter)", th, "0.9")
        # Checked here, not once the samples are written: a bank refused then left samples.npz behind, exit 2.
        check_dir_setting(b.path, "bank.path")  # null: a bank made, then thrown away
        QualityFilter.check_fallback(b.get("filter_fallback"), "bank.filter_fallback")
        if fraction("bank.filter_class_quantile", b.get("filter_class_quantile"), allow_none=True) is not None:
            frac = b.calibration_fraction
            if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0.0 < frac < 1.0:
                raise ConfigError(f"bank.calibration_fraction must lie in (0, 1) with bank.filter_class_quantile "
                                  f"set, got {frac!r}; set e.g. bank.calibration_fraction=0.2")
        if b.get("dataset_kwargs") is not None and not isinstance(b.dataset_kwargs, (dict, DictConfig)):
            raise _setting_error("bank.dataset_kwargs", "a mapping of the dataset's arguments", b.dataset_kwargs,
                                 "{n_per_class: 100}")
        if Path(b.path).resolve() == Path(cfg.out).resolve():
            # One writer per directory: ganaug-sample holds out while the bank is written.
            raise ConfigError(f"bank.path is out itself ({cfg.out}): give the bank its own directory, e.g. the "
                              "default bank.path=${out}/bank")


def _calibration_split(b: DictConfig, real, seed: int):
    """The filter's training images, and the held-out real images its per-class calibration reads.

    Calibrating on images the filter's classifier was trained on would read its overconfidence on
    them as the confidence it has in a real image of that class, so a stratified share is held out.
    """
    if b.get("filter_class_quantile") is None:
        return real, None
    from ganaug.data.subsets import train_val_split

    return train_val_split(real, float(b.calibration_fraction), seed)  # both checked by check_settings


def prepare_bank(cfg: DictConfig, gen: TrainedGenerator):
    """The real data the `bank` part reads, and its settings checked against this generator.

    Done before the samples are drawn: a class policy or dataset that cannot work is a message in a
    second, not after the samples are written. Returns (real data or None, the filter's
    (training, calibration) split or None).
    """
    b = cfg.bank
    policy = b.class_policy
    needs_data = (isinstance(policy, str) and policy in ("match", "balance")) or b.filter_threshold is not None
    real = None
    if b.dataset is not None:
        from ganaug.data import load_dataset

        kwargs = dict(b.dataset_kwargs or {})
        if "split" in kwargs:  # load_dataset's own TypeError ("multiple values for 'split'") named no setting
            raise ConfigError(f"bank.dataset_kwargs.split={kwargs['split']} is not taken: the bank's class policy and "
                              "filter read the dataset's train split, the images the GAN learned from; drop it")
        try:
            real = load_dataset(b.dataset, split="train", **kwargs)
        except ConfigError as e:  # a keyword load_dataset does not take: it came from here
            raise ConfigError(f"{e} (in bank.dataset_kwargs)") from None
        if real.num_classes != gen.num_classes or tuple(real.image_shape) != gen.image_shape:
            raise ConfigError(
                f"bank.dataset={b.dataset} has {real.num_classes} classes of {real.image_shape} images but "
                f"the generator makes {gen.num_classes} of {gen.image_shape}; pick the dataset it was trained on"
            )
    elif needs_data:
        raise ConfigError(
            "bank.class_policy=match/balance and bank.filter_threshold need the real data: set "
            "bank.dataset=<name> (e.g. digits), or use bank.class_policy=uniform without a filter"
        )
    k = gen.num_classes
    counts = None if real is None else np.bincount(np.asarray(real.labels, dtype=np.int64), minlength=k)
    try:
        class_probabilities(policy, k, counts, n_new=int(b.size), class_names=gen.class_names)
    except ValueError as e:
        raise ConfigError(f"bank.class_policy={plain_policy(policy)!r}: {e}") from e
    split = None if b.filter_threshold is None else _calibration_split(b, real, int(cfg.seed))
    return real, split


def write_bank(cfg: DictConfig, gen: TrainedGenerator, real, split) -> dict:
    """The `bank` part of the config: a SyntheticBank directory, optionally filtered (`prepare_bank` first)."""
    b = cfg.bank
    qfilter = None
    if split is not None:
        fit, held = split
        log.info("training the filter's classifier for %d steps", int(b.filter_steps))
        qfilter = QualityFilter.from_real(
            fit.images, fit.labels, real.num_classes, threshold=float(b.filter_threshold),
            steps=int(b.filter_steps), seed=int(cfg.seed), device=gen.device,
            fallback=b.get("filter_fallback"),
        )
        if held is not None:
            qfilter.calibrate(held.images, held.labels, float(b.filter_class_quantile))
            log.info("filter calibrated on %d held-out real images: %s", len(held), qfilter.describe())
    bank = SyntheticBank.generate(
        gen,
        int(b.size),
        None if b.path is None else make_setting_dir(b.path, "bank.path"),
        class_policy=b.class_policy,
        real_labels=None if real is None else real.labels,
        truncation=cfg.truncation,
        seed=int(cfg.seed),
        batch_size=int(cfg.batch_size),
        filter=qfilter,
        progress=bool(cfg.get("progress", True)),
        overwrite=bool(b.get("overwrite", False)),
    )
    if bank.acceptance:
        log.info("filter acceptance per class: %s", {k: v["rate"] for k, v in bank.acceptance.items()})
    log.info("wrote a bank of %d images to %s", len(bank), bank.path)
    return {"bank": str(bank.path), "acceptance": bank.acceptance}


def sample(cfg: DictConfig) -> dict:
    check_settings(cfg)
    gen = load_generator(cfg.generator, device=resolve_device(cfg.device))
    with_bank = bool(cfg.get("bank") and cfg.bank.enabled)
    if with_bank:  # by the name it was set with, before anything is written
        check_bank_fits(gen, int(cfg.bank.size), cfg.bank.path, "bank.size")
        if cfg.bank.path is not None and (Path(cfg.bank.path) / BANK_META).exists() and not cfg.bank.get("overwrite"):
            # A tune or a recipe may have measured that bank: replacing it in place changes what they stand on.
            raise ConfigError(f"a bank already exists at bank.path={cfg.bank.path}; a tune or recipe that measured it "
                              "would stand on other images: give another bank.path, or set bank.overwrite=true to "
                              "replace it")
        real, split = prepare_bank(cfg, gen)
    # before sampling: an unwritable out fails in a second, not after minutes; and one ganaug-sample per out
    with hold_dir(cfg.out, "ganaug-sample", "out") as out:
        if with_bank:
            check_unlinked(cfg.bank.path)  # a link planted below out: refused before the samples are written
        images, labels = gen.sample(n_per_class=int(cfg.n_per_class), seed=int(cfg.seed), truncation=cfg.truncation,
                                    batch_size=int(cfg.batch_size))
        npz = save_samples_npz(out / "samples.npz", images, labels, gen.class_names)
        k = min(int(cfg.grid_per_class), int(cfg.n_per_class))
        per_class = np.stack([np.flatnonzero(labels == c)[:k] for c in range(gen.num_classes)]).reshape(-1)
        grid = save_grid(out / "grid.png", images[per_class], gen.class_names,
                         title=f"{cfg.generator} (seed {cfg.seed})")
        if cfg.png:
            import cv2

            folders = class_dirnames(gen.class_names)
            for i, (img, y) in enumerate(zip(images, labels)):
                d = make_dir(out / "png" / folders[y])
                ok, data = cv2.imencode(".png", img if img.shape[2] == 1 else img[..., ::-1])
                atomic_write_bytes(d / f"{i:06d}.png", data.tobytes())
        log.info("wrote %d images to %s", len(images), npz)
        result = {"samples": str(npz), "grid": str(grid), "n": len(images)}
        if with_bank:
            result.update(write_bank(cfg, gen, real, split))
        return result


main = hydra_command("ganaug-sample", "sample", sample, output="out=... or bank.path=...",
                     on_interrupt="nothing was left half-written; rerun the command to sample again")


if __name__ == "__main__":
    main()

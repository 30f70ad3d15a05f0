"""Which classes synthetic images are drawn for: `match`, `uniform`, `balance` or explicit weights.

Labels are assigned by exact quotas (largest remainder), not independent draws, so an epoch's
synthetic class counts are what the policy says, not a noisy sample of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np

from ganaug.errors import ConfigError

POLICIES = ("match", "uniform", "balance")

ClassPolicy = Union[str, Mapping, Sequence[float], np.ndarray]


def plain_policy(policy: Any) -> Any:
    """A class policy as plain values: a name, a dict of weights, or a tuple of weights.

    The one normalisation of a policy from Hydra (DictConfig/ListConfig), numpy or Python: hashable
    for fingerprints, JSON-able for bank.json and tune's recipe, and simple for the checks below.
    """
    if type(policy).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        policy = OmegaConf.to_container(policy, resolve=True)
    if policy is None or isinstance(policy, str):
        return policy
    try:
        if isinstance(policy, Mapping):
            return {k: float(v) for k, v in policy.items()}
        return tuple(float(w) for w in np.asarray(policy, dtype=np.float64).ravel())
    except (TypeError, ValueError):
        return policy  # not numbers: class_probabilities names the problem


def _not_numbers(policy: Any) -> ConfigError:
    return ConfigError(f"class_policy weights must be numbers, got {policy!r}; give one weight per class, e.g. "
                       "[1, 1, 2], or {class: weight}")


def _weight(value: Any, policy: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _not_numbers(policy) from None


def _explicit_weights(policy: Any, num_classes: int, class_names: Sequence[str] | None) -> np.ndarray:
    if isinstance(policy, Mapping):
        w = np.zeros(num_classes)
        names = list(class_names) if class_names is not None else []
        for key, value in policy.items():
            if isinstance(key, str) and key in names:
                k = names.index(key)
            elif isinstance(key, (int, np.integer)) and not isinstance(key, bool) and 0 <= key < num_classes:
                k = int(key)
            else:
                raise ConfigError(
                    f"class_policy has weight for unknown class {key!r}; use a class index in "
                    f"[0, {num_classes}) or one of the class names {names}"
                )
            w[k] = _weight(value, policy)
    else:
        try:
            w = np.asarray(policy, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise _not_numbers(policy) from None
        if w.shape != (num_classes,):
            raise ConfigError(
                f"class_policy weights have {w.size} entries, one per class is needed ({num_classes})"
            )
    if not np.all(np.isfinite(w)) or w.min() < 0 or w.sum() <= 0:
        raise ConfigError(
            f"class_policy weights must be finite and non-negative with a positive sum, got {w.tolist()}"
        )
    return w


def class_probabilities(
    policy: ClassPolicy,
    num_classes: int,
    counts: np.ndarray | None = None,
    n_new: int | None = None,
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Probability of each class for a synthetic image.

    match: ∝ real counts. uniform: equal. balance: fill each class's deficit to the largest class
    (∝ n_max − n_k); synthetic images beyond the total deficit (`n_new` of them) are spread evenly,
    so minorities are never pushed past the majority; with no deficit this is uniform. A mapping
    {class index or name: weight} or a sequence of K weights gives explicit weights.
    """
    policy = plain_policy(policy)
    if isinstance(policy, str):
        if policy not in POLICIES:
            raise ConfigError(
                f"unknown class_policy {policy!r}; use one of {list(POLICIES)}, a list of "
                f"{num_classes} weights, or a {{class: weight}} mapping"
            )
        if policy == "uniform":
            return np.full(num_classes, 1.0 / num_classes)
        if counts is None:
            raise ConfigError(
                f"class_policy={policy!r} needs the real class counts: pass real_labels "
                "(or use class_policy='uniform')"
            )
        counts = np.asarray(counts, dtype=np.float64)
        if counts.shape != (num_classes,) or counts.sum() <= 0:
            raise ConfigError(f"real class counts must be {num_classes} non-negative numbers, not all 0")
        if policy == "match":
            return counts / counts.sum()
        deficit = counts.max() - counts
        total = deficit.sum()
        if total == 0:
            return np.full(num_classes, 1.0 / num_classes)
        if n_new is not None and n_new > total:
            deficit = deficit + (n_new - total) / num_classes
        return deficit / deficit.sum()
    if isinstance(policy, (bytes, bool)) or policy is None:
        raise ConfigError(f"class_policy must be a name in {list(POLICIES)} or weights, got {policy!r}")
    w = _explicit_weights(policy, num_classes, class_names)
    return w / w.sum()


def quota(probs: np.ndarray, n: int) -> np.ndarray:
    """Integer counts summing to n, as close to n * probs as possible (largest remainder)."""
    exact = np.asarray(probs, dtype=np.float64) * n
    counts = np.floor(exact).astype(np.int64)
    short = n - int(counts.sum())
    if short > 0:
        # Stable order so that ties resolve the same way on every machine.
        counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return counts


def quota_labels(probs: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n int64 labels with exact `quota` counts, in random order."""
    counts = quota(probs, n)
    return rng.permutation(np.repeat(np.arange(len(counts), dtype=np.int64), counts))

"""Counter-based random numbers: the value drawn for (key, counter) does not depend on who asks first.

DataLoader workers fetch synthetic items in an order set by the sampler and the worker count.
Deriving each item's noise from its own counter makes the content independent of both, so there
is no per-worker RNG state to keep distinct, and no way for two workers to repeat each other.
"""

from __future__ import annotations

import numpy as np

from ganaug.errors import ConfigError

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1
_TWO_PI = 2.0 * np.pi


def _mix(x: np.ndarray) -> np.ndarray:
    # SplitMix64's finaliser. uint64 *arrays* wrap modulo 2**64 silently, which is what a hash
    # wants; numpy scalars would warn on overflow, so callers always pass arrays.
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def derive_key(*parts: int) -> int:
    """One 64-bit key from integers (seed, epoch, a purpose tag, ...); order matters."""
    h = np.zeros(1, dtype=np.uint64)
    for p in parts:
        h = _mix((h ^ np.array([int(p) & _MASK64], dtype=np.uint64)) + _GOLDEN)
    return int(h[0])


def uniform(key: int, counters: np.ndarray) -> np.ndarray:
    """float64 in the open interval (0, 1), one per counter (any shape of non-negative ints)."""
    c = np.asarray(counters).astype(np.uint64)
    x = _mix(c * _GOLDEN + np.array(key & _MASK64, dtype=np.uint64))
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * (2.0**-53)


# Truncation redraws every entry with |z| > t: 1 / P(|z| <= t) ≈ 1.25 / t draws per entry, and
# about as many rounds, so 1e-6 means a million rounds, a hang. BigGAN's smallest threshold is
# 0.04; at 0.02 (some 60 draws an entry) z is already within 0.02 of the mode z = 0, so smaller
# thresholds would give no other images, only a longer wait.
MIN_TRUNCATION = 0.02


def check_seed(seed, name: str = "seed", fix: str = "") -> int:
    """``seed`` as an int; refuses what no reader of the result accepts (a bank records its seed) and what
    would be cut to another seed (1.7 drew seed 1's images). ``fix`` ends the message (e.g. "set e.g. seed=0")."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {seed!r}" + (f"; {fix}" if fix else ""))
    return int(seed)


def check_truncation(truncation: float | None) -> float | None:
    """`truncation` as a float, or None; refuses thresholds whose rejection sampling would not end."""
    if truncation is None:
        return None
    if isinstance(truncation, bool) or not isinstance(truncation, (int, float, np.integer, np.floating)):
        raise ConfigError(f"truncation must be a number (or None for none), got {truncation!r}")
    t = float(truncation)
    if not t >= MIN_TRUNCATION:
        cost = f" (about {1.25 / t:.3g} draws an entry)" if t > 0 else ""
        raise ConfigError(
            f"truncation must be >= {MIN_TRUNCATION}, or None for no truncation, got {truncation}: noise "
            f"entries are redrawn until |z| <= truncation{cost}, which would not end; at {MIN_TRUNCATION} "
            f"z is already within {MIN_TRUNCATION} of the mode, so smaller values give no other images"
        )
    return t


def normal(key: int, rows: np.ndarray, width: int, truncation: float | None = None) -> np.ndarray:
    """float32 (len(rows), width) standard normals; row r is the same whatever else is drawn.

    With `truncation` t, entries with |z| > t are redrawn (from further keys) until none is left,
    (BigGAN's truncation trick).
    """
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    if rows.size and rows.min() < 0:
        raise ValueError("counter rows must be non-negative")
    half = (width + 1) // 2
    pair = rows[:, None].astype(np.uint64) * np.uint64(half) + np.arange(half, dtype=np.uint64)
    u1, u2 = uniform(key, pair * np.uint64(2)), uniform(key, pair * np.uint64(2) + np.uint64(1))
    r, t = np.sqrt(-2.0 * np.log(u1)), _TWO_PI * u2
    z = np.concatenate([r * np.cos(t), r * np.sin(t)], axis=1)[:, :width]
    if truncation is not None:
        truncation = check_truncation(truncation)
        elem = rows[:, None].astype(np.uint64) * np.uint64(width) + np.arange(width, dtype=np.uint64)
        round_ = 0
        mask = np.abs(z) > truncation
        while mask.any():
            round_ += 1
            k = derive_key(key, round_)
            e = elem[mask]
            v1, v2 = uniform(k, e * np.uint64(2)), uniform(k, e * np.uint64(2) + np.uint64(1))
            z[mask] = np.sqrt(-2.0 * np.log(v1)) * np.cos(_TWO_PI * v2)
            mask = np.abs(z) > truncation
    return z.astype(np.float32)


# Noise tag of a bank's draws (ganaug.mix.bank) and of `sample_noise`: one seed, one noise.
SAMPLE_NOISE_TAG = 0xB2


def sample_noise(seed: int, n: int, width: int, truncation: float | None = None) -> np.ndarray:
    """float32 (n, width) noise for items 0..n-1 under `seed`; row i is item i's whatever n is.

    The noise `TrainedGenerator.sample(seed=...)` and `SampleGrid` draw, and the first round of
    `SyntheticBank.generate(seed=...)`: the same seed gives the same images either way.
    """
    return normal(derive_key(int(seed), SAMPLE_NOISE_TAG, 0), np.arange(int(n)), int(width), truncation)


def numpy_rng(*parts: int) -> np.random.Generator:
    """A numpy Generator for permutations and quotas, keyed like `derive_key`."""
    return np.random.default_rng(derive_key(*parts))

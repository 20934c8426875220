"""Every seed helper in one place: each random choice of the system derives from the config seed
through these (same config -> same numbers).

- `rng_for(*keys)`: a numpy Generator from seeds and names (stable across processes: names are
  hashed with SHA-256, not Python's salted `hash`); splits, subsamples, evaluation pools.
- `hash_seed(*keys)`: a 31-bit integer seed from the same material (a unit's seed, a library's
  `random_state`).
- `derive_seed(seed, *keys)`: a 63-bit seed for the stream `keys` under `seed` (SeedSequence spawn
  keys): the independent streams inside one model (split, initialisation, noise per member, ...).
"""

from __future__ import annotations

import hashlib

import numpy as np


def rng_for(*keys: int | str) -> np.random.Generator:
    """A Generator derived from a tuple of seeds / names (stable across processes)."""
    material = [k if isinstance(k, int) else int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "little")
                for k in keys]
    return np.random.default_rng(np.random.SeedSequence(material))


def hash_seed(*keys: int | str) -> int:
    """A 31-bit seed derived from several keys."""
    return int(rng_for(*keys).integers(0, 2**31 - 1))


def derive_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed for the stream ``keys`` under ``seed`` (SeedSequence spawn key)."""
    state = np.random.SeedSequence(seed, spawn_key=tuple(keys)).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))

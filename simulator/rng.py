"""Named random streams derived from one seed, so each source of randomness is independent.

Every stream is a `numpy.random.Generator` whose seed sequence is `(seed, stable key of
the name)`: adding a new name, or drawing more from one stream, never changes the numbers
another stream gives. Nothing in the simulator uses global random state.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from traces.errors import UserError

STREAM_NAMES: tuple[str, ...] = ("arrivals", "durations", "failures", "tiebreak", "placement", "estimates", "policy")


def _name_key(name: str) -> int:
    """A stable 32-bit key for a stream name (CRC-32: the same on every platform and run)."""
    return zlib.crc32(name.encode("utf-8"))


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator for `name` under `seed`; the same pair always gives the same numbers."""
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise UserError(f"a seed must be an integer >= 0, got {seed!r}")
    if name not in STREAM_NAMES:
        raise ValueError(f"unknown random stream {name!r}; known: {', '.join(STREAM_NAMES)}")
    seq = np.random.SeedSequence(entropy=int(seed), spawn_key=(_name_key(name),))
    return np.random.Generator(np.random.PCG64(seq))


@dataclass(frozen=True, slots=True)
class Streams:
    """One generator per stream name for a run; build with `Streams.from_seed`."""

    seed: int
    arrivals: np.random.Generator
    durations: np.random.Generator
    failures: np.random.Generator
    tiebreak: np.random.Generator
    placement: np.random.Generator
    estimates: np.random.Generator
    policy: np.random.Generator

    @staticmethod
    def from_seed(seed: int) -> Streams:
        return Streams(seed, *(stream(seed, name) for name in STREAM_NAMES))

    def __getitem__(self, name: str) -> np.random.Generator:
        if name not in STREAM_NAMES:
            raise KeyError(name)
        gen: np.random.Generator = getattr(self, name)
        return gen

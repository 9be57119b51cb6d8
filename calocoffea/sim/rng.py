"""Independent, reproducible random streams keyed by (seed, process, kind)."""

from __future__ import annotations

import zlib

import numpy as np


def stream_key(seed: int, process: str, kind: str) -> list[int]:
    """SeedSequence entropy for one file: the user seed plus stable hashes of the names."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return [int(seed), zlib.crc32(process.encode()), zlib.crc32(kind.encode())]


def chunk_generators(
    seed: int, process: str, kind: str, n_chunks: int
) -> list[np.random.Generator]:
    """One PCG64 generator per chunk, spawned from the file's SeedSequence."""
    ss = np.random.SeedSequence(stream_key(seed, process, kind))
    return [np.random.Generator(np.random.PCG64(s)) for s in ss.spawn(n_chunks)]

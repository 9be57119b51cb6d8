"""Write :class:`~calocoffea.sim.pipeline.Columns` to a NanoAOD-style ROOT TTree ``Events``.

Floats are stored as float32 with the low mantissa bits zeroed where the physics allows
(cell energies and times are noise/resolution dominated), which makes the compressor's job
much easier; the kept precision per branch is listed in :data:`MANTISSA_BITS`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from calocoffea.sim.pipeline import Columns

log = logging.getLogger(__name__)

#: Kept float32 mantissa bits (of 23) per branch; absent = full float32.
#: Relative precision is 2^-(bits+1): 10 bits ~ 5e-4, 7 bits ~ 4e-3.
MANTISSA_BITS: dict[str, int] = {
    "CaloCell_e": 10,
    "CaloCell_time": 7,
    "CaloCell_eta": 16,
    "CaloCell_phi": 16,
    "CaloCell_deta": 16,
    "CaloCell_dphi": 16,
    "Track_pt": 12,
    "Track_eta": 14,
    "Track_phi": 14,
    "Track_d0": 10,
    "Track_z0": 12,
    "Track_d0Sig": 8,
    "GenPart_mass": 12,
    "Pileup_nTrueInt": 12,
}

#: Integer branch dtypes (everything else float32).
INT_DTYPES = {np.dtype(np.int64): np.int32}


def truncate_mantissa(x: np.ndarray, bits: int) -> np.ndarray:
    """float32 copy of ``x`` keeping ``bits`` mantissa bits (round to nearest)."""
    f = np.ascontiguousarray(x, dtype=np.float32)
    if bits >= 23:
        return f
    drop = 23 - bits
    u = f.view(np.uint32).astype(np.uint64)
    u = (u + (1 << (drop - 1))) & ~np.uint64((1 << drop) - 1)
    out = (u & 0xFFFFFFFF).astype(np.uint32).view(np.float32)
    return np.where(np.isfinite(f), out, f)


def _store(name: str, arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        return truncate_mantissa(arr, MANTISSA_BITS.get(name, 23))
    if arr.dtype == np.int64:
        return arr.astype(np.int32)
    return arr


def to_branches(cols: Columns) -> dict[str, ak.Array | np.ndarray]:
    """Branch dict for uproot: flat event arrays plus one jagged record array per collection."""
    out: dict[str, ak.Array | np.ndarray] = {}
    for name, arr in cols.event.items():
        out[name] = _store(name, arr)
    for coll, (counts, fields) in cols.collections.items():
        n_total = int(np.sum(counts))
        for f, v in fields.items():
            if len(v) != n_total:
                raise ValueError(f"{coll}_{f}: {len(v)} entries but counts sum to {n_total}")
        rec = ak.zip({f: _store(f"{coll}_{f}", v) for f, v in fields.items()}, depth_limit=1)
        out[coll] = ak.unflatten(rec, np.asarray(counts, dtype=np.int64))
    return out


class EventsWriter:
    """Appends chunks of :class:`Columns` to the ``Events`` TTree of a new ROOT file."""

    def __init__(self, path: str | Path, compression_level: int = 6) -> None:
        self.path = Path(path)
        self._file = uproot.recreate(self.path, compression=uproot.ZSTD(compression_level))
        self._tree = None
        self.n_events = 0

    def write(self, cols: Columns) -> None:
        branches = to_branches(cols)
        if self._tree is None:
            types = {
                k: (v.type.content if isinstance(v, ak.Array) else v.dtype)
                for k, v in branches.items()
            }
            self._tree = self._file.mktree("Events", types, title="calocoffea fast simulation")
        self._tree.extend(branches)
        self.n_events += cols.n_events

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> EventsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

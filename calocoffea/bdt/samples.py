"""Read electrons or photons with their BDT input columns (and truth energy) from a file.

Flattens the NanoAOD-style ``Events`` tree (docs/data_format.md) to one row per object:
the ``Cluster_*`` scalars and shower shapes through ``<Collection>_clusterIdx``, the photon
conversion variables, the electron charge and its track's p_T, η and z0 (through
``Electron_trackIdx``; NaN without a track), ⟨μ⟩ and, for MC, E_true of the matched
``GenPart`` (through ``_genPartIdx``). Energies in GeV, lengths in cm.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np

from calocoffea.bdt.inputs import (
    CLUSTER_COLUMNS,
    ELECTRON_COLUMNS,
    PHOTON_COLUMNS,
    TRACK_COLUMNS,
)

log = logging.getLogger(__name__)

_COLLECTION = {"electron": "Electron", "photon": "Photon"}


@dataclass
class ObjectTable:
    """Flat per-object arrays read from one file."""

    source: str
    particle: str
    columns: dict[str, np.ndarray]
    #: true energy (GeV) of the matched GenPart, None when read without truth
    e_true: np.ndarray | None
    #: event number of each object (for event-wise splitting)
    event: np.ndarray
    #: objects dropped because they have no matched GenPart (truth mode only)
    n_unmatched: int = 0

    def __len__(self) -> int:
        return len(self.event)


def read_objects(
    path: str | Path, particle: str, truth: bool = True, entry_stop: int | None = None
) -> ObjectTable:
    """One row per reconstructed ``particle`` ("electron"/"photon") in ``path``.

    With ``truth``, objects without a matched GenPart are dropped (the count is logged and
    returned) and ``e_true`` is filled. Raises with the file and branch name on bad input.
    """
    import uproot

    if particle not in _COLLECTION:
        raise ValueError(f"particle must be 'electron' or 'photon', got {particle!r}")
    coll = _COLLECTION[particle]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    branches = [f"{coll}_clusterIdx", "event", "Pileup_nTrueInt"]
    branches += [f"Cluster_{c}" for c in CLUSTER_COLUMNS]
    if particle == "photon":
        branches += [f"Photon_{c}" for c in PHOTON_COLUMNS]
    else:
        branches += [f"Electron_{c}" for c in ELECTRON_COLUMNS] + ["Electron_trackIdx"]
        branches += [f"Track_{c}" for c in TRACK_COLUMNS.values()]
    if truth:
        branches += [f"{coll}_genPartIdx", "GenPart_pt", "GenPart_eta", "GenPart_mass"]
    with uproot.open(path) as f:
        if "Events" not in f:
            raise KeyError(f"{path}: no 'Events' tree")
        tree = f["Events"]
        available = set(tree.keys())
        missing = [b for b in branches if b not in available]
        if missing:
            raise KeyError(f"{path}: missing branch(es) {missing}")
        arr = tree.arrays(branches, library="ak", entry_stop=entry_stop)

    idx = arr[f"{coll}_clusterIdx"]
    n_cluster = ak.num(arr["Cluster_eAcc"])
    bad = ak.any((idx < 0) | (idx >= n_cluster), axis=1)
    if ak.any(bad):
        raise ValueError(
            f"{path}: {coll}_clusterIdx out of range in {int(ak.sum(bad))} event(s), "
            f"first event {int(arr['event'][bad][0])}"
        )
    keep = ak.ones_like(idx, dtype=bool)
    e_true = None
    n_unmatched = 0
    if truth:
        gidx = arr[f"{coll}_genPartIdx"]
        n_gen = ak.num(arr["GenPart_pt"])
        if ak.any(gidx >= n_gen):
            raise ValueError(f"{path}: {coll}_genPartIdx beyond GenPart length")
        keep = gidx >= 0
        n_unmatched = int(ak.sum(~keep))
        if n_unmatched:
            log.warning("%s: %d %s(s) without matched GenPart dropped", path, n_unmatched, coll)
        g = gidx[keep]
        pt = ak.to_numpy(ak.flatten(arr["GenPart_pt"][g])).astype(np.float64)
        eta = ak.to_numpy(ak.flatten(arr["GenPart_eta"][g])).astype(np.float64)
        mass = ak.to_numpy(ak.flatten(arr["GenPart_mass"][g])).astype(np.float64)
        e_true = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)

    cidx = idx[keep]
    columns = {c: ak.to_numpy(ak.flatten(arr[f"Cluster_{c}"][cidx])) for c in CLUSTER_COLUMNS}
    if particle == "photon":
        for c in PHOTON_COLUMNS:
            columns[c] = ak.to_numpy(ak.flatten(arr[f"Photon_{c}"][keep]))
    else:
        for c in ELECTRON_COLUMNS:
            columns[c] = ak.to_numpy(ak.flatten(arr[f"Electron_{c}"][keep]))
        tidx = arr["Electron_trackIdx"][keep]
        n_trk = ak.num(arr["Track_pt"])
        if ak.any(tidx >= n_trk):
            raise ValueError(f"{path}: Electron_trackIdx beyond Track length")
        has = ak.to_numpy(ak.flatten(tidx >= 0))
        safe = ak.where(tidx >= 0, tidx, 0)
        for name, branch in TRACK_COLUMNS.items():
            values = arr[f"Track_{branch}"]
            # events without tracks: index 0 does not exist; pad so the take is defined
            padded = ak.fill_none(ak.pad_none(values, 1, axis=1), np.nan)
            col = ak.to_numpy(ak.flatten(padded[safe])).astype(np.float64)
            columns[name] = np.where(has, col, np.nan)
    event = ak.to_numpy(ak.flatten(ak.broadcast_arrays(arr["event"], cidx)[0]))
    columns["mu"] = ak.to_numpy(ak.flatten(ak.broadcast_arrays(arr["Pileup_nTrueInt"],
                                                                cidx)[0])).astype(np.float64)
    return ObjectTable(str(path), particle, columns, e_true, event, n_unmatched)

"""The BDT input columns of electrons or photons from coffea NanoEvents (or plain records).

One reader for every analysis-level use of the BDT calibrations: the processors (the
``bdt_shapes`` calibration, and ``bdt`` when a file carries no standard calibration) and the
CNN training (the standard energy of the mislabel cut). The columns are those of
:mod:`calocoffea.bdt.inputs` (``Cluster_*`` through ``clusterIdx``, ``Photon_conv*``, the
electron charge and its ``Track`` through ``trackIdx``), flattened in the order of
``ak.flatten(objects)``; GeV, cm.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from calocoffea.bdt.inputs import CLUSTER_COLUMNS, ELECTRON_COLUMNS, PHOTON_COLUMNS, TRACK_COLUMNS
from calocoffea.schema import linked_columns


def _flat(values) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(ak.fill_none(values, np.nan), axis=None)),
                      dtype=np.float64)


def object_columns(objects, particle: str,
                   variants: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """{column: (n_objects,) float64} of the jagged ``objects`` (Electron or Photon); the
    cluster columns of the BDT ``variants`` only when given (default: every variant's)."""
    from calocoffea.bdt.inputs import REQUIRED_COLUMNS

    wanted = CLUSTER_COLUMNS if variants is None else tuple(
        c for c in CLUSTER_COLUMNS if any(c in REQUIRED_COLUMNS[(v, particle)] for v in variants))
    cluster = linked_columns(objects, "clusterIdx", "Cluster", {c: np.nan for c in wanted})
    if cluster is None:  # plain records with a ``cluster`` field
        cluster = {c: _flat(objects.cluster[c]) for c in wanted}
    cols = dict(cluster)
    if particle == "photon":
        cols.update({c: _flat(objects[c]) for c in PHOTON_COLUMNS})
        return cols
    cols.update({c: _flat(objects[c]) for c in ELECTRON_COLUMNS})
    track = linked_columns(objects, "trackIdx", "Track",
                           {branch: np.nan for branch in TRACK_COLUMNS.values()})
    if track is None:
        track = {b: _flat(objects.track[b]) for b in TRACK_COLUMNS.values()}
    cols.update({name: track[branch] for name, branch in TRACK_COLUMNS.items()})
    return cols


def required_branches(particle: str, variants: tuple[str, ...] = ("bdt",)) -> list[str]:
    """The file branches :func:`object_columns` reads for the BDT ``variants`` of
    ``particle`` (the runner checks them in every file before the first chunk)."""
    from calocoffea.bdt.inputs import REQUIRED_COLUMNS

    coll = "Photon" if particle == "photon" else "Electron"
    cols = {c for v in variants for c in REQUIRED_COLUMNS[(v, particle)]}
    out = [f"{coll}_clusterIdx"] + [f"Cluster_{c}" for c in CLUSTER_COLUMNS if c in cols]
    if particle == "photon":
        out += [f"Photon_{c}" for c in PHOTON_COLUMNS if c in cols]
    else:
        out += [f"Electron_{c}" for c in ELECTRON_COLUMNS if c in cols]
        if cols & set(TRACK_COLUMNS):
            out += ["Electron_trackIdx"] + [f"Track_{b}" for c, b in TRACK_COLUMNS.items()
                                            if c in cols]
    return out


def finite_inputs(columns, particle: str, variant: str = "bdt") -> np.ndarray:
    """Objects whose inputs of the BDT ``variant`` are finite (bool, n): the track columns
    may be NaN (an electron without a track), every other one must be finite."""
    from calocoffea.bdt.inputs import REQUIRED_COLUMNS

    needed = [c for c in REQUIRED_COLUMNS[(variant, particle)] if c not in TRACK_COLUMNS]
    ok = np.ones(len(np.asarray(columns[needed[0]])), dtype=bool)
    for c in needed:
        ok &= np.isfinite(np.asarray(columns[c], dtype=np.float64))
    return ok

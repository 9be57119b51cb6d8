"""Input validation at the boundary: branch types per file, index and count columns per chunk.

Two levels, both cheap (no per-object Python):

- per file, before processing (:func:`check_branch_types`, called by
  :func:`calocoffea.execution.runner.check_files` from the tree metadata): every branch the
  processors read that the file has must have the numeric kind of docs/data_format.md
  (:data:`BRANCH_KINDS`: float, integer, or boolean-or-integer);
- per chunk, inside the processor (:func:`check_local_index`, :func:`check_cells`,
  :func:`check_finite`, ...): every index column points inside its event's target
  collection or is -1 (coffea would otherwise turn an out-of-range index into "no link",
  silently, and an index past the event into the next event's objects), the cells of cluster
  k are the ``Cluster_nCell[k]`` consecutive cells whose ``CaloCell_clusterIdx`` is k, cell
  layers are 0-3, and the columns a weight or a histogram axis comes from are finite.

A violation raises :class:`InputDataError` naming the file, the branch, the entry (event
number in the file) and the value. Where a physicist expects a bad value to be survivable
the processors count it instead: objects with non-finite kinematics are rejected by the
selection (``cutflow["rejected: non-finite <Collection> kinematics"]``), clusters with
non-finite or empty cells fall back to the standard calibration
(``cutflow["fallback: ..."]``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import awkward as ak
import numpy as np

from calocoffea._numba import njit
from calocoffea.geometry import N_LAYERS

log = logging.getLogger(__name__)

FLOAT, INT, BOOL_OR_INT = "f", "iu", "biu"
#: Numeric kind (numpy ``dtype.kind`` letters) of every branch the processors or the CNN
#: inputs read (docs/data_format.md). Branches absent from a file are not checked here.
BRANCH_KINDS: dict[str, str] = {
    **{f"{c}_{v}": FLOAT for c in ("Electron", "Photon", "Muon", "GenPart", "Track")
       for v in ("pt", "eta", "phi")},
    **{f"{c}_mass": FLOAT for c in ("Electron", "Photon", "Muon", "GenPart")},
    **{f"Cluster_{v}": FLOAT for v in ("eAcc", "e0", "e1", "e2", "e3", "eta", "phi", "etaMod",
                                        "phiMod", "eTileGap")},
    **{f"CaloCell_{v}": FLOAT for v in ("eta", "phi", "deta", "dphi", "e", "time")},
    **{f"Track_{v}": FLOAT for v in ("d0", "z0", "d0Sig")},
    "Photon_convRadius": FLOAT,
    "Pileup_nTrueInt": FLOAT,
    "genWeight": FLOAT,
    **{f"{c}_{v}": INT for c in ("Electron", "Photon", "Muon") for v in ("genPartIdx",)},
    **{f"{c}_{v}": INT for c in ("Electron", "Photon") for v in ("clusterIdx", "cutBased")},
    "Electron_trackIdx": INT,
    "Electron_charge": INT,
    "Muon_charge": INT,
    "Photon_convType": INT,
    "Photon_cutBasedBitmap": INT,
    "Cluster_nCell": INT,
    "Cluster_etaIndex": INT,
    "CaloCell_clusterIdx": INT,
    "CaloCell_layer": INT,
    **{f"Track_{v}": INT for v in ("charge", "nPixHits", "nSCTHits", "nTRTHits", "vtxIdx",
                                    "genPartIdx")},
    "PV_npvs": INT,
    "Muon_looseId": BOOL_OR_INT,
    "Muon_tightId": BOOL_OR_INT,
}
_KIND_NAMES = {FLOAT: "floating point", INT: "integer", BOOL_OR_INT: "boolean or integer"}


class InputDataError(ValueError):
    """A chunk's columns are inconsistent or out of range: names file, branch, entry, value."""


#: numpy dtype of a ROOT leaf class (signed; ``fIsUnsigned`` makes it unsigned).
_LEAF_DTYPES = {"TLeafF": "float32", "TLeafD": "float64", "TLeafF16": "float32",
                "TLeafD32": "float64", "TLeafB": "int8", "TLeafS": "int16", "TLeafI": "int32",
                "TLeafL": "int64", "TLeafO": "bool", "TLeafG": "int64"}


def branch_dtype(branch: Any) -> np.dtype | None:
    """numpy dtype of a flat or jagged numeric uproot TBranch from its leaf (the TTree
    metadata already read; much cheaper than building the interpretation), or None."""
    try:
        leaves = branch.member("fLeaves")
    except Exception:  # any uproot model: fall back to the interpretation
        leaves = []
    if len(leaves) == 1 and leaves[0].classname in _LEAF_DTYPES:
        dtype = np.dtype(_LEAF_DTYPES[leaves[0].classname])
        if dtype.kind == "i" and leaves[0].member("fIsUnsigned"):
            dtype = np.dtype(dtype.str.replace("i", "u"))
        return dtype
    interp = branch.interpretation
    dtype = getattr(getattr(interp, "content", interp), "numpy_dtype", None)
    return None if dtype is None else np.dtype(dtype)


def check_branch_types(dtypes: Mapping[str, np.dtype | None]) -> list[str]:
    """Messages for the branches of :data:`BRANCH_KINDS` whose dtype (``{branch: dtype}``,
    :func:`branch_dtype`; None: not numeric) has another numeric kind, e.g. a float
    ``clusterIdx``."""
    wrong = []
    for name, dtype in dtypes.items():
        kinds = BRANCH_KINDS.get(name)
        if kinds is None:
            continue
        if dtype is None:
            wrong.append(f"branch {name} is not a numeric column")
        elif np.dtype(dtype).kind not in kinds:
            wrong.append(f"branch {name} has type {np.dtype(dtype).name}, expected "
                         f"{_KIND_NAMES[kinds]} (docs/data_format.md)")
    return wrong


# ---------------------------------------------------------------------------- locations
def chunk_origin(events: Any) -> tuple[str, int]:
    """(file name, first entry) of a NanoEvents chunk, from its metadata when it has any."""
    meta = getattr(events, "metadata", None) or {}
    return str(meta.get("filename", "<input>")), int(meta.get("entrystart", 0) or 0)


def fail(events: Any, branch: str, event: int, value: Any, what: str) -> None:
    """Raise :class:`InputDataError` for local event ``event`` of the chunk ``events``."""
    filename, start = chunk_origin(events)
    raise InputDataError(
        f"{filename}: {branch} = {value} at entry {start + int(event)}: {what}"
    )


def _parts(events: Any, collection: str, field: str | None = None
           ) -> tuple[np.ndarray, np.ndarray | None]:
    """(offsets (n_events + 1,) int64, flat column or None) of ``collection``; straight from
    the list layout of an unsliced NanoEvents chunk (no copy), else through awkward."""
    coll = events[collection]
    lists = getattr(coll, "_getlistarray", None)
    if lists is not None:
        layout = lists()
        offsets = np.asarray(layout.offsets.data).astype(np.int64, copy=False)
        if offsets.size and offsets[0] == 0:
            if field is None or field not in layout.content.fields:
                return offsets, None
            return offsets, ak.to_numpy(ak.Array(layout.content.content(field)))
    counts = ak.to_numpy(ak.num(coll, axis=1)).astype(np.int64)
    offsets = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    if field is None or field not in coll.fields:
        return offsets, None
    return offsets, np.asarray(ak.to_numpy(ak.flatten(coll[field], axis=1)))


def _event_of(offsets: np.ndarray, position: int) -> int:
    return int(np.searchsorted(offsets, position, side="right") - 1)


# ---------------------------------------------------------------------------- kernels
@njit(nogil=True)
def _first_bad_index(src_offsets, index, tgt_offsets):
    """Flat position of the first ``index`` (jagged by ``src_offsets``) that is neither -1
    nor inside [0, n_target) of its event, or -1."""
    for e in range(src_offsets.shape[0] - 1):
        n_t = tgt_offsets[e + 1] - tgt_offsets[e]
        for i in range(src_offsets[e], src_offsets[e + 1]):
            v = index[i]
            if v < -1 or v >= n_t:
                return i
    return -1


@njit(nogil=True)
def _check_counts(clu_offsets, n_cell, cell_offsets):
    """(code, position): 1 negative ``Cluster_nCell`` (cluster), 2 ``sum(Cluster_nCell) !=
    nCaloCell`` (event); (0, -1) when consistent. Clusters only: cheap."""
    for e in range(clu_offsets.shape[0] - 1):
        total = 0
        for k in range(clu_offsets[e], clu_offsets[e + 1]):
            if n_cell[k] < 0:
                return 1, k
            total += n_cell[k]
        if total != cell_offsets[e + 1] - cell_offsets[e]:
            return 2, e
    return 0, -1


@njit(nogil=True)
def _check_cells(clu_offsets, n_cell, cell_offsets, cell_cluster, cell_layer,  # noqa: PLR0917
                 n_layers, with_index):
    """(code, position) of the first inconsistency of the cluster → cell grouping: 1
    negative ``Cluster_nCell`` (cluster position), 2 ``sum(Cluster_nCell) != nCaloCell``
    (event), 3 ``CaloCell_clusterIdx`` not the cluster the grouping gives (cell position),
    4 layer outside [0, n_layers) (cell position); (0, -1) when consistent."""
    for e in range(clu_offsets.shape[0] - 1):
        total = 0
        for k in range(clu_offsets[e], clu_offsets[e + 1]):
            if n_cell[k] < 0:
                return 1, k
            total += n_cell[k]
        if total != cell_offsets[e + 1] - cell_offsets[e]:
            return 2, e
        pos = cell_offsets[e]
        for k in range(clu_offsets[e], clu_offsets[e + 1]):
            local = k - clu_offsets[e]
            for i in range(pos, pos + n_cell[k]):
                if with_index and cell_cluster[i] != local:
                    return 3, i
                layer = cell_layer[i]
                if layer < 0 or layer >= n_layers:
                    return 4, i
            pos += n_cell[k]
    return 0, -1


# ---------------------------------------------------------------------------- checks
def check_local_index(events: Any, collection: str, field: str, target: str) -> None:
    """``{collection}_{field}`` (event-local index into ``target``) is -1 or inside the
    event's ``target`` collection; a file without the column or without ``target`` is not
    checked (the cross-reference is then absent)."""
    if collection not in events.fields:
        return
    if target not in events.fields:
        return
    src, index = _parts(events, collection, field)
    if index is None:
        return
    tgt, _ = _parts(events, target)
    bad = _first_bad_index(src, index.astype(np.int64, copy=False), tgt)
    if bad >= 0:
        e = _event_of(src, bad)
        fail(events, f"{collection}_{field}", e, int(index[bad]),
             f"index outside the event's {int(tgt[e + 1] - tgt[e])} {target} entries "
             "(and not -1)")


def check_cells(events: Any, require_index: bool = True) -> None:
    """``Cluster_nCell`` ≥ 0 and adding up to ``nCaloCell`` per event, each cell's
    ``CaloCell_clusterIdx`` equal to the cluster the consecutive grouping gives it (not
    checked when the file has no such branch and ``require_index`` is False),
    ``CaloCell_layer`` in 0-3. Needs the ``Cluster`` and ``CaloCell`` collections; one pass
    over the cells (numba)."""
    clu, n_cell = _parts(events, "Cluster", "nCell")
    cells, cluster_idx = _parts(events, "CaloCell", "clusterIdx")
    _, layer = _parts(events, "CaloCell", "layer")
    needed = [("Cluster_nCell", n_cell), ("CaloCell_layer", layer)]
    if require_index:
        needed.append(("CaloCell_clusterIdx", cluster_idx))
    missing = [name for name, col in needed if col is None]
    if missing:
        filename, _ = chunk_origin(events)
        raise InputDataError(f"{filename}: branch(es) {', '.join(missing)} missing: the cells "
                             "cannot be grouped by cluster")
    with_index = cluster_idx is not None
    if not with_index:
        cluster_idx = np.zeros(0, np.int32)
    code, pos = _check_cells(clu, n_cell.astype(np.int64, copy=False), cells, cluster_idx,
                             layer, N_LAYERS, with_index)
    if code in (1, 2):
        _raise_counts(events, code, pos, clu, n_cell, cells)
    elif code in (3, 4):
        cell_range_error(events, code, pos, cluster_idx, layer)


def check_cluster_counts(events: Any) -> None:
    """``Cluster_nCell`` ≥ 0 and adding up to ``nCaloCell`` in every event (clusters only;
    the cells' own ``CaloCell_clusterIdx`` is checked where the cells are read, by
    :func:`calocoffea.cnn.inputs.inputs_from_events`, on the cells it uses)."""
    clu, n_cell = _parts(events, "Cluster", "nCell")
    cells, _ = _parts(events, "CaloCell")
    if n_cell is None:
        filename, _ = chunk_origin(events)
        raise InputDataError(f"{filename}: branch Cluster_nCell missing: the cells cannot be "
                             "grouped by cluster")
    code, pos = _check_counts(clu, n_cell.astype(np.int64, copy=False), cells)
    _raise_counts(events, code, pos, clu, n_cell, cells)


def _raise_counts(events, code, pos, clu, n_cell, cells) -> None:  # noqa: PLR0917
    if code == 1:
        fail(events, "Cluster_nCell", _event_of(clu, pos), int(n_cell[pos]),
             "negative number of cells")
    elif code == 2:
        total = int(n_cell[clu[pos]:clu[pos + 1]].sum())
        fail(events, "Cluster_nCell", pos, total,
             f"(sum over the event's clusters) differs from nCaloCell = "
             f"{int(cells[pos + 1] - cells[pos])}")


def cell_range_error(events: Any, kind: int, pos: int, cell_cluster: np.ndarray,
                     layer: np.ndarray) -> None:
    """Raise for cell ``pos`` (flat CaloCell position) of the chunk ``events``: kind 3 its
    ``CaloCell_clusterIdx`` is not the cluster the ``Cluster_nCell`` grouping gives it,
    kind 4 its layer is outside 0-3."""
    clu, n_cell = _parts(events, "Cluster", "nCell")
    cells, _ = _parts(events, "CaloCell")
    e = _event_of(cells, pos)
    if kind == 4:
        fail(events, "CaloCell_layer", e, int(layer[pos]), f"layer outside 0-{N_LAYERS - 1}")
    k = int(np.searchsorted(np.cumsum(n_cell[clu[e]:clu[e + 1]]), pos - cells[e],
                            side="right"))
    fail(events, "CaloCell_clusterIdx", e, int(cell_cluster[pos]),
         f"cell {int(pos - cells[e])} of the event belongs to cluster {k} by the "
         "Cluster_nCell grouping (cells must be stored cluster by cluster, in order)")


def check_finite(events: Any, branch: str, values: np.ndarray, offsets: np.ndarray | None = None
                 ) -> None:
    """Raise for the first non-finite entry of ``values`` (flat; per event when
    ``offsets`` is None, else jagged by ``offsets``)."""
    bad = ~np.isfinite(values)
    if bad.any():
        pos = int(np.argmax(bad))
        event = pos if offsets is None else _event_of(offsets, pos)
        fail(events, branch, event, values[pos], "not a finite number")


def check_event_column(events: Any, collection: str, field: str, *, minimum: float | None = None
                       ) -> None:
    """An event-level column ``{collection}_{field}`` (e.g. ``Pileup_nTrueInt``) is finite
    (and ≥ ``minimum``); nothing is checked when the file does not have it."""
    if collection not in events.fields or field not in events[collection].fields:
        return
    values = np.asarray(ak.to_numpy(events[collection][field]))
    name = f"{collection}_{field}"
    if values.dtype.kind == "f":
        check_finite(events, name, values)
    if minimum is not None and values.size and values.min() < minimum:
        pos = int(np.argmin(values))
        fail(events, name, pos, values[pos], f"below {minimum:g}")


def check_flat_finite(events: Any, collection: str, fields: tuple[str, ...]) -> None:
    """Every listed float field of a jagged collection is finite (fields absent: skipped)."""
    if collection not in events.fields:
        return
    offsets = None
    for field in fields:
        offsets_f, values = _parts(events, collection, field)
        if values is None or values.dtype.kind != "f":
            continue
        offsets = offsets_f if offsets is None else offsets
        check_finite(events, f"{collection}_{field}", values, offsets)


def check_allowed(events: Any, collection: str, field: str, allowed: tuple[int, ...]) -> None:
    """Every value of ``{collection}_{field}`` is one of ``allowed`` (e.g. a charge ±1);
    nothing is checked when the file lacks the column."""
    if collection not in events.fields:
        return
    offsets, values = _parts(events, collection, field)
    if values is None:
        return
    bad = ~np.isin(values, allowed)
    if bad.any():
        pos = int(np.argmax(bad))
        fail(events, f"{collection}_{field}", _event_of(offsets, pos), values[pos],
             f"expected one of {list(allowed)}")


def check_vertex_index(events: Any, offsets: np.ndarray, vtx: np.ndarray,
                       n_vertices: np.ndarray) -> None:
    """``Track_vtxIdx`` (flat, jagged by ``offsets``) is -1 or below the event's
    ``PV_npvs`` (``n_vertices``, per event)."""
    per_track = np.repeat(np.maximum(n_vertices.astype(np.int64), 1), np.diff(offsets))
    bad = (vtx < -1) | (vtx >= per_track)
    if bad.any():
        pos = int(np.argmax(bad))
        fail(events, "Track_vtxIdx", _event_of(offsets, pos), int(vtx[pos]),
             f"vertex index outside the event's {int(per_track[pos])} vertices (PV_npvs) "
             "and not -1")


def finite_kinematics(objects: Any) -> ak.Array:
    """Jagged mask: pt, eta, phi (and mass where the collection has it) all finite."""
    ok = np.isfinite(objects.pt) & np.isfinite(objects.eta) & np.isfinite(objects.phi)
    if "mass" in objects.fields:
        ok = ok & np.isfinite(objects.mass)
    return ok

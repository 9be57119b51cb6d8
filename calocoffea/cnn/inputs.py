"""Model inputs of the DeepCalo CNN built from coffea objects (or the same fields as arrays).

One code path serves training (``calocoffea.cnn.training.dataset``) and inference
(``calocoffea.cnn.inference``), so the network always sees identically built inputs:

- ``images``: float32 (n, 4, 56, 11), layer energies in GeV from :mod:`calocoffea.cnn.images`;
- ``scalars``: float32 (n, 16), thesis table 3.3 (:data:`SCALARS`; photons swap the
  track-only variables for conversion variables);
- ``tracks``: float32 (n, 15, 10), tracks within ΔR < 0.4 of the cluster, sorted by the
  isolation weight of thesis eq. 3.1, pT·exp(−ΔR/σ_R) with a = b = 1 and σ_R = 0.1,
  zero-padded (thesis table 3.4, :data:`TRACK_VARS`);
- ``valid``: bool (n,), False where the CNN must not be used (no cells, non-finite input,
  E_acc ≤ 0, |η| outside the tracker acceptance); those rows are zero-filled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import awkward as ak
import numpy as np

from calocoffea._numba import njit
from calocoffea.channels import PARTICLES
from calocoffea.cnn.images import IMAGE_SHAPE, N_LAYERS, prepare_cells
from calocoffea.geometry import ETA_MAX, LAYER2_DETA
from calocoffea.kinematics import wrap_phi, wrap_phi_scalar
from calocoffea.schema import (
    flat_column,
    linked_columns,
    linked_content,
    take_or_fill,
)
from calocoffea.validation import (
    InputDataError,
    cell_range_error,
    check_cluster_counts,
    check_finite,
    check_vertex_index,
    chunk_origin,
)

log = logging.getLogger(__name__)

#: Number of tracks per object (zero-padded).
N_TRACKS: int = 15
#: Cone for the tracks around the cluster.
TRACK_DR: float = 0.4
#: σ_R of thesis eq. 3.1 (the ordering only depends on it through the pT–ΔR balance).
SIGMA_R: float = 0.1
#: Energy channels of the CNN image (one per LAr layer; the η × φ shape is
#: :data:`calocoffea.cnn.images.IMAGE_SHAPE`).
IMAGE_CHANNELS: int = N_LAYERS
#: Time channels a time-channel model adds after the energy channels (thesis §7.4: one per
#: layer, the |energy|-weighted cell time in ns, :mod:`calocoffea.cnn.images`).
TIME_CHANNELS: int = N_LAYERS


def image_channels(with_time: bool) -> int:
    """Channels of the CNN image: the layer energies, then the layer times ``with_time``."""
    return IMAGE_CHANNELS + (TIME_CHANNELS if with_time else 0)

#: Scalar inputs per particle: (name, unit, description), thesis table 3.3.
SCALARS: dict[str, list[tuple[str, str, str]]] = {
    "electron": [
        ("e_acc", "GeV", "E_acc = E1+E2+E3"),
        ("eta_index", "", "layer-2 η cell index of the cluster"),
        ("f0", "", "E0/E_acc for |η| < 1.8, else 0"),
        ("r12", "", "E1/E2"),
        ("pt_track", "GeV", "pT of the electron's track (0 if none)"),
        ("e_tg3", "", "E_tile-gap/E_acc for 1.4 < |η| < 1.6, else 0"),
        ("e_tilegap", "GeV", "tile-gap scintillator energy"),
        ("eta", "", "cluster η"),
        ("dphi2", "rad", "q·(φ_track − φ_cluster) at the perigee (sign-folded bending)"),
        ("eta_mod", "", "η position inside the layer-2 cell, cell units"),
        ("deta2", "", "η_track − η_cluster"),
        ("poscs2", "", "2(η_cluster − η_maxEcell,layer2)/0.025 − 1"),
        ("dphi_th3", "rad", "mod(2π + φ, π/32) − π/32"),
        ("mu", "", "⟨μ⟩ (Pileup_nTrueInt)"),
        ("n_tracks", "", "tracks within ΔR < 0.4"),
        ("n_vtx", "", "reconstructed vertices (PV_npvs)"),
    ],
    "photon": [
        ("e_acc", "GeV", "E_acc = E1+E2+E3"),
        ("eta_index", "", "layer-2 η cell index of the cluster"),
        ("f0", "", "E0/E_acc for |η| < 1.8, else 0"),
        ("r12", "", "E1/E2"),
        ("conv_type", "", "0 unconverted, 1 single-track, 2 double-track"),
        ("e_tg3", "", "E_tile-gap/E_acc for 1.4 < |η| < 1.6, else 0"),
        ("e_tilegap", "GeV", "tile-gap scintillator energy"),
        ("eta", "", "cluster η"),
        ("conv_radius", "cm", "conversion radius, 0 if unconverted"),
        ("eta_mod", "", "η position inside the layer-2 cell, cell units"),
        ("phi_mod", "", "φ position inside the layer-2 cell, cell units"),
        ("poscs2", "", "2(η_cluster − η_maxEcell,layer2)/0.025 − 1"),
        ("dphi_th3", "rad", "mod(2π + φ, π/32) − π/32"),
        ("mu", "", "⟨μ⟩ (Pileup_nTrueInt)"),
        ("n_tracks", "", "tracks within ΔR < 0.4"),
        ("n_vtx", "", "reconstructed vertices (PV_npvs)"),
    ],
}

#: Track inputs (name, unit, description), thesis table 3.4.
TRACK_VARS: list[tuple[str, str, str]] = [
    ("pt_over_q", "GeV", "pT/q"),
    ("d0sig", "", "d0/σ(d0)"),
    ("dr", "", "ΔR to the cluster"),
    ("vtx", "", "vertex index (0 = hard scatter)"),
    ("z0", "cm", "longitudinal impact parameter"),
    ("abs_eta", "", "|η| of the track"),
    ("dphi", "rad", "φ_track − φ_cluster"),
    ("n_pix", "", "pixel hits"),
    ("n_sct", "", "SCT hits"),
    ("n_trt", "", "TRT hits"),
]
#: Heavy-tailed track variables standardised after a signed log.
TRACK_LOG_VARS: list[str] = ["pt_over_q", "d0sig", "z0"]



@dataclass
class ImageSource:
    """What the images of n objects are made of: flat cell columns (``e``, ``eta``, ``phi``,
    ``layer``, ``deta``, ``dphi``; the sizes may be None), the cells ``starts[k]:stops[k]``
    of object k and its cluster barycentre ``eta``, ``phi`` (float64, rad)."""

    cells: dict[str, np.ndarray | None]
    starts: np.ndarray
    stops: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    #: Add the four time channels (needs ``cells["time"]``, ns).
    with_time: bool = False
    #: The cell columns and ranges checked once, on the first :meth:`build`.
    _checked: tuple | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.starts)

    def build(self, lo: int = 0, hi: int | None = None, out: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """(images float32 (m, 4 or 8, 56, 11), valid bool (m,)) of objects ``lo:hi``, written
        into ``out`` when given (see :func:`calocoffea.cnn.images.build_images_from_ranges`)."""
        if self._checked is None:
            c = self.cells
            columns = prepare_cells(c["e"], c["eta"], c["phi"], c["layer"],
                                    cell_deta=c.get("deta"), cell_dphi=c.get("dphi"),
                                    cell_time=c.get("time") if self.with_time else None,
                                    with_time=self.with_time)
            self._checked = (columns, *columns.check_ranges(self.starts, self.stops))
        columns, starts, stops = self._checked
        rows = slice(lo, hi)
        return columns.images(starts[rows], stops[rows], cluster_eta=self.eta[rows],
                              cluster_phi=self.phi[rows], out=out, ranges_checked=True)


@dataclass
class ModelInputs:
    """Raw physical CNN inputs for n objects (see module docstring for shapes/units).

    With ``inputs_from_events(..., defer_images=True)``, ``images`` is None and
    :meth:`images_for` builds them per batch from ``image_source``; ``valid`` then does not
    yet include the images' own validity (see :meth:`images_for`).
    """

    images: np.ndarray | None
    scalars: np.ndarray
    tracks: np.ndarray
    valid: np.ndarray
    image_source: ImageSource | None = None
    #: Deferred images are written into this buffer, reused from one ``feed`` to the next.
    _buffer: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.valid)

    def feed(self, lo: int = 0, hi: int | None = None) -> dict[str, np.ndarray]:
        """The onnxruntime feed dict of objects ``lo:hi`` (views of the inputs). Deferred
        images are built now into a buffer that the next ``feed`` call overwrites (so a
        chunk never holds more than one batch of images, and never re-faults its pages)."""
        rows = slice(lo, hi)
        if self.images is not None:
            images = self.images[rows]
        else:
            m = len(range(*rows.indices(len(self))))
            if self._buffer is None or len(self._buffer) < m:
                channels = image_channels(self.image_source.with_time)
                self._buffer = np.empty((m, channels, *IMAGE_SHAPE), np.float32)
            images = self.images_for(lo, hi, out=self._buffer[:m])
        return {"images": images, "scalars": self.scalars[rows], "tracks": self.tracks[rows]}

    def images_for(self, lo: int, hi: int | None, out: np.ndarray | None = None
                   ) -> np.ndarray:
        """Images of objects ``lo:hi`` built from ``image_source`` (into ``out`` if given):
        objects whose image is invalid are marked in ``valid`` and their scalars, tracks and
        image zero-filled, exactly as :func:`inputs_from_events` does with
        ``defer_images=False``."""
        images, img_valid = self.image_source.build(lo, hi, out=out)
        rows = slice(lo, hi)
        self.valid[rows] &= img_valid
        bad = ~self.valid[rows]
        if bad.any():
            images[bad] = 0.0
            self.scalars[rows][bad] = 0.0
            self.tracks[rows][bad] = 0.0
        return images


def scalar_names(particle: str) -> list[str]:
    """Column names of ``scalars`` for ``particle``."""
    _check_particle(particle)
    return [s[0] for s in SCALARS[particle]]


def track_names() -> list[str]:
    """Column names of the last axis of ``tracks``."""
    return [t[0] for t in TRACK_VARS]


def _check_particle(particle: str) -> None:
    if particle not in PARTICLES:
        raise ValueError(f"particle must be one of {PARTICLES}, got {particle!r}")


def _np(x, fill=np.nan, dtype=np.float64) -> np.ndarray:
    """Flat numpy copy of a 1-D (possibly option-type) awkward/numpy array."""
    if isinstance(x, ak.Array):
        x = ak.fill_none(x, fill)
        return ak.to_numpy(x).astype(dtype)
    return np.asarray(x, dtype=dtype)


def _flat(x) -> ak.Array:
    return ak.flatten(x, axis=1)


#: Cluster columns used as inputs (``phiMod`` only for photons).
_CLUSTER_FIELDS = ("eAcc", "e0", "e1", "e2", "eta", "phi", "eTileGap", "etaIndex", "etaMod",
                   "phiMod")
#: Cell columns the images need (``deta``/``dphi`` come from the geometry when absent).
_CELL_FIELDS = ("e", "eta", "phi", "layer", "deta", "dphi")
#: Own-track columns of electrons and their fill value where there is no track.
_OWN_TRACK_FIELDS = {"pt": 0.0, "eta": np.nan, "phi": np.nan, "charge": 1.0}
_TRACK_FIELDS = ("pt", "eta", "phi", "charge", "d0Sig", "vtxIdx", "z0", "nPixHits",
                 "nSCTHits", "nTRTHits")


def required_branches(particle: str, with_time: bool = False) -> list[str]:
    """Branches the CNN inputs of ``particle`` read from a file with cells (the cell sizes
    ``CaloCell_deta``/``_dphi`` are optional: the geometry gives them); ``CaloCell_clusterIdx``
    is read to check the cell grouping (:func:`calocoffea.validation.check_cells`);
    ``CaloCell_time`` for a time-channel model."""
    _check_particle(particle)
    collection = "Electron" if particle == "electron" else "Photon"
    own = ["clusterIdx", "trackIdx"] if particle == "electron" else [
        "clusterIdx", "convType", "convRadius"]
    cluster = [f for f in _CLUSTER_FIELDS if f != "phiMod" or particle == "photon"]
    return [
        *(f"{collection}_{f}" for f in own),
        *(f"Cluster_{f}" for f in [*cluster, "nCell"]),
        *(f"CaloCell_{f}" for f in ("e", "eta", "phi", "layer", "clusterIdx")),
        *(["CaloCell_time"] if with_time else []),
        *(f"Track_{f}" for f in _TRACK_FIELDS),
        "Pileup_nTrueInt",
        "PV_npvs",
    ]


@dataclass
class _Clusters:
    """Per-object cluster columns (float64, NaN without a cluster) and the cluster cells:
    flat cell columns and the range ``starts[k]:stops[k]`` of object k's cells."""

    columns: dict[str, np.ndarray]
    has_cluster: np.ndarray
    cells: dict[str, np.ndarray | None]
    starts: np.ndarray
    stops: np.ndarray
    #: NanoEvents only: each object's cluster index inside its event (-1 without cluster) and
    #: the flat CaloCell_clusterIdx column, checked against each other on the object's cells
    local: np.ndarray | None = None
    cell_cluster: np.ndarray | None = None
    events: object = None


def _clusters_nanoevents(objects, linked, with_time: bool = False) -> _Clusters:
    """Clusters and cells of NanoEvents objects straight from the chunk's flat columns.

    Global indices locate each object's cluster and its cells in the unsliced ``Cluster``
    and ``CaloCell`` columns, so no per-field copy of the selected clusters' cells is made.
    """
    gidx, full, content = linked
    has = gidx >= 0
    columns = {f: take_or_fill(flat_column(content, f), gidx, np.nan)
               for f in _CLUSTER_FIELDS if f in content.fields}
    check_cluster_counts(full)
    n_cell = flat_column(content, "nCell").astype(np.int64)
    first = np.zeros(n_cell.size + 1, np.int64)
    np.cumsum(n_cell, out=first[1:])
    starts = np.zeros(gidx.size, np.int64)
    stops = np.zeros(gidx.size, np.int64)
    starts[has] = first[gidx[has]]
    stops[has] = first[gidx[has] + 1]
    cell_content = full.CaloCell._content()
    cells = {f: flat_column(cell_content, f) if f in cell_content.fields else None
             for f in _CELL_FIELDS}
    if with_time:
        if "time" not in cell_content.fields:
            raise InputDataError(f"{chunk_origin(full)[0]}: branch CaloCell_time missing: "
                                 "a time-channel CNN needs the cell times")
        cells["time"] = flat_column(cell_content, "time")
    if "clusterIdx" not in cell_content.fields:
        raise InputDataError(f"{chunk_origin(full)[0]}: branch CaloCell_clusterIdx missing: "
                             "the cells cannot be checked against their clusters")
    cluster_offsets = ak.to_numpy(full.Cluster._getlistarray().offsets.data).astype(np.int64)
    event = np.searchsorted(cluster_offsets, gidx, side="right") - 1
    local = np.where(has, gidx - cluster_offsets[np.maximum(event, 0)], -1)
    return _Clusters(columns, has, cells, starts, stops, local,
                     flat_column(cell_content, "clusterIdx"), full)


def _clusters_records(objects, with_time: bool = False) -> _Clusters:
    """Clusters and cells of objects with a ``cluster`` record holding a ``cells`` list."""
    clu = objects.cluster
    # a missing cluster (index -1) makes every cluster field None
    has = ~ak.to_numpy(ak.is_none(_flat(clu.eAcc), axis=0))
    columns = {f: _np(_flat(clu[f])) for f in _CLUSTER_FIELDS if f in clu.fields}
    cells = _flat(clu.cells)
    counts = ak.to_numpy(ak.fill_none(ak.num(cells, axis=1), 0)).astype(np.int64)
    offsets = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    present = set(ak.fields(cells))
    flat = {f: ak.to_numpy(ak.flatten(cells[f], axis=None)) if f in present else None
            for f in _CELL_FIELDS}
    if with_time:
        if "time" not in present:
            raise InputDataError("cluster cells have no 'time' field: a time-channel CNN "
                                 "needs the cell times")
        flat["time"] = ak.to_numpy(ak.flatten(cells["time"], axis=None))
    return _Clusters(columns, has, flat, offsets[:-1], offsets[1:])


def _own_track(objects) -> dict[str, np.ndarray]:
    """Columns of each electron's own track (flat float64, filled where there is none)."""
    own = linked_columns(objects, "trackIdx", "Track", _OWN_TRACK_FIELDS)
    if own is not None:
        return own
    trk = objects.track
    return {f: _np(_flat(trk[f]), fill=fill) for f, fill in _OWN_TRACK_FIELDS.items()}


@njit(nogil=True)
def _layer2_max_eta(cell_e, cell_eta, cell_layer, starts, stops,  # noqa: PLR0917
                    cell_cluster, local, n_layers):
    """(η of the most energetic layer-2 cell of each range (the first one on ties, as
    ``ak.argmax``); NaN for a range without layer-2 cells, first bad cell or -1, its kind).

    The same pass checks the cells it reads (when ``local`` is not empty): each cell's
    ``cell_cluster`` must be its object's cluster ``local[k]`` (kind 3) and its layer in
    [0, n_layers) (kind 4)."""
    n = starts.shape[0]
    out = np.full(n, np.nan)
    check = local.shape[0] == n
    for k in range(n):
        best = -1
        best_e = cell_e[0] if stops[k] > starts[k] else 0.0  # typed; replaced by the first
        for i in range(starts[k], stops[k]):
            if check:
                if cell_cluster[i] != local[k]:
                    return out, i, 3
                if cell_layer[i] >= n_layers:
                    return out, i, 4
            if cell_layer[i] == 2:
                e = cell_e[i]
                if best < 0 or e > best_e:
                    best = i
                    best_e = e
        if best >= 0:
            out[k] = cell_eta[best]
    return out, -1, 0


@njit(nogil=True)
def _cone_pairs(trk_offsets, evt, trk_eta, trk_phi, clu_eta, clu_phi, max_dr):  # noqa: PLR0917
    """Tracks of each object's event within ΔR < ``max_dr`` of its cluster: per-object
    offsets into the pair arrays, and per pair the track index, ΔR and Δφ (float64; the
    arithmetic of the former awkward expressions, so the values are bit-identical)."""
    n = evt.shape[0]
    counts = np.zeros(n + 1, np.int64)
    for k in range(n):
        for t in range(trk_offsets[evt[k]], trk_offsets[evt[k] + 1]):
            deta = np.float64(trk_eta[t]) - clu_eta[k]
            if not abs(deta) < max_dr:  # ΔR ≥ |Δη|: out of the cone, skip the φ wrap
                continue
            dphi = wrap_phi_scalar(np.float64(trk_phi[t]) - clu_phi[k])
            if np.sqrt(deta**2 + dphi**2) < max_dr:
                counts[k + 1] += 1
    offsets = np.cumsum(counts)
    index = np.empty(offsets[n], np.int64)
    dr_out = np.empty(offsets[n], np.float64)
    dphi_out = np.empty(offsets[n], np.float64)
    for k in range(n):
        j = offsets[k]
        for t in range(trk_offsets[evt[k]], trk_offsets[evt[k] + 1]):
            deta = np.float64(trk_eta[t]) - clu_eta[k]
            if not abs(deta) < max_dr:
                continue
            dphi = wrap_phi_scalar(np.float64(trk_phi[t]) - clu_phi[k])
            dr = np.sqrt(deta**2 + dphi**2)
            if dr < max_dr:
                index[j] = t
                dr_out[j] = dr
                dphi_out[j] = dphi
                j += 1
    return offsets, index, dr_out, dphi_out


@njit(nogil=True)
def _fill_tracks(  # noqa: PLR0917 (numba kernel: positional arrays)
    offsets, index, dr, dphi, weight, pt, charge, d0sig, vtx, z0, eta, npix,
    nsct, ntrt, out,
):
    """Per object: its cone tracks sorted by decreasing ``weight`` (stable: ties keep the
    stored order, as ``ak.argsort(..., ascending=False)``), the first ``out.shape[1]``
    written as rows of ``out`` (n, N_TRACKS, 10) float32."""
    n_max = out.shape[1]
    order = np.empty(offsets[-1] - offsets[0] + 1, np.int64)
    for k in range(offsets.shape[0] - 1):
        a = offsets[k]
        m = offsets[k + 1] - a
        # insertion sort of the (few) cone tracks; strict > keeps equal weights in order
        for i in range(m):
            j = i
            while j > 0 and weight[a + i] > weight[a + order[j - 1]]:
                order[j] = order[j - 1]
                j -= 1
            order[j] = i
        for r in range(min(m, n_max)):
            p = a + order[r]
            t = index[p]
            q = charge[t]
            q = 1 if q == 0 else q
            out[k, r, 0] = np.float64(pt[t]) / np.float64(q)
            out[k, r, 1] = d0sig[t]
            out[k, r, 2] = dr[p]
            out[k, r, 3] = vtx[t]
            out[k, r, 4] = z0[t]
            out[k, r, 5] = abs(eta[t])
            out[k, r, 6] = dphi[p]
            out[k, r, 7] = npix[t]
            out[k, r, 8] = nsct[t]
            out[k, r, 9] = ntrt[t]


def _track_columns(events) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(offsets (len(events)+1,), flat columns) of ``events.Track``."""
    trk = events.Track
    offsets = np.zeros(len(events) + 1, np.int64)
    np.cumsum(ak.to_numpy(ak.num(trk, axis=1)), out=offsets[1:])
    return offsets, {f: ak.to_numpy(ak.flatten(trk[f], axis=1)) for f in _TRACK_FIELDS}


def _tracks_near(offsets: np.ndarray, cols: dict[str, np.ndarray], evt: np.ndarray,
                 clu_eta: np.ndarray, clu_phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tracks (n, 15, 10) float32, n_in_cone (n,)) of objects in events ``evt`` (rows of
    the track ``offsets``) with cluster barycentres ``clu_eta``, ``clu_phi`` (float64)."""
    pairs, index, dr, dphi = _cone_pairs(
        offsets, evt.astype(np.int64), cols["eta"], cols["phi"], clu_eta, clu_phi, TRACK_DR,
    )
    # numpy's exp, as before: the ordering must not move with a 1-ulp difference
    weight = cols["pt"][index] * np.exp(-dr / SIGMA_R)
    out = np.zeros((len(evt), N_TRACKS, len(TRACK_VARS)), np.float32)
    _fill_tracks(pairs, index, dr, dphi, weight, cols["pt"], cols["charge"], cols["d0Sig"],
                 cols["vtxIdx"], cols["z0"], cols["eta"], cols["nPixHits"], cols["nSCTHits"],
                 cols["nTRTHits"], out)
    return out, np.diff(pairs)


def inputs_from_events(objects, events, particle: str, *, defer_images: bool = False,
                       with_time: bool = False) -> ModelInputs:
    """Build the CNN inputs for every object of ``objects`` (flattened in event order).

    objects: jagged Electron/Photon collection aligned with ``events`` (e.g.
    ``events.Electron[mask]``), read with :class:`calocoffea.schema.CaloNanoAODSchema`, or
    plain awkward records with a ``cluster`` record holding a ``cells`` list (and a
    ``track`` record for electrons).
    events: the NanoEvents (needs Track, Pileup.nTrueInt, PV.npvs).
    defer_images: leave the images to :meth:`ModelInputs.feed` per batch (inference: the
    images of a 100k-event chunk alone would take 1 GB).
    with_time: add the four time channels (images (n, 8, 56, 11); a time-channel model).
    """
    _check_particle(particle)
    counts = ak.to_numpy(ak.num(objects, axis=1))
    n = int(counts.sum())
    n_scalar = len(SCALARS[particle])
    if n == 0:
        return ModelInputs(
            np.zeros((0, image_channels(with_time), *IMAGE_SHAPE), np.float32),
            np.zeros((0, n_scalar), np.float32),
            np.zeros((0, N_TRACKS, len(TRACK_VARS)), np.float32),
            np.zeros(0, bool),
        )
    evt = np.repeat(np.arange(len(counts)), counts)
    linked = linked_content(objects, "clusterIdx", "Cluster")
    if linked is not None and "CaloCell" in linked[1].fields:
        clusters = _clusters_nanoevents(objects, linked, with_time)
        gidx, full, _ = linked
        # tracks straight from the chunk's columns: the event of each object is that of its
        # cluster (an object without a cluster has no tracks in its cone: its η is NaN)
        cluster_offsets = ak.to_numpy(full.Cluster._getlistarray().offsets.data)
        trk_evt = np.maximum(np.searchsorted(cluster_offsets, gidx, side="right") - 1, 0)
        track_list = full.Track._getlistarray()
        trk_offsets = ak.to_numpy(track_list.offsets.data).astype(np.int64)
        trk_cols = {f: flat_column(track_list.content, f) for f in _TRACK_FIELDS}
        for f in ("pt", "eta", "phi", "d0Sig", "z0"):  # cone selection and track inputs
            check_finite(full, f"Track_{f}", trk_cols[f], trk_offsets)
        check_vertex_index(full, trk_offsets, trk_cols["vtxIdx"],
                           ak.to_numpy(full["PV", "npvs"]))
    else:
        clusters = _clusters_records(objects, with_time)
        trk_evt = evt
        trk_offsets, trk_cols = _track_columns(events)
    col = clusters.columns
    has_cluster = clusters.has_cluster
    e_acc, e0, e1, e2 = col["eAcc"], col["e0"], col["e1"], col["e2"]
    eta, phi, etg = col["eta"], col["phi"], col["eTileGap"]
    aeta = np.abs(eta)
    n_cell = (clusters.stops - clusters.starts).astype(np.float64)
    safe_eacc = np.where(e_acc > 0, e_acc, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f0 = np.where(aeta < 1.8, e0 / safe_eacc, 0.0)
        r12 = np.where(e2 > 0, e1 / np.where(e2 > 0, e2, 1.0), 0.0)
        e_tg3 = np.where((aeta > 1.4) & (aeta < 1.6), etg / safe_eacc, 0.0)
    tracks, n_in = _tracks_near(trk_offsets, trk_cols, trk_evt, eta, phi)
    mu = _np(events.Pileup.nTrueInt)[evt]
    # events.PV needs x, y, z (coffea Vertex validation) that calocoffea files do not store
    npv = _np(events["PV", "npvs"])[evt]
    dphi_th3 = np.mod(2.0 * np.pi + phi, np.pi / 32) - np.pi / 32
    cells = clusters.cells
    checked = clusters.local is not None
    eta_max, bad, kind = _layer2_max_eta(
        cells["e"], cells["eta"], cells["layer"], clusters.starts, clusters.stops,
        clusters.cell_cluster if checked else np.zeros(0, np.int32),
        clusters.local if checked else np.zeros(0, np.int64), N_LAYERS)
    if bad >= 0:
        cell_range_error(clusters.events, kind, bad, clusters.cell_cluster, cells["layer"])
    cols = {
        "e_acc": e_acc, "eta_index": col["etaIndex"], "f0": f0, "r12": r12,
        "e_tg3": e_tg3, "e_tilegap": etg, "eta": eta, "eta_mod": col["etaMod"],
        "poscs2": 2.0 * (eta - eta_max) / LAYER2_DETA - 1.0, "dphi_th3": dphi_th3, "mu": mu,
        "n_tracks": n_in.astype(np.float64), "n_vtx": npv,
    }
    if particle == "electron":
        own = _own_track(objects)
        has_trk = np.isfinite(own["eta"])
        cols["pt_track"] = own["pt"]
        cols["deta2"] = np.where(has_trk, own["eta"] - eta, 0.0)
        cols["dphi2"] = np.where(has_trk, own["charge"] * wrap_phi(own["phi"] - phi), 0.0)
    else:
        cols["conv_type"] = _np(_flat(objects.convType))
        cols["conv_radius"] = _np(_flat(objects.convRadius))
        cols["phi_mod"] = col["phiMod"]
    scalars = np.stack([cols[name] for name in scalar_names(particle)], axis=1)
    valid = has_cluster & (n_cell > 0) & (e_acc > 0) & (aeta < ETA_MAX)
    valid &= np.all(np.isfinite(scalars), axis=1)
    # missing clusters have no cells (invalid image); their barycentre is irrelevant
    source = ImageSource(cells, clusters.starts, clusters.stops,
                         np.where(has_cluster, eta, 0.0), np.where(has_cluster, phi, 0.0),
                         with_time=with_time)
    inputs = ModelInputs(None, scalars.astype(np.float32), tracks, valid, source)
    if not defer_images:
        inputs.images = inputs.images_for(0, n)
    # invalid rows are zero-filled (finite) so that a batch never carries NaN into the graph
    inputs.scalars[~valid] = 0.0
    inputs.tracks[~valid] = 0.0
    n_bad = int((~valid).sum())
    if n_bad:
        log.debug("%d of %d %ss have invalid CNN inputs", n_bad, n, particle)
    return inputs


def cluster_time(objects) -> np.ndarray:
    """(n,) energy-weighted mean time (ns) of the middle-layer cells with a stored time of
    each object's cluster, flattened like ``objects``; NaN without such a cell. (Not a CNN
    input: the data/MC comparison of :mod:`calocoffea.app.data_mc` shows the timing.)"""
    linked = linked_content(objects, "clusterIdx", "Cluster")
    if linked is not None and "CaloCell" in linked[1].fields:
        clusters = _clusters_nanoevents(objects, linked)
        cell_content = linked[1].CaloCell._content()
        time = flat_column(cell_content, "time")
    else:
        clusters = _clusters_records(objects)
        time = ak.to_numpy(ak.flatten(_flat(objects.cluster.cells)["time"], axis=None))
    n = clusters.starts.size
    counts = clusters.stops - clusters.starts
    owner = np.repeat(np.arange(n), counts)
    idx = np.repeat(clusters.starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    idx = idx + np.arange(counts.sum())
    e = clusters.cells["e"][idx]
    t = time[idx]
    use = (clusters.cells["layer"][idx] == 2) & (t != 0) & (e > 0)
    num = np.bincount(owner[use], (e * t)[use], minlength=n)
    den = np.bincount(owner[use], e[use], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)

"""Per-cluster calorimeter images: four LAr layers on a common 56 (η) × 11 (φ) grid.

Layout of the output of :func:`build_images` and :func:`images_from_clusters`:
``images[k, c, i, j]`` (float32, shape ``(n_clusters, n_channels, 56, 11)``) with

- channels ``c = 0..3``: energy (GeV) deposited in layer ``c`` (0 presampler, 1 strips,
  2 middle, 3 back) within pixel ``(i, j)``;
- channels ``c = 4..7`` (only with ``with_time=True``): time (ns) of layer ``c - 4`` in the
  pixel, the mean of the cell times weighted by |energy share| (0 where the pixel is empty);
- ``i`` increases with signed η, pixel pitch :data:`~calocoffea.geometry.IMAGE_ETA_PITCH`
  (one strip, 0.025/8); ``j`` increases with φ, pitch
  :data:`~calocoffea.geometry.IMAGE_PHI_PITCH` (one middle-layer cell, 2π/256).

The window covers 7 × 11 middle-layer cells centred on the cluster barycentre
(``Cluster_eta``, ``Cluster_phi``): pixel ``(i, j)`` spans
``η_c + (i - 28) p_η ≤ η < η_c + (i - 27) p_η`` and the same in φ with ``j - 5.5``
(φ differences wrapped into [-π, π), so windows across φ = ±π are handled).

Up-sampling (thesis §3.3.3, fig. 3.5, table 3.5): every cell of size Δη × Δφ is split into
``n_η × n_φ`` sub-cells of equal size and energy share E / (n_η n_φ). Per axis, with
``ratio = Δη / p_η`` (or ``Δφ / p_φ``): when the ratio is within 1e-3 of a whole number
m ≥ 1 the cell is taken to be exactly m pixels wide (this undoes the float32 rounding of the
stored sizes) and split in n = m sub-cells of one pixel; otherwise
``n = max(1, ceil(ratio))`` sub-cells of width Δη / n. Each sub-cell is added to the pixel
containing its centre; the window is cut *after* the split, so a cell crossing the window edge
contributes only its inside sub-cells. Cell-size ratios are integers everywhere except the
end-cap strips at 1.8 < |η| < 2.0 (Δη = 0.025/6, ratio 4/3): there the cell is split in two
sub-cells of 2/3 of a pixel, so a pixel never receives a sub-cell larger than itself and the
energy stays within one pixel of its true position. Energy is conserved exactly for the
sub-cells inside the window. A sub-cell centre lying on a pixel edge (the barycentre on a
cell boundary) goes to the upper pixel: coordinates are shifted up by 1e-6 pixel before
binning so that float rounding never decides.

Validity: ``valid[k]`` is False, and the image is all zeros, when cluster ``k`` has no cells,
a non-finite barycentre, any cell with a non-finite energy, position or size (or time, with
time channels), a cell size outside (0, :data:`MAX_CELL_SIZE`], or when the image would
overflow float32. Such clusters are kept (no event is lost) but must not be calibrated.
Cell layers outside 0-3 (of the cells of a cluster with a finite barycentre) and inconsistent
offsets raise :class:`ValueError`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import awkward as ak
import numpy as np

from calocoffea import geometry
from calocoffea._numba import njit
from calocoffea.geometry import N_LAYERS
from calocoffea.kinematics import wrap_phi

log = logging.getLogger(__name__)


#: Image size in η: window width in middle-layer cells × strips per middle cell.
N_ETA: int = geometry.WINDOW_ETA_CELLS * round(geometry.LAYER2_DETA / geometry.IMAGE_ETA_PITCH)
#: Image size in φ: window height in middle-layer cells (one pixel per cell).
N_PHI: int = geometry.WINDOW_PHI_CELLS
#: (η, φ) pixels of one layer's image.
IMAGE_SHAPE: tuple[int, int] = (N_ETA, N_PHI)
#: Largest accepted cell size (rad) in η or φ; larger cells mark the cluster invalid.
MAX_CELL_SIZE: float = 0.5
#: Tolerance on the size/pitch ratio before rounding up the sub-cell count.
_RATIO_TOL: float = 1e-3
#: Sub-cell centres are moved up by this fraction of a pixel before binning, so that a centre
#: on a pixel edge goes to the upper pixel whatever the float rounding.
_PIXEL_SNAP: float = 1e-6
_F32_MAX: float = float(np.finfo(np.float32).max)


def pixel_edges(cluster_eta: float, cluster_phi: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel edges (rad) of the window around one barycentre: η (N_ETA+1,), φ (N_PHI+1,).

    φ edges are not wrapped (they may leave [-π, π) near the boundary).
    """
    pe, pp = geometry.IMAGE_ETA_PITCH, geometry.IMAGE_PHI_PITCH
    eta = cluster_eta + (np.arange(N_ETA + 1) - N_ETA / 2) * pe
    phi = cluster_phi + (np.arange(N_PHI + 1) - N_PHI / 2) * pp
    return eta, phi


@njit(nogil=True, inline="always")
def _split(size, inv_pitch):
    """Sub-cells along one axis: (count n, width r in pixels, first-centre offset from the
    cell centre in pixels, unit flag: r == 1 or n == 1, i.e. one sub-cell per pixel step).
    """
    ratio = size * inv_pitch
    m = round(ratio)
    if m >= 1 and abs(ratio - m) <= _RATIO_TOL:
        # a whole number of pixels up to float32 storage rounding: exactly m pixels wide
        return m, 1.0, 0.5 * (1.0 - m), True
    n = max(1, math.ceil(ratio))
    r = ratio / n
    return n, r, 0.5 * (r - ratio), n == 1


@njit(nogil=True, inline="always")
def _inside(u_first, r, n, n_pix):
    """Range [k0, k1) of sub-cells whose centre ``u_first + k r`` (pixels) is in [0, n_pix).

    Solved in closed form, then corrected by the exact test at both ends, so the result is
    the same as testing every sub-cell but costs O(1).
    """
    x = -u_first / r
    if x <= 0.0:
        k0 = 0
    elif x >= n:
        k0 = n
    else:
        k0 = math.ceil(x)
    while k0 < n and u_first + k0 * r < 0.0:
        k0 += 1
    while k0 > 0 and u_first + (k0 - 1) * r >= 0.0:
        k0 -= 1
    y = (n_pix - u_first) / r
    if y <= 0.0:
        k1 = 0
    elif y >= n:
        k1 = n
    else:
        k1 = math.ceil(y)
    while k1 > 0 and u_first + (k1 - 1) * r >= n_pix:
        k1 -= 1
    while k1 < n and u_first + k1 * r < n_pix:
        k1 += 1
    return k0, max(k0, k1)


# The pixel grid as compile-time constants of the kernel (numba freezes module globals).
_INV_PE: float = 1.0 / geometry.IMAGE_ETA_PITCH
_INV_PP: float = 1.0 / geometry.IMAGE_PHI_PITCH
#: Window half-sizes in pixels, with the edge snap folded in.
_HALF_E: float = 0.5 * N_ETA + _PIXEL_SNAP
_HALF_P: float = 0.5 * N_PHI + _PIXEL_SNAP
#: Largest accepted cell size in pixels along each axis.
_MAX_RATIO_E: float = MAX_CELL_SIZE * _INV_PE
_MAX_RATIO_P: float = MAX_CELL_SIZE * _INV_PP
_ETA_SPAN: float = N_ETA * geometry.IMAGE_ETA_PITCH
_PHI_SPAN: float = N_PHI * geometry.IMAGE_PHI_PITCH


@njit(nogil=True, inline="always")
def _table_sizes(layer, eta, start, stop, table, size_e, size_p):  # noqa: PLR0917 (numba)
    """Step 1 (files without cell sizes): Δη, Δφ (rad) of cells ``start:stop`` from the
    geometry's size table ``(upper |η| edge, Δη, Δφ, segments)`` per layer
    (:func:`calocoffea.geometry.size_table`) into ``size_e``, ``size_p`` (indexed from 0);
    NaN for a cell outside every layer (its bad layer is reported by step 2)."""
    seg_upper, seg_deta, seg_dphi, n_seg = table
    # cells come sorted by layer and |eta| in practice: start each search from the previous
    # cell's segment when the layer is the same
    prev_lay = 255
    s = 0
    for j in range(stop - start):
        i = start + j
        lay = layer[i]
        a = abs(float(eta[i]))
        if lay >= N_LAYERS or not a < seg_upper[lay, n_seg[lay] - 1]:
            size_e[j] = math.nan
            size_p[j] = math.nan
            continue
        if lay != prev_lay or (s > 0 and a < seg_upper[lay, s - 1]):
            s = 0
            prev_lay = lay
        while a >= seg_upper[lay, s]:
            s += 1
        size_e[j] = seg_deta[lay, s]
        size_p[j] = seg_dphi[lay, s]


@njit(nogil=True, inline="always")
def _whole_pixel_prepass(  # noqa: PLR0917 (numba kernel: positional arguments)
    cells, deta, dphi, start, stop, c_eta, c_phi, sizes, fast_cells
):
    """Step 2: which cells ``start:stop`` take the fast path, i.e. are finite and exactly
    whole numbers of pixels wide, so that their sub-cells sit on consecutive pixels from
    (``first_e``, ``first_p``) for (``count_e``, ``count_p``) pixels. Branch-free, so the
    compiler vectorises it. Returns True when a cell has a layer outside 0-3."""
    e, eta, phi, layer = cells
    size_e, size_p = sizes
    first_e, first_p, count_e, count_p, fast = fast_cells
    two_pi = 2.0 * math.pi
    bad_layer = False
    for j in range(stop - start):
        i = start + j
        bad_layer |= layer[i] >= N_LAYERS
        d_eta = float(eta[i]) - c_eta
        d_phi = float(phi[i]) - c_phi
        # one-step wrap (inputs in [-pi, pi)); anything else goes to the general path
        d_phi = d_phi - two_pi if d_phi >= math.pi else d_phi
        d_phi = d_phi + two_pi if d_phi < -math.pi else d_phi
        ratio_e = (size_e[j] if deta is None else float(deta[i])) * _INV_PE
        ratio_p = (size_p[j] if dphi is None else float(dphi[i])) * _INV_PP
        m_e = math.floor(ratio_e + 0.5)
        m_p = math.floor(ratio_p + 0.5)
        ue = d_eta * _INV_PE + _HALF_E + 0.5 * (1.0 - m_e)
        up = d_phi * _INV_PP + _HALF_P + 0.5 * (1.0 - m_p)
        good = (
            (float(e[i]) * 0.0 == 0.0)
            & (ratio_e > 0.0)
            & (ratio_e <= _MAX_RATIO_E)
            & (ratio_p > 0.0)
            & (ratio_p <= _MAX_RATIO_P)
            & (abs(ratio_e - m_e) <= _RATIO_TOL)
            & (m_e >= 1.0)
            & (abs(ratio_p - m_p) <= _RATIO_TOL)
            & (m_p >= 1.0)
            & (abs(ue) < 1e6)
            & (abs(d_phi) <= math.pi)
        )
        # keep float->int conversions defined for cells that take the general path
        ue = ue if good else 0.0
        up = up if good else 0.0
        first_e[j] = math.floor(ue)
        first_p[j] = math.floor(up)
        count_e[j] = int(m_e) if good else 0
        count_p[j] = int(m_p) if good else 0
        fast[j] = good
    return bad_layer


@njit(nogil=True, inline="always")
def _scatter(  # noqa: PLR0917 (numba kernel: positional arguments)
    cells, deta, dphi, time, start, stop, c_eta, c_phi, sizes, fast_cells, pixels, img, wsum,
):
    """Step 3: add the energy of cells ``start:stop`` to ``img`` (n_channels, N_ETA, N_PHI):
    fast-path cells (step 2) share their energy equally over their whole pixels; the others
    are split into ``n_η × n_φ`` sub-cells (:func:`_split`), each added to the pixel of its
    centre when inside the window (:func:`_inside`); with ``time``, |energy|-weighted time
    sums go to channels 4-7 and the weights to ``wsum``. ``pixels`` are scratch index
    arrays. Returns (ok, Σ|E|); ok is False at the first non-finite or oversized cell."""
    e, eta, phi, layer = cells
    size_e, size_p = sizes
    first_e, first_p, count_e, count_p, fast = fast_cells
    ie, ip = pixels
    n_eta, n_phi = N_ETA, N_PHI
    two_pi = 2.0 * math.pi
    ok = True
    abs_sum = 0.0
    # cells come in runs of equal size: cache the split of the previous cell
    prev_se = -1.0
    prev_sp = -1.0
    ne, re, ae, unit_e = 1, 1.0, 0.0, True
    nph, rp, ap, unit_p = 1, 1.0, 0.0, True
    inv_n = 1.0
    for i in range(start, stop):
        ei = float(e[i])
        if time is None and fast[i - start]:
            abs_sum += abs(ei)
            j = i - start
            fe = first_e[j]
            fp = first_p[j]
            a0 = max(fe, 0)
            a1 = min(fe + count_e[j], n_eta)
            b0 = max(fp, 0)
            b1 = min(fp + count_p[j], n_phi)
            # float32 adds, no float64 round trip per pixel; where cell edges align with
            # pixels a pixel gets one share per layer, so the image is the same
            share = np.float32(ei / (count_e[j] * count_p[j]))
            lay = layer[i]
            if b1 - b0 == 1:
                for pa in range(a0, a1):
                    img[lay, pa, b0] += share
            elif a1 - a0 == 1:
                for pb in range(b0, b1):
                    img[lay, a0, pb] += share
            else:
                for pa in range(a0, a1):
                    for pb in range(b0, b1):
                        img[lay, pa, pb] += share
            continue
        sz_eta = size_e[i - start] if deta is None else float(deta[i])
        sz_phi = size_p[i - start] if dphi is None else float(dphi[i])
        d_eta = float(eta[i]) - c_eta
        d_phi = float(phi[i]) - c_phi
        ti = 0.0 if time is None else float(time[i])
        if not (
            math.isfinite(ei)
            and math.isfinite(d_eta)
            and math.isfinite(d_phi)
            and math.isfinite(ti)
            and sz_eta > 0.0
            and sz_eta <= MAX_CELL_SIZE
            and sz_phi > 0.0
            and sz_phi <= MAX_CELL_SIZE
        ):
            ok = False
            break
        abs_sum += abs(ei)
        # wrap the centre difference into [-pi, pi): windows across phi = +-pi
        if d_phi >= math.pi or d_phi < -math.pi:
            d_phi -= two_pi * math.floor((d_phi + math.pi) / two_pi)
        # cells far outside the window need no splitting (also bounds the work)
        if abs(d_eta) > 0.5 * (sz_eta + _ETA_SPAN):
            continue
        if abs(d_phi) > 0.5 * (sz_phi + _PHI_SPAN):
            continue
        if sz_eta != prev_se or sz_phi != prev_sp:
            ne, re, ae, unit_e = _split(sz_eta, _INV_PE)
            nph, rp, ap, unit_p = _split(sz_phi, _INV_PP)
            inv_n = 1.0 / (ne * nph)
            prev_se = sz_eta
            prev_sp = sz_phi
        ue = d_eta * _INV_PE + _HALF_E + ae
        up = d_phi * _INV_PP + _HALF_P + ap
        share = ei * inv_n
        lay = layer[i]
        # pixel of each sub-cell inside the window into ie[a0:a1], ip[b0:b1]; the two axes
        # are spelled out: an inlined per-axis helper measured 15-25 % slower on this path
        # (numba 0.68)
        if unit_e:
            fe = math.floor(ue)
            a0 = max(0, -fe)
            a1 = max(a0, min(ne, n_eta - fe))
            for a in range(a0, a1):
                ie[a] = fe + a
        else:
            a0, a1 = _inside(ue, re, ne, n_eta)
            for a in range(a0, a1):
                ie[a] = int(ue + a * re)  # u >= 0 here, so int() is floor()
        if unit_p:
            fp = math.floor(up)
            b0 = max(0, -fp)
            b1 = max(b0, min(nph, n_phi - fp))
            for b in range(b0, b1):
                ip[b] = fp + b
        else:
            b0, b1 = _inside(up, rp, nph, n_phi)
            for b in range(b0, b1):
                ip[b] = int(up + b * rp)
        w = abs(share)
        for a in range(a0, a1):
            pa = ie[a]
            for b in range(b0, b1):
                pb = ip[b]
                img[lay, pa, pb] += share
                if time is not None:
                    wsum[lay, pa, pb] += w
                    img[N_LAYERS + lay, pa, pb] += w * ti
    return ok, abs_sum


@njit(nogil=True, inline="always")
def _finish(img, wsum, abs_sum, with_time):
    """Step 4: False when a float32 pixel overflowed (only possible when the cells' Σ|E|
    exceeds half the float32 range); with time channels, the weighted time sums become
    means (ns) and ``wsum`` is reset for the next cluster."""
    ok = True
    n_eta, n_phi = img.shape[1], img.shape[2]
    if abs_sum > 0.5 * _F32_MAX:
        for c in range(N_LAYERS):
            for a in range(n_eta):
                for b in range(n_phi):
                    if not abs(img[c, a, b]) <= _F32_MAX:
                        ok = False
    if with_time:
        if ok:
            for c in range(N_LAYERS):
                for a in range(n_eta):
                    for b in range(n_phi):
                        w = wsum[c, a, b]
                        if w > 0.0:
                            t = img[N_LAYERS + c, a, b] / w
                            if not abs(t) <= _F32_MAX:
                                ok = False
                            img[N_LAYERS + c, a, b] = t
        wsum[:] = 0.0
    return ok


@njit(nogil=True)
def _kernel(  # noqa: PLR0917 (numba kernel: positional arguments)
    cells, deta, dphi, time, starts, stops, centres, table, images, valid
):
    """Images of the clusters whose cells are ``starts[k]:stops[k]`` of the flat columns
    ``cells = (e GeV, η, φ rad, layer)`` (all (n_cells,)), with sizes ``deta``, ``dphi``
    (rad) or None (then from the geometry ``table``, step 1) and ``time`` (ns) or None (no
    time channels). ``centres = (η, φ)`` are the cluster barycentres (n,).

    Writes ``images`` (n, n_channels, N_ETA, N_PHI) float32, which may be uninitialised
    (each image is zeroed just before it is filled, so the accumulation finds its cache lines
    present), and ``valid`` (n,) bool. Returns -1, or the index of the first cell with a
    layer outside 0-3 (before any write with it; the caller raises).
    """
    ceta, cphi = centres
    n_clusters = starts.shape[0]
    # sub-cell pixel indices along η and φ (scratch of step 3)
    pixels = (np.empty(int(_MAX_RATIO_E) + 2, dtype=np.int64),
              np.empty(int(_MAX_RATIO_P) + 2, dtype=np.int64))
    wsum = np.zeros((N_LAYERS, N_ETA, N_PHI), dtype=np.float64)
    max_cells = 0
    for k in range(n_clusters):
        max_cells = max(max_cells, stops[k] - starts[k])
    fast_cells = (np.empty(max_cells, dtype=np.int64), np.empty(max_cells, dtype=np.int64),
                  np.empty(max_cells, dtype=np.int64), np.empty(max_cells, dtype=np.int64),
                  np.empty(max_cells, dtype=np.bool_))
    # cell sizes of the current cluster when they come from the geometry table (deta is
    # None: a compile-time constant, numba prunes the branches it decides)
    n_sizes = max_cells if deta is None else 0
    sizes = (np.empty(n_sizes, dtype=np.float64), np.empty(n_sizes, dtype=np.float64))
    flat_images = images.reshape((n_clusters, images.size // max(n_clusters, 1)))
    for k in range(n_clusters):
        start = starts[k]
        stop = stops[k]
        valid[k] = False
        row = flat_images[k]
        for q in range(row.shape[0]):
            row[q] = 0.0
        if stop <= start:
            continue
        c_eta = float(ceta[k])
        c_phi = float(cphi[k])
        if not (math.isfinite(c_eta) and math.isfinite(c_phi)):
            continue
        if deta is None:
            _table_sizes(cells[3], cells[1], start, stop, table, sizes[0], sizes[1])
        if _whole_pixel_prepass(cells, deta, dphi, start, stop, c_eta, c_phi, sizes,
                                fast_cells):
            for i in range(start, stop):
                if cells[3][i] >= N_LAYERS:
                    return i
        img = images[k]
        ok, abs_sum = _scatter(cells, deta, dphi, time, start, stop, c_eta, c_phi, sizes,
                               fast_cells, pixels, img, wsum)
        if ok:
            ok = _finish(img, wsum, abs_sum, time is not None)
        elif time is not None:
            wsum[:] = 0.0
        if not ok:
            img[:] = 0.0
            continue
        valid[k] = True
    return -1


def window_cells(cluster_eta: float, cluster_phi: float) -> dict[str, np.ndarray]:
    """Every geometry cell (all four layers) overlapping the image window of one cluster.

    Returns arrays of shape (n_cells,): ``layer`` (uint8), centre ``eta``, ``phi`` (rad, φ in
    [-π, π)), sizes ``deta``, ``dphi`` (rad), ordered by layer, then η, then φ. This is the
    cell content the simulation stores per cluster (docs/data_format.md).
    """
    half_eta = 0.5 * N_ETA * geometry.IMAGE_ETA_PITCH
    half_phi = 0.5 * N_PHI * geometry.IMAGE_PHI_PITCH
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("layer", "eta", "phi", "deta", "dphi")}
    for lay in range(N_LAYERS):
        grid = geometry.layer_grid(lay)
        lo, hi = grid.edges[:-1], grid.edges[1:]
        sel = np.nonzero((lo < cluster_eta + half_eta) & (hi > cluster_eta - half_eta) & grid.valid)
        for i in sel[0]:
            dphi = 2.0 * np.pi / grid.nphi[i]
            j0 = math.floor((cluster_phi - half_phi + np.pi) / dphi)
            j1 = math.ceil((cluster_phi + half_phi + np.pi) / dphi)
            centres = wrap_phi(-np.pi + (np.arange(j0, j1) + 0.5) * dphi)
            n = centres.size
            out["layer"].append(np.full(n, lay, dtype=np.uint8))
            out["eta"].append(np.full(n, 0.5 * (lo[i] + hi[i])))
            out["phi"].append(centres)
            out["deta"].append(np.full(n, hi[i] - lo[i]))
            out["dphi"].append(np.full(n, dphi))
    return {
        k: np.concatenate(v) if v else np.zeros(0, np.uint8 if k == "layer" else np.float64)
        for k, v in out.items()
    }


def _float_array(name: str, x, dtype) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(x), dtype=dtype)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def build_images(
    cell_e: np.ndarray,
    cell_eta: np.ndarray,
    cell_phi: np.ndarray,
    cell_layer: np.ndarray,
    offsets: np.ndarray,
    *,
    cluster_eta: np.ndarray,
    cluster_phi: np.ndarray,
    cell_deta: np.ndarray | None = None,
    cell_dphi: np.ndarray | None = None,
    cell_time: np.ndarray | None = None,
    with_time: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Images of ``n`` clusters from flat cell arrays (see the module docstring for layout).

    Cell arrays have shape (n_cells,): energy (GeV), centre η, φ (rad), layer (0-3), size
    Δη, Δφ (rad; from :func:`calocoffea.geometry.cell_size` when None), time (ns; needed
    with ``with_time``). The cells of cluster k are ``offsets[k]:offsets[k+1]``
    (``offsets``: (n+1,), non-decreasing, from 0 to n_cells). ``cluster_eta``/``cluster_phi``:
    (n,) barycentres (rad).

    Returns ``(images, valid)``: float32 (n, 4 or 8, N_ETA, N_PHI) and bool (n,).
    """
    offsets = np.ascontiguousarray(np.asarray(offsets), dtype=np.int64)
    if offsets.ndim != 1 or offsets.size < 1:
        raise ValueError(f"offsets must be a 1-d array of length n_clusters+1, got {offsets.shape}")
    n_cells = np.asarray(cell_layer).size
    if offsets[0] != 0 or offsets[-1] != n_cells or np.any(np.diff(offsets) < 0):
        raise ValueError(
            f"offsets must rise from 0 to the number of cells ({n_cells}); "
            f"got first {offsets[0]}, last {offsets[-1]}"
        )
    return build_images_from_ranges(
        cell_e, cell_eta, cell_phi, cell_layer, offsets[:-1], offsets[1:],
        cluster_eta=cluster_eta, cluster_phi=cluster_phi, cell_deta=cell_deta,
        cell_dphi=cell_dphi, cell_time=cell_time, with_time=with_time,
    )


def build_images_from_ranges(  # noqa: PLR0917 (build_images with starts, stops)
    cell_e: np.ndarray,
    cell_eta: np.ndarray,
    cell_phi: np.ndarray,
    cell_layer: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    *,
    cluster_eta: np.ndarray,
    cluster_phi: np.ndarray,
    cell_deta: np.ndarray | None = None,
    cell_dphi: np.ndarray | None = None,
    cell_time: np.ndarray | None = None,
    with_time: bool = False,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`build_images` with the cells of cluster k at ``starts[k]:stops[k]`` (both (n,)).

    The ranges may skip cells or repeat them, so the cell arrays can be a whole chunk's
    ``CaloCell`` columns and the clusters any selection of it, without first gathering the
    selected clusters' cells into a contiguous copy. ``out``: an optional float32 array of
    the output shape to write the images into (e.g. a buffer reused across batches); it is
    returned as ``images``. To build many batches from the same cells, check the cells once
    with :func:`prepare_cells` and call :meth:`CellColumns.images`.
    """
    cells = prepare_cells(cell_e, cell_eta, cell_phi, cell_layer, cell_deta=cell_deta,
                          cell_dphi=cell_dphi, cell_time=cell_time, with_time=with_time)
    return cells.images(starts, stops, cluster_eta=cluster_eta, cluster_phi=cluster_phi,
                        out=out)


@dataclass(frozen=True)
class CellColumns:
    """Flat cell columns checked by :func:`prepare_cells` (contiguous, one float dtype,
    equal lengths; ``deta``/``dphi`` None: sizes from the geometry; ``time`` None: no time
    channels)."""

    e: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    layer: np.ndarray
    deta: np.ndarray | None
    dphi: np.ndarray | None
    time: np.ndarray | None

    def __len__(self) -> int:
        return self.layer.size

    def check_ranges(self, starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``starts``, ``stops`` as contiguous int64 (n,) arrays; ValueError unless
        0 ≤ start ≤ stop ≤ number of cells."""
        starts = np.ascontiguousarray(np.asarray(starts), dtype=np.int64)
        stops = np.ascontiguousarray(np.asarray(stops), dtype=np.int64)
        if starts.ndim != 1 or starts.shape != stops.shape:
            raise ValueError(
                f"starts and stops must be 1-d arrays of equal length, got {starts.shape}, "
                f"{stops.shape}"
            )
        if starts.size and (starts.min() < 0 or stops.max() > len(self)
                            or np.any(stops < starts)):
            raise ValueError(
                f"cell ranges must satisfy 0 <= start <= stop <= number of cells ({len(self)})"
            )
        return starts, stops

    def images(
        self,
        starts: np.ndarray,
        stops: np.ndarray,
        *,
        cluster_eta: np.ndarray,
        cluster_phi: np.ndarray,
        out: np.ndarray | None = None,
        ranges_checked: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(images, valid) of the clusters with cells ``starts[k]:stops[k]`` (see
        :func:`build_images_from_ranges`). ``ranges_checked``: the caller already passed
        these ranges (or a superset) through :meth:`check_ranges` (int64, contiguous)."""
        if not ranges_checked:
            starts, stops = self.check_ranges(starts, stops)
        n_clusters = starts.size
        ceta = _float_array("cluster_eta", cluster_eta, np.float64)
        cphi = _float_array("cluster_phi", cluster_phi, np.float64)
        if ceta.size != n_clusters or cphi.size != n_clusters:
            raise ValueError(
                f"cluster_eta/phi have {ceta.size}/{cphi.size} entries, offsets imply "
                f"{n_clusters}"
            )
        n_channels = N_LAYERS if self.time is None else 2 * N_LAYERS
        shape = (n_clusters, n_channels, N_ETA, N_PHI)
        if out is None:
            images = np.empty(shape, dtype=np.float32)  # the kernel zeroes each image
        elif (out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous
              or not out.flags.writeable):
            raise ValueError(
                f"out must be a writeable C-contiguous float32 array of shape {shape}"
            )
        else:
            images = out
        valid = np.zeros(n_clusters, dtype=np.bool_)
        bad_cell = _kernel(
            (self.e, self.eta, self.phi, self.layer), self.deta, self.dphi, self.time,
            starts, stops, (ceta, cphi), geometry.size_table(), images, valid,
        )
        if bad_cell >= 0:
            raise ValueError(
                f"cell layer (CaloCell_layer) must be in 0..{N_LAYERS - 1}, got "
                f"{self.layer[bad_cell]} (cell {bad_cell})"
            )
        return images, valid


def prepare_cells(
    cell_e: np.ndarray,
    cell_eta: np.ndarray,
    cell_phi: np.ndarray,
    cell_layer: np.ndarray,
    *,
    cell_deta: np.ndarray | None = None,
    cell_dphi: np.ndarray | None = None,
    cell_time: np.ndarray | None = None,
    with_time: bool = False,
) -> CellColumns:
    """Check flat cell columns once (shapes (n_cells,): energy GeV, centre η, φ rad, layer
    0-3, optional sizes Δη, Δφ rad and time ns) for repeated :meth:`CellColumns.images`
    calls; raises ValueError naming the bad column."""
    layer = np.asarray(cell_layer)
    n_cells = layer.size
    # uint8 layers (the data contract) are checked by the kernel on the cells it uses; other
    # types here, before the conversion could wrap them into range
    if n_cells and layer.dtype != np.uint8 and (layer.min() < 0 or layer.max() >= N_LAYERS):
        bad = layer[(layer < 0) | (layer >= N_LAYERS)][0]
        raise ValueError(f"cell layer (CaloCell_layer) must be in 0..{N_LAYERS - 1}, got {bad}")
    layer = np.ascontiguousarray(layer, dtype=np.uint8)
    if with_time and cell_time is None:
        raise ValueError("with_time=True needs cell_time")
    named = {"cell_e": cell_e, "cell_eta": cell_eta, "cell_phi": cell_phi}
    # without stored sizes the kernel looks them up in the geometry table per cell: no
    # per-cell size arrays to read (or to build for a whole chunk's cells)
    if cell_deta is not None and cell_dphi is not None:
        named.update(cell_deta=cell_deta, cell_dphi=cell_dphi)
    if with_time:
        named["cell_time"] = cell_time
    dtype = np.result_type(*(np.asarray(x).dtype for x in named.values()))
    if dtype not in (np.float32, np.float64):
        dtype = np.float64
    arrays = {nm: _float_array(nm, x, dtype) for nm, x in named.items()}
    for nm, arr in arrays.items():
        if arr.size != n_cells:
            raise ValueError(f"{nm} has {arr.size} entries, cell_layer has {n_cells}")
    # None (not a dummy array): numba then compiles the kernel without those branches
    return CellColumns(arrays["cell_e"], arrays["cell_eta"], arrays["cell_phi"], layer,
                       arrays.get("cell_deta"), arrays.get("cell_dphi"),
                       arrays.get("cell_time"))


def _flat_numpy(array: ak.Array, dtype=None) -> np.ndarray:
    out = ak.to_numpy(ak.flatten(array, axis=None))
    return out if dtype is None else out.astype(dtype, copy=False)


def images_from_clusters(
    clusters: ak.Array, *, with_time: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Images of awkward ``Cluster`` records with a ``cells`` list (coffea or plain awkward).

    ``clusters`` may be nested at any depth and option-typed, e.g. ``events.Cluster``
    (events → clusters) or ``events.Electron.cluster`` (events → electrons → ?cluster); the
    images follow the row-major order of the flattened input (``ak.flatten`` down to one
    axis), so ``ak.unflatten(images, ak.num(clusters))`` restores the event structure for a
    singly-jagged input. Missing clusters (None) get ``valid=False`` and a zero image.
    Cells need ``e``, ``eta``, ``phi``, ``layer``; ``deta``/``dphi`` are taken from the
    geometry when absent; ``time`` is needed with ``with_time``.
    """
    cells = clusters.cells
    # one entry per cluster: flatten the outer (event, object) levels
    counts = ak.num(cells, axis=-1)
    ceta = clusters.eta
    cphi = clusters.phi
    # axis=1 flattening keeps None clusters in place (axis=None would drop them)
    while counts.ndim > 1:
        counts = ak.flatten(counts, axis=1)
        ceta = ak.flatten(ceta, axis=1)
        cphi = ak.flatten(cphi, axis=1)
    # None clusters: zero cells; their barycentre is irrelevant
    missing = ak.to_numpy(ak.is_none(counts, axis=0))
    counts_np = ak.to_numpy(ak.fill_none(counts, 0)).astype(np.int64)
    ceta_np = ak.to_numpy(ak.fill_none(ceta, np.nan)).astype(np.float64)
    cphi_np = ak.to_numpy(ak.fill_none(cphi, np.nan)).astype(np.float64)
    if missing.any():
        ceta_np[missing] = 0.0
        cphi_np[missing] = 0.0
    offsets = np.zeros(counts_np.size + 1, dtype=np.int64)
    np.cumsum(counts_np, out=offsets[1:])

    fields = set(ak.fields(cells))
    required = {"e", "eta", "phi", "layer"} | ({"time"} if with_time else set())
    if not required <= fields:
        raise ValueError(f"cells lack field(s) {sorted(required - fields)}; have {sorted(fields)}")
    has_sizes = {"deta", "dphi"} <= fields
    return build_images(
        _flat_numpy(cells.e),
        _flat_numpy(cells.eta),
        _flat_numpy(cells.phi),
        _flat_numpy(cells.layer),
        offsets,
        cluster_eta=ceta_np,
        cluster_phi=cphi_np,
        cell_deta=_flat_numpy(cells.deta) if has_sizes else None,
        cell_dphi=_flat_numpy(cells.dphi) if has_sizes else None,
        cell_time=_flat_numpy(cells.time) if with_time else None,
        with_time=with_time,
    )


__all__ = [
    "MAX_CELL_SIZE",
    "N_ETA",
    "N_LAYERS",
    "N_PHI",
    "CellColumns",
    "build_images",
    "build_images_from_ranges",
    "images_from_clusters",
    "pixel_edges",
    "prepare_cells",
    "window_cells",
]

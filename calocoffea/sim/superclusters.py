"""ATLAS-like dynamic superclusters built from the simulated cells around each object.

What ATLAS does (JINST 14 (2019) P12006 §3; ATL-PHYS-PUB-2017-022; Athena's
``egammaSuperClusterBuilder``), and what stands in for it here:

1. **Topo-clusters** (4-2-0): cells whose energy exceeds 4σ of their noise seed a
   cluster, neighbours above 2σ grow it, and one last ring of neighbours is added. Here the
   clustering runs on the towers of the middle-layer lattice (0.025 × 2π/256): every cell's
   energy and noise variance are shared out over the towers it covers, so the four layers
   enter together (ATLAS clusters in 3-D across layers; a tower sum is the 2-D projection of
   that). σ is the electronic noise ⊕ the pile-up noise expected at the event's ⟨μ⟩, as
   ATLAS' noise tables. Topo-clusters are not split at local maxima.
2. **Seed**: the topo-cluster holding the hottest tower next to the object's impact.
3. **Satellites**: every other topo-cluster whose barycentre lies within Δη × Δφ =
   0.075 × 0.125 of the seed's (3 × 5 middle cells); for electrons also those within
   0.125 × 0.300 (5 × 12 cells) matched to the electron's track, i.e. along its path from
   the perigee direction to the seed (where its bremsstrahlung photons land); for converted
   photons those within 0.125 × 0.300 along the path of a reconstructed conversion track.
4. **Cells of the supercluster**: in the middle and back layers the cells of the chosen
   topo-clusters within |Δη| < 0.0375 (barrel) or 0.0625 (end-cap) of the hottest middle
   cell, with no limit in φ; in the presampler and the strips the same η range and the φ
   extent of the middle-layer cells ± one middle cell.

Every BDT input and shower shape of the object is computed on these cells (or, for the
shower shapes, on the cells around the hottest middle cell, as ATLAS does); the stored cells
still cover the CNN's 7 × 11 window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calocoffea import geometry as geo
from calocoffea._numba import njit

#: Topo-cluster thresholds in units of the noise σ: seed, growth (4-2-0).
TOPO_SEED_SIGMA: float = 4.0
TOPO_GROW_SIGMA: float = 2.0
#: Satellite windows (half-widths in middle-layer cells, η × φ): the standard one
#: (0.075 × 0.125 full) and the extended one for track/conversion-matched satellites
#: (0.125 × 0.300 full).
SATELLITE_WINDOW: tuple[float, float] = (1.5, 2.5)
MATCHED_SATELLITE_WINDOW: tuple[float, float] = (2.5, 6.0)
#: Track-to-satellite match: |Δη| below this, and Δφ inside the track's sweep ± this (rad).
TRACK_MATCH_DETA: float = 0.05
TRACK_MATCH_DPHI: float = 0.05
#: Half-width in η (middle cells) of the supercluster's cells around the hottest middle
#: cell: barrel, end-cap.
SC_HALF_ETA_CELLS: tuple[float, float] = (1.5, 2.5)


@dataclass
class SuperclusterCells:
    """Per window cell: whether it is in its object's supercluster (``in_sc``); per object:
    the window-cell index of the hottest middle-layer cell of the supercluster (−1 if none),
    the number of topo-clusters added as satellites, and ``fallback`` where no topo-cluster
    reached the seed threshold next to the impact (the supercluster is then the 3 × 5
    middle-cell core around the seed, counted in the cutflow of the simulation summary)."""

    in_sc: np.ndarray
    hottest: np.ndarray
    n_satellites: np.ndarray
    fallback: np.ndarray


@njit()
def _towers(  # noqa: PLR0917 (numba kernel: positional arrays)
    lay, eta, phi, deta, dphi, e, var, start, stop, keta, jphi, half_e, half_p, t_e, t_v
):
    """Share the energy and noise variance of cells ``start:stop`` over the middle-layer
    towers of the window (``t_e``, ``t_v``: (2 half_e + 1, 2 half_p + 1), zeroed first)."""
    ne, npp = t_e.shape
    for a in range(ne):
        for b in range(npp):
            t_e[a, b] = 0.0
            t_v[a, b] = 0.0
    for i in range(start, stop):
        na = max(1, round(deta[i] / geo.LAYER2_DETA))
        nb = max(1, round(dphi[i] / geo.LAYER2_DPHI))
        a0 = math.floor((eta[i] - 0.5 * deta[i]) / geo.LAYER2_DETA + 1e-6) - keta + half_e
        db = (phi[i] - 0.5 * dphi[i] + math.pi) / geo.LAYER2_DPHI - jphi
        db -= geo.LAYER2_NPHI * math.floor((db + 0.5 * geo.LAYER2_NPHI) / geo.LAYER2_NPHI)
        b0 = math.floor(db + 1e-6) + half_p
        share = 1.0 / (na * nb)
        for a in range(a0, a0 + na):
            if a < 0 or a >= ne:
                continue
            for b in range(b0, b0 + nb):
                if b < 0 or b >= npp:
                    continue
                t_e[a, b] += e[i] * share
                t_v[a, b] += var[i] * share * share


@njit()
def _topo(t_e, t_v, labels, stack):
    """4-2-0 topological clustering of the towers into ``labels`` (−1: no cluster);
    returns the number of clusters."""
    ne, npp = t_e.shape
    for a in range(ne):
        for b in range(npp):
            labels[a, b] = -1
    n_cl = 0
    # seeds in order of decreasing significance
    sig = np.empty(ne * npp)
    for a in range(ne):
        for b in range(npp):
            v = t_v[a, b]
            sig[a * npp + b] = t_e[a, b] / math.sqrt(v) if v > 0 else 0.0
    order = np.argsort(-sig)
    for q in range(ne * npp):
        s0 = order[q]
        if sig[s0] <= TOPO_SEED_SIGMA:
            break
        a0, b0 = s0 // npp, s0 % npp
        if labels[a0, b0] >= 0:
            continue
        label = n_cl
        n_cl += 1
        labels[a0, b0] = label
        top = 0
        stack[top] = s0
        top += 1
        while top > 0:
            top -= 1
            s = stack[top]
            a, b = s // npp, s % npp
            if abs(sig[s]) <= TOPO_GROW_SIGMA and s != s0:
                continue  # boundary tower: joins, does not grow
            for da in range(-1, 2):
                for dbb in range(-1, 2):
                    aa, bb = a + da, b + dbb
                    if aa < 0 or aa >= ne or bb < 0 or bb >= npp or labels[aa, bb] >= 0:
                        continue
                    labels[aa, bb] = label
                    stack[top] = aa * npp + bb
                    top += 1
    return n_cl


@njit()
def _build(  # noqa: PLR0917 (numba kernel: positional arrays)
    lay, eta, phi, deta, dphi, e, var, offsets, keta, jphi, is_e, trk_eta, trk_phi, conv_eta,
    conv_phi, leg_phi, half_e, half_p
):
    n_obj = offsets.shape[0] - 1
    ne, npp = 2 * half_e + 1, 2 * half_p + 1
    t_e = np.zeros((ne, npp))
    t_v = np.zeros((ne, npp))
    labels = np.full((ne, npp), -1, np.int64)
    stack = np.empty(ne * npp * 9, np.int64)
    in_sc = np.zeros(offsets[-1], np.bool_)
    hottest = np.full(n_obj, -1, np.int64)
    n_sat = np.zeros(n_obj, np.int64)
    fallback = np.zeros(n_obj, np.bool_)
    sel = np.zeros(ne * npp + 1, np.bool_)
    for c in range(n_obj):
        start, stop = offsets[c], offsets[c + 1]
        _towers(lay, eta, phi, deta, dphi, e, var, start, stop, keta[c], jphi[c], half_e,
                half_p, t_e, t_v)
        n_cl = _topo(t_e, t_v, labels, stack)
        # barycentres and energies of the topo-clusters (tower units, positive energies)
        ce = np.zeros(n_cl)
        ca = np.zeros(n_cl)
        cb = np.zeros(n_cl)
        cw = np.zeros(n_cl)
        for a in range(ne):
            for b in range(npp):
                k = labels[a, b]
                if k >= 0:
                    ce[k] += t_e[a, b]
                    w = max(t_e[a, b], 0.0)
                    cw[k] += w
                    ca[k] += w * a
                    cb[k] += w * b
        for k in range(n_cl):
            if cw[k] > 0:
                ca[k] /= cw[k]
                cb[k] /= cw[k]
        # seed: the cluster of the hottest labelled tower in the 3x3 around the impact
        seed = -1
        best = -1e300
        for a in range(half_e - 1, half_e + 2):
            for b in range(half_p - 1, half_p + 2):
                if labels[a, b] >= 0 and t_e[a, b] > best:
                    best = t_e[a, b]
                    seed = labels[a, b]
        for k in range(n_cl + 1):
            sel[k] = False
        if seed < 0:
            fallback[c] = True
        else:
            sel[seed] = True
            # φ of the seed barycentre (rad, wrapped relative to the window centre)
            phi0 = -math.pi + (jphi[c] - half_p + cb[seed] + 0.5) * geo.LAYER2_DPHI
            for k in range(n_cl):
                if k == seed or cw[k] <= 0:
                    continue
                dea = abs(ca[k] - ca[seed])
                dpb = abs(cb[k] - cb[seed])
                if dea < SATELLITE_WINDOW[0] and dpb < SATELLITE_WINDOW[1]:
                    sel[k] = True
                    n_sat[c] += 1
                    continue
                if not (dea < MATCHED_SATELLITE_WINDOW[0] and dpb < MATCHED_SATELLITE_WINDOW[1]):
                    continue
                k_eta = (keta[c] - half_e + ca[k] + 0.5) * geo.LAYER2_DETA
                k_phi = -math.pi + (jphi[c] - half_p + cb[k] + 0.5) * geo.LAYER2_DPHI
                matched = False
                if is_e[c] and math.isfinite(trk_phi[c]):
                    lo = _unwrap(trk_phi[c], phi0)
                    matched = abs(k_eta - trk_eta[c]) < TRACK_MATCH_DETA and _in_sweep(
                        k_phi, lo, phi0)
                elif math.isfinite(conv_phi[c]):
                    for leg in range(2):
                        if math.isfinite(leg_phi[c, leg]):
                            hi = _unwrap(leg_phi[c, leg], conv_phi[c])
                            if abs(k_eta - conv_eta[c]) < TRACK_MATCH_DETA and _in_sweep(
                                    k_phi, conv_phi[c], hi):
                                matched = True
                if matched:
                    sel[k] = True
                    n_sat[c] += 1
        # cells: L2/L3 in the chosen towers, then the eta window around the hottest L2 cell
        hot = -1
        hot_e = -1e300
        for i in range(start, stop):
            a, b = _tower_of(eta[i], phi[i], keta[c], jphi[c], half_e, half_p)
            if a < 0:
                continue
            ok = labels[a, b] >= 0 and sel[labels[a, b]] if not fallback[c] else (
                abs(a - half_e) <= 1 and abs(b - half_p) <= 2)
            if ok and lay[i] == 2 and e[i] > hot_e:
                hot = i
                hot_e = e[i]
        if hot < 0:
            continue
        hottest[c] = hot
        half = SC_HALF_ETA_CELLS[0] if abs(eta[hot]) < 1.475 else SC_HALF_ETA_CELLS[1]
        lim = half * geo.LAYER2_DETA - 1e-9
        # phi extent (relative to the hottest cell) of the selected middle-layer cells
        pmin, pmax = 1e300, -1e300
        for i in range(start, stop):
            if lay[i] < 2 or abs(eta[i] - eta[hot]) >= lim:
                continue
            a, b = _tower_of(eta[i], phi[i], keta[c], jphi[c], half_e, half_p)
            if a < 0:
                continue
            ok = labels[a, b] >= 0 and sel[labels[a, b]] if not fallback[c] else (
                abs(a - half_e) <= 1 and abs(b - half_p) <= 2)
            if ok:
                in_sc[i] = True
                if lay[i] == 2:
                    d = _dphi(phi[i], phi[hot])
                    pmin = min(pmin, d)
                    pmax = max(pmax, d)
        for i in range(start, stop):
            if lay[i] >= 2 or abs(eta[i] - eta[hot]) >= lim:
                continue
            d = _dphi(phi[i], phi[hot])
            lo = d - 0.5 * dphi[i]
            hi = d + 0.5 * dphi[i]
            if hi > pmin - 1.5 * geo.LAYER2_DPHI and lo < pmax + 1.5 * geo.LAYER2_DPHI:
                in_sc[i] = True
    return in_sc, hottest, n_sat, fallback


@njit(inline="always")
def _dphi(a, b):
    d = a - b
    return d - 2.0 * math.pi * math.floor((d + math.pi) / (2.0 * math.pi))


@njit(inline="always")
def _unwrap(value, ref):
    """``value`` shifted by 2π k to lie within π of ``ref``."""
    return ref + _dphi(value, ref)


@njit(inline="always")
def _in_sweep(x, a, b):
    """φ ``x`` inside [min(a, b), max(a, b)] ± TRACK_MATCH_DPHI (a, b unwrapped together)."""
    xx = _unwrap(x, 0.5 * (a + b))
    return min(a, b) - TRACK_MATCH_DPHI <= xx <= max(a, b) + TRACK_MATCH_DPHI


@njit(inline="always")
def _tower_of(eta, phi, keta, jphi, half_e, half_p):  # noqa: PLR0917 (numba)
    """(a, b) tower of a cell centre in the window, (−1, −1) outside."""
    a = math.floor(eta / geo.LAYER2_DETA) - keta + half_e
    db = (phi + math.pi) / geo.LAYER2_DPHI - jphi
    db -= geo.LAYER2_NPHI * math.floor((db + 0.5 * geo.LAYER2_NPHI) / geo.LAYER2_NPHI)
    b = math.floor(db) + half_p
    if a < 0 or a > 2 * half_e or b < 0 or b > 2 * half_p:
        return -1, -1
    return a, b


def build(cells: dict[str, np.ndarray], noise_var: np.ndarray, offsets: np.ndarray,
          keta: np.ndarray, jphi: np.ndarray, *, is_electron: np.ndarray,
          trk_eta: np.ndarray, trk_phi: np.ndarray, conv_eta: np.ndarray,
          conv_phi: np.ndarray, leg_phi: np.ndarray, half_eta: int, half_phi: int
          ) -> SuperclusterCells:
    """Superclusters of every object from its window cells (flat arrays grouped by
    ``offsets``: ``layer``, ``eta``, ``phi``, ``deta``, ``dphi``, ``e`` GeV) and their noise
    variance (GeV²). ``keta``/``jphi``: middle-layer seed cell of each object; the window
    spans ``2 half_eta + 1`` × ``2 half_phi + 1`` middle cells around it. Electrons give
    their track's η and φ (NaN without a track), photons the direction of their
    reconstructed conversion and the calorimeter φ of each reconstructed leg (NaN where
    absent)."""
    res = _build(
        cells["layer"].astype(np.int64), cells["eta"], cells["phi"], cells["deta"],
        cells["dphi"], cells["e"], noise_var, offsets.astype(np.int64), keta.astype(np.int64),
        jphi.astype(np.int64), is_electron.astype(np.bool_), trk_eta, trk_phi, conv_eta,
        conv_phi, np.ascontiguousarray(leg_phi, dtype=np.float64), half_eta, half_phi,
    )
    return SuperclusterCells(*res)


@njit()
def _shapes(lay, eta, phi, e, offsets, in_sc, hottest, out):  # noqa: PLR0917 (numba)
    """Per object: E0..E3 of the supercluster, its middle-layer barycentre, and the shower
    shapes around the hottest middle cell; ``out`` (n_obj, 15) float64, see
    :func:`shower_shapes` for the columns."""
    n_obj = offsets.shape[0] - 1
    for c in range(n_obj):
        start, stop = offsets[c], offsets[c + 1]
        es = np.zeros(4)
        w2 = 0.0
        eta_w = 0.0
        phi_w = 0.0
        hot = hottest[c]
        for i in range(start, stop):
            if in_sc[i]:
                es[lay[i]] += e[i]
                if lay[i] == 2 and e[i] > 0 and hot >= 0:
                    w2 += e[i]
                    eta_w += e[i] * (eta[i] - eta[hot])
                    phi_w += e[i] * _dphi(phi[i], phi[hot])
        for q in range(4):
            out[c, q] = es[q]
        if hot < 0:
            for q in range(4, out.shape[1]):
                out[c, q] = math.nan
            continue
        out[c, 4] = eta[hot] + (eta_w / w2 if w2 > 0 else 0.0)
        out[c, 5] = phi[hot] + (phi_w / w2 if w2 > 0 else 0.0)
        # middle layer around the hottest cell (cell units of 0.025 x 2pi/256)
        e33 = e37 = e77 = 0.0
        s5 = 0.0
        sw = swe = swe2 = 0.0
        for i in range(start, stop):
            if lay[i] != 2:
                continue
            da = (eta[i] - eta[hot]) / geo.LAYER2_DETA
            db = _dphi(phi[i], phi[hot]) / geo.LAYER2_DPHI
            ia, ib = abs(round(da)), abs(round(db))
            if ia <= 3 and ib <= 3:
                e77 += e[i]
            if ia <= 1 and ib <= 3:
                e37 += e[i]
            if ia <= 1 and ib <= 1:
                e33 += e[i]
            if ia <= 1 and ib <= 2 and e[i] > 0:  # w_eta2: 3 x 5 cells
                sw += e[i]
                swe += e[i] * eta[i]
                swe2 += e[i] * eta[i] * eta[i]
            if ia <= 2 and ib <= 2:
                s5 += e[i]
        out[c, 6] = e37 / e77 if e77 > 0 else math.nan  # R_eta
        out[c, 7] = e33 / e37 if e37 > 0 else math.nan  # R_phi
        out[c, 8] = math.sqrt(max(swe2 / sw - (swe / sw) ** 2, 0.0)) if sw > 0 else math.nan
        # sigma_ietaieta (CMS): log-weighted eta spread of the 5 x 5 middle cells, eta units
        sw = swd = swd2 = 0.0
        if s5 > 0:
            for i in range(start, stop):
                if lay[i] != 2 or e[i] <= 0:
                    continue
                da = (eta[i] - eta[hot]) / geo.LAYER2_DETA
                db = _dphi(phi[i], phi[hot]) / geo.LAYER2_DPHI
                if abs(round(da)) <= 2 and abs(round(db)) <= 2:
                    w = max(0.0, 4.7 + math.log(e[i] / s5))
                    sw += w
                    swd += w * da
                    swd2 += w * da * da
        out[c, 9] = (math.sqrt(max(swd2 / sw - (swd / sw) ** 2, 0.0)) * geo.LAYER2_DETA
                     if sw > 0 else 0.0)
        tot = es[0] + es[1] + es[2] + es[3]
        out[c, 10] = es[1] / tot if tot > 0 else math.nan  # f1
        out[c, 11] = es[3] / tot if tot > 0 else math.nan  # f3
        out[c, 12] = e33 / es[2] if es[2] > 0 else math.nan  # R9 analogue: E2(3x3)/E2(SC)
        # strips: the supercluster strips in the phi row of the hottest middle cell
        n_s = 0
        for i in range(start, stop):
            if lay[i] == 1 and in_sc[i] and abs(_dphi(phi[i], phi[hot])) < 0.05:
                n_s += 1
        if n_s == 0:
            out[c, 13] = math.nan
            out[c, 14] = math.nan
            continue
        s_eta = np.empty(n_s)
        s_e = np.empty(n_s)
        k = 0
        for i in range(start, stop):
            if lay[i] == 1 and in_sc[i] and abs(_dphi(phi[i], phi[hot])) < 0.05:
                s_eta[k] = eta[i]
                s_e[k] = e[i]
                k += 1
        order = np.argsort(s_eta)
        s_eta = s_eta[order]
        s_e = s_e[order]
        imax = int(np.argmax(s_e))
        # w_s3: energy-weighted width over the 3 strips around the hottest one (strip units)
        sw = swd2 = 0.0
        for j in range(max(0, imax - 1), min(n_s, imax + 2)):
            if s_e[j] > 0:
                sw += s_e[j]
                swd2 += s_e[j] * (j - imax) ** 2
        out[c, 13] = math.sqrt(swd2 / sw) if sw > 0 else 0.0
        # E_ratio: hottest strip against the highest other local maximum
        e2nd = 0.0
        for j in range(1, n_s - 1):
            if j != imax and s_e[j] > s_e[j - 1] and s_e[j] > s_e[j + 1]:
                e2nd = max(e2nd, s_e[j])
        e1st = s_e[imax]
        out[c, 14] = (e1st - e2nd) / (e1st + e2nd) if e1st + e2nd > 0 else 0.0


#: Columns of :func:`shower_shapes`.
SHAPE_COLUMNS: tuple[str, ...] = (
    "e0", "e1", "e2", "e3", "eta", "phi", "rEta", "rPhi", "wEta2", "sigmaIetaIeta", "f1", "f3",
    "r9", "wS3", "eRatio",
)


def shower_shapes(cells: dict[str, np.ndarray], offsets: np.ndarray, sc: SuperclusterCells
                  ) -> dict[str, np.ndarray]:
    """Per object (float64 (n_obj,)): supercluster layer energies ``e0``..``e3`` (GeV), its
    middle-layer energy barycentre ``eta``, ``phi`` (rad), and the shower shapes of the ATLAS
    identification (R_η = E(3×7)/E(7×7), R_φ = E(3×3)/E(3×7) and w_η2 over 3×5 middle cells
    around the hottest one; f1, f3 = E1, E3 over the supercluster energy; w_s3 over 3 strips
    and E_ratio of the strips) and the CMS ones used by its e/γ regression (σ_iηiη over the
    5×5 middle cells with weights max(0, 4.7 + ln(E_i/E_5×5)), in η units, and an R9
    analogue E2(3×3)/E2(supercluster)). NaN where the object has no middle-layer cell."""
    n_obj = len(offsets) - 1
    out = np.zeros((n_obj, len(SHAPE_COLUMNS)))
    _shapes(cells["layer"].astype(np.int64), cells["eta"], cells["phi"], cells["e"],
            offsets.astype(np.int64), sc.in_sc, sc.hottest, out)
    return {name: out[:, k] for k, name in enumerate(SHAPE_COLUMNS)}

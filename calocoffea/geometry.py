"""ATLAS-like LAr electromagnetic calorimeter geometry (the one place for geometry constants).

Layers: 0 presampler, 1 strips, 2 middle, 3 back. Cell granularities follow the ATLAS
detector paper (JINST 3 S08003, table 1.3; reproduced in the DeepCalo thesis table 1.1),
folded onto one non-overlapping segmentation per layer in |eta| (the barrel/end-cap overlap
1.375 < |eta| < 1.5 is assigned to whichever wheel gives the table's finer cells). Cells form
a grid: in every layer the cell edges in |eta| coincide with the region boundaries, the grid is
mirrored for eta < 0, and phi cells are ``2*pi/n_phi`` wide starting at phi = -pi.

Material: depths of the accordion layers and the material upstream of the presampler and of
the accordion, in radiation lengths X0, are piecewise-linear digitisations of the ATLAS
detector paper (figs. 5.2-5.4) and of the Run-2 calibration paper (JINST 14 (2019) P03017,
fig. 1); see docs/simulation.md for the table of values and their sources.

Units: lengths in cm, angles in rad, depths in X0.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from calocoffea.kinematics import wrap_phi

#: Layer numbers: presampler, strips, middle, back.
LAYERS: tuple[int, ...] = (0, 1, 2, 3)
N_LAYERS: int = 4
#: Middle-layer cell size in eta (the image and window unit).
LAYER2_DETA: float = 0.025
#: Middle-layer cell size in phi: 256 cells in 2*pi (ATLAS), i.e. 0.02454 rad.
LAYER2_NPHI: int = 256
LAYER2_DPHI: float = 2.0 * np.pi / LAYER2_NPHI
#: Image pixel pitch in eta: one strip (layer-1 barrel cell).
IMAGE_ETA_PITCH: float = LAYER2_DETA / 8
#: Image pixel pitch in phi: one middle-layer cell.
IMAGE_PHI_PITCH: float = LAYER2_DPHI
#: Cluster window in middle-layer cells (eta x phi).
WINDOW_ETA_CELLS: int = 7
WINDOW_PHI_CELLS: int = 11
#: Barrel/end-cap transition ("crack") in |eta|.
CRACK: tuple[float, float] = (1.37, 1.52)
#: Tracker acceptance used for e/gamma objects.
ETA_MAX: float = 2.47
#: Outer |eta| edge of the EM calorimeter cells modelled here.
CALO_ETA_MAX: float = 2.5
#: Tile-gap (E3/E4 crack) scintillator |eta| coverage and cell size (eta x phi).
TILEGAP_ETA: tuple[float, float] = (1.2, 1.6)
TILEGAP_DETA: float = 0.1
TILEGAP_DPHI: float = 2.0 * np.pi / 64

#: Radii / z positions (cm), JINST 3 S08003 ch. 4-5.
SOLENOID_RADIUS: float = 123.0  # field region ends at the solenoid (2 T)
SOLENOID_HALF_LENGTH: float = 265.0
ID_OUTER_RADIUS: float = 108.0  # TRT barrel outer radius
TRT_MAX_ETA: float = 2.0
PRESAMPLER_RADIUS: float = 142.0
BARREL_FRONT_RADIUS: float = 150.0  # accordion front face
ENDCAP_FRONT_Z: float = 375.0  # end-cap accordion front face
ENDCAP_PRESAMPLER_Z: float = 362.0
BFIELD_T: float = 2.0

# Per-layer |eta| segmentation: (|eta| low, |eta| high, delta-eta, n_phi); delta-eta 0 = no
# cells. Boundaries are exact multiples of the cell size inside each segment.
_SEGMENTS: dict[int, tuple[tuple[float, float, float, int], ...]] = {
    0: ((0.0, 1.8, 0.025, 64), (1.8, CALO_ETA_MAX, 0.0, 64)),
    1: (
        (0.0, 1.4, 0.025 / 8, 64),
        (1.4, 1.475, 0.025, 256),
        (1.475, 1.5, 0.025, 64),
        (1.5, 1.8, 0.025 / 8, 64),
        (1.8, 2.0, 0.025 / 6, 64),
        (2.0, 2.4, 0.025 / 4, 64),
        (2.4, CALO_ETA_MAX, 0.025, 64),
    ),
    2: ((0.0, 1.4, 0.025, 256), (1.4, 1.475, 0.075, 256), (1.475, CALO_ETA_MAX, 0.025, 256)),
    3: ((0.0, 1.35, 0.05, 256), (1.35, 1.5, 0.0, 256), (1.5, CALO_ETA_MAX, 0.05, 256)),
}


@dataclass(frozen=True)
class LayerGrid:
    """Signed-eta cell grid of one layer.

    ``edges`` (n+1,) are the signed eta edges from -2.5 to 2.5; cell i spans
    ``[edges[i], edges[i+1])``; ``valid[i]`` is False where the layer has no cells (the gap is
    still one "cell" so that indices stay monotone); ``nphi[i]`` is its phi segmentation.
    """

    layer: int
    edges: np.ndarray
    valid: np.ndarray
    nphi: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges)


@cache
def layer_grid(layer: int) -> LayerGrid:
    """The (cached) signed-eta cell grid of ``layer``."""
    _check_layer(layer)
    pos_edges = [0.0]
    valid: list[bool] = []
    nphi: list[int] = []
    for lo, hi, deta, n_phi in _SEGMENTS[layer]:
        if deta == 0.0:
            pos_edges.append(hi)
            valid.append(False)
            nphi.append(n_phi)
            continue
        n = round((hi - lo) / deta)
        pos_edges.extend((lo + deta * np.arange(1, n + 1)).tolist())
        pos_edges[-1] = hi  # exact region boundary, no rounding drift
        valid.extend([True] * n)
        nphi.extend([n_phi] * n)
    pe = np.asarray(pos_edges)
    edges = np.concatenate([-pe[:0:-1], pe])
    v = np.asarray(valid[::-1] + valid)
    nph = np.asarray(nphi[::-1] + nphi, dtype=np.int64)
    return LayerGrid(layer, edges, v, nph)


@cache
def size_table() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cell sizes per |η| segment of every layer, for lookups inside numba kernels.

    Returns ``(upper, deta, dphi, n_segments)``: float64 (4, S) upper |η| edge, Δη and Δφ
    (rad; NaN where the layer has no cells) of segment s of layer l, and int64 (4,) the
    number of segments per layer (S = the largest). The cell at |η| lies in the first
    segment with ``|η| < upper``; |η| ≥ :data:`CALO_ETA_MAX` has no cells. Same values as
    :func:`cell_size` up to the last bits of Δη (nominal segment pitch, not edge
    differences).
    """
    n_seg = np.array([len(_SEGMENTS[lay]) for lay in LAYERS], dtype=np.int64)
    shape = (N_LAYERS, int(n_seg.max()))
    upper = np.full(shape, np.inf)
    deta = np.full(shape, np.nan)
    dphi = np.full(shape, np.nan)
    for lay in LAYERS:
        for s, (_, hi, size, n_phi) in enumerate(_SEGMENTS[lay]):
            upper[lay, s] = hi
            if size > 0.0:
                deta[lay, s] = size
                dphi[lay, s] = 2.0 * np.pi / n_phi
    for arr in (upper, deta, dphi, n_seg):
        arr.setflags(write=False)
    return upper, deta, dphi, n_seg


def _check_layer(layer: int) -> None:
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {LAYERS}, got {layer!r}")


def cell_size(layer: int, abs_eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(delta-eta, delta-phi) of ``layer``'s cells at ``abs_eta``; NaN where there are none."""
    _check_layer(layer)
    a = np.abs(np.asarray(abs_eta, dtype=np.float64))
    grid = layer_grid(layer)
    n_half = (len(grid.edges) - 1) // 2
    pos = grid.edges[n_half:]
    i = np.clip(np.searchsorted(pos, a, side="right") - 1, 0, len(pos) - 2)
    idx = n_half + i
    deta = np.where(grid.valid[idx], grid.widths[idx], np.nan)
    dphi = np.where(grid.valid[idx], 2.0 * np.pi / grid.nphi[idx], np.nan)
    outside = a >= CALO_ETA_MAX
    deta = np.where(outside, np.nan, deta)
    dphi = np.where(outside, np.nan, dphi)
    return deta, dphi


@dataclass(frozen=True)
class CellLookup:
    """Cells containing points: indices (-1 = none), centres and sizes, all shape (n,)."""

    ieta: np.ndarray
    iphi: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    deta: np.ndarray
    dphi: np.ndarray


def cell_index_and_center(layer: int, eta: np.ndarray, phi: np.ndarray) -> CellLookup:
    """The cell of ``layer`` containing each (eta, phi) point, its centre and size.

    ``ieta`` indexes :func:`layer_grid` cells, ``iphi`` counts from phi = -pi in units of the
    cell's phi size. Points outside the layer get ``ieta = iphi = -1`` and NaN centres.
    """
    _check_layer(layer)
    eta = np.asarray(eta, dtype=np.float64)
    phi = wrap_phi(np.asarray(phi, dtype=np.float64))
    grid = layer_grid(layer)
    raw = np.searchsorted(grid.edges, eta, side="right") - 1
    inside = (raw >= 0) & (raw < len(grid.valid))
    i = np.clip(raw, 0, len(grid.valid) - 1)
    ok = inside & grid.valid[i]
    nphi = grid.nphi[i]
    dphi = 2.0 * np.pi / nphi
    iphi = np.floor((phi + np.pi) / dphi).astype(np.int64) % nphi
    return CellLookup(
        ieta=np.where(ok, i, -1),
        iphi=np.where(ok, iphi, -1),
        eta=np.where(ok, grid.centers[i], np.nan),
        phi=np.where(ok, -np.pi + (iphi + 0.5) * dphi, np.nan),
        deta=np.where(ok, grid.widths[i], np.nan),
        dphi=np.where(ok, dphi, np.nan),
    )


def in_crack(abs_eta: np.ndarray) -> np.ndarray:
    """True inside the barrel/end-cap transition 1.37 < |eta| < 1.52."""
    a = np.abs(np.asarray(abs_eta))
    return (a > CRACK[0]) & (a < CRACK[1])


def in_tilegap(abs_eta: np.ndarray) -> np.ndarray:
    """True where the tile-gap scintillators cover the shower (1.2 < |eta| < 1.6)."""
    a = np.abs(np.asarray(abs_eta))
    return (a > TILEGAP_ETA[0]) & (a < TILEGAP_ETA[1])


def is_barrel(abs_eta: np.ndarray) -> np.ndarray:
    """Barrel accordion (|eta| < 1.475); the end-cap starts at 1.475 in this segmentation."""
    return np.abs(np.asarray(abs_eta)) < 1.475


# --------------------------------------------------------------------------------------------
# Material (X0). Piecewise-linear tables; values documented in docs/simulation.md.
# --------------------------------------------------------------------------------------------

_ETA_NODES = np.array([0.0, 0.3, 0.6, 0.9, 1.1, 1.3, 1.37, 1.45, 1.52, 1.6, 1.8, 2.0, 2.2, 2.5])
#: Inner detector incl. beam pipe and services (after IBL), ATLAS JINST 3 S08003 fig. 4.44 and
#: EPJC 74 (2014) 3071 fig. 2: ~0.5 X0 at eta=0 rising to ~2.2 X0 around |eta| 1.6-1.8.
_ID_X0 = np.array([0.5, 0.55, 0.65, 0.85, 1.05, 1.3, 1.45, 1.6, 1.8, 2.1, 2.2, 1.8, 1.4, 1.2])
#: Solenoid + cryostat (+ ID services outside the TRT) up to the presampler: ~1.7 X0 at eta=0
#: growing like the path length 1/sin(theta) in the barrel; a bump in the crack (cryostat
#: flanges, services); the end-cap cryostat (JINST 3 S08003 fig. 5.2).
_SOLCRYO_X0 = np.array([1.7, 1.78, 1.98, 2.42, 2.84, 3.4, 3.8, 4.6, 3.6, 2.6, 2.3, 2.4, 2.5, 2.6])
#: Presampler to the accordion front (cables, electronics): JINST 3 S08003 fig. 5.2.
_PS2ACC_X0 = np.array([0.4, 0.42, 0.46, 0.57, 0.67, 0.80, 1.0, 1.3, 0.8, 0.6, 0.6, 0.6, 0.6, 0.6])

# Accordion: cumulative depth (X0, along the particle path) at the back of layers 1, 2, 3.
# Barrel lead is 1.53 mm for |eta| < 0.8 and 1.13 mm above, hence the drop at 0.8
# (JINST 3 S08003 sect. 5.2.1 and fig. 5.4). End-cap from the same figure.
_ACC_NODES = np.array([0.0, 0.4, 0.8, 0.801, 1.2, 1.35, 1.4, 1.475, 1.5, 1.8, 2.0, 2.2, 2.5])
_ACC_L1 = np.array([4.4, 4.6, 5.2, 4.3, 5.0, 5.3, 5.0, 3.5, 4.0, 4.5, 4.6, 4.8, 5.0])
_ACC_L2 = np.array([20.8, 21.8, 24.5, 21.0, 24.5, 25.5, 24.0, 20.0, 21.0, 22.5, 23.0, 24.0, 24.0])
_ACC_L3 = np.array([22.8, 24.0, 27.0, 23.5, 27.5, 27.0, 24.0, 20.0, 24.0, 26.5, 27.5, 29.0, 29.0])
#: Presampler active LAr depth (X0): 1.1 cm (barrel) / 0.5 cm (end-cap) of LAr, X0(LAr)=14 cm.
PRESAMPLER_X0: float = 0.08


def id_material_x0(abs_eta: np.ndarray) -> np.ndarray:
    """Inner-detector material (X0) traversed by a particle from the beam line at |eta|."""
    return np.interp(np.abs(abs_eta), _ETA_NODES, _ID_X0)


def solenoid_cryostat_x0(abs_eta: np.ndarray) -> np.ndarray:
    """Material (X0) between the inner detector and the presampler (solenoid, cryostat)."""
    return np.interp(np.abs(abs_eta), _ETA_NODES, _SOLCRYO_X0)


def presampler_to_accordion_x0(abs_eta: np.ndarray) -> np.ndarray:
    """Material (X0) between the presampler and the accordion front face."""
    return np.interp(np.abs(abs_eta), _ETA_NODES, _PS2ACC_X0)


def upstream_x0(abs_eta: np.ndarray) -> np.ndarray:
    """Total material (X0) in front of the accordion (ID + solenoid/cryostat + PS region)."""
    return id_material_x0(abs_eta) + solenoid_cryostat_x0(abs_eta) + presampler_to_accordion_x0(
        abs_eta
    )


def accordion_depths_x0(abs_eta: np.ndarray) -> np.ndarray:
    """Cumulative accordion depth (X0) at the back of layers 1, 2, 3; shape (..., 3).

    Where layer 3 is absent (1.35 < |eta| < 1.5) its back equals the back of layer 2.
    """
    a = np.abs(np.asarray(abs_eta, dtype=np.float64))
    return np.stack(
        [np.interp(a, _ACC_NODES, t) for t in (_ACC_L1, _ACC_L2, _ACC_L3)], axis=-1
    )


def has_presampler(abs_eta: np.ndarray) -> np.ndarray:
    """True where a presampler exists (|eta| < 1.8)."""
    return np.abs(np.asarray(abs_eta)) < 1.8


def calo_front_radius(eta: np.ndarray) -> np.ndarray:
    """Transverse radius (cm) where a straight line at ``eta`` reaches the accordion front."""
    a = np.abs(np.asarray(eta, dtype=np.float64))
    r_endcap = ENDCAP_FRONT_Z / np.sinh(np.maximum(a, 1e-6))
    return np.where(is_barrel(a), BARREL_FRONT_RADIUS, np.minimum(r_endcap, BARREL_FRONT_RADIUS))


def field_exit_radius(eta: np.ndarray) -> np.ndarray:
    """Transverse radius (cm) where a track leaves the 2 T solenoid field volume."""
    a = np.abs(np.asarray(eta, dtype=np.float64))
    r_end = SOLENOID_HALF_LENGTH / np.sinh(np.maximum(a, 1e-6))
    return np.minimum(SOLENOID_RADIUS, r_end)


def distance_to_calo(eta: np.ndarray) -> np.ndarray:
    """Path length (cm) from the beam line to the accordion front face at ``eta``."""
    return calo_front_radius(eta) * np.cosh(np.asarray(eta, dtype=np.float64))

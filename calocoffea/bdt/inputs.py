"""Input variables of the BDT calibrations: ``bdt`` and ``bdt_shapes``.

``bdt`` — the standard calibration — takes the inputs of ATLAS's egammaMVACalib
(Athena ``Reconstruction/egamma/egammaMVACalib/Root/egammaMVAFunctions.cxx``), computed on
the object's supercluster (:mod:`calocoffea.sim.superclusters`):

- every object: cluster E (E0+E1+E2+E3), η, φ, the layer energies Es0–Es3, E_acc =
  Es1+Es2+Es3, f0 = Es0/E_acc, R12 = Es1/Es2, the tile-gap energy E_TG3 and fTG3 =
  E_TG3/E_acc, cellIndexCalo = floor(|η|/0.025), etaModCalo = fmod(|η|, 0.025),
  phiModCalo = fmod(φ, π/512) in the barrel (|η| < 1.425) or fmod(φ, π/384) (the accordion
  absorber period), dPhiTG3 = fmod(2π + φ, π/32) − π/64 (position in the 64 tile-gap
  modules);
- converted photons: Rconv, zconv, pt1conv, pt2conv, ptconv, convPtRatio (max/sum of the
  two silicon tracks' p_T, else 1) and convEtOverPt (E_acc/(cosh η p_T^conv) in [0, 2] for
  two silicon tracks, else 0);
- electrons: charge, track η, p_T, z0 and q/p.

What the simulation cannot provide, and what stands in: ``etaCalo``/``phiCalo`` (the
calorimeter-frame cluster position) equal the cluster η, φ here (no alignment or vertex
corrections), so they enter once; the GSF-refitted q/p of the electron track is the
track's own q/(p_T cosh η) (no GSF refit is simulated); ``calibHitsShowerDepth`` is not
used (it needs the per-|η| depth table of the calibration hits).

``bdt_shapes`` — the strong baseline — takes the same inputs plus the shower shapes stored
with each cluster: R_η, R_φ, w_η2, w_s3, f1, f3, E_ratio, σ_iηiη and R9 analogues (the CMS
e/γ regression inputs) and the per-layer energy sums of the 7 × 11 window the CNN sees.

Three models per calibration: ``electron``, ``photon_unconverted`` and ``photon_converted``.
Inputs are per-object numpy arrays keyed by branch name without its collection prefix
(``eAcc`` for ``Cluster_eAcc``, ``convRadius`` for ``Photon_convRadius``; electrons'
``trackPt``, ``trackEta``, ``trackZ0`` from the linked ``Track``). Energies in GeV, lengths
in cm. Output: a float32 matrix of shape (n_objects, n_features).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from calocoffea.channels import PARTICLES

#: Model names, in the order they are trained and shipped.
MODELS: tuple[str, ...] = ("electron", "photon_unconverted", "photon_converted")
#: The BDT calibrations: the standard one and the shower-shape baseline.
VARIANTS: tuple[str, ...] = ("bdt", "bdt_shapes")
#: Stand-in value of track variables for an electron without a track (trees split it off).
NO_TRACK = 0.0

#: Where the input columns live in the files: ``Cluster_<name>`` (through the object's
#: ``clusterIdx``), ``Photon_<name>``, ``Electron_<name>``, and ``Track_<branch>`` of the
#: electron's own track (through ``trackIdx``) under the column names on the left.
CLUSTER_COLUMNS: tuple[str, ...] = (
    "eAcc", "e0", "e1", "e2", "e3", "eta", "phi", "etaMod", "phiMod", "eTileGap", "rEta",
    "rPhi", "wEta2", "wS3", "f1", "f3", "eRatio", "sigmaIetaIeta", "r9", "eWindow0",
    "eWindow1", "eWindow2", "eWindow3",
)
PHOTON_COLUMNS: tuple[str, ...] = (
    "convType", "convRadius", "convZ", "convPt1", "convPt2", "convPt", "convPtRatio",
    "convEtOverPt",
)
#: Electron columns of the object itself and of its track (Track_<name> via trackIdx).
ELECTRON_COLUMNS: tuple[str, ...] = ("charge",)
TRACK_COLUMNS: dict[str, str] = {"trackPt": "pt", "trackEta": "eta", "trackZ0": "z0"}


def _ratio(num, den) -> np.ndarray:
    # Noise can make a layer energy <= 0 at low E_T; a finite sentinel keeps the row usable
    # (trees split it away) instead of producing inf/nan.
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, -1.0)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _col(c: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    return np.asarray(c[name], dtype=np.float64)


def _track(c: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    v = _col(c, name)
    return np.where(np.isfinite(v), v, NO_TRACK)


def _phi_mod_calo(c: Mapping[str, np.ndarray]) -> np.ndarray:
    period = np.where(np.abs(_col(c, "eta")) < 1.425, math.pi / 512, math.pi / 384)
    return np.fmod(_col(c, "phi"), period)


def _q_over_p(c: Mapping[str, np.ndarray]) -> np.ndarray:
    pt, eta, q = _col(c, "trackPt"), _col(c, "trackEta"), _col(c, "charge")
    ok = np.isfinite(pt) & np.isfinite(eta) & (pt > 0)
    return np.where(ok, q / np.where(ok, pt * np.cosh(np.where(ok, eta, 0.0)), 1.0), NO_TRACK)


@dataclass(frozen=True)
class Feature:
    """One model input: its name, unit, meaning and how it is computed from the columns."""

    name: str
    unit: str
    description: str
    columns: tuple[str, ...]
    compute: Callable[[Mapping[str, np.ndarray]], np.ndarray]


def _f(name, unit, description, columns, compute) -> Feature:
    return Feature(name, unit, description, tuple(columns), compute)


_LAYERS = ("e0", "e1", "e2", "e3")
#: egammaMVACalib cluster inputs (every model).
CLUSTER_FEATURES: tuple[Feature, ...] = (
    _f("clE", "GeV", "cluster energy Es0+Es1+Es2+Es3", _LAYERS,
       lambda c: sum(_col(c, k) for k in _LAYERS)),
    _f("clEta", "1", "cluster eta (= etaCalo in the simulation)", ("eta",),
       lambda c: _col(c, "eta")),
    _f("clPhi", "rad", "cluster phi (= phiCalo in the simulation)", ("phi",),
       lambda c: _col(c, "phi")),
    _f("Es0", "GeV", "presampler energy", ("e0",), lambda c: _col(c, "e0")),
    _f("Es1", "GeV", "strip-layer energy", ("e1",), lambda c: _col(c, "e1")),
    _f("Es2", "GeV", "middle-layer energy", ("e2",), lambda c: _col(c, "e2")),
    _f("Es3", "GeV", "back-layer energy", ("e3",), lambda c: _col(c, "e3")),
    _f("Eacc", "GeV", "accordion energy Es1+Es2+Es3", ("eAcc",), lambda c: _col(c, "eAcc")),
    _f("f0", "1", "Es0 / Eacc", ("e0", "eAcc"), lambda c: _ratio(c["e0"], c["eAcc"])),
    _f("R12", "1", "Es1 / Es2", ("e1", "e2"), lambda c: _ratio(c["e1"], c["e2"])),
    _f("E_TileGap3", "GeV", "tile-gap scintillator energy", ("eTileGap",),
       lambda c: _col(c, "eTileGap")),
    _f("fTG3", "1", "E_TileGap3 / Eacc", ("eTileGap", "eAcc"),
       lambda c: _ratio(c["eTileGap"], c["eAcc"])),
    _f("cellIndexCalo", "1", "floor(|eta| / 0.025)", ("eta",),
       lambda c: np.floor(np.abs(_col(c, "eta")) / 0.025)),
    _f("etaModCalo", "1", "fmod(|eta|, 0.025)", ("eta",),
       lambda c: np.fmod(np.abs(_col(c, "eta")), 0.025)),
    _f("phiModCalo", "rad", "fmod(phi, pi/512) barrel, fmod(phi, pi/384) end-cap",
       ("eta", "phi"), _phi_mod_calo),
    _f("dPhiTG3", "rad", "fmod(2 pi + phi, pi/32) - pi/64", ("phi",),
       lambda c: np.fmod(2 * math.pi + _col(c, "phi"), math.pi / 32) - math.pi / 64),
)
#: egammaMVACalib converted-photon inputs.
CONVERSION_FEATURES: tuple[Feature, ...] = (
    _f("Rconv", "cm", "conversion radius", ("convRadius",), lambda c: _col(c, "convRadius")),
    _f("zconv", "cm", "conversion vertex z", ("convZ",), lambda c: _col(c, "convZ")),
    _f("pt1conv", "GeV", "leading conversion-track p_T", ("convPt1",),
       lambda c: _col(c, "convPt1")),
    _f("pt2conv", "GeV", "second conversion-track p_T (0: single-track)", ("convPt2",),
       lambda c: _col(c, "convPt2")),
    _f("ptconv", "GeV", "p_T of the conversion-track system", ("convPt",),
       lambda c: _col(c, "convPt")),
    _f("convPtRatio", "1", "max(pt1, pt2)/(pt1 + pt2), two silicon tracks, else 1",
       ("convPtRatio",), lambda c: _col(c, "convPtRatio")),
    _f("convEtOverPt", "1", "E_acc/(cosh eta p_T^conv) in [0, 2], two silicon tracks, else 0",
       ("convEtOverPt",), lambda c: _col(c, "convEtOverPt")),
)
#: egammaMVACalib electron inputs (track of the electron; NO_TRACK without one).
ELECTRON_FEATURES: tuple[Feature, ...] = (
    _f("charge", "e", "electron charge", ("charge",), lambda c: _col(c, "charge")),
    _f("trackEta", "1", "track eta", ("trackEta",), lambda c: _track(c, "trackEta")),
    _f("trackPt", "GeV", "track p_T", ("trackPt",), lambda c: _track(c, "trackPt")),
    _f("trackZ0", "cm", "track z0", ("trackZ0",), lambda c: _track(c, "trackZ0")),
    _f("qOverP", "1/GeV", "track q/p (stands in for the GSF-refitted q/p)",
       ("charge", "trackPt", "trackEta"), _q_over_p),
)
#: Shower shapes of the bdt_shapes baseline.
SHAPE_FEATURES: tuple[Feature, ...] = tuple(
    _f(name, unit, description, (name,), lambda c, k=name: _col(c, k))
    for name, unit, description in (
        ("rEta", "1", "R_eta = E2(3x7) / E2(7x7) around the hottest middle cell"),
        ("rPhi", "1", "R_phi = E2(3x3) / E2(3x7)"),
        ("wEta2", "1", "w_eta2: energy-weighted eta width over 3x5 middle cells"),
        ("wS3", "strip", "w_s3: width over the 3 strips around the hottest strip"),
        ("f1", "1", "E1 / (E0+E1+E2+E3)"),
        ("f3", "1", "E3 / (E0+E1+E2+E3)"),
        ("eRatio", "1", "E_ratio: (E_max1 - E_max2)/(E_max1 + E_max2) of the strips"),
        ("sigmaIetaIeta", "1", "sigma_ietaieta analogue over 5x5 middle cells (eta units)"),
        ("r9", "1", "R9 analogue: E2(3x3) / E2(supercluster)"),
        ("eWindow0", "GeV", "presampler energy in the 7x11 window"),
        ("eWindow1", "GeV", "strip energy in the 7x11 window"),
        ("eWindow2", "GeV", "middle-layer energy in the 7x11 window"),
        ("eWindow3", "GeV", "back-layer energy in the 7x11 window"),
    )
)

#: The features of each (variant, model), in the column order of the ONNX input.
FEATURES: dict[tuple[str, str], tuple[Feature, ...]] = {}
for _variant in VARIANTS:
    _extra = SHAPE_FEATURES if _variant == "bdt_shapes" else ()
    FEATURES[(_variant, "electron")] = CLUSTER_FEATURES + ELECTRON_FEATURES + _extra
    FEATURES[(_variant, "photon_unconverted")] = CLUSTER_FEATURES + _extra
    FEATURES[(_variant, "photon_converted")] = CLUSTER_FEATURES + CONVERSION_FEATURES + _extra


def _columns_of(features: tuple[Feature, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c for f in features for c in f.columns))


#: Columns needed to calibrate each particle type with each variant (photons need the
#: routing column convType).
REQUIRED_COLUMNS: dict[tuple[str, str], tuple[str, ...]] = {
    (v, "electron"): _columns_of(FEATURES[(v, "electron")]) for v in VARIANTS
} | {
    (v, "photon"): (*_columns_of(FEATURES[(v, "photon_converted")]), "convType")
    for v in VARIANTS
}
#: Every column any variant reads, per particle.
ALL_COLUMNS: dict[str, tuple[str, ...]] = {
    p: tuple(dict.fromkeys(c for v in VARIANTS for c in REQUIRED_COLUMNS[(v, p)]))
    for p in PARTICLES
}


def _features(model: str, variant: str = "bdt") -> tuple[Feature, ...]:
    try:
        return FEATURES[(variant, model)]
    except KeyError:
        raise ValueError(
            f"unknown BDT model {model!r} / variant {variant!r}; expected one of {MODELS} "
            f"and {VARIANTS}"
        ) from None


def feature_names(model: str, variant: str = "bdt") -> list[str]:
    """Names of the inputs of ``model`` of ``variant``, in matrix column order."""
    return [f.name for f in _features(model, variant)]


def check_columns(columns: Mapping[str, np.ndarray], needed: tuple[str, ...]) -> int:
    """Validate that ``needed`` columns exist, are 1-D and equally long; return the length.
    Non-finite values are allowed only in the electron-track columns (no track)."""
    missing = [c for c in needed if c not in columns]
    if missing:
        raise KeyError(
            f"BDT calibration: missing column(s) {missing}; got {sorted(columns)}"
        )
    lengths = {c: np.shape(columns[c]) for c in needed}
    shapes = set(lengths.values())
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"BDT calibration: columns must be 1-D and equally long: {lengths}")
    for c in needed:
        if c in ("trackPt", "trackEta", "trackZ0"):
            continue
        arr = np.asarray(columns[c])
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            raise ValueError(f"BDT calibration: column {c!r} has {bad} non-finite value(s)")
    return int(next(iter(shapes))[0])


def feature_matrix(columns: Mapping[str, np.ndarray], model: str,
                   variant: str = "bdt") -> np.ndarray:
    """The (n_objects, n_features) float32 input matrix of ``model`` of ``variant``."""
    feats = _features(model, variant)
    n = check_columns(columns, _columns_of(feats))
    out = np.empty((n, len(feats)), dtype=np.float32)
    for j, f in enumerate(feats):
        out[:, j] = f.compute(columns)
    return out


def photon_is_converted(conv_type: np.ndarray) -> np.ndarray:
    """Routing mask: True for single- or double-track conversions (convType 1 or 2)."""
    conv_type = np.asarray(conv_type)
    bad = ~np.isin(conv_type, (0, 1, 2))
    if np.any(bad):
        raise ValueError(
            f"BDT calibration: convType must be 0, 1 or 2; found {np.unique(conv_type[bad])}"
        )
    return conv_type > 0


def feature_card(model: str, variant: str = "bdt") -> list[dict[str, str | int]]:
    """The input description written to the model card."""
    return [
        {"index": j, "name": f.name, "unit": f.unit, "description": f.description}
        for j, f in enumerate(_features(model, variant))
    ]

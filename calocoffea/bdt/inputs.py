"""Input variables of the standard (BDT) calibration: the ATLAS variables of thesis table 1.2.

Three models share this definition: ``electron``, ``photon_unconverted`` and
``photon_converted``. Every feature is a function of the table-1.2 quantities only: E0, E_acc,
E1/E2, η_cluster, η_mod, φ_mod, the tile-gap energy and, for converted photons, the conversion
radius, E_T^acc/p_T^conv and the leading-track p_T fraction. Deliberately absent: E3 on its own,
pile-up, tracks of electrons, cell images — that information is what the CNN may exploit.

Inputs are per-object numpy arrays keyed by the branch name without its collection prefix
(``eAcc`` for ``Cluster_eAcc``, ``convRadius`` for ``Photon_convRadius``). Energies in GeV,
lengths in cm. Output: a float32 matrix of shape (n_objects, n_features).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

#: Model names, in the order they are trained and shipped.
MODELS: tuple[str, ...] = ("electron", "photon_unconverted", "photon_converted")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # Noise can make a layer energy <= 0 at low E_T; a finite sentinel keeps the row usable
    # (trees split it away) instead of producing inf/nan.
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, -1.0)
    np.divide(num, den, out=out, where=den > 0)
    return out


@dataclass(frozen=True)
class Feature:
    """One model input: its name, unit, meaning and how it is computed from the columns."""

    name: str
    unit: str
    description: str
    columns: tuple[str, ...]
    compute: Callable[[Mapping[str, np.ndarray]], np.ndarray]


_CALO_FEATURES: tuple[Feature, ...] = (
    Feature("eAcc", "GeV", "E_acc = E1+E2+E3, accordion energy", ("eAcc",), lambda c: c["eAcc"]),
    Feature(
        "etAcc",
        "GeV",
        "E_T^acc = E_acc / cosh(eta_cluster)",
        ("eAcc", "eta"),
        lambda c: np.asarray(c["eAcc"], dtype=np.float64) / np.cosh(c["eta"]),
    ),
    Feature("e0", "GeV", "E0, presampler energy", ("e0",), lambda c: c["e0"]),
    Feature(
        "e0OverEAcc", "1", "E0 / E_acc", ("e0", "eAcc"), lambda c: _ratio(c["e0"], c["eAcc"])
    ),
    Feature(
        "e1OverE2", "1", "E1 / E2, strips over middle layer", ("e1", "e2"),
        lambda c: _ratio(c["e1"], c["e2"]),
    ),
    Feature("absEta", "1", "|eta_cluster|", ("eta",), lambda c: np.abs(c["eta"])),
    Feature("etaMod", "cell", "eta position inside the layer-2 cell", ("etaMod",),
            lambda c: c["etaMod"]),
    Feature("phiMod", "cell", "phi position inside the layer-2 cell", ("phiMod",),
            lambda c: c["phiMod"]),
    Feature("eTileGap", "GeV", "tile-gap scintillator energy", ("eTileGap",),
            lambda c: c["eTileGap"]),
)

_CONVERSION_FEATURES: tuple[Feature, ...] = (
    Feature("convRadius", "cm", "conversion radius in the transverse plane", ("convRadius",),
            lambda c: c["convRadius"]),
    Feature("convPtRatio", "1", "E_T^acc / p_T^conv", ("convPtRatio",),
            lambda c: c["convPtRatio"]),
    Feature("convLeadPtFrac", "1", "fraction of p_T^conv carried by the leading track",
            ("convLeadPtFrac",), lambda c: c["convLeadPtFrac"]),
)

#: The features of each model, in the column order of the ONNX input.
FEATURES: dict[str, tuple[Feature, ...]] = {
    "electron": _CALO_FEATURES,
    "photon_unconverted": _CALO_FEATURES,
    "photon_converted": _CALO_FEATURES + _CONVERSION_FEATURES,
}

#: Columns needed to calibrate each particle type (photons need the routing column convType).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "electron": tuple(dict.fromkeys(c for f in _CALO_FEATURES for c in f.columns)),
    "photon": (
        *dict.fromkeys(c for f in FEATURES["photon_converted"] for c in f.columns),
        "convType",
    ),
}


def feature_names(model: str) -> list[str]:
    """Names of the inputs of ``model``, in matrix column order."""
    return [f.name for f in _features(model)]


def _features(model: str) -> tuple[Feature, ...]:
    try:
        return FEATURES[model]
    except KeyError:
        raise ValueError(f"unknown BDT model {model!r}; expected one of {MODELS}") from None


def check_columns(columns: Mapping[str, np.ndarray], needed: tuple[str, ...]) -> int:
    """Validate that ``needed`` columns exist, are 1-D, equally long and finite; return length."""
    missing = [c for c in needed if c not in columns]
    if missing:
        raise KeyError(
            f"standard calibration: missing column(s) {missing}; got {sorted(columns)}"
        )
    lengths = {c: np.shape(columns[c]) for c in needed}
    shapes = set(lengths.values())
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"standard calibration: columns must be 1-D and equally long: {lengths}")
    for c in needed:
        arr = np.asarray(columns[c])
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            raise ValueError(f"standard calibration: column {c!r} has {bad} non-finite value(s)")
    return int(next(iter(shapes))[0])


def feature_matrix(columns: Mapping[str, np.ndarray], model: str) -> np.ndarray:
    """The (n_objects, n_features) float32 input matrix of ``model``."""
    feats = _features(model)
    n = check_columns(columns, tuple(dict.fromkeys(c for f in feats for c in f.columns)))
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
            f"standard calibration: convType must be 0, 1 or 2; found {np.unique(conv_type[bad])}"
        )
    return conv_type > 0


def feature_card(model: str) -> list[dict[str, str | int]]:
    """The input description written to the model card."""
    return [
        {"index": j, "name": f.name, "unit": f.unit, "description": f.description}
        for j, f in enumerate(_features(model))
    ]

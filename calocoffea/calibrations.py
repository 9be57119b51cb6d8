"""Per-object energies under each calibration and the invariant masses they imply.

Three calibrations of an electron or photon energy (GeV):

- ``bdt``: the standard calibration stored in the file, E = pt × cosh(η) (``pt`` of the
  NanoAOD-style object is the standard-calibration E_T, η that of the cluster);
- ``cnn``: the DeepCalo CNN, r × E_acc through :func:`calocoffea.inference.cnn_energy`;
  objects whose CNN inputs are invalid fall back to the ``bdt`` energy and are flagged;
- ``truth`` (MC only): the energy of the matched generator particle (``genPartIdx``),
  NaN for unmatched objects.

Invariant masses are recomputed per calibration from the calibrated energy and the
*reconstructed* η, φ of each electron/photon, treated as massless (p = E); other particles
(the muons of Z→μμγ) enter as a fixed four-momentum, so only the photon energy changes.
All arithmetic is float64.
"""

from __future__ import annotations

import logging
from pathlib import Path

import awkward as ak
import numpy as np

log = logging.getLogger(__name__)

#: Calibration names, in the order they are filled.
STANDARD, CNN, TRUTH = "bdt", "cnn", "truth"
CALIBRATIONS: tuple[str, ...] = (STANDARD, CNN, TRUTH)


def _flat(values: ak.Array) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(values, axis=None)), dtype=np.float64)


def standard_energy(objects: ak.Array) -> np.ndarray:
    """Standard-calibration energy (GeV), flat float64 over ``objects`` (any nesting)."""
    return _flat(objects.pt) * np.cosh(_flat(objects.eta))


def true_energy(objects: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    """(E_true, E_T,true) in GeV of the matched generator particles, flat float64.

    Matching is through the object's ``genPartIdx`` (coffea's ``matched_gen``); NaN where
    the index is -1. E_true = sqrt((pt cosh η)² + m²) of the GenPart.
    """
    from calocoffea.features import linked_columns

    # NanoEvents: straight from the GenPart columns (same values as matched_gen, no copy of
    # the GenPart collection); other arrays go through their matched_gen records
    gen = linked_columns(objects, "genPartIdx", "GenPart",
                         {"pt": np.nan, "eta": np.nan, "mass": np.nan})
    if gen is not None:
        pt, eta, mass = gen["pt"], gen["eta"], gen["mass"]
    else:
        matched = objects.matched_gen

        def column(name: str) -> np.ndarray:
            # unmatched objects are None: fill before flattening, which would drop them
            return _flat(ak.fill_none(matched[name], np.nan, axis=-1))

        pt, eta, mass = column("pt"), column("eta"), column("mass")
    energy = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)
    return energy, pt


def cnn_model_path(particle: str, model_path: str | Path | None = None) -> Path:
    """The CNN model file used for ``particle`` (``models/deepcalo_<particle>.onnx`` unless
    ``model_path`` is given)."""
    if model_path is not None:
        return Path(model_path)
    from calocoffea.resources import models_dir

    return models_dir() / f"deepcalo_{particle}.onnx"


def cnn_unavailable_reason(particle: str, model_path: str | Path | None = None) -> str | None:
    """Why the CNN calibration cannot run for ``particle`` here, or None when it can."""
    try:
        import calocoffea.inference  # noqa: F401
    except ImportError as err:
        return f"calocoffea.inference cannot be imported ({err})"
    path = cnn_model_path(particle, model_path)
    if not path.is_file():
        return f"CNN model {path} not found"
    return None


def cnn_energy(
    objects: ak.Array, events: ak.Array, particle: str, standard: np.ndarray, model_path=None
) -> tuple[np.ndarray, np.ndarray]:
    """CNN energy (GeV, flat float64) and the fallback mask (bool) of ``objects``.

    Objects whose CNN inputs are invalid (no cells, non-finite, E_acc ≤ 0) get the
    ``standard`` energy instead and are flagged in the mask.
    """
    from calocoffea.inference import cnn_energy as _cnn_energy

    energy, fallback = _cnn_energy(objects, events, particle, model_path=model_path)
    energy = np.asarray(energy, dtype=np.float64).reshape(-1)
    fallback = np.asarray(fallback, dtype=bool).reshape(-1) | ~np.isfinite(energy)
    if energy.shape != standard.shape:
        raise ValueError(
            f"cnn_energy returned {energy.shape[0]} energies for {standard.shape[0]} objects"
        )
    return np.where(fallback, standard, energy), fallback


def massless_p4(energy: np.ndarray, eta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Four-momenta (..., 4) = (px, py, pz, E) in GeV of massless objects (p = E)."""
    pt = energy / np.cosh(eta)
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), energy], axis=-1)


def ptetaphim_p4(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Four-momenta (..., 4) = (px, py, pz, E) in GeV from pt, η, φ and mass."""
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + mass**2)], axis=-1)


def invariant_mass(p4: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Invariant mass (GeV) of the objects along axis -2 of ``p4`` (n, k, 4), plus the
    four-momentum ``extra`` (n, 4) when given. NaN where any input is NaN."""
    total = p4.sum(axis=-2)
    if extra is not None:
        total = total + extra
    m2 = total[..., 3] ** 2 - total[..., 0] ** 2 - total[..., 1] ** 2 - total[..., 2] ** 2
    # rounding can push m² of collinear massless systems slightly below zero
    return np.sqrt(np.where(m2 > 0.0, m2, 0.0)) + np.where(np.isnan(m2), np.nan, 0.0)


def cnn_provider(particle: str, model_path: str | Path | None = None) -> str:
    """onnxruntime execution provider of the CNN session of ``particle`` in this process
    (the session is cached by calocoffea.inference, so this is cheap after first use)."""
    from calocoffea.inference import load_model

    return load_model(cnn_model_path(particle, model_path)).provider

"""Per-object energies under each calibration and the invariant masses they imply.

The calibrations of an electron or photon energy (GeV), :data:`calocoffea.channels.CALIBRATIONS`:

- ``bdt``: the standard calibration. For files with cluster columns (calocoffea's own
  files) the processors evaluate the shipped ``bdt`` models on the object's cluster and track
  columns (:func:`bdt_model_energy`), whatever the file's ``pt`` holds: files written with
  ``--no-standard-calibration`` carry an E_acc-based ``pt``, which must never pass for the
  BDT. Objects without a cluster, and files without cluster columns (CMS NanoAOD), use the
  stored E = pt × cosh(η) (``pt`` is then the experiment's standard-calibration E_T);
- ``bdt_shapes``: the shower-shape BDT baseline, r × E_acc from the object's cluster,
  shower-shape, conversion and track columns (:mod:`calocoffea.bdt`); objects with
  non-finite inputs fall back to ``bdt`` and are flagged;
- ``cnn``: the DeepCalo CNN, r × E_acc through :func:`calocoffea.cnn.inference.cnn_energy`;
  objects whose CNN inputs are invalid fall back to the ``bdt`` energy and are flagged;
- ``truth`` (MC only): the energy of the matched generator particle (``genPartIdx``),
  NaN for unmatched objects.

Per-object energy uncertainties σ_E (GeV): from the σ models (:mod:`calocoffea.sigma`); else
the CNN's own (its ``sigma_prime`` output, :func:`cnn_prediction`), and for the BDTs
σ_rel(|η|, E_T) · E from the resolution table measured on held-out MC
(:mod:`calocoffea.uncertainty`). :func:`dressed_true_energy` is the pulls' reference for
electrons.

The processors recompute invariant masses per calibration from these energies and the
*reconstructed* η, φ of each electron/photon (:mod:`calocoffea.kinematics`). All arithmetic
is float64.
"""

from __future__ import annotations

import logging
from pathlib import Path

import awkward as ak
import numpy as np

from calocoffea.channels import CALIBRATIONS
from calocoffea.schema import linked_columns

log = logging.getLogger(__name__)

STANDARD, SHAPES, CNN, TRUTH = CALIBRATIONS


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


def dressed_true_energy(objects: ak.Array, events: ak.Array,
                        dr: float | None = None) -> np.ndarray:
    """E_true (GeV, flat float64) of the matched generator particles dressed with their FSR
    photons (GenPart pdgId 22 whose mother is the matched particle) within ΔR < ``dr``
    (default :data:`calocoffea.constants.DRESSING_DR`) of it; NaN where unmatched.

    ``objects`` (events × objects, jagged) must come from ``events`` (same event order)."""
    from calocoffea.constants import DRESSING_DR

    dr = DRESSING_DR if dr is None else dr
    bare, _ = true_energy(objects)
    gen = linked_columns(objects, "genPartIdx", "GenPart", {"eta": np.nan, "phi": np.nan})
    if gen is None:  # plain records: through coffea's cross-reference
        matched = objects.matched_gen
        gen = {f: _flat(ak.fill_none(matched[f], np.nan, axis=-1)) for f in ("eta", "phi")}
    counts = ak.num(objects, axis=1)
    obj = ak.unflatten(ak.zip({"idx": _flat(objects.genPartIdx), "eta": gen["eta"],
                               "phi": gen["phi"]}), counts)
    gp = events.GenPart
    is_ph = gp.pdgId == 22
    ph = ak.zip({"mother": gp.genPartIdxMother[is_ph], "eta": gp.eta[is_ph],
                 "phi": gp.phi[is_ph], "e": gp.pt[is_ph] * np.cosh(gp.eta[is_ph])})
    pair = ak.cartesian({"o": obj, "p": ph}, nested=True)
    dphi = (pair.p.phi - pair.o.phi + np.pi) % (2 * np.pi) - np.pi
    near = np.hypot(pair.p.eta - pair.o.eta, dphi) < dr
    own = (pair.o.idx >= 0) & (pair.p.mother == pair.o.idx)
    fsr = ak.sum(ak.where(own & near, pair.p.e, 0.0), axis=-1)
    return bare + _flat(fsr)


def cnn_model_path(particle: str, model_path: str | Path | None = None) -> Path:
    """The CNN model file used for ``particle`` (``models/deepcalo_<particle>.onnx`` unless
    ``model_path`` is given)."""
    if model_path is not None:
        return Path(model_path)
    from calocoffea.resources import cnn_model_path as shipped

    return shipped(particle)


def cnn_unavailable_reason(particle: str, model_path: str | Path | None = None) -> str | None:
    """Why the CNN calibration cannot run for ``particle`` here (onnxruntime missing, no
    model file), or None when it can."""
    try:
        import calocoffea.cnn.inference  # noqa: F401
    except ImportError as err:
        return f"calocoffea.cnn.inference cannot be imported ({err})"
    path = cnn_model_path(particle, model_path)
    if not path.is_file():
        return f"CNN model {path} not found"
    return None


def cnn_prediction(
    objects: ak.Array, events: ak.Array, particle: str, standard: np.ndarray, model_path=None,
):
    """The :class:`calocoffea.cnn.inference.CNNPrediction` of ``objects``: CNN energy (GeV,
    flat float64), fallback mask and reasons, and per-object σ_E (GeV, NaN with its reason in
    ``sigma_code`` where the model has no σ output or the object fell back).

    Objects whose CNN inputs are invalid (no cells, non-finite, E_acc ≤ 0) or whose CNN
    ratio is non-finite or unphysical get the ``standard`` energy instead and are flagged.
    """
    from calocoffea.cnn.inference import (
        FALLBACK_NONFINITE,
        SIGMA_FALLBACK,
        SIGMA_NO_OUTPUT,
        cnn_predict,
    )

    pred = cnn_predict(objects, events, particle, model_path=model_path)
    energy = np.asarray(pred.energy, dtype=np.float64).reshape(-1)
    if energy.shape != standard.shape:
        raise ValueError(
            f"cnn_energy returned {energy.shape[0]} energies for {standard.shape[0]} objects"
        )
    code = np.asarray(pred.code, dtype=np.uint8).reshape(-1).copy()
    code[(code == 0) & ~np.isfinite(energy)] = FALLBACK_NONFINITE
    pred.fallback = code > 0
    pred.code = code
    pred.energy = np.where(pred.fallback, standard, energy)
    sigma_code = np.asarray(pred.sigma_code, dtype=np.uint8).reshape(-1).copy()
    sigma_code[pred.fallback & (sigma_code != SIGMA_NO_OUTPUT)] = SIGMA_FALLBACK
    pred.sigma_code = sigma_code
    pred.sigma = np.where(sigma_code > 0, np.nan, np.asarray(pred.sigma, np.float64))
    return pred


def cnn_energy(
    objects: ak.Array, events: ak.Array, particle: str, standard: np.ndarray, model_path=None,
    *, reasons: bool = False,
):
    """CNN energy (GeV, flat float64) and the fallback mask (bool) of ``objects``; with
    ``reasons=True`` also the reason code per object
    (:data:`calocoffea.cnn.inference.FALLBACK_REASONS`, 0 = CNN used). :func:`cnn_prediction`
    also gives σ_E.

    Objects whose CNN inputs are invalid (no cells, non-finite, E_acc ≤ 0) or whose CNN
    ratio is non-finite or unphysical get the ``standard`` energy instead and are flagged.
    """
    pred = cnn_prediction(objects, events, particle, standard, model_path)
    if reasons:
        return pred.energy, pred.fallback, pred.code
    return pred.energy, pred.fallback


def shapes_unavailable_reason(models_dir: str | Path | None = None) -> str | None:
    """Why the ``bdt_shapes`` calibration cannot run here (its models missing or broken), or
    None when it can."""
    from calocoffea.bdt.standard import load_standard_calibration

    try:
        load_standard_calibration(None if models_dir is None else Path(models_dir),
                                  variant="bdt_shapes")
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        return str(err)
    return None


def shapes_energy(objects: ak.Array, particle: str, standard: np.ndarray,
                  models_dir: str | Path | None = None, *,
                  columns: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``bdt_shapes`` energy (GeV, flat float64) and the fallback mask (bool) of ``objects``:
    objects with a non-finite input (e.g. no cluster) get the ``standard`` energy and are
    flagged."""
    return bdt_model_energy(objects, particle, standard, "bdt_shapes", models_dir,
                            columns=columns)


def bdt_model_energy(objects: ak.Array, particle: str, standard: np.ndarray, variant: str,
                     models_dir: str | Path | None = None, *,
                     columns: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Energy (GeV, flat float64) of the shipped BDT ``variant`` (``bdt`` or ``bdt_shapes``)
    evaluated on the cluster, shower-shape, conversion and track columns of ``objects``, and
    the fallback mask: objects with a non-finite input (e.g. no cluster) keep ``standard``.
    ``columns``: those columns already read (:func:`calocoffea.bdt.columns.object_columns`
    of at least this variant), so that a chunk reads them once."""
    from calocoffea.bdt.columns import finite_inputs, object_columns
    from calocoffea.bdt.standard import load_standard_calibration

    calib = load_standard_calibration(None if models_dir is None else Path(models_dir),
                                      variant=variant)
    cols = columns if columns is not None else object_columns(objects, particle, (variant,))
    ok = finite_inputs(cols, particle, variant)
    energy = np.array(standard, dtype=np.float64)
    if ok.any():
        good = {k: np.asarray(v)[ok] for k, v in cols.items()}
        energy[ok] = calib.energy(good, particle)
    fallback = ~ok | ~np.isfinite(energy) | (energy <= 0)
    return np.where(fallback, standard, energy), fallback


def cnn_provider(particle: str, model_path: str | Path | None = None) -> str:
    """onnxruntime execution provider of the CNN session of ``particle`` in this process
    (the session is cached by calocoffea.cnn.inference, so this is cheap after first use)."""
    from calocoffea.cnn.inference import load_model

    return load_model(cnn_model_path(particle, model_path)).provider

"""Apply the BDT energy calibrations (``bdt`` and ``bdt_shapes``).

The shipped models (``models/<variant>_<model>.onnx`` with a JSON card each, written by
``calocoffea train bdt``) predict r = E_true / E_acc from the inputs of
:mod:`calocoffea.bdt.inputs`; the calibrated energy is r × E_acc in GeV (egammaMVACalib's
``correctEaccordion`` mode). Photons are routed to the unconverted or converted model by
``convType``. The ONNX trees are evaluated by XGBoost's predictor
(:mod:`calocoffea.bdt.forest`: the same trees, 2–5× faster than onnxruntime's tree ensemble).

:class:`StandardCalibration` holds only paths and model cards so that it pickles to dask
workers; the rebuilt models live in a per-process cache, one per model file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calocoffea.bdt.forest import load_forest
from calocoffea.bdt.inputs import (
    MODELS,
    REQUIRED_COLUMNS,
    VARIANTS,
    check_columns,
    feature_matrix,
    feature_names,
    photon_is_converted,
)
from calocoffea.channels import PARTICLES
from calocoffea.resources import models_dir as default_models_dir

log = logging.getLogger(__name__)

#: What the models predict; inference relies on it.
TARGET = "E_true/E_acc"


def model_paths(models_dir: Path, model: str, variant: str = "bdt") -> tuple[Path, Path]:
    """(onnx, card) paths of ``model`` of ``variant`` inside ``models_dir``."""
    stem = f"{variant}_{model}"
    return Path(models_dir) / f"{stem}.onnx", Path(models_dir) / f"{stem}.json"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class StandardCalibration:
    """The three BDT models (electron, unconverted and converted photon) of one variant
    (``bdt`` or ``bdt_shapes``) in one directory."""

    models_dir: Path
    cards: dict[str, dict] = field(repr=False)
    variant: str = "bdt"

    def ratio(self, columns: Mapping[str, np.ndarray], model: str) -> np.ndarray:
        """Predicted E_true / E_acc of ``model`` for every object in ``columns``; float64."""
        x = feature_matrix(columns, model, self.variant)
        if len(x) == 0:
            return np.zeros(0, dtype=np.float64)
        onnx_path, _ = model_paths(self.models_dir, model, self.variant)
        return load_forest(onnx_path).predict(x).astype(np.float64)

    def energy(self, columns: Mapping[str, np.ndarray], particle: str) -> np.ndarray:
        """Calibrated energy in GeV of each object; ``particle`` is "electron" or "photon".

        ``columns`` maps branch names without collection prefix (the
        :data:`~calocoffea.bdt.inputs.REQUIRED_COLUMNS` of the variant and particle) to 1-D
        arrays of equal length n. Returns shape (n,), float64.
        """
        if particle not in PARTICLES:
            raise ValueError(f"particle must be one of {PARTICLES}, got {particle!r}")
        n = check_columns(columns, REQUIRED_COLUMNS[(self.variant, particle)])
        e_acc = np.asarray(columns["eAcc"], dtype=np.float64)
        if particle == "electron":
            return e_acc * self.ratio(columns, "electron")
        converted = photon_is_converted(columns["convType"])
        out = np.empty(n, dtype=np.float64)
        for model, mask in (("photon_unconverted", ~converted), ("photon_converted", converted)):
            if np.any(mask):
                sub = {k: np.asarray(v)[mask] for k, v in columns.items()}
                out[mask] = e_acc[mask] * self.ratio(sub, model)
        return out


def load_card(card_path: Path, onnx_path: Path, model: str, variant: str = "bdt") -> dict:
    """Read and check one model card against its ONNX file; clear errors when broken."""
    for p in (onnx_path, card_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"standard calibration: {p} not found; train it with `calocoffea train bdt` "
                "(see docs/standard_calibration.md) or point CALOCOFFEA_MODELS to the models"
            )
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"standard calibration: corrupt model card {card_path}: {err}") from err
    expected = feature_names(model, variant)
    got = [f.get("name") for f in card.get("input", {}).get("features", [])]
    if got != expected:
        raise ValueError(
            f"standard calibration: {card_path} lists inputs {got}, this code expects {expected}"
        )
    if card.get("target") != TARGET:
        raise ValueError(f"standard calibration: {card_path} target {card.get('target')!r}")
    digest = sha256_file(onnx_path)
    if card.get("sha256") != digest:
        raise ValueError(
            f"standard calibration: sha256 of {onnx_path} ({digest[:12]}…) does not match its "
            f"card {card_path} ({str(card.get('sha256'))[:12]}…): file corrupt or card stale"
        )
    return card


def load_standard_calibration(models_dir: Path | None = None,
                              variant: str = "bdt") -> StandardCalibration:
    """Load and validate the three BDT models of ``variant`` from ``models_dir`` (default:
    the shipped models)."""
    if variant not in VARIANTS:
        raise ValueError(f"BDT variant must be one of {VARIANTS}, got {variant!r}")
    directory = Path(models_dir) if models_dir is not None else default_models_dir()
    cards = {}
    for model in MODELS:
        onnx_path, card_path = model_paths(directory, model, variant)
        cards[model] = load_card(card_path, onnx_path, model, variant)
        try:  # fail now, not inside a worker, if the file does not parse
            forest = load_forest(onnx_path)
        except Exception as err:
            raise RuntimeError(f"standard calibration: cannot load model {onnx_path}: {err}") \
                from err
        if forest.n_features != len(cards[model]["input"]["features"]):
            raise ValueError(f"standard calibration: {onnx_path} takes {forest.n_features} "
                             f"inputs, its card lists {len(cards[model]['input']['features'])}")
    log.debug("loaded %s calibration from %s", variant, directory)
    return StandardCalibration(models_dir=directory, cards=cards, variant=variant)

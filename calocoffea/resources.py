"""Where calocoffea finds its shipped models and keeps its cached samples.

The shipped models (the repository's ``models/`` folder) are the package data
``calocoffea.models``, found with :mod:`importlib.resources`: the same code works from a
source checkout (editable install) and from an installed wheel.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

#: Environment variable that overrides the directory holding the shipped models.
MODELS_ENV = "CALOCOFFEA_MODELS"
#: Environment variable that overrides the sample cache directory.
DATA_ENV = "CALOCOFFEA_DATA"


def models_dir() -> Path:
    """Directory with the shipped ``.onnx`` files and JSON model cards
    (``$CALOCOFFEA_MODELS`` when set)."""
    override = os.environ.get(MODELS_ENV)
    if override:
        return Path(override)
    return shipped_models_dir()


def shipped_models_dir() -> Path:
    """The package data folder ``calocoffea.models`` itself (ignores ``$CALOCOFFEA_MODELS``)."""
    # a regular package installed as files (wheel or editable): a real directory
    return Path(str(resources.files("calocoffea.models")))


def cnn_model_path(particle: str) -> Path:
    """The shipped DeepCalo CNN of ``particle`` ('electron' or 'photon')."""
    return models_dir() / f"deepcalo_{particle}.onnx"


#: Environment variable that overrides the BDT resolution table (correctionlib JSON).
RESOLUTION_ENV = "CALOCOFFEA_RESOLUTION"


def resolution_table_path() -> Path:
    """The BDT resolution table σ_rel(|η|, E_T) (:mod:`calocoffea.uncertainty`):
    ``$CALOCOFFEA_RESOLUTION`` when set, else the package file
    ``calocoffea/tables/bdt_resolution.json`` (``calocoffea resolution`` writes it)."""
    override = os.environ.get(RESOLUTION_ENV)
    if override:
        return Path(override)
    return Path(str(resources.files("calocoffea.tables"))) / "bdt_resolution.json"


def data_dir() -> Path:
    """Cache directory for generated samples: ``$CALOCOFFEA_DATA``, else ``./data`` (the
    current directory's; ``make demo`` runs from the repository root)."""
    override = os.environ.get(DATA_ENV)
    return Path(override) if override else Path.cwd() / "data"

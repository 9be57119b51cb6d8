"""Locations of files shipped with calocoffea (trained models and their model cards)."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that overrides the directory holding the shipped models.
MODELS_ENV = "CALOCOFFEA_MODELS"


def repo_root() -> Path:
    """The source tree root (the project is installed in editable mode from it)."""
    return Path(__file__).resolve().parents[1]


def models_dir() -> Path:
    """Directory with the shipped ``.onnx`` files and JSON model cards."""
    override = os.environ.get(MODELS_ENV)
    return Path(override) if override else repo_root() / "models"


def data_dir() -> Path:
    """Cache directory for generated samples (``CALOCOFFEA_DATA`` or ``<repo>/data``)."""
    override = os.environ.get("CALOCOFFEA_DATA")
    return Path(override) if override else repo_root() / "data"

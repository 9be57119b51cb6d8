"""Shared figure style: mplhep ATLAS style, simulation label, colours, PNG+PDF saving."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # batch jobs and CI have no display

import matplotlib.pyplot as plt
import mplhep as mh

#: One colour and legend name per calibration, fixed across all figures.
CALIBRATION_STYLE: dict[str, dict[str, str]] = {
    "bdt": {"color": "#1f77b4", "label": "Standard (BDT)"},
    "bdt_shapes": {"color": "#ff7f0e", "label": "Shower-shape BDT"},
    "cnn": {"color": "#d62728", "label": "DeepCalo CNN"},
    "truth": {"color": "#2ca02c", "label": r"$E_{true}$"},
}


def use_style() -> None:
    """Activate the ATLAS mplhep style."""
    plt.style.use(mh.style.ATLAS)


def label(ax, simulation: bool = True, rlabel: str | None = None) -> None:
    """ATLAS-style label naming calocoffea, not ATLAS: every sample is our own simulation.

    ``simulation=False`` marks the data-like samples (simulated with altered conditions).
    """
    text = "Simulation" if simulation else "Simulation (data-like)"
    mh.atlas.label(exp="calocoffea", text=text, data=True, rlabel=rlabel or "13 TeV", ax=ax,
                   loc=0)


def calib_label(calibration: str) -> str:
    return CALIBRATION_STYLE.get(calibration, {"label": calibration})["label"]


def calib_color(calibration: str) -> str | None:
    return CALIBRATION_STYLE.get(calibration, {}).get("color")


def save(fig, out_dir: str | Path, name: str) -> list[Path]:
    """Write ``name``.png and ``name``.pdf into ``out_dir``; close the figure."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for path in paths:
        fig.savefig(path, dpi=150 if path.suffix == ".png" else None, bbox_inches="tight")
    plt.close(fig)
    return paths

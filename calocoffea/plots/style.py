"""Shared figure style: mplhep ATLAS style, simulation label, colours, PNG+PDF saving."""

from __future__ import annotations

from pathlib import Path

# No backend is forced here: Jupyter keeps its inline backend (plt.show() works); the
# command line selects Agg itself (calocoffea.app.terminal.batch_backend).
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


#: Text drawn where a quantity was not measured (no accepted fit constrains it).
NOT_MEASURED = "not measured"


def not_measured(ax, x: float | None = None, text: str = NOT_MEASURED, **kwargs) -> None:
    """Write ``text`` on ``ax``: at data x-coordinate ``x`` near the bottom (one bin), or in
    the middle of the axes when ``x`` is None (the whole panel)."""
    style = {"color": "grey", "fontsize": "small", "ha": "center", "va": "bottom"} | kwargs
    if x is None:
        ax.text(0.5, 0.5, text, transform=ax.transAxes, **{**style, "va": "center"})
    else:
        ax.text(x, 0.04, text, transform=ax.get_xaxis_transform(), rotation=90, **style)


def save(fig, out_dir: str | Path, name: str) -> list[Path]:
    """Write ``name``.png and ``name``.pdf into ``out_dir`` (atomically: a figure is either
    complete or absent, and a symlink at its path is replaced, not followed); close the
    figure."""
    import io

    from calocoffea.execution.outputs import atomic_write

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for path in paths:
        buf = io.BytesIO()
        fig.savefig(buf, format=path.suffix[1:], dpi=150 if path.suffix == ".png" else None,
                    bbox_inches="tight")
        data = buf.getvalue()
        atomic_write(path, lambda f, data=data: f.write(data))
    plt.close(fig)
    return paths

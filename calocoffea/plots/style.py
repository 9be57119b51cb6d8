"""Shared figure style: mplhep ATLAS style, simulation label, colours, PNG+PDF saving.

:func:`figure_settings` (a context manager) changes, for the figures drawn inside it, the
label text, the integrated luminosity shown and the file formats :func:`save` writes
(``calocoffea plot --label --lumi --format``).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, replace
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


#: File formats :func:`save` can write (matplotlib back-ends).
FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf", "svg", "eps")


@dataclass(frozen=True)
class FigureSettings:
    """Label text (None: "Simulation" / "Simulation (data-like)"), integrated luminosity in
    fb⁻¹ (None: not shown), centre-of-mass energy in TeV and the formats :func:`save`
    writes."""

    label: str | None = None
    lumi: float | None = None
    com: float = 13.0
    formats: tuple[str, ...] = ("png", "pdf")

    def check(self) -> None:
        """ValueError naming the option and its allowed values."""
        bad = [f for f in self.formats if f not in FIGURE_FORMATS]
        if bad or not self.formats:
            raise ValueError(f"format {bad or '(none)'} not allowed; choose from {FIGURE_FORMATS}")
        if self.lumi is not None and not self.lumi > 0:
            raise ValueError(f"lumi must be > 0 fb^-1, got {self.lumi}")


_DEFAULT_SETTINGS = FigureSettings()
_SETTINGS: contextvars.ContextVar[FigureSettings | None] = contextvars.ContextVar(
    "calocoffea_figure_settings", default=None)


def current_settings() -> FigureSettings:
    """The :class:`FigureSettings` in effect (:func:`figure_settings`)."""
    return _SETTINGS.get() or _DEFAULT_SETTINGS


@contextlib.contextmanager
def figure_settings(**changes) -> Iterator[FigureSettings]:
    """Figures drawn and saved inside use :class:`FigureSettings` with ``changes``."""
    settings = replace(current_settings(), **changes)
    settings.check()
    token = _SETTINGS.set(settings)
    try:
        yield settings
    finally:
        _SETTINGS.reset(token)


def use_style() -> None:
    """Activate the ATLAS mplhep style."""
    plt.style.use(mh.style.ATLAS)


def label(ax, simulation: bool = True, rlabel: str | None = None) -> None:
    """ATLAS-style label naming calocoffea, not ATLAS: every sample is our own simulation.

    ``simulation=False`` marks the data-like samples (simulated with altered conditions).
    """
    settings = current_settings()
    text = settings.label
    if text is None:
        text = "Simulation" if simulation else "Simulation (data-like)"
    if rlabel is None:
        rlabel = f"{settings.com:g} TeV"
        if settings.lumi is not None:
            rlabel = f"{settings.lumi:g} fb$^{{-1}}$, {rlabel}"
    mh.atlas.label(exp="calocoffea", text=text, data=True, rlabel=rlabel, ax=ax, loc=0)


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
    """Write ``name``.png and ``name``.pdf (the formats of :func:`figure_settings`) into
    ``out_dir`` (atomically: a figure is either complete or absent, and a symlink at its path
    is replaced, not followed); close the figure."""
    import io

    from calocoffea.execution.outputs import atomic_write

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.{fmt}" for fmt in current_settings().formats]
    for path in paths:
        buf = io.BytesIO()
        fig.savefig(buf, format=path.suffix[1:], dpi=150 if path.suffix == ".png" else None,
                    bbox_inches="tight")
        data = buf.getvalue()
        atomic_write(path, lambda f, data=data: f.write(data))
    plt.close(fig)
    return paths

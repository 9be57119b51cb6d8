"""mplhep (ATLAS style) figures of calocoffea: mass peaks, response, eIQR, linearity, η-shift,
resolution.

Every function takes plain numbers or 1-D ``hist`` objects (no fitting inside), returns the
matplotlib Figure, and leaves saving to :func:`calocoffea.plots.style.save`.
"""

from calocoffea.plots.mass import plot_mass_peaks
from calocoffea.plots.per_bin import (
    plot_alpha,
    plot_eiqr_vs,
    plot_eta_resolution,
    plot_linearity,
)
from calocoffea.plots.response import plot_response
from calocoffea.plots.style import save, use_style

__all__ = [
    "plot_alpha",
    "plot_eiqr_vs",
    "plot_eta_resolution",
    "plot_linearity",
    "plot_mass_peaks",
    "plot_response",
    "save",
    "use_style",
]

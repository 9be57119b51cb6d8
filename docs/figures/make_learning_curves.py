"""Redraw docs/figures/learning_curves.png (the BDTs) and cnn_learning_curve_<particle>.png
(the CNNs) from the shipped model cards: ``python docs/figures/make_learning_curves.py``."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from calocoffea.plots.learning import plot_cnn_learning_curve, plot_learning_curves
from calocoffea.resources import models_dir

here = Path(__file__).parent
plot_learning_curves(models_dir()).savefig(here / "learning_curves.png", dpi=90)
for particle in ("electron", "photon"):
    plot_cnn_learning_curve(models_dir() / f"deepcalo_{particle}.json").savefig(
        here / f"cnn_learning_curve_{particle}.png", dpi=90)

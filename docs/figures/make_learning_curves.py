"""Redraw docs/figures/learning_curves.png from the shipped model cards:
``python docs/figures/make_learning_curves.py``."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from calocoffea.plots.learning import plot_learning_curves
from calocoffea.resources import models_dir

fig = plot_learning_curves(models_dir())
fig.savefig(Path(__file__).with_name("learning_curves.png"), dpi=90)

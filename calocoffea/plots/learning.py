"""Learning curves of the shipped BDTs: validation eIQR75 against the training-set size."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt

from calocoffea.plots.style import calib_color, calib_label, label, use_style

#: BDT models per panel title.
MODELS: dict[str, str] = {"electron": "electrons", "photon_unconverted": "unconverted photons",
                          "photon_converted": "converted photons"}


def plot_learning_curves(models_dir: str | Path,
                         variants: Sequence[str] = ("bdt", "bdt_shapes")) -> plt.Figure:
    """One panel per BDT model, one line per calibration variant, from the cards'
    ``learning_curve`` (nested subsets of the training split, eIQR75 on the validation
    split); the last doubling's relative change is written in the legend."""
    use_style()
    fig, axes = plt.subplots(1, len(MODELS), figsize=(16, 5.2), sharey=False)
    for ax, (model, title) in zip(axes, MODELS.items(), strict=True):
        for variant in variants:
            card = Path(models_dir) / f"{variant}_{model}.json"
            if not card.is_file():
                raise FileNotFoundError(f"{card}: no model card (train it with "
                                        "`calocoffea train bdt`)")
            curve = json.loads(card.read_text())["learning_curve"]
            n = [p["n_train"] for p in curve["points"]]
            e = [p["val_eIQR75"] for p in curve["points"]]
            change = curve["last_doubling_relative_change"]
            ax.plot(n, e, "o-", color=calib_color(variant),
                    label=f"{calib_label(variant)} (last doubling {100 * change:+.2f} %)")
        ax.set_xscale("log")
        ax.set_xlabel("training objects")
        ax.set_ylabel(r"validation eIQR$_{75}$ of $E/E_{true}$")
        ax.text(0.04, 0.06, title, transform=ax.transAxes, fontsize=13)
        ax.legend(fontsize=10, loc="upper right", bbox_to_anchor=(1.0, 0.9))
        label(ax)
    fig.tight_layout()
    return fig

"""Learning curves of the shipped BDTs: validation eIQR75 against the training-set size."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import FormatStrFormatter

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


def plot_cnn_learning_curve(card_path: str | Path) -> plt.Figure:
    """eIQR75 of the CNN on its held-out file against its training objects, from the card's
    ``learning_curve`` (one training per point), with the standard BDT on the same objects;
    the shipped model's point is circled."""
    use_style()
    card = json.loads(Path(card_path).read_text())
    if "learning_curve" not in card:
        raise KeyError(f"{card_path}: no learning_curve in the card")
    curve = card["learning_curve"]
    pts = curve["points"]
    n = [p["n_train"] for p in pts]
    fig, ax = plt.subplots(figsize=(8, 5.2))
    ax.plot(n, [p["test_eIQR75"] for p in pts], "o-", color=calib_color("cnn"),
            label=f"{calib_label('cnn')} (doublings: "
                  + ", ".join(f"{100 * c:+.1f} %" for c in curve["doubling_relative_changes"])
                  + ")")
    ax.plot(n, [p["test_eIQR75_bdt"] for p in pts], "--", color=calib_color("bdt"),
            label=f"{calib_label('bdt')} (shipped) on the same objects")
    shipped = [p for p in pts if p.get("shipped")]
    ax.plot([p["n_train"] for p in shipped], [p["test_eIQR75"] for p in shipped], "o",
            ms=14, mfc="none", color="k", label="shipped model")
    ax.set_xscale("log")
    # plain tick labels: the ×10⁻² offset text would sit on the experiment label
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.4f"))
    ax.set_xlabel("CNN training objects")
    ax.set_ylabel(r"held-out eIQR$_{75}$ of $E/E_{true}$")
    ax.text(0.04, 0.06, f"{card.get('particle', '')} CNN, {curve.get('test_objects', '')} "
            "held-out objects", transform=ax.transAxes, fontsize=12)
    ax.legend(fontsize=10, loc="upper right")
    label(ax)
    fig.tight_layout()
    return fig

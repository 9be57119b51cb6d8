"""The shipped CNNs' learning curves (docs/model.md, docs/figures/cnn_learning_curve_*.png):
the card's curve must end in (or pass through) the shipped model's own held-out evaluation, the
points must be nested trainings of growing size evaluated on the same objects, and the figure
code must draw it."""

from __future__ import annotations

import json
from itertools import pairwise

import matplotlib
import pytest

from calocoffea.resources import models_dir

matplotlib.use("Agg")


@pytest.fixture(scope="module", params=["electron", "photon"])
def card(request) -> dict:
    return json.loads((models_dir() / f"deepcalo_{request.param}.json").read_text())


def test_curve_contains_the_shipped_model_and_is_consistent(card):
    curve = card["learning_curve"]
    pts = curve["points"]
    assert len(pts) >= 4
    sizes = [p["n_train"] for p in pts]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    # each step roughly doubles the training set (nested --max-objects subsets)
    for a, b in pairwise(sizes):
        assert 1.7 < b / a < 2.3
    shipped = [p for p in pts if p["shipped"]]
    assert len(shipped) == 1
    s = shipped[0]
    assert s["n_train"] == card["training"]["n_train"]
    assert s["test_eIQR75"] == pytest.approx(card["test"]["overall"]["eiqr75_cnn"], rel=1e-12)
    # every point evaluated on the same objects: the BDT's eIQR75 is the same number
    assert all(p["test_eIQR75_bdt"] == pytest.approx(pts[0]["test_eIQR75_bdt"], rel=1e-9)
               for p in pts)
    e = [p["test_eIQR75"] for p in pts]
    assert curve["doubling_relative_changes"] == pytest.approx(
        [b / a - 1 for a, b in pairwise(e)])


def test_cnn_learning_curve_plot(card, tmp_path):
    from calocoffea.plots.learning import plot_cnn_learning_curve

    fig = plot_cnn_learning_curve(models_dir() / f"deepcalo_{card['particle']}.json")
    ax = fig.axes[0]
    assert len(ax.lines[0].get_xdata()) == len(card["learning_curve"]["points"])
    fig.savefig(tmp_path / "lc.png")
    bad = tmp_path / "card.json"
    bad.write_text(json.dumps({k: v for k, v in card.items() if k != "learning_curve"}))
    with pytest.raises(KeyError, match="no learning_curve"):
        plot_cnn_learning_curve(bad)

import hist
import numpy as np
import pytest

from calocoffea import binning
from calocoffea.plots import (
    plot_alpha,
    plot_eiqr_vs,
    plot_eta_resolution,
    plot_mass_peaks,
    plot_response,
    save,
)


@pytest.fixture(scope="module")
def mass_hists():
    rng = np.random.default_rng(1)
    out, curves = {}, {}
    for cal, width in (("bdt", 2.4), ("cnn", 1.9)):
        h = hist.Hist(hist.axis.Regular(60, 75, 105, name="mass"), storage=hist.storage.Weight())
        h.fill(rng.normal(91.19, width, 20_000))
        centers = h.axes[0].centers
        curves[cal] = (
            20_000
            * 0.5
            * np.exp(-0.5 * ((centers - 91.19) / width) ** 2)
            / (width * np.sqrt(2 * np.pi))
        )
        out[cal] = h
    return out, curves


def test_mass_peak_figure_has_data_curves_and_pulls(tmp_path, mass_hists):
    hists, curves = mass_hists
    fig = plot_mass_peaks(hists, curves, fit_text={"cnn": r"$\sigma_{CB}$=1.9"}, channel="zee")
    ax, rax = fig.axes
    assert len(ax.lines) >= 2  # one fitted curve per calibration
    assert "Pull" in rax.get_ylabel()
    assert "[GeV]" in rax.get_xlabel()
    paths = save(fig, tmp_path, "mass_zee")
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)
    assert {p.suffix for p in paths} == {".png", ".pdf"}


def test_per_bin_figures_render(tmp_path):
    edges = binning.ABS_ETA_EDGES
    n = len(edges) - 1
    eiqr = {
        "bdt": (np.full(n, 0.035), np.full(n, 0.001)),
        "cnn": (np.full(n, 0.028), np.full(n, 0.001)),
    }
    fig = plot_eiqr_vs(edges, eiqr, r"$|\eta|$")
    reiqr_points = fig.axes[1].containers[0].lines[0].get_ydata()
    assert np.allclose(reiqr_points, 0.2)
    save(fig, tmp_path, "eiqr")
    save(
        plot_alpha(
            edges, {"bdt": (np.zeros(n), np.full(n, 0.001))}, injected_alpha=np.full(n, -0.01)
        ),
        tmp_path,
        "alpha",
    )
    save(plot_eta_resolution(edges, {"cnn": (np.ones(n), np.full(n, 0.1))}), tmp_path, "sigma")
    h = hist.Hist(hist.axis.Regular(*binning.RESPONSE_BINS, name="response"))
    h.fill(np.random.default_rng(2).normal(1.0, 0.03, 5000))
    save(plot_response({"bdt": h}, eiqr75={"bdt": 0.03}), tmp_path, "response")
    assert len(list(tmp_path.glob("*.png"))) == 4

import hist
import numpy as np
import pytest

from calocoffea import binning
from calocoffea.plots import (
    plot_alpha,
    plot_eiqr_vs,
    plot_eta_resolution,
    plot_linearity,
    plot_mass_peaks,
    plot_response,
    save,
)
from calocoffea.plots.per_bin import SIGMA_REL_LABEL, populated_xlim
from calocoffea.plots.response import response_rebin_factor
from calocoffea.plots.style import calib_color


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


def _axes(fig):
    return {a.get_label(): a for a in fig.axes}


def test_mass_peak_figure_has_data_curves_and_pulls(tmp_path, mass_hists):
    hists, curves = mass_hists
    fig = plot_mass_peaks(hists, curves, fit_text={"cnn": r"$\sigma_{CB}$=1.9"}, channel="zee")
    axes = _axes(fig)
    assert set(axes) == {"mass", "pull_bdt", "pull_cnn"}  # one pull panel per calibration
    ax = axes["mass"]
    assert len(ax.lines) >= 2  # one fitted curve per calibration
    for cal in ("bdt", "cnn"):
        rax = axes[f"pull_{cal}"]
        assert "Pull" in rax.get_ylabel()
        (step,) = rax.lines[-1:]
        assert step.get_color() == calib_color(cal)
        # the pulls of a Gaussian toy against its own density are O(1)
        pulls = np.asarray(step.get_ydata())
        assert 0.5 < np.std(pulls[np.abs(pulls) > 0]) < 1.6
    assert "[GeV]" in axes["pull_cnn"].get_xlabel()
    assert any("CB" in t.get_text() for t in ax.get_legend().get_texts())
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


def test_truth_peak_has_its_own_panel_and_does_not_set_the_main_range(mass_hists):
    """The true-energy peak is ~10x higher than the reconstructed ones; drawn in the main
    panel it squeezed BDT and CNN into its bottom tenth."""
    hists, curves = mass_hists
    truth = hist.Hist(hist.axis.Regular(60, 75, 105, name="mass"), storage=hist.storage.Weight())
    truth.fill(np.random.default_rng(3).normal(91.19, 0.2, 20_000))
    fig = plot_mass_peaks({**hists, "truth": truth}, curves, channel="zee")
    axes = _axes(fig)
    assert set(axes) == {"mass", "mass_truth", "pull_bdt", "pull_cnn", "pull_truth"}
    reco_max = max(h.values().max() for h in hists.values())
    assert axes["mass"].get_ylim()[1] < 2 * reco_max < truth.values().max()
    assert axes["mass_truth"].get_ylim()[1] >= truth.values().max()
    # no fit curve for truth: its pull panel says so instead of drawing zeros
    texts = [t.get_text() for t in axes["pull_truth"].texts]
    assert "no accepted fit" in texts


def test_per_bin_figures_label_the_reiqr_and_cut_to_the_populated_range():
    edges = binning.ET_EDGES  # 5 ... 500 GeV
    n = len(edges) - 1
    vals = np.full(n, np.nan)
    vals[2:6] = 0.02  # populated 30-80 GeV only, like an H->yy sample
    eiqr = {"bdt": (vals, vals / 20), "cnn": (0.8 * vals, vals / 20)}
    fig = plot_eiqr_vs(edges, eiqr, "E_T", logx=True)
    ax, rax = fig.axes
    assert rax.get_xlim() == pytest.approx((30.0, 80.0))
    assert populated_xlim(edges, [np.isfinite(vals)]) == (30.0, 80.0)
    definition = " ".join(t.get_text() for t in rax.texts)
    assert "reIQR" in definition and "= 1 − eIQR" in definition
    assert "DeepCalo CNN" in definition and "Standard (BDT)" in definition

    median = {"bdt": (np.where(np.isfinite(vals), 1.002, np.nan), vals / 100),
              "cnn": (np.where(np.isfinite(vals), 0.999, np.nan), vals / 100)}
    fig = plot_linearity(edges, median, eiqr, "E_T", logx=True)
    ax, rax = fig.axes
    assert rax.get_xlim() == pytest.approx((30.0, 80.0))
    assert rax.get_ylabel() == SIGMA_REL_LABEL and "IQR / (2 median)" in SIGMA_REL_LABEL
    assert "median" in ax.get_ylabel()
    colours = {c.lines[0].get_color() for c in ax.containers}
    assert colours == {calib_color("bdt"), calib_color("cnn")}
    # the "not measured" marks stay inside the drawn range
    assert "not measured" not in [t.get_text() for t in ax.texts]


@pytest.mark.parametrize(("n", "expected"), [(200_000, 1), (5_000, 5), (100, 20)])
def test_response_is_binned_for_the_sample_size(n, expected):
    h = hist.Hist(hist.axis.Regular(*binning.RESPONSE_BINS, name="response"))
    h.fill(np.random.default_rng(5).normal(1.0, 0.02, n))
    # Freedman-Diaconis: 2 IQR / N^(1/3) = 2 * 0.027 / N^(1/3), in 0.0005 steps, rounded
    # down to a divisor of the 2000 booked bins
    assert response_rebin_factor({"bdt": h}) == expected
    fig = plot_response({"bdt": h})
    ax = fig.axes[0]
    (stairs,) = ax.patches
    assert len(stairs.get_data().values) == 2000 // expected
    lo, hi = ax.get_xlim()
    assert 0.88 < lo < 0.96 and 1.04 < hi < 1.12  # the populated range, not 0.5-1.5

"""Draw every figure of a results directory (the layout written by ``calocoffea demo``).

Reads ``DIR/outputs/<channel>_<kind>.coffea`` (histograms) and ``DIR/results/<channel>_<kind>
.json`` (fits) and writes PNG + PDF into ``DIR/plots``: per sample the mass peaks with fit
curves and pulls; in MC the E/E_true distributions and eIQR versus |η|, E_T and ⟨μ⟩; for Z→ee
the η-shift α_i (with the injected offsets on data-like samples); the per-|η| resolution.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from calocoffea import binning
from calocoffea.channels import CHANNELS, RESPONSE_CALIBRATIONS
from calocoffea.fitting.curves import expected_counts
from calocoffea.plots.mass import plot_mass_peaks
from calocoffea.plots.per_bin import plot_alpha, plot_eiqr_vs, plot_eta_resolution
from calocoffea.plots.response import plot_response
from calocoffea.plots.style import save

log = logging.getLogger(__name__)

AXIS_LABEL = {"abseta": r"$|\eta|$", "et": r"$E_T^{true}$ [GeV]", "mu": r"$\langle\mu\rangle$"}
#: Bins with fewer objects are not drawn in the eIQR-versus-variable figures.
MIN_ENTRIES_PER_BIN = 100
AXIS_EDGES = {"abseta": binning.ABS_ETA_EDGES, "et": binning.ET_EDGES, "mu": binning.MU_EDGES}


def _mass_figure(name: str, output: dict, result: dict, simulation: bool):
    channel = result["channel"]
    h = output["mass"]
    mass = result["mass"]
    hists, curves, text = {}, {}, {}
    for cal in mass.get("calibrations", []):
        h1 = h[{"calibration": cal}].project("mass")
        hists[cal] = h1
        fit = mass.get("inclusive", {}).get(cal)
        if fit:
            edges = h1.axes[0].edges
            curve = expected_counts(fit, edges, float(h1.values().sum()))
            if curve is not None:
                curves[cal] = curve
            sigma, err = fit["values"].get("sigma"), fit["errors"].get("sigma")
            if sigma is not None and err is not None:
                gauss = CHANNELS[channel].mass_model == "double_gauss"
                sym = r"\sigma" if gauss else r"\sigma_{CB}"
                text[cal] = f"${sym}$ = {sigma:.2f} ± {err:.2f} GeV"
    return plot_mass_peaks(hists, curves, text, channel=channel, simulation=simulation)


def _response_figures(name: str, output: dict, result: dict, out: Path) -> None:
    response = result.get("response") or {}
    particle = CHANNELS[result["channel"]].particle
    cals = [c for c in RESPONSE_CALIBRATIONS if particle in response.get(c, {})]
    if not cals:
        return
    h = output["response"]
    hists = {c: h[{"calibration": c, "particle": particle}].project("response") for c in cals}
    eiqr = {c: response[c][particle]["inclusive"]["eiqr75"] for c in cals}
    save(plot_response(hists, eiqr, title=name.replace("_", " ")), out, f"response_{name}")
    for axis in ("abseta", "et", "mu"):
        per_bin = {}
        for c in cals:
            bins = response[c][particle][axis]
            # quantiles of a handful of entries are noise, and their asymptotic errors lie
            ok = [e["n"] >= MIN_ENTRIES_PER_BIN and e["eiqr75"] is not None for e in bins]
            per_bin[c] = (
                [e["eiqr75"] if good else np.nan for e, good in zip(bins, ok, strict=True)],
                [e["eiqr75_error"] if good else np.nan for e, good in zip(bins, ok, strict=True)],
            )
        fig = plot_eiqr_vs(AXIS_EDGES[axis], per_bin, AXIS_LABEL[axis], logx=axis == "et")
        save(fig, out, f"eiqr_vs_{axis}_{name}")


def draw_sample(name: str, output: dict, result: dict, out: Path,
                injected_alpha: list[float] | None = None) -> None:
    """All figures of one sample."""
    simulation = result.get("kind") != "data"
    save(_mass_figure(name, output, result, simulation), out, f"mass_{name}")
    if simulation:
        _response_figures(name, output, result, out)
    mass = result["mass"]
    if "eta_shift" in mass:
        alpha = {c: (v["alpha"], v["alpha_error"]) for c, v in mass["eta_shift"].items()}
        save(plot_alpha(binning.ABS_ETA_EDGES, alpha, injected_alpha, simulation=simulation),
             out, f"alpha_{name}")
    if "resolution" in mass:
        sig = {c: (v["sigma"], v["sigma_error"]) for c, v in mass["resolution"].items()}
        save(plot_eta_resolution(binning.ABS_ETA_EDGES, sig, simulation=simulation), out,
             f"eta_resolution_{name}")
    elif "photon_width" in mass:
        sig = {c: ([w["width"] for w in ws], [w["error"] for w in ws])
               for c, ws in mass["photon_width"].items()}
        save(plot_eta_resolution(binning.ABS_ETA_EDGES, sig,
                                 ylabel=r"photon part of $\sigma_{CB}$ [GeV]",
                                 simulation=simulation), out, f"eta_resolution_{name}")


def draw_all(directory: str | Path) -> list[Path]:
    """Draw the figures of every ``results/*.json`` in ``directory``; returns the PNG paths."""
    from coffea.util import load

    directory = Path(directory)
    out = directory / "plots"
    results = sorted((directory / "results").glob("*.json"))
    if not results:
        raise FileNotFoundError(f"no results/*.json in {directory}")
    summary_path = directory / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for path in results:
        name = path.stem
        coffea_file = directory / "outputs" / f"{name}.coffea"
        if not coffea_file.exists():
            raise FileNotFoundError(f"{coffea_file} (histograms for {path}) is missing")
        result = json.loads(path.read_text())
        channel, kind = result["channel"], result.get("kind")
        injected = (summary.get("channels", {}).get(channel, {}).get(kind, {})
                    .get("eta_shift", {}).get("injected_alpha"))
        log.info("drawing %s", name)
        draw_sample(name, load(str(coffea_file)), result, out, injected)
    return sorted(out.glob("*.png"))

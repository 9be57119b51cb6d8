"""Draw every figure of a results directory (the layout written by ``calocoffea demo``).

Reads ``DIR/outputs/<channel>_<kind>.hist.zip`` (histograms; ``.hist.json`` too, and a pickled
``.coffea`` only with ``trust_pickle=True``: loading a pickle can run code embedded in it)
and ``DIR/results/<channel>_<kind>.json`` (fits) and writes PNG + PDF into ``DIR/plots``: per
sample the mass peaks with fit curves (accepted fits), σ_eff and one pull panel per
calibration (the true-energy peak in its own panel); in MC the E/E_true distributions, eIQR
versus |η|, E_T and ⟨μ⟩, and the linearity (median E/E_true) with σ_rel = IQR/(2·median)
versus |η| and E_T; for Z→ee the η-shift α_i (with the injected
offsets on data-like samples); the per-|η| resolution.

Partial results are drawn as far as they go: a fit that was not accepted gets no curve and
its reason in the legend, bins no accepted fit constrains say "not measured" (never a 0 drawn
as if measured), a missing response histogram or resolution skips those figures, and a
result that cannot be drawn at all (unknown channel, no mass fits) is skipped with a warning
naming it; the other samples are still drawn.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from calocoffea import binning
from calocoffea.app.terminal import batch_backend
from calocoffea.channels import CHANNELS, RESPONSE_CALIBRATIONS
from calocoffea.fitting.curves import expected_counts
from calocoffea.fitting.models import MODELS
from calocoffea.plots.mass import plot_mass_peaks
from calocoffea.plots.per_bin import (
    plot_alpha,
    plot_eiqr_vs,
    plot_eta_resolution,
    plot_linearity,
)
from calocoffea.plots.response import plot_response
from calocoffea.plots.style import save

log = logging.getLogger(__name__)

AXIS_LABEL = {"abseta": r"$|\eta|$", "et": r"$E_T^{true}$ [GeV]", "mu": r"$\langle\mu\rangle$"}
#: Bins with fewer objects are not drawn in the eIQR-versus-variable figures.
MIN_ENTRIES_PER_BIN = 100
AXIS_EDGES = {"abseta": binning.ABS_ETA_EDGES, "et": binning.ET_EDGES, "mu": binning.MU_EDGES}


#: Output file names tried per sample, safe formats first.
OUTPUT_SUFFIXES = (".hist.zip", ".hist.json", ".coffea")


def _mass_figure(name: str, output: dict, result: dict, simulation: bool):
    channel = result["channel"]
    h = output.get("mass")
    mass = result.get("mass") or {}
    hists, curves, text = {}, {}, {}
    categories = list(h.axes["calibration"]) if h is not None else []
    for cal in mass.get("calibrations", []):
        if cal not in categories:
            continue
        h1 = h[{"calibration": cal}].project("mass")
        hists[cal] = h1
        eff = (mass.get("sigma_eff") or {}).get(cal) or {}
        eff_text = (f"$\\sigma_{{eff}}$ = {eff['sigma_eff']:.2f} GeV"
                    if eff.get("sigma_eff") is not None else "")
        fit = mass.get("inclusive", {}).get(cal)
        if not fit:
            if eff_text:
                text[cal] = eff_text
            continue
        if not fit.get("accepted"):
            # a rejected fit is not a measurement: no curve, no width, the reason instead
            text[cal] = ", ".join(filter(None, [
                f"fit not accepted ({fit.get('reason') or fit.get('status')})", eff_text]))
            continue
        edges = h1.axes[0].edges
        curve = expected_counts(fit, edges, float(h1.values().sum()))
        if curve is not None:
            curves[cal] = curve
        sigma, err = fit["values"].get("sigma"), fit["errors"].get("sigma")
        if sigma is not None and err is not None:
            sym = MODELS[fit["model"]].width_tex if fit.get("model") in MODELS else r"\sigma"
            parts = [f"${sym}$ = {sigma:.2f} ± {err:.2f} GeV"]
            if fit.get("chi2_ndf") is not None:
                parts.append(f"$\\chi^2$/ndf = {fit['chi2_ndf']:.2f}")
            text[cal] = ", ".join([*parts, eff_text] if eff_text else parts)
    return plot_mass_peaks(hists, curves, text, channel=channel, simulation=simulation)


def _response_figures(name: str, output: dict, result: dict, out: Path) -> None:
    response = result.get("response") or {}
    particle = CHANNELS[result["channel"]].particle
    cals = [c for c in RESPONSE_CALIBRATIONS if particle in response.get(c, {})]
    h = output.get("response")
    if not cals or h is None:
        return
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
    for axis in LINEARITY_AXES:
        median, sigma_rel = {}, {}
        for c in cals:
            bins = response[c][particle][axis]
            ok = [e["n"] >= MIN_ENTRIES_PER_BIN and e.get("median") is not None for e in bins]
            median[c] = _per_bin(bins, ok, "median", "median_error")
            sigma_rel[c] = _per_bin(bins, ok, "sigma_rel", "sigma_rel_error")
        fig = plot_linearity(AXIS_EDGES[axis], median, sigma_rel, AXIS_LABEL[axis],
                             logx=axis == "et")
        save(fig, out, f"linearity_vs_{axis}_{name}")


#: Axes of the linearity figures.
LINEARITY_AXES: tuple[str, ...] = ("abseta", "et")


def _per_bin(bins: list[dict], ok: list[bool], key: str, err_key: str
             ) -> tuple[list[float], list[float]]:
    """(values, errors) of ``key`` per bin, NaN where ``ok`` is false (not drawn)."""
    values = [b.get(key) if good else np.nan for b, good in zip(bins, ok, strict=True)]
    errors = [b.get(err_key) if good else np.nan for b, good in zip(bins, ok, strict=True)]
    return ([np.nan if v is None else v for v in values],
            [np.nan if e is None else e for e in errors])


def draw_sample(name: str, output: dict, result: dict, out: Path,
                injected_alpha: list[float] | None = None) -> None:
    """All figures of one sample."""
    simulation = result.get("kind") != "data"
    save(_mass_figure(name, output, result, simulation), out, f"mass_{name}")
    if simulation:
        _response_figures(name, output, result, out)
    mass = result.get("mass") or {}
    if "eta_shift" in mass:
        alpha = {c: (v["alpha"], v["alpha_error"]) for c, v in mass["eta_shift"].items()}
        save(plot_alpha(binning.ABS_ETA_EDGES, alpha, injected_alpha, simulation=simulation),
             out, f"alpha_{name}")
    if "resolution" in mass:
        # σ_i² < 0 (physical false) says the bin adds no width: no σ_i to draw
        sig = {c: ([s if ok else None for s, ok in zip(v["sigma"], v.get(
                    "physical", [True] * len(v["sigma"])), strict=True)], v["sigma_error"])
               for c, v in mass["resolution"].items()}
        save(plot_eta_resolution(binning.ABS_ETA_EDGES, sig, simulation=simulation), out,
             f"eta_resolution_{name}")
    elif "photon_width" in mass:
        sig = {c: ([w["width"] for w in ws], [w["error"] for w in ws])
               for c, ws in mass["photon_width"].items()}
        save(plot_eta_resolution(binning.ABS_ETA_EDGES, sig,
                                 ylabel=r"photon part of $\sigma_{CB}$ [GeV]",
                                 simulation=simulation), out, f"eta_resolution_{name}")
    _coverage_figures(name, result, out, simulation)


def _coverage_figures(name: str, result: dict, out: Path, simulation: bool) -> None:
    """Pull width and coverage per |η|, E_T, ⟨μ⟩ bin (results with ``uncertainty``)."""
    from calocoffea.plots.uncertainty import plot_coverage
    from calocoffea.uncertainty import PULL_BIN_AXES

    for particle, entry in (result.get("uncertainty") or {}).items():
        for axis in PULL_BIN_AXES:
            save(plot_coverage(entry, axis, particle=particle, simulation=simulation), out,
                 f"coverage_vs_{axis}_{name}")


def find_output(directory: Path, name: str) -> Path:
    """``directory/outputs/<name>`` with the first of :data:`OUTPUT_SUFFIXES` that exists."""
    for suffix in OUTPUT_SUFFIXES:
        path = directory / "outputs" / f"{name}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(
        f"{directory / 'outputs' / (name + OUTPUT_SUFFIXES[0])} (histograms for "
        f"results/{name}.json) is missing"
    )


def draw_all(directory: str | Path, *, trust_pickle: bool = False,
             progress=None) -> list[Path]:
    """Draw the figures of every ``results/*.json`` in ``directory``; returns the PNG paths.

    ``progress(done, total)`` is called after each sample. Raises FileNotFoundError without
    results, :class:`~calocoffea.execution.outputs.UntrustedPickleError` for a pickled output
    without ``trust_pickle``.
    """
    from calocoffea.execution.outputs import load_output

    batch_backend()
    directory = Path(directory)
    out = directory / "plots"
    results = sorted((directory / "results").glob("*.json"))
    if not results:
        raise FileNotFoundError(f"no results/*.json in {directory}")
    summary_path = directory / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    # every input is located and loaded before the first figure: a missing or untrusted
    # file stops here, not halfway through the plots
    samples = []
    for path in results:
        output = load_output(find_output(directory, path.stem), trust_pickle=trust_pickle)
        samples.append((path, output))
    for k, (path, output) in enumerate(samples):
        name = path.stem
        result = json.loads(path.read_text())
        channel, kind = result.get("channel"), result.get("kind")
        if channel not in CHANNELS or not isinstance(result.get("mass"), dict):
            log.warning("%s: not a calocoffea fit result of a known channel (channel %r): "
                        "skipped", path, channel)
            continue
        injected = (summary.get("channels", {}).get(channel, {}).get(kind, {})
                    .get("eta_shift", {}).get("injected_alpha"))
        log.info("drawing %s", name)
        draw_sample(name, output, result, out, injected)
        if progress is not None:
            progress(k + 1, len(samples))
    return sorted(out.glob("*.png"))

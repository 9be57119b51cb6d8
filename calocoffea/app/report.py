"""Draw the figures of saved outputs and fit results (``calocoffea plot``, the demo).

Inputs (:func:`draw_path`):

- a results directory (the layout written by ``calocoffea demo``, :func:`draw_all`):
  ``DIR/results/<dataset>.json`` (fits) with their histograms, found through the results'
  ``input`` and ``dataset`` entries, else in ``DIR/outputs/<dataset>.hist.zip``;
- a saved processor output (``.hist.zip``, ``.hist.json``; a pickled ``.coffea`` only with
  ``trust_pickle=True``: loading a pickle can run code embedded in it): the histograms of
  every dataset, without fit curves;
- a results JSON of ``calocoffea fit``: its fits, with the histograms of its ``input`` when
  that file is there (else the figures that need no histogram, and a warning naming it);
  a directory of such files (``calocoffea fit --out DIR``) draws each.

Figures (PNG + PDF by default, :func:`calocoffea.plots.style.figure_settings` for other
formats, the label text and the luminosity): per dataset the mass peaks with fit curves
(accepted fits), σ_eff and one pull panel per calibration (the true-energy peak in its own
panel; ``rebin`` merges mass bins); in MC the E/E_true distributions, eIQR versus |η|, E_T
and ⟨μ⟩, and the linearity (median E/E_true) with σ_rel = IQR/(2·median) versus |η| and
E_T; for Z→ee the η-shift α_i (with the injected offsets on data-like samples); the per-|η|
resolution.

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
from typing import Any

import hist
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


def _mass_figure(name: str, output: dict, result: dict | None, simulation: bool,
                 rebin: int = 1):
    """Mass peaks of one dataset: the fitted calibrations of ``result`` with their curves,
    or every calibration of the histogram when there is no result."""
    channel = result["channel"] if result else output.get("meta", {}).get("channel")
    h = output.get("mass")
    mass = (result or {}).get("mass") or {}
    hists, curves, text = {}, {}, {}
    categories = list(h.axes["calibration"]) if h is not None else []
    wanted = mass.get("calibrations", []) if result else categories
    for cal in wanted:
        if cal not in categories:
            continue
        h1 = h[{"calibration": cal}].project("mass")
        if rebin > 1:
            h1 = h1[::hist.rebin(rebin)]
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


def _response_figures(name: str, output: dict, result: dict | None, out: Path) -> None:
    h = output.get("response")
    if result is None:
        if not isinstance(h, hist.Hist) or h.sum(flow=True)["value"] <= 0:
            return
        from calocoffea.fitting.pipeline import response_metrics

        result = {"channel": output["meta"]["channel"], "response": response_metrics(h)}
    response = result.get("response") or {}
    particle = CHANNELS[result["channel"]].particle
    cals = [c for c in RESPONSE_CALIBRATIONS if particle in response.get(c, {})]
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
            ok = [_entries(e) >= MIN_ENTRIES_PER_BIN and e["eiqr75"] is not None for e in bins]
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
            ok = [_entries(e) >= MIN_ENTRIES_PER_BIN and e.get("median") is not None
                  for e in bins]
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


def draw_sample(name: str, output: dict | None, result: dict | None, out: Path,
                injected_alpha: list[float] | None = None, *, rebin: int = 1) -> None:
    """All figures of one dataset: from its histograms ``output`` and/or its fit results
    ``result`` (either may be None; without histograms only the per-bin fit figures)."""
    if output is None and result is None:
        raise ValueError(f"{name}: nothing to draw (neither histograms nor fit results)")
    kind = (result or {}).get("kind") or (output or {}).get("meta", {}).get("kind")
    simulation = kind != "data"
    if output is not None:
        save(_mass_figure(name, output, result, simulation, rebin), out, f"mass_{name}")
        if simulation:
            _response_figures(name, output, result, out)
    if result is None:
        return
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


def _entries(entry: dict) -> float:
    """Effective entries of a response bin (results before they were recorded: the sum of
    weights)."""
    n = entry.get("n_effective")
    return entry["n"] if n is None else n


def _coverage_figures(name: str, result: dict, out: Path, simulation: bool) -> None:
    """Pull width and coverage per |η|, E_T, ⟨μ⟩ bin (results with ``uncertainty``)."""
    from calocoffea.plots.uncertainty import plot_coverage
    from calocoffea.uncertainty import PULL_BIN_AXES, PULL_RECO_AXIS

    for particle, entry in (result.get("uncertainty") or {}).items():
        # entry: {calibration: pull-summary entry}
        has_reco = any(PULL_RECO_AXIS in (e.get("bins") or {}) for e in entry.values())
        for axis in (*PULL_BIN_AXES, PULL_RECO_AXIS) if has_reco else PULL_BIN_AXES:
            save(plot_coverage(entry, axis, particle=particle, simulation=simulation), out,
                 f"coverage_vs_{axis}_{name}")


def find_output(directory: Path, name: str, result: dict | None = None,
                base: Path | None = None) -> Path:
    """The histograms of the results ``name``: the results' ``input`` (as given, relative to
    ``base``, or by its file name in ``directory/outputs``), else
    ``directory/outputs/<name>`` with the first of :data:`OUTPUT_SUFFIXES` that exists."""
    candidates: list[Path] = []
    given = (result or {}).get("input")
    if given:
        given = Path(given)
        candidates += [given] if given.is_absolute() else [given, (base or directory) / given]
        candidates.append(directory / "outputs" / given.name)
    candidates += [directory / "outputs" / f"{name}{suffix}" for suffix in OUTPUT_SUFFIXES]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{directory / 'outputs' / (name + OUTPUT_SUFFIXES[0])} (histograms for "
        f"results/{name}.json) is missing"
        + (f"; its input {given} is not there either" if given else "")
    )


def _dataset_of(output: dict, result: dict, source: Path) -> dict:
    """The dataset of ``output`` that ``result`` was fitted on."""
    from calocoffea.execution.outputs import dataset_outputs

    datasets = dataset_outputs(output, str(source))
    name = result.get("dataset")
    if name is None and len(datasets) == 1:
        return next(iter(datasets.values()))
    if name not in datasets:
        raise FileNotFoundError(f"{source} has no dataset {name!r} (it has {sorted(datasets)})")
    return datasets[name]


def _check_result(path: Path, result: Any) -> bool:
    channel = result.get("channel") if isinstance(result, dict) else None
    if channel not in CHANNELS or not isinstance(result.get("mass"), dict):
        log.warning("%s: not a calocoffea fit result of a known channel (channel %r): "
                    "skipped", path, channel)
        return False
    return True


def draw_all(directory: str | Path, *, trust_pickle: bool = False, progress=None,
             out: str | Path | None = None, rebin: int = 1) -> list[Path]:
    """Draw the figures of every ``results/*.json`` in ``directory`` into ``out`` (default
    ``directory/plots``); returns the figure paths of the first format.

    ``progress(done, total)`` is called after each sample. Raises FileNotFoundError without
    results, :class:`~calocoffea.execution.outputs.UntrustedPickleError` for a pickled output
    without ``trust_pickle``.
    """
    from calocoffea.execution.outputs import load_output

    batch_backend()
    directory = Path(directory)
    out = Path(out) if out is not None else directory / "plots"
    results = sorted((directory / "results").glob("*.json"))
    if not results:
        raise FileNotFoundError(f"no results/*.json in {directory}")
    summary_path = directory / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    # every input is located and loaded before the first figure: a missing or untrusted
    # file stops here, not halfway through the plots
    samples = []
    loaded: dict[Path, dict] = {}
    for path in results:
        result = json.loads(path.read_text())
        source = find_output(directory, path.stem, result if isinstance(result, dict) else None)
        if source not in loaded:
            loaded[source] = load_output(source, trust_pickle=trust_pickle)
        samples.append((path, result, source))
    drawn: list[Path] = []
    for k, (path, result, source) in enumerate(samples):
        name = path.stem
        if not _check_result(path, result):
            continue
        output = _dataset_of(loaded[source], result, source)
        channel, kind = result.get("channel"), result.get("kind")
        injected = (summary.get("channels", {}).get(channel, {}).get(kind, {})
                    .get("eta_shift", {}).get("injected_alpha"))
        log.info("drawing %s", name)
        draw_sample(name, output, result, out, injected, rebin=rebin)
        if progress is not None:
            progress(k + 1, len(samples))
    drawn = sorted(out.glob(f"*.{_first_format()}"))
    return drawn


def _first_format() -> str:
    from calocoffea.plots.style import current_settings

    return current_settings().formats[0]


def _read_results(path: Path) -> dict:
    """The fit results of a JSON file; OutputFormatError if it is none."""
    from calocoffea.execution.outputs import OutputFormatError

    try:
        result = json.loads(path.read_text())
    except ValueError as err:
        raise OutputFormatError(f"{path}: neither a calocoffea output nor fit results "
                                f"({err})") from err
    if not isinstance(result, dict) or "mass" not in result or "channel" not in result:
        raise OutputFormatError(f"{path}: neither a calocoffea output nor fit results "
                                "(no 'channel' and 'mass' entries)")
    return result


def _draw_results_file(path: Path, result: dict, target: Path, rebin: int,
                       trust_pickle: bool) -> None:
    """The figures of one results JSON, with the histograms of its input when found."""
    from calocoffea.execution.outputs import load_output

    if not _check_result(path, result):
        return
    output = None
    try:
        source = find_output(path.parent, path.stem, result, base=path.parent)
    except FileNotFoundError as err:
        log.warning("%s: %s; drawing the figures that need no histogram", path, err)
    else:
        output = _dataset_of(load_output(source, trust_pickle=trust_pickle), result, source)
    draw_sample(result.get("dataset") or path.stem, output, result, target, rebin=rebin)


def draw_path(path: str | Path, *, out: str | Path | None = None, rebin: int = 1,
              datasets: list[str] | None = None, trust_pickle: bool = False,
              progress=None) -> tuple[list[Path], Path]:
    """Draw a results directory, a saved processor output or a results JSON (module
    docstring) into ``out`` (default: ``DIR/plots``, or ``plots/`` next to the file);
    returns (figure paths of the first format, the plot directory). ``datasets`` restricts
    a processor output to some of its datasets. Raises FileNotFoundError,
    :class:`~calocoffea.execution.outputs.OutputFormatError` (not an output nor results),
    KeyError (unknown dataset), ValueError (``rebin`` < 1)."""
    from calocoffea.execution.outputs import (
        OutputFormatError,
        is_calocoffea_output,
        load_output,
        select_datasets,
        sniff,
    )

    if rebin < 1:
        raise ValueError(f"rebin must be an integer >= 1, got {rebin}")
    path = Path(path)
    if path.is_dir():
        target = Path(out) if out is not None else path / "plots"
        loose = sorted(path.glob("*.json"))
        if (path / "results").is_dir() or not loose:
            return draw_all(path, trust_pickle=trust_pickle, progress=progress, out=target,
                            rebin=rebin), target
        # a directory of results JSONs (calocoffea fit --out DIR); other JSONs are skipped
        batch_backend()
        results = []
        for file in loose:
            try:
                results.append((file, _read_results(file)))
            except OutputFormatError as err:
                log.warning("%s; skipped", err)
        if not results:
            raise FileNotFoundError(f"no fit results (*.json of calocoffea fit) in {path}")
        for k, (file, result) in enumerate(results):
            _draw_results_file(file, result, target, rebin, trust_pickle)
            if progress is not None:
                progress(k + 1, len(results))
        return sorted(target.glob(f"*.{_first_format()}")), target
    if not path.is_file():
        raise FileNotFoundError(f"no such file or directory: {path}")
    target = Path(out) if out is not None else path.parent / "plots"
    batch_backend()
    fmt = sniff(path)
    if fmt == "json" and not is_calocoffea_output(path):
        _draw_results_file(path, _read_results(path), target, rebin, trust_pickle)
        if progress is not None:
            progress(1, 1)
    else:
        selected = select_datasets(load_output(path, trust_pickle=trust_pickle), datasets,
                                   where=str(path))
        for k, (name, output) in enumerate(selected.items()):
            if output.get("meta", {}).get("channel") not in CHANNELS:
                raise OutputFormatError(f"{path}: dataset {name!r} has channel "
                                        f"{output['meta'].get('channel')!r}, not one of "
                                        f"{list(CHANNELS)}")
            draw_sample(name, output, None, target, rebin=rebin)
            if progress is not None:
                progress(k + 1, len(selected))
    return sorted(target.glob(f"*.{_first_format()}")), target

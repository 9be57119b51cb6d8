"""From a processor output to the results dictionary of ``calocoffea fit`` (docs/fit_results.md).

Per channel:
- ``zee``: BW⊗CB per (|η|_i, |η|_j) category and inclusive, per calibration; η-shift α_i for
  bdt and cnn (eq. 9.8), mass histogram corrected and refitted; per-|η| resolution (eq. 5.14)
  from the corrected fits.
- ``zmumugamma``: BW⊗CB + wide Gaussian per photon |η| bin and inclusive; photon part of the
  width by subtracting the ``truth`` (true photon energy, muon-only) width (eq. 6.4).
- ``hgamgam``: double-sided Crystal Ball (``dscb``, default) or the thesis double Gaussian
  (eq. 4.8, ``model="double_gauss"``) per category and inclusive.
Every channel also gets σ_eff (half the smallest mass interval holding 68.3 % of the events)
with a bootstrap error per calibration, which needs no fit. Plus, when the ``response``
histogram has entries (MC), per calibration × particle (inclusive and per |η|, E_T, ⟨μ⟩ bin)
eIQR_75/95, σ_68, the median of E/E_true (linearity) and σ_rel = IQR/(2·median), and reIQR of
cnn vs bdt.

One :class:`~calocoffea.fitting.fitter.MassFitter` per model is built and reused for all
categories and calibrations. The category fits sum the ⟨μ⟩ axis including its flow bins
(events with ⟨μ⟩ outside the binning, or without ``Pileup_nTrueInt``, are still fitted);
only the per-⟨μ⟩ fits use the in-range ⟨μ⟩ bins. ``progress(done, total)`` (optional) is
called after every fit.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import hist
import numpy as np

from calocoffea import binning, metrics
from calocoffea.channels import CHANNELS, RESPONSE_CALIBRATIONS
from calocoffea.fitting import eta_resolution, eta_shift
from calocoffea.fitting.fitter import MassFitter
from calocoffea.fitting.result import AcceptanceCriteria, FitResult, json_safe

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: Poisson resamplings of the mass histogram for the σ_eff error, and their seed.
SIGMA_EFF_BOOTSTRAPS = 200
SIGMA_EFF_SEED = 0
#: Calibrations whose η-shift and per-|η| resolution are measured (every one but truth).
SHIFTED_CALIBRATIONS: tuple[str, ...] = RESPONSE_CALIBRATIONS
N_ETA = len(binning.ABS_ETA_EDGES) - 1


def hist_values(h: hist.Hist) -> np.ndarray:
    """In-range bin contents (sums of weights) for Weight or plain (Double/Int) storage."""
    view = h.view(flow=False)
    return np.asarray(view["value"] if view.dtype.names else view, dtype=float)


def _check_mass_hist(h: Any) -> hist.Hist:
    if not isinstance(h, hist.Hist):
        raise TypeError(f"'mass' must be a hist.Hist, got {type(h).__name__}")
    names = [ax.name for ax in h.axes]
    expected = ["calibration", "etacat", "mu", "mass"]
    if names != expected:
        raise ValueError(f"'mass' histogram axes {names} != {expected}")
    return h


def category_counts(h: hist.Hist, calibration: str, field: str = "value") -> np.ndarray:
    """Mass counts per category summed over ⟨μ⟩ (flow bins included), shape
    (n_categories, n_mass_bins): in-range mass bins and categories. ``field="variance"``
    gives the sums of squared weights instead (the counts for unweighted storage)."""
    ic = h.axes["calibration"].index(calibration)
    view = h.view(flow=True)
    values = np.asarray(view[field] if view.dtype.names else view, dtype=float)
    # flow slots per axis: calibration (StrCategory, flow=False) none; etacat, mu and mass
    # carry under- and overflow
    flows = [ax.traits.underflow for ax in h.axes]
    cal = ic + int(flows[0])
    cats = slice(int(flows[1]), int(flows[1]) + h.axes["etacat"].size)
    mass = slice(int(flows[3]), int(flows[3]) + h.axes["mass"].size)
    return values[cal, cats, :, mass].sum(axis=1)


def inclusive_counts_with_flow(h: hist.Hist, calibration: str,
                               field: str = "value") -> np.ndarray:
    """Mass counts of all in-range categories summed over ⟨μ⟩ (flow included), with the
    mass under- and overflow first and last: shape (n_mass_bins + 2,) (what σ_eff needs:
    events outside the mass window count in the total)."""
    ic = h.axes["calibration"].index(calibration)
    view = h.view(flow=True)
    values = np.asarray(view[field] if view.dtype.names else view, dtype=float)
    flows = [ax.traits.underflow for ax in h.axes]
    cats = slice(int(flows[1]), int(flows[1]) + h.axes["etacat"].size)
    counts = values[ic + int(flows[0]), cats].sum(axis=(0, 1))
    if not h.axes["mass"].traits.underflow:
        counts = np.r_[0.0, counts]
    if not h.axes["mass"].traits.overflow:
        counts = np.r_[counts, 0.0]
    return counts


def sigma_eff_entry(counts: np.ndarray, edges: np.ndarray,
                    variances: np.ndarray | None = None) -> dict[str, Any]:
    """σ_eff (GeV) of mass ``counts`` (with flow bins) and its bootstrap error
    (:data:`SIGMA_EFF_BOOTSTRAPS` seeded Poisson resamplings of the effective entries,
    ``variances`` the Σw² per bin); None where not measurable."""
    n = float(np.sum(counts))
    value = metrics.sigma_eff_from_hist(counts, edges) if n > 0 else float("nan")
    err = (metrics.sigma_eff_error_from_hist(counts, edges, n_boot=SIGMA_EFF_BOOTSTRAPS,
                                             seed=SIGMA_EFF_SEED, variances=variances)
           if np.isfinite(value) else float("nan"))
    return {"sigma_eff": value, "sigma_eff_err": err, "n": n,
            "n_outside": float(counts[0] + counts[-1])}


def _categories(channel: str, n_cat: int) -> list[tuple[int, int]] | list[int]:
    if channel == "zmumugamma":
        return list(range(n_cat))
    pairs = binning.eta_pair_categories()
    if n_cat != len(pairs):
        raise ValueError(
            f"{channel} mass histogram has {n_cat} eta categories, expected "
            f"{len(pairs)} (|eta| pairs of calocoffea.binning)"
        )
    return pairs


def _fit_all(fitter: MassFitter, counts: np.ndarray, calib: str,
             variances: np.ndarray | None = None) -> list[FitResult]:
    if variances is None:
        variances = [None] * len(counts)
    return [fitter.fit(c, label=f"{calib}/cat{k}", variances=v)
            for k, (c, v) in enumerate(zip(counts, variances, strict=True))]


class _Counting:
    """A fitter that reports every fit to ``progress(done, total)``."""

    def __init__(self, fitter: MassFitter, progress, total: int) -> None:
        self.fitter, self.progress, self.total, self.done = fitter, progress, total, 0
        self.model_name = fitter.model_name

    def fit(self, counts, label: str = "", **kwargs):
        result = self.fitter.fit(counts, label=label, **kwargs)
        self.done += 1
        self.progress(self.done, self.total)
        return result


def count_fits(h: hist.Hist, channel: str, do_eta_shift: bool = True, fit_mu: bool = True
               ) -> int:
    """Number of fits :func:`fit_output` makes for the ``mass`` histogram ``h``."""
    calibs = _present(h)
    n_cat = h.axes["etacat"].size
    n = len(calibs) * (n_cat + 1)
    if channel == "zee" and do_eta_shift:
        n += sum(c in calibs for c in SHIFTED_CALIBRATIONS) * (n_cat + 1)
    if fit_mu:
        n += len(calibs) * h.axes["mu"].size
    return n


def _present(h: hist.Hist) -> list[str]:
    cats = list(h.axes["calibration"])
    view = hist_values(h)
    return [c for k, c in enumerate(cats) if view[k].sum() > 0]


def fit_mass(
    h: hist.Hist,
    channel: str,
    *,
    criteria: AcceptanceCriteria | None = None,
    subdivisions: int = 4,
    do_eta_shift: bool = True,
    fitter: MassFitter | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """All mass fits of one channel's ``mass`` histogram and σ_eff per calibration;
    JSON-ready dict. ``model``: one of the channel's ``mass_models`` (default its
    ``mass_model``); a given ``fitter`` must use it."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; expected one of {list(CHANNELS)}")
    h = _check_mass_hist(h)
    t0 = time.perf_counter()
    model = CHANNELS[channel].pick_mass_model(model or (fitter.model_name if fitter else None))
    if fitter is not None and fitter.model_name != model:
        raise ValueError(f"fitter model {fitter.model_name!r} != requested model {model!r}")
    edges = h.axes["mass"].edges
    if fitter is None:
        fitter = MassFitter(edges, model=model, subdivisions=subdivisions, criteria=criteria)
    t_build = time.perf_counter() - t0
    cats = _categories(channel, h.axes["etacat"].size)
    calibs = _present(h)
    out: dict[str, Any] = {
        "model": model,
        "mass_edges": [float(edges[0]), float(edges[-1]), int(edges.size - 1)],
        "categories": [list(c) if isinstance(c, tuple) else [c] for c in cats],
        "calibrations": calibs,
        "fits": {},
        "inclusive": {},
        "sigma_eff": {},
    }
    fits: dict[str, list[FitResult]] = {}
    weighted = h.view(flow=False).dtype.names is not None
    for calib in calibs:
        out["sigma_eff"][calib] = sigma_eff_entry(
            inclusive_counts_with_flow(h, calib), edges,
            inclusive_counts_with_flow(h, calib, "variance") if weighted else None)
        counts = category_counts(h, calib)
        var = category_counts(h, calib, "variance")
        fits[calib] = _fit_all(fitter, counts, calib, var)
        out["fits"][calib] = [r.to_dict() for r in fits[calib]]
        out["inclusive"][calib] = fitter.fit(counts.sum(axis=0), label=f"{calib}/all",
                                             variances=var.sum(axis=0)).to_dict()
    if channel == "zee":
        _zee_extras(out, h, fitter, fits, cats, do_eta_shift=do_eta_shift)
    elif channel == "zmumugamma":
        _photon_part(out, fits)
    out["summary"] = _summary(out)
    out["timing"] = {
        "build_s": t_build,
        "total_s": time.perf_counter() - t0,
        "n_fits": _count_fits(out),
    }
    return out


def _zee_extras(out, h, fitter, fits, pairs, *, do_eta_shift) -> None:
    shifted_fits = fits
    if do_eta_shift:
        alphas, out["eta_shift"] = {}, {}
        for calib in SHIFTED_CALIBRATIONS:
            if calib not in fits:
                continue
            shift = eta_shift.solve_alpha(pairs, fits[calib], N_ETA)
            alphas[calib] = shift.alpha
            out["eta_shift"][calib] = shift.to_dict()
        corrected = eta_shift.apply_to_mass_hist(h, alphas, pairs)
        shifted_fits = dict(fits)
        out["fits_eta_shifted"], out["inclusive_eta_shifted"] = {}, {}
        for calib in alphas:
            counts = category_counts(corrected, calib)
            var = category_counts(corrected, calib, "variance")
            shifted_fits[calib] = _fit_all(fitter, counts, calib + "+etashift", var)
            out["fits_eta_shifted"][calib] = [r.to_dict() for r in shifted_fits[calib]]
            out["inclusive_eta_shifted"][calib] = fitter.fit(
                counts.sum(axis=0), label=f"{calib}+etashift/all", variances=var.sum(axis=0)
            ).to_dict()
    out["resolution_source"] = "fits_eta_shifted" if do_eta_shift else "fits"
    out["resolution"] = {
        calib: eta_resolution.solve_resolution(pairs, res, N_ETA).to_dict()
        for calib, res in shifted_fits.items()
        if calib != "truth"
    }


def _photon_part(out, fits) -> None:
    if "truth" not in fits:
        return
    out["photon_width"] = {}
    for calib, results in fits.items():
        if calib == "truth":
            continue
        rows = []
        for res, ref in zip(results, fits["truth"], strict=True):
            ok = res.accepted and ref.accepted
            w, e = eta_resolution.photon_width(
                res.value("sigma"), res.error("sigma"), ref.value("sigma"), ref.error("sigma")
            )
            rows.append({"width": w if ok else None, "error": e if ok else None, "valid": ok})
        out["photon_width"][calib] = rows


def _summary(out) -> dict[str, Any]:
    """Inclusive σ (GeV) per calibration and the CNN-vs-BDT relative improvement."""
    summary: dict[str, Any] = {}
    for key in ("inclusive", "inclusive_eta_shifted"):
        if key not in out:
            continue
        sig = {
            c: (r["values"].get("sigma"), r["errors"].get("sigma"), r["accepted"])
            for c, r in out[key].items()
        }
        entry: dict[str, Any] = {
            c: {"sigma": s, "error": e, "accepted": a} for c, (s, e, a) in sig.items()
        }
        if all(c in sig and sig[c][2] for c in ("cnn", "bdt")):
            imp, err = eta_resolution.relative_improvement(
                sig["cnn"][0], sig["cnn"][1], sig["bdt"][0], sig["bdt"][1]
            )
            entry["cnn_vs_bdt"] = {"improvement": imp, "error": err}
        summary[key] = entry
    for key in ("fits", "fits_eta_shifted"):
        if key not in out:
            continue
        means = {c: weighted_mean(res) for c, res in out[key].items()}
        entry = {"weighted_mean_sigma": means}
        a, b = means.get("cnn"), means.get("bdt")
        if a and b and a["n"] and b["n"]:
            imp, err = eta_resolution.relative_improvement(
                a["value"], a["error"], b["value"], b["error"]
            )
            entry["cnn_vs_bdt"] = {"improvement": imp, "error": err}
        summary["categories_" + key] = entry
    return summary


def weighted_mean(results: list[dict[str, Any]], param: str = "sigma") -> dict[str, Any]:
    """Inverse-variance weighted mean of ``param`` over the accepted fit dicts.

    (Thesis eq. 9.2 weights by 1/δx; the 1/δx² weights used here are the minimum-variance
    choice for independent measurements.) Returns value, error and the number used.
    """
    vals = [
        (r["values"][param], r["errors"][param])
        for r in results
        if r["accepted"]
        and r["values"].get(param) is not None
        and r["errors"].get(param) is not None
        and r["errors"][param] > 0
    ]
    if not vals:
        return {"value": None, "error": None, "n": 0}
    x, e = np.array(vals).T
    w = 1.0 / e**2
    return {
        "value": float(np.sum(w * x) / np.sum(w)),
        "error": float(np.sqrt(1.0 / np.sum(w))),
        "n": len(vals),
    }


def _count_fits(out) -> int:
    n = sum(len(v) for v in out["fits"].values()) + len(out["inclusive"])
    n += sum(len(v) for v in out.get("fits_eta_shifted", {}).values())
    return n + len(out.get("inclusive_eta_shifted", {}))


def fit_mu_bins(
    h: hist.Hist,
    channel: str,
    *,
    criteria: AcceptanceCriteria | None = None,
    subdivisions: int = 4,
    fitter: MassFitter | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """Inclusive (all categories) fit per ⟨μ⟩ bin and calibration (pile-up dependence);
    ``model`` as in :func:`fit_mass`.

    Returns {"mu_edges": [...], calibration: [FitResult dict per ⟨μ⟩ bin]}.
    """
    h = _check_mass_hist(h)
    if fitter is None:
        fitter = MassFitter(
            h.axes["mass"].edges,
            model=CHANNELS[channel].pick_mass_model(model),
            subdivisions=subdivisions,
            criteria=criteria,
        )
    out: dict[str, Any] = {"mu_edges": h.axes["mu"].edges.tolist()}
    view = hist_values(h)
    raw = h.view(flow=False)
    var_view = np.asarray(raw["variance"], dtype=float) if raw.dtype.names else view
    for calib in _present(h):
        ic = h.axes["calibration"].index(calib)
        per_mu = view[ic].sum(axis=0)  # (n_mu, n_mass)
        per_mu_var = var_view[ic].sum(axis=0)
        out[calib] = [fitter.fit(c, label=f"{calib}/mu{k}", variances=v).to_dict()
                      for k, (c, v) in enumerate(zip(per_mu, per_mu_var, strict=True))]
    return out


def response_metrics(h: hist.Hist) -> dict[str, Any]:
    """eIQR_75/95, σ_68, median and σ_rel = IQR/(2·median) of E_calib/E_true per calibration
    × particle (inclusive, per |η|, per E_T, per ⟨μ⟩) and reIQR of cnn vs bdt. Empty dict
    when the histogram has no entries."""
    names = [ax.name for ax in h.axes]
    expected = ["calibration", "particle", "abseta", "et", "mu", "response"]
    if names != expected:
        raise ValueError(f"'response' histogram axes {names} != {expected}")
    # every entry counts: the flow bins of |eta|, E_T, <mu> and the response itself are kept
    # (objects outside the axes are part of the inclusive figures; per-bin lists are the
    # in-range bins)
    view = h.view(flow=True)
    values = np.asarray(view["value"] if view.dtype.names else view, dtype=float)
    # the errors count effective entries (Σw)²/Σw² (pile-up weights, xsec × lumi scaling)
    variances = np.asarray(view["variance"], dtype=float) if view.dtype.names else values
    if values.sum() <= 0:
        return {}
    edges = h.axes["response"].edges
    out: dict[str, Any] = {}
    axes = {"abseta": 2, "et": 3, "mu": 4}
    for ic, calib in enumerate(h.axes["calibration"]):
        for ip, particle in enumerate(h.axes["particle"]):
            block, var = values[ic, ip], variances[ic, ip]
            if block.sum() <= 0:
                continue
            entry: dict[str, Any] = {"inclusive": _eiqr_entry(block.sum(axis=(0, 1, 2)), edges,
                                                              var.sum(axis=(0, 1, 2)))}
            for name, ax in axes.items():
                keep = tuple(a for a in (0, 1, 2) if a != ax - 2)
                per_bin = block.sum(axis=keep)[1:-1]  # in-range bins of this axis
                per_var = var.sum(axis=keep)[1:-1]
                entry[name] = [_eiqr_entry(c, edges, v)
                               for c, v in zip(per_bin, per_var, strict=True)]
            out.setdefault(calib, {})[particle] = entry
    for baseline, key in (("bdt", "reiqr_cnn_vs_bdt"), ("bdt_shapes", "reiqr_cnn_vs_bdt_shapes")):
        if "cnn" not in out or baseline not in out:
            continue
        out[key] = {}
        for particle in out["cnn"]:
            if particle not in out[baseline]:
                continue
            a, b = out["cnn"][particle]["inclusive"], out[baseline][particle]["inclusive"]
            if a["eiqr75"] is not None and b["eiqr75"] is not None:
                out[key][particle] = {
                    "reiqr75": metrics.reiqr(a["eiqr75"], b["eiqr75"]),
                    "reiqr75_error": None if None in (a["eiqr75_error"], b["eiqr75_error"])
                    else metrics.reiqr_error(
                        a["eiqr75"], a["eiqr75_error"], b["eiqr75"], b["eiqr75_error"]
                    ),
                    "reiqr95": metrics.reiqr(a["eiqr95"], b["eiqr95"]),
                }
    return out


def _eiqr_entry(counts: np.ndarray, edges: np.ndarray,
                variances: np.ndarray | None = None) -> dict[str, Any]:
    """eIQR, σ_68, median (linearity) and σ_rel = IQR/(2·median) (relative resolution, the
    topo-cluster calibration convention) of a response histogram with its flow bins
    ((n + 2,)), with asymptotic errors on the effective entries (``variances``: Σw² per bin;
    None below :data:`calocoffea.metrics.MIN_ASYMPTOTIC_ENTRIES` of them): ``n`` is the sum
    of weights of every entry, ``n_effective`` (Σw)²/Σw², ``n_outside`` the weight outside
    the response axis; a quantile outside the axis gives None (not measured), never a value
    computed from the in-range entries only."""
    n = float(counts.sum())
    if n <= 0:
        return {"n": 0.0, "n_effective": 0.0, "n_outside": 0.0, "eiqr75": None,
                "eiqr75_error": None,
                "eiqr95": None, "eiqr95_error": None, "median": None, "median_error": None,
                "sigma68": None, "sigma68_error": None, "sigma_rel": None,
                "sigma_rel_error": None}

    def clean(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    q25, median, q75 = metrics.hist_quantiles(counts, edges, [0.25, 0.5, 0.75])
    median_err = metrics.quantile_error_from_hist(counts, edges, 0.5, variances)
    iqr_err = metrics.iqr_error_from_hist(counts, edges, variances)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma_rel = (q75 - q25) / (2.0 * median)
        sigma_rel_err = abs(sigma_rel) * np.hypot(iqr_err / (q75 - q25), median_err / median)
    return {
        "median_error": clean(median_err),
        "sigma68": clean(metrics.sigma68_from_hist(counts, edges)),
        "sigma68_error": clean(metrics.sigma68_error_from_hist(counts, edges, variances)),
        "sigma_rel": clean(float(sigma_rel)),
        "sigma_rel_error": clean(float(sigma_rel_err)),

        "n": n,
        "n_effective": clean(metrics.effective_entries(counts, variances)),
        "n_outside": float(counts[0] + counts[-1]),
        "eiqr75": clean(metrics.eiqr_from_hist(counts, edges, 75.0)),
        "eiqr75_error": clean(metrics.eiqr_error_from_hist(counts, edges, 75.0, variances)),
        "eiqr95": clean(metrics.eiqr_from_hist(counts, edges, 95.0)),
        "eiqr95_error": clean(metrics.eiqr_error_from_hist(counts, edges, 95.0, variances)),
        "median": clean(median),
    }


class MixedKindsError(ValueError):
    """A fit would mix MC and data (one dataset with both kinds of files)."""


def fit_datasets(output: dict[str, Any], datasets: list[str] | None = None,
                 **kwargs: Any) -> dict[str, dict[str, Any]]:
    """:func:`fit_output` of each dataset of a processor output keyed by dataset (or of the
    ``datasets`` named): ``{dataset: results}``. Every dataset is checked (kind ``mc`` or
    ``data``, :class:`MixedKindsError` otherwise) before the first fit."""
    from calocoffea.execution.outputs import select_datasets

    selected = select_datasets(output, datasets)
    for name, ds in selected.items():
        kind = ds["meta"].get("kind")
        if isinstance(kind, list):
            raise MixedKindsError(
                f"dataset {name!r} has kind {kind!r}: a fit of MC and data together is "
                "refused; put MC and data files in separate datasets of the fileset (allowed "
                "kinds: 'mc', 'data')")
    results = {}
    for name, ds in selected.items():
        results[name] = fit_output(ds, **kwargs)
        results[name]["dataset"] = name
    return results


def fit_output(
    output: dict[str, Any],
    criteria: AcceptanceCriteria | None = None,
    subdivisions: int = 4,
    do_eta_shift: bool = True,
    fit_mu: bool = True,
    *,
    progress=None,
    model: str | None = None,
) -> dict[str, Any]:
    """Full results dict for one dataset's processor output ``{"response", "mass",
    "cutflow", "meta"}`` (:func:`fit_datasets` for an output keyed by dataset); a dataset
    mixing MC and data (``meta["kind"]`` a list) raises :class:`MixedKindsError`.
    ``progress(done, total)`` is called after each fit when given; ``model`` picks one of
    the channel's mass models (default: its ``mass_model``; ValueError for another)."""
    if not isinstance(output, dict):
        raise TypeError(f"processor output must be a dict, got {type(output).__name__}")
    missing = [k for k in ("mass", "meta") if k not in output]
    if missing:
        raise KeyError(f"processor output lacks {missing}; keys are {sorted(output)}")
    meta = dict(output["meta"])
    channel = meta.get("channel")
    if channel not in CHANNELS:
        raise ValueError(f"meta['channel'] = {channel!r}; expected one of {list(CHANNELS)}")
    kind = meta.get("kind")
    if kind not in ("mc", "data"):
        name = meta.get("dataset") or meta.get("datasets")
        raise MixedKindsError(
            f"dataset {name!r} has kind {kind!r}: a fit of MC and data together is refused; "
            "put MC and data files in separate datasets of the fileset (allowed kinds: "
            "'mc', 'data')")
    criteria = criteria or AcceptanceCriteria()
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "channel": channel,
        "kind": kind,
        "dataset": meta.get("dataset"),
        "meta": meta,
        "criteria": dataclasses.asdict(criteria),
        "cutflow": dict(output.get("cutflow", {})),
    }
    mass = _check_mass_hist(output["mass"])
    fitter = MassFitter(
        mass.axes["mass"].edges,
        model=CHANNELS[channel].pick_mass_model(model),
        subdivisions=subdivisions,
        criteria=criteria,
    )
    if progress is not None:
        fitter = _Counting(fitter, progress, count_fits(mass, channel, do_eta_shift, fit_mu))
    results["mass"] = fit_mass(mass, channel, do_eta_shift=do_eta_shift, fitter=fitter)
    if fit_mu:
        results["mass"]["inclusive_by_mu"] = fit_mu_bins(mass, channel, fitter=fitter)
    if "response" in output and isinstance(output["response"], hist.Hist):
        results["response"] = response_metrics(output["response"])
    return json_safe(results)

"""Stitching p_T-sliced MC samples to the inclusive sample of the same process.

A sample generated with ``calocoffea generate --boson-pt-min q`` holds only events whose
generator boson has p_T ≥ q and records q in every event (``Generator_bosonPtMin``,
:data:`calocoffea.sim.processes.BOSON_PT_MIN_BRANCH`). Stitched to the inclusive sample it
fills the high-E_T tail with the sliced sample's statistics while every bin keeps the
physical mixture:

- the inclusive dataset carries ``boson_pt_max: q`` (GeV) in its fileset metadata
  (:data:`STITCH_KEY`): the processors veto its events with generator boson p_T ≥ q and count
  them in the cutflow (:func:`veto_key`); the normalisation still divides by Σ genWeight of
  every processed event, so the remaining events keep their weight xsec × lumi / N;
- the sliced dataset carries ``xsec`` = xsec_inclusive × F(q), F the fraction of inclusive
  events above q (:func:`sliced_xsec`; analytic for Z→ee and H→γγ, where the generator has no
  cut that depends on the boson p_T);
- both are normalised (``calocoffea run --lumi``) and :func:`stitch` sums their histograms
  after checking that their boson-p_T ranges tile [0, ∞) exactly once, so no event is
  counted twice or missing.

Why an exclusive veto rather than the overlap combination (weights N_i F / (N_i F + N_s)
for both samples above q): it needs no event counts at processing time, keeps every
dataset's normalisation the standard xsec × lumi / Σ genWeight, and loses only the
fraction F of the inclusive events (0.44 % for Z→ee at 90 GeV). The statistical power of a
stitched bin is its effective entries (Σw)²/Σw², which the metrics and pull checks use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from calocoffea.histograms import HISTOGRAM_KEYS
from calocoffea.validation import InputDataError, chunk_origin

#: Fileset metadata key (GeV) of a dataset whose events with generator boson p_T ≥ it are
#: vetoed (the inclusive sample of a stitched set).
STITCH_KEY = "boson_pt_max"
#: PDG ids of the bosons whose p_T slices the samples (Z, H).
BOSON_PDG_IDS = (23, 25)
#: NanoAOD GenPart statusFlags bit isLastCopy.
_LAST_COPY_BIT = 13


def sample_boson_pt_min(events: Any, path: Path | str) -> float:
    """The boson p_T minimum (GeV) of a p_T-sliced sample (its ``Generator_bosonPtMin``;
    0 without it). ValueError naming the file if it is not one positive value."""
    if "Generator" not in events.fields or "bosonPtMin" not in events.Generator.fields:
        return 0.0
    values = np.unique(np.asarray(events.Generator.bosonPtMin, np.float64))
    if len(values) != 1 or not values[0] > 0:
        raise ValueError(f"{path}: Generator_bosonPtMin must be one positive value, got "
                         f"{values[:5].tolist()}")
    return float(values[0])


def generator_boson_pt(events: Any) -> np.ndarray:
    """Generator p_T (GeV, float64, (n_events,)) of each event's Z or H boson: the last copy
    of a GenPart with |pdgId| in :data:`BOSON_PDG_IDS`. InputDataError naming the file and
    entry when an event has none or several."""
    gen = events.GenPart
    pdg = abs(gen.pdgId)
    is_boson = pdg == BOSON_PDG_IDS[0]
    for other in BOSON_PDG_IDS[1:]:
        is_boson = is_boson | (pdg == other)
    if "statusFlags" in gen.fields:
        is_boson = is_boson & ((gen.statusFlags >> _LAST_COPY_BIT) & 1 == 1)
    n = ak.to_numpy(ak.sum(is_boson, axis=1))
    bad = np.flatnonzero(n != 1)
    if bad.size:
        filename, start = chunk_origin(events)
        raise InputDataError(
            f"{filename}: GenPart has {int(n[bad[0]])} last-copy Z/H bosons at entry "
            f"{start + int(bad[0])} (needs exactly one to apply {STITCH_KEY})")
    return np.asarray(ak.to_numpy(ak.flatten(gen.pt[is_boson])), np.float64)


def check_pt_max(value: Any, dataset: str) -> float:
    """The :data:`STITCH_KEY` metadata ``value`` as a positive finite float; ValueError
    naming ``dataset`` otherwise."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    if not (math.isfinite(out) and out > 0):
        raise ValueError(f"dataset {dataset!r}: fileset metadata {STITCH_KEY}={value!r} must "
                         "be a positive number (GeV)")
    return out


def veto_key(pt_max: float) -> str:
    """Cutflow entry of the selected events a stitching veto removes."""
    return f"vetoed: boson p_T >= {pt_max:g} GeV ({STITCH_KEY}, stitching)"


def stitching_veto(events: Any, metadata: Mapping[str, Any], is_mc: bool
                   ) -> tuple[np.ndarray | None, float | None]:
    """(veto (bool, (n_events,)), its p_T bound in GeV) of a chunk whose dataset metadata
    has :data:`STITCH_KEY`, or (None, None). Errors name the file: the key on data, or on a
    p_T-sliced file whose minimum is not below the bound (every event would be vetoed)."""
    if STITCH_KEY not in metadata:
        return None, None
    dataset = str(metadata.get("dataset"))
    pt_max = check_pt_max(metadata[STITCH_KEY], dataset)
    filename, _ = chunk_origin(events)
    if not is_mc:
        raise InputDataError(f"{filename}: dataset {dataset!r} has {STITCH_KEY} but the file "
                             "is data (no GenPart): stitching is for MC")
    pt_min = sample_boson_pt_min(events, filename)
    if pt_min >= pt_max:
        raise InputDataError(f"{filename}: p_T-sliced file (boson p_T >= {pt_min:g} GeV) in "
                             f"dataset {dataset!r} with {STITCH_KEY}={pt_max:g}: every event "
                             "would be vetoed")
    return generator_boson_pt(events) >= pt_max, pt_max


def sliced_xsec(process: str, xsec_inclusive_pb: float, pt_min: float) -> float:
    """Cross-section (pb) of the sample of ``process`` with boson p_T ≥ ``pt_min`` GeV:
    xsec_inclusive × :func:`calocoffea.sim.processes.boson_pt_fraction`. ValueError for
    Z→μμγ, whose generator photon cut makes the fraction of its accepted events differ from
    the boson-p_T fraction (measure F on the inclusive sample instead)."""
    from calocoffea.sim.processes import boson_pt_fraction

    if process == "zmumugamma":
        raise ValueError("zmumugamma: the boson p_T fraction is not its sliced sample's "
                         "cross-section factor (the generator's photon cut depends on p_T)")
    return float(xsec_inclusive_pb) * boson_pt_fraction(process, pt_min)


def _pt_range(name: str, output: Mapping[str, Any]) -> tuple[float, float]:
    meta = output.get("meta", {})
    lo, hi = meta.get("boson_pt_min", 0.0), meta.get(STITCH_KEY, math.inf)
    if isinstance(lo, list) or isinstance(hi, list):
        raise ValueError(f"dataset {name!r} mixes boson p_T ranges (boson_pt_min {lo}, "
                         f"{STITCH_KEY} {hi}): one slice per dataset")
    return float(lo), float(hi)


def stitch(datasets: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One output from the normalised outputs of the p_T slices of one process: histograms
    (:data:`calocoffea.histograms.HISTOGRAM_KEYS` present in every dataset) and cutflows
    summed, ``meta`` with ``datasets`` and their ``slices`` [[min, max or None] GeV].
    ValueError when a dataset is data or not normalised (no ``xsec``/``lumi``), the lumis
    differ, or the boson-p_T ranges do not tile [0, ∞) exactly once (overlap: events
    counted twice; gap: events missing)."""
    if len(datasets) < 2:
        raise ValueError(f"stitching needs at least two datasets, got {sorted(datasets)}")
    ranges, lumis = {}, set()
    for name, out in datasets.items():
        meta = out.get("meta", {})
        if meta.get("kind") != "mc" or meta.get("xsec") is None or meta.get("lumi") is None:
            raise ValueError(f"dataset {name!r}: only MC datasets normalised with an xsec "
                             "and a lumi (calocoffea run --lumi) can be stitched")
        lumis.add(float(meta["lumi"]))
        ranges[name] = _pt_range(name, out)
    if len(lumis) != 1:
        raise ValueError(f"datasets normalised to different lumis {sorted(lumis)} pb^-1")
    order = sorted(ranges, key=lambda n: ranges[n])
    edge = 0.0
    for name in order:
        lo, hi = ranges[name]
        if lo != edge:
            what = "overlaps the slice below" if lo < edge else "leaves a gap below"
            raise ValueError(f"dataset {name!r} (boson p_T {lo:g}-{hi:g} GeV) {what} "
                             f"(next slice must start at {edge:g} GeV); slices "
                             f"{ {n: ranges[n] for n in order} }")
        edge = hi
    if edge != math.inf:
        raise ValueError(f"slices end at {edge:g} GeV: the events above are missing")
    keys = [k for k in HISTOGRAM_KEYS if all(k in d for d in datasets.values())]
    out: dict[str, Any] = {}
    for key in keys:
        hists = [datasets[n][key] for n in order]
        total = hists[0].copy()
        for h in hists[1:]:
            total += h
        out[key] = total
    cutflow: dict[str, int] = {}
    for name in order:
        for step, n in datasets[name].get("cutflow", {}).items():
            cutflow[step] = cutflow.get(step, 0) + int(n)
    out["cutflow"] = cutflow
    first = datasets[order[0]]["meta"]
    out["meta"] = {k: v for k, v in first.items()
                   if all(datasets[n]["meta"].get(k) == v for n in order)}
    # the open upper end as None (JSON has no infinity)
    out["meta"].update(datasets=order, stitched=True,
                       slices=[[lo, hi if math.isfinite(hi) else None]
                               for lo, hi in (ranges[n] for n in order)])
    out["meta"].pop("xsec", None)
    return out

"""Markdown tables of the energy response per |η|, E_T and ⟨μ⟩ bin for every calibration.

``calocoffea validate response-tables RESULT.json ...`` turns the ``response`` part of
`calocoffea fit` results (:func:`calocoffea.fitting.pipeline.response_metrics`: eIQR75 of
E_calib/E_true of every object with a truth match, flow bins included in the inclusive row)
into the tables of docs/model.md, so that those tables come from one processor run and have the
definition and selection of ``summary.json``. reIQR75 = 1 − eIQR75(cnn)/eIQR75(baseline); its
error propagates the two eIQR errors as if independent (same objects: an overestimate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from calocoffea import binning
from calocoffea.channels import CHANNELS, RESPONSE_CALIBRATIONS

#: Axis of the response histogram → (column title, bin edges).
AXES: dict[str, tuple[str, Sequence[float]]] = {
    "abseta": ("|η|", binning.ABS_ETA_EDGES),
    "et": ("E_T [GeV]", binning.ET_EDGES),
    "mu": ("⟨μ⟩", binning.MU_EDGES),
}
BASELINES: tuple[str, ...] = ("bdt", "bdt_shapes")


def _fmt(x: float | None, e: float | None = None, digits: int = 4) -> str:
    if x is None:
        return "—"
    return f"{x:.{digits}f}" + (f" ± {e:.{digits}f}" if e is not None else "")


def _re(cnn: Mapping[str, Any], base: Mapping[str, Any]) -> tuple[float | None, float | None]:
    a, b = cnn.get("eiqr75"), base.get("eiqr75")
    if a is None or b is None or b <= 0:
        return None, None
    ea, eb = cnn.get("eiqr75_error"), base.get("eiqr75_error")
    r = a / b
    if ea is None or eb is None or not a:  # too few objects for an asymptotic error
        return 1.0 - r, None
    return 1.0 - r, r * math.hypot(ea / a, eb / b)


def _row(label: str, entries: Mapping[str, Mapping[str, Any]], cals: Sequence[str]) -> str:
    n = next(iter(entries.values())).get("n", 0)
    cells = [label, f"{n:.0f}"]
    cells += [_fmt(entries[c].get("eiqr75"), entries[c].get("eiqr75_error")) for c in cals]
    if "cnn" in entries:
        for b in BASELINES:
            if b in entries:
                cells.append(_fmt(*_re(entries["cnn"], entries[b]), digits=3))
    return "| " + " | ".join(cells) + " |"


def _edges_label(edges: Sequence[float], k: int) -> str:
    return f"{edges[k]:g}–{edges[k + 1]:g}"


def response_tables(result: Mapping[str, Any], particle: str | None = None) -> str:
    """Markdown of one results dict: an inclusive table and one table per axis of
    :data:`AXES`, columns eIQR75 of every calibration present and reIQR75 of the CNN against
    each baseline present. ``particle`` defaults to the channel's calibrated particle."""
    response = result.get("response") or {}
    channel = result.get("channel")
    if particle is None:
        if channel not in CHANNELS:
            raise ValueError(f"results have no known channel ({channel!r}); pass particle")
        particle = CHANNELS[channel].particle
    cals = [c for c in RESPONSE_CALIBRATIONS if c != "truth"
            and particle in response.get(c, {})]
    if not cals:
        raise ValueError(f"results hold no response of {particle!r} (MC output needed)")
    head = ["bin", "objects"] + [f"eIQR75 {c}" for c in cals]
    if "cnn" in cals:
        head += [f"reIQR75 vs {b}" for b in BASELINES if b in cals]
    sep = "|" + "---|" * len(head)
    lines = [f"#### {channel or ''} {particle}s: inclusive (every object, flow bins included)",
             "", "| " + " | ".join(head) + " |", sep,
             _row("all", {c: response[c][particle]["inclusive"] for c in cals}, cals), ""]
    for axis, (title, edges) in AXES.items():
        lines += [f"#### per {title} bin", "", "| " + " | ".join(head) + " |", sep]
        for k in range(len(edges) - 1):
            entries = {c: response[c][particle][axis][k] for c in cals}
            if not next(iter(entries.values())).get("n"):
                continue
            lines.append(_row(_edges_label(edges, k), entries, cals))
        lines.append("")
    return "\n".join(lines)

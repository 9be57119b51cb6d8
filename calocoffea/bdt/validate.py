"""Evaluate the shipped standard calibration on any MC file (gun, Z→ee, H→γγ, ...).

For every truth-matched electron or photon: eIQR75/eIQR95 of E/E_true for the BDT, for the
per-(|η|, E_T^acc) median-response reference stored in the model cards (photons routed by
convType like the BDT) and for raw E_acc; overall and per |η| region.

    calocoffea validate bdt --electron data/zee_mc.root \
        --photon data/hgamgam_mc.root [--models models/] [--out result.json]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from calocoffea.bdt.evaluation import MedianResponseCorrection, compare, margin
from calocoffea.bdt.inputs import photon_is_converted
from calocoffea.bdt.samples import ObjectTable, read_objects
from calocoffea.bdt.standard import StandardCalibration


def reference_from_card(card: dict) -> MedianResponseCorrection:
    """The median-response reference stored in a model card."""
    ref = card["reference_median_response"]
    return MedianResponseCorrection(
        np.asarray(ref["abs_eta_edges"]), np.asarray(ref["et_edges"]), np.asarray(ref["median"])
    )


def reference_energy(calib: StandardCalibration, columns: dict, particle: str) -> np.ndarray:
    """Median-response reference energy (GeV), photons routed by convType."""
    e_acc = np.asarray(columns["eAcc"], dtype=np.float64)
    eta = np.asarray(columns["eta"], dtype=np.float64)
    if particle == "electron":
        return reference_from_card(calib.cards["electron"]).energy(e_acc, eta)
    conv = photon_is_converted(columns["convType"])
    out = np.empty(len(e_acc))
    for model, mask in (("photon_unconverted", ~conv), ("photon_converted", conv)):
        out[mask] = reference_from_card(calib.cards[model]).energy(e_acc[mask], eta[mask])
    return out


def evaluate_table(calib: StandardCalibration, table: ObjectTable) -> dict:
    """BDT vs median-response reference vs E_acc on one table of truth-matched objects."""
    if table.e_true is None:
        raise ValueError(f"{table.source}: evaluation needs truth (GenPart) information")
    cols = table.columns
    result = compare(table.e_true, cols["eta"], {
        "bdt": calib.energy(cols, table.particle),
        "median_response": reference_energy(calib, cols, table.particle),
        "e_acc": np.asarray(cols["eAcc"], dtype=np.float64),
    })
    return {
        "file": table.source,
        "particle": table.particle,
        "n_unmatched_dropped": table.n_unmatched,
        "reIQR75_bdt_vs_median_response": margin(
            result["bdt"]["all"]["eIQR75"], result["median_response"]["all"]["eIQR75"]
        ),
        **result,
    }


def evaluate_file(path: Path, particle: str, calib: StandardCalibration) -> dict:
    """:func:`evaluate_table` on the ``particle`` objects of ``path``."""
    return evaluate_table(calib, read_objects(path, particle, truth=True))


def format_result(res: dict) -> str:
    """Markdown table of one evaluation."""
    lines = [
        f"{res['file']} ({res['particle']}s, n = {res['bdt']['all']['n']}): "
        f"reIQR75 BDT vs median response = {res['reIQR75_bdt_vs_median_response']:+.1%}",
        "",
        "| |η| region | n | E_acc eIQR75 | median-response eIQR75 | BDT eIQR75 | BDT eIQR95 |",
        "|---|---|---|---|---|---|",
    ]
    rows = [("all", res["bdt"]["all"], res["median_response"]["all"], res["e_acc"]["all"])]
    rows += [
        (f"{b['abs_eta'][0]}–{b['abs_eta'][1]}", b, m, a)
        for b, m, a in zip(res["bdt"]["regions"], res["median_response"]["regions"],
                           res["e_acc"]["regions"], strict=True)
    ]
    for name, b, m, a in rows:
        lines.append(f"| {name} | {b['n']} | {a['eIQR75']:.4f} | {m['eIQR75']:.4f} | "
                     f"{b['eIQR75']:.4f} | {b['eIQR95']:.4f} |")
    return "\n".join(lines)

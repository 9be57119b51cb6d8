"""Evaluate the shipped standard calibration on any MC file (gun, Z→ee, H→γγ, ...).

For every truth-matched electron or photon: eIQR75/eIQR95 of E/E_true for the BDT, for the
per-(|η|, E_T^acc) median-response reference stored in the model cards (photons routed by
convType like the BDT) and for raw E_acc; overall and per |η| region; for photons also per
conversion class (unconverted, converted, single- and double-track), since ATLAS finds
converted photons worse measured than unconverted ones.

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
    energies = {
        "bdt": calib.energy(cols, table.particle),
        "median_response": reference_energy(calib, cols, table.particle),
        "e_acc": np.asarray(cols["eAcc"], dtype=np.float64),
    }
    result = compare(table.e_true, cols["eta"], energies)
    out = {
        "file": table.source,
        "particle": table.particle,
        "n_unmatched_dropped": table.n_unmatched,
        "reIQR75_bdt_vs_median_response": margin(
            result["bdt"]["all"]["eIQR75"], result["median_response"]["all"]["eIQR75"]
        ),
        **result,
    }
    if table.particle == "photon":
        out["conversion"] = conversion_breakdown(table.e_true, cols, energies)
    return out


#: Conversion classes of :func:`conversion_breakdown`: the convType values each holds.
CONVERSION_CLASSES: dict[str, tuple[int, ...]] = {
    "unconverted": (0,), "converted": (1, 2), "single_track": (1,), "double_track": (2,),
}


def conversion_breakdown(e_true: np.ndarray, cols: dict, energies: dict) -> dict:
    """:func:`compare` per conversion class: {class: {calibration: {"all", "regions"}}}."""
    conv_type = np.asarray(cols["convType"])
    photon_is_converted(conv_type)  # refuses values other than 0, 1, 2
    out = {}
    for name, values in CONVERSION_CLASSES.items():
        sel = np.isin(conv_type, values)
        out[name] = compare(np.asarray(e_true)[sel], np.asarray(cols["eta"])[sel],
                            {cal: np.asarray(e)[sel] for cal, e in energies.items()})
    return out


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
    if "conversion" in res:
        regions = res["bdt"]["regions"]
        lines += ["", "BDT eIQR75 per conversion class (n in brackets):", "",
                  "| class | all | " + " | ".join(
                      f"{r['abs_eta'][0]}–{r['abs_eta'][1]}" for r in regions) + " |",
                  "|---|---|" + "---|" * len(regions)]
        for name, by_cal in res["conversion"].items():
            b = by_cal["bdt"]
            cells = [f"{b['all']['eIQR75']:.4f} ± {b['all']['eIQR75_error']:.4f} "
                     f"({b['all']['n']})"]
            cells += [f"{r['eIQR75']:.4f} ({r['n']})" for r in b["regions"]]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

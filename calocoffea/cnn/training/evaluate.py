"""Resolution metrics of thesis §4.2.2: eIQR of E_calib/E_true and reIQR = 1 − eIQR_CNN/eIQR_BDT,
overall, per |η| bin and per ⟨μ⟩ quintile."""

from __future__ import annotations

import numpy as np

from calocoffea import metrics
from calocoffea.binning import ABS_ETA_EDGES, CRACK_BIN


def eiqr(ratio: np.ndarray, upper: float = 75.0) -> float:
    """:func:`calocoffea.metrics.eiqr` of the finite entries; NaN with fewer than 4.

    upper = 75 gives thesis eq. 4.6 ((P75 − P25)/1.349); 95 gives eIQR95.
    """
    r = np.asarray(ratio, np.float64)
    r = r[np.isfinite(r)]
    if len(r) < 4:
        return float("nan")
    return metrics.eiqr(r, q=upper)


def _row(cnn: np.ndarray, bdt: np.ndarray) -> dict:
    e_c, e_b = eiqr(cnn), eiqr(bdt)
    return {
        "n": len(cnn),
        "eiqr75_cnn": e_c,
        "eiqr75_bdt": e_b,
        "reiqr75": 1.0 - e_c / e_b if e_b > 0 else float("nan"),
        "reiqr95": 1.0 - eiqr(cnn, 95.0) / eiqr(bdt, 95.0) if len(cnn) >= 4 else float("nan"),
        "median_cnn": float(np.median(cnn)) if len(cnn) else float("nan"),
        "median_bdt": float(np.median(bdt)) if len(bdt) else float("nan"),
    }


def resolution_table(e_cnn: np.ndarray, e_bdt: np.ndarray, e_true: np.ndarray,
                     eta: np.ndarray, mu: np.ndarray) -> dict:
    """Overall, per-|η|-bin (binning.ABS_ETA_EDGES) and per-⟨μ⟩-quintile reIQR75 table."""
    rc = np.asarray(e_cnn) / e_true
    rb = np.asarray(e_bdt) / e_true
    aeta = np.abs(eta)
    out = {"overall": _row(rc, rb), "abs_eta": [], "mu_quintile": []}
    overall_no_crack = np.ones(len(rc), bool)
    for i in range(len(ABS_ETA_EDGES) - 1):
        lo, hi = ABS_ETA_EDGES[i], ABS_ETA_EDGES[i + 1]
        m = (aeta >= lo) & (aeta < hi)
        if i == CRACK_BIN:
            overall_no_crack &= ~m
        out["abs_eta"].append({"lo": lo, "hi": hi, "crack": i == CRACK_BIN, **_row(rc[m], rb[m])})
    edges = np.quantile(mu, np.linspace(0, 1, 6)) if len(mu) else np.zeros(6)
    for i in range(5):
        m = (mu >= edges[i]) & ((mu < edges[i + 1]) if i < 4 else (mu <= edges[i + 1]))
        out["mu_quintile"].append(
            {"lo": float(edges[i]), "hi": float(edges[i + 1]), **_row(rc[m], rb[m])}
        )
    out["improves_every_eta_bin_outside_crack"] = bool(all(
        r["reiqr75"] > 0 for r in out["abs_eta"] if not r["crack"] and r["n"] > 0
    ))
    out["overall_outside_crack"] = _row(rc[overall_no_crack], rb[overall_no_crack])
    return out


def format_table(table: dict) -> str:
    """Plain-text rendering of :func:`resolution_table` (for logs and the report)."""
    lines = ["bin                 n     eIQR75 CNN  eIQR75 BDT  reIQR75"]

    def fmt(label, r):
        return (f"{label:<16} {r['n']:>7d}   {r['eiqr75_cnn']:.5f}     {r['eiqr75_bdt']:.5f}"
                f"     {r['reiqr75']:+.3f}")

    lines.append(fmt("all", table["overall"]))
    for r in table["abs_eta"]:
        lines.append(fmt(f"|eta| {r['lo']:.2f}-{r['hi']:.2f}" + ("*" if r["crack"] else ""), r))
    for r in table["mu_quintile"]:
        lines.append(fmt(f"mu {r['lo']:.1f}-{r['hi']:.1f}", r))
    return "\n".join(lines)

"""Resolution metrics of an energy calibration and the simple reference it must beat.

- :func:`eiqr`: effective inter-quantile range of RE = E_calib / E_true (thesis eq. 4.6):
  eIQR75 = (P75 − P25)/1.349, eIQR95 = (P95 − P5)/3.290 (both equal σ for a Gaussian;
  the project-wide definition of :mod:`calocoffea.metrics`).
- :class:`MedianResponseCorrection`: E_acc divided by the median of E_acc/E_true in bins of
  (|η|, E_T^acc), derived on the training split. E_T^acc (not the true E_T) is used for the
  binning since that is what is available when the correction is applied.
- :func:`compare`: eIQR of several calibrations over all objects and per |η| region.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from calocoffea import metrics
from calocoffea.binning import ABS_ETA_EDGES

#: Default binning of the median-response reference: 0.1 in |η|, 12 log bins in E_T^acc.
DEFAULT_ABS_ETA_EDGES: tuple[float, ...] = tuple(np.round(np.arange(0.0, 2.51, 0.1), 2))
DEFAULT_ET_EDGES: tuple[float, ...] = tuple(np.round(np.geomspace(4.0, 600.0, 13), 3))


def eiqr(response: np.ndarray, level: int = 75) -> float:
    """eIQR of a response array (dimensionless); ``level`` 75 or 95. NaN when empty.

    One definition for the whole project: :func:`calocoffea.metrics.eiqr`, (P_level −
    P_(100−level)) / (2 z_level).
    """
    if level not in (75, 95):
        raise ValueError(f"level must be 75 or 95, got {level}")
    return metrics.eiqr(np.asarray(response, dtype=np.float64), q=float(level))


@dataclass
class MedianResponseCorrection:
    """E_acc / median(E_acc/E_true) in (|η|, E_T^acc) bins; empty bins fall back to |η| only."""

    abs_eta_edges: np.ndarray
    et_edges: np.ndarray
    median: np.ndarray  # shape (n_abs_eta_bins, n_et_bins)

    @staticmethod
    def _bins(abs_eta_edges, et_edges, e_acc, eta) -> tuple[np.ndarray, np.ndarray]:
        et = np.asarray(e_acc, dtype=np.float64) / np.cosh(eta)
        # out-of-range objects use the nearest bin rather than being dropped
        i = np.clip(np.searchsorted(abs_eta_edges, np.abs(eta), side="right") - 1,
                    0, len(abs_eta_edges) - 2)
        j = np.clip(np.searchsorted(et_edges, et, side="right") - 1, 0, len(et_edges) - 2)
        return i, j

    @classmethod
    def fit(
        cls,
        e_acc: np.ndarray,
        eta: np.ndarray,
        e_true: np.ndarray,
        *,
        abs_eta_edges=DEFAULT_ABS_ETA_EDGES,
        et_edges=DEFAULT_ET_EDGES,
        min_count: int = 30,
    ) -> MedianResponseCorrection:
        """Derive the bin medians of E_acc/E_true (energies in GeV)."""
        abs_eta_edges = np.asarray(abs_eta_edges, dtype=np.float64)
        et_edges = np.asarray(et_edges, dtype=np.float64)
        resp = np.asarray(e_acc, dtype=np.float64) / np.asarray(e_true, dtype=np.float64)
        i, j = cls._bins(abs_eta_edges, et_edges, e_acc, eta)
        med = np.full((len(abs_eta_edges) - 1, len(et_edges) - 1), np.nan)
        global_median = float(np.median(resp))
        for a in range(med.shape[0]):
            in_eta = i == a
            eta_median = float(np.median(resp[in_eta])) if in_eta.sum() >= min_count else (
                global_median
            )
            for b in range(med.shape[1]):
                sel = in_eta & (j == b)
                med[a, b] = np.median(resp[sel]) if sel.sum() >= min_count else eta_median
        return cls(abs_eta_edges, et_edges, med)

    def energy(self, e_acc: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """Corrected energy in GeV, shape of ``e_acc``."""
        i, j = self._bins(self.abs_eta_edges, self.et_edges, e_acc, eta)
        return np.asarray(e_acc, dtype=np.float64) / self.median[i, j]


def compare(
    e_true: np.ndarray, eta: np.ndarray, energies: Mapping[str, np.ndarray]
) -> dict[str, dict]:
    """eIQR75 (with its asymptotic error), eIQR95 and median response of each calibration,
    overall and per |η| region.

    Returns {name: {"all": {...}, "regions": [{"abs_eta": [lo, hi], ...}, ...]}}.
    """
    e_true = np.asarray(e_true, dtype=np.float64)
    aeta = np.abs(np.asarray(eta))
    out: dict[str, dict] = {}
    for name, energy in energies.items():
        resp = np.asarray(energy, dtype=np.float64) / e_true

        def summary(r: np.ndarray) -> dict[str, float | int]:
            return {
                "n": int(r.size),
                "eIQR75": eiqr(r, 75),
                "eIQR75_error": metrics.eiqr_error(r, 75.0),
                "eIQR95": eiqr(r, 95),
                "median": float(np.median(r)) if r.size else float("nan"),
            }

        regions = []
        for lo, hi in itertools.pairwise(ABS_ETA_EDGES):
            sel = (aeta >= lo) & (aeta < hi)
            regions.append({"abs_eta": [lo, hi], **summary(resp[sel])})
        out[name] = {"all": summary(resp), "regions": regions}
    return out


def margin(bdt: float, reference: float) -> float:
    """reIQR = 1 − eIQR_bdt / eIQR_reference (thesis eq. 4.7); > 0 means the BDT is better."""
    return float(1.0 - bdt / reference)

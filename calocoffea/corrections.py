"""Energy scale (data) and smearing (MC) corrections as correctionlib JSON, and their use.

From the Z→ee fits of an MC and a data(-like) sample (`calocoffea fit` results), per
calibration and per |η| bin of :data:`calocoffea.binning.ABS_ETA_EDGES`:

- **scale** for data: s_i = (1 + α_i^data) / (1 + α_i^MC), the η-shift of the data relative
  to that of the MC (thesis eq. 9.8), applied as E → s_i E;
- **smearing** for MC: the relative energy resolution data have beyond the MC,
  Δ_i = 2 √max(σ_i,data² − σ_i,MC², 0) / m_Z, from the per-|η| mass-width contributions
  σ_i (GeV, thesis eq. 5.14; one electron contributes δm/m = ½ δE/E), applied as
  E → E (1 + Δ_i g) with g a standard normal that depends only on the event and the object
  (not on chunking or workers: :func:`deterministic_normal`).

Each correction takes ``syst`` ("nominal", "up", "down"; ±1 standard error per bin from the
diagonal of the fits' covariances: that of α for the scale, those of σ_i² for the smearing;
correlations between bins are not propagated), ``absEta`` and ``et`` (GeV; the bins are
E_T-inclusive today) — input names as the CMS EGM scale-and-smearing files spell them. The
file is correctionlib schema v2 (``correction summary FILE`` validates it). This is what
HiggsDNA and PocketCoffea consume.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from calocoffea.binning import ABS_ETA_EDGES
from calocoffea.constants import MZ_GEV

SYSTS = ("nominal", "up", "down")
#: E_T range (GeV) of the corrections' single E_T bin (inputs outside are clamped).
ET_RANGE = (0.0, 14_000.0)


@dataclass
class ScaleSmearing:
    """Per-|η|-bin scale (data) and relative smearing (MC) of one calibration, with
    standard errors; NaN where a bin was not measured (then 1 and 0 are written, flagged in
    ``measured``)."""

    calibration: str
    scale: np.ndarray
    scale_error: np.ndarray
    smearing: np.ndarray
    smearing_error: np.ndarray
    measured: np.ndarray

    def to_dict(self) -> dict:
        def clean(a):
            return [None if not np.isfinite(v) else float(v) for v in a]

        return {"calibration": self.calibration, "scale": clean(self.scale),
                "scale_error": clean(self.scale_error), "smearing": clean(self.smearing),
                "smearing_error": clean(self.smearing_error),
                "measured": [bool(m) for m in self.measured]}


def _arr(values) -> np.ndarray:
    return np.asarray([np.nan if v is None else float(v) for v in values], dtype=float)


def _diag_error(entry: Mapping, cov_key: str, err: np.ndarray, value: np.ndarray | None
                ) -> np.ndarray:
    """Standard errors from the diagonal of ``entry[cov_key]`` (of the quantity, or of its
    square when ``value`` is given: δσ = δ(σ²)/(2σ)), else ``err``."""
    cov = entry.get(cov_key)
    if not cov:
        return err
    var = np.diag(np.asarray(cov, dtype=float))
    if var.shape != err.shape:
        raise ValueError(f"{cov_key} is {var.shape[0]}x{var.shape[0]}, expected "
                         f"{err.shape[0]} |eta| bins")
    out = np.sqrt(np.clip(var, 0.0, None))
    if value is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = out / (2.0 * np.abs(value))
    return np.where(np.isfinite(err) & (var > 0), out, err)


def derive(mc_result: Mapping, data_result: Mapping, calibration: str) -> ScaleSmearing:
    """The scale and smearing of ``calibration`` from the Z→ee fit results of an MC and a
    data sample (docs/fit_results.md layout: ``mass.eta_shift`` and ``mass.resolution``);
    errors from the covariance diagonals (``covariance``, ``sigma2_covariance``) when the
    results have them. KeyError naming what is missing; ValueError when the inputs are
    not an MC and a data result of channel zee."""
    for name, res, kind in (("MC", mc_result, "mc"), ("data", data_result, "data")):
        if res.get("channel", "zee") != "zee":
            raise ValueError(f"{name} results are of channel {res.get('channel')!r}, need zee")
        if res.get("kind", kind) != kind:
            raise ValueError(f"{name} results have kind {res.get('kind')!r}, expected {kind!r}")
    out = []
    for name, res in (("MC", mc_result), ("data", data_result)):
        mass = res.get("mass", {})
        if calibration not in mass.get("eta_shift", {}):
            raise KeyError(f"{name} results have no eta_shift for {calibration!r}")
        if calibration not in mass.get("resolution", {}):
            raise KeyError(f"{name} results have no resolution for {calibration!r}")
        es, rs = mass["eta_shift"][calibration], mass["resolution"][calibration]
        alpha, sigma = _arr(es["alpha"]), _arr(rs["sigma"])
        out.append((alpha, _diag_error(es, "covariance", _arr(es["alpha_error"]), None),
                    sigma, _diag_error(rs, "sigma2_covariance", _arr(rs["sigma_error"]),
                                       sigma)))
    (a_mc, ea_mc, s_mc, es_mc), (a_d, ea_d, s_d, es_d) = out
    scale = (1.0 + a_d) / (1.0 + a_mc)
    scale_err = scale * np.hypot(ea_d / (1.0 + a_d), ea_mc / (1.0 + a_mc))
    diff = s_d**2 - s_mc**2
    smear = 2.0 * np.sqrt(np.clip(diff, 0.0, None)) / MZ_GEV
    # δ√x = δx / (2√x), δx from both widths; at x ≤ 0 the error of √x is that of √δx
    dx = 2.0 * np.hypot(s_d * es_d, s_mc * es_mc)
    root = np.sqrt(np.clip(diff, 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        smear_err = np.where(root > 0.5 * np.sqrt(dx), 2.0 / MZ_GEV * dx / (2.0 * root),
                             2.0 / MZ_GEV * np.sqrt(dx))
    measured = np.isfinite(scale) & np.isfinite(scale_err) & np.isfinite(smear)
    return ScaleSmearing(calibration, scale, scale_err, smear, smear_err, measured)


def _binned(values: list[float]) -> dict:
    return {"nodetype": "binning", "input": "absEta", "edges": list(ABS_ETA_EDGES),
            "content": values, "flow": "clamp"}


def _by_syst(nominal: np.ndarray, error: np.ndarray, default: float, *, floor: float | None
             ) -> dict:
    content = []
    for syst, sign in zip(SYSTS, (0.0, 1.0, -1.0), strict=True):
        vals = np.where(np.isfinite(nominal), nominal + sign * np.nan_to_num(error), default)
        if floor is not None:
            vals = np.maximum(vals, floor)
        content.append({"key": syst, "value": _binned([float(v) for v in vals])})
    return {"nodetype": "category", "input": "syst", "content": content}


def correction_set(corrections: Mapping[str, ScaleSmearing], *, description: str = ""):
    """A correctionlib ``CorrectionSet`` (schema v2) with ``EGMScale_<calibration>`` and
    ``EGMSmearing_<calibration>`` for every entry of ``corrections``."""
    import correctionlib.schemav2 as cs

    inputs = [cs.Variable(name="syst", type="string", description="nominal, up or down"),
              cs.Variable(name="absEta", type="real", description="|eta| of the object"),
              cs.Variable(name="et", type="real", description="E_T of the object (GeV); the "
                          "corrections are E_T-inclusive")]
    out = []
    for cal, ss in corrections.items():
        scale = _by_syst(ss.scale, ss.scale_error, 1.0, floor=None)
        smear = _by_syst(ss.smearing, ss.smearing_error, 0.0, floor=0.0)
        for name, data, what in ((f"EGMScale_{cal}", scale, "energy scale for data: "
                                  "E -> value * E (η-shift of data relative to MC)"),
                                 (f"EGMSmearing_{cal}", smear, "relative smearing for MC: "
                                  "E -> E (1 + value * g), g ~ N(0, 1) per object")):
            out.append(cs.Correction(
                name=name, version=1, inputs=inputs,
                output=cs.Variable(name="value", type="real"),
                description=f"{what}; calibration {cal}; bins measured: "
                            f"{[bool(m) for m in ss.measured]}",
                data=data))
    return cs.CorrectionSet(schema_version=2, description=description or
                            "calocoffea energy scale and smearing", corrections=out)


def write_corrections(path: str | Path, corrections: Mapping[str, ScaleSmearing], *,
                      description: str = "") -> Path:
    """Write the correctionlib JSON (atomically: a temporary name, then renamed)."""
    path = Path(path)
    cset = correction_set(corrections, description=description)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(cset.model_dump_json(exclude_unset=True, indent=1) + "\n")
    tmp.replace(path)
    return path


def deterministic_normal(event: np.ndarray, index: np.ndarray, salt: int) -> np.ndarray:
    """Standard normals, one per (event number, object index), reproducible whatever the
    chunking: a splitmix64 hash of (event, index, salt) mapped through the normal quantile.
    Written by hand because numpy's generators are stream-, not counter-based; splitmix64
    passes BigCrush as a hash of consecutive integers (Steele et al., OOPSLA 2014)."""
    from scipy.special import ndtri

    with np.errstate(over="ignore"):
        x = (np.asarray(event, np.uint64) * np.uint64(0x9E3779B97F4A7C15)
             + np.asarray(index, np.uint64) * np.uint64(0xBF58476D1CE4E5B9)
             + np.uint64(salt & 0xFFFFFFFFFFFFFFFF))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    u = ((x >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
    return ndtri(u)


class CorrectionApplier:
    """Apply ``EGMScale_<calibration>`` (data) or ``EGMSmearing_<calibration>`` (MC) of a
    correctionlib file to energies (GeV)."""

    def __init__(self, path: str | Path, calibration: str, syst: str = "nominal"):
        import correctionlib

        if syst not in SYSTS:
            raise ValueError(f"syst must be one of {SYSTS}, got {syst!r}")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such correction file")
        cset = correctionlib.CorrectionSet.from_file(str(self.path))
        names = set(cset.keys())
        self.calibration, self.syst = calibration, syst
        for kind in ("Scale", "Smearing"):
            if f"EGM{kind}_{calibration}" not in names:
                raise KeyError(f"{self.path}: no EGM{kind}_{calibration} (has {sorted(names)})")
        self._scale = cset[f"EGMScale_{calibration}"]
        self._smear = cset[f"EGMSmearing_{calibration}"]
        # the salt: one stream of normals per calibration
        self.salt = int.from_bytes(calibration.encode()[:8].ljust(8, b"\0"), "little")

    def scale(self, energy: np.ndarray, abs_eta: np.ndarray, et: np.ndarray) -> np.ndarray:
        """Data: E × scale(|η|)."""
        s = self._scale.evaluate(self.syst, np.asarray(abs_eta, float), np.asarray(et, float))
        return np.asarray(energy) * s

    def smear(self, energy: np.ndarray, abs_eta: np.ndarray, et: np.ndarray,
              event: np.ndarray, index: np.ndarray) -> np.ndarray:
        """MC: E (1 + Δ(|η|) g(event, index))."""
        d = self._smear.evaluate(self.syst, np.asarray(abs_eta, float), np.asarray(et, float))
        return np.asarray(energy) * (1.0 + d * deterministic_normal(event, index, self.salt))


def correction_names(path: str | Path) -> set[str]:
    """Names of the corrections in a correctionlib file (FileNotFoundError, or
    correctionlib's own error for an invalid file)."""
    import correctionlib

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such correction file")
    return set(correctionlib.CorrectionSet.from_file(str(p)).keys())


@lru_cache(maxsize=16)
def _applier(path: str, mtime_ns: int, calibration: str, syst: str) -> CorrectionApplier:
    return CorrectionApplier(path, calibration, syst)


def cached_applier(path: str | Path, calibration: str, syst: str = "nominal"
                   ) -> CorrectionApplier:
    """:class:`CorrectionApplier` loaded once per process (the processors' workers)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such correction file")
    return _applier(str(p), p.stat().st_mtime_ns, calibration, syst)


def load_results(path: str | Path) -> dict:
    """A `calocoffea fit` results JSON."""
    return json.loads(Path(path).read_text())


def summary_lines(ss: ScaleSmearing) -> list[str]:
    """One line per |η| bin: scale ± error, smearing ± error."""
    def fmt(v: float, e: float) -> str:
        return "—" if not math.isfinite(v) else f"{v:.5f} ± {e:.5f}"

    lines = []
    for k in range(len(ss.scale)):
        lo, hi = ABS_ETA_EDGES[k], ABS_ETA_EDGES[k + 1]
        lines.append(f"|eta| {lo:.2f}-{hi:.2f}: scale {fmt(ss.scale[k], ss.scale_error[k])}, "
                     f"smearing {fmt(ss.smearing[k], ss.smearing_error[k])}")
    return lines


def correction_errors(ss: ScaleSmearing, pairs: list[tuple[int, int]] | list[list[int]],
                      sigma_mc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Uncertainty (GeV) the corrections' own ±1σ put on μ_CB and σ_CB of each (i, j)
    category: the mass scales by √(s_i s_j), so δμ = m_Z ½ √(δs_i² + δs_j²) (m_Z δs_i for
    i = j); the MC width gains (m_Z/2)² (Δ_i² + Δ_j²) in quadrature, so δσ is the change
    of the corrected MC width ``sigma_mc`` when both Δ move up by their error."""
    ds = np.nan_to_num(np.where(ss.measured, ss.scale_error, 0.0))
    d = np.nan_to_num(np.where(ss.measured, ss.smearing, 0.0))
    dd = np.nan_to_num(np.where(ss.measured, ss.smearing_error, 0.0))
    half = 0.5 * MZ_GEV
    d_mu, d_sigma = [], []
    for (i, j), s in zip(pairs, np.asarray(sigma_mc, float), strict=True):
        d_mu.append(MZ_GEV * ds[i] if i == j else half * math.hypot(ds[i], ds[j]))
        extra = half**2 * ((d[i] + dd[i]) ** 2 - d[i] ** 2 + (d[j] + dd[j]) ** 2 - d[j] ** 2)
        d_sigma.append(math.sqrt(max(s * s + extra, 0.0)) - s if np.isfinite(s) else np.nan)
    return np.asarray(d_mu), np.asarray(d_sigma)


def closure_table(data_result: Mapping, mc_result: Mapping, ss: ScaleSmearing | None,
                  calibration: str) -> list[dict]:
    """Per (|η|_i, |η|_j) category with both fits accepted: μ_CB and σ_CB of the (corrected)
    data and MC (GeV) with their Hesse errors, the corrections' own uncertainty
    (:func:`correction_errors`; 0 when ``ss`` is None, uncorrected samples), the pulls
    (difference / all three in quadrature) and ``corrected``: both |η| bins measured."""
    fd = data_result["mass"]["fits"][calibration]
    fm = mc_result["mass"]["fits"][calibration]
    pairs = [tuple(c) for c in data_result["mass"]["categories"]]
    sig_mc = np.array([r["values"].get("sigma") if r["accepted"] else np.nan for r in fm],
                      dtype=float)
    if ss is None:
        d_mu = d_sigma = np.zeros(len(pairs))
    else:
        d_mu, d_sigma = correction_errors(ss, pairs, sig_mc)
    rows = []
    for k, (a, b) in enumerate(zip(fd, fm, strict=True)):
        if not (a["accepted"] and b["accepted"]):
            continue
        i, j = pairs[k]
        row: dict = {"category": k, "pair": [i, j],
                     "corrected": ss is not None and bool(ss.measured[i] and ss.measured[j])}
        for p, dc in (("mu", d_mu[k]), ("sigma", d_sigma[k])):
            vd, ed, vm, em = (a["values"][p], a["errors"][p], b["values"][p], b["errors"][p])
            err = math.sqrt(ed**2 + em**2 + dc**2)
            row[p] = {"data": vd, "data_error": ed, "mc": vm, "mc_error": em,
                      "correction_error": float(dc), "pull": (vd - vm) / err}
        rows.append(row)
    return rows

"""Per-object energy uncertainties σ_E, their pulls and coverage.

On files with cells every calibration takes its σ_E (GeV) from its σ model
(:mod:`calocoffea.sigma`: a quantile-regression BDT on the object's features, trained for the
calibration models in use). Where there is none (files without cells, calibration models the
σ models were not trained for, ``sigma_models="none"``) the fallbacks are:

- the CNN's own, E_acc · exp(σ'/2) from its ``sigma_prime`` output (thesis eq. 4.4,
  :func:`calocoffea.energies.cnn_prediction`);
- for the BDTs (``bdt``, ``bdt_shapes``), which have none, a **resolution table**
  σ_rel(|η|, E_T) per calibration and particle measured on held-out MC: the eIQR_75 =
  IQR/1.349 of the response E/E_true in each (|η|, E_T) bin of the processors' ``response``
  histogram (:func:`derive_resolution_table`, ⟨μ⟩ summed) with the median response
  M(|η|, E_T) and a pile-up factor f(⟨μ⟩) (the objects-weighted ratio of the widths measured
  per ⟨μ⟩ bin to the ⟨μ⟩-summed ones), written as correctionlib JSON
  (``sigma_rel_<calibration>_<particle>``, ``median_...`` with inputs ``absEta`` and ``et``
  in GeV, ``mu_factor_...`` with input ``mu``; clamped at the edges) and applied as
  σ_E = σ_rel · f(⟨μ⟩) · E / M (σ_rel is in units of E_true, E/M its estimate; f = 1 for
  an unknown ⟨μ⟩)
  with the object's reconstructed |η| and E_T = E / (M cosh η) (:class:`ResolutionTable`:
  M looked up at E/cosh η, then σ_rel at the corrected E_T). Bins with fewer than
  ``min_objects`` take the value of the nearest measured E_T bin of their |η| row (the
  corrections' descriptions list which were measured). ``calocoffea resolution``
  regenerates the shipped table (:func:`calocoffea.resources.resolution_table_path`).

Validation: the pull (E − E_ref)/σ_E per object (``pull`` histogram of the processors, MC
only; E_ref the generator particle, electrons dressed with their FSR photons within ΔR < 0.1,
:data:`PULL_REFERENCE`; the bare-electron pulls are filled and reported beside them) has a
width (IQR/1.349) of 1 ± 0.05 and covers 68.27 % / 95.45 % within ±1 / ±2 (the Gaussian
fractions, :data:`COVERAGE`) to within 2 points, checked in every |η|, E_T and ⟨μ⟩
bin with at least :data:`MIN_OBJECTS` objects (:func:`pull_summary`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calocoffea.binning import ABS_ETA_EDGES, ET_EDGES, MU_EDGES
from calocoffea.metrics import effective_entries, eiqr_from_hist, hist_quantiles

#: Calibrations whose σ_E comes from the resolution table.
TABLE_CALIBRATIONS: tuple[str, ...] = ("bdt", "bdt_shapes")
#: Calibrations with a per-object σ_E (the table's and the CNN's own).
SIGMA_CALIBRATIONS: tuple[str, ...] = ("bdt", "bdt_shapes", "cnn")
#: Coverage name -> (|pull| bound, Gaussian fraction inside it).
COVERAGE: dict[str, tuple[float, float]] = {"coverage68": (1.0, 0.6827),
                                            "coverage95": (2.0, 0.9545)}
#: Target pull width (IQR/1.349) and its tolerance.
PULL_WIDTH_TARGET: tuple[float, float] = (1.0, 0.05)
#: Allowed |coverage − target| (fraction: 2 points).
COVERAGE_TOLERANCE = 0.02
#: Bins with at least this many objects must meet the targets.
MIN_OBJECTS = 500
#: Objects a resolution-table bin needs to be measured (else the nearest measured E_T bin).
MIN_TABLE_OBJECTS = 100
#: Reasons an object has no table σ_E and their cutflow names
#: (``cutflow["no <calibration> sigma: <reason>"]``).
TABLE_NO_ENTRY, TABLE_BAD_ENERGY = 1, 2
#: Cutflow reason when no resolution table is installed (``meta["resolution_table"]`` says
#: which file was looked for).
TABLE_MISSING = "no resolution table"
TABLE_REASONS: dict[int, str] = {
    TABLE_NO_ENTRY: "no resolution-table entry",
    TABLE_BAD_ENERGY: "non-finite or non-positive energy",
}


def correction_name(calibration: str, particle: str, what: str = "sigma_rel") -> str:
    """Name of the σ_rel (``what="median"``: median response) correction of
    ``calibration`` and ``particle``."""
    return f"{what}_{calibration}_{particle}"


# ----------------------------------------------------------------------- resolution table
@dataclass
class ResolutionEntry:
    """σ_rel (n_|η| × n_E_T, relative units) of one calibration and particle on
    :data:`~calocoffea.binning.ABS_ETA_EDGES` × :data:`~calocoffea.binning.ET_EDGES` (GeV),
    the median response E/E_true, the objects per bin and which bins were measured (the
    others are filled)."""

    calibration: str
    particle: str
    sigma_rel: np.ndarray
    median: np.ndarray
    n: np.ndarray
    measured: np.ndarray
    #: f(⟨μ⟩) per bin of :data:`~calocoffea.binning.MU_EDGES` (1 where not measurable).
    mu_factor: np.ndarray | None = None


def derive_resolution_table(response, calibrations: Sequence[str] = TABLE_CALIBRATIONS, *,
                            min_objects: int = MIN_TABLE_OBJECTS) -> list[ResolutionEntry]:
    """σ_rel = eIQR_75 of E/E_true per (|η|, E_T_true) bin, ⟨μ⟩ summed, from a processor
    ``response`` histogram (``hist.Hist``, axes of :func:`calocoffea.histograms.book_response`)
    for every ``calibrations`` × particle it holds. A bin with fewer than ``min_objects``
    (sum of weights) takes the nearest measured E_T bin of its |η| row; a row without any
    measured bin the particle's inclusive value. ValueError when a calibration has no
    objects at all."""
    edges = response.axes["response"].edges
    out: list[ResolutionEntry] = []
    for cal in calibrations:
        if cal not in response.axes["calibration"]:
            continue
        for particle in response.axes["particle"]:
            h = response[{"calibration": cal, "particle": particle, "mu": sum}]
            vals = h.values(flow=True)  # (abseta+2, et+2, response+2)
            grid = vals[1:-1, 1:-1, :]
            n = grid.sum(axis=-1)
            if n.sum() <= 0:
                continue
            sigma = np.full(n.shape, np.nan)
            median = np.full(n.shape, np.nan)
            for i in range(n.shape[0]):
                for j in range(n.shape[1]):
                    if n[i, j] >= min_objects:
                        sigma[i, j] = eiqr_from_hist(grid[i, j], edges)
                        median[i, j] = hist_quantiles(grid[i, j], edges, [0.5])[0]
            measured = np.isfinite(sigma) & np.isfinite(median)
            incl = grid.sum(axis=(0, 1))
            inclusive = (eiqr_from_hist(incl, edges), hist_quantiles(incl, edges, [0.5])[0])
            if not all(math.isfinite(v) for v in inclusive):
                raise ValueError(f"response of {cal}/{particle}: inclusive eIQR not measurable "
                                 f"({n.sum():.0f} objects)")
            for i in range(n.shape[0]):
                good = np.flatnonzero(measured[i])
                for j in range(n.shape[1]):
                    if measured[i, j]:
                        continue
                    if good.size:
                        near = good[np.argmin(np.abs(good - j))]
                        sigma[i, j], median[i, j] = sigma[i, near], median[i, near]
                    else:
                        sigma[i, j], median[i, j] = inclusive
            out.append(ResolutionEntry(cal, particle, sigma, median, n, measured,
                                       _mu_factor(response, cal, particle, sigma=sigma,
                                                  measured=measured,
                                                  min_objects=min_objects)))
    if not out:
        raise ValueError(f"response histogram has no objects for {list(calibrations)}")
    return out


def _mu_factor(response, cal: str, particle: str, *, sigma: np.ndarray, measured: np.ndarray,
               min_objects: int) -> np.ndarray:
    """f_k = Σ n_ijk σ_ijk / Σ n_ijk σ_ij over the (|η|, E_T) bins measured in ⟨μ⟩ bin k."""
    edges = response.axes["response"].edges
    vals = response[{"calibration": cal, "particle": particle}].values(flow=True)
    grid = vals[1:-1, 1:-1, 1:-1, :]  # (abseta, et, mu, response+2)
    n_mu = grid.shape[2]
    f = np.ones(n_mu)
    for k in range(n_mu):
        num = den = 0.0
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                n = grid[i, j, k].sum()
                if not measured[i, j] or n < min_objects:
                    continue
                width = eiqr_from_hist(grid[i, j, k], edges)
                if math.isfinite(width):
                    num += n * width
                    den += n * sigma[i, j]
        if den > 0:
            f[k] = num / den
    return f


def resolution_correction_set(entries: Sequence[ResolutionEntry], *, description: str = ""):
    """correctionlib ``CorrectionSet`` (schema v2) of the σ_rel tables."""
    import correctionlib.schemav2 as cs

    inputs = [cs.Variable(name="absEta", type="real", description="|eta| of the object"),
              cs.Variable(name="et", type="real",
                          description="E_T = E/cosh(eta) of the object under this calibration "
                                      "(GeV); the table is binned in true E_T")]
    corrections = []
    for e in entries:
        for what, values, text in (
                ("sigma_rel", e.sigma_rel, f"IQR/1.349 of E_{e.calibration}/E_true "
                                           "(relative resolution in units of E_true)"),
                ("median", e.median, f"median of E_{e.calibration}/E_true")):
            data = {"nodetype": "multibinning", "inputs": ["absEta", "et"],
                    "edges": [list(ABS_ETA_EDGES), list(ET_EDGES)],
                    "content": [float(v) for v in values.reshape(-1)], "flow": "clamp"}
            corrections.append(cs.Correction(
                name=correction_name(e.calibration, e.particle, what), version=1,
                inputs=inputs, output=cs.Variable(name=what, type="real"),
                description=(f"{text} ({e.particle}) per (|eta|, E_T_true) bin; objects per "
                             f"bin {e.n.astype(int).tolist()}; measured (>= "
                             f"{MIN_TABLE_OBJECTS}) {e.measured.astype(int).tolist()}, other "
                             "bins copy the nearest measured E_T bin"),
                data=data))
        mu_factor = e.mu_factor if e.mu_factor is not None else np.ones(len(MU_EDGES) - 1)
        corrections.append(cs.Correction(
            name=correction_name(e.calibration, e.particle, "mu_factor"), version=1,
            inputs=[cs.Variable(name="mu", type="real", description="<mu> of the event")],
            output=cs.Variable(name="mu_factor", type="real"),
            description=(f"pile-up factor of sigma_rel ({e.particle}, {e.calibration}): "
                         "objects-weighted width per <mu> bin over the <mu>-summed one"),
            data={"nodetype": "binning", "input": "mu", "edges": list(MU_EDGES),
                  "content": [float(v) for v in mu_factor], "flow": "clamp"}))
    return cs.CorrectionSet(schema_version=2, corrections=corrections,
                            description=description or "calocoffea BDT energy resolution")


def write_resolution_table(path: str | Path, entries: Sequence[ResolutionEntry], *,
                           description: str = "") -> Path:
    """Write the correctionlib JSON (atomically: a temporary name, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cset = resolution_correction_set(entries, description=description)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(cset.model_dump_json(exclude_unset=True, indent=1) + "\n")
    tmp.replace(path)
    return path


class ResolutionTable:
    """The σ_rel corrections of a correctionlib file (:func:`write_resolution_table`).

    FileNotFoundError for a missing file, ValueError naming the file when it is not a
    correctionlib JSON with ``sigma_rel_*`` corrections."""

    def __init__(self, path: str | Path) -> None:
        import correctionlib

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such resolution table")
        try:
            cset = correctionlib.CorrectionSet.from_file(str(self.path))
        except Exception as err:
            raise ValueError(f"{self.path}: not a correctionlib JSON: {err}") from err
        self._corr = {k: cset[k] for k in cset
                      if k.startswith(("sigma_rel_", "median_", "mu_factor_"))}
        if not any(k.startswith("sigma_rel_") for k in self._corr):
            raise ValueError(f"{self.path}: no sigma_rel_<calibration>_<particle> corrections "
                             f"(has {sorted(cset)})")

    def has(self, calibration: str, particle: str) -> bool:
        return all(correction_name(calibration, particle, w) in self._corr
                   for w in ("sigma_rel", "median"))

    def sigma(self, calibration: str, particle: str, energy: np.ndarray, eta: np.ndarray,
              mu: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(σ_E in GeV, reason code) per object of energies ``energy`` (GeV), η ``eta`` and
        ⟨μ⟩ ``mu`` (None or NaN: f = 1): σ_rel · f(⟨μ⟩) · E/M (module docstring); NaN with a
        :data:`TABLE_REASONS` code where the table has no entry or the energy is not finite
        and positive."""
        energy = np.asarray(energy, dtype=np.float64)
        eta = np.asarray(eta, dtype=np.float64)
        code = np.zeros(energy.shape, np.uint8)
        sigma = np.full(energy.shape, np.nan)
        if not self.has(calibration, particle):
            code[:] = TABLE_NO_ENTRY
            return sigma, code
        ok = np.isfinite(energy) & (energy > 0) & np.isfinite(eta)
        code[~ok] = TABLE_BAD_ENERGY
        if ok.any():
            abseta, et = np.abs(eta[ok]), energy[ok] / np.cosh(eta[ok])
            med = self._corr[correction_name(calibration, particle, "median")]
            e_est = energy[ok] / np.asarray(med.evaluate(abseta, et), np.float64)
            rel = self._corr[correction_name(calibration, particle)].evaluate(
                abseta, e_est / np.cosh(eta[ok]))
            sigma[ok] = np.asarray(rel, np.float64) * e_est
            name = correction_name(calibration, particle, "mu_factor")
            if mu is not None and name in self._corr:
                m = np.broadcast_to(np.asarray(mu, np.float64), energy.shape)[ok]
                known = np.isfinite(m)
                factor = np.ones(m.shape)
                if known.any():
                    factor[known] = self._corr[name].evaluate(m[known])
                sigma[ok] *= factor
        return sigma, code


# ----------------------------------------------------------------------- pulls and coverage
def pull_stats(counts: np.ndarray, edges: np.ndarray,
               variances: np.ndarray | None = None) -> dict[str, float | int | None]:
    """n (sum of weights), n_effective ((Σw)²/Σw² with ``variances``, the Σw² per bin;
    else n), pull_width (IQR/1.349), median and the :data:`COVERAGE` fractions (with binomial errors
    on n_effective) of a pull histogram ``counts`` (with flow bins, (n_bins + 2,)) on
    ``edges``; ±1 and ±2 must be bin edges."""
    counts = np.clip(np.asarray(counts, dtype=float), 0.0, None)
    edges = np.asarray(edges, dtype=float)
    total = float(counts.sum())
    n_eff = effective_entries(counts, variances)
    out: dict[str, float | int | None] = {"n": round(total), "n_effective": n_eff}
    if total <= 0:
        out.update({"pull_width": None, "coverage68": None, "coverage95": None})
        return out
    width = eiqr_from_hist(counts, edges)
    out["pull_width"] = width if math.isfinite(width) else None
    (median,) = hist_quantiles(counts, edges, [0.5])
    out["median"] = float(median) if math.isfinite(median) else None
    inner = counts[1:-1]
    centers = 0.5 * (edges[:-1] + edges[1:])
    for name, (bound, _) in COVERAGE.items():
        if not np.isclose(edges, bound).any() or not np.isclose(edges, -bound).any():
            raise ValueError(f"pull axis has no edges at ±{bound}")
        frac = float(inner[np.abs(centers) < bound].sum() / total)
        out[name] = frac
        out[f"{name}_err"] = math.sqrt(frac * (1 - frac) / n_eff) if n_eff > 0 else None
    return out


def meets_targets(stats: Mapping[str, Any]) -> list[str]:
    """The targets a :func:`pull_stats` entry misses (empty: all met)."""
    misses = []
    width = stats.get("pull_width")
    target, tol = PULL_WIDTH_TARGET
    if width is None or abs(width - target) > tol:
        misses.append(f"pull_width {width if width is None else round(width, 3)} "
                      f"not in {target} ± {tol}")
    for name, (_, frac) in COVERAGE.items():
        value = stats.get(name)
        if value is None or abs(value - frac) > COVERAGE_TOLERANCE:
            misses.append(f"{name} {value if value is None else round(value, 4)} not in "
                          f"{frac} ± {COVERAGE_TOLERANCE}")
    return misses


#: Toys per bin population of :func:`chance_misses` (binomial error of one bin's miss
#: probability ≤ 0.035) and their seed.
CHANCE_TOYS = 200
CHANCE_SEED = 1


def chance_misses(populations: Sequence[int], edges: np.ndarray, *, toys: int = CHANCE_TOYS,
                  seed: int = CHANCE_SEED) -> float:
    """Expected number of bins of the given object counts that miss a target by chance
    alone: an exactly calibrated σ_E gives unit-Gaussian pulls, whose histogram on the pull
    ``edges`` (with flow bins) is multinomial; ``toys`` draws per count (seeded), each checked
    with :func:`pull_stats` and :func:`meets_targets` as the measured bins are. Why it is
    needed: at 500 objects the binomial error of coverage68 (2.1 points) equals the
    tolerance, so a perfect σ misses such a bin about one time in three."""
    from scipy.stats import norm

    edges = np.asarray(edges, dtype=float)
    cdf = norm.cdf(edges)
    probs = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    probs = np.clip(probs, 0.0, None)
    probs /= probs.sum()
    rng = np.random.default_rng(seed)
    cache: dict[int, float] = {}
    total = 0.0
    for n in (round(float(x)) for x in populations):
        if n not in cache:
            draws = rng.multinomial(n, probs, size=toys)
            cache[n] = float(np.mean([bool(meets_targets(pull_stats(d, edges)))
                                      for d in draws]))
        total += cache[n]
    return total


#: Axes of the pull histogram the per-bin entries are projected on.
PULL_BIN_AXES: tuple[str, ...] = ("abseta", "et", "mu")
#: The axis of the processors' ``pull_et_reco`` histogram: E_T under the calibration.
PULL_RECO_AXIS = "et_reco"


#: The pull reference the targets are checked on (the processors' ``reference`` axis):
#: electrons dressed with their collinear FSR photons (:mod:`calocoffea.sigma`).
PULL_REFERENCE = "dressed"


def pull_summary(pull, *, pull_et_reco=None, min_objects: int = MIN_OBJECTS,
                 reference: str = PULL_REFERENCE) -> dict[str, dict[str, Any]]:
    """Per particle and calibration of a processor ``pull`` histogram: the inclusive
    :func:`pull_stats`, those of every bin of |η|, true E_T and ⟨μ⟩ (each axis on its own,
    the others summed), and ``misses``, the bins with ≥ ``min_objects`` objects (and the
    inclusive entry) that miss a target, with the reason, ``bins_checked`` and
    ``expected_chance_misses`` (:func:`chance_misses` of those bins). Given the processors'
    ``pull_et_reco`` histogram, the bins of the calibrated E_T (``bins["et_reco"]``) are
    summarised too and their misses listed in ``diagnostic_misses``, not counted: binned in
    what was measured, the pulls carry the channel's spectrum (at a kinematic edge most
    objects of a bin are upward fluctuations: median pull +0.35 for Z→μμγ photons at
    40-50 GeV), so width 1 and 68 % coverage cannot both hold there for any σ (measured on
    the σ models' own conformal sample: coverage exact, width 0.935; docs/model.md). All on the pull
    ``reference`` (histograms with a ``reference`` axis; ``bare`` gives the inclusive stats
    of the other reference). Objects are counted as effective entries (Σw)²/Σw² for the
    ``min_objects`` threshold, the binomial errors and the chance misses (the same as the
    count for unit weights). JSON-ready."""
    edges = pull.axes["pull"].edges

    def stats(h, *axes):
        p = h.project(*axes, "pull")
        return p.values(flow=True), p.variances(flow=True)
    has_ref = "reference" in [a.name for a in pull.axes]
    out: dict[str, dict[str, Any]] = {}
    for particle in pull.axes["particle"]:
        for cal in pull.axes["calibration"]:
            projections = {}
            if pull_et_reco is not None:
                hr = pull_et_reco[{"calibration": cal, "particle": particle}]
                if "reference" in [a.name for a in hr.axes]:
                    hr = hr[{"reference": reference}]
                projections[PULL_RECO_AXIS] = hr
            h = pull[{"calibration": cal, "particle": particle}]
            others = {}
            if has_ref:
                for r in h.axes["reference"]:
                    if r != reference:
                        values, variances = stats(h[{"reference": r}])
                        others[r] = pull_stats(values, edges, variances)
                h = h[{"reference": reference}]
            total = h.sum(flow=True)
            if float(getattr(total, "value", total)) <= 0:
                continue
            values, variances = stats(h)
            incl = pull_stats(values, edges, variances)
            entry: dict[str, Any] = {"inclusive": incl, "bins": {}, "misses": [],
                                     "reference": reference if has_ref else "bare",
                                     "other_references": others}
            if projections:
                entry["diagnostic_misses"] = []
            if incl["n_effective"] >= min_objects:
                entry["misses"] += [{"axis": "inclusive", "reason": r}
                                    for r in meets_targets(incl)]
            for axis in (*PULL_BIN_AXES, *projections):
                source = projections.get(axis, h)
                ax = source.axes[axis]
                values, variances = stats(source, axis)
                rows = []
                for k in range(ax.size):
                    st = pull_stats(values[k + 1], edges, variances[k + 1])
                    st.update(lo=float(ax.edges[k]), hi=float(ax.edges[k + 1]))
                    rows.append(st)
                    if st["n_effective"] >= min_objects:
                        entry["diagnostic_misses" if axis in projections else "misses"] += [
                            {"axis": axis, "lo": st["lo"], "hi": st["hi"], "n": st["n"],
                             "reason": r} for r in meets_targets(st)]
                entry["bins"][axis] = rows
            checked = [incl["n_effective"]] * (incl["n_effective"] >= min_objects) + [
                st["n_effective"] for axis, rows in entry["bins"].items() for st in rows
                if st["n_effective"] >= min_objects and axis not in projections]
            entry["bins_checked"] = len(checked)
            entry["expected_chance_misses"] = round(chance_misses(checked, edges), 2)
            out.setdefault(particle, {})[cal] = entry
    return out


def summary_entry(pull_summary_: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """summary.json ``uncertainty.<particle>``: ``pull_width``, ``coverage68``,
    ``coverage95`` (inclusive, per calibration), ``bins`` (per calibration and axis),
    ``misses``, ``diagnostic_misses`` (calibrated-E_T bins, not counted) and the targets."""
    out: dict[str, Any] = {}
    for particle, cals in pull_summary_.items():
        e: dict[str, Any] = {k: {} for k in ("pull_width", "coverage68", "coverage95", "n",
                                             "bins", "misses", "bins_checked",
                                             "expected_chance_misses", "diagnostic_misses")}
        e["other_references"] = {}
        for cal, entry in cals.items():
            for key in ("pull_width", "coverage68", "coverage95", "n"):
                e[key][cal] = entry["inclusive"].get(key)
            e["reference"] = entry.get("reference", "bare")
            for ref, st in (entry.get("other_references") or {}).items():
                e["other_references"].setdefault(ref, {})[cal] = {
                    k: st.get(k) for k in ("pull_width", "coverage68", "coverage95", "n")}
            e["bins"][cal] = entry["bins"]
            e["misses"][cal] = entry["misses"]
            e["diagnostic_misses"][cal] = entry.get("diagnostic_misses", [])
            e["bins_checked"][cal] = entry["bins_checked"]
            e["expected_chance_misses"][cal] = entry.get("expected_chance_misses")
        e["targets"] = {"pull_width": list(PULL_WIDTH_TARGET),
                        **{k: [v[1], COVERAGE_TOLERANCE] for k, v in COVERAGE.items()},
                        "min_objects": MIN_OBJECTS}
        out[particle] = e
    return out


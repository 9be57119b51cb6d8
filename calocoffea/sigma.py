"""Per-object energy uncertainty models: σ_E from a quantile-regression BDT.

The σ_E of calibration ``c`` (``bdt``, ``bdt_shapes``, ``cnn``) for an electron or photon is

    σ_E = k · E_c · q̂_c(x),

with q̂_c the conditional 68.27 % quantile of |E_c − E_ref| / E_c given the object's features
``x``, learned by XGBoost's quantile loss (``reg:quantileerror``) and shipped as ONNX
(``models/sigma_<c>_<particle>.onnx`` with a JSON card; evaluated with XGBoost's predictor,
:mod:`calocoffea.bdt.forest`). By construction |pull| < 1 holds for
68.27 % of the objects in every region of feature space the model resolves; because the
features say which objects sit in the tails (shower shapes, the track p_T, the disagreement
of two calibrations, the CNN's own σ'), the pull (E_c − E_ref)/σ_E comes out close to
Gaussian, so that the 95 % coverage and the IQR width follow; a split-conformal factor k per
channel, conversion and |η| bin times a correction r per channel and E_T bin
(:func:`conformal_table`) fixes the 68 % coverage (validated
per |η|, E_T and ⟨μ⟩ bin by :func:`calocoffea.uncertainty.pull_summary`). A per-bin scale of
the CNN's σ' (its in-graph calibration) or a binned resolution table cannot do this: the
electrons' tails are heavier than Gaussian, so a σ calibrated on the IQR covers only ~88 %
within ±2 (measured, see docs/model.md).

E_ref is the generator particle's energy; for electrons **dressed** with the FSR photons of
that electron within ΔR < :data:`calocoffea.constants.DRESSING_DR` (the LHC's standard dressed
lepton): collinear FSR lands in the same cells, no calorimeter calibration can take it out,
and the mass that σ_m/m describes is that of the dressed pair. Against the bare electron the
~10 % of Z→ee electrons with a hard collinear photon form a one-sided tail that no Gaussian σ
covers; the processors' ``pull`` histogram holds both references (axis ``reference``).

Features (:func:`feature_names`): |η|, E_T under the calibration, ⟨μ⟩, ln(E_c/E_bdt) for the
calibrations other than ``bdt``, ln(σ'_CNN/E_CNN) (the CNN's own σ, eq. 4.4) for ``cnn``, and
the ``bdt_shapes`` inputs of the particle (:mod:`calocoffea.bdt.inputs`; for photons those of
the converted-photon model, a superset, plus the conversion flag). Every σ depends only on its
own calibration and on ``bdt``, which the processors always evaluate on files with cells.

Training (:func:`train_sigma_models`, ``calocoffea train sigma``) uses calibration samples
that neither the calibrations' training nor any test uses; the card records their seeds and
hashes, the sha256 of the calibration model each σ model was trained for (a processor running
another model, e.g. the ensemble CNN, does not use it and says so in its metadata), the
validation pulls and the ONNX/XGBoost agreement.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import shlex
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calocoffea.bdt.forest import Forest, load_forest
from calocoffea.binning import ABS_ETA_EDGES, ET_EDGES, MU_EDGES
from calocoffea.constants import DRESSING_DR
from calocoffea.stitching import sample_boson_pt_min
from calocoffea.uncertainty import COVERAGE

log = logging.getLogger(__name__)

#: Calibrations with a σ model.
SIGMA_MODEL_CALIBRATIONS: tuple[str, ...] = ("bdt", "bdt_shapes", "cnn")
#: The quantile of |E − E_ref|/E the models learn (the Gaussian fraction within ±1σ).
QUANTILE = COVERAGE["coverage68"][1]
INPUT_NAME = "features"
OUTPUT_NAME = "sigma_rel"
#: σ_rel outside this range is not physical for an e/γ calorimeter object (0.1 %–100 %).
SIGMA_REL_RANGE = (1e-3, 1.0)
#: Reason codes of objects without a model σ_E.
NO_INPUTS, BAD_OUTPUT = 1, 2
REASONS: dict[int, str] = {NO_INPUTS: "non-finite sigma-model inputs",
                           BAD_OUTPUT: "sigma model output outside the physical range"}
#: Event-wise training / validation split of the calibration samples.
VALIDATION_FRACTION = 0.3
#: Validation objects a conformal bin needs for its own factor (else its group's): the 68 %
#: quantile of n objects has a coverage error of √(0.68·0.32/n), 1.5 points at 1000.
MIN_CONFORMAL_OBJECTS = 1000
#: E_T edges (GeV) of the per-group |η| factors: one bin (finer |η| × E_T cells of a few
#: hundred validation objects add ~2 points of coverage noise each; measured: per-(|η|, E_T)
#: factors left 2 of 16 electron bins outside the targets).
CONFORMAL_ET_EDGES: tuple[float, ...] = (ET_EDGES[0], ET_EDGES[-1])
#: E_T edges (GeV) of the separate E_T correction r (per channel, both conversions, every
#: |η| together, so that a bin holds enough objects where a cell could not): the
#: quantile model learns from few objects far above the Z Jacobian or the H→γγ E_T peak, and
#: with one E_T bin those objects were over-covered (measured: coverage68 0.705 for Z→ee CNN
#: electrons at 60-80 GeV, 0.71-0.72 for H→γγ BDT photons at 150-500 GeV).
CONFORMAL_ET_CORRECTION_EDGES: tuple[float, ...] = ET_EDGES
#: Objects an E_T-correction bin needs for its own r: its coverage error √(0.68·0.32/n) must
#: be below half the 2-point tolerance of the pull check (n ≥ 2176). Measured with 1000: the
#: Z→ee ``bdt_shapes`` 80-150 GeV r from 1160 objects (1.065) over-covered two test sets
#: (70.2 % and 70.8 %).
MIN_ET_CORRECTION_OBJECTS = 2500
#: Alternations of the |η| factors and the E_T correction (each estimated given the other).
CONFORMAL_PASSES = 2
#: Fixed-point steps of the true-E_T-binned E_T correction (:func:`et_correction`): r is
#: applied by reco E_T, so an object near a bin edge can take its neighbour's r; each step
#: rescales r by the residual quantile (measured: the third step moves r by < 1e-4).
ET_TRUE_ITERATIONS = 3
#: A p_T-sliced conformal-only sample (``calocoffea generate --boson-pt-min``) holds every
#: object of its process above the generator E_T of
#: :func:`calocoffea.sim.processes.complete_above_et` and a biased subset below; its objects
#: enter only the E_T-correction bins whose lower edge is this factor above that E_T (a
#: reconstructed E_T 20 % above the true one is ≳ 7σ for e/γ above 50 GeV), and never the
#: |η| factors nor the validation pulls (both inclusive in E_T).
SLICED_MARGIN = 0.2


def _shape_model(particle: str) -> str:
    return "electron" if particle == "electron" else "photon_converted"


def feature_names(calibration: str, particle: str) -> list[str]:
    """Input names of the σ model of ``calibration`` and ``particle``, in column order."""
    from calocoffea.bdt.inputs import feature_names as bdt_names

    if calibration not in SIGMA_MODEL_CALIBRATIONS:
        raise ValueError(f"no sigma model for calibration {calibration!r}")
    names = ["absEta", "et", "mu"]
    if calibration != "bdt":
        names.append("log_e_over_bdt")
    if calibration == "cnn":
        names.append("log_cnn_sigma_rel")
    if particle == "photon":
        names.append("converted")
    return names + [f"shape_{n}" for n in bdt_names(_shape_model(particle), "bdt_shapes")]


def input_columns(particle: str) -> tuple[str, ...]:
    """Object columns (:func:`calocoffea.bdt.columns.object_columns`) the features need."""
    from calocoffea.bdt.inputs import REQUIRED_COLUMNS

    return REQUIRED_COLUMNS[("bdt_shapes", particle)]


def usable(columns: Mapping[str, np.ndarray], particle: str) -> np.ndarray:
    """Objects whose shape inputs are finite (track columns may be NaN: no track)."""
    from calocoffea.bdt.columns import finite_inputs

    return finite_inputs(columns, particle, "bdt_shapes")


def feature_matrix(columns: Mapping[str, np.ndarray], particle: str, calibration: str, *,
                   energy: np.ndarray, e_bdt: np.ndarray, eta: np.ndarray, mu: np.ndarray,
                   cnn_sigma: np.ndarray | None = None) -> np.ndarray:
    """(n, n_features) float32 inputs of :func:`feature_names` for objects whose ``columns``
    are :func:`usable`; ``energy`` (GeV) under ``calibration``, ``e_bdt`` the ``bdt`` energy,
    ``cnn_sigma`` the CNN's own σ_E (GeV, ``cnn`` only), ``mu`` ⟨μ⟩ per object."""
    from calocoffea.bdt.inputs import feature_matrix as bdt_matrix
    from calocoffea.bdt.inputs import photon_is_converted

    energy = np.asarray(energy, np.float64)
    eta = np.asarray(eta, np.float64)
    cols = [np.abs(eta), energy / np.cosh(eta), np.asarray(mu, np.float64)]
    with np.errstate(divide="ignore", invalid="ignore"):
        if calibration != "bdt":
            cols.append(np.log(energy / np.asarray(e_bdt, np.float64)))
        if calibration == "cnn":
            if cnn_sigma is None:
                raise ValueError("the cnn sigma model needs the CNN's own sigma (cnn_sigma)")
            cols.append(np.log(np.asarray(cnn_sigma, np.float64) / energy))
    if particle == "photon":
        cols.append(photon_is_converted(np.asarray(columns["convType"])).astype(np.float64))
    shapes = bdt_matrix(columns, _shape_model(particle), "bdt_shapes")
    return np.column_stack([*cols, shapes]).astype(np.float32)


def model_paths(models_dir: Path, calibration: str, particle: str) -> tuple[Path, Path]:
    """(ONNX, card) of the σ model of ``calibration`` and ``particle`` in ``models_dir``."""
    stem = f"sigma_{calibration}_{particle}"
    return models_dir / f"{stem}.onnx", models_dir / f"{stem}.json"


def calibration_model_files(calibration: str, particle: str, models_dir: Path,
                            cnn_model: Path | None = None) -> list[Path]:
    """The model files whose predictions a σ model of ``calibration`` was trained on: the BDT
    models of the particle (both photon models), or the CNN (``cnn_model``, default the
    shipped one), plus the ``bdt`` models every σ model's features use."""
    from calocoffea.bdt.standard import model_paths as bdt_paths
    from calocoffea.energies import cnn_model_path

    models = ["electron"] if particle == "electron" else ["photon_unconverted",
                                                          "photon_converted"]
    files = [bdt_paths(models_dir, m, "bdt")[0] for m in models]
    if calibration == "bdt_shapes":
        files += [bdt_paths(models_dir, m, "bdt_shapes")[0] for m in models]
    if calibration == "cnn":
        files.append(Path(cnn_model) if cnn_model is not None else cnn_model_path(particle))
    return files


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(files: Iterable[Path]) -> dict[str, str]:
    """{file name: sha256} of the calibration models (what a card's ``trained_for`` holds)."""
    return {Path(p).name: _sha256(Path(p)) for p in files}


# ----------------------------------------------------------------------------- inference
@dataclass
class SigmaModel:
    """A loaded σ model: its card and its trees (:class:`calocoffea.bdt.forest.Forest`)."""

    calibration: str
    particle: str
    path: Path
    card: dict
    forest: Forest = field(repr=False)

    def sigma_rel(self, x: np.ndarray) -> np.ndarray:
        """σ_E/E (n,) float64 of the (n, n_features) inputs ``x``."""
        if len(x) == 0:
            return np.zeros(0)
        return self.forest.predict(x).astype(np.float64)

    def sigma(self, columns: Mapping[str, np.ndarray], *, energy: np.ndarray,
              e_bdt: np.ndarray, eta: np.ndarray, mu: np.ndarray,
              cnn_sigma: np.ndarray | None = None,
              channel: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(σ_E in GeV, reason code) per object: NaN with a :data:`REASONS` code where the
        inputs are not finite (no cluster, a non-positive energy, the CNN fell back) or the
        output is outside :data:`SIGMA_REL_RANGE`. ``channel``: the processor's (its
        conformal factors; None: those of every channel together)."""
        energy = np.asarray(energy, np.float64)
        n = len(energy)
        sigma = np.full(n, np.nan)
        code = np.zeros(n, np.uint8)
        ok = usable(columns, self.particle) & np.isfinite(energy) & (energy > 0)
        ok &= np.isfinite(np.asarray(e_bdt, np.float64)) & (np.asarray(e_bdt) > 0)
        if self.calibration == "cnn":
            cs = np.asarray(cnn_sigma, np.float64)
            ok &= np.isfinite(cs) & (cs > 0)
        code[~ok] = NO_INPUTS
        if ok.any():
            sub = {k: np.asarray(v)[ok] for k, v in columns.items()}
            x = feature_matrix(sub, self.particle, self.calibration, energy=energy[ok],
                               e_bdt=np.asarray(e_bdt)[ok], eta=np.asarray(eta)[ok],
                               mu=np.broadcast_to(np.asarray(mu, np.float64), (n,))[ok],
                               cnn_sigma=None if cnn_sigma is None else cs[ok])
            rel = self.sigma_rel(x) * conformal_factor(
                self.card, np.abs(np.asarray(eta, np.float64)[ok]),
                energy[ok] / np.cosh(np.asarray(eta, np.float64)[ok]),
                conversion_group(sub, self.particle), channel)
            bad = ~np.isfinite(rel) | (rel < SIGMA_REL_RANGE[0]) | (rel > SIGMA_REL_RANGE[1])
            rel[bad] = np.nan
            sigma[ok] = rel * energy[ok]
            idx = np.flatnonzero(ok)[bad]
            code[idx] = BAD_OUTPUT
        return sigma, code


def conversion_group(columns: Mapping[str, np.ndarray], particle: str) -> np.ndarray:
    """"unconverted"/"converted" per photon (their tails differ), "all" for electrons."""
    n = len(np.asarray(next(iter(columns.values()))))
    if particle != "photon":
        return np.full(n, "all", dtype=object)
    from calocoffea.bdt.inputs import photon_is_converted

    conv = photon_is_converted(np.asarray(columns["convType"]))
    return np.where(conv, "converted", "unconverted").astype(object)


def _groups(channel: np.ndarray, conversion: np.ndarray) -> np.ndarray:
    return np.char.add(np.char.add(np.asarray(channel, str), "/"), np.asarray(conversion, str))


def conformal_table(ratio: np.ndarray, abseta: np.ndarray, et: np.ndarray,
                    conversion: np.ndarray, channel: np.ndarray, *,
                    et_complete: np.ndarray | None = None,
                    et_true: np.ndarray | None = None) -> dict:
    """Conformal factors k · r(E_T) on the validation objects (split-conformal calibration
    of the quantile regression, Romano et al., NeurIPS 2019), ``ratio`` = |E − E_ref|/(E q̂)
    per object: the |η| factors k of :func:`eta_factors` and the E_T correction r of
    :func:`et_correction`, each the :data:`QUANTILE` quantile given the other
    (:data:`CONFORMAL_PASSES` alternations). With σ = k r q̂ E, |pull| < 1 holds for 68.27 %
    of the objects of each |η| bin of a group and of each E_T bin of a channel (true E_T
    given ``et_true``, GeV; else reco E_T ``et``: :func:`et_correction` says why true).
    ``et_complete`` (GeV, per object; 0 inclusive): objects of p_T-sliced samples, used
    only as :func:`et_correction` says."""
    r = np.ones(len(ratio))
    full = np.ones(len(ratio), bool) if et_complete is None else np.asarray(et_complete) <= 0
    for _ in range(CONFORMAL_PASSES):
        table = eta_factors((ratio / r)[full], abseta[full], et[full], conversion[full],
                            np.asarray(channel)[full])
        k = conformal_factor({"conformal": table}, abseta, et, conversion, channel)
        correction = et_correction(ratio / k, et, channel, et_complete, et_true=et_true)
        r = _et_factor(correction, et, channel)
    table["et_correction"] = correction
    table["definition"] = (f"k r = {QUANTILE} quantile of |E - E_ref|/(E q): k per group "
                           "<channel>/<conversion> and |eta| bin, r per channel and E_T bin "
                           f"(GeV; {correction['binning']}) of the validation objects; "
                           "sigma_E = k r q E with r looked up by reco E_T; a channel "
                           "without its group uses all/...")
    return table


def et_correction(ratio: np.ndarray, et: np.ndarray, channel: np.ndarray,
                  et_complete: np.ndarray | None = None, *,
                  et_true: np.ndarray | None = None) -> dict:
    """E_T correction r per channel and :data:`CONFORMAL_ET_CORRECTION_EDGES` bin, applied
    by reco E_T ``et`` (GeV, what the processors know), ``ratio`` = |E − E_ref|/(E q̂ k).

    With ``et_true`` (the generator E_T, GeV) r is **derived in true-E_T bins**: the fixed
    point (:data:`ET_TRUE_ITERATIONS` steps) at which |pull| < 1 holds for :data:`QUANTILE`
    of the objects of each true-E_T bin of a channel when r is applied by reco E_T. Why: σ_E
    is the resolution, the width of E around E_true, which bins of the true E_T measure.
    Binned in reco E_T, the quantile is that of E_true given E, which carries the channel's
    spectrum: at a kinematic edge (Z→μμγ photons at 40-50 GeV) the objects are mostly upward
    fluctuations, their pulls are shifted (measured median +0.35) and a reco-binned r
    over-covers the true-E_T bin (70.9 % for ``bdt``) while no σ scale gives a width of 1
    there (0.935 at exact coverage). Without ``et_true``, r is the quantile in reco bins.

    A bin with fewer than :data:`MIN_ET_CORRECTION_OBJECTS` (counted in the binning E_T)
    takes the "all" bin where that has enough, else 1; ``source`` says which, ``n`` counts
    the channel's objects (``n_sliced`` those of p_T-sliced samples: ``et_complete`` > 0, in a
    bin only if its lower edge is at least (1 + :data:`SLICED_MARGIN`) × ``et_complete``)."""
    if et_true is None:
        out = _et_rows(ratio, et, channel, et_complete)
        out["binning"] = "reco E_T (E/cosh eta under the calibration)"
        return out
    et_true = np.asarray(et_true, np.float64)
    out = _et_rows(ratio, et_true, channel, et_complete)
    for _ in range(ET_TRUE_ITERATIONS):
        step = _et_rows(ratio / _et_factor(out, et, channel), et_true, channel, et_complete)
        for name, row in out["channels"].items():
            row["r"] = [round(a * b, 5) for a, b in zip(row["r"], step["channels"][name]["r"],
                                                         strict=True)]
    out["binning"] = ("true E_T (generator), applied by reco E_T: |pull| < 1 for "
                      f"{QUANTILE} of each true-E_T bin ({ET_TRUE_ITERATIONS} fixed-point steps)")
    return out


def _et_rows(ratio: np.ndarray, et: np.ndarray, channel: np.ndarray,
             et_complete: np.ndarray | None = None) -> dict:
    """The :data:`QUANTILE` quantile of ``ratio`` per channel (and "all") and bin of ``et``
    (GeV): the table of :func:`et_correction`, binned in ``et``."""
    edges = CONFORMAL_ET_CORRECTION_EDGES
    je = np.clip(np.digitize(et, edges) - 1, 0, len(edges) - 2)
    chan = np.asarray(channel, str)
    floor = np.zeros(len(ratio)) if et_complete is None else np.asarray(et_complete, float)
    sliced = floor > 0
    out: dict = {"et_edges": list(edges), "channels": {}}
    every = None
    for name in ["all", *sorted(set(chan))]:
        sel = np.ones(len(ratio), bool) if name == "all" else chan == name
        r, n, n_sliced, source = [], [], [], []
        for j in range(len(edges) - 1):
            m = sel & (je == j) & (~sliced | (edges[j] >= (1 + SLICED_MARGIN) * floor))
            n.append(int(m.sum()))
            n_sliced.append(int((m & sliced).sum()))
            if n[-1] >= MIN_ET_CORRECTION_OBJECTS:
                r.append(round(float(np.quantile(ratio[m], QUANTILE)), 5))
                source.append(name)
            elif every is not None and every["source"][j] == "all":
                r.append(every["r"][j])
                source.append("all")
            else:
                r.append(1.0)
                source.append("none")
        entry = {"r": r, "n": n, "source": source}
        if sliced.any():
            entry["n_sliced"] = n_sliced
        if every is None:
            every = entry
        out["channels"][name] = entry
    return out


def _et_factor(correction: Mapping | None, et: np.ndarray,
               channel: str | np.ndarray | None) -> np.ndarray:
    """r per object of an :func:`et_correction` table (1 without one); a channel the table
    does not know takes the "all" row."""
    n = len(et)
    if not correction:
        return np.ones(n)
    edges = correction["et_edges"]
    je = np.clip(np.digitize(et, edges) - 1, 0, len(edges) - 2)
    rows = correction["channels"]
    out = np.asarray(rows["all"]["r"], np.float64)[je]
    chan = np.broadcast_to(np.asarray("all" if channel is None else channel, dtype=object),
                           (n,)).astype(str)
    for name in set(chan) & (set(rows) - {"all"}):
        m = chan == name
        out[m] = np.asarray(rows[name]["r"], np.float64)[je[m]]
    return out


def eta_factors(ratio: np.ndarray, abseta: np.ndarray, et: np.ndarray,
                conversion: np.ndarray, channel: np.ndarray) -> dict:
    """|η| factors k = the :data:`QUANTILE` quantile of ``ratio`` per group
    "<channel>/<conversion>" (the processor channel whose selection the object passed,
    :func:`sample_channel`, or "gun"; and :func:`conversion_group`) plus "all/<conversion>"
    over every channel, and per |η| × :data:`CONFORMAL_ET_EDGES` bin. Per channel because
    the selections differ in what the features do not see (measured: one factor for H→γγ and
    Z→μμγ photons left the Z→μμγ photons 1.5-2 points over-covered). A bin with fewer than
    :data:`MIN_CONFORMAL_OBJECTS` takes the same bin of the "all" group if that one has
    enough, else its group's inclusive factor; groups with fewer objects are left out (the
    "all" group stands in). E_T is E/cosh η (GeV)."""
    et_edges = CONFORMAL_ET_EDGES
    ie = np.clip(np.digitize(abseta, ABS_ETA_EDGES) - 1, 0, len(ABS_ETA_EDGES) - 2)
    je = np.clip(np.digitize(et, et_edges) - 1, 0, len(et_edges) - 2)
    shape = (len(ABS_ETA_EDGES) - 1, len(et_edges) - 1)
    inclusive = float(np.quantile(ratio, QUANTILE))

    def quantile(mask, default):
        return float(np.quantile(ratio[mask], QUANTILE)) \
            if mask.sum() >= MIN_CONFORMAL_OBJECTS else default

    groups: dict[str, dict] = {}
    names = _groups(channel, conversion)
    conv_names = np.asarray(conversion, str)
    for conv in sorted(set(conv_names)):
        every = None  # the all/<conversion> group: (k, n) per bin
        for name, sel in ([(f"all/{conv}", conv_names == conv)]
                          + [(g, names == g) for g in sorted(set(names[conv_names == conv]))]):
            base = groups.get(f"all/{conv}", {}).get("inclusive", inclusive)
            g_k = quantile(sel, base)
            if sel.sum() < MIN_CONFORMAL_OBJECTS:
                continue
            k = np.full(shape, g_k)
            n = np.zeros(shape, dtype=int)
            for i in range(shape[0]):
                for j in range(shape[1]):
                    m = sel & (ie == i) & (je == j)
                    n[i, j] = int(m.sum())
                    # a sparse bin (e.g. the crack of one channel) takes the bin of all
                    # channels where that is measured, before the group's inclusive factor
                    fallback = g_k if every is None or every[1][i, j] < MIN_CONFORMAL_OBJECTS \
                        else every[0][i, j]
                    k[i, j] = quantile(m, fallback)
            if every is None:
                every = (k, n)
            groups[name] = {"k": k.round(5).tolist(), "n": n.tolist(),
                            "inclusive": round(g_k, 5)}
    return {"abseta_edges": list(ABS_ETA_EDGES), "et_edges": list(et_edges),
            "groups": groups, "inclusive": round(inclusive, 5)}


def conformal_factor(card: Mapping, abseta: np.ndarray, et: np.ndarray,
                     conversion: np.ndarray, channel: str | np.ndarray | None) -> np.ndarray:
    """The card's conformal factor k · r per object (1 for a card without a table; r = 1 for
    a table without ``et_correction``); ``channel`` the processor's channel (None or one
    without a group: the "all" group), E_T = E/cosh η (GeV) under the calibration."""
    table = card.get("conformal")
    n = len(abseta)
    if not table:
        return np.ones(n)
    conversion = np.asarray(conversion, str)
    chan = np.broadcast_to(np.asarray("all" if channel is None else channel, dtype=object),
                           (n,)).astype(str)
    names = _groups(chan, conversion)
    fallback = _groups(np.full(n, "all"), conversion)
    ie = np.clip(np.digitize(abseta, table["abseta_edges"]) - 1, 0,
                 len(table["abseta_edges"]) - 2)
    je = np.clip(np.digitize(et, table["et_edges"]) - 1, 0, len(table["et_edges"]) - 2)
    out = np.full(n, float(table.get("inclusive", 1.0)))
    groups = table["groups"]
    for name in set(names) | set(fallback):
        if name not in groups:
            continue
        k = np.asarray(groups[name]["k"], np.float64)
        use = (names == name) | ((fallback == name) & ~np.isin(names, list(groups)))
        out[use] = k[ie[use], je[use]]
    return out * _et_factor(table.get("et_correction"), et, channel)


_CACHE: dict[tuple, SigmaModel] = {}


def load_sigma_model(models_dir: Path, calibration: str, particle: str) -> SigmaModel:
    """The σ model of ``calibration``/``particle`` in ``models_dir`` (cached per process).
    FileNotFoundError when absent; ValueError naming the file when its card does not match
    the inputs this code computes."""
    onnx_path, card_path = model_paths(Path(models_dir), calibration, particle)
    if not onnx_path.is_file() or not card_path.is_file():
        raise FileNotFoundError(f"no sigma model {onnx_path.name} (+ card) in {models_dir}")
    st = onnx_path.stat()
    key = (str(onnx_path.resolve()), st.st_mtime_ns, st.st_size)
    if key in _CACHE:
        return _CACHE[key]
    card = json.loads(card_path.read_text())
    expected = feature_names(calibration, particle)
    if card.get("features") != expected:
        raise ValueError(f"{card_path}: features {card.get('features')} differ from the "
                         f"inputs calocoffea computes {expected}")
    forest = load_forest(onnx_path)
    if forest.input_name != INPUT_NAME or forest.n_features != len(expected):
        raise ValueError(f"{onnx_path}: input {forest.input_name} [N, {forest.n_features}], "
                         f"expected {INPUT_NAME} [N, {len(expected)}]")
    model = SigmaModel(calibration, particle, onnx_path, card, forest)
    _CACHE[key] = model
    return model


def compatibility(model: SigmaModel, files: Iterable[Path]) -> str | None:
    """None when ``model`` was trained for these calibration model ``files``, else why not."""
    trained = model.card.get("trained_for") or {}
    now = fingerprint(files)
    diff = sorted(k for k in set(trained) | set(now) if trained.get(k) != now.get(k))
    if diff:
        return (f"{model.path.name} was trained for other calibration models "
                f"({', '.join(diff)} differ)")
    return None


# ----------------------------------------------------------------------------- training
@dataclass
class SigmaTrainingConfig:
    """What ``calocoffea train sigma`` trains: calibration samples per particle (MC with
    truth; never the calibrations' training files nor a test file), where the models go and
    the XGBoost settings. ``models_dir`` holds the calibration models the σ models are for
    (default: the shipped ones)."""

    electron: list[Path] = field(default_factory=list)
    photon: list[Path] = field(default_factory=list)
    #: samples for the conformal factors only (every object; never in the quantile fit nor
    #: its early stopping), per particle
    electron_conformal: list[Path] = field(default_factory=list)
    photon_conformal: list[Path] = field(default_factory=list)
    #: directory of σ models to recalibrate: their ONNX files are kept (copied to ``out``),
    #: the conformal table and validation are recomputed; the training samples must be
    #: those of their cards, in the same order (so that the validation split is theirs), or
    #: absent (the conformal set is then the conformal-only samples alone)
    recalibrate: Path | None = None
    out: Path = Path("models")
    models_dir: Path | None = None
    calibrations: tuple[str, ...] = SIGMA_MODEL_CALIBRATIONS
    seed: int = 1
    n_estimators: int = 1200
    max_depth: int = 5
    learning_rate: float = 0.05
    subsample: float = 0.8
    min_child_weight: float = 20.0
    early_stopping: int = 40
    nthread: int = 1
    chunk_entries: int = 20_000


@dataclass
class ObjectTable:
    """Every truth-matched object of the calibration samples of one particle: columns,
    energies per calibration (GeV), the CNN's own σ_E, E_ref (dressed), η, ⟨μ⟩, E_T,true
    and an event key per object (for the split)."""

    columns: dict[str, np.ndarray]
    energy: dict[str, np.ndarray]
    cnn_sigma: np.ndarray
    e_ref: np.ndarray
    e_bare: np.ndarray
    et_true: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    key: np.ndarray
    #: processor channel whose selection the object passed ("gun": none), per object
    channel: np.ndarray
    sources: list[dict]
    #: True for the objects of the conformal-only samples
    conformal_only: np.ndarray | None = None
    #: generator E_T (GeV) above which the object's sample is complete: 0 for inclusive
    #: samples, :func:`calocoffea.sim.processes.complete_above_et` for p_T-sliced ones
    et_complete: np.ndarray | None = None


def sample_channel(events) -> str | None:
    """The processor channel whose selection a calibration sample gets, from its generator
    record: ``hgamgam`` (a Higgs boson), ``zmumugamma`` (a Z with muon daughters), ``zee`` (a
    Z), None for particle guns (every object)."""
    pdg = np.abs(ak_flat(events.GenPart.pdgId))
    if np.any(pdg == 25):
        return "hgamgam"
    if np.any(pdg == 23):
        return "zmumugamma" if np.any(pdg == 13) else "zee"
    return None


def ak_flat(array) -> np.ndarray:
    import awkward as ak

    return np.asarray(ak.to_numpy(ak.flatten(array, axis=None)))


def selected_objects(events, particle: str, channel: str | None):
    """(event mask, objects of the selected events) of the truth-matched ``particle``
    objects with a cluster that the processor of ``channel`` selects
    (:mod:`calocoffea.selection`, default cuts), or all of them for ``channel`` None: the σ
    models are calibrated on the population the processors measure (e.g. Z→μμγ photons are
    ΔR > 0.4 from the muons)."""
    import awkward as ak

    from calocoffea import selection as sel

    coll = "Electron" if particle == "electron" else "Photon"
    if channel is not None:
        fn, cfg_cls = {"zee": (sel.select_zee, sel.ZeeSelection),
                       "hgamgam": (sel.select_hgamgam, sel.HgamgamSelection),
                       "zmumugamma": (sel.select_zmumugamma, sel.ZmumugammaSelection)}[channel]
        chosen = fn(events, cfg_cls())
        mask = np.asarray(chosen.mask, dtype=bool)
        objects = events[mask][coll][ak.from_regular(chosen.calo_index)]
    else:
        mask = np.ones(len(events), dtype=bool)
        objects = events[coll]
    keep = (objects.genPartIdx >= 0) & (objects.clusterIdx >= 0)
    return mask, objects[keep]


def collect_objects(files: list[Path], particle: str, *, models_dir: Path | None = None,
                    chunk_entries: int = 20_000, conformal_from: int | None = None
                    ) -> ObjectTable:
    """Read the truth-matched ``particle`` objects with a cluster that the processors select
    from ``files`` (:func:`selected_objects`; the channel from :func:`sample_channel`) and
    evaluate the three calibrations on them (the processors' functions,
    :mod:`calocoffea.energies`); the objects of ``files[conformal_from:]`` are marked
    ``conformal_only``."""
    import awkward as ak
    import uproot
    from coffea.nanoevents import NanoEventsFactory

    import calocoffea.energies as calib
    from calocoffea.bdt.columns import object_columns
    from calocoffea.schema import CaloNanoAODSchema

    parts: list[dict] = []
    sources = []
    for i, name in enumerate(files):
        path = Path(name)
        with uproot.open(path) as f:
            n_entries = f["Events"].num_entries
        n_obj = 0
        for start in range(0, n_entries, chunk_entries):
            # virtual: only the branches used are read (eager builds every cross-reference
            # of every collection: 4.3x slower on a 200k-event Z->mumugamma file, same table)
            ev = NanoEventsFactory.from_root(
                {str(path): "Events"}, schemaclass=CaloNanoAODSchema, mode="virtual",
                entry_start=start, entry_stop=min(start + chunk_entries, n_entries)).events()
            if "GenPart" not in ev.fields:
                raise ValueError(f"{path}: no GenPart collection: sigma models need MC truth")
            if start == 0:
                channel = sample_channel(ev)
                pt_min = sample_boson_pt_min(ev, path)
                et_complete = 0.0
                if pt_min > 0:
                    from calocoffea.sim.processes import complete_above_et

                    if conformal_from is None or i < conformal_from:
                        raise ValueError(
                            f"{path}: a p_T-sliced sample (boson p_T >= {pt_min:g} GeV) can "
                            "only be a conformal-only sample (its objects below "
                            "the E_T where it is complete are a biased subset)")
                    et_complete = complete_above_et(channel, pt_min)
            mask, obj = selected_objects(ev, particle, channel)
            ev = ev[mask]
            entries = np.arange(start, start + len(mask))[mask]
            cnt = ak.to_numpy(ak.num(obj))
            entry = entries[cnt > 0]
            ev, obj = ev[cnt > 0], obj[cnt > 0]
            cnt = cnt[cnt > 0]
            if len(ev) == 0:
                continue
            std = calib.standard_energy(obj)
            cols = object_columns(obj, particle)
            e_bdt, _ = calib.bdt_model_energy(obj, particle, std, "bdt", models_dir,
                                              columns=cols)
            e_sh, _ = calib.shapes_energy(obj, particle, e_bdt, models_dir, columns=cols)
            cnn_path = None if models_dir is None else Path(models_dir) / \
                f"deepcalo_{particle}.onnx"
            pred = calib.cnn_prediction(obj, ev, particle, e_bdt, cnn_path)
            bare, et_true = calib.true_energy(obj)
            ref = calib.dressed_true_energy(obj, ev) if particle == "electron" else bare
            event = np.repeat(entry, cnt)
            mu = np.repeat(ak.to_numpy(ev.Pileup.nTrueInt).astype(np.float64), cnt)
            energy = {"bdt": e_bdt, "bdt_shapes": e_sh,
                      "cnn": np.where(pred.fallback, np.nan, pred.energy)}
            parts.append(dict(columns=cols, energy=energy, cnn_sigma=pred.sigma, e_ref=ref,
                              e_bare=bare, et_true=et_true,
                              eta=ak.to_numpy(ak.flatten(obj.eta)).astype(np.float64), mu=mu,
                              key=(np.int64(i) << 40) + event.astype(np.int64),
                              channel=np.full(len(e_bdt), channel or "gun", dtype=object),
                              conformal_only=np.full(len(e_bdt), conformal_from is not None
                                                     and i >= conformal_from),
                              et_complete=np.full(len(e_bdt), et_complete)))
            n_obj += len(e_bdt)
        sources.append({"path": str(path), "sha256": _sha256(path), "n_objects": n_obj,
                        "selection": channel or "none (particle gun: every object)",
                        **({"use": "conformal factors only"} if conformal_from is not None
                           and i >= conformal_from else {}),
                        **({"boson_pt_min": pt_min, "complete_above_et": round(et_complete, 3),
                            "use": "E_T correction above "
                                   f"{(1 + SLICED_MARGIN) * et_complete:.1f} GeV only"}
                           if et_complete > 0 else {})})
        log.info("%s: %d %ss", path, n_obj, particle)
    if not parts:
        raise ValueError(f"no truth-matched {particle}s in {[str(f) for f in files]}")

    def cat(get):
        return np.concatenate([get(p) for p in parts])

    return ObjectTable(
        columns={k: cat(lambda p, k=k: np.asarray(p["columns"][k])) for k in parts[0]["columns"]},
        energy={c: cat(lambda p, c=c: p["energy"][c]) for c in parts[0]["energy"]},
        cnn_sigma=cat(lambda p: np.asarray(p["cnn_sigma"], np.float64)),
        e_ref=cat(lambda p: p["e_ref"]), e_bare=cat(lambda p: p["e_bare"]),
        et_true=cat(lambda p: p["et_true"]), eta=cat(lambda p: p["eta"]),
        mu=cat(lambda p: p["mu"]), key=cat(lambda p: p["key"]),
        channel=cat(lambda p: p["channel"]), sources=sources,
        conformal_only=cat(lambda p: p["conformal_only"]),
        et_complete=cat(lambda p: p["et_complete"]))


def _split(keys: np.ndarray, seed: int) -> np.ndarray:
    """True for validation objects, drawn per event."""
    uniq, inverse = np.unique(keys, return_inverse=True)
    return (np.random.default_rng([seed, 17]).random(len(uniq)) < VALIDATION_FRACTION)[inverse]


def _pull_stats(pull: np.ndarray) -> dict[str, float | int]:
    q25, q75 = np.percentile(pull, [25, 75])
    return {"n": len(pull), "pull_width": float((q75 - q25) / 1.349),
            "coverage68": float(np.mean(np.abs(pull) < 1)),
            "coverage95": float(np.mean(np.abs(pull) < 2))}


def validation_pulls(pull: np.ndarray, abseta: np.ndarray, et: np.ndarray,
                     mu: np.ndarray, min_objects: int = 200) -> dict:
    """Inclusive and per-bin (|η|, E_T,true, ⟨μ⟩) pull width and coverage of ``pull``."""
    out: dict = {"inclusive": _pull_stats(pull), "bins": {}}
    for name, v, edges in (("abseta", abseta, ABS_ETA_EDGES), ("et", et, ET_EDGES),
                           ("mu", mu, MU_EDGES)):
        rows = []
        for lo, hi in itertools.pairwise(edges):
            m = (v >= lo) & (v < hi)
            if m.sum() >= min_objects:
                rows.append({"lo": float(lo), "hi": float(hi), **_pull_stats(pull[m])})
        out["bins"][name] = rows
    return out


def export_onnx(booster, n_features: int, path: Path, name: str) -> None:
    """The booster as ONNX: float32 ``features`` [N, n_features] -> ``sigma_rel`` [N, 1]."""
    from calocoffea.bdt import training

    training.export_onnx(booster, n_features, path, name=name)
    import onnx

    m = onnx.load(str(path))
    for node in m.graph.node:
        node.output[:] = [OUTPUT_NAME if o == training.OUTPUT_NAME else o for o in node.output]
    m.graph.output[0].name = OUTPUT_NAME
    path.write_bytes(m.SerializeToString())


def reproduce_command(cfg: SigmaTrainingConfig, *, recalibrate: bool = False) -> str:
    """The ``calocoffea train sigma`` command of ``cfg`` (with ``--recalibrate`` only if
    asked: otherwise the command that trains the models from scratch)."""
    parts = ["calocoffea", "train", "sigma"]
    for flag, files in (("--electron", cfg.electron), ("--photon", cfg.photon),
                        ("--electron-conformal", cfg.electron_conformal),
                        ("--photon-conformal", cfg.photon_conformal)):
        if files:
            parts += [flag, *map(str, files)]
    parts += ["--out", str(cfg.out), "--calibrations", ",".join(cfg.calibrations),
              "--seed", str(cfg.seed), "--n-estimators", str(cfg.n_estimators),
              "--max-depth", str(cfg.max_depth), "--learning-rate", str(cfg.learning_rate),
              "--nthread", str(cfg.nthread)]
    if cfg.models_dir is not None:
        parts += ["--models", str(cfg.models_dir)]
    if recalibrate and cfg.recalibrate is not None:
        parts += ["--recalibrate", str(cfg.recalibrate)]
    return shlex.join(parts)


def _recalibration_source(cfg: SigmaTrainingConfig, table: ObjectTable, calibration: str,
                          particle: str, *, names: list[str], files: list[Path]) -> dict:
    """The card of the σ model ``cfg.recalibrate`` holds, checked: same features, trained for
    the calibration models in use, on the samples of ``table`` that are not conformal-only
    (same files in the same order: the validation split is then the card's), unless
    ``table`` has conformal-only samples alone (then no split is reproduced)."""
    onnx_path, card_path = model_paths(Path(cfg.recalibrate), calibration, particle)
    if not onnx_path.is_file() or not card_path.is_file():
        raise FileNotFoundError(f"no sigma model {onnx_path.name} (+ card) to recalibrate in "
                                f"{cfg.recalibrate}")
    card = json.loads(card_path.read_text())
    if card.get("features") != names:
        raise ValueError(f"{card_path}: features differ from the inputs calocoffea computes")
    if card.get("trained_for") != fingerprint(files):
        raise ValueError(f"{card_path}: trained for other calibration models than "
                         f"{[str(f) for f in files]}")
    fit = [(Path(x["path"]).name, x["sha256"]) for x in table.sources if "use" not in x]
    had = [(Path(x["path"]).name, x["sha256"]) for x in card["training"]["samples"]
           if "use" not in x]
    if fit and fit != had:  # no training samples: a conformal-only recalibration
        raise ValueError(f"{card_path}: trained on {[n for n, _ in had]}, not on the samples "
                         f"given ({[n for n, _ in fit]}, same order needed for its split)")
    if card["training"]["params"]["seed"] != cfg.seed:
        raise ValueError(f"{card_path}: split seed {card['training']['params']['seed']}, "
                         f"not --seed {cfg.seed}")
    card["_onnx"] = onnx_path
    return card


def train_one(table: ObjectTable, particle: str, calibration: str, cfg: SigmaTrainingConfig,
              models_dir: Path) -> dict:
    """Train (or, with ``cfg.recalibrate``, load), export and validate the σ model of
    ``calibration``/``particle``; returns its card (also written beside the ONNX file in
    ``cfg.out``). The conformal factors come from the validation split plus every
    conformal-only object."""
    import shutil

    import onnxruntime as ort
    import xgboost as xgb

    energy = table.energy[calibration]
    ok = (usable(table.columns, particle) & np.isfinite(energy) & (energy > 0)
          & np.isfinite(table.e_ref) & (table.e_ref > 0) & np.isfinite(table.energy["bdt"]))
    if calibration == "cnn":
        ok &= np.isfinite(table.cnn_sigma) & (table.cnn_sigma > 0)
    idx = np.flatnonzero(ok)
    sub = {k: v[idx] for k, v in table.columns.items()}
    x = feature_matrix(sub, particle, calibration, energy=energy[idx],
                       e_bdt=table.energy["bdt"][idx], eta=table.eta[idx], mu=table.mu[idx],
                       cnn_sigma=table.cnn_sigma[idx] if calibration == "cnn" else None)
    resid = (energy[idx] - table.e_ref[idx]) / energy[idx]
    y = np.abs(resid)
    only = (np.zeros(len(idx), bool) if table.conformal_only is None
            else np.asarray(table.conformal_only, bool)[idx])
    split_val = _split(table.key[idx], cfg.seed) & ~only
    fit = ~split_val & ~only
    val = split_val | only  # the conformal set
    # a recalibration on conformal-only samples alone: every object is in the conformal set
    conformal_alone = cfg.recalibrate is not None and bool(only.all())
    names = feature_names(calibration, particle)
    files = calibration_model_files(calibration, particle, models_dir)
    cfg.out.mkdir(parents=True, exist_ok=True)
    onnx_path, card_path = model_paths(cfg.out, calibration, particle)
    tmp = onnx_path.with_name(f".{onnx_path.name}.tmp")
    if cfg.recalibrate is not None:
        old = _recalibration_source(cfg, table, calibration, particle, names=names,
                                    files=files)
        shutil.copyfile(old.pop("_onnx"), tmp)
        training = old["training"]
        params, n_trees, seconds = training["params"], training["n_trees"], training["seconds"]
        # the quantile model's own samples (no "use" key: the check above finds them)
        booster_samples = [x for x in training["samples"] if "use" not in x]
        agreement = old["onnx_vs_xgboost_max_rel_diff"]
        sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        p_onnx = sess.run(None, {INPUT_NAME: x[val]})[0].reshape(-1).astype(np.float64)
    else:
        params = {"objective": "reg:quantileerror", "quantile_alpha": QUANTILE,
                  "tree_method": "hist", "max_depth": cfg.max_depth, "eta": cfg.learning_rate,
                  "subsample": cfg.subsample, "min_child_weight": cfg.min_child_weight,
                  "seed": cfg.seed, "nthread": cfg.nthread,
                  "base_score": float(np.quantile(y[fit], QUANTILE))}
        dtr = xgb.DMatrix(x[fit], label=y[fit], feature_names=names)
        dva = xgb.DMatrix(x[split_val], label=y[split_val], feature_names=names)
        t0 = time.perf_counter()
        booster = xgb.train(params, dtr, num_boost_round=cfg.n_estimators,
                            evals=[(dva, "validation")],
                            early_stopping_rounds=cfg.early_stopping, verbose_eval=False)
        seconds = round(time.perf_counter() - t0, 1)
        n_trees = int(booster.best_iteration + 1)
        booster = booster[:n_trees]
        export_onnx(booster, len(names), tmp, name=f"sigma_{calibration}_{particle}")
        sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        p_onnx = sess.run(None, {INPUT_NAME: x[val]})[0].reshape(-1).astype(np.float64)
        p_xgb = booster.predict(xgb.DMatrix(x[val], feature_names=names))
        agreement = float(np.max(np.abs(p_onnx - p_xgb) / np.maximum(np.abs(p_xgb), 1e-6)))
        if agreement > 1e-4:
            tmp.unlink()
            raise RuntimeError(f"sigma_{calibration}_{particle}: ONNX and XGBoost differ by "
                               f"{agreement:.2e} (relative)")
    ae_va = np.abs(table.eta[idx][val])
    et_va = energy[idx][val] / np.cosh(table.eta[idx][val])
    conv_va = conversion_group(sub, particle)[val]
    chan_va = table.channel[idx][val]
    et_complete = (np.zeros(len(idx)) if table.et_complete is None
                   else np.asarray(table.et_complete, np.float64)[idx])[val]
    conformal = conformal_table(np.abs(resid[val]) / np.maximum(p_onnx, 1e-6), ae_va, et_va,
                                conv_va, chan_va, et_complete=et_complete,
                                et_true=table.et_true[idx][val])
    rel = np.clip(p_onnx * conformal_factor({"conformal": conformal}, ae_va, et_va, conv_va,
                                            chan_va), *SIGMA_REL_RANGE)
    # validation pulls on the inclusive samples (a sliced one is biased below its E_T)
    full = et_complete <= 0
    pulls = validation_pulls((resid[val] / rel)[full], np.abs(table.eta[idx][val])[full],
                             table.et_true[idx][val][full], table.mu[idx][val][full])
    bare = ((energy[idx][val] - table.e_bare[idx][val]) / (energy[idx][val] * rel))[full]
    card = {
        "name": f"sigma_{calibration}_{particle}",
        "calibration": calibration,
        "particle": particle,
        "definition": (f"sigma_E = E_{calibration} * q(x), q the {QUANTILE} quantile of "
                       f"|E_{calibration} - E_ref|/E_{calibration} (XGBoost quantile loss)"),
        "reference": ("generator electron dressed with its FSR photons within dR < "
                      f"{DRESSING_DR}" if particle == "electron" else "generator photon"),
        "features": names,
        "input": {"name": INPUT_NAME, "shape": [None, len(names)], "dtype": "float32"},
        "output": {"name": OUTPUT_NAME, "unit": "relative (sigma_E / E)",
                   "physical_range": list(SIGMA_REL_RANGE)},
        "trained_for": fingerprint(files),
        "conformal": conformal,
        "training": {"samples": booster_samples + table.sources if conformal_alone
                     else table.sources,
                     "n_train": training["n_train"] if conformal_alone else int(fit.sum()),
                     "n_validation": training["n_validation"] if conformal_alone
                     else int(split_val.sum()),
                     "n_conformal": int(val.sum()), "split": "per event, "
                     f"{VALIDATION_FRACTION} validation, seed {cfg.seed}; the conformal set "
                     + ("is the conformal-only samples alone" if conformal_alone else
                        "is the validation split plus the conformal-only samples"),
                     "params": params, "n_trees": n_trees, "seconds": seconds},
        "validation": {"note": "on the conformal set (" + (
                           "the conformal-only samples" if conformal_alone else
                           "the validation split, which also sets the early stopping, and "
                           "the conformal-only samples") + ", p_T-sliced ones left out): "
                           "in-sample for k and r; test on held-out files",
                       "reference": pulls,
                       "bare_truth": {"inclusive": _pull_stats(bare)}},
        "onnx_vs_xgboost_max_rel_diff": agreement,
        "reproduce": old["reproduce"] if conformal_alone else reproduce_command(cfg),
    }
    if cfg.recalibrate is not None:
        src = model_paths(Path(cfg.recalibrate), calibration, particle)[1]
        card["recalibrated"] = (
            f"conformal table and validation recomputed for the ONNX model of {src}; " + (
                "the reproduce command trains that model, recalibration_command then makes "
                "this card" if conformal_alone else
                "the reproduce command trains on the same objects with the same split and "
                "seed"))
        if conformal_alone:
            card["recalibration_command"] = reproduce_command(cfg, recalibrate=True)
    tmp.replace(onnx_path)
    tmp_card = card_path.with_name(f".{card_path.name}.tmp")
    tmp_card.write_text(json.dumps(card, indent=1) + "\n")
    tmp_card.replace(card_path)
    log.info("%s: validation pulls %s", card["name"], pulls["inclusive"])
    return card


def train_sigma_models(cfg: SigmaTrainingConfig) -> dict[str, dict[str, dict]]:
    """Train the σ models of every particle with files and every calibration of ``cfg``;
    returns {particle: {calibration: card}}."""
    from calocoffea.resources import models_dir as default_models

    unknown = [c for c in cfg.calibrations if c not in SIGMA_MODEL_CALIBRATIONS]
    if unknown:
        raise ValueError(f"no sigma model for {unknown}; known {SIGMA_MODEL_CALIBRATIONS}")
    models_dir = Path(cfg.models_dir) if cfg.models_dir is not None else default_models()
    out: dict[str, dict[str, dict]] = {}
    if cfg.recalibrate is not None and \
            Path(cfg.recalibrate).resolve() == Path(cfg.out).resolve():
        raise ValueError(f"--recalibrate {cfg.recalibrate} is also --out: the recalibrated "
                         "models would overwrite their inputs; write them elsewhere")
    for particle, files, extra in (("electron", cfg.electron, cfg.electron_conformal),
                                   ("photon", cfg.photon, cfg.photon_conformal)):
        if extra and not files and cfg.recalibrate is None:
            raise ValueError(f"{particle}: conformal-only samples need the training samples "
                             "(or --recalibrate: a conformal set of them alone)")
        if not files and not extra:
            continue
        for f in [*files, *extra]:
            if not Path(f).is_file():
                raise FileNotFoundError(f"{f}: no such calibration sample")
        both = {Path(f).resolve() for f in files} & {Path(f).resolve() for f in extra}
        if both:
            raise ValueError(f"{sorted(map(str, both))}: both a training and a conformal-only "
                             "sample")
        table = collect_objects([*files, *extra], particle, models_dir=cfg.models_dir,
                                chunk_entries=cfg.chunk_entries,
                                conformal_from=len(files) if extra else None)
        if table.et_complete is not None and bool(np.all(table.et_complete > 0)):
            raise ValueError(f"{particle}: p_T-sliced samples alone cannot set the |eta| "
                             "factors; add inclusive conformal-only samples")
        for cal in cfg.calibrations:
            out.setdefault(particle, {})[cal] = train_one(table, particle, cal, cfg,
                                                          models_dir)
    if not out:
        raise ValueError("no calibration samples given (electron and/or photon files)")
    return out


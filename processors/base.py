"""Shared coffea processor for the e/γ calibration channels.

A channel (``processors.zee``, ``processors.zmumugamma``, ``processors.hgamgam``) only says
which collection holds its calibrated objects, how many per event, how to select them
(:mod:`calocoffea.selection`) and how to categorise an event in |η|; everything else lives
here: per-object energies under each calibration (:mod:`calocoffea.energies`), the
invariant mass recomputed per calibration, the ``response`` and ``mass`` histograms of
:mod:`calocoffea.histograms`, the cutflow and the run metadata.

Output of :meth:`CaloProcessor.process` (merged by ``coffea.processor.accumulate``), keyed
by dataset as coffea users expect (``out["zee_mc"]["mass"]``; the dataset name comes from
``events.metadata["dataset"]``, :data:`calocoffea.execution.outputs.UNNAMED_DATASET`
without one)::

    {dataset: {"response": SparseHist, "mass": SparseHist, "pull": SparseHist,
               "pull_et_reco": SparseHist, "sigma_m": SparseHist (two-object channels),
               "pileup": hist.Hist,
               "sum_genweight": Fraction, "cutflow": {step: int}, "meta": {key: set}}}

Per-object energy uncertainties σ_E (:mod:`calocoffea.uncertainty`): the CNN's own output
and, for ``bdt`` and ``bdt_shapes``, the resolution table σ_rel(|η|, E_T) measured on
held-out MC (``resolution``). Objects without a σ_E are counted per calibration and reason
(``cutflow["no <calibration> sigma: <reason>"]``); in MC the ``pull`` histogram holds
(E − E_true)/σ_E (binned in true E_T; ``pull_et_reco`` the same pulls in the calibrated
E_T, the σ models' conditioning); two-object channels fill ``sigma_m`` (mass versus σ_m/m =
½ √((σ_1/E_1)² + (σ_2/E_2)²)), events without one counted in ``cutflow["no <calibration>
sigma_m"]``.

:meth:`CaloProcessor.postprocess` (called by ``processor.Runner``) turns, per dataset, the
sparse histograms into the ``hist.Hist`` of :mod:`calocoffea.histograms` and single-valued
``meta`` sets into plain values (``meta["channel"] == "zee"``, ``meta["kind"] == "mc"``; a
dataset mixing MC and data files gets ``meta["kind"] == ["data", "mc"]``, which the fits
refuse) and applies the dataset's xsec × lumi normalisation
(:func:`calocoffea.weights.normalise_output`). Weights are exactly representable (±1 by
default, times pile-up weights rounded to :data:`calocoffea.weights.WEIGHT_QUANTUM`) so that
histogram sums do not depend on the order in which chunks are filled and merged.

Files without ``Cluster``/``CaloCell`` (real CMS NanoAOD) are processed in
standard-calibration-only mode (no ``cnn`` or ``bdt_shapes`` entries: both read the cells),
announced by a single :class:`StandardOnlyWarning` per process and recorded in
``meta["cnn_dropped"]`` / ``meta["bdt_shapes_dropped"]``, but only when the calibrations were
left to their default: either asked for explicitly on such a file is an error
(:class:`calocoffea.validation.InputDataError`).

Every chunk is validated first (:mod:`calocoffea.validation`): index columns, the cell
grouping, the columns weights and axes come from; a violation raises
:class:`~calocoffea.validation.InputDataError` naming file, branch, entry and value. Nothing
leaves a histogram without a count: objects with non-finite kinematics are rejected by the
selection (``cutflow["rejected: non-finite <Collection> kinematics"]``), CNN fallbacks are
counted per reason (``cutflow["fallback: <reason>"]``, their sum ``cutflow["fallback"]``), and
selected events without a finite mass under a calibration are counted in
``cutflow["no <calibration> mass"]`` (in MC: unmatched truth).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import awkward as ak
import numpy as np
from coffea import processor

from calocoffea import binning, resources, stitching, validation
from calocoffea import energies as calib
from calocoffea import uncertainty as unc
from calocoffea.categories import sigma_m_over_m
from calocoffea.channels import CHANNELS, RESPONSE_CALIBRATIONS
from calocoffea.execution.outputs import UNNAMED_DATASET
from calocoffea.histograms import HISTOGRAM_KEYS
from calocoffea.kinematics import invariant_mass, massless_p4
from calocoffea.selection import ObjectCuts, Selected
from calocoffea.sparsehist import SparseHist

log = logging.getLogger(__name__)

#: Event-weight modes: "sign" (sign of genWeight in MC, 1 in data), "unit" (always 1).
WEIGHT_MODES: tuple[str, ...] = ("sign", "unit")
#: calibrations that read the cluster cells: dropped (default) or refused (explicit) for files
#: without them
_NEED_CELLS: tuple[str, ...] = ("cnn", "bdt_shapes")


class StandardOnlyWarning(UserWarning):
    """A file without calorimeter cells is processed with the standard calibration only."""


_warned_standard_only = False


def _warn_standard_only(filename: str) -> None:
    global _warned_standard_only
    if _warned_standard_only:
        return
    _warned_standard_only = True
    warnings.warn(
        f"{filename}: no Cluster/CaloCell collections (e.g. real CMS NanoAOD); running in "
        "standard-calibration-only mode: histograms get 'bdt' (and in MC 'truth') entries "
        "but no 'cnn'. This warning is shown once per process.",
        StandardOnlyWarning,
        stacklevel=3,
    )


class CaloProcessor(processor.ProcessorABC):
    """Base class: select → calibrate → recompute masses → fill histograms.

    Parameters
    ----------
    selection
        The channel's selection configuration (default: the channel's default dataclass).
    calibrations
        Subset of ("bdt", "bdt_shapes", "cnn", "truth"); default all of them. Every model
        must load either way (a missing or broken model is an error, never a silent
        downgrade); with the default, ``cnn`` and ``bdt_shapes`` are dropped only for files
        without cells (standard-only mode, see the module docstring). "truth" is skipped in
        data.
    model_path
        CNN model file (default ``models/deepcalo_<particle>.onnx``).
    bdt_models
        Directory of the ``bdt_shapes_*`` models (default: the shipped models).
    weights
        "sign" (default: sign of ``genWeight`` in MC, 1 in data) or "unit". Both keep
        histogram sums exact and therefore independent of the execution order.
    resolution
        BDT resolution table (correctionlib JSON of :mod:`calocoffea.uncertainty`; default
        :func:`calocoffea.resources.resolution_table_path`). A file given here must exist; a
        missing default leaves the BDTs without σ_E, counted per object in the cutflow.
    precision
        CNN precision, "int8" or "fp32" (:func:`calocoffea.cnn.quantize.resolve_precision`):
        default int8 where an int8 model beside the float one passed its resolution guard,
        else fp32; "int8" with no usable int8 model is an error
        (:class:`calocoffea.cnn.quantize.PrecisionError`). Recorded in ``meta["precision"]``.
    pileup
        correctionlib file with correction ``pileup`` (``calocoffea pileup``): MC events
        are weighted by w(``Pileup_nTrueInt``), rounded to
        :data:`calocoffea.weights.WEIGHT_QUANTUM` (sums stay exact); data are not.
    lumi
        Integrated luminosity (pb⁻¹): an MC dataset with ``xsec`` (pb) in its fileset
        metadata is scaled by xsec × lumi / Σ genWeight in ``postprocess``
        (:func:`calocoffea.weights.normalise_output`).
    sigma_models
        Directory of the σ_E models (:mod:`calocoffea.sigma`; default: the directory of the
        BDT models) or "none". On files with cells each calibration with a σ model trained
        for the calibration models in use takes its σ_E from it; the others keep the
        resolution table (BDTs) or the CNN's own σ. ``meta["sigma_source"]`` says which.
    corrections
        correctionlib file of ``calocoffea corrections``: the energies entering the masses
        are scaled (data, ``EGMScale_<calibration>``) or smeared with deterministic normals
        per (event, object) (MC, ``EGMSmearing_<calibration>``), for every calibration the
        file has; ``correction_syst`` picks nominal, up or down.

    A subclass names its ``channel`` (a key of :data:`calocoffea.channels.CHANNELS`, which
    gives ``collection``, ``particle`` and ``n_calo``), its ``selection_class`` and the
    ``selector`` function applying it.
    """

    #: Channel name (key of :data:`calocoffea.channels.CHANNELS`).
    channel: ClassVar[str]
    #: Collection holding the calibrated objects and their particle type (from CHANNELS).
    collection: ClassVar[str]
    particle: ClassVar[str]
    #: Number of calibrated objects per selected event (from CHANNELS).
    n_calo: ClassVar[int]
    #: Number of |η| categories of the mass histogram.
    n_categories: ClassVar[int] = len(binning.eta_pair_categories())
    #: Selection configuration class of the channel and the function applying it.
    selection_class: ClassVar[type]
    selector: ClassVar[Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = CHANNELS[cls.channel]
        cls.collection = spec.collection
        cls.particle = spec.particle
        cls.n_calo = spec.n_objects

    def __init__(
        self,
        selection: Any = None,
        calibrations: tuple[str, ...] | list[str] | None = None,
        model_path: str | Path | None = None,
        weights: str = "sign",
        bdt_models: str | Path | None = None,
        *,
        resolution: str | Path | None = None,
        precision: str | None = None,
        pileup: str | Path | None = None,
        lumi: float | None = None,
        corrections: str | Path | None = None,
        correction_syst: str = "nominal",
        sigma_models: str | Path | None = None,
    ) -> None:
        self.selection = selection if selection is not None else self.selection_class()
        if not isinstance(self.selection, self.selection_class):
            raise TypeError(
                f"{type(self).__name__} needs a {self.selection_class.__name__}, "
                f"got {type(self.selection).__name__}"
            )
        if weights not in WEIGHT_MODES:
            raise ValueError(f"weights must be one of {WEIGHT_MODES}, got {weights!r}")
        self.weights = weights
        # absolute, so that workers with another working directory find the same file
        self.model_path = str(Path(model_path).resolve()) if model_path is not None else None
        self.bdt_models = str(Path(bdt_models).resolve()) if bdt_models is not None else None
        known = calib.CALIBRATIONS
        reasons = {
            "cnn": lambda: calib.cnn_unavailable_reason(self.particle, self.model_path),
            "bdt_shapes": lambda: calib.shapes_unavailable_reason(self.bdt_models),
        }
        #: calibrations needing cells that were asked for explicitly: a file without cells
        #: is then an error
        self.cells_explicit = tuple(
            c for c in _NEED_CELLS if calibrations is not None and c in calibrations
        )
        if calibrations is None:
            wanted = list(known)
            for c in known:
                reason = reasons[c]() if c in reasons else None
                if reason is not None:
                    others = ",".join(x for x in known if x != c)
                    raise FileNotFoundError(
                        f"calibration {c!r} unavailable: {reason}; pass calibrations without "
                        f"it (--calibrations {others}) to run without it"
                    )
        else:
            wanted = list(calibrations)
            unknown = sorted(set(wanted) - set(known))
            if unknown:
                raise ValueError(f"unknown calibrations {unknown}; known: {known}")
            for c in wanted:
                reason = reasons[c]() if c in reasons else None
                if reason is not None:
                    raise FileNotFoundError(f"calibration {c!r} requested but {reason}")
        self.calibrations = tuple(c for c in known if c in wanted)
        #: CNN precision in use ("int8"/"fp32"; None without the CNN)
        self.precision: str | None = None
        if "cnn" in self.calibrations:
            from calocoffea.cnn.quantize import resolve_precision

            path, self.precision = resolve_precision(
                calib.cnn_model_path(self.particle, self.model_path), precision)
            if self.precision == "int8":
                self.model_path = str(path.resolve())
        self.model_info = self._model_info() if "cnn" in self.calibrations else {}
        #: resolution table path (absolute) or None; why it is unavailable, if it is
        self.resolution, self.resolution_missing = self._resolution(resolution)
        #: per calibration: the σ model file used (absolute) or None, and the σ source text
        self.sigma_models = self._sigma_models(sigma_models)
        self._init_weights_and_corrections(pileup, lumi, corrections, correction_syst)

    def _init_weights_and_corrections(self, pileup, lumi, corrections, syst) -> None:
        """Check the pile-up and correction files once on the client (clear errors before
        any chunk runs); the workers load them again by path."""
        from calocoffea import corrections as corr
        from calocoffea import weights as w

        self.pileup = str(Path(pileup).resolve()) if pileup is not None else None
        if self.pileup is not None:
            w.cached_pileup_weights(self.pileup)
        if lumi is not None and not lumi > 0:
            raise ValueError(f"lumi must be > 0 pb^-1, got {lumi}")
        self.lumi = None if lumi is None else float(lumi)
        self.corrections = str(Path(corrections).resolve()) if corrections is not None else None
        self.correction_syst = syst
        #: calibrations the corrections file corrects (those of self.calibrations it has)
        self.corrected: tuple[str, ...] = ()
        if self.corrections is not None:
            names = corr.correction_names(self.corrections)
            self.corrected = tuple(c for c in self.calibrations
                                   if c != "truth" and f"EGMScale_{c}" in names)
            if not self.corrected:
                raise KeyError(f"{self.corrections}: no EGMScale_/EGMSmearing_ correction for "
                               f"any of the calibrations {list(self.calibrations)} (has "
                               f"{sorted(names)})")
            for c in self.corrected:
                corr.cached_applier(self.corrections, c, syst)

    # ------------------------------------------------------------------ channel hooks
    def select(self, events: ak.Array) -> Selected:
        """Select events and objects (see :class:`calocoffea.selection.Selected`)."""
        return type(self).selector(events, self.selection)

    def extra_p4(self, events: ak.Array, selected: Selected) -> np.ndarray | None:
        """Four-momentum (n_selected, 4) added to the calibrated objects in the mass."""
        return None

    def categories(self, etabins: np.ndarray) -> np.ndarray:
        """``etacat`` of each selected event from the objects' |η| bins (n_selected, k):
        the unordered pair category of :func:`calocoffea.binning.eta_pair_index`."""
        cat = binning.eta_pair_index(etabins[:, 0], etabins[:, 1])
        return np.where((etabins >= 0).all(axis=1), cat, self.n_categories)

    def required_branches(self) -> list[tuple[str, ...]]:
        """Branches the selection reads; each entry lists alternatives (any one suffices).
        :func:`calocoffea.execution.runner.run` checks them in every local file first."""
        out: list[tuple[str, ...]] = []
        cuts = {f.name: getattr(self.selection, f.name) for f in dataclasses.fields(self.selection)}
        for name, value in cuts.items():
            if not isinstance(value, ObjectCuts) or name not in _COLLECTIONS:
                continue
            coll = _COLLECTIONS[name]
            out += [(f"{coll}_{v}",) for v in ("pt", "eta", "phi")]
            if coll != "Photon":  # NanoAODSchema fills Photon_mass, needs no charge
                out += [(f"{coll}_mass",), (f"{coll}_charge",)]
            ids = [value.id_branch] + (["cutBasedBitmap"] if value.id_branch == "cutBased" else [])
            out.append(tuple(f"{coll}_{b}" for b in ids))
        tight = getattr(self.selection, "muon_tight_branch", None)
        if tight:
            out.append((f"Muon_{tight}",))
        return list(dict.fromkeys(out))

    def missing_branches(self, keys: set[str] | frozenset[str]) -> list[str]:
        """Branches the calibrations need that a file with branches ``keys`` lacks: none for
        a file without cells (standard-only mode) unless ``cnn`` or ``bdt_shapes`` was asked
        for explicitly, then the cell collections themselves; for a file with cells the BDT
        input branches (``bdt`` is evaluated on them) and every CNN input branch.
        :func:`calocoffea.execution.runner.check_files` calls it for every local file."""
        from calocoffea.bdt.columns import required_branches as bdt_branches

        has_cells = any(k.startswith("Cluster_") for k in keys) and any(
            k.startswith("CaloCell_") for k in keys)
        if not has_cells:
            if self.cells_explicit:
                return [f"Cluster/CaloCell (calibration(s) {list(self.cells_explicit)} "
                        "requested; files without cells run with the standard calibration "
                        "only when the calibrations are left to their default)"]
            return []
        variants = ("bdt", "bdt_shapes") if "bdt_shapes" in self.calibrations else ("bdt",)
        needed = bdt_branches(self.particle, variants)
        if "cnn" in self.calibrations:
            from calocoffea.cnn.inputs import required_branches

            needed += required_branches(self.particle, self._cnn_with_time())
        return [b for b in dict.fromkeys(needed) if b not in keys]

    def _cnn_with_time(self) -> bool:
        """Whether this processor's CNN reads the cell times (a time-channel model's card);
        False when its card cannot be read (loading the model reports that, by name)."""
        from calocoffea.cnn.inference import ModelError, card_with_time, load_card

        try:
            return card_with_time(load_card(calib.cnn_model_path(self.particle,
                                                                 self.model_path)))
        except ModelError:
            return False

    # ------------------------------------------------------------------ coffea API
    def process(self, events: ak.Array) -> dict:
        """``{dataset: {histograms, cutflow, metadata}}`` of one chunk of ``events``."""
        fields = set(events.fields)
        is_mc = "GenPart" in fields
        has_cells = "Cluster" in fields and "CaloCell" in fields
        meta = events.metadata if hasattr(events, "metadata") else {}
        filename = str(meta.get("filename", "input file"))
        calibs = [c for c in self.calibrations if c != "truth" or is_mc]
        dataset = str(meta.get("dataset") or UNNAMED_DATASET)
        dropped: dict[str, set] = {}
        if not has_cells:
            explicit = [c for c in self.cells_explicit if c in calibs]
            if explicit:
                raise validation.InputDataError(
                    f"{filename}: calibration(s) {explicit} requested but the file has no "
                    "Cluster/CaloCell collections"
                )
            _warn_standard_only(filename)
            for name in _NEED_CELLS:
                if name in calibs:
                    calibs.remove(name)
                    dropped[f"{name}_dropped"] = {
                        "no Cluster/CaloCell collections (standard-only mode)"
                    }
        self._validate(events, calibs, is_mc, fields)

        # sparse while chunks are merged, dense hist.Hist after postprocess()
        out = {
            "response": SparseHist("response"),
            "mass": SparseHist("mass", self.channel, self.n_categories),
            "pull": SparseHist("pull"),
            "pull_et_reco": SparseHist("pull_et_reco"),
        }
        if self.n_calo == 2:
            out["sigma_m"] = SparseHist("sigma_m", self.channel)
        selected = self.select(events)
        cutflow = {**selected.cutflow}
        veto, pt_max = stitching.stitching_veto(events, meta, is_mc)
        if veto is not None:
            # selected events of the slice above pt_max: the sliced dataset holds them
            cutflow[stitching.veto_key(pt_max)] = int(np.sum(veto & selected.mask))
            selected = _drop_events(selected, veto)
        cutflow["selected"] = int(selected.mask.sum())

        ev = events[selected.mask]
        objects = ev[self.collection][ak.from_regular(selected.calo_index)]
        n_sel, k = selected.calo_index.shape[0], self.n_calo
        eta = np.asarray(ak.to_numpy(ak.flatten(objects.eta)), np.float64)
        phi = np.asarray(ak.to_numpy(ak.flatten(objects.phi)), np.float64)

        energies: dict[str, np.ndarray] = {}
        energies["bdt"] = calib.standard_energy(objects)
        columns, lacking = None, []
        if has_cells:
            # one read of the object columns for the BDTs and the σ models; the shape
            # columns only where they are needed and the file has them
            with_models = any(path for path, _ in self.sigma_models.values())
            if with_models:
                lacking = _missing_branches(objects, self.particle)
            shapes = "bdt_shapes" in calibs or (with_models and not lacking)
            variants = ("bdt", "bdt_shapes") if shapes else ("bdt",)
            from calocoffea.bdt.columns import object_columns

            columns = object_columns(objects, self.particle, variants)
            # calocoffea files: the shipped BDT on the cluster columns, never a stored pt that
            # may be E_acc-based (files written with --no-standard-calibration)
            energies["bdt"], bdt_fallback = calib.bdt_model_energy(
                objects, self.particle, energies["bdt"], "bdt", models_dir=self.bdt_models,
                columns=columns,
            )
            cutflow["fallback bdt (stored pt)"] = int(bdt_fallback.sum())
        fallback = np.zeros(n_sel * k, dtype=bool)
        reasons = np.zeros(n_sel * k, dtype=np.uint8)
        if "bdt_shapes" in calibs:
            energies["bdt_shapes"], shapes_fallback = calib.shapes_energy(
                objects, self.particle, energies["bdt"], models_dir=self.bdt_models,
                columns=columns,
            )
            cutflow["fallback bdt_shapes"] = int(shapes_fallback.sum())
        sigmas: dict[str, np.ndarray] = {}
        if "cnn" in calibs:
            pred = calib.cnn_prediction(objects, ev, self.particle, energies["bdt"],
                                        model_path=self.model_path)
            energies["cnn"], fallback, reasons = pred.energy, pred.fallback, pred.code
            sigmas["cnn"] = pred.sigma
            from calocoffea.cnn.inference import SIGMA_REASONS

            for code, name in SIGMA_REASONS.items():
                cutflow[f"no cnn sigma: {name}"] = int(np.sum(pred.sigma_code == code))
        self._table_sigmas(energies, eta, np.repeat(self._mu(ev), k), sigmas, cutflow=cutflow,
                           shapes_fallback=shapes_fallback if "bdt_shapes" in calibs else None)
        if has_cells:
            self._model_sigmas(columns, energies, eta, np.repeat(self._mu(ev), k), sigmas,
                               lacking=lacking, cutflow=cutflow, shapes_fallback=shapes_fallback
                               if "bdt_shapes" in calibs else None)
        e_true = et_true = np.full(n_sel * k, np.nan)
        if is_mc:
            e_true, et_true = calib.true_energy(objects)
            # the pulls' reference: electrons dressed with their collinear FSR photons
            e_dressed = (calib.dressed_true_energy(objects, ev)
                         if self.particle == "electron" else e_true)
            self._check_truth(events, selected, objects, e_true)
            if "truth" in calibs:
                energies["truth"] = e_true
            cutflow["truth unmatched"] = int(np.sum(~np.isfinite(e_true)))
        cutflow["objects"] = n_sel * k
        cutflow["fallback"] = int(fallback.sum())
        if "cnn" in calibs:
            from calocoffea.cnn.inference import FALLBACK_REASONS

            for code, name in FALLBACK_REASONS.items():
                cutflow[f"fallback: {name}"] = int(np.sum(reasons == code))

        weight = self._weights(ev, is_mc) * self._pileup_weights(ev, is_mc)
        mu = self._mu(ev)
        out["pileup"], out["sum_genweight"] = self._pileup_profile(events, is_mc)
        mass_energies = self._corrected_energies(energies, ev, selected, eta, is_mc)
        abseta = np.abs(eta)
        etacat = self.categories(binning.abs_eta_bin(abseta).reshape(n_sel, k))
        extra = self.extra_p4(ev, selected)
        for name in calibs:
            p4 = massless_p4(mass_energies[name], eta, phi).reshape(n_sel, k, 4)
            mass = invariant_mass(p4, extra)
            ok = np.isfinite(mass)
            # every selected event is in the mass histogram or counted here
            cutflow[f"no {name} mass"] = int(n_sel - ok.sum())
            out["mass"].fill(
                calibration=name, etacat=etacat[ok], mu=mu[ok], mass=mass[ok], weight=weight[ok]
            )
            if "sigma_m" in out and name in sigmas:
                self._fill_sigma_m(out["sigma_m"], name, energy=energies[name],
                                   sigma=sigmas[name], mass=mass, weight=weight,
                                   cutflow=cutflow)
        if is_mc:
            matched = np.isfinite(e_true) & (e_true > 0)
            w_obj = np.repeat(weight, k)[matched]
            mu_obj = np.repeat(mu, k)[matched]
            for name in RESPONSE_CALIBRATIONS:
                if name not in energies:
                    continue
                out["response"].fill(
                    calibration=name,
                    particle=self.particle,
                    abseta=abseta[matched],
                    et=et_true[matched],
                    mu=mu_obj,
                    response=energies[name][matched] / e_true[matched],
                    weight=w_obj,
                )
                if name in sigmas:
                    sig = sigmas[name][matched]
                    has = np.isfinite(sig)
                    e_cal = energies[name][matched][has]
                    # E_T under this calibration: the σ models' conditioning
                    et_cal = e_cal / np.cosh(eta[matched][has])
                    for ref, e_ref in (("dressed", e_dressed), ("bare", e_true)):
                        pull = (e_cal - e_ref[matched][has]) / sig[has]
                        out["pull"].fill(
                            calibration=name, particle=self.particle, reference=ref,
                            abseta=abseta[matched][has], et=et_true[matched][has],
                            mu=mu_obj[has], pull=pull, weight=w_obj[has],
                        )
                        out["pull_et_reco"].fill(
                            calibration=name, particle=self.particle, reference=ref,
                            et_reco=et_cal, pull=pull, weight=w_obj[has],
                        )

        out["cutflow"] = cutflow
        out["meta"] = {
            "channel": {self.channel},
            "kind": {"mc" if is_mc else "data"},
            "mode": {"cells" if has_cells else "standard-only"},
            "calibrations": set(calibs),
            "dataset": {dataset},
            "weights": {self.weights},
            **self._weight_meta(meta, is_mc),
            **dropped,
            **self._provider_meta("cnn" in calibs),
            **self._resolution_meta(),
            "sigma_source": {f"{c}: {src}" for c, (_, src) in self.sigma_models.items()
                             if c in calibs},
            **self._slice_meta(events, is_mc, filename, pt_max),
        }
        return {dataset: out}

    # ------------------------------------------------------------------ uncertainties
    def _resolution(self, path: str | Path | None) -> tuple[str | None, str | None]:
        """(absolute table path or None, why the table is unavailable or None); an explicit
        path must be a loadable table (FileNotFoundError / ValueError otherwise)."""
        if path is not None:
            _table(str(Path(path).resolve()))
            return str(Path(path).resolve()), None
        default = resources.resolution_table_path().resolve()
        if not default.is_file():
            return None, f"{unc.TABLE_MISSING} ({default} missing)"
        _table(str(default))
        return str(default), None

    def _sigma_models(self, directory: str | Path | None) -> dict[str, tuple[str | None, str]]:
        """{calibration: (σ model path or None, σ source)} for the calibrations of this
        processor that have a per-object σ (checked once here: a model that does not load is
        an error, one trained for other calibration models is not used and says so)."""
        from calocoffea import sigma as sm

        cals = [c for c in sm.SIGMA_MODEL_CALIBRATIONS if c in self.calibrations]
        fallback = {"bdt": "resolution table", "bdt_shapes": "resolution table",
                    "cnn": "CNN sigma_prime (in-graph calibration)"}
        if directory is not None and str(directory).lower() == "none":
            return {c: (None, f"{fallback[c]} (sigma models off)") for c in cals}
        if directory is None:
            base = Path(self.bdt_models) if self.bdt_models else resources.models_dir()
        else:
            base = Path(directory)
            if not base.is_dir():
                raise FileNotFoundError(f"sigma models directory {base} not found")
        models = Path(self.bdt_models) if self.bdt_models else resources.models_dir()
        out: dict[str, tuple[str | None, str]] = {}
        for cal in cals:
            try:
                model = sm.load_sigma_model(base, cal, self.particle)
            except FileNotFoundError as err:
                if directory is not None:
                    raise
                out[cal] = (None, f"{fallback[cal]} ({err})")
                continue
            cnn = Path(calib.cnn_model_path(self.particle, self.model_path))
            why = sm.compatibility(model, sm.calibration_model_files(cal, self.particle, models,
                                                                     cnn_model=cnn))
            if why is not None:
                out[cal] = (None, f"{fallback[cal]} ({why})")
            else:
                out[cal] = (str(model.path.resolve()),
                            f"sigma model {model.path.name} ({_sha256(str(model.path))[:12]})")
        return out

    def _model_sigmas(self, cols: dict[str, np.ndarray], energies: dict[str, np.ndarray],
                      eta: np.ndarray, mu: np.ndarray, sigmas: dict[str, np.ndarray], *,
                      lacking: list[str], cutflow: dict[str, int],
                      shapes_fallback: np.ndarray | None) -> None:
        """σ_E (GeV) from the σ models (:mod:`calocoffea.sigma`) where one is in use, on the
        chunk's object columns ``cols``; objects without one counted per reason (CNN
        fallback objects keep their own reason). ``lacking``: the shape branches the file
        does not have (the models are then not used on it, counted)."""
        from calocoffea import sigma as sm

        used = {c: p for c, (p, _) in self.sigma_models.items() if p and c in energies}
        if not used:
            return
        if lacking:
            # a file without a shower-shape branch (none of its calibrations needs it): the
            # σ models cannot run on it, its objects keep the table / CNN σ, counted
            for cal in used:
                cutflow[f"sigma model not used for {cal}: file lacks {lacking[0]}"] = \
                    len(energies[cal])
            return
        base = Path(next(iter(used.values()))).parent
        for cal in used:
            model = sm.load_sigma_model(base, cal, self.particle)
            own = sigmas.get("cnn") if cal == "cnn" else None
            sigma, code = model.sigma(cols, energy=energies[cal], e_bdt=energies["bdt"],
                                      eta=eta, mu=mu, cnn_sigma=own, channel=self.channel)
            if cal == "bdt_shapes" and shapes_fallback is not None and shapes_fallback.any() \
                    and "bdt" in used:
                std = sm.load_sigma_model(base, "bdt", self.particle)
                s_std, c_std = std.sigma(cols, energy=energies[cal], e_bdt=energies["bdt"],
                                         eta=eta, mu=mu, channel=self.channel)
                sigma = np.where(shapes_fallback, s_std, sigma)
                code = np.where(shapes_fallback, c_std, code)
            if cal == "cnn":  # objects without the CNN's own σ are counted already
                code = np.where(np.isfinite(own), code, 0)
            sigmas[cal] = sigma
            for c, reason in sm.REASONS.items():
                cutflow[f"no {cal} sigma: {reason}"] = int(np.sum(code == c))

    def _table_sigmas(self, energies: dict[str, np.ndarray], eta: np.ndarray, mu: np.ndarray,
                      sigmas: dict[str, np.ndarray], *, cutflow: dict[str, int],
                      shapes_fallback: np.ndarray | None) -> None:
        """σ_E (GeV) of the table calibrations into ``sigmas``; objects without one counted
        per reason. ``bdt_shapes`` objects that fell back to ``bdt`` take its σ_rel."""
        for name in unc.TABLE_CALIBRATIONS:
            if name not in energies:
                continue
            n = len(energies[name])
            if self.resolution is None:
                sigmas[name] = np.full(n, np.nan)
                cutflow[f"no {name} sigma: {unc.TABLE_MISSING}"] = n
                continue
            table = _table(self.resolution)
            sigma, code = table.sigma(name, self.particle, energies[name], eta, mu)
            if name == "bdt_shapes" and shapes_fallback is not None and shapes_fallback.any():
                sigma_std, code_std = table.sigma("bdt", self.particle, energies[name], eta, mu)
                sigma = np.where(shapes_fallback, sigma_std, sigma)
                code = np.where(shapes_fallback, code_std, code)
            sigmas[name] = sigma
            for c, reason in unc.TABLE_REASONS.items():
                cutflow[f"no {name} sigma: {reason}"] = int(np.sum(code == c))

    @staticmethod
    def _fill_sigma_m(h: SparseHist, name: str, *, energy: np.ndarray, sigma: np.ndarray,
                      mass: np.ndarray, weight: np.ndarray, cutflow: dict[str, int]) -> None:
        """Mass versus σ_m/m of the two objects; events without it counted."""
        rel = (sigma / energy).reshape(-1, 2)
        smm = sigma_m_over_m(rel[:, 0], rel[:, 1])
        ok = np.isfinite(mass) & np.isfinite(smm)
        cutflow[f"no {name} sigma_m"] = int(len(mass) - ok.sum())
        h.fill(calibration=name, sigma_m=smm[ok], mass=mass[ok], weight=weight[ok])

    def _resolution_meta(self) -> dict:
        if self.resolution is None:
            return {"resolution_table": {str(self.resolution_missing)}}
        return {"resolution_table": {self.resolution},
                "resolution_sha256": {_sha256(self.resolution)}}

    def _validate(self, events: ak.Array, calibs: list[str], is_mc: bool, fields: set[str]
                  ) -> None:
        """Index columns, the columns of weights and axes, and (CNN) the branches the CNN
        inputs read; the cell grouping and the track columns are checked where the CNN
        inputs read them (:mod:`calocoffea.cnn.inputs`). Raises InputDataError."""
        coll = self.collection
        # the pairs are formed from these charges: any other value would silently pair wrong
        for name, value in vars(self.selection).items():
            if isinstance(value, ObjectCuts) and name in ("electron", "muon"):
                validation.check_allowed(events, _COLLECTIONS[name], "charge", (-1, 1))
        if "cnn" in calibs:
            present = {f"{c}_{f}" for c in fields
                       for f in getattr(events[c], "fields", ()) or ()} | fields
            missing = self.missing_branches(present)
            if missing:
                filename, _ = validation.chunk_origin(events)
                raise validation.InputDataError(
                    f"{filename}: branch(es) {', '.join(missing)} missing: the CNN inputs need "
                    "them"
                )
            validation.check_local_index(events, coll, "clusterIdx", "Cluster")
            if coll == "Electron":
                validation.check_local_index(events, coll, "trackIdx", "Track")
            else:
                validation.check_allowed(events, coll, "convType", (0, 1, 2))
            validation.check_event_column(events, "PV", "npvs", minimum=0)
        if is_mc:
            validation.check_local_index(events, coll, "genPartIdx", "GenPart")
            if self.weights == "sign" and "genWeight" in fields:
                values = np.asarray(ak.to_numpy(events.genWeight))
                validation.check_finite(events, "genWeight", values)
        validation.check_event_column(events, "Pileup", "nTrueInt")

    def _check_truth(self, events, selected, objects, e_true: np.ndarray) -> None:
        """A matched generator particle (index ≥ 0) must have a finite energy."""
        if "genPartIdx" not in objects.fields:
            return
        idx = np.asarray(ak.to_numpy(ak.flatten(objects.genPartIdx)))
        bad = (idx >= 0) & ~np.isfinite(e_true)
        if bad.any():
            pos = int(np.argmax(bad))
            event = int(np.flatnonzero(selected.mask)[pos // self.n_calo])
            validation.fail(events, "GenPart_pt/eta/mass", event, e_true[pos],
                            f"the {self.collection} matched to GenPart {int(idx[pos])} gets a "
                            "non-finite true energy")

    def postprocess(self, accumulator: dict) -> dict:
        """Per dataset: turn the merged :class:`~calocoffea.sparsehist.SparseHist` into
        ``hist.Hist`` and single-element metadata sets into their value (``"zee"`` not
        ``{"zee"}``); sets with several values (e.g. MC and data files in one dataset)
        become sorted lists; then the dataset's xsec × lumi normalisation
        (:func:`calocoffea.weights.normalise_output`)."""
        from calocoffea.weights import normalise_output

        for dataset, output in accumulator.items():
            for key in HISTOGRAM_KEYS:
                if isinstance(output.get(key), SparseHist):
                    output[key] = output[key].to_hist()
            meta = output.get("meta", {})
            for key, value in list(meta.items()):
                if isinstance(value, set):
                    values = sorted(value)
                    meta[key] = values[0] if len(values) == 1 and key not in _LIST_KEYS else values
            if isinstance(meta.get("kind"), list):
                log.warning("dataset %r mixes MC and data files: kind=%s", dataset, meta["kind"])
            if "meta" in output:
                normalise_output(output, self.lumi)
        return accumulator

    # ------------------------------------------------------------------ helpers
    def _weights(self, events: ak.Array, is_mc: bool) -> np.ndarray:
        if self.weights == "unit" or not is_mc or "genWeight" not in events.fields:
            return np.ones(len(events), dtype=np.float64)
        return np.sign(np.asarray(ak.to_numpy(events.genWeight), dtype=np.float64))

    def _pileup_weights(self, events: ak.Array, is_mc: bool) -> np.ndarray:
        """w(``Pileup_nTrueInt``) per MC event on the exact grid; 1 without ``pileup`` or in
        data. InputDataError when the branch is missing."""
        if self.pileup is None or not is_mc:
            return np.ones(len(events), dtype=np.float64)
        from calocoffea.weights import cached_pileup_weights, quantise

        if "Pileup" not in events.fields or "nTrueInt" not in events.Pileup.fields:
            filename, _ = validation.chunk_origin(events)
            raise validation.InputDataError(
                f"{filename}: branch Pileup_nTrueInt missing: the pile-up reweighting "
                f"({self.pileup}) needs it")
        mu = np.asarray(ak.to_numpy(events.Pileup.nTrueInt), dtype=np.float64)
        return quantise(cached_pileup_weights(self.pileup)(mu))

    def _pileup_profile(self, events: ak.Array, is_mc: bool):
        """``pileup`` histogram of every event of the chunk (before the selection) and the
        exact Σ genWeight of those events (0 in data)."""
        from fractions import Fraction

        from calocoffea.weights import book_pileup, exact_sum

        h = book_pileup()
        raw = self._weights(events, is_mc)
        mu = self._mu(events)
        h.fill("raw", mu, weight=raw)
        h.fill("weighted", mu, weight=raw * self._pileup_weights(events, is_mc))
        sumw = Fraction(0)
        if is_mc and "genWeight" in events.fields:
            sumw = exact_sum(np.asarray(ak.to_numpy(events.genWeight), dtype=np.float64))
        return h, sumw

    def _corrected_energies(self, energies: dict, ev: ak.Array, selected: Selected,
                            eta: np.ndarray, is_mc: bool) -> dict:
        """The energies entering the masses: those of ``energies`` with the scale (data) or
        smearing (MC) of the corrections file for the calibrations it corrects."""
        if not self.corrected:
            return energies
        from calocoffea.corrections import cached_applier

        out = dict(energies)
        abseta = np.abs(eta)
        k = self.n_calo
        event = np.repeat(np.asarray(ak.to_numpy(ev.event), dtype=np.uint64), k)
        index = np.asarray(selected.calo_index, dtype=np.uint64).reshape(-1)
        for name in self.corrected:
            if name not in out:
                continue
            app = cached_applier(self.corrections, name, self.correction_syst)
            e = out[name]
            et = e / np.cosh(eta)
            out[name] = (app.smear(e, abseta, et, event, index) if is_mc
                         else app.scale(e, abseta, et))
        return out

    def _weight_meta(self, meta: Any, is_mc: bool) -> dict:
        """Metadata of the weights and corrections: pile-up file, lumi, the dataset's xsec
        and sum_genweight (fileset metadata), the corrections file and what it corrected."""
        out: dict[str, set] = {}
        if self.pileup is not None:
            out["pileup"] = {self.pileup if is_mc else "not applied (data)"}
        for key in ("xsec", "sum_genweight"):
            if key in meta and is_mc:
                try:
                    value = float(meta[key])
                except (TypeError, ValueError):
                    value = float("nan")
                if not (value > 0 and np.isfinite(value)):
                    raise ValueError(f"dataset {meta.get('dataset')!r}: fileset metadata "
                                     f"{key}={meta[key]!r} must be a positive number")
                out[key] = {value}
        if self.corrections is not None:
            out["corrections"] = {self.corrections}
            out["corrections_applied"] = {
                f"{'smearing' if is_mc else 'scale'} ({self.correction_syst}): "
                + ",".join(self.corrected)}
        return out

    @staticmethod
    def _slice_meta(events: ak.Array, is_mc: bool, filename: str, pt_max: float | None
                    ) -> dict:
        """The boson-p_T slice of an MC chunk (:mod:`calocoffea.stitching`):
        ``boson_pt_min`` (0 for an inclusive file) and, when its dataset vetoes the events
        above a bound, that bound."""
        if not is_mc:
            return {}
        out = {"boson_pt_min": {stitching.sample_boson_pt_min(events, filename)}}
        if pt_max is not None:
            out[stitching.STITCH_KEY] = {pt_max}
        return out

    @staticmethod
    def _mu(events: ak.Array) -> np.ndarray:
        """⟨μ⟩ per event from ``Pileup_nTrueInt``; NaN (overflow bin) if absent."""
        if "Pileup" in events.fields and "nTrueInt" in events.Pileup.fields:
            return np.asarray(ak.to_numpy(events.Pileup.nTrueInt), dtype=np.float64)
        return np.full(len(events), np.nan)

    def _model_info(self) -> dict:
        path = calib.cnn_model_path(self.particle, self.model_path)
        import hashlib

        from calocoffea.cnn.inference import load_model

        # load once here so that a corrupt or mismatched model fails at construction (with
        # calocoffea.cnn.inference.ModelError naming expected and found inputs), not per chunk
        load_model(path)

        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return {"model": str(path), "model_sha256": digest}

    def _provider_meta(self, used_cnn: bool) -> dict:
        if not used_cnn:
            return {}
        meta = {key: {value} for key, value in self.model_info.items()}
        meta["provider"] = {calib.cnn_provider(self.particle, self.model_path)}
        meta["precision"] = {self.precision}
        return meta


def _drop_events(selected: Selected, veto: np.ndarray) -> Selected:
    """``selected`` without the events flagged by ``veto`` (bool, (n_events,))."""
    keep = ~veto[selected.mask]
    return Selected(selected.mask & ~veto, selected.calo_index[keep],
                    None if selected.muon_index is None else selected.muon_index[keep],
                    selected.cutflow)


def _missing_branches(objects: ak.Array, particle: str) -> list[str]:
    """The branches the σ models read (the ``bdt_shapes`` inputs) that the file of
    ``objects`` (NanoEvents) lacks."""
    from calocoffea.bdt.columns import required_branches

    fields = {"Cluster": None, "Track": None}
    out = []
    for branch in required_branches(particle, ("bdt_shapes",)):
        coll, field = branch.split("_", 1)
        if coll in ("Electron", "Photon"):
            have = field in objects.fields
        else:
            if fields[coll] is None:
                link = "trackIdx" if coll == "Track" else "clusterIdx"
                target = getattr(objects, link[:-3], None) if link in objects.fields else None
                fields[coll] = set(target.fields) if target is not None else set()
            have = field in fields[coll]
        if not have:
            out.append(branch)
    return out


@lru_cache(maxsize=4)
def _table(path: str) -> unc.ResolutionTable:
    """The resolution table at ``path``, loaded once per process."""
    return unc.ResolutionTable(path)


@lru_cache(maxsize=4)
def _sha256(path: str) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


#: Selection-config field -> NanoAOD collection it cuts on.
_COLLECTIONS = {"electron": "Electron", "muon": "Muon", "photon": "Photon"}
#: Metadata keys kept as lists even with a single value.
_LIST_KEYS = ("calibrations", "sigma_source")

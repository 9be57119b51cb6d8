"""Histogram booking shared by all processors (the contract between processors and fits).

Two histograms per channel, both with Weight storage:

``response`` — E_calib / E_true per object (MC only), axes
    ``calibration`` (str: bdt, bdt_shapes, cnn), ``particle`` (str: electron, photon),
    ``abseta`` (|eta| bins), ``et`` (E_T bins, GeV, of the true object), ``mu`` (<mu> bins),
    ``response`` (E_calib/E_true, steps of 0.0005 over [0.5, 1.5]).

``mass`` — invariant mass per event, axes
    ``calibration`` (str: bdt, bdt_shapes, cnn, truth), ``etacat`` (int: the (|eta|_i, |eta|_j) pair
    category of :func:`calocoffea.binning.eta_pair_index` for two-object channels, or the
    photon |eta| bin for Z->mumugamma), ``mu`` (<mu> bins), ``mass`` (GeV).

Category axes have no "other" bin: the response histogram is already ~63 MB per
processor chunk, and an unlisted category is a bug, not data.

``pull`` — (E_calib − E_true)/σ_E per object (MC only; objects with a σ_E), axes
    ``calibration`` (str: bdt, bdt_shapes, cnn), ``particle``, ``abseta``, ``et`` (true E_T,
    GeV), ``mu`` as ``response``, and ``pull`` (:data:`calocoffea.binning.PULL_BINS`).

``pull_et_reco`` — the same pulls versus the object's E_T under that calibration
    (E_calib/cosh η, GeV) instead of |η|, true E_T and ⟨μ⟩: axes ``calibration``,
    ``particle``, ``reference``, ``et_reco`` (:data:`calocoffea.binning.ET_EDGES`) and
    ``pull``. A diagnostic beside the true-E_T check of ``pull``: binned in the measured
    E_T the pulls carry the spectrum (at a kinematic edge most objects of a bin fluctuated up
    into it, so their pulls are shifted), which is why the σ models' E_T correction is
    derived in true-E_T bins (:func:`calocoffea.sigma.et_correction`).

``sigma_m`` — mass per event versus its σ_m/m (two-object channels, events whose objects
    all have a σ_E), axes ``calibration`` (str: bdt, bdt_shapes, cnn), ``sigma_m`` (σ_m/m on
    :data:`calocoffea.categories.SIGMA_M_EDGES`, log bins) and ``mass`` (GeV); the σ_m/m
    categories are chosen from it on the client (:mod:`calocoffea.fitting.categories`).

The cutflow is a plain ``dict[str, int]`` (coffea ``accumulate`` adds them).
"""

from __future__ import annotations

import hist

from calocoffea import binning
from calocoffea.categories import SIGMA_M_EDGES
from calocoffea.channels import CALIBRATIONS, PARTICLES, RESPONSE_CALIBRATIONS, channel


def _mu_axis() -> hist.axis.Variable:
    return hist.axis.Variable(binning.MU_EDGES, name="mu", label=r"$\langle\mu\rangle$")


def book_response() -> hist.Hist:
    """E_calib/E_true versus calibration × particle × |eta| × E_T × <mu>."""
    n, lo, hi = binning.RESPONSE_BINS
    return hist.Hist(
        *_object_axes(),
        hist.axis.Regular(n, lo, hi, name="response", label=r"$E_{calib}/E_{true}$"),
        storage=hist.storage.Weight(),
    )


def _object_axes() -> tuple:
    """calibration × particle × |η| × E_T^true × ⟨μ⟩: the axes of every per-object histogram."""
    return (
        hist.axis.StrCategory(list(RESPONSE_CALIBRATIONS), name="calibration", flow=False),
        hist.axis.StrCategory(list(PARTICLES), name="particle", flow=False),
        hist.axis.Variable(binning.ABS_ETA_EDGES, name="abseta", label=r"$|\eta|$"),
        hist.axis.Variable(binning.ET_EDGES, name="et", label=r"$E_T^{true}$ [GeV]"),
        _mu_axis(),
    )


def book_mass(name: str, n_categories: int) -> hist.Hist:
    """Invariant mass versus calibration × |eta| category × <mu> for channel ``name``."""
    n, lo, hi = channel(name).mass_bins
    return hist.Hist(
        hist.axis.StrCategory(list(CALIBRATIONS), name="calibration", flow=False),
        hist.axis.Integer(0, n_categories, name="etacat", label=r"$|\eta|$ category"),
        _mu_axis(),
        hist.axis.Regular(n, lo, hi, name="mass", label=r"$m$ [GeV]"),
        storage=hist.storage.Weight(),
    )


#: References of the pull histogram: E_true dressed with the FSR photons within ΔR <
#: :data:`calocoffea.constants.DRESSING_DR` (electrons; photons: the bare photon) and bare.
PULL_REFERENCES: tuple[str, ...] = ("dressed", "bare")


def _reference_axis() -> hist.axis.StrCategory:
    return hist.axis.StrCategory(list(PULL_REFERENCES), name="reference", flow=False)


def book_pull() -> hist.Hist:
    """(E_calib − E_ref)/σ_E versus calibration × particle × reference × |eta| × E_T ×
    <mu> (reference: :data:`PULL_REFERENCES`)."""
    n, lo, hi = binning.PULL_BINS
    axes = _object_axes()
    return hist.Hist(
        *axes[:2],
        _reference_axis(),
        *axes[2:],
        hist.axis.Regular(n, lo, hi, name="pull", label=r"$(E - E_{ref})/\sigma_E$"),
        storage=hist.storage.Weight(),
    )


def book_pull_et_reco() -> hist.Hist:
    """(E_calib − E_ref)/σ_E versus calibration × particle × reference × E_T^calib."""
    n, lo, hi = binning.PULL_BINS
    axes = _object_axes()
    return hist.Hist(
        *axes[:2],
        _reference_axis(),
        hist.axis.Variable(binning.ET_EDGES, name="et_reco", label=r"$E_T^{calib}$ [GeV]"),
        hist.axis.Regular(n, lo, hi, name="pull", label=r"$(E - E_{ref})/\sigma_E$"),
        storage=hist.storage.Weight(),
    )


#: The Weight-storage histograms of a processor output (sparse while merged, then dense).
HISTOGRAM_KEYS: tuple[str, ...] = ("response", "mass", "pull", "pull_et_reco", "sigma_m")


def book_sigma_m(name: str) -> hist.Hist:
    """Invariant mass versus calibration × σ_m/m for channel ``name``."""
    n, lo, hi = channel(name).mass_bins
    return hist.Hist(
        hist.axis.StrCategory(list(RESPONSE_CALIBRATIONS), name="calibration", flow=False),
        hist.axis.Variable(SIGMA_M_EDGES, name="sigma_m", label=r"$\sigma_m/m$"),
        hist.axis.Regular(n, lo, hi, name="mass", label=r"$m$ [GeV]"),
        storage=hist.storage.Weight(),
    )

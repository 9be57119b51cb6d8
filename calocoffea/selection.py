"""Event and object selection of the Z→ee, Z→μμγ and H→γγ channels as explicit configuration.

The Z→ee and Z→μμγ selections follow the logic of table 3.7 of the DeepCalo thesis: objects
pass an E_T threshold (9.5 GeV) and a loose identification, opposite-charge pairs are formed,
and an event is kept only when exactly one candidate remains; when several remain, a tighter
requirement is applied and the count is checked again, and the event is dropped if no unique
candidate is left. Deviations, all documented on the fields below and in docs/processors.md:

- the trigger-matching step of the muon cascade is skipped (the files carry no trigger
  information);
- 20 < m_μμ < 82 GeV is applied to every muon pair, not only as a tie-breaker, because it is
  what makes the photon a final-state-radiation photon whose energy closes the Z mass;
- the photon must be separated from both muons by ΔR > 0.4 (a muon depositing energy in the
  photon cluster would bias the photon energy).

H→γγ (not in table 3.7) follows the usual ATLAS diphoton selection: the two leading tight
photons with E_T/m_γγ > 0.35 and 0.25 and m_γγ in [105, 160] GeV.

All cuts use the kinematics stored in the file, i.e. the standard (BDT) calibration, so that
every calibration is compared on exactly the same events and objects. Energies in GeV.

Objects whose stored pt, η or φ (and, for muons, whose mass enters the μμ(γ) mass, mass) is
not finite (NaN, ±inf) fail every object cut, so they never enter a pair or a mass; each
selector counts them per collection in its cutflow as ``"rejected: non-finite <Collection>
kinematics"`` (objects, not events). Electron and photon masses are never used (the masses
are recomputed from massless four-momenta) and are not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import awkward as ak
import numpy as np

from calocoffea._numba import njit
from calocoffea.geometry import CRACK, ETA_MAX
from calocoffea.kinematics import delta_r, invariant_mass, massless_p4

# Identification levels of docs/data_format.md (``cutBased`` branches).
ELECTRON_LOOSE, ELECTRON_MEDIUM, ELECTRON_TIGHT = 2, 3, 4
PHOTON_LOOSE, PHOTON_MEDIUM, PHOTON_TIGHT = 1, 2, 3
#: E_T threshold (GeV) of every selected e/γ/μ object (table 3.7).
OBJECT_MIN_ET_GEV = 9.5


@dataclass(frozen=True)
class ObjectCuts:
    """Cuts on one object collection.

    ``et_min`` (GeV) applies to the stored ``pt`` (E_T of the standard calibration for e/γ);
    ``abseta_max`` to the stored |η|; the object passes the identification when the integer
    or boolean branch ``id_branch`` is ``>= id_min`` (booleans count as 0/1).
    """

    et_min: float
    abseta_max: float
    id_branch: str
    id_min: int
    exclude_crack: bool = False


@dataclass(frozen=True)
class ZeeSelection:
    """Z→ee (table 3.7): two loose electrons with E_T > 9.5 GeV and |η| < 2.47 forming exactly
    one opposite-charge pair; events with none or several such pairs are dropped."""

    electron: ObjectCuts = field(
        default_factory=lambda: ObjectCuts(OBJECT_MIN_ET_GEV, ETA_MAX, "cutBased", ELECTRON_LOOSE)
    )
    #: Require Σq = 0 for the pair (off: same-sign pairs also count, for fake studies).
    opposite_charge: bool = True


@dataclass(frozen=True)
class ZmumugammaSelection:
    """Z→μμγ (table 3.7): one opposite-charge pair of loose muons (E_T > 9.5 GeV) with
    20 < m_μμ < 82 GeV, falling back to pairs of tight muons when several pairs pass, and one
    loose photon (E_T > 9.5 GeV, |η| < 2.47, ΔR(γ, μ) > 0.4 to both muons), falling back to
    tight photons when several pass."""

    muon: ObjectCuts = field(
        default_factory=lambda: ObjectCuts(OBJECT_MIN_ET_GEV, 2.5, "looseId", 1)
    )
    #: Identification used to break ties between several muon pairs (boolean branch).
    muon_tight_branch: str = "tightId"
    #: (low, high) window on m_μμ in GeV, exclusive.
    mumu_mass: tuple[float, float] = (20.0, 82.0)
    photon: ObjectCuts = field(
        default_factory=lambda: ObjectCuts(OBJECT_MIN_ET_GEV, ETA_MAX, "cutBased", PHOTON_LOOSE)
    )
    #: Identification level used to break ties between several photons.
    photon_tight_min: int = PHOTON_TIGHT
    #: Minimum ΔR between the photon and each selected muon.
    min_dr_photon_muon: float = 0.4


@dataclass(frozen=True)
class HgamgamSelection:
    """H→γγ: the two leading tight photons (E_T > 9.5 GeV, |η| < 2.47) with
    E_T/m_γγ > 0.35 (leading) and > 0.25 (sub-leading) and m_γγ inside ``mass_window``.

    ATLAS also removes the crack and uses |η| < 2.37 for this channel; set
    ``photon=ObjectCuts(9.5, 2.37, "cutBased", PHOTON_TIGHT, exclude_crack=True)`` for that.
    """

    photon: ObjectCuts = field(
        default_factory=lambda: ObjectCuts(OBJECT_MIN_ET_GEV, ETA_MAX, "cutBased", PHOTON_TIGHT)
    )
    lead_et_over_mass: float = 0.35
    sublead_et_over_mass: float = 0.25
    #: (low, high) window on m_γγ in GeV, inclusive-exclusive.
    mass_window: tuple[float, float] = (105.0, 160.0)


@dataclass
class Selected:
    """Outcome of a channel selection on one chunk of events.

    ``mask`` (bool, n_events) flags the selected events; ``calo_index`` (n_selected, k) holds
    local indices of the selected electrons/photons, leading (highest stored E_T) first;
    ``muon_index`` (n_selected, 2) the selected muons (Z→μμγ only); ``cutflow`` the number of
    events surviving each step, in order.
    """

    mask: np.ndarray
    calo_index: np.ndarray
    muon_index: np.ndarray | None
    cutflow: dict[str, int]


def id_level(objects: ak.Array, branch: str) -> ak.Array:
    """Integer identification level of ``objects`` from ``branch``.

    Real CMS NanoAOD photons of older versions only carry ``cutBasedBitmap`` (bit 0 loose, 1
    medium, 2 tight); it is converted to the 0-3 level of ``cutBased``.
    """
    fields = objects.fields
    if branch in fields:
        return objects[branch]
    if branch == "cutBased" and "cutBasedBitmap" in fields:
        bitmap = objects["cutBasedBitmap"]
        return (bitmap & 1) + ((bitmap >> 1) & 1) + ((bitmap >> 2) & 1)
    raise KeyError(f"identification branch '{branch}' not found among {sorted(fields)}")


def _finite(objects: ak.Array, flat: bool = False, with_mass: bool = False):
    """Mask (jagged, or flat numpy with ``flat``) of objects whose pt, eta, phi (and mass
    with ``with_mass``; those of the fields the collection has) are finite."""
    ok = None
    for name in ("pt", "eta", "phi", "mass") if with_mass else ("pt", "eta", "phi"):
        if name not in objects.fields:
            continue
        values = objects[name]
        if flat:
            values = ak.to_numpy(ak.flatten(values, axis=1))
        good = np.isfinite(values)
        ok = good if ok is None else ok & good
    return ok


def non_finite_count(objects: ak.Array, with_mass: bool = False) -> int:
    """Number of objects with a non-finite pt, eta, phi (or mass, ``with_mass``)."""
    ok = _finite(objects, with_mass=with_mass)
    return 0 if ok is None else int(ak.sum(~ok, axis=None))


def _rejected_key(collection: str) -> str:
    return f"rejected: non-finite {collection} kinematics"


def object_mask(objects: ak.Array, cuts: ObjectCuts, with_mass: bool = False) -> ak.Array:
    """Jagged boolean mask of the objects passing ``cuts`` with finite pt, eta, phi (and
    mass, ``with_mass``: muons, whose mass enters the μμ(γ) mass)."""
    abseta = abs(objects.eta)
    mask = (objects.pt > cuts.et_min) & (abseta < cuts.abseta_max)
    finite = _finite(objects, with_mass=with_mass)
    if finite is not None:
        mask = mask & finite
    mask = mask & (id_level(objects, cuts.id_branch) >= cuts.id_min)
    if cuts.exclude_crack:
        mask = mask & ~((abseta >= CRACK[0]) & (abseta < CRACK[1]))
    return mask


def pick_unique(levels: list[ak.Array]) -> np.ndarray:
    """Index of the unique passing candidate per event under a cascade of tightening cuts.

    ``levels`` are jagged boolean masks over the same candidates, applied cumulatively: an
    event with exactly one candidate passing level 0 takes it; with several, level 1 is
    added, and so on; with none at any level (or several after the last) it gets -1.
    """
    alive = None
    chosen = None
    cumulative = None
    for level in levels:
        cumulative = level if cumulative is None else cumulative & level
        n_pass = ak.to_numpy(ak.sum(cumulative, axis=1))
        first = ak.to_numpy(ak.fill_none(ak.argmax(cumulative, axis=1), -1))
        if chosen is None:
            chosen = np.full(len(n_pass), -1, dtype=np.int64)
            alive = np.ones(len(n_pass), dtype=bool)
        take = alive & (n_pass == 1)
        chosen[take] = first[take]
        alive &= n_pass > 1
    assert chosen is not None, "pick_unique needs at least one level"
    return chosen


def _at(values: ak.Array, index: np.ndarray) -> np.ndarray:
    """``values[row][index[row]]`` for every row of a jagged array, as numpy (n,)."""
    picked = values[ak.from_regular(np.asarray(index, dtype=np.int64)[:, None])]
    return ak.to_numpy(ak.flatten(picked, axis=1))


def _regular(values: ak.Array, k: int, dtype=None) -> np.ndarray:
    """Jagged array with exactly ``k`` entries per row as numpy (n, k), also for n = 0."""
    out = ak.to_numpy(ak.flatten(values, axis=1)).reshape(-1, k)
    return out if dtype is None else out.astype(dtype)


def _order_by_pt(pt: ak.Array, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(n, 2) local indices with the higher stored pt first; pt ties keep (i, j)."""
    swap = _at(pt, j) > _at(pt, i)
    return np.stack([np.where(swap, j, i), np.where(swap, i, j)], axis=1).astype(np.int64)


def _take_pairs(pairs: ak.Array, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local object indices (i, j) of the chosen pair of each event with chosen >= 0."""
    keep = chosen >= 0
    kept = pairs[keep]
    return _at(kept["0"], chosen[keep]), _at(kept["1"], chosen[keep])


def _opposite_charge(objects: ak.Array, pairs: ak.Array) -> ak.Array:
    return objects.charge[pairs["0"]] + objects.charge[pairs["1"]] == 0


def _flat_object_mask(objects: ak.Array, cuts: ObjectCuts, finite: np.ndarray | None = None
                      ) -> np.ndarray:
    """:func:`object_mask` on the flattened objects (numpy, same comparisons); ``finite``:
    the flat finiteness mask when already computed."""
    def flat(values):
        return ak.to_numpy(ak.flatten(values, axis=1))

    abseta = np.abs(flat(objects.eta))
    mask = (flat(objects.pt) > cuts.et_min) & (abseta < cuts.abseta_max)
    finite = _finite(objects, flat=True) if finite is None else finite
    if finite is not None:
        mask &= finite
    mask &= flat(id_level(objects, cuts.id_branch)) >= cuts.id_min
    if cuts.exclude_crack:
        mask &= ~((abseta >= CRACK[0]) & (abseta < CRACK[1]))
    return mask


@njit(nogil=True)
def _pairs_per_event(offsets, good, charge, opposite):
    """Per event: number of candidates, number of candidate pairs passing the charge
    requirement, and the local indices (i, j) of the first such pair, pairs enumerated in
    the order of ``ak.combinations`` over the candidates (-1 when none)."""
    n = offsets.shape[0] - 1
    n_cand = np.zeros(n, np.int64)
    n_pass = np.zeros(n, np.int64)
    first = np.full((n, 2), -1, np.int64)
    for ev in range(n):
        lo, hi = offsets[ev], offsets[ev + 1]
        for i in range(lo, hi):
            if not good[i]:
                continue
            n_cand[ev] += 1
            for j in range(i + 1, hi):
                if good[j] and (not opposite or charge[i] + charge[j] == 0):
                    if n_pass[ev] == 0:
                        first[ev, 0] = i - lo
                        first[ev, 1] = j - lo
                    n_pass[ev] += 1
    return n_cand, n_pass, first


def select_zee(events: ak.Array, cfg: ZeeSelection) -> Selected:
    """Z→ee selection (see :class:`ZeeSelection`).

    One pass over the flat electron columns (the same cuts and pair order as the
    ``ak.combinations`` formulation of :func:`select_zmumugamma`, without its jagged
    temporaries).
    """
    electrons = events.Electron
    counts = ak.to_numpy(ak.num(electrons, axis=1))
    offsets = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    finite = _finite(electrons, flat=True)
    good = _flat_object_mask(electrons, cfg.electron, finite)
    charge = ak.to_numpy(ak.flatten(electrons.charge, axis=1))
    n_cand, n_pass, first = _pairs_per_event(offsets, good, charge, cfg.opposite_charge)
    mask = n_pass == 1
    cutflow = {
        "events": len(events),
        "2 electrons": int(np.sum(n_cand >= 2)),
        "ee pair": int(np.sum(n_pass >= 1)),
        "unique ee pair": int(mask.sum()),
        _rejected_key("Electron"): 0 if finite is None else int((~finite).sum()),
    }
    i, j = first[mask, 0], first[mask, 1]
    pt = ak.to_numpy(ak.flatten(electrons.pt, axis=1))
    start = offsets[:-1][mask]
    # higher stored pt first; ties keep (i, j)
    swap = pt[start + j] > pt[start + i]
    calo_index = np.stack([np.where(swap, j, i), np.where(swap, i, j)], axis=1).astype(np.int64)
    return Selected(mask, calo_index, None, cutflow)


def select_zmumugamma(events: ak.Array, cfg: ZmumugammaSelection) -> Selected:
    """Z→μμγ selection (see :class:`ZmumugammaSelection`)."""
    muons = events.Muon
    good = object_mask(muons, cfg.muon, with_mass=True)
    cand = ak.local_index(muons)[good]
    pairs = ak.combinations(cand, 2)
    m_mumu = _pair_mass(muons[pairs["0"]], muons[pairs["1"]])
    lo, hi = cfg.mumu_mass
    level0 = _opposite_charge(muons, pairs) & (m_mumu > lo) & (m_mumu < hi)
    tight = muons[cfg.muon_tight_branch]
    level1 = (tight[pairs["0"]] >= 1) & (tight[pairs["1"]] >= 1)
    chosen = pick_unique([level0, level1])
    mu_mask = chosen >= 0
    cutflow = {
        "events": len(events),
        "2 muons": int(np.sum(ak.to_numpy(ak.num(cand)) >= 2)),
        "mumu pair in mass window": int(np.sum(ak.to_numpy(ak.sum(level0, axis=1)) >= 1)),
        "unique mumu pair": int(mu_mask.sum()),
    }
    i, j = _take_pairs(pairs, chosen)
    muon_index = _order_by_pt(muons.pt[mu_mask], i, j)

    # photons of the events with a muon pair
    photons = events.Photon[mu_mask]
    sel_muons = muons[mu_mask][ak.from_regular(muon_index)]
    mu_eta = _regular(sel_muons.eta, 2, np.float64)
    mu_phi = _regular(sel_muons.phi, 2, np.float64)
    loose = object_mask(photons, cfg.photon)
    far = ak.ones_like(loose, dtype=bool)
    for k in range(2):
        dr = delta_r(photons.eta, photons.phi, mu_eta[:, k], mu_phi[:, k])
        far = far & (dr > cfg.min_dr_photon_muon)
    level0 = loose & far
    level1 = id_level(photons, cfg.photon.id_branch) >= cfg.photon_tight_min
    chosen_photon = pick_unique([level0, level1])
    cutflow["photon"] = int(np.sum(ak.to_numpy(ak.sum(level0, axis=1)) >= 1))
    cutflow["unique photon"] = int(np.sum(chosen_photon >= 0))

    cutflow[_rejected_key("Muon")] = non_finite_count(muons, with_mass=True)
    cutflow[_rejected_key("Photon")] = non_finite_count(events.Photon)
    mask = mu_mask.copy()
    mask[np.flatnonzero(mu_mask)[chosen_photon < 0]] = False
    keep = chosen_photon >= 0
    return Selected(mask, chosen_photon[keep][:, None], muon_index[keep], cutflow)


def _pair_mass(a: ak.Array, b: ak.Array) -> ak.Array:
    """Invariant mass (GeV, float64) of jagged object pairs from pt, eta, phi, mass."""
    total = [0.0, 0.0, 0.0, 0.0]
    for obj in (a, b):
        pt = ak.values_astype(obj.pt, np.float64)
        eta = ak.values_astype(obj.eta, np.float64)
        phi = ak.values_astype(obj.phi, np.float64)
        mass = ak.values_astype(obj.mass, np.float64)
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        comps = (px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + mass**2))
        total = [t + c for t, c in zip(total, comps, strict=True)]
    px, py, pz, energy = total
    return np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))


def select_hgamgam(events: ak.Array, cfg: HgamgamSelection) -> Selected:
    """H→γγ selection (see :class:`HgamgamSelection`)."""
    photons = events.Photon
    good = object_mask(photons, cfg.photon)
    cand = ak.local_index(photons)[good]
    # two leading candidates by stored pt
    order = ak.argsort(photons.pt[good], axis=1, ascending=False, stable=True)
    cand = cand[order]
    two = ak.to_numpy(ak.num(cand)) >= 2
    lead2 = _regular(cand[two][:, :2], 2, np.int64)
    sel_photons = photons[two][ak.from_regular(lead2)]
    pt = _regular(sel_photons.pt, 2, np.float64)
    eta = _regular(sel_photons.eta, 2, np.float64)
    phi = _regular(sel_photons.phi, 2, np.float64)
    m = invariant_mass(massless_p4(pt * np.cosh(eta), eta, phi))
    pass_et = (pt[:, 0] > cfg.lead_et_over_mass * m) & (pt[:, 1] > cfg.sublead_et_over_mass * m)
    lo, hi = cfg.mass_window
    pass_m = (m >= lo) & (m < hi)
    mask = two.copy()
    mask[np.flatnonzero(two)[~(pass_et & pass_m)]] = False
    cutflow = {
        "events": len(events),
        "2 photons": int(two.sum()),
        "mass window": int(pass_m.sum()),
        "ET/m": int((pass_et & pass_m).sum()),
        _rejected_key("Photon"): non_finite_count(photons),
    }
    return Selected(mask, lead2[pass_et & pass_m], None, cutflow)

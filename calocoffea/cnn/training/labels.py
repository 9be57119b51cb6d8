"""Energy labels for data: E_label,data of Z→ee events (thesis eq. 5.6).

Data have no true energy. In a Z→ee event whose mass is near the Z pole, the energy of one
electron follows from the Z mass and the other electron's standard-calibration transverse
energy: with M² = 2 E_T,1 E_T,2 (cosh Δη − cos Δφ) (massless electrons, p_T = E_T),

    E_T,label,1 = M_Z² / [2 E_T,2^BDT (cosh(η1 − η2) − cos(φ1 − φ2))],
    E_label,1 = E_T,label,1 cosh η1 (GeV),

and symmetrically for the second electron, for events with 86 ≤ m_ee^BDT ≤ 97 GeV. The Z line
shape makes this an approximation (the label scatters with the Breit–Wigner width and with
the partner's resolution); :func:`label_accuracy` measures it on MC against E_true (thesis
§7.3, figs. 7.8–7.9).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import awkward as ak
import numpy as np

from calocoffea.constants import MZ_GEV
from calocoffea.metrics import eiqr

log = logging.getLogger(__name__)

#: m_ee window (GeV) of the events whose electrons get a label (thesis §5.3).
LABEL_MASS_WINDOW: tuple[float, float] = (86.0, 97.0)


def label_et(et_partner: np.ndarray, eta: np.ndarray, eta_partner: np.ndarray,
             phi: np.ndarray, phi_partner: np.ndarray, *, mass: float = MZ_GEV) -> np.ndarray:
    """E_T,label (GeV) of an electron from its partner's E_T (GeV) and both directions."""
    den = 2.0 * et_partner * (np.cosh(eta - eta_partner) - np.cos(phi - phi_partner))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, mass**2 / den, np.nan)


def pair_labels(e_bdt: np.ndarray, eta: np.ndarray, phi: np.ndarray,
                window: tuple[float, float] = LABEL_MASS_WINDOW
                ) -> tuple[np.ndarray, np.ndarray]:
    """Labels of the electrons of (n, 2) pairs with standard energies ``e_bdt`` (GeV):
    returns (E_label (n, 2) GeV, in_window (n,) bool: 86 ≤ m_ee^BDT ≤ 97 GeV)."""
    et = e_bdt / np.cosh(eta)
    m2 = 2.0 * et[:, 0] * et[:, 1] * (np.cosh(eta[:, 0] - eta[:, 1])
                                        - np.cos(phi[:, 0] - phi[:, 1]))
    m = np.sqrt(np.maximum(m2, 0.0))
    ok = np.isfinite(m) & (m >= window[0]) & (m <= window[1])
    lab = np.stack([
        label_et(et[:, 1], eta[:, 0], eta[:, 1], phi[:, 0], phi[:, 1]) * np.cosh(eta[:, 0]),
        label_et(et[:, 0], eta[:, 1], eta[:, 0], phi[:, 1], phi[:, 0]) * np.cosh(eta[:, 1]),
    ], axis=1)
    return lab, ok


def selected_zee_chunks(path: str | Path, chunk_entries: int = 20_000,
                        max_entries: int | None = None) -> Iterator[tuple[int, ak.Array, ak.Array]]:
    """(first entry, selected events, their two electrons (n_selected, 2)) per chunk of
    ``chunk_entries`` events of ``path`` (at most ``max_entries``), with the analysis Z→ee
    selection (:class:`calocoffea.selection.ZeeSelection`), read with CaloNanoAODSchema."""
    import uproot
    from coffea.nanoevents import NanoEventsFactory

    from calocoffea.schema import CaloNanoAODSchema
    from calocoffea.selection import ZeeSelection, select_zee

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with uproot.open(path) as f:
        n_entries = f["Events"].num_entries
    if max_entries is not None:
        n_entries = min(n_entries, max_entries)
    for start in range(0, n_entries, chunk_entries):
        events = NanoEventsFactory.from_root(
            {str(path): "Events"}, schemaclass=CaloNanoAODSchema, mode="eager",
            entry_start=start, entry_stop=min(start + chunk_entries, n_entries),
        ).events()
        sel = select_zee(events, ZeeSelection())
        ev = events[sel.mask]
        yield start, ev, ev.Electron[ak.from_regular(sel.calo_index)]


def read_zee_labelled(path: str | Path, bdt=None, *, chunk_entries: int = 20_000,
                      max_objects: int | None = None, with_time: bool = False):
    """The electrons of the selected Z→ee events of ``path`` with 86 ≤ m_ee^BDT ≤ 97 GeV,
    as a training :class:`~calocoffea.cnn.training.dataset.Sample` whose ``e_true`` is
    E_label,data and whose ``is_data`` is True, plus E_true (GeV, NaN without truth: MC
    files give the label's accuracy). The selection is the analysis Z→ee selection
    (:class:`calocoffea.selection.ZeeSelection`); ``bdt`` recomputes the standard energy
    from the cluster columns (files written without it), None takes ``pt·cosh(η)``."""
    from calocoffea.cnn.inputs import inputs_from_events
    from calocoffea.cnn.training.dataset import Sample, concat

    path = Path(path)
    parts, truths, n_obj = [], [], 0
    for start, ev, obj in selected_zee_chunks(path, chunk_entries):
        if bdt is None:
            e_bdt = ak.to_numpy(ak.flatten(obj.pt * np.cosh(obj.eta))).astype(np.float64)
        else:
            from calocoffea.bdt.columns import object_columns

            e_bdt = np.asarray(bdt.energy(object_columns(obj, "electron"), "electron"),
                               np.float64)
        eta = ak.to_numpy(ak.flatten(obj.eta)).astype(np.float64)
        phi = ak.to_numpy(ak.flatten(obj.phi)).astype(np.float64)
        lab, ok = pair_labels(e_bdt.reshape(-1, 2), eta.reshape(-1, 2), phi.reshape(-1, 2))
        inputs = inputs_from_events(obj, ev, "electron", with_time=with_time)
        e_true = np.full(len(eta), np.nan)
        if "genPartIdx" in obj.fields:
            gen = obj.matched_gen
            e_true = ak.to_numpy(ak.fill_none(ak.flatten(
                np.sqrt((gen.pt * np.cosh(gen.eta)) ** 2 + gen.mass**2)), np.nan)
            ).astype(np.float64)
        keep = np.repeat(ok, 2) & inputs.valid & np.isfinite(lab.reshape(-1))
        mu = np.repeat(ak.to_numpy(ev.Pileup.nTrueInt).astype(np.float64), 2)
        parts.append(Sample("electron", inputs.images[keep].astype(np.float16),
                            inputs.scalars[keep], inputs.tracks[keep],
                            lab.reshape(-1)[keep], e_bdt[keep], mu[keep], [str(path)],
                            is_data=np.ones(int(keep.sum()), bool)))
        truths.append(e_true[keep])
        n_obj += int(keep.sum())
        log.info("%s [%d:...): %d labelled electrons (%d total)", path.name, start,
                 int(keep.sum()), n_obj)
        if max_objects is not None and n_obj >= max_objects:
            break
    sample = concat(parts)
    truth = np.concatenate(truths)
    if max_objects is not None and len(sample) > max_objects:
        sample, truth = sample.subset(np.arange(max_objects)), truth[:max_objects]
    sample.files = [str(path)]
    return sample, truth


def label_accuracy(e_label: np.ndarray, e_true: np.ndarray, e_acc: np.ndarray) -> dict:
    """E_label/E_true against E_acc/E_true on MC (thesis figs. 7.8–7.9): median, eIQR75 and
    the fraction beyond ±20 % (the label's outliers), for both."""
    out = {"n": len(e_true)}
    for name, e in (("label", e_label), ("e_acc", e_acc)):
        r = e / e_true
        r = r[np.isfinite(r)]
        out[name] = {"median": float(np.median(r)), "eiqr75": float(eiqr(r, 75)),
                     "outside_20_percent": float(np.mean(np.abs(r - 1.0) > 0.2))}
    return out

"""Z→μμγ processor: a radiative Z decay where only the photon energy is calibrated."""

from __future__ import annotations

import awkward as ak
import numpy as np

from calocoffea import binning
from calocoffea.kinematics import ptetaphim_p4
from calocoffea.selection import Selected, ZmumugammaSelection, select_zmumugamma
from processors.base import CaloProcessor


class ZmumugammaProcessor(CaloProcessor):
    """Z→μμγ: photon response and m_μμγ per calibration in the photon's 5 |η| bins; the
    muons enter the mass with their stored four-momenta (identical for every calibration).
    Selection: :class:`calocoffea.selection.ZmumugammaSelection`."""

    channel = "zmumugamma"
    n_categories = len(binning.ABS_ETA_EDGES) - 1
    selection_class = ZmumugammaSelection
    selector = staticmethod(select_zmumugamma)

    def extra_p4(self, events: ak.Array, selected: Selected) -> np.ndarray:
        """Sum of the two muon four-momenta (n_selected, 4) in GeV."""
        muons = events.Muon[ak.from_regular(selected.muon_index)]
        cols = [
            np.asarray(ak.to_numpy(ak.flatten(muons[name])), np.float64).reshape(-1, 2)
            for name in ("pt", "eta", "phi", "mass")
        ]
        return ptetaphim_p4(*cols).sum(axis=1)

    def categories(self, etabins: np.ndarray) -> np.ndarray:
        """The photon's |η| bin."""
        return np.where(etabins[:, 0] >= 0, etabins[:, 0], self.n_categories)

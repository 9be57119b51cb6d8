"""Z→ee processor: two opposite-charge electrons, both calibrated (thesis table 3.7)."""

from __future__ import annotations

import awkward as ak

from calocoffea.selection import Selected, ZeeSelection, select_zee
from processors.base import CaloProcessor


class ZeeProcessor(CaloProcessor):
    """Z→ee: response of both electrons and m_ee per calibration in 15 (|η|_1, |η|_2)
    categories. Selection: :class:`calocoffea.selection.ZeeSelection`."""

    channel = "zee"
    collection = "Electron"
    particle = "electron"
    n_calo = 2
    selection_class = ZeeSelection

    def select(self, events: ak.Array) -> Selected:
        return select_zee(events, self.selection)

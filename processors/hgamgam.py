"""H→γγ processor: the two leading tight photons, both calibrated."""

from __future__ import annotations

import awkward as ak

from calocoffea.selection import HgamgamSelection, Selected, select_hgamgam
from processors.base import CaloProcessor


class HgamgamProcessor(CaloProcessor):
    """H→γγ: response of both photons and m_γγ per calibration in 15 (|η|_1, |η|_2)
    categories. Selection: :class:`calocoffea.selection.HgamgamSelection`."""

    channel = "hgamgam"
    collection = "Photon"
    particle = "photon"
    n_calo = 2
    selection_class = HgamgamSelection

    def select(self, events: ak.Array) -> Selected:
        return select_hgamgam(events, self.selection)

"""H→γγ processor: the two leading tight photons, both calibrated."""

from __future__ import annotations

from calocoffea.selection import HgamgamSelection, select_hgamgam
from processors.base import CaloProcessor


class HgamgamProcessor(CaloProcessor):
    """H→γγ: response of both photons and m_γγ per calibration in 15 (|η|_1, |η|_2)
    categories. Selection: :class:`calocoffea.selection.HgamgamSelection`."""

    channel = "hgamgam"
    selection_class = HgamgamSelection
    selector = staticmethod(select_hgamgam)

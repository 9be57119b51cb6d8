"""Z→ee processor: two opposite-charge electrons, both calibrated (thesis table 3.7)."""

from __future__ import annotations

from calocoffea.selection import ZeeSelection, select_zee
from processors.base import CaloProcessor


class ZeeProcessor(CaloProcessor):
    """Z→ee: response of both electrons and m_ee per calibration in 15 (|η|_1, |η|_2)
    categories. Selection: :class:`calocoffea.selection.ZeeSelection`."""

    channel = "zee"
    selection_class = ZeeSelection
    selector = staticmethod(select_zee)

"""calocoffea: DeepCalo-style CNN energy calibration of electrons and photons, as a coffea plugin.

Units everywhere: energies and momenta in GeV, angles in radians, lengths in cm, times in ns.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__"]

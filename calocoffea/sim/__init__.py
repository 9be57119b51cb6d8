"""Fast simulation of an ATLAS-like LAr calorimeter writing NanoAOD-style ROOT files.

``generate_file`` is the entry point used by ``calocoffea generate``; see docs/simulation.md
for the physics and docs/data_format.md for the output branches.
"""

from calocoffea.sim.config import SimConfig, default_config
from calocoffea.sim.generate import generate_file
from calocoffea.sim.processes import PROCESSES

__all__ = ["PROCESSES", "SimConfig", "default_config", "generate_file"]

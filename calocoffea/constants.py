"""Physical constants used across calocoffea (GeV): the one home of each value.

PDG values, as used by the DeepCalo thesis for the Z line shape and the Higgs mass.
"""

from __future__ import annotations

#: Z boson pole mass and total width (GeV), fixed in every Breit–Wigner.
MZ_GEV: float = 91.1876
GAMMA_Z_GEV: float = 2.4952
#: Higgs boson mass (GeV) of the simulated H→γγ sample and of the H→γγ fits.
MH_GEV: float = 125.0
#: Electron and muon masses (GeV).
ME_GEV: float = 0.000511
MMU_GEV: float = 0.10566

#: Dressing cone of generator electrons: FSR photons of the electron within ΔR < 0.1 are
#: added to it (the LHC experiments' dressed-lepton definition, e.g. ATLAS, Eur. Phys. J. C
#: 77 (2017) 367); the reference of the electrons' energy pulls (calocoffea.sigma).
DRESSING_DR = 0.1

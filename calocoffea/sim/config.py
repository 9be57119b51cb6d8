"""Physical parameters of the fast simulation (one place; sources in docs/simulation.md).

Units: GeV, cm, ns, radians, radiation lengths X0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calocoffea.sim.conditions import DataConditions


@dataclass(frozen=True)
class SimConfig:
    """Detector response and pile-up parameters; ``kind`` is ``"mc"`` or ``"data"``."""

    kind: str = "mc"
    #: Intrinsic sampling term of the accordion (GeV^0.5), barrel / end-cap
    #: (test beam: ~10% barrel, ~10-12% end-cap; JINST 3 S08003 sect. 5.4).
    sampling_barrel: float = 0.10
    sampling_endcap: float = 0.12
    #: Local constant term (non-uniformity), barrel / end-cap (EPJC 74 (2014) 3071: ~0.7%).
    constant_barrel: float = 0.006
    constant_endcap: float = 0.008
    #: Presampler sampling fluctuation (GeV^0.5): few particles sampled in a thin LAr gap.
    sampling_presampler: float = 0.35
    #: Electronic noise per cell (GeV) at low |eta|, per layer (JINST 3 S08003 fig. 5.32).
    noise_gev: tuple[float, float, float, float] = (0.030, 0.012, 0.030, 0.020)
    #: Effective Moliere radius of the Pb/LAr accordion (cm).
    moliere_cm: float = 4.0
    #: Effective critical energy (GeV) and atomic number for the GFlash parametrisation.
    critical_energy: float = 0.0085
    z_eff: float = 82.0
    #: Lateral spots per layer per shower used to integrate the average profile over the
    #: cells (stratified: the expected energy per cell).
    spots_per_layer: int = 120
    #: GFlash spot number of a shower, N = c ln(Z) (E/GeV)^k (homogeneous medium: c = 93,
    #: k = 0.876; Grindhammer & Peters, hep-ex/0001020 eq. 13): its Poisson statistics are
    #: the shower-development fluctuations of the energy in each cell (c = 0 turns them off).
    gflash_spot_coeff: float = 93.0
    gflash_spot_exponent: float = 0.876
    #: Cell time resolution sigma_t = a/E (+) c, ns (ATLAS LAr timing: ~1.5 ns GeV, ~0.25 ns).
    time_a_ns_gev: float = 1.5
    time_c_ns: float = 0.25
    #: Pile-up soft particles per interaction per unit eta x phi and their mean E_T (GeV).
    pileup_density: float = 0.35
    pileup_mean_et: float = 0.40
    #: Charged particles with pT > 0.5 GeV per interaction per unit eta x phi: ATLAS
    #: minimum bias at 13 TeV, dN_ch/deta = 2.874 at eta = 0 (PLB 758 (2016) 67) / 2 pi.
    pileup_track_density: float = 0.457
    #: Probability that a soft charged hadron interacts in the accordion (about one
    #: interaction length deep) instead of crossing it as a minimum-ionising particle.
    pileup_hadron_interaction: float = 0.5
    #: Tile-gap: max fraction of the shower energy lost in the transition, its width in |eta|
    #: and the fraction of that energy the scintillators see.
    crack_loss_max: float = 0.20
    crack_loss_center: float = 1.445
    crack_loss_width: float = 0.04
    tilegap_response: float = 0.35
    tilegap_noise_gev: float = 0.05
    #: Stochastic term (GeV^0.5) of the tile-gap signal: a single thin scintillator plate
    #: behind the cryostat samples the leaking shower tail, with fluctuations far larger than
    #: a sampling calorimeter's (value and its basis in docs/simulation.md).
    tilegap_sampling: float = 0.5
    #: The data-like detector (how it differs from this MC description); None for MC.
    data: DataConditions | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("mc", "data"):
            raise ValueError(f"kind must be 'mc' or 'data', got {self.kind!r}")
        if self.kind == "mc" and self.data is not None:
            raise ValueError("MC has no data conditions (SimConfig.data must be None)")

    def sampling_term(self, abs_eta: np.ndarray) -> np.ndarray:
        """Stochastic term (GeV^0.5) of the accordion at |eta|."""
        return np.where(np.abs(abs_eta) < 1.475, self.sampling_barrel, self.sampling_endcap)

    def constant_term(self, abs_eta: np.ndarray) -> np.ndarray:
        """Constant term (fraction) at |eta|, including the data-like extra term."""
        c = np.where(np.abs(abs_eta) < 1.475, self.constant_barrel, self.constant_endcap)
        extra = self.data.extra_constant_term() if self.data is not None else 0.0
        return np.hypot(c, extra)

    def noise_scale(self) -> float:
        """Factor on the electronic noise (data-like: higher noise)."""
        return self.data.noise_factor() if self.data is not None else 1.0

    def moliere(self) -> float:
        """Effective Molière radius (cm) of the lateral profiles (data-like: wider)."""
        return self.moliere_cm * (self.data.lateral_scale() if self.data is not None else 1.0)

    def id_material_factor(self, abs_eta: np.ndarray) -> np.ndarray:
        """Factor on the inner-detector material (data-like: extra material somewhere)."""
        if self.data is None:
            return np.ones_like(np.asarray(abs_eta, dtype=float))
        return self.data.material_factor(abs_eta)


def default_config(kind: str, data: DataConditions | None = None) -> SimConfig:
    """MC, or data-like with ``data`` conditions (default: every effect at its documented
    size, :class:`calocoffea.sim.conditions.DataConditions`)."""
    if kind == "data":
        return SimConfig(kind="data", data=data if data is not None else DataConditions())
    if data is not None:
        raise ValueError("data conditions need kind='data'")
    return SimConfig(kind=kind)

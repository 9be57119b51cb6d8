"""Physical parameters of the fast simulation (one place; sources in docs/simulation.md).

Units: GeV, cm, ns, radians, radiation lengths X0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from calocoffea.binning import ABS_ETA_EDGES


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
    #: Data-like conditions: per-|eta|-bin energy-scale offsets and extra constant term.
    scale_offsets: tuple[float, ...] = field(default=(0.0,) * (len(ABS_ETA_EDGES) - 1))
    extra_constant: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("mc", "data"):
            raise ValueError(f"kind must be 'mc' or 'data', got {self.kind!r}")
        if len(self.scale_offsets) != len(ABS_ETA_EDGES) - 1:
            raise ValueError(
                f"scale_offsets needs {len(ABS_ETA_EDGES) - 1} values (one per |eta| bin "
                f"{ABS_ETA_EDGES}), got {len(self.scale_offsets)}"
            )

    def sampling_term(self, abs_eta: np.ndarray) -> np.ndarray:
        """Stochastic term (GeV^0.5) of the accordion at |eta|."""
        return np.where(np.abs(abs_eta) < 1.475, self.sampling_barrel, self.sampling_endcap)

    def constant_term(self, abs_eta: np.ndarray) -> np.ndarray:
        """Constant term (fraction) at |eta|, including the data-like extra term."""
        c = np.where(np.abs(abs_eta) < 1.475, self.constant_barrel, self.constant_endcap)
        return np.hypot(c, self.extra_constant)

    def scale(self, abs_eta: np.ndarray) -> np.ndarray:
        """Multiplicative energy scale 1 + offset of the |eta| bin (1 for MC)."""
        idx = np.clip(np.searchsorted(ABS_ETA_EDGES, np.abs(abs_eta), side="right") - 1, 0, 4)
        return 1.0 + np.asarray(self.scale_offsets)[idx]


#: Default data-like detector conditions (documented, fixed so all data-like files agree).
DATA_SCALE_OFFSETS: tuple[float, ...] = (0.010, -0.012, 0.020, -0.008, 0.015)
DATA_EXTRA_CONSTANT: float = 0.007


def default_config(kind: str) -> SimConfig:
    """MC or data-like configuration with the documented default conditions."""
    if kind == "data":
        return SimConfig(
            kind="data", scale_offsets=DATA_SCALE_OFFSETS, extra_constant=DATA_EXTRA_CONSTANT
        )
    return SimConfig(kind=kind)

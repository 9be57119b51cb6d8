"""The "truth of the detector" of the data-like kind: how it differs from the MC description.

Data are never what the simulation says they are, and the analysis cannot know by how much.
The data-like kind therefore simulates a detector whose response differs from the MC
description in the ways the ATLAS calibration papers find and correct (each effect and its
size cited in docs/simulation.md):

- **scale non-uniformity** α(η, φ), smooth in η (a seeded sum of low-order harmonics of
  |η|, RMS ≈ 1 %, plus a bump at the barrel/end-cap transition) and modulated in φ in the
  barrel with the 16-fold module structure: E_data = (1 + α) E_MC-like, cell by cell
  (JINST 14 (2019) P03017 §8: α(η) of up to 1-2 % in the barrel and more near the
  transition; §5: φ non-uniformities from the accordion modules);
- **non-linearity** in E_T: a factor 1 + c ln(E_T / 45 GeV) per cluster (JINST 14 (2019)
  P03017 §10: residual energy non-linearity of 0.1-0.3 % over 10-100 GeV);
- **wider showers**: the lateral profile of every shower widened (the effective Molière
  radius scaled by 1.08), so that R_η is lower and w_η2 wider in data (the MC-to-data
  shifts of the ATLAS shower-shape corrections: R_η lower by 0.3-0.8 %, w_η2 wider by
  1-5 %; EPJC 79 (2019) 205 §5 and Athena's ElectronPhotonShowerShapeFudgeTool; measured
  here in Z→ee: R_η −0.43 %, w_η2 +1.9 %);
- **extra material** upstream in 1.8 < |η| < 2.4: the inner-detector material there scaled
  up (more brem and conversions; JINST 14 (2019) P03017 §6: material uncertainties of a few
  % of X0 rising to 10-20 % at |η| > 1.8);
- **higher noise**: electronic noise scaled up;
- **time offset**: every cell time shifted (per-channel timing calibration residuals of a
  few 100 ps);
- **extra constant term** c′ added in quadrature (JINST 14 (2019) P03017: c′ ≈ 0.5-1 %).

Every effect has a strength knob (1 = the documented size, 0 = MC-like) so that users and
tests can switch them one by one; :meth:`DataConditions.sidecar` writes every injected
parameter to the data file's conditions JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

#: Documented sizes of the effects at strength 1.
SCALE_RMS = 0.010  # RMS of the smooth α(|η|) harmonics
SCALE_CRACK_BUMP = 0.020  # extra α at the transition (Gaussian in |η|, centre, width below)
SCALE_CRACK_ETA = (1.45, 0.08)
SCALE_PHI_AMPLITUDE = 0.004  # barrel φ modulation with the 16 accordion modules
NONLINEARITY = 0.002  # c of 1 + c ln(E_T / 45 GeV)
SHOWER_WIDENING = 0.08  # relative increase of the lateral profile radius
EXTRA_MATERIAL = 0.15  # relative increase of the ID material in 1.8 < |η| < 2.4
EXTRA_MATERIAL_ETA = (1.8, 2.4)
NOISE_INCREASE = 0.10  # relative increase of the electronic noise
TIME_OFFSET_NS = 0.3
EXTRA_CONSTANT = 0.007
#: Harmonics of the smooth α(|η|): α = Σ_k a_k cos(k π |η| / 2.5 + φ_k), k = 1..N.
N_HARMONICS = 4


@dataclass(frozen=True)
class DataConditions:
    """Strengths of the data-vs-MC differences (1: the documented size, 0: MC-like) and the
    seed of the detector's smooth scale map (one map for every data-like file)."""

    scale: float = 1.0
    nonlinearity: float = 1.0
    shower_width: float = 1.0
    material: float = 1.0
    noise: float = 1.0
    time_offset: float = 1.0
    extra_constant: float = 1.0
    map_seed: int = 20_261_201

    def __post_init__(self) -> None:
        for name in ("scale", "nonlinearity", "shower_width", "material", "noise",
                     "time_offset", "extra_constant"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"data condition {name!r} must be a finite strength >= 0, "
                                 f"got {value}")

    @classmethod
    def mc_like(cls) -> DataConditions:
        """Every effect at 0: a data-like file whose detector is the MC one."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    # ---- the smooth scale map --------------------------------------------------------
    def _harmonics(self) -> tuple[np.ndarray, np.ndarray, float]:
        rng = np.random.default_rng(self.map_seed)
        amp = rng.normal(0.0, 1.0, N_HARMONICS)
        amp *= SCALE_RMS * math.sqrt(2.0 / np.sum(amp**2))  # RMS of the sum = SCALE_RMS
        phase = rng.uniform(0.0, 2 * math.pi, N_HARMONICS)
        return amp, phase, float(rng.uniform(0.0, 2 * math.pi))

    def alpha(self, eta: np.ndarray, phi: np.ndarray) -> np.ndarray:
        """Injected relative scale α(η, φ): E_data = (1 + α) E (dimensionless)."""
        a = np.abs(np.asarray(eta, dtype=np.float64))
        amp, phase, phi0 = self._harmonics()
        k = np.arange(1, N_HARMONICS + 1)
        smooth = np.sum(amp[:, None] * np.cos(k[:, None] * math.pi * a[None, :] / 2.5
                                              + phase[:, None]), axis=0)
        centre, width = SCALE_CRACK_ETA
        bump = SCALE_CRACK_BUMP * np.exp(-0.5 * ((a - centre) / width) ** 2)
        barrel = a < 1.475
        modulation = np.where(barrel, SCALE_PHI_AMPLITUDE * np.cos(16.0 * np.asarray(phi)
                                                                   + phi0), 0.0)
        return self.scale * (smooth + bump + modulation)

    def nonlinearity_factor(self, et: np.ndarray) -> np.ndarray:
        """1 + c ln(E_T / 45 GeV) at the object's E_T (GeV)."""
        return 1.0 + self.nonlinearity * NONLINEARITY * np.log(np.maximum(et, 1.0) / 45.0)

    def lateral_scale(self) -> float:
        """Factor on the lateral profile radius of every shower."""
        return 1.0 + self.shower_width * SHOWER_WIDENING

    def material_factor(self, abs_eta: np.ndarray) -> np.ndarray:
        """Factor on the inner-detector material at |η| (1 outside the affected range)."""
        lo, hi = EXTRA_MATERIAL_ETA
        inside = (np.abs(abs_eta) > lo) & (np.abs(abs_eta) < hi)
        return np.where(inside, 1.0 + self.material * EXTRA_MATERIAL, 1.0)

    def noise_factor(self) -> float:
        return 1.0 + self.noise * NOISE_INCREASE

    def time_offset_ns(self) -> float:
        return self.time_offset * TIME_OFFSET_NS

    def extra_constant_term(self) -> float:
        return self.extra_constant * EXTRA_CONSTANT

    def sidecar(self) -> dict:
        """Every injected parameter (JSON-ready), for the data file's conditions sidecar."""
        amp, phase, phi0 = self._harmonics()
        return {
            "strengths": asdict(self),
            "scale_map": {
                "definition": "alpha(eta, phi) = scale * (sum_k a_k cos(k pi |eta|/2.5 + "
                              "phase_k) + crack_bump exp(-((|eta| - c)/w)^2/2) + "
                              "[|eta| < 1.475] phi_amplitude cos(16 phi + phi0)); "
                              "E_data = (1 + alpha) E",
                "harmonic_amplitudes": amp.tolist(), "harmonic_phases": phase.tolist(),
                "crack_bump": SCALE_CRACK_BUMP, "crack_centre_width": list(SCALE_CRACK_ETA),
                "phi_amplitude": SCALE_PHI_AMPLITUDE, "phi0": phi0,
            },
            "nonlinearity": {"c": self.nonlinearity * NONLINEARITY,
                             "definition": "factor 1 + c ln(E_T / 45 GeV) per cluster"},
            "lateral_scale": self.lateral_scale(),
            "material": {"abs_eta_range": list(EXTRA_MATERIAL_ETA),
                         "factor": 1.0 + self.material * EXTRA_MATERIAL},
            "noise_factor": self.noise_factor(),
            "time_offset_ns": self.time_offset_ns(),
            "extra_constant_term": self.extra_constant_term(),
        }

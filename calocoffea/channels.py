"""The analysis channels: one table read by the processors, the fits, the demo, the summary
and the plots.

A :class:`Channel` says which NanoAOD collection holds the calibrated electrons or photons,
how many of them an event has, which mass model fits its peak (and which other registered
models may be chosen instead, ``calocoffea fit --model``) and how its mass axis is binned.
The muons of Z→μμγ are not calibrated: they enter the mass as a fixed four-momentum.
"""

from __future__ import annotations

from dataclasses import dataclass

from calocoffea.constants import MH_GEV, MZ_GEV

#: Particle types that have calibrations (BDT and CNN models, response histograms).
PARTICLES: tuple[str, ...] = ("electron", "photon")
#: The energy calibrations, in the order they are filled: the standard BDT (egammaMVACalib
#: inputs, stored in the file), the shower-shape BDT baseline, the DeepCalo CNN, and the
#: true energy (MC only; mass histograms).
CALIBRATIONS: tuple[str, ...] = ("bdt", "bdt_shapes", "cnn", "truth")
#: Calibrations with a response histogram (E_calib / E_true).
RESPONSE_CALIBRATIONS: tuple[str, ...] = ("bdt", "bdt_shapes", "cnn")


@dataclass(frozen=True)
class Channel:
    """One analysis channel.

    ``title`` is for text and tables, ``tex`` for plots; ``mass_bins`` is (bins, low GeV,
    high GeV) of the ``mass`` histogram; ``mass_model`` the default key of
    :data:`calocoffea.fitting.models.MODELS`, ``other_mass_models`` the keys that may be
    chosen instead; ``resonance_mass`` (GeV) the pole the peak is compared with (m_Z or m_H).
    """

    name: str
    title: str
    tex: str
    collection: str
    particle: str
    n_objects: int
    mass_model: str
    mass_bins: tuple[int, float, float]
    resonance_mass: float
    other_mass_models: tuple[str, ...] = ()

    @property
    def mass_models(self) -> tuple[str, ...]:
        """Every model this channel may be fitted with, the default first."""
        return (self.mass_model, *self.other_mass_models)

    def pick_mass_model(self, model: str | None = None) -> str:
        """``model`` if this channel allows it, the default for None; ValueError naming the
        allowed ones otherwise."""
        if model is None:
            return self.mass_model
        if model not in self.mass_models:
            raise ValueError(f"mass model {model!r} is not one of {self.name}'s "
                             f"{list(self.mass_models)}")
        return model


#: Channel name -> :class:`Channel`, in the order the demo and the summary show them. H→γγ is
#: fitted with the double-sided Crystal Ball of the ATLAS/CMS signal models by default; the
#: thesis double Gaussian (eq. 4.8) stays available.
CHANNELS: dict[str, Channel] = {
    "zee": Channel("zee", "Z→ee", r"$Z\rightarrow ee$", "Electron", "electron", 2, "bwcb",
                   (300, 75.0, 105.0), MZ_GEV),
    "zmumugamma": Channel("zmumugamma", "Z→μμγ", r"$Z\rightarrow\mu\mu\gamma$", "Photon",
                          "photon", 1, "bwcb_bkg", (300, 70.0, 110.0), MZ_GEV),
    "hgamgam": Channel("hgamgam", "H→γγ", r"$H\rightarrow\gamma\gamma$", "Photon", "photon",
                       2, "dscb", (300, 105.0, 145.0), MH_GEV, ("double_gauss",)),
}


def channel(name: str) -> Channel:
    """The :class:`Channel` called ``name``; ValueError naming the known ones otherwise."""
    try:
        return CHANNELS[name]
    except KeyError:
        raise ValueError(f"unknown channel {name!r}; choose from {sorted(CHANNELS)}") from None

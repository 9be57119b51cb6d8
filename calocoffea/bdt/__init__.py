"""The standard (BDT) energy calibration of electrons and photons: features, training,
ONNX inference and evaluation against a simple median-response correction."""

from calocoffea.bdt.standard import StandardCalibration, load_standard_calibration

__all__ = ["StandardCalibration", "load_standard_calibration"]

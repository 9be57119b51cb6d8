"""The registered mass models (:mod:`calocoffea.fitting.models`) as zfit binned PDFs.

:class:`BinnedMassPDF` evaluates a model's bin probabilities with ``zfit.z.numpy``, so its
relative bin counts are exact bin integrals of the shape and plug into
``zfit.loss.BinnedNLL``. This module imports zfit/TensorFlow and must only be imported
client-side.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from calocoffea.fitting._quiet import import_tensorflow

import_tensorflow()  # before the imports below: keeps TensorFlow's start-up lines off stderr

import tensorflow as tf
import zfit
import zfit.z.numpy as znp
from zfit.core.binnedpdf import BaseBinnedPDF
from zfit.core.space import supports

from calocoffea.fitting import shapes
from calocoffea.fitting.models import MassModel


def _erf(x):
    return tf.math.erf(x)


class BinnedMassPDF(BaseBinnedPDF):
    """zfit binned PDF of the registered ``model`` on the binned space ``obs`` (mass in
    GeV), with one zfit parameter per :class:`~calocoffea.fitting.models.ParamSpec` in
    ``params``; ``subdivisions`` sets the BW⊗CB convolution step (min bin width /
    subdivisions)."""

    def __init__(self, obs, model: MassModel, params: Mapping, subdivisions: int = 4,
                 name: str | None = None):
        super().__init__(obs=obs, params=dict(params), name=name or model.name, extended=False)
        self.model = model
        edges = np.asarray(obs.binning.edges[0], dtype=float)
        self._ctx = model.context(znp, edges, subdivisions)
        self._widths = znp.asarray(np.diff(edges))

    def _probs(self):
        return shapes.normalise(znp, self.model.probs(znp, _erf, self._ctx, self.params))

    @supports(norm="space")
    def _rel_counts(self, x, norm=None, **kwargs):
        return self._probs()

    @supports(norm="space")
    def _pdf(self, x, norm=None, **kwargs):
        return self._probs() / self._widths


def binned_space(edges: np.ndarray, name: str = "mass") -> zfit.Space:
    """zfit binned space for mass-bin ``edges`` (GeV)."""
    edges = np.asarray(edges, dtype=float)
    binning = zfit.binned.VariableBinning(edges, name=name)
    return zfit.Space(name, limits=(edges[0], edges[-1]), binning=binning)

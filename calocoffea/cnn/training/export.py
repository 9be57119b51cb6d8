"""ONNX export of a trained DeepCalo network with its preprocessing and bias correction in
the graph (raw physical inputs in, E_true/E_acc ratio out) and the JSON model card beside it.

Graph inputs (dynamic batch axis ``n``): ``images`` float32 (n, C, 56, 11) in GeV (and ns
for time channels), ``scalars`` float32 (n, S) raw physical values in card order,
``tracks`` float32 (n, 15, T) raw, zero-padded. Outputs: ``ratio`` (n,) and, for models
with an uncertainty head, ``sigma_prime`` (n,) = log σ² of eq. 4.4 in ratio units.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from calocoffea.cnn.training.model import DeepCaloNet
from calocoffea.cnn.training.preprocessing import Preprocess

log = logging.getLogger(__name__)

#: ONNX opset of the exported graphs
OPSET = 17
CARD_VERSION = 1


class DeepCaloExport(nn.Module):
    """Preprocess → DeepCaloNet → per-|η|-bin median bias correction, and for a network with
    an uncertainty head the calibration of σ: σ′ + 2 ln s(|η|, E_T^acc) with the scale
    table ``sigma_scale`` (n_eta_bins × n_et_bins) on ``sigma_eta_edges`` ×
    ``sigma_et_edges`` (GeV), measured on the validation split so that the pulls have unit
    width (1 everywhere until measured)."""

    def __init__(self, pre: Preprocess, net: DeepCaloNet, eta_index: int,
                 eta_edges: list[float], corrections: list[float], *, eacc_index: int = 0,
                 sigma_eta_edges: list[float] | None = None,
                 sigma_et_edges: list[float] | None = None,
                 sigma_scale: list[list[float]] | None = None):
        super().__init__()
        self.pre = pre
        self.net = net
        self.eta_index = int(eta_index)
        self.eacc_index = int(eacc_index)
        self.register_buffer("eta_lo", torch.tensor(eta_edges[:-1], dtype=torch.float32))
        self.register_buffer("eta_hi", torch.tensor(eta_edges[1:], dtype=torch.float32))
        self.register_buffer("corr", torch.tensor(corrections, dtype=torch.float32))
        se = sigma_eta_edges or [0.0, 10.0]
        st = sigma_et_edges or [0.0, 1e9]
        scale = sigma_scale or [[1.0] * (len(st) - 1) for _ in range(len(se) - 1)]
        self.register_buffer("s_eta_lo", torch.tensor(se[:-1], dtype=torch.float32))
        self.register_buffer("s_eta_hi", torch.tensor(se[1:], dtype=torch.float32))
        self.register_buffer("s_et_lo", torch.tensor(st[:-1], dtype=torch.float32))
        self.register_buffer("s_et_hi", torch.tensor(st[1:], dtype=torch.float32))
        self.register_buffer("log_s2", torch.log(torch.tensor(scale, dtype=torch.float32) ** 2))

    @staticmethod
    def _onehot(x, lo, hi):
        x = torch.clamp(x, min=lo[0], max=hi[-1] - 1e-4)
        return ((x[:, None] >= lo) & (x[:, None] < hi)).to(torch.float32)

    def forward(self, images, scalars, tracks, domain=None):
        """``domain`` (n,) float: the type scalar of a ``type_scalar`` network (0 MC, 1 data)
        in training; None (the exported graph) feeds 1, the model as applied to data."""
        img, sc, trk, mask = self.pre(images, scalars, tracks)
        if self.net.cfg.type_scalar:
            if domain is None:
                domain = torch.ones_like(sc[:, 0])
            sc = torch.cat([sc, domain[:, None].to(sc.dtype)], dim=1)
        ratio, sigma_prime = self.net(img, sc, trk, mask)
        aeta = torch.abs(scalars[:, self.eta_index])
        onehot = self._onehot(aeta, self.eta_lo, self.eta_hi).to(ratio.dtype)
        ratio = ratio * (onehot * self.corr).sum(dim=1)
        if sigma_prime is None:
            return ratio
        # cosh through exp: the TorchScript ONNX exporter has no Cosh at this opset
        eta = scalars[:, self.eta_index]
        et = 2.0 * scalars[:, self.eacc_index] / (torch.exp(eta) + torch.exp(-eta))
        oe = self._onehot(aeta, self.s_eta_lo, self.s_eta_hi)
        ot = self._onehot(et, self.s_et_lo, self.s_et_hi)
        shift = ((oe @ self.log_s2) * ot).sum(dim=1)
        return ratio, sigma_prime + shift


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_onnx(model: DeepCaloExport, path: str | Path, n_scalars: int, n_track_vars: int,
                *, n_tracks: int = 15, image_shape: tuple[int, int] = (56, 11)) -> list[str]:
    """Export ``model`` (eval mode) to ``path``; returns the output names."""
    model = model.eval()
    c = model.net.cfg.image_channels
    ex = (
        torch.zeros(2, c, *image_shape),
        torch.ones(2, n_scalars),
        torch.zeros(2, n_tracks, n_track_vars),
    )
    outputs = ["ratio", "sigma_prime"] if model.net.cfg.sigma_output else ["ratio"]
    axes = {name: {0: "n"} for name in ["images", "scalars", "tracks", *outputs]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # the TorchScript exporter is deprecated in favour of dynamo; it is deterministic,
        # fast, and gives a compact graph for this static architecture
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, ex, str(path), input_names=["images", "scalars", "tracks"],
            output_names=outputs, dynamic_axes=axes, opset_version=OPSET, dynamo=False,
        )
    log.info("exported %s (%d bytes)", path, path.stat().st_size)
    return outputs


def write_card(onnx_path: str | Path, card: dict) -> Path:
    """Write the JSON model card beside the .onnx (same stem), adding its sha256."""
    onnx_path = Path(onnx_path)
    card = dict(card)
    card["card_version"] = CARD_VERSION
    card["onnx_file"] = onnx_path.name
    card["sha256"] = sha256_file(onnx_path)
    out = onnx_path.with_suffix(".json")
    out.write_text(json.dumps(card, indent=1, default=_json_default) + "\n")
    return out


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")

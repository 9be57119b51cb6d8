"""DeepCalo network (thesis §4.3, table 4.5) in torch: FiLM-modulated CNN, ScalarNet,
TrackNet (deep-sets over the 15 tracks) and a dense Top with a positive ratio output.

Inputs to :class:`DeepCaloNet` are already preprocessed (see ``preprocessing.py``):
images (n, C, 56, 11) normalised by E_acc, scalars (n, S), tracks (n, 15, T) and the track
mask (n, 15). The exported wrapper :class:`DeepCaloExport` adds the in-graph preprocessing
and the median bias correction so that the ONNX file takes raw physical inputs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from calocoffea.cnn.inputs import IMAGE_CHANNELS, TIME_CHANNELS, image_channels

#: softplus(x) = 1 at this x: the untrained network starts at ratio 1.
_SOFTPLUS_ONE = math.log(math.e - 1.0)


@dataclass
class ModelConfig:
    """Architecture and training hyper-parameters (two presets: ``lite`` and ``full``)."""

    name: str = "lite"
    image_channels: int = 4
    #: thesis §7.4 time channel: "none"; "concat" (the four layer-time images as four more
    #: input channels); "gate" (each layer's energy image multiplied pixel by pixel by a
    #: sigmoid gate computed from the four time images by a 1×1-convolution net)
    time_mode: str = "none"
    #: repeat each φ pixel this many times (thesis 56×11 → 56×55 upscale; 1 = none)
    phi_upscale: int = 1
    block_channels: tuple[int, ...] = (16, 24, 32)
    #: extra conv+BN+act sub-blocks after the FiLM-modulated first conv of each block
    block_depth: int = 0
    first_kernel: tuple[int, int] = (5, 3)
    first_stride: tuple[int, int] = (2, 1)
    #: max-pooling after each block except the last (last: global max+mean pooling)
    pools: tuple[tuple[int, int], ...] = ((2, 1), (2, 2))
    scalar_units: tuple[int, ...] = (64,)
    film_units: tuple[int, ...] = (64,)
    track_filters: int = 16
    track_units: tuple[int, ...] = (32,)
    top_units: tuple[int, ...] = (64, 32)
    sigma_output: bool = False
    #: thesis §5.4: one more scalar input, 0 for MC and 1 for data objects in training; the
    #: exported graph feeds it the constant 1 (the model as applied to data)
    type_scalar: bool = False
    #: weight w of the data-like sample's mean loss in the ensemble loss, MC mean + w · data
    #: mean (thesis eq. 5.9: w = 1; w < 1 trades adaptation to data for accuracy on MC)
    data_weight: float = 1.0
    # training
    batch_size: int = 256
    epochs: int = 12
    lr_max: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 3
    val_fraction: float = 0.15
    #: logcosh scale δ in units of the ratio: loss = δ·logcosh((r̂ − r)/δ)
    logcosh_delta: float = 0.02
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        for key in ("block_channels", "scalar_units", "film_units", "track_units", "top_units",
                    "first_kernel", "first_stride"):
            if key in d:
                d[key] = tuple(d[key])
        if "pools" in d:
            d["pools"] = tuple(tuple(p) for p in d["pools"])
        return cls(**d)


TIME_MODES: tuple[str, ...] = ("none", "concat", "gate")


def with_time_mode(cfg: ModelConfig, mode: str) -> ModelConfig:
    """``cfg`` with the time channel ``mode`` (:data:`TIME_MODES`) and its image channels."""
    if mode not in TIME_MODES:
        raise ValueError(f"time mode must be one of {TIME_MODES}, got {mode!r}")
    cfg.time_mode = mode
    cfg.image_channels = image_channels(mode != "none")
    return cfg


def _conv_channels(cfg: ModelConfig) -> int:
    """Channels entering the first convolution (the gate folds the times into the energies)."""
    return IMAGE_CHANNELS if cfg.time_mode == "gate" else cfg.image_channels


#: Initial bias of the time gate's last layer: sigmoid(4) = 0.98, the gate starts open.
_GATE_OPEN = 4.0


def preset(name: str) -> ModelConfig:
    """``lite``: CPU-trainable, ≈2 MFLOP/cluster. ``full``: thesis table 4.5 (GPU)."""
    if name == "lite":
        return ModelConfig()
    if name == "full":
        return ModelConfig(
            name="full", phi_upscale=5, block_channels=(32, 64, 128), block_depth=3,
            first_kernel=(3, 3), first_stride=(1, 1), pools=((2, 2), (2, 2)),
            scalar_units=(256,), film_units=(512, 1024), track_filters=64,
            track_units=(128, 64, 32, 16), top_units=(512, 512), batch_size=2048,
            epochs=100, lr_max=4e-2 / 10, patience=10,
        )
    raise ValueError(f"unknown model config {name!r}; expected 'lite' or 'full'")


def _dense(n_in: int, units: tuple[int, ...]) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for u in units:
        layers += [nn.Linear(n_in, u), nn.BatchNorm1d(u), nn.LeakyReLU(0.01)]
        n_in = u
    return nn.Sequential(*layers), n_in


class FiLMBlock(nn.Module):
    """conv → BN → FiLM(γ, β) → LeakyReLU, then ``depth`` × (conv → BN → LeakyReLU)."""

    def __init__(self, c_in: int, c_out: int, kernel, stride, depth: int):
        super().__init__()
        pad = (kernel[0] // 2, kernel[1] // 2)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=pad, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.LeakyReLU(0.01)
        sub: list[nn.Module] = []
        for _ in range(depth):
            sub += [nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                    nn.LeakyReLU(0.01)]
        self.sub = nn.Sequential(*sub)

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        # (1 + γ) keeps the block an identity modulation at initialisation
        x = x * (1.0 + gamma[:, :, None, None]) + beta[:, :, None, None]
        return self.sub(self.act(x))


class DeepCaloNet(nn.Module):
    """The network on preprocessed inputs; returns (ratio (n,), sigma_prime (n,) or None)."""

    def __init__(self, cfg: ModelConfig, n_scalars: int, n_track_vars: int):
        super().__init__()
        self.cfg = cfg
        self.scalar_net, n_sc = _dense(n_scalars + int(cfg.type_scalar), cfg.scalar_units)
        self.film_gen, n_film = _dense(n_sc, cfg.film_units)
        self.n_film = [c for c in cfg.block_channels]
        self.film_out = nn.Linear(n_film, 2 * sum(self.n_film))
        nn.init.zeros_(self.film_out.weight)
        nn.init.zeros_(self.film_out.bias)
        if cfg.time_mode not in TIME_MODES:
            raise ValueError(f"time mode must be one of {TIME_MODES}, got {cfg.time_mode!r}")
        self.time_gate = None
        if cfg.time_mode == "gate":
            # per pixel: 4 layer times → 8 → 4 gates in (0, 1), one per layer's energy
            self.time_gate = nn.Sequential(nn.Conv2d(TIME_CHANNELS, 8, 1), nn.LeakyReLU(0.01),
                                           nn.Conv2d(8, IMAGE_CHANNELS, 1))
            nn.init.constant_(self.time_gate[2].bias, _GATE_OPEN)
        blocks = []
        c_in = _conv_channels(cfg)
        for i, c in enumerate(cfg.block_channels):
            k = cfg.first_kernel if i == 0 else (3, 3)
            s = cfg.first_stride if i == 0 else (1, 1)
            blocks.append(FiLMBlock(c_in, c, k, s, cfg.block_depth))
            c_in = c
        self.blocks = nn.ModuleList(blocks)
        self.pools = nn.ModuleList([nn.MaxPool2d(p) for p in cfg.pools])
        # TrackNet: per-track pointwise conv1d (= shared dense), masked sum and max pooling
        self.track_conv = nn.Sequential(
            nn.Conv1d(n_track_vars, cfg.track_filters, 1), nn.LeakyReLU(0.01)
        )
        self.track_dense, n_tr = _dense(2 * cfg.track_filters + 1, cfg.track_units)
        n_top_in = 2 * c_in + n_tr + n_sc
        self.top, n_top = _dense(n_top_in, cfg.top_units)
        self.out = nn.Linear(n_top, 2 if cfg.sigma_output else 1)
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)
        with torch.no_grad():
            self.out.bias[0] = _SOFTPLUS_ONE

    def forward(self, images, scalars, tracks, track_mask):
        sc = self.scalar_net(scalars)
        film = self.film_out(self.film_gen(sc))
        x = images
        if self.time_gate is not None:
            x = x[:, :IMAGE_CHANNELS] * torch.sigmoid(self.time_gate(x[:, IMAGE_CHANNELS:]))
        if self.cfg.phi_upscale > 1:
            # energy-conserving φ upscale: each pixel split in equal sub-pixels
            x = torch.repeat_interleave(x, self.cfg.phi_upscale, dim=3) / self.cfg.phi_upscale
        offset = 0
        for i, block in enumerate(self.blocks):
            c = self.n_film[i]
            gamma = film[:, offset : offset + c]
            beta = film[:, offset + c : offset + 2 * c]
            offset += 2 * c
            x = block(x, gamma, beta)
            if i < len(self.pools):
                x = self.pools[i](x)
        img_feat = torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], dim=1)
        t = self.track_conv(tracks.transpose(1, 2)) * track_mask[:, None, :]
        n_trk = track_mask.sum(dim=1, keepdim=True)
        t_feat = torch.cat([t.sum(dim=2) / 4.0, t.amax(dim=2), n_trk / 4.0], dim=1)
        tr = self.track_dense(t_feat)
        h = self.top(torch.cat([img_feat, tr, sc], dim=1))
        o = self.out(h)
        ratio = nn.functional.softplus(o[:, 0])
        sigma_prime = o[:, 1] if self.cfg.sigma_output else None
        return ratio, sigma_prime


def count_flops(cfg: ModelConfig, n_scalars: int, n_track_vars: int, n_tracks: int = 15,
                shape: tuple[int, int] = (56, 11)) -> int:
    """Multiply-add FLOPs (2 per MAC) of one forward pass, convolutions and dense layers."""
    flops = 0
    h, w = shape[0], shape[1] * cfg.phi_upscale
    c_in = _conv_channels(cfg)
    if cfg.time_mode == "gate":
        flops += 2 * shape[0] * shape[1] * (4 * 8 + 8 * 4)
    for i, c in enumerate(cfg.block_channels):
        k = cfg.first_kernel if i == 0 else (3, 3)
        s = cfg.first_stride if i == 0 else (1, 1)
        h, w = (h + s[0] - 1) // s[0], (w + s[1] - 1) // s[1]
        flops += 2 * h * w * c * c_in * k[0] * k[1]
        flops += cfg.block_depth * 2 * h * w * c * c * 9
        if i < len(cfg.pools):
            h, w = h // cfg.pools[i][0], w // cfg.pools[i][1]
        c_in = c

    def dense(n, units):
        tot = 0
        for u in units:
            tot += 2 * n * u
            n = u
        return tot, n

    f, n_sc = dense(n_scalars, cfg.scalar_units)
    flops += f
    f, n_film = dense(n_sc, cfg.film_units)
    flops += f + 2 * n_film * 2 * sum(cfg.block_channels)
    flops += 2 * n_tracks * n_track_vars * cfg.track_filters
    f, n_tr = dense(2 * cfg.track_filters + 1, cfg.track_units)
    flops += f
    f, n_top = dense(2 * c_in + n_tr + n_sc, cfg.top_units)
    flops += f + 2 * n_top * 2
    return int(flops)

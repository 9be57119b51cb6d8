"""A toy e/γ calorimeter response, for testing the BDT machinery without the full simulation.

It produces the same per-object columns as the NanoAOD-style files (see
:mod:`calocoffea.bdt.inputs`) with a known, learnable dependence of E_acc on the
true energy: upstream loss growing with |η| and visible partly in E0, extra loss in the
barrel/end-cap crack seen by the tile-gap scintillator, longitudinal leakage correlated with
E1/E2, a small cell-position modulation, sampling (10%/√E) and noise terms, and for converted
photons a loss growing with the conversion radius' distance from the calorimeter.
It is NOT a physics model of the detector; calocoffea.sim is.
"""

from __future__ import annotations

import numpy as np

from calocoffea.geometry import CRACK, ETA_MAX


def toy_gun_columns(
    n: int, particle: str, seed: int, et_range: tuple[float, float] = (5.0, 500.0)
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(columns, e_true): ``n`` toy objects; energies in GeV, convRadius in cm.

    ``particle`` is "electron" or "photon" (photons get the conversion columns, about 30%
    converted; electrons a track); the shower-shape columns of ``bdt_shapes`` are filled
    with toy values correlated with the containment. Deterministic for a seed.
    """
    if particle not in ("electron", "photon"):
        raise ValueError(f"particle must be 'electron' or 'photon', got {particle!r}")
    rng = np.random.default_rng(seed)
    et = np.exp(rng.uniform(np.log(et_range[0]), np.log(et_range[1]), n))
    eta = rng.uniform(-ETA_MAX, ETA_MAX, n)
    e_true = et * np.cosh(eta)
    aeta = np.abs(eta)

    # upstream material in X0 and the fraction of energy lost in front of the accordion
    x0 = 2.0 + 1.2 * aeta**2
    upstream = 0.02 * x0 * np.exp(rng.normal(0.0, 0.35, n)) / np.sqrt(1 + e_true / 50.0)
    if particle == "electron":
        upstream *= 1.4  # bremsstrahlung before the calorimeter
    conv_type = np.zeros(n, dtype=np.int32)
    conv_radius = np.zeros(n)
    if particle == "photon":
        converted = rng.random(n) < 0.3
        conv_type[converted] = rng.choice([1, 2], converted.sum(), p=[0.4, 0.6])
        conv_radius[converted] = rng.uniform(3.0, 80.0, converted.sum())
        upstream = np.where(converted, upstream * (1.0 + (80.0 - conv_radius) / 80.0), upstream)
        upstream = np.where(converted, upstream, 0.5 * upstream)
    upstream = np.clip(upstream, 0.0, 0.6)
    e0 = e_true * upstream * 0.45 * np.exp(rng.normal(0.0, 0.2, n))

    in_crack = (aeta > CRACK[0]) & (aeta < CRACK[1])
    crack_loss = np.where(in_crack, rng.uniform(0.1, 0.4, n), 0.0)
    e_tile = e_true * crack_loss * 0.6 * np.exp(rng.normal(0.0, 0.3, n)) + rng.normal(0, 0.05, n)

    # shower depth: later showers (small E1/E2) leak more out of the back
    depth = rng.normal(0.0, 1.0, n)
    f1 = np.clip(0.35 - 0.04 * np.log(e_true / 10.0) + 0.05 * depth, 0.02, 0.8)
    leak = np.clip(0.01 + 0.006 * np.log1p(e_true / 10.0) - 0.008 * depth, 0.0, 0.2)
    eta_mod = rng.random(n)
    phi_mod = rng.random(n)
    modulation = 1.0 - 0.015 * (2 * phi_mod - 1) ** 2 - 0.005 * (2 * eta_mod - 1) ** 2

    deposited = e_true * (1 - upstream) * (1 - crack_loss) * (1 - leak) * modulation
    sampling = 1.0 + rng.normal(0.0, 0.10, n) / np.sqrt(e_true)
    e_acc = deposited * sampling + rng.normal(0.0, 0.25, n)
    e1 = f1 * e_acc
    e3 = leak * 0.5 * e_acc
    e2 = e_acc - e1 - e3

    e_tot = e0 + e_acc
    cols: dict[str, np.ndarray] = {
        "eAcc": e_acc, "e0": e0, "e1": e1, "e2": e2, "e3": e3,
        "eta": eta, "phi": rng.uniform(-np.pi, np.pi, n),
        "etaMod": eta_mod, "phiMod": phi_mod, "eTileGap": e_tile,
        # shower shapes: containment-like ratios that see the longitudinal leak
        "rEta": np.clip(0.96 - 0.5 * leak + rng.normal(0, 0.01, n), 0.5, 1.0),
        "rPhi": np.clip(0.95 + rng.normal(0, 0.02, n), 0.5, 1.0),
        "wEta2": 0.0105 + 0.0005 * depth,
        "wS3": 0.65 + 0.05 * rng.normal(0, 1, n),
        "f1": e1 / e_tot,
        "f3": e3 / e_tot,
        "eRatio": np.clip(0.92 + rng.normal(0, 0.03, n), 0.0, 1.0),
        "sigmaIetaIeta": 0.015 + 0.001 * rng.normal(0, 1, n),
        "r9": np.clip(0.95 - leak + rng.normal(0, 0.02, n), 0.0, 1.0),
        "eWindow0": e0 * 1.05, "eWindow1": e1 * 1.03, "eWindow2": e2 * 1.03,
        "eWindow3": e3 * 1.1,
    }
    if particle == "photon":
        conv = conv_type > 0
        p_conv = np.where(conv, et * (1 - upstream) * np.exp(rng.normal(0, 0.05, n)), 1.0)
        x = rng.uniform(0.5, 1.0, n)
        two = conv_type == 2
        cols["convType"] = conv_type
        cols["convRadius"] = conv_radius
        cols["convZ"] = np.where(conv, conv_radius * np.sinh(eta), 0.0)
        cols["convPt1"] = np.where(conv, np.where(two, x, 1.0) * p_conv, 0.0)
        cols["convPt2"] = np.where(two, (1 - x) * p_conv, 0.0)
        cols["convPt"] = np.where(conv, p_conv, 0.0)
        cols["convPtRatio"] = np.where(two, x, np.where(conv, 1.0, 0.0))
        cols["convEtOverPt"] = np.where(
            two, np.clip((e_acc / np.cosh(eta)) / p_conv, 0.0, 2.0), 0.0
        )
    else:
        cols["charge"] = np.where(rng.random(n) < 0.5, -1, 1).astype(np.int32)
        cols["trackPt"] = et * np.sqrt(1 - upstream) * (1 + rng.normal(0, 0.02, n))
        cols["trackEta"] = eta + rng.normal(0, 0.001, n)
        cols["trackZ0"] = rng.normal(0, 4.5, n)
    cols = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in cols.items()}
    return cols, e_true

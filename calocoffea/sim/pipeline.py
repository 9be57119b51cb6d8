"""One chunk of events from generator to reconstructed NanoAOD-style columns."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from calocoffea import geometry as geo
from calocoffea.constants import ME_GEV, MMU_GEV
from calocoffea.kinematics import wrap_phi
from calocoffea.sim import (
    detector,
    pileup,
    processes,
    reconstruction,
    shower,
    superclusters,
    tracking,
)
from calocoffea.sim.config import SimConfig
from calocoffea.sim.processes import BOSON_PT_MIN_BRANCH

log = logging.getLogger(__name__)

#: energy(columns, particle) -> GeV; see calocoffea.bdt.standard.
EnergyFunction = Callable[[Mapping[str, np.ndarray], str], np.ndarray]


@dataclass
class Columns:
    """Event-level arrays and jagged collections ``name -> (counts, {field: flat array})``."""

    n_events: int
    event: dict[str, np.ndarray] = field(default_factory=dict)
    collections: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = field(default_factory=dict)
    #: Data-like files only, never written to the file: per reconstructed object its |η|,
    #: E_T (GeV) and the injected scale factor (1 + ⟨α⟩_cells) × non-linearity, for the
    #: conditions sidecar (the closure tests' expectation).
    injected: dict[str, np.ndarray] = field(default_factory=dict)


def _counts(event: np.ndarray, n_events: int) -> np.ndarray:
    return np.bincount(event, minlength=n_events).astype(np.int64)


def _local_index(event: np.ndarray, n_events: int) -> np.ndarray:
    starts = np.concatenate([[0], np.cumsum(_counts(event, n_events))[:-1]])
    return (np.arange(len(event)) - starts[event]).astype(np.int32)


def crack_loss(rng: np.random.Generator, abs_eta: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """Fraction of a shower lost in the barrel/end-cap transition (fluctuating)."""
    g = cfg.crack_loss_max * np.exp(
        -0.5 * ((abs_eta - cfg.crack_loss_center) / cfg.crack_loss_width) ** 2
    )
    return np.clip(g * rng.lognormal(0.0, 0.6, len(abs_eta)), 0.0, 0.6)


def tilegap_signal(rng: np.random.Generator, seen: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """Tile-gap scintillator signal (GeV) of objects whose leaking energy it sees (``seen``).

    Gamma-distributed with mean ``seen`` and variance ``cfg.tilegap_sampling**2 * seen``
    (stochastic term of a thin plate sampling the shower tail); noise is added by the caller.
    """
    if cfg.tilegap_sampling <= 0:
        return seen
    a2 = cfg.tilegap_sampling**2
    return np.where(seen > 0, rng.gamma(np.maximum(seen, 1e-12) / a2, a2), 0.0)


@dataclass
class _Chunk:
    """What the steps of :func:`simulate_chunk` hand on to each other (flat numpy arrays;
    GeV, rad, cm, ns). Each step's docstring says which fields it fills."""

    n_events: int
    gen: processes.GenParticles
    mu: np.ndarray
    inter: pileup.Interactions
    objs: detector.Objects
    showers: detector.Showers
    trk_hard: detector.Tracks
    # shower development (step 2)
    lon: shower.Longitudinal | None = None
    layers: np.ndarray | None = None
    e_tg: np.ndarray | None = None
    # windows (step 3)
    impact_eta: np.ndarray | None = None
    keta: np.ndarray | None = None
    jphi: np.ndarray | None = None
    win: shower.Windows | None = None
    # reconstructed cells and clusters (steps 4-5)
    sc: dict[str, np.ndarray] = field(default_factory=dict)
    cells: dict[str, np.ndarray] = field(default_factory=dict)
    injected_scale: np.ndarray | None = None
    injected_alpha: np.ndarray | None = None
    injected_nonlinearity: np.ndarray | None = None
    cell_cl: np.ndarray | None = None
    is_e: np.ndarray | None = None
    trk_pu: detector.Tracks | None = None
    # tracks, vertices and conversions (step 6)
    tracks: detector.Tracks | None = None
    vertices: tracking.Vertices | None = None
    mu_cols: dict[str, np.ndarray] = field(default_factory=dict)
    conv: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_obj(self) -> int:
        return len(self.objs)


def _truth(rng: np.random.Generator, process: str, n_events: int, *, mu_profile: str,
           gun_options: dict | None, cfg: SimConfig) -> _Chunk:
    """Step 1: generator particles, ⟨μ⟩ and the in-time pile-up interactions per event, the
    reconstructable e/γ objects, their showers (after brem and conversions in the inner
    detector) and the hard tracks."""
    gen = processes.generate(rng, process, n_events, **(gun_options or {}))
    mu = pileup.sample_mu(rng, n_events, mu_profile)
    inter = pileup.interactions(rng, mu)
    objs = detector.select_objects(gen)
    showers, trk_hard = detector.propagate(
        rng, gen, objs, cfg.id_material_factor if cfg.data is not None else None
    )
    return _Chunk(n_events, gen, mu, inter, objs, showers, trk_hard)


def _develop_showers(rng: np.random.Generator, ch: _Chunk, cfg: SimConfig) -> None:
    """Step 2: longitudinal profile of each shower in the four layers (GFlash), the energy
    lost in the barrel/end-cap crack and the tile-gap scintillator signal per object.
    Fills ``lon``, ``layers`` (n_showers, 3: strips, middle, back) and ``e_tg`` (n_obj,)."""
    showers, objs, n_obj = ch.showers, ch.objs, ch.n_obj
    sh_aeta = np.abs(showers.eta)
    lon = shower.longitudinal(rng, showers.energy, sh_aeta, showers.is_photon, cfg)
    g_crack = crack_loss(rng, sh_aeta, cfg)
    ch.layers = lon.layers * (1.0 - g_crack)[:, None]
    e_tg_sh = cfg.tilegap_response * g_crack * lon.layers.sum(axis=1)
    e_tg = np.bincount(showers.obj, weights=e_tg_sh, minlength=n_obj)
    e_tg = tilegap_signal(rng, e_tg, cfg)
    tg_cov = geo.in_tilegap(objs.eta)
    ch.e_tg = np.where(tg_cov, e_tg + cfg.tilegap_noise_gev * rng.standard_normal(n_obj), 0.0)
    ch.lon = lon


def _seed_windows(ch: _Chunk) -> None:
    """Step 3: each object's window seed, the middle-layer cell of the energy-weighted
    impact of its showers, and every geometry cell of its window. Fills ``impact_eta``,
    ``keta``, ``jphi`` (n_obj,) and ``win``."""
    showers, objs, n_obj = ch.showers, ch.objs, ch.n_obj
    w = ch.layers.sum(axis=1) + 1e-9
    dphi = wrap_phi(showers.phi - objs.phi[showers.obj])
    sw = np.bincount(showers.obj, weights=w, minlength=n_obj)
    c_eta = np.bincount(showers.obj, weights=w * showers.eta, minlength=n_obj) / sw
    c_phi = wrap_phi(
        objs.phi + np.bincount(showers.obj, weights=w * dphi, minlength=n_obj) / sw
    )
    ch.impact_eta = c_eta
    ch.keta = np.floor(c_eta / geo.LAYER2_DETA).astype(np.int64)
    ch.jphi = np.floor((c_phi + np.pi) / geo.LAYER2_DPHI).astype(np.int64) % geo.LAYER2_NPHI
    ch.win = shower.build_windows(ch.keta, ch.jphi)


def _reconstruct_cells(rng: np.random.Generator, ch: _Chunk, cfg: SimConfig) -> None:
    """Steps 4-5: lateral spots of the showers, in-time pile-up particles (deposits and
    tracks from the event's interactions), out-of-time pile-up and muons deposited in the
    window cells; cell spot and sampling fluctuations, noise and time; the dynamic
    supercluster of each object (:mod:`calocoffea.sim.superclusters`) and its scalars and
    shower shapes; the stored cells (every cell overlapping the 7×11 window around the
    supercluster barycentre) and their per-layer sums. Fills ``sc``, ``cells``
    ({column: (n_stored_cells,)}), ``cell_cl`` (object of each stored cell), ``is_e``,
    ``trk_pu`` and scales ``e_tg`` with the cluster's factor."""
    showers, objs, n_obj, win, lon = ch.showers, ch.objs, ch.n_obj, ch.win, ch.lon
    evt_cl_off = np.concatenate([[0], np.cumsum(_counts(objs.event, ch.n_events))])
    layer_e = np.concatenate([lon.presampler[:, None], ch.layers], axis=1)
    sp_sh = shower.lateral_spots(
        rng,
        objs.event[showers.obj],
        showers.eta,
        showers.phi,
        layer_energy=layer_e,
        tau=lon.tau,
        log_e=lon.log_e,
        cfg=cfg,
    )
    seed_eta = (ch.keta + 0.5) * geo.LAYER2_DETA
    seed_phi = -np.pi + (ch.jphi + 0.5) * geo.LAYER2_DPHI
    sp_it, ch.trk_pu = pileup.in_time_particles(
        rng, objs.event, seed_eta, seed_phi, ch.inter, cfg=cfg
    )
    sp_oot = pileup.out_of_time_spots(rng, objs.event, seed_eta, seed_phi, mu_event=ch.mu,
                                      cfg=cfg)
    mu_ev, mu_eta, mu_phi = detector.muon_calo_impacts(ch.gen)
    sp_mu = pileup.muon_spots(mu_ev, mu_eta, mu_phi, rng)
    spots = shower.Spots.concat([sp_sh, sp_it, sp_oot, sp_mu])
    e_sig, e_oth, t_num, t_den = shower.deposit(spots, win, evt_cl_off)

    # per-cluster multiplicative factor: local constant term, and for the data-like detector
    # its E_T non-linearity (the scale map acts cell by cell, in finalize_cells)
    a_obj = np.abs(ch.impact_eta)
    factor = 1.0 + cfg.constant_term(a_obj) * rng.standard_normal(n_obj)
    if cfg.data is not None:
        factor = factor * cfg.data.nonlinearity_factor(objs.pt)
    cell_cl = np.repeat(np.arange(n_obj), np.diff(win.offsets))
    e_cell, t_cell = reconstruction.finalize_cells(
        rng,
        e_sig,
        e_oth,
        t_num,
        t_den,
        layer=win.layer,
        eta=win.eta,
        phi=win.phi,
        cluster_of_cell=cell_cl,
        cluster_factor=factor,
        cfg=cfg,
    )
    ch.e_tg = ch.e_tg * factor
    if cfg.data is not None:
        # the scale the data-like detector applied to this object's shower: its signal-
        # weighted cell α and its non-linearity (the constant-term smearing has mean 1)
        w = np.maximum(e_sig, 0.0)
        num = np.bincount(cell_cl, w * cfg.data.alpha(win.eta, win.phi), minlength=n_obj)
        den = np.bincount(cell_cl, w, minlength=n_obj)
        ch.injected_alpha = num / np.maximum(den, 1e-12)
        ch.injected_nonlinearity = cfg.data.nonlinearity_factor(objs.pt)
        ch.injected_scale = (1.0 + ch.injected_alpha) * ch.injected_nonlinearity
    ch.is_e = is_e = np.abs(objs.pdg) == 11

    # dynamic superclusters on the window cells, with the total (electronic + pile-up) noise
    window = {"layer": win.layer, "eta": win.eta, "phi": win.phi, "deta": win.deta,
              "dphi": win.dphi, "e": e_cell}
    noise_var = reconstruction.noise_variance(
        win.layer, win.eta, win.deta, win.dphi, mu=ch.mu[objs.event][cell_cl], cfg=cfg
    )
    conv_dir_phi = np.where(objs.leg_reco.any(axis=1), objs.phi, np.nan)
    found = superclusters.build(
        window, noise_var, win.offsets, ch.keta, ch.jphi, is_electron=is_e,
        trk_eta=objs.trk_eta, trk_phi=objs.trk_phi, conv_eta=objs.eta, conv_phi=conv_dir_phi,
        leg_phi=objs.leg_phi_calo, half_eta=shower.SIM_HALF_ETA, half_phi=shower.SIM_HALF_PHI,
    )
    sc = superclusters.shower_shapes(window, win.offsets, found)
    # an object without a middle-layer cell in its supercluster keeps its seed position
    sc["eta"] = np.where(np.isfinite(sc["eta"]), sc["eta"], seed_eta)
    sc["phi"] = wrap_phi(np.where(np.isfinite(sc["phi"]), sc["phi"], seed_phi))
    sc["e_acc"] = sc["e1"] + sc["e2"] + sc["e3"]
    u_eta = sc["eta"] / geo.LAYER2_DETA
    u_phi = (sc["phi"] + np.pi) / geo.LAYER2_DPHI
    sc["eta_mod"] = u_eta - np.floor(u_eta)
    sc["phi_mod"] = u_phi - np.floor(u_phi)
    sc["eta_index"] = np.floor(u_eta).astype(np.int32)
    sc["n_satellites"] = found.n_satellites
    sc["fallback"] = found.fallback

    half_eta = 0.5 * geo.WINDOW_ETA_CELLS * geo.LAYER2_DETA
    half_phi = 0.5 * geo.WINDOW_PHI_CELLS * geo.LAYER2_DPHI
    keep = (np.abs(win.eta - sc["eta"][cell_cl]) < half_eta + 0.5 * win.deta - 1e-9) & (
        np.abs(wrap_phi(win.phi - sc["phi"][cell_cl])) < half_phi + 0.5 * win.dphi - 1e-9
    )
    sc["n_cell"] = np.bincount(cell_cl[keep], minlength=n_obj).astype(np.int32)
    for lay in geo.LAYERS:
        m = keep & (win.layer == lay)
        sc[f"e_window{lay}"] = np.bincount(cell_cl[m], weights=e_cell[m], minlength=n_obj)
    ch.sc = sc
    ch.cell_cl = cell_cl[keep]
    ch.cells = {
        "layer": win.layer[keep],
        "eta": win.eta[keep],
        "phi": win.phi[keep],
        "deta": win.deta[keep],
        "dphi": win.dphi[keep],
        "e": e_cell[keep],
        "time": t_cell[keep],
    }


def _tracks_and_conversions(rng: np.random.Generator, ch: _Chunk, cfg: SimConfig) -> None:
    """Step 6: muon objects and tracks, pile-up and hard tracks sorted by event; the
    reconstructed primary vertices and each track's vertex (nearest in z,
    :mod:`calocoffea.sim.tracking`); the photons' reconstructed conversions from their
    reconstructed legs: type (0 none, 1 single-track, 2 double-track), radius and z with
    their resolutions, leg p_T's and the egammaMVACalib conversion variables. Fills
    ``mu_cols``, ``tracks``, ``vertices`` and ``conv`` ({column: (n_obj,)})."""
    del cfg
    n_obj, is_e, sc, objs = ch.n_obj, ch.is_e, ch.sc, ch.objs
    ch.mu_cols, trk_mu = detector.muon_tracks_and_objects(rng, ch.gen)
    tracks = detector.Tracks.concat([ch.trk_hard, trk_mu, ch.trk_pu])
    order = np.argsort(tracks.event, kind="stable")
    tracks = tracks.take(order)
    ch.vertices = tracking.reconstruct_vertices(rng, ch.gen.vertex_z, ch.inter.offsets,
                                                ch.inter.z)
    tracks.vtx = tracking.associate(tracks.event, tracks.z0, tracks.sz0, ch.vertices)
    ch.tracks = tracks

    n_legs = objs.leg_reco.sum(axis=1)
    conv_type = np.where(is_e, 0, n_legs).astype(np.int32)
    converted = conv_type > 0
    silicon = objs.conv_radius < detector.ID_MID_RADIUS
    r_true = objs.conv_radius
    conv_radius = np.where(
        converted,
        np.abs(r_true + np.where(silicon, 1.0, 4.0) * rng.standard_normal(n_obj)),
        0.0,
    )
    conv_z = np.where(converted,
                      objs.conv_z + np.where(silicon, 0.5, 3.0) * rng.standard_normal(n_obj), 0.0)
    pts = np.sort(objs.leg_pt, axis=1)[:, ::-1]  # leading leg first; 0 for a lost leg
    pt_conv = pts.sum(axis=1)  # the legs leave the vertex collinear with the photon
    n_si = (objs.leg_reco & objs.leg_si).sum(axis=1).astype(np.int32)
    two_si = n_si == 2
    et_acc = sc["e_acc"] / np.cosh(sc["eta"])
    with np.errstate(divide="ignore", invalid="ignore"):
        pt_ratio = np.where(two_si, pts[:, 0] / np.maximum(pt_conv, 1e-3), 1.0)
        et_over_pt = np.where(two_si, np.clip(et_acc / np.maximum(pt_conv, 1e-3), 0.0, 2.0), 0.0)
    ch.conv = {
        "convType": conv_type,
        "convRadius": conv_radius,
        "convZ": conv_z,
        "convPt1": np.where(converted, pts[:, 0], 0.0),
        "convPt2": np.where(converted, pts[:, 1], 0.0),
        "convPt": np.where(converted, pt_conv, 0.0),
        "convNSi": np.where(converted, n_si, 0).astype(np.int32),
        # egammaMVAFunctions: max(pt1, pt2)/(pt1 + pt2) and E_T^acc/p_T^conv clipped to
        # [0, 2] for two silicon tracks, else 1 and 0
        "convPtRatio": np.where(converted, pt_ratio, 0.0),
        "convEtOverPt": np.where(converted, et_over_pt, 0.0),
    }


#: ``Cluster`` branch -> supercluster quantity (docs/data_format.md).
CLUSTER_BRANCHES: dict[str, str] = {
    "eAcc": "e_acc", "e0": "e0", "e1": "e1", "e2": "e2", "e3": "e3", "eta": "eta",
    "phi": "phi", "etaMod": "eta_mod", "phiMod": "phi_mod", "etaIndex": "eta_index",
    "rEta": "rEta", "rPhi": "rPhi", "wEta2": "wEta2", "wS3": "wS3", "f1": "f1", "f3": "f3",
    "eRatio": "eRatio", "sigmaIetaIeta": "sigmaIetaIeta", "r9": "r9",
    "eWindow0": "e_window0", "eWindow1": "e_window1", "eWindow2": "e_window2",
    "eWindow3": "e_window3", "nCell": "n_cell",
}


def _cluster_columns(ch: _Chunk) -> dict[str, np.ndarray]:
    """The ``Cluster`` branches (n_obj,); shower shapes undefined for an object without a
    middle-layer cell are stored as 0 (NanoAOD has no NaN convention for them)."""
    cols = {}
    for branch, key in CLUSTER_BRANCHES.items():
        value = np.asarray(ch.sc[key])
        cols[branch] = np.nan_to_num(value, nan=0.0) if value.dtype.kind == "f" else value
    cols["eTileGap"] = ch.e_tg
    return cols


def _electron_track_columns(ch: _Chunk) -> dict[str, np.ndarray]:
    """Per object (n_obj,): the own track's p_T, η, z0 and charge (electrons; NaN or 0
    without a track), as the egammaMVACalib electron inputs read them."""
    n_obj, tracks = ch.n_obj, ch.tracks
    own = (tracks.obj >= 0) & ch.is_e[np.maximum(tracks.obj, 0)]
    out = {"trackPt": np.full(n_obj, np.nan), "trackEta": np.full(n_obj, np.nan),
           "trackZ0": np.full(n_obj, np.nan), "charge": np.zeros(n_obj)}
    k = tracks.obj[own]
    out["trackPt"][k] = tracks.pt[own]
    out["trackEta"][k] = tracks.eta[own]
    out["trackZ0"][k] = tracks.z0[own]
    out["charge"][k] = tracks.charge[own]
    return out


def _calibrate(ch: _Chunk, energy_fn: EnergyFunction | None) -> np.ndarray:
    """Step 7: the stored (standard-calibration) energy of each object (n_obj,) in GeV:
    ``energy_fn`` on the cluster and conversion columns, or E_acc without it."""
    calib_cols = {**_cluster_columns(ch), **ch.conv, **_electron_track_columns(ch)}
    energy = np.maximum(ch.sc["e_acc"], 1e-3)
    if energy_fn is not None:
        for particle, mask in (("electron", ch.is_e), ("photon", ~ch.is_e)):
            if mask.any():
                sub = {k: v[mask] for k, v in calib_cols.items()}
                energy[mask] = energy_fn(sub, particle)
    return energy


def _nanoaod(ch: _Chunk, energy: np.ndarray, cfg: SimConfig, first_event: int) -> Columns:
    """Step 8: the NanoAOD-style event columns and collections (docs/data_format.md):
    electrons and photons ordered by decreasing p_T in each event, their cut-based ids,
    cross-reference indices, muons, clusters, cells, tracks and (MC) the generator table."""
    n_events, objs, sc, tracks, is_e, gen = (ch.n_events, ch.objs, ch.sc, ch.tracks, ch.is_e,
                                             ch.gen)
    n_obj = ch.n_obj
    trk_local = _local_index(tracks.event, n_events)
    pt_obj = energy / np.cosh(sc["eta"])
    r_eta = np.nan_to_num(sc["rEta"], nan=0.0)

    cols = Columns(n_events=n_events)
    if ch.injected_scale is not None:
        cols.injected = {"abs_eta": np.abs(sc["eta"]), "et": pt_obj,
                         "scale": ch.injected_scale, "alpha": ch.injected_alpha,
                         "nonlinearity": ch.injected_nonlinearity}
    ev = cols.event
    ev["run"] = np.full(n_events, 1 if cfg.kind == "mc" else 350000, np.uint32)
    ev["event"] = (first_event + np.arange(n_events) + 1).astype(np.uint64)
    ev["luminosityBlock"] = (1 + (first_event + np.arange(n_events)) // 1000).astype(np.uint32)
    ev["Pileup_nTrueInt"] = ch.mu.astype(np.float32)
    ev["PV_npvs"] = ch.vertices.count().astype(np.int32)
    ev["PV_z"] = ch.vertices.z[ch.vertices.offsets[:-1]].astype(np.float32)
    if cfg.kind == "mc":
        ev["genWeight"] = np.ones(n_events, np.float32)

    cl_local = _local_index(objs.event, n_events)
    # electrons and photons ordered by decreasing pt inside each event
    obj_order = np.lexsort((-pt_obj, objs.event))
    obj_trk = np.full(n_obj, -1, np.int32)
    own = (tracks.obj >= 0) & is_e[np.maximum(tracks.obj, 0)]
    obj_trk[tracks.obj[own]] = trk_local[own]
    ie = obj_order[is_e[obj_order]]
    ig = obj_order[~is_e[obj_order]]
    trk_pt_of = np.full(n_obj, np.nan)
    trk_pt_of[tracks.obj[own]] = tracks.pt[own]
    npix_of = np.zeros(n_obj, np.int32)
    npix_of[tracks.obj[own]] = tracks.n_pix[own]
    e_over_p = energy / np.cosh(sc["eta"]) / np.where(np.isfinite(trk_pt_of), trk_pt_of, 1e-3)
    ele = {
        "pt": pt_obj[ie],
        "eta": sc["eta"][ie],
        "phi": sc["phi"][ie],
        "mass": np.full(len(ie), ME_GEV),
        "charge": np.where(objs.pdg[ie] > 0, -1, 1).astype(np.int32),
        "cutBased": reconstruction.electron_cut_based(r_eta[ie], e_over_p[ie], npix_of[ie]),
        "clusterIdx": cl_local[ie],
        "trackIdx": obj_trk[ie],
    }
    pho = {
        "pt": pt_obj[ig],
        "eta": sc["eta"][ig],
        "phi": sc["phi"][ig],
        "mass": np.zeros(len(ig)),
        "cutBased": reconstruction.photon_cut_based(r_eta[ig]),
        "clusterIdx": cl_local[ig],
        **{k: v[ig] for k, v in ch.conv.items()},
    }
    if cfg.kind == "mc":
        ele["genPartIdx"] = objs.gen_idx[ie]
        pho["genPartIdx"] = objs.gen_idx[ig]
    cols.collections["Electron"] = (_counts(objs.event[ie], n_events), ele)
    cols.collections["Photon"] = (_counts(objs.event[ig], n_events), pho)

    mu_cols = ch.mu_cols
    muon = {k: v for k, v in mu_cols.items() if k != "event"}
    muon["mass"] = np.full(len(mu_cols["pt"]), MMU_GEV)
    if cfg.kind != "mc":
        muon.pop("genPartIdx")
    cols.collections["Muon"] = (_counts(mu_cols["event"], n_events), muon)

    cols.collections["Cluster"] = (_counts(objs.event, n_events), _cluster_columns(ch))
    n_cells_evt = np.bincount(objs.event, weights=sc["n_cell"], minlength=n_events).astype(
        np.int64)
    cells = ch.cells
    cols.collections["CaloCell"] = (
        n_cells_evt,
        {
            "clusterIdx": cl_local[ch.cell_cl],
            "layer": cells["layer"].astype(np.uint8),
            "eta": cells["eta"],
            "phi": cells["phi"],
            "deta": cells["deta"],
            "dphi": cells["dphi"],
            "e": cells["e"],
            "time": cells["time"],
        },
    )
    trk = {
        "pt": tracks.pt,
        "eta": tracks.eta,
        "phi": tracks.phi,
        "charge": tracks.charge,
        "d0": tracks.d0,
        "z0": tracks.z0,
        "d0Sig": tracks.d0sig,
        "nPixHits": tracks.n_pix,
        "nSCTHits": tracks.n_sct,
        "nTRTHits": tracks.n_trt,
        "vtxIdx": tracks.vtx,
    }
    if cfg.kind == "mc":
        trk["genPartIdx"] = tracks.gen_idx
    cols.collections["Track"] = (_counts(tracks.event, n_events), trk)

    if cfg.kind == "mc":
        cols.collections["GenPart"] = (
            _counts(gen.event, n_events),
            {
                "pt": gen.pt,
                "eta": gen.eta,
                "phi": gen.phi,
                "mass": gen.mass,
                "pdgId": gen.pdg_id,
                "status": gen.status,
                "statusFlags": gen.status_flags,
                "genPartIdxMother": gen.mother,
            },
        )
    return cols


def simulate_chunk(
    rng: np.random.Generator,
    process: str,
    n_events: int,
    cfg: SimConfig,
    *,
    mu_profile: str,
    energy_fn: EnergyFunction | None,
    first_event: int = 0,
    gun_options: dict | None = None,
) -> Columns:
    """Simulate and reconstruct ``n_events`` events of ``process`` with ⟨μ⟩ drawn from
    ``mu_profile``; ``energy_fn`` gives the stored standard-calibration energy (None: E_acc).
    The steps run in a fixed order on one generator, so a seed gives one chunk."""
    ch = _truth(rng, process, n_events, mu_profile=mu_profile, gun_options=gun_options,
                cfg=cfg)
    _develop_showers(rng, ch, cfg)
    _seed_windows(ch)
    _reconstruct_cells(rng, ch, cfg)
    _tracks_and_conversions(rng, ch, cfg)
    cols = _nanoaod(ch, _calibrate(ch, energy_fn), cfg, first_event)
    pt_min = float((gun_options or {}).get("boson_pt_min") or 0.0)
    if pt_min > 0:
        # the truncation travels with the file (only then: inclusive files are unchanged),
        # so that a consumer knows where the sample is complete
        # (:func:`calocoffea.sim.processes.complete_above_et`)
        cols.event[BOSON_PT_MIN_BRANCH] = np.full(n_events, pt_min, np.float32)
    return cols

"""Shared pytest fixtures: synthetic calocoffea NanoAOD files and the real CMS NanoAOD sample.

Other test modules may add fixtures here; keep them small, seeded and session-scoped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from calocoffea.cnn.images import window_cells
from calocoffea.kinematics import wrap_phi

REPO = Path(__file__).resolve().parents[1]
#: Fraction of the cluster energy per layer (presampler, strips, middle, back).
LAYER_FRACTIONS = np.array([0.05, 0.27, 0.6, 0.08])
#: Electronic noise per cell (GeV) per layer.
LAYER_NOISE = np.array([0.02, 0.01, 0.03, 0.02])


def cluster_cells(
    rng: np.random.Generator, eta_c: float, phi_c: float, energy: float
) -> dict[str, np.ndarray]:
    """Cells of a toy EM shower centred at (eta_c, phi_c) with ``energy`` GeV.

    All geometry cells of the 7x11 window (``window_cells``) with a Gaussian lateral profile
    (sigma 0.015 in eta and phi) per layer plus Gaussian noise, and times ~ N(0, 0.5) ns.
    """
    cells = window_cells(eta_c, phi_c)
    d_eta = cells["eta"] - eta_c
    d_phi = wrap_phi(cells["phi"] - phi_c)
    profile = np.exp(-0.5 * (d_eta**2 + d_phi**2) / 0.015**2) * cells["deta"] * cells["dphi"]
    e = np.zeros_like(profile)
    for lay in range(4):
        sel = cells["layer"] == lay
        norm = profile[sel].sum()
        if norm > 0:
            e[sel] = energy * LAYER_FRACTIONS[lay] * profile[sel] / norm
        e[sel] += rng.normal(0.0, LAYER_NOISE[lay], sel.sum())
    cells["e"] = e
    cells["time"] = rng.normal(0.0, 0.5, e.size)
    return cells


def _load_fetch_module():
    spec = importlib.util.spec_from_file_location(
        "calocoffea_fetch_test_data", REPO / "scripts" / "fetch_test_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def nano_dy_path() -> Path:
    """coffea's real CMS NanoAOD sample ``nano_dy.root`` (downloaded once from PyPI)."""
    fetch = _load_fetch_module()
    try:
        return fetch.fetch(REPO / "tests" / "data")
    except fetch.FetchError as err:
        pytest.skip(f"cannot download the coffea sdist from PyPI for nano_dy.root: {err}")


def write_synthetic_nanoaod(path: Path, n_events: int = 60, seed: int = 7) -> Path:
    """Write a small calocoffea-format NanoAOD file (docs/data_format.md) with uproot.

    Per event 0-2 electrons and 0-1 photons, each with a GenPart, a Cluster and its cells;
    electrons have a Track. The last photon cluster of the file has no cells
    (``Cluster_nCell = 0``) to exercise invalid images.
    """
    import uproot

    rng = np.random.default_rng(seed)
    ev: dict[str, list] = {
        k: [] for k in ("Electron", "Photon", "Cluster", "CaloCell", "Track", "GenPart")
    }
    for _ in range(n_events):
        n_el = int(rng.integers(0, 3))
        n_ph = int(rng.integers(0, 2))
        gen, clu, cells, trk, ele, pho = [], [], [], [], [], []
        for kind in ["e"] * n_el + ["g"] * n_ph:
            eta = float(rng.uniform(-2.4, 2.4))
            phi = float(rng.uniform(-np.pi, np.pi))
            pt = float(rng.uniform(20.0, 60.0))
            energy = pt * np.cosh(eta)
            cc = cluster_cells(rng, eta, phi, energy)
            k = len(clu)
            layer_e = [float(cc["e"][cc["layer"] == lay].sum()) for lay in range(4)]
            clu.append(
                dict(
                    eAcc=sum(layer_e[1:]),
                    e0=layer_e[0],
                    e1=layer_e[1],
                    e2=layer_e[2],
                    e3=layer_e[3],
                    eta=eta,
                    phi=phi,
                    nCell=cc["e"].size,
                )
            )
            cells.append(dict(cc, clusterIdx=np.full(cc["e"].size, k, np.int32)))
            gen.append(
                dict(
                    pt=pt,
                    eta=eta,
                    phi=phi,
                    mass=0.000511 if kind == "e" else 0.0,
                    pdgId=11 if kind == "e" else 22,
                    status=1,
                    genPartIdxMother=-1,
                )
            )
            reco = dict(
                pt=0.98 * pt, eta=eta, phi=phi, genPartIdx=len(gen) - 1, clusterIdx=k, cutBased=3
            )
            if kind == "e":
                trk.append(dict(pt=pt, eta=eta, phi=phi, charge=-1, genPartIdx=len(gen) - 1))
                ele.append(dict(reco, mass=0.000511, charge=-1, trackIdx=len(trk) - 1))
            else:
                pho.append(dict(reco, mass=0.0))
        ev["GenPart"].append(gen)
        ev["Cluster"].append(clu)
        ev["Track"].append(trk)
        ev["Electron"].append(ele)
        ev["Photon"].append(pho)
        ev["CaloCell"].append(cells)
    # one cluster without cells (last photon of the file)
    for i in range(n_events - 1, -1, -1):
        if ev["Photon"][i]:
            k = ev["Photon"][i][-1]["clusterIdx"]
            ev["Cluster"][i][k]["nCell"] = 0
            ev["CaloCell"][i][k] = {key: v[:0] for key, v in ev["CaloCell"][i][k].items()}
            break

    def jagged(rows: list[list[dict]], dtypes: dict[str, str]) -> ak.Array:
        counts = np.array([len(r) for r in rows])
        flat = [obj for r in rows for obj in r]
        cols = {f: np.array([o[f] for o in flat], dtype=dt) for f, dt in dtypes.items()}
        return ak.unflatten(ak.zip(cols), counts)

    def cell_column(field: str, dtype: str) -> ak.Array:
        per_event = [
            np.concatenate([c[field] for c in cs]).astype(dtype) if cs else np.zeros(0, dtype)
            for cs in ev["CaloCell"]
        ]
        return ak.Array(per_event)

    f32, i32 = "float32", "int32"
    cols = {
        "run": np.ones(n_events, np.uint32),
        "luminosityBlock": np.ones(n_events, np.uint32),
        "event": np.arange(1, n_events + 1, dtype=np.uint64),
        "Pileup_nTrueInt": rng.uniform(10, 80, n_events).astype(np.float32),
        "genWeight": np.ones(n_events, np.float32),
        "Electron": jagged(
            ev["Electron"],
            dict(
                pt=f32,
                eta=f32,
                phi=f32,
                mass=f32,
                charge=i32,
                cutBased=i32,
                genPartIdx=i32,
                clusterIdx=i32,
                trackIdx=i32,
            ),
        ),
        "Photon": jagged(
            ev["Photon"],
            dict(pt=f32, eta=f32, phi=f32, mass=f32, cutBased=i32, genPartIdx=i32, clusterIdx=i32),
        ),
        "Cluster": jagged(
            ev["Cluster"],
            dict(eAcc=f32, e0=f32, e1=f32, e2=f32, e3=f32, eta=f32, phi=f32, nCell=i32),
        ),
        "Track": jagged(ev["Track"], dict(pt=f32, eta=f32, phi=f32, charge=i32, genPartIdx=i32)),
        "GenPart": jagged(
            ev["GenPart"],
            dict(pt=f32, eta=f32, phi=f32, mass=f32, pdgId=i32, status=i32, genPartIdxMother=i32),
        ),
        "CaloCell": ak.zip(
            {
                "clusterIdx": cell_column("clusterIdx", i32),
                "layer": cell_column("layer", "uint8"),
                "eta": cell_column("eta", f32),
                "phi": cell_column("phi", f32),
                "deta": cell_column("deta", f32),
                "dphi": cell_column("dphi", f32),
                "e": cell_column("e", f32),
                "time": cell_column("time", f32),
            }
        ),
    }
    # mktree (not dict assignment) gives NanoAOD-style nX counters and X_field branches
    types = {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in cols.items()}
    with uproot.recreate(path) as fout:
        fout.mktree("Events", types).extend(cols)
    return path


@pytest.fixture(scope="session")
def synthetic_nanoaod(tmp_path_factory) -> Path:
    """Path of a small synthetic calocoffea NanoAOD file (60 events, seed 7)."""
    return write_synthetic_nanoaod(tmp_path_factory.mktemp("synthetic") / "synthetic.root")


def tiny_deepcalo_config():
    """A very small DeepCalo configuration for fast tests (needs torch)."""
    from calocoffea.cnn.training.model import ModelConfig

    return ModelConfig(
        name="tiny",
        block_channels=(4, 4, 4),
        scalar_units=(8,),
        film_units=(8,),
        track_filters=4,
        track_units=(8,),
        top_units=(16,),
        batch_size=128,
        epochs=2,
    )


@pytest.fixture(scope="session")
def deepcalo_tiny_model(tmp_path_factory) -> Path:
    """A tiny DeepCalo electron model (2 epochs on a synthetic sample) with its card."""
    pytest.importorskip("torch")
    from calocoffea.cnn.training.dataset import synthetic_sample
    from calocoffea.cnn.training.workflow import train_and_export

    out = tmp_path_factory.mktemp("deepcalo") / "deepcalo_electron.onnx"
    train_and_export(synthetic_sample(3000, seed=5), tiny_deepcalo_config(), out, seed=5, threads=1)
    return out


@pytest.fixture(scope="session")
def deepcalo_sim_files(tmp_path_factory) -> dict[str, Path]:
    """Small simulated Z->ee (150 events, seed 77) and H->gamgam (120 events, seed 78) files
    made with ``calocoffea generate`` (E_acc-based pt, no BDT needed)."""
    from calocoffea.app.cli import main

    d = tmp_path_factory.mktemp("deepcalo_sim")
    out = {}
    for proc, n, seed in (("zee", 150, 77), ("hgamgam", 120, 78)):
        path = d / f"{proc}.root"
        rc = main(
            [
                "generate",
                "--process",
                proc,
                "--events",
                str(n),
                "--seed",
                str(seed),
                "--out",
                str(path),
                "--no-standard-calibration",
            ]
        )
        assert rc == 0
        out[proc] = path
    return out

"""Training/evaluation sample builder: simulated NanoAOD files → CNN inputs and targets.

Reads each file in entry chunks with ``NanoEventsFactory`` and
:class:`calocoffea.schema.CaloNanoAODSchema`, keeps truth-matched electrons or photons and
builds the inputs with :func:`calocoffea.cnn.inputs.inputs_from_events` (the code path used at
inference). Target ``r = E_true / E_acc``; E_true is the matched GenPart energy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np

from calocoffea.cnn.inputs import inputs_from_events, scalar_names

log = logging.getLogger(__name__)

#: Entries read per chunk (bounds memory: ~10 kB of cells per object).
CHUNK_ENTRIES = 20_000


@dataclass
class Sample:
    """Arrays of n objects. Images are stored as float16 to halve memory."""

    particle: str
    images: np.ndarray  # (n, 4, 56, 11) float16, GeV (n, 8, 56, 11) with times, ns
    scalars: np.ndarray  # (n, S) float32
    tracks: np.ndarray  # (n, 15, T) float32
    e_true: np.ndarray  # (n,) GeV
    e_bdt: np.ndarray  # (n,) GeV, standard calibration pt·cosh(η)
    mu: np.ndarray  # (n,) ⟨μ⟩
    files: list[str] = field(default_factory=list)
    #: (n,) bool: a data object, whose ``e_true`` is E_label,data (calocoffea.cnn.training
    #: .labels); None: all MC
    is_data: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.is_data is None:
            self.is_data = np.zeros(len(self.e_true), bool)

    def __len__(self) -> int:
        return len(self.e_true)

    @property
    def e_acc(self) -> np.ndarray:
        return self.scalars[:, scalar_names(self.particle).index("e_acc")].astype(np.float64)

    @property
    def eta(self) -> np.ndarray:
        return self.scalars[:, scalar_names(self.particle).index("eta")].astype(np.float64)

    @property
    def target(self) -> np.ndarray:
        """r = E_true / E_acc."""
        return (self.e_true / self.e_acc).astype(np.float32)

    def subset(self, idx: np.ndarray) -> Sample:
        return Sample(self.particle, self.images[idx], self.scalars[idx], self.tracks[idx],
                      self.e_true[idx], self.e_bdt[idx], self.mu[idx], list(self.files),
                      self.is_data[idx])

    def save(self, path: str | Path) -> None:
        np.savez(path, particle=self.particle, images=self.images, scalars=self.scalars,
                 tracks=self.tracks, e_true=self.e_true, e_bdt=self.e_bdt, mu=self.mu,
                 files=np.array(self.files), is_data=self.is_data)

    @classmethod
    def load(cls, path: str | Path) -> Sample:
        d = np.load(path)
        return cls(str(d["particle"]), d["images"], d["scalars"], d["tracks"], d["e_true"],
                   d["e_bdt"], d["mu"], [str(f) for f in d["files"]],
                   d.get("is_data"))


def _collection(events, particle: str):
    name = "Electron" if particle == "electron" else "Photon"
    if name not in events.fields:
        return None
    return events[name]


def _bdt_energy(obj, particle: str, bdt) -> np.ndarray:
    """Standard-calibration energy (GeV) from the stored columns, the same columns the
    simulation hands to the BDT when it writes ``pt`` (float32 storage aside)."""
    from calocoffea.bdt.columns import object_columns

    return np.asarray(bdt.energy(object_columns(obj, particle), particle), np.float64)


def read_file(path: str | Path, particle: str, max_objects: int | None = None,
              chunk_entries: int = CHUNK_ENTRIES, *, bdt=None, with_time: bool = False
              ) -> Sample:
    """All truth-matched ``particle`` objects of one file with valid CNN inputs (images
    with the four time channels ``with_time``).

    ``bdt``: a :class:`calocoffea.bdt.standard.StandardCalibration` to recompute the
    standard-calibration energy from the cluster columns (for files written without it);
    None takes ``pt·cosh(η)`` from the file.
    """
    import uproot
    from coffea.nanoevents import NanoEventsFactory

    from calocoffea.schema import CaloNanoAODSchema

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training file {path} not found")
    with uproot.open(path) as f:
        if "Events" not in f:
            raise ValueError(f"{path}: no 'Events' tree")
        n_entries = f["Events"].num_entries
    parts: list[dict] = []
    n_obj = 0
    for start in range(0, n_entries, chunk_entries):
        stop = min(start + chunk_entries, n_entries)
        events = NanoEventsFactory.from_root(
            {str(path): "Events"}, schemaclass=CaloNanoAODSchema, mode="eager",
            entry_start=start, entry_stop=stop,
        ).events()
        obj = _collection(events, particle)
        if obj is None:
            raise ValueError(f"{path}: no {particle} collection")
        if "genPartIdx" not in obj.fields:
            raise ValueError(f"{path}: {particle}s have no genPartIdx (data file?); "
                             "training needs MC truth")
        obj = obj[obj.genPartIdx >= 0]
        gen = obj.matched_gen
        e_true = np.sqrt((gen.pt * np.cosh(gen.eta)) ** 2 + gen.mass**2)
        inputs = inputs_from_events(obj, events, particle, with_time=with_time)
        e_true = ak.to_numpy(ak.fill_none(ak.flatten(e_true, axis=1), np.nan)).astype(
            np.float64)
        if bdt is None:
            e_bdt = ak.to_numpy(ak.flatten(obj.pt * np.cosh(obj.eta), axis=1)).astype(
                np.float64)
        else:
            e_bdt = _bdt_energy(obj, particle, bdt)
        evt_mu = ak.to_numpy(events.Pileup.nTrueInt).astype(np.float64)
        mu = np.repeat(evt_mu, ak.to_numpy(ak.num(obj, axis=1)))
        keep = inputs.valid & np.isfinite(e_true) & (e_true > 0)
        parts.append({
            "images": inputs.images[keep].astype(np.float16),
            "scalars": inputs.scalars[keep], "tracks": inputs.tracks[keep],
            "e_true": e_true[keep], "e_bdt": e_bdt[keep], "mu": mu[keep],
        })
        n_obj += int(keep.sum())
        log.info("%s [%d:%d): %d %ss kept (%d total)", path.name, start, stop,
                 int(keep.sum()), particle, n_obj)
        if max_objects is not None and n_obj >= max_objects:
            break
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    s = Sample(particle, files=[str(path)], **cat)
    if max_objects is not None and len(s) > max_objects:
        s = s.subset(np.arange(max_objects))
    return s


def concat(samples: list[Sample]) -> Sample:
    """One sample from several (same particle)."""
    particles = {s.particle for s in samples}
    if len(particles) != 1:
        raise ValueError(f"cannot mix particles {sorted(particles)}")
    return Sample(
        samples[0].particle,
        np.concatenate([s.images for s in samples]),
        np.concatenate([s.scalars for s in samples]),
        np.concatenate([s.tracks for s in samples]),
        np.concatenate([s.e_true for s in samples]),
        np.concatenate([s.e_bdt for s in samples]),
        np.concatenate([s.mu for s in samples]),
        [f for s in samples for f in s.files],
        np.concatenate([s.is_data for s in samples]),
    )


def build_sample(files: list[str | Path], particle: str, max_objects: int | None = None,
                 cache_dir: str | Path | None = None, *, bdt=None, with_time: bool = False
                 ) -> Sample:
    """Concatenated sample of ``files``, at most ``max_objects`` (the first ones) of each.

    With ``cache_dir``, each file's sample is cached as
    ``<cache_dir>/<stem>.<particle>.<size>.<mtime>[.max<N>][.bdt][.time].npz`` (keyed by the
    file's size and mtime; ``.bdt`` when made with ``bdt``, ``.time`` with time channels); a
    cache of the whole file also serves any ``max_objects``, since reading stops at the first
    ``max_objects`` objects.
    """
    samples = []
    for name in files:
        f = Path(name)
        cached = None
        if cache_dir is not None:
            st = f.stat()
            tag = (".bdt" if bdt is not None else "") + (".time" if with_time else "")
            stem = Path(cache_dir) / f"{f.stem}.{particle}.{st.st_size}.{st.st_mtime_ns}"
            whole = Path(f"{stem}{tag}.npz")
            cached = whole if max_objects is None else Path(f"{stem}.max{max_objects}{tag}.npz")
            found = next((c for c in (whole, cached) if c.is_file()), None)
            if found is not None:
                s = Sample.load(found)
                if max_objects is not None and len(s) > max_objects:
                    s = s.subset(np.arange(max_objects))
                samples.append(s)
                continue
        s = read_file(f, particle, max_objects=max_objects, bdt=bdt, with_time=with_time)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            s.save(cached)
        samples.append(s)
    return concat(samples)


def mislabel_mask(sample: Sample, k: float) -> np.ndarray:
    """Thesis eq. 3.4: keep |E_BDT/E_true − 1| < k (k = 0.6 keeps 0.4 < ratio < 1.6)."""
    ratio = sample.e_bdt / sample.e_true
    return np.abs(ratio - 1.0) < k


def synthetic_sample(n: int, particle: str = "electron", seed: int = 0) -> Sample:
    """A random but learnable sample (no simulation): smoke tests and benchmarks.

    E_acc ~ 20-200 GeV spread over the image; the true energy depends on the presampler
    fraction f0 and |η| (r = 1 + 0.8·f0 + 0.02·|η|) with a 1 % Gaussian smearing, so a
    network that uses its inputs beats E_acc alone.
    """
    from calocoffea.cnn.inputs import IMAGE_SHAPE, N_TRACKS, TRACK_VARS
    from calocoffea.geometry import ETA_MAX

    rng = np.random.default_rng(seed)
    names = scalar_names(particle)
    scalars = rng.normal(size=(n, len(names))).astype(np.float32)
    e_acc = rng.uniform(20.0, 200.0, n)
    eta = rng.uniform(-ETA_MAX, ETA_MAX, n)
    f0 = rng.uniform(0.0, 0.15, n)
    scalars[:, names.index("e_acc")] = e_acc
    scalars[:, names.index("eta")] = eta
    scalars[:, names.index("f0")] = f0
    scalars[:, names.index("mu")] = rng.uniform(10.0, 80.0, n)
    img = rng.exponential(1.0, size=(n, 4, *IMAGE_SHAPE))
    img[:, 0] *= f0[:, None, None] / img[:, 0].sum(axis=(1, 2))[:, None, None]
    img[:, 1:] *= (e_acc / img[:, 1:].sum(axis=(1, 2, 3)))[:, None, None, None]
    img[:, 0] *= e_acc[:, None, None]
    n_trk = rng.integers(0, N_TRACKS + 1, n)
    tracks = rng.normal(size=(n, N_TRACKS, len(TRACK_VARS))).astype(np.float32)
    tracks[:, :, 0] = np.where(tracks[:, :, 0] == 0, 1.0, tracks[:, :, 0]) * 10.0
    tracks[np.arange(N_TRACKS)[None, :] >= n_trk[:, None]] = 0.0
    r = (1.0 + 0.8 * f0 + 0.02 * np.abs(eta)) * rng.normal(1.0, 0.01, n)
    e_true = e_acc * r
    e_bdt = e_acc * (1.0 + 0.8 * 0.075 + 0.02 * 1.2) * rng.normal(1.0, 0.005, n)
    return Sample(particle, img.astype(np.float16), scalars, tracks, e_true, e_bdt,
                  scalars[:, names.index("mu")].astype(np.float64), ["synthetic"])

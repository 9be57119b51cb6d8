"""Generate a whole file: chunks of events, independent random streams, atomic write."""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path

import numpy as np

from calocoffea.binning import ABS_ETA_EDGES, abs_eta_bin
from calocoffea.selection import OBJECT_MIN_ET_GEV
from calocoffea.sim.config import SimConfig, default_config
from calocoffea.sim.pipeline import EnergyFunction, simulate_chunk
from calocoffea.sim.processes import PROCESSES
from calocoffea.sim.rng import chunk_generators, stream_key
from calocoffea.sim.writer import DEFAULT_COMPRESSION, EventsWriter

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 5000


def _exclusive_temp(out: Path) -> Path:
    """A new empty file beside ``out`` with a random name, created with O_EXCL|O_NOFOLLOW."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = out.with_name(f".{out.name}.{secrets.token_hex(8)}.tmp")
        try:
            os.close(os.open(tmp, flags, 0o644))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {out}")  # pragma: no cover


def conditions_path(out: str | Path) -> Path:
    """Sidecar JSON with the injected detector conditions of a data-like file."""
    return Path(str(out) + ".conditions.json")


def generate_file(
    out: str | Path,
    process: str,
    *,
    kind: str = "mc",
    n_events: int = 1000,
    seed: int = 1,
    mu_profile: str | None = None,
    config: SimConfig | None = None,
    energy_fn: EnergyFunction | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    gun_options: dict | None = None,
    compression: str = DEFAULT_COMPRESSION,
    progress=None,
) -> dict:
    """Simulate ``n_events`` of ``process`` into ``out`` (ROOT, TTree ``Events``).

    ``energy_fn`` None writes E_acc-based Electron/Photon pt (no standard calibration).
    The file is written under a temporary name and renamed when complete. ``compression``:
    ``"algorithm:level"`` (:func:`calocoffea.sim.writer.parse_compression`); the events do
    not depend on it. ``progress(events_done, n_events)`` is called after every chunk when
    given. Returns a summary (events, seconds, bytes, clusters).

    The temporary file gets an unpredictable name and is created with ``O_EXCL |
    O_NOFOLLOW`` (a symlink planted in the output directory is never followed); the rename
    replaces a symlink at ``out`` instead of writing through it.
    """
    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}; choose one of {PROCESSES}")
    if n_events <= 0:
        raise ValueError(f"n_events must be positive, got {n_events}")
    cfg = config or default_config(kind)
    if cfg.kind != kind:
        raise ValueError(f"config kind {cfg.kind!r} differs from kind {kind!r}")
    profile = mu_profile or kind
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _exclusive_temp(out)
    n_chunks = (n_events + chunk_size - 1) // chunk_size
    rngs = chunk_generators(seed, process, kind, n_chunks)
    t0 = time.perf_counter()
    n_clusters = 0
    # data-like: per |η| bin, Σ injected scale and count over objects above the analysis E_T
    parts = ("scale", "alpha", "nonlinearity")
    inj_sum = {k: np.zeros(len(ABS_ETA_EDGES) - 1) for k in parts}
    inj_n = np.zeros(len(ABS_ETA_EDGES) - 1, np.int64)
    try:
        with EventsWriter(tmp, compression=compression) as writer:
            for i, rng in enumerate(rngs):
                n = min(chunk_size, n_events - i * chunk_size)
                cols = simulate_chunk(
                    rng,
                    process,
                    n,
                    cfg,
                    mu_profile=profile,
                    energy_fn=energy_fn,
                    first_event=i * chunk_size,
                    gun_options=gun_options,
                )
                n_clusters += int(cols.collections["Cluster"][0].sum())
                if cols.injected:
                    inj = cols.injected
                    sel = inj["et"] > OBJECT_MIN_ET_GEV
                    b = abs_eta_bin(inj["abs_eta"][sel])
                    ok = b >= 0
                    for k in parts:
                        inj_sum[k] += np.bincount(b[ok], inj[k][sel][ok], minlength=len(inj_n))
                    inj_n += np.bincount(b[ok], minlength=len(inj_n))
                writer.write(cols)
                log.info("%s: chunk %d/%d written", out.name, i + 1, n_chunks)
                if progress is not None:
                    progress(min((i + 1) * chunk_size, n_events), n_events)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    seconds = time.perf_counter() - t0
    summary = {
        "file": str(out),
        "process": process,
        "kind": kind,
        "events": n_events,
        "clusters": n_clusters,
        "seconds": seconds,
        "bytes": out.stat().st_size,
        "seed": seed,
        "stream_key": stream_key(seed, process, kind),
        "mu_profile": profile,
        "standard_calibration": energy_fn is not None,
        "compression": compression,
    }
    if kind == "data" and cfg.data is not None:
        def _mean(k: str, offset: float) -> list[float | None]:
            m = np.where(inj_n > 0, inj_sum[k] / np.maximum(inj_n, 1), np.nan) - offset
            return [None if not np.isfinite(x) else float(x) for x in m]

        cond = {
            **cfg.data.sidecar(),
            "abs_eta_edges": list(ABS_ETA_EDGES),
            # the expectation of the η-shift closure: the mean over reconstructed objects
            # (E_T > OBJECT_MIN_ET_GEV) of each |η| bin of the scale the detector applied
            "scale_offsets": _mean("scale", 1.0),
            # the two parts: the smooth map alone and the E_T non-linearity alone
            "scale_offsets_alpha": _mean("alpha", 0.0),
            "scale_offsets_nonlinearity": _mean("nonlinearity", 1.0),
            "scale_offsets_objects": inj_n.tolist(),
            "scale_offsets_definition": (
                "per |eta| bin: mean over reconstructed objects with E_T > "
                f"{OBJECT_MIN_ET_GEV} GeV of (1 + signal-weighted cell alpha) x "
                "non-linearity, minus 1"),
            "mu_profile": profile,
            "process": process,
            "seed": seed,
        }
        from calocoffea.execution.outputs import atomic_write_text

        atomic_write_text(conditions_path(out), json.dumps(cond, indent=2) + "\n")
    return summary

"""calocoffea.memory (glibc retention) and the uproot options that let it work."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning only")
def test_retention_applies_once_in_a_fresh_process():
    code = (
        "from calocoffea import memory\n"
        "assert memory.retention_applied() is None\n"
        "first = memory.retain_freed_memory()\n"
        "assert memory.retain_freed_memory() is first\n"
        "assert memory.retention_applied() is first\n"
        "import numpy as np\n"
        "a = np.ones(50_000_000); del a  # a 400 MB block from the heap, freed\n"
        "b = np.ones(50_000_000)\n"
        "assert b.sum() == 50_000_000\n"
        "print(first)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True)
    assert out.stdout.strip() == "True"  # glibc accepted every setting


def test_processor_applies_retention_unless_told_not_to(monkeypatch, tmp_path):
    from processors import base
    from processors.zee import ZeeProcessor
    from tests.test_processors import run_local, write_channel_sample

    seen = []
    monkeypatch.setattr(base, "retain_freed_memory", lambda: seen.append(1))
    path = write_channel_sample(tmp_path / "mc.root", 300, 3)
    run_local(ZeeProcessor(calibrations=("bdt", "truth")), path)
    assert seen == [1]
    seen.clear()
    run_local(ZeeProcessor(calibrations=("bdt", "truth"), retain_memory=False), path)
    assert seen == []


def test_cli_release_memory_flag():
    import argparse

    from calocoffea.commands import run

    parser = argparse.ArgumentParser()
    run.add_arguments(parser)
    args = parser.parse_args(["fs.json", "--processor", "zee", "--out", "o.coffea"])
    assert args.release_memory is False
    args = parser.parse_args(["fs.json", "--processor", "zee", "--out", "o.coffea",
                              "--release-memory"])
    assert args.release_memory is True


def test_chunk_arrays_are_not_kept_by_uproot_cache(tmp_path):
    """After a run, no uproot array cache holds what the chunks read: coffea opens the files
    with calocoffea.runner.UPROOT_OPTIONS (no per-file array cache), so a chunk's arrays are
    freed with the chunk, not at the next full garbage collection (checked with the
    collector off)."""
    import gc
    import warnings

    import uproot

    from calocoffea import runner
    from calocoffea.sim import generate_file
    from processors.zee import ZeeProcessor

    path = tmp_path / "zee.root"
    generate_file(path, "zee", n_events=200, seed=5)
    fileset = {"zee": {"files": {str(path): "Events"}}}
    gc.collect()
    gc.disable()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runner.run(ZeeProcessor(calibrations=("bdt", "truth")), fileset,
                       runner.RunOptions(executor="iterative", progress=False))
        caches = [o for o in gc.get_objects() if isinstance(o, uproot.cache.LRUArrayCache)]
        assert all(c.current == 0 for c in caches), [c.current for c in caches]
    finally:
        gc.enable()

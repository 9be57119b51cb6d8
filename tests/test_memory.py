"""calocoffea.memory: glibc retention and the per-chunk garbage collection."""

from __future__ import annotations

import subprocess
import sys

import pytest

from calocoffea import memory


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


def test_before_chunk_collects_every_threshold_events(monkeypatch):
    calls = []
    monkeypatch.setattr("gc.collect", lambda *a: calls.append(a) or 0)
    monkeypatch.setattr(memory, "_since_collect", [0])
    monkeypatch.setattr(memory, "COLLECT_EVERY_EVENTS", 1000)
    for n in (400, 400, 400, 2000, 10):
        memory.before_chunk(n)
    assert len(calls) == 2  # after 1200 events, then after the 2000-event chunk
    assert memory._since_collect[0] == 10


def test_processor_calls_before_chunk_unless_told_not_to(monkeypatch, tmp_path):
    from processors import base
    from processors.zee import ZeeProcessor
    from tests.test_processors import run_local, write_channel_sample

    seen = []
    monkeypatch.setattr(base, "before_chunk", seen.append)
    path = write_channel_sample(tmp_path / "mc.root", 300, 3)
    run_local(ZeeProcessor(calibrations=("bdt", "truth")), path)
    assert seen == [300]
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

"""calocoffea.execution.memory (glibc retention) and the uproot options that let it work."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning only")
def test_retention_applies_once_in_a_fresh_process():
    code = (
        "from calocoffea.execution import memory\n"
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


class _Probe:
    """Z→ee processor that also reports whether its process retains freed memory."""

    def __new__(cls, **kwargs):
        from calocoffea.execution import memory
        from processors.zee import ZeeProcessor

        class RetentionProbe(ZeeProcessor):
            def process(self, events):
                out = super().process(events)
                for dataset in out.values():
                    dataset["meta"]["retained"] = {str(memory.retention_applied())}
                return out

        return RetentionProbe(**kwargs)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning only")
@pytest.mark.parametrize("executor", ["futures", "dask"])
def test_workers_retain_memory_unless_released(tmp_path, executor):
    """The executors set the allocator up where they start their workers (loky initializer,
    dask WorkerPlugin), never inside process(): fresh workers report it applied, and with
    retain_memory=False they report it never ran."""
    from calocoffea.execution import runner
    from tests.test_processors import write_channel_sample

    path = write_channel_sample(tmp_path / "mc.root", 300, 3)
    fileset = {"zee": {"files": {str(path): "Events"}}}
    seen = {}
    for retain in (True, False):
        options = runner.RunOptions(executor=executor, workers=1, chunksize=100,
                                    progress=False, retain_memory=retain)
        out, _ = runner.run(_Probe(calibrations=("bdt", "truth")), fileset, options)
        seen[retain] = out["zee"]["meta"]["retained"]
    assert seen == {True: "True", False: "None"}


def test_iterative_run_applies_retention_in_process(monkeypatch, tmp_path):
    from calocoffea.execution import memory, runner
    from processors.zee import ZeeProcessor
    from tests.test_processors import write_channel_sample

    calls = []
    monkeypatch.setattr(memory, "retain_freed_memory", lambda: calls.append(1))
    path = write_channel_sample(tmp_path / "mc.root", 300, 3)
    fileset = {"zee": {"files": {str(path): "Events"}}}
    for retain in (True, False):
        runner.run(ZeeProcessor(calibrations=("bdt", "truth")), fileset,
                   runner.RunOptions(executor="iterative", progress=False,
                                     retain_memory=retain))
    assert calls == [1]


def test_cli_release_memory_flag():
    import argparse

    from calocoffea.app.commands import run

    parser = argparse.ArgumentParser()
    run.add_arguments(parser)
    args = parser.parse_args(["fs.json", "--processor", "zee", "--out", "o.coffea"])
    assert "release_memory" not in run.fill_defaults(args)
    assert args.release_memory is False
    args = parser.parse_args(["fs.json", "--processor", "zee", "--out", "o.coffea",
                              "--release-memory"])
    assert "release_memory" in run.fill_defaults(args)
    assert args.release_memory is True


def test_chunk_arrays_are_not_kept_by_uproot_cache(tmp_path):
    """After a run, no uproot array cache created by the run holds what the chunks read:
    coffea opens the files with ``runner.UPROOT_OPTIONS`` (no per-file array cache), so a
    chunk's arrays are freed with the chunk, not at the next full garbage collection (checked
    with the collector off). Caches that other tests left in this worker process are not
    counted (that made the test fail under ``pytest -n 2`` depending on the test order)."""
    import gc
    import warnings

    import uproot

    from calocoffea.execution import runner
    from calocoffea.sim import generate_file
    from processors.zee import ZeeProcessor

    path = tmp_path / "zee.root"
    generate_file(path, "zee", n_events=200, seed=5)
    fileset = {"zee": {"files": {str(path): "Events"}}}
    # what another test in this worker may leave behind: a file opened with uproot's default
    # array cache, holding arrays; it must not count (whatever the test order)
    other = uproot.open(path)
    other["Events"]["Electron_pt"].array()
    assert other.file.array_cache.current > 0
    gc.collect()
    # held (not just their ids) so that no new cache can reuse the id of a freed one
    before = [o for o in gc.get_objects() if isinstance(o, uproot.cache.LRUArrayCache)]
    known = {id(o) for o in before}
    gc.disable()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runner.run(ZeeProcessor(calibrations=("bdt", "truth")), fileset,
                       runner.RunOptions(executor="iterative", progress=False))
        caches = [o for o in gc.get_objects()
                  if isinstance(o, uproot.cache.LRUArrayCache) and id(o) not in known]
        assert all(c.current == 0 for c in caches), [c.current for c in caches]
        assert other.file.array_cache in before  # the leftover was seen, and ignored
    finally:
        gc.enable()
        other.close()

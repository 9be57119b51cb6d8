"""Keep freed heap memory inside a worker process, for the next chunk.

A processor chunk of 100k Z→ee events allocates about 1.5 GB of short-lived arrays
(decompressed baskets, cell columns), frees them at the end of the chunk, and allocates the
same again for the next one. With glibc's defaults every array above 32 MB is a fresh
``mmap`` that is returned to the kernel on ``free``, so each chunk first-touches ~1.5 GB of
new pages: the kernel zeroes every page on the fault. On the 2-core development VM that
costs 0.5-3.7 s of system time per 100k events (it varies run to run with how the
hypervisor backs the pages), against ~6.4 s of user time. :func:`retain_freed_memory`
tunes glibc so that freed memory stays in the process and the next chunk reuses warm pages:
system time drops to about 0.1 s per 100k events (benchmarks/README.md, section "The
processor / onnxruntime ratio").

Trade-off: the resident size of a worker stays at its peak (the peak itself does not
change; ``calocoffea bench`` measures it), and a dask nanny reports the retained memory as
unmanaged. It is set up where the executors start their workers, not inside a processor
(a coffea processor is a bundle of methods and must not change its host process):
:func:`calocoffea.execution.runner.run` applies it in the client process for the iterative
executor, as the process-pool initializer for the futures executor, and as the dask
:class:`RetainMemoryPlugin` on every dask worker, unless ``RunOptions.retain_memory`` is
False (``calocoffea run --release-memory``). Users of their own dask client can register
the plugin themselves: ``client.register_plugin(RetainMemoryPlugin())``. Only glibc (Linux)
is tuned; elsewhere this is a no-op.

Retention only helps if the previous chunk's arrays are actually freed when the chunk ends:
:data:`calocoffea.execution.runner.UPROOT_OPTIONS` turns off uproot's per-file array cache, which
kept them alive inside a reference cycle until the next full garbage collection.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

from distributed.diagnostics.plugin import WorkerPlugin

log = logging.getLogger(__name__)

# mallopt(3) parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_INT_MAX = 2**31 - 1
#: Heap growth per sbrk call (bytes): fewer system calls; untouched pages cost nothing.
TOP_PAD = 64 << 20

_state: dict[str, bool] = {}


def retain_freed_memory() -> bool:
    """Tune this process's glibc malloc to keep freed memory for reuse (idempotent).

    Sets ``M_MMAP_MAX`` = 0 (large blocks come from the heap, which ``free`` does not unmap),
    ``M_TRIM_THRESHOLD`` = 2 GiB - 1 (the heap top is not given back below that),
    ``M_TOP_PAD`` = :data:`TOP_PAD` and ``M_ARENA_MAX`` = 1 (one heap for all threads, so a
    dask worker's task thread reuses what the previous task freed). Returns True when glibc
    accepted all four settings, False elsewhere (other C libraries, other systems).
    """
    if "applied" in _state:
        return _state["applied"]
    applied = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError) as err:
            log.debug("no glibc mallopt (%s): memory retention not applied", err)
        else:
            mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            mallopt.restype = ctypes.c_int
            settings = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _INT_MAX),
                        (_M_TOP_PAD, TOP_PAD), (_M_ARENA_MAX, 1))
            applied = all(mallopt(param, value) == 1 for param, value in settings)
    _state["applied"] = applied
    log.debug("glibc memory retention %s", "applied" if applied else "not available")
    return applied


def retention_applied() -> bool | None:
    """Whether :func:`retain_freed_memory` has run in this process and succeeded (None: not
    called yet)."""
    return _state.get("applied")


class RetainMemoryPlugin(WorkerPlugin):
    """dask worker plugin applying :func:`retain_freed_memory` when a worker starts
    (registered once per client; workers that join later, e.g. batch jobs, get it too)."""

    name = "calocoffea-retain-memory"

    def setup(self, worker) -> None:
        retain_freed_memory()


def retaining_process_pool(max_workers: int):
    """A loky process pool whose workers apply :func:`retain_freed_memory` at start-up (the
    ``pool`` of coffea's ``FuturesExecutor``, which calls it with ``max_workers``)."""
    import loky

    return loky.ProcessPoolExecutor(max_workers=max_workers, initializer=retain_freed_memory)

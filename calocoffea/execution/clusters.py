"""dask clusters for :func:`calocoffea.execution.runner.run` (``--executor dask``).

- ``local`` (default): ``LocalCluster(n_workers=workers, threads_per_worker=1)``;
- ``cuda``: ``dask_cuda.LocalCUDACluster`` (one worker per visible GPU, or ``workers``);
  onnxruntime then picks the CUDA execution provider (needs ``calocoffea[gpu]``). Without
  dask-cuda or a GPU the run falls back to a CPU ``LocalCluster`` with one warning, and the
  metrics record why (``cuda_fallback``);
- ``condor``: ``dask_jobqueue.HTCondorCluster`` with ``workers`` single-core jobs (needs
  ``calocoffea[grid]``), options in ``RunOptions.condor`` (see :data:`CONDOR_DEFAULTS`);

or an existing scheduler with ``RunOptions.scheduler = "tcp://host:8786"``. Every worker of
these clusters gets :class:`calocoffea.execution.memory.RetainMemoryPlugin` unless the run
asks to release memory.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from calocoffea.execution.runner import RunOptions

log = logging.getLogger(__name__)

CLUSTERS: tuple[str, ...] = ("local", "cuda", "condor")
#: Keyword arguments of ``dask_jobqueue.HTCondorCluster`` used unless overridden: one
#: single-core job per worker, with memory and disk for a chunk of 100k events.
CONDOR_DEFAULTS: dict[str, Any] = {"cores": 1, "processes": 1, "memory": "4GB", "disk": "4GB"}


class ClusterUnavailable(RuntimeError):
    """The requested dask cluster type cannot be started here."""


def _cuda_cluster(workers: int | None):
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError as err:
        raise ClusterUnavailable(
            f"dask-cuda is not installed ({err}); install calocoffea[gpu]"
        ) from err
    try:
        return LocalCUDACluster(n_workers=workers, threads_per_worker=1)
    except Exception as err:  # no GPU, no driver, no NVML: all end up here
        raise ClusterUnavailable(f"LocalCUDACluster failed: {err}") from err


def _condor_cluster(workers: int, options: Mapping[str, Any]):
    try:
        from dask_jobqueue import HTCondorCluster
    except ImportError as err:
        raise ClusterUnavailable(
            f"--cluster condor needs dask-jobqueue ({err}); install calocoffea[grid]"
        ) from err
    cluster = HTCondorCluster(**{**CONDOR_DEFAULTS, **options})
    cluster.scale(jobs=workers)
    return cluster


def _local_cluster(workers: int):
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )


def _setup_workers(client: Any, options: RunOptions) -> None:
    """What every worker of the run gets when it starts (now or later, e.g. batch jobs):
    the allocator setting of :mod:`calocoffea.execution.memory` unless released."""
    if options.retain_memory:
        from calocoffea.execution.memory import RetainMemoryPlugin

        client.register_plugin(RetainMemoryPlugin())


@contextlib.contextmanager
def dask_client(options: RunOptions, info: dict[str, Any]) -> Iterator[Any]:
    """A ``distributed.Client`` for ``options`` (closed with its cluster on exit); fills
    ``info`` with the cluster actually used."""
    from distributed import Client

    if options.scheduler:
        info["cluster"] = "scheduler"
        info["scheduler"] = options.scheduler
        with Client(options.scheduler) as client:
            _setup_workers(client, options)
            yield client
        return
    cluster = None
    if options.cluster == "cuda":
        try:
            cluster = _cuda_cluster(None if options.workers <= 1 else options.workers)
            info["cluster"] = "cuda"
        except ClusterUnavailable as err:
            log.warning("--cluster cuda unavailable, falling back to a CPU LocalCluster: %s", err)
            info["cuda_fallback"] = str(err)
    elif options.cluster == "condor":
        cluster = _condor_cluster(options.workers, options.condor)
        info["cluster"] = "condor"
    if cluster is None:
        cluster = _local_cluster(options.workers)
        info["cluster"] = "local"
    try:
        with Client(cluster) as client:
            if info["cluster"] != "condor":
                client.wait_for_workers(1)
            info["dask_workers"] = len(client.scheduler_info().get("workers", {}))
            _setup_workers(client, options)
            yield client
    finally:
        cluster.close()



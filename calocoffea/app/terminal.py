"""What the ``calocoffea`` command prints: logging levels, quiet dependencies, progress bars.

- logging: WARNING by default, ``-v`` INFO, ``-vv`` DEBUG, through one rich handler on stderr;
  the ``distributed`` loggers (scheduler, nanny, worker start-up: ~30 INFO lines per run) stay
  at WARNING unless ``-vv``, also in the dask worker processes (dask config
  ``distributed.logging``);
- TensorFlow: imported through :func:`calocoffea.fitting._quiet.import_tensorflow` (its C++
  start-up lines filtered), its Python logger at ERROR;
- matplotlib: the non-interactive Agg backend for the commands that write figures
  (:func:`batch_backend`), never on ``import calocoffea.plots`` (Jupyter keeps its backend);
- :func:`progress_bar`: a rich bar on stderr, none with ``--no-progress`` or when stderr is not
  a terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator

#: Loggers of dependencies kept at WARNING unless -vv.
NOISY_LOGGERS = ("distributed", "tornado", "bokeh", "asyncio", "fsspec", "numba",
                 "matplotlib", "h5py", "absl", "tensorflow", "urllib3")


def configure_logging(verbosity: int = 0) -> None:
    """WARNING / INFO (``-v``) / DEBUG (``-vv``) for calocoffea; dependencies at WARNING
    below ``-vv``."""
    from rich.console import Console
    from rich.logging import RichHandler

    level = logging.WARNING - 10 * min(verbosity, 2)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_calocoffea", False)]:
        root.removeHandler(old)
    # a handler someone else installed (pytest's capture, a Jupyter kernel) keeps the root
    # logger as it is, as logging.basicConfig would
    if not root.handlers:
        handler = RichHandler(console=Console(stderr=True), show_time=False, show_path=False,
                              rich_tracebacks=False, markup=False)
        handler._calocoffea = True
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(level)
    dep_level = logging.DEBUG if verbosity >= 2 else logging.WARNING
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(dep_level)
    quiet_dask(verbose=verbosity >= 2)


def quiet_dask(verbose: bool = False) -> None:
    """``distributed`` logging at WARNING in this process and the workers it starts."""
    try:
        import dask
    except ImportError:  # pragma: no cover - dask is a dependency
        return
    level = "info" if verbose else "warning"
    dask.config.set({"distributed.logging.distributed": level,
                     "distributed.admin.log-format": "%(name)s - %(levelname)s - %(message)s"})
    logging.getLogger("distributed").setLevel(logging.INFO if verbose else logging.WARNING)


def batch_backend() -> None:
    """Use matplotlib's Agg backend (files only) unless a backend was chosen already
    (``MPLBACKEND`` or an earlier ``matplotlib.use``)."""
    import matplotlib

    if not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")


@contextlib.contextmanager
def progress_bar(description: str, enabled: bool = True, unit: str = ""
                 ) -> Iterator[Callable[[int, int | None], None]]:
    """A rich progress bar on stderr; yields ``advance(done, total)``. Disabled (a no-op
    callback) when ``enabled`` is False or stderr is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield lambda done, total=None: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("[bold blue]{task.description}"), BarColumn(), MofNCompleteColumn()]
    if unit:
        columns.append(TextColumn(unit))
    columns += [TimeElapsedColumn(), TextColumn("<"), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=None)

        def advance(done: int, total: int | None = None) -> None:
            bar.update(task, completed=done, total=total)

        yield advance

"""``njit``: numba's ``njit(cache=True)`` that also works on a read-only installation.

numba looks for a cache directory when a function is decorated (at import): ``$NUMBA_CACHE_DIR``,
the package's ``__pycache__``, then ``~/.cache/numba``. When none is writable (a system-wide or
container install run by a user whose HOME is not writable), ``cache=True`` raises
``RuntimeError: cannot cache function ...: no locator available`` and calocoffea could not be
imported. :func:`njit` then uses a private per-user directory (:func:`private_cache_dir`:
``<tmp>/calocoffea-numba-<uid>``, mode 0700, refused if another user owns it or can write to
it: numba's cache index is a pickle, so a planted one could run code), and compiles without a
cache when that is not possible either. The compiled code is the same in every case.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Callable
from typing import Any

import numba
from numba.core import config

log = logging.getLogger(__name__)

_private: list[str | None] = []


def private_cache_dir() -> str | None:
    """A numba cache directory only this user can write to, or None (created on first use)."""
    if _private:
        return _private[0]
    path: str | None = os.path.join(tempfile.gettempdir(), f"calocoffea-numba-{os.getuid()}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
        if (not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid()
                or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
            log.warning("numba cache %s is not a private directory of this user: not used", path)
            path = None
        elif not os.access(path, os.W_OK | os.X_OK):
            path = None
    except OSError as err:
        log.debug("no private numba cache directory: %s", err)
        path = None
    _private.append(path)
    return path


def njit(**options: Any) -> Callable[[Callable], Any]:
    """``numba.njit(cache=True, **options)``, with the fallbacks of the module docstring."""

    def decorate(fn: Callable) -> Any:
        try:
            return numba.njit(cache=True, **options)(fn)
        except RuntimeError as err:
            if "no locator available" not in str(err):
                raise
        directory = private_cache_dir()
        if directory is not None:
            # the locator is chosen at decoration: CACHE_DIR only has to be set meanwhile
            saved = config.CACHE_DIR
            config.CACHE_DIR = directory
            try:
                return numba.njit(cache=True, **options)(fn)
            except RuntimeError as err:
                if "no locator available" not in str(err):
                    raise
            finally:
                config.CACHE_DIR = saved
        log.debug("numba: no writable cache directory for %s; compiling without a cache",
                  fn.__qualname__)
        return numba.njit(cache=False, **options)(fn)

    return decorate

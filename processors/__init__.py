"""coffea processors of calocoffea: Z->ee, Z->mumugamma and H->gammagamma.

:data:`PROCESSORS` is the registry the command line, the demo and the benchmarks use; a new
channel is a :class:`processors.base.CaloProcessor` subclass, a row of
:data:`calocoffea.channels.CHANNELS` and an entry here. The library (``calocoffea``) never
imports this package: it takes processor instances.
"""

from __future__ import annotations

from typing import Any

from processors.base import CaloProcessor
from processors.hgamgam import HgamgamProcessor
from processors.zee import ZeeProcessor
from processors.zmumugamma import ZmumugammaProcessor

#: Channel name -> processor class.
PROCESSORS: dict[str, type[CaloProcessor]] = {
    cls.channel: cls for cls in (ZeeProcessor, ZmumugammaProcessor, HgamgamProcessor)
}


def make_processor(name: str, **kwargs: Any) -> CaloProcessor:
    """An instance of the processor of channel ``name`` (a key of :data:`PROCESSORS`);
    ``kwargs`` go to :class:`~processors.base.CaloProcessor`."""
    if name not in PROCESSORS:
        raise ValueError(f"unknown processor {name!r}; choose from {sorted(PROCESSORS)}")
    return PROCESSORS[name](**kwargs)


__all__ = ["PROCESSORS", "CaloProcessor", "HgamgamProcessor", "ZeeProcessor",
           "ZmumugammaProcessor", "make_processor"]

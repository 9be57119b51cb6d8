"""A sparse, mergeable stand-in for the Weight-storage histograms of calocoffea.histograms.

The ``response`` histogram has ~4 million bins (63 MB with Weight storage), of which a chunk
of events fills a few thousand. Booking, pickling, shipping and adding the dense histogram
for every chunk dominated the cost of small chunks on the futures and dask executors, so the
processors fill a :class:`SparseHist` instead — only the touched bins, as flat bin indices
(with flow bins) plus sums of weights and squared weights — and ``postprocess`` turns the
merged result into the dense ``hist.Hist`` (:meth:`SparseHist.to_hist`).

Bin assignment uses the histogram's own axes (``axis.index``), so every value lands in the
bin ``Hist.fill`` would choose, NaN in the overflow bin included. Adding two SparseHists is
exact for exactly representable weights (e.g. ±1), hence independent of the merge order.
"""

from __future__ import annotations

from functools import lru_cache

import hist
import numpy as np

from calocoffea import histograms

#: Booking functions by name: SparseHist only stores the name and arguments (small pickles).
_BOOKERS = {"response": histograms.book_response, "mass": histograms.book_mass,
            "pull": histograms.book_pull,
            "pull_et_reco": histograms.book_pull_et_reco, "sigma_m": histograms.book_sigma_m}


@lru_cache(maxsize=8)
def _axes(kind: str, args: tuple) -> tuple:
    """Axes of the booked histogram (booked once per process, storage discarded)."""
    return tuple(_BOOKERS[kind](*args).axes)


class SparseHist:
    """Non-empty bins of the histogram ``_BOOKERS[kind](*args)``.

    ``index``: sorted unique flat indices into ``Hist.view(flow=True)`` (C order);
    ``value``, ``variance``: float64 sums of weights and squared weights per index.
    """

    def __init__(self, kind: str, *args) -> None:
        if kind not in _BOOKERS:
            raise ValueError(f"unknown histogram {kind!r}; known: {sorted(_BOOKERS)}")
        self.kind = kind
        self.args = tuple(args)
        self.index = np.zeros(0, dtype=np.int64)
        self.value = np.zeros(0, dtype=np.float64)
        self.variance = np.zeros(0, dtype=np.float64)

    @property
    def axes(self) -> tuple:
        return _axes(self.kind, self.args)

    def _flow_shape(self) -> tuple[int, ...]:
        return tuple(ax.extent for ax in self.axes)

    def fill(self, weight=None, **values) -> SparseHist:
        """Fill like ``Hist.fill(**values, weight=weight)``; scalars broadcast. Unknown
        category strings raise KeyError (the axes have no "other" bin)."""
        axes = self.axes
        missing = [ax.name for ax in axes if ax.name not in values]
        if missing or len(values) != len(axes):
            raise TypeError(f"fill needs exactly the axes {[a.name for a in axes]}")
        shapes = [np.shape(v) for v in values.values() if not isinstance(v, str)]
        if weight is not None:
            shapes.append(np.shape(weight))
        (n,) = np.broadcast_shapes((1,), *shapes)
        flat = np.zeros(n, dtype=np.int64)
        for ax in axes:
            v = values[ax.name]
            if isinstance(ax, hist.axis.StrCategory):
                idx = np.asarray(ax.index(v) if isinstance(v, str) else ax.index(list(v)))
            else:
                idx = np.asarray(ax.index(np.asarray(v)))
            idx = idx.astype(np.int64) + (1 if ax.traits.underflow else 0)
            flat = flat * ax.extent + np.broadcast_to(idx, (n,))
        w = np.ones(n) if weight is None else np.broadcast_to(np.asarray(weight, float), (n,))
        self._merge(flat, w, w * w)
        return self

    def _merge(self, index: np.ndarray, value: np.ndarray, variance: np.ndarray) -> None:
        if len(index) == 0:
            return
        idx = np.concatenate([self.index, index])
        uniq, inverse = np.unique(idx, return_inverse=True)
        self.value = np.bincount(inverse, np.concatenate([self.value, value]), len(uniq))
        self.variance = np.bincount(
            inverse, np.concatenate([self.variance, variance]), len(uniq)
        )
        self.index = uniq

    def __add__(self, other: SparseHist) -> SparseHist:
        if not isinstance(other, SparseHist):
            return NotImplemented
        if (other.kind, other.args) != (self.kind, self.args):
            raise ValueError(
                f"cannot add SparseHist {self.kind}{self.args} and {other.kind}{other.args}"
            )
        out = SparseHist(self.kind, *self.args)
        out.index, out.value, out.variance = self.index, self.value, self.variance
        out._merge(other.index, other.value, other.variance)
        return out

    def to_hist(self) -> hist.Hist:
        """The dense ``hist.Hist`` with these bin contents."""
        h = _BOOKERS[self.kind](*self.args)
        view = h.view(flow=True)
        where = np.unravel_index(self.index, self._flow_shape())
        view["value"][where] = self.value
        view["variance"][where] = self.variance
        return h

    def __repr__(self) -> str:
        return f"SparseHist({self.kind!r}, {len(self.index)} filled bins)"

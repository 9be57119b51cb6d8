"""coffea NanoEvents schema for calocoffea files: NanoAOD plus clusters, cells and tracks.

:class:`CaloNanoAODSchema` extends coffea's :class:`~coffea.nanoevents.NanoAODSchema` with the
collections of ``docs/data_format.md``:

- ``Cluster`` (one per electron/photon) with ``Cluster.cells``: the cluster's calorimeter
  cells, a doubly-jagged collection (events → clusters → cells) built from ``Cluster_nCell``
  and the consecutive grouping of ``CaloCell`` by cluster;
- ``CaloCell`` with ``CaloCell.cluster`` (from ``CaloCell_clusterIdx``);
- ``Track`` (massless-hypothesis Lorentz candidates) with ``Track.matched_gen``;
- ``Electron.cluster``, ``Photon.cluster`` (from ``*_clusterIdx``) and ``Electron.track``
  (from ``Electron_trackIdx``).

All cross-references are global indices, so they survive any slicing, e.g.
``events[mask].Electron.cluster.cells``. Every setting is a class attribute of the subclass
(never patched at run time), so worker processes of the futures and dask executors, which
import this module, see the same schema.

Files without these branches (real CMS NanoAOD) load as with ``NanoAODSchema``: the extra
attributes are simply absent. Unlike the base schema, a cross-reference whose index branch is
absent from the file is dropped silently (the base class warns once per cross-reference,
which floods the log for files that do not carry CMS-specific indices such as
``Electron_jetIdx``); an index branch whose *target* collection is missing still warns.
Constant fill-ins (``Photon_mass = 0`` and the like) replace stored branches exactly as in the
base class, but without a warning per file.
"""

from __future__ import annotations

import logging

import awkward
import numpy as np
from coffea.nanoevents import transforms
from coffea.nanoevents.methods import base, candidate, nanoaod, vector
from coffea.nanoevents.schemas import NanoAODSchema
from coffea.util import dask_property

log = logging.getLogger(__name__)

#: Behaviours of the schema: coffea's NanoAOD behaviours plus the calocoffea mixins. A copy,
#: so coffea's own registry is left untouched.
behavior: dict = {}
behavior.update(nanoaod.behavior)


def _set_projection_classes(array_cls: type, record_cls: type) -> None:
    """Lorentz-vector projection classes, as coffea sets them for its own candidates."""
    array_cls.ProjectionClass2D = vector.TwoVectorArray
    array_cls.ProjectionClass3D = vector.ThreeVectorArray
    array_cls.ProjectionClass4D = array_cls
    array_cls.MomentumClass = vector.LorentzVectorArray
    record_cls.ProjectionClass2D = vector.TwoVectorRecord
    record_cls.ProjectionClass3D = vector.ThreeVectorRecord
    record_cls.ProjectionClass4D = record_cls
    record_cls.MomentumClass = vector.LorentzVectorRecord


def _set_repr_name(name: str) -> None:
    behavior[name].__repr__ = lambda self: name


def check_cell_counts(events) -> None:
    """Consistency of the cluster → cell grouping (:func:`calocoffea.validation.check_cells`:
    counts, ``CaloCell_clusterIdx`` where the file has it, layers); raises
    :class:`calocoffea.validation.InputDataError` (a ValueError) naming file, branch, entry."""
    from calocoffea.validation import check_cells

    check_cells(events, require_index=False)


def _cross_reference(target: str, index: str, doc: str):
    """A property following the global index branch ``index`` of each record to the
    ``target`` collection (eager and dask forms, as coffea's own cross-references). Attribute
    access, so that a file without ``target`` (real CMS NanoAOD) raises AttributeError, which
    coffea's field probing treats as an absent property."""

    def eager(self):
        return getattr(self._events(), target)._apply_global_index(getattr(self, index))

    eager.__doc__ = doc
    prop = dask_property(eager)

    @prop.dask
    def lazy(self, dask_array):
        return getattr(dask_array._events(), target)._apply_global_index(
            getattr(dask_array, index)
        )

    return lazy


@awkward.mixin_class(behavior, "Cluster")
class Cluster(base.NanoCollection):
    """Electromagnetic cluster: ``eAcc``, ``e0..e3`` (GeV), ``eta``, ``phi`` (layer-2 energy
    barycentre, rad), ``nCell`` and the cells through :attr:`cells`."""

    @dask_property
    def cells(self):
        """The cluster's ``CaloCell`` records (one more list level than the clusters).

        Raises ValueError (:func:`check_cell_counts`) when ``Cluster_nCell`` does not add up
        to ``nCaloCell`` in some event or ``CaloCell_clusterIdx`` disagrees with the grouping
        (cells would otherwise be attributed to the wrong clusters or events).
        """
        events = self._events()
        check_cell_counts(events)
        return events.CaloCell._apply_global_index(self.cellsIdxG)

    @cells.dask
    def cells(self, dask_array):
        return dask_array._events().CaloCell._apply_global_index(dask_array.cellsIdxG)

    @property
    def et(self):
        """Transverse accumulated energy E_acc / cosh(eta) in GeV."""
        return self.eAcc / np.cosh(self.eta)


_set_repr_name("Cluster")


@awkward.mixin_class(behavior, "CaloCell")
class CaloCell(base.NanoCollection):
    """Calorimeter cell: ``layer`` (0-3), ``eta``, ``phi``, ``deta``, ``dphi`` (rad), ``e``
    (GeV), ``time`` (ns)."""

    cluster = _cross_reference(
        "Cluster", "clusterIdxG", "The owning ``Cluster`` (from ``CaloCell_clusterIdx``)."
    )


_set_repr_name("CaloCell")

behavior.update(awkward._util.copy_behaviors("PtEtaPhiMCandidate", "Track", behavior))


@awkward.mixin_class(behavior, "Track")
class Track(candidate.PtEtaPhiMCandidate, base.NanoCollection):
    """Inner-detector track at the perigee (``pt`` GeV, ``eta``, ``phi``, ``charge``), with a
    massless hypothesis (``mass`` is filled with 0 by the schema)."""

    matched_gen = _cross_reference(
        "GenPart", "genPartIdxG",
        "The matched generator particle (MC only, from ``Track_genPartIdx``).",
    )


_set_repr_name("Track")
_set_projection_classes(TrackArray, TrackRecord)  # type: ignore[name-defined]  # noqa: F821


@awkward.mixin_class(behavior, "Electron")
class CaloElectron(nanoaod.Electron):
    """coffea's NanoAOD electron plus :attr:`cluster` and :attr:`track`."""

    cluster = _cross_reference(
        "Cluster", "clusterIdxG",
        "The electron's ``Cluster`` (from ``Electron_clusterIdx``; None where -1).",
    )
    track = _cross_reference(
        "Track", "trackIdxG",
        "The electron's own ``Track`` (from ``Electron_trackIdx``; None where -1).",
    )


_set_repr_name("Electron")
_set_projection_classes(CaloElectronArray, CaloElectronRecord)  # type: ignore[name-defined]  # noqa: F821


@awkward.mixin_class(behavior, "Photon")
class CaloPhoton(nanoaod.Photon):
    """coffea's NanoAOD photon plus :attr:`cluster`."""

    cluster = _cross_reference(
        "Cluster", "clusterIdxG",
        "The photon's ``Cluster`` (from ``Photon_clusterIdx``; None where -1).",
    )


_set_repr_name("Photon")
_set_projection_classes(CaloPhotonArray, CaloPhotonRecord)  # type: ignore[name-defined]  # noqa: F821


class CaloNanoAODSchema(NanoAODSchema):
    """NanoAOD schema with calocoffea's ``Cluster``, ``CaloCell`` and ``Track`` collections.

    Use as ``schemaclass=CaloNanoAODSchema`` (NanoEventsFactory) or ``schema=CaloNanoAODSchema``
    (``processor.Runner``).
    """

    mixins = {
        **NanoAODSchema.mixins,
        "Cluster": "Cluster",
        "CaloCell": "CaloCell",
        "Track": "Track",
    }
    all_cross_references = {
        **NanoAODSchema.all_cross_references,
        "Electron_clusterIdx": "Cluster",
        "Photon_clusterIdx": "Cluster",
        "Electron_trackIdx": "Track",
        "CaloCell_clusterIdx": "Cluster",
        "Track_genPartIdx": "GenPart",
    }
    nested_index_items = {
        **NanoAODSchema.nested_index_items,
        # cells of cluster k are the Cluster_nCell[k] entries following those of clusters < k
        "Cluster_cellsIdxG": ("Cluster_nCell", "CaloCell"),
    }
    full_like_items = {
        **NanoAODSchema.full_like_items,
        "Track_mass": (transforms.full_like_from_offsets_form, ("oTrack", 0.0)),
    }

    def _build_collections(self, field_names, input_contents):
        present = set(field_names)
        # Index branches a file does not carry are dropped quietly (see module docstring).
        for indexer in [k for k in self.cross_references if k not in present]:
            log.debug("no %s branch: cross-reference dropped", indexer)
            del self.cross_references[indexer]
        # Constant fill-ins (e.g. Photon_mass = 0) replace a stored branch as in the base class,
        # but without its warning for every file: the stored branch is dropped beforehand.
        replaced = {name for name in self.full_like_items if name in present}
        if replaced:
            kept = [
                (f, c)
                for f, c in zip(field_names, input_contents, strict=True)
                if f not in replaced
            ]
            field_names = [f for f, _ in kept]
            input_contents = [c for _, c in kept]
        names, forms = super()._build_collections(field_names, input_contents)
        # coffea's Vertex behaviour needs PV_x/y/z; files that store only PV_npvs (calocoffea's
        # simulation) get a plain record so events.PV.npvs works instead of raising.
        if "PV" in names and not {"PV_x", "PV_y", "PV_z"} <= present:
            params = forms[names.index("PV")].setdefault("parameters", {})
            if params.get("__record__") == "Vertex":
                params["__record__"] = "NanoCollection"
        return names, forms

    @classmethod
    def behavior(cls) -> dict:
        """NanoAOD behaviours plus the calocoffea mixins (dict)."""
        return behavior


__all__ = ["CaloCell", "CaloElectron", "CaloNanoAODSchema", "CaloPhoton", "Cluster", "Track"]


# ---- reading linked collections from a chunk's flat columns (global indices) ----

def flat_column(content: awkward.contents.Content, name: str) -> np.ndarray:
    """A field of a collection's flat (unsliced) content as numpy."""
    return awkward.to_numpy(awkward.Array(content.content(name)))


def take_or_fill(values: np.ndarray, index: np.ndarray, fill: float) -> np.ndarray:
    """``values[index]`` as float64, ``fill`` where ``index`` < 0."""
    if values.size == 0:  # e.g. no GenPart at all in the chunk: every index is -1
        return np.full(index.shape, fill, dtype=np.float64)
    out = values.astype(np.float64)[np.maximum(index, 0)]
    out[index < 0] = fill
    return out


def linked_content(objects, link: str, target: str):
    """(flat global indices, full flat content of ``target``) of the cross-reference ``link``
    of NanoEvents ``objects``, or None for other arrays (plain records)."""
    if link + "G" not in getattr(objects, "fields", ()) or not hasattr(objects, "_events"):
        return None
    full = objects._events()
    if full is None or target not in full.fields:
        return None
    index = awkward.to_numpy(awkward.flatten(objects[link + "G"], axis=None)).astype(np.int64)
    return index, full, full[target]._content()


def linked_columns(objects, link: str, target: str, fields: dict[str, float]
                   ) -> dict[str, np.ndarray] | None:
    """Columns of the ``target`` records that NanoEvents ``objects`` point to through their
    index branch ``link`` (e.g. ``"genPartIdx"`` → ``"GenPart"``): {field: flat float64 in
    the order of ``awkward.flatten(objects)``}, ``fields[name]`` where the index is -1 or out of
    range. The values are those of coffea's cross-reference (``objects.matched_gen.pt``, …)
    but read from the chunk's flat columns without copying the linked collection. None when
    ``objects`` are not NanoEvents carrying that cross-reference (e.g. plain records).
    """
    linked = linked_content(objects, link, target)
    if linked is None:
        return None
    gidx, _, content = linked
    return {f: take_or_fill(flat_column(content, f), gidx, fill) for f, fill in fields.items()}

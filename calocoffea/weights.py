"""Event weights: pile-up reweighting of MC to a data ⟨μ⟩ profile (correctionlib) and
cross-section × luminosity normalisation from fileset metadata.

Pile-up: the weight of an MC event is w(μ) = p_data(μ) / p_MC(μ), the ratio of the normalised
``Pileup_nTrueInt`` distributions in unit bins over [0, 100), MC bins without data get 0 and
data bins without MC events cannot be reached; the ratio histogram is turned into a
correctionlib correction by ``correctionlib.convert.from_histogram`` (input ``nTrueInt``,
flow clamped), so any correctionlib user reads the same weights.

Normalisation: an MC dataset with ``xsec`` (pb) in its fileset metadata is scaled by
xsec × lumi / Σ genWeight (``lumi`` in pb⁻¹ from the run configuration), the convention of
coffea/PocketCoffea analyses. The factor is applied to the merged histograms of one MC
dataset (:func:`scale_output`, from the processors' ``postprocess``), with Σ genWeight
either from the fileset metadata (``sum_genweight``) or summed exactly
(:func:`exact_sum`) over the processed events.

Determinism: the per-event weights the processors fill are sign(genWeight) × w(μ) with w(μ)
rounded to a multiple of :data:`WEIGHT_QUANTUM`, so every sum of weights and of squared
weights is exact in float64 (below 2³⁷ and, per bin, 2²¹ respectively) and the histograms
do not depend on chunking, executor or worker count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import hist
import numpy as np

from calocoffea.histograms import HISTOGRAM_KEYS

#: ⟨μ⟩ axis of the pile-up histograms (unit bins).
MU_AXIS = (100, 0.0, 100.0)
#: Grid of the filled pile-up weights (2⁻¹⁶: at most 7.6e-6 absolute rounding per event);
#: dyadic, so sums of weights and squared weights are exact in float64.
WEIGHT_QUANTUM = 2.0**-16
#: Rows of the processors' ``pileup`` histogram: generator-sign weights only, and the full
#: event weight (with the pile-up weight).
PILEUP_ROWS = ("raw", "weighted")


def quantise(weights: np.ndarray) -> np.ndarray:
    """``weights`` rounded to the nearest multiple of :data:`WEIGHT_QUANTUM`."""
    return np.round(np.asarray(weights, dtype=np.float64) / WEIGHT_QUANTUM) * WEIGHT_QUANTUM


def book_pileup() -> hist.Hist:
    """``Pileup_nTrueInt`` of every processed event (before any selection), Weight storage,
    one row per :data:`PILEUP_ROWS`: the input of :func:`pileup_ratio` and of the
    data/MC ⟨μ⟩ comparison."""
    return hist.Hist(hist.axis.StrCategory(list(PILEUP_ROWS), name="row", flow=False),
                     hist.axis.Regular(*MU_AXIS, name="nTrueInt", label=r"$\mu_{true}$"),
                     storage=hist.storage.Weight())


def profile(h: hist.Hist, row: str = "raw") -> hist.Hist:
    """One row of a processors' ``pileup`` histogram as a 1-D ``nTrueInt`` histogram
    (Double storage, the sums of weights)."""
    if [ax.name for ax in h.axes] != ["row", "nTrueInt"]:
        raise ValueError(f"not a pileup histogram: axes {[ax.name for ax in h.axes]}")
    out = hist.Hist(h.axes["nTrueInt"], storage=hist.storage.Double())
    out.view(flow=True)[...] = h[row, ...].view(flow=True)["value"]
    return out


def exact_sum(values: np.ndarray) -> Fraction:
    """The exact sum of float ``values`` as a Fraction (order-independent; adding the sums
    of chunks gives the sum of the whole)."""
    uniq, counts = np.unique(np.asarray(values, dtype=np.float64), return_counts=True)
    if not np.all(np.isfinite(uniq)):
        raise ValueError(f"non-finite weight in {uniq[~np.isfinite(uniq)][:3]}")
    return sum((Fraction(float(v)) * int(c) for v, c in zip(uniq, counts, strict=True)),
               Fraction(0))


def scale_output(output: dict, factor: float,
                 keys: Iterable[str] = HISTOGRAM_KEYS) -> dict:
    """Multiply the values of the Weight-storage histograms ``output[key]`` by ``factor``
    and their variances by factor² (in place); returns ``output``."""
    for key in keys:
        h = output.get(key)
        if isinstance(h, hist.Hist) and factor != 1.0:
            view = h.view(flow=True)
            view["value"] *= factor
            view["variance"] *= factor * factor
    return output


def normalise_output(output: dict, lumi_pb: float | None) -> float:
    """Apply xsec × lumi / Σ genWeight to one MC dataset's merged ``output`` (its ``meta``
    gives ``xsec`` in pb and optionally ``sum_genweight``; else the exact sum of the
    processed events' genWeight, ``output["sum_genweight"]``). Records ``norm_factor``,
    ``lumi`` and ``sum_genweight`` in ``meta``; returns the factor (1 for data, without
    xsec or without lumi). ValueError when several cross-sections were merged."""
    meta = output.setdefault("meta", {})
    xsec = meta.get("xsec")
    if isinstance(xsec, list):
        raise ValueError(f"output merges datasets with cross-sections {xsec} pb "
                         f"({meta.get('datasets')}): normalise each dataset's output")
    sumw = meta.get("sum_genweight", output.get("sum_genweight"))
    if isinstance(sumw, list):
        raise ValueError(f"output merges datasets with sum_genweight {sumw}")
    sumw = float(sumw) if sumw is not None else 0.0
    if meta.get("kind") != "mc" or xsec is None or lumi_pb is None:
        factor = 1.0
    else:
        factor = normalisation(float(xsec), float(lumi_pb), sumw)
    scale_output(output, factor)
    meta.update(norm_factor=factor, lumi=lumi_pb, sum_genweight=sumw)
    if "sum_genweight" in output:
        output["sum_genweight"] = sumw
    return factor


def mu_histogram(files: Iterable[str | Path]) -> hist.Hist:
    """``Pileup_nTrueInt`` of every event of ``files`` in unit bins over [0, 100)."""
    import uproot

    h = hist.Hist(hist.axis.Regular(*MU_AXIS, name="nTrueInt"), storage=hist.storage.Double())
    for f in files:
        path = Path(f)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        with uproot.open(path) as root:
            if "Events" not in root or "Pileup_nTrueInt" not in root["Events"]:
                raise KeyError(f"{path}: no Events/Pileup_nTrueInt branch")
            h.fill(root["Events"]["Pileup_nTrueInt"].array(library="np"))
    return h


def pileup_ratio(data: hist.Hist, mc: hist.Hist) -> hist.Hist:
    """w(μ) = p_data(μ)/p_MC(μ) as a histogram on the same axis (0 where MC has no
    events)."""
    d = data.values() / max(data.sum(), 1e-300)
    m = mc.values() / max(mc.sum(), 1e-300)
    # name and label become the correction's name and output (correctionlib.convert)
    out = hist.Hist(*data.axes, storage=hist.storage.Double(), name="pileup", label="weight")
    out[...] = np.where(m > 0, d / np.where(m > 0, m, 1.0), 0.0)
    return out


def pileup_correction_set(ratio: hist.Hist, *, description: str = ""):
    """The correctionlib ``CorrectionSet`` holding correction ``pileup`` (input
    ``nTrueInt``) made from ``ratio`` with ``correctionlib.convert.from_histogram``."""
    import correctionlib.convert
    import correctionlib.schemav2 as cs

    corr = correctionlib.convert.from_histogram(ratio, flow="clamp")
    corr.name = "pileup"
    corr.description = description or "MC-to-data <mu> weight p_data(mu)/p_MC(mu)"
    return cs.CorrectionSet(schema_version=2, corrections=[corr],
                            description="calocoffea pile-up weights")


def write_pileup_correction(path: str | Path, data_files: Iterable[str | Path],
                            mc_files: Iterable[str | Path]) -> Path:
    """Write the pile-up correction of ``mc_files`` to ``data_files`` (atomic)."""
    ratio = pileup_ratio(mu_histogram(data_files), mu_histogram(mc_files))
    return write_correction_set(path, pileup_correction_set(ratio))


def pileup_ratio_from_outputs(data: Mapping, mc: Mapping) -> hist.Hist:
    """w(μ) from the ``pileup`` histograms of a data(-like) and an MC processor output:
    the data's and the MC's generator-weighted (``raw``) profiles."""
    for name, out in (("data", data), ("MC", mc)):
        if not isinstance(out.get("pileup"), hist.Hist):
            raise KeyError(f"{name} output has no 'pileup' histogram (keys {sorted(out)}); "
                           "rerun the processor with this version")
    kinds = (data.get("meta", {}).get("kind"), mc.get("meta", {}).get("kind"))
    if kinds != ("data", "mc"):
        raise ValueError(f"need a data and an MC output, got kinds {kinds}")
    return pileup_ratio(profile(data["pileup"]), profile(mc["pileup"]))


def flat_outputs(output: Mapping) -> list[dict]:
    """The per-dataset outputs of a processor output: ``[output]`` for the flat form
    (``{"mass", "meta", ...}``), the values for the keyed-by-dataset form
    (``{dataset: {"mass", "meta", ...}}``)."""
    if "meta" in output:
        return [dict(output)]
    outs = [dict(v) for v in output.values() if isinstance(v, Mapping) and "meta" in v]
    if not outs:
        raise KeyError(f"not a processor output: keys {sorted(output)[:8]}")
    return outs


def write_correction_set(path: str | Path, cset) -> Path:
    """Write a correctionlib ``CorrectionSet`` as JSON (atomic)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(cset.model_dump_json(exclude_unset=True, indent=1) + "\n")
    tmp.replace(path)
    return path


@lru_cache(maxsize=4)
def _load_pileup(path: str, mtime_ns: int):
    return PileupWeights(path)


def cached_pileup_weights(path: str | Path) -> PileupWeights:
    """:class:`PileupWeights` of ``path``, loaded once per process (workers included)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such pile-up correction file")
    return _load_pileup(str(p), p.stat().st_mtime_ns)


class PileupWeights:
    """w(nTrueInt) from a correctionlib file holding correction ``pileup``."""

    def __init__(self, path: str | Path):
        import correctionlib

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such pile-up correction file")
        cset = correctionlib.CorrectionSet.from_file(str(self.path))
        if "pileup" not in set(cset.keys()):
            raise KeyError(f"{self.path}: no correction 'pileup' (has {sorted(cset.keys())})")
        self._corr = cset["pileup"]

    def __call__(self, n_true_int: np.ndarray) -> np.ndarray:
        return self._corr.evaluate(np.asarray(n_true_int, dtype=float))


def normalisation(xsec_pb: float | None, lumi_pb: float | None, sum_gen_weight: float
                  ) -> float:
    """xsec × lumi / Σ genWeight, or 1 when either is not given (data, unnormalised MC)."""
    if xsec_pb is None or lumi_pb is None:
        return 1.0
    if not (xsec_pb > 0 and lumi_pb > 0 and sum_gen_weight > 0):
        raise ValueError(f"normalisation needs xsec > 0, lumi > 0 and sum of genWeight > 0, "
                         f"got {xsec_pb}, {lumi_pb}, {sum_gen_weight}")
    return xsec_pb * lumi_pb / sum_gen_weight

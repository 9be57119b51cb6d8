"""Event weights: pile-up reweighting of MC to a data ⟨μ⟩ profile (correctionlib) and
cross-section × luminosity normalisation from fileset metadata.

Pile-up: the weight of an MC event is w(μ) = p_data(μ) / p_MC(μ), the ratio of the normalised
``Pileup_nTrueInt`` distributions in unit bins over [0, 100), MC bins without data get 0 and
data bins without MC events cannot be reached; the ratio histogram is turned into a
correctionlib correction by ``correctionlib.convert.from_histogram`` (input ``nTrueInt``,
flow clamped), so any correctionlib user reads the same weights.

Normalisation: an MC dataset with ``xsec`` (pb) in its fileset metadata is scaled by
xsec × lumi / Σ genWeight (``lumi`` in pb⁻¹ from the run configuration), the convention of
coffea/PocketCoffea analyses.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import hist
import numpy as np

#: ⟨μ⟩ axis of the pile-up histograms (unit bins).
MU_AXIS = (100, 0.0, 100.0)


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
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(pileup_correction_set(ratio).model_dump_json(exclude_unset=True, indent=1)
                   + "\n")
    tmp.replace(path)
    return path


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

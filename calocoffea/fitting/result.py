"""The outcome of one mass fit and the rules that accept or reject it.

Pure Python/numpy (no zfit), so results can be read back, compared and plotted without
TensorFlow. Masses, widths and shifts are in GeV.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class AcceptanceCriteria:
    """When a fit counts as *accepted* (thesis §5.6 only uses accepted categories).

    ``min_entries``: effective entries (Σw)²/Σw² in the fit range (the sum of weights for
    unweighted or ±1-free histograms); ``max_chi2_ndf``: Pearson χ²/ndf in effective entries;
    ``limit_fraction``: a parameter closer to a bound than this fraction of its allowed range
    is "at limit"; ``limit_params`` are the parameters whose being at a limit rejects the fit
    (None = all floating ones). By default only the peak position and width: the CB tail
    parameters (α, n), a background fraction or the eq. 4.8 fraction legitimately run to a
    bound when the data have no tail/background, which leaves μ and σ unbiased. Every
    parameter at a limit is still listed in ``FitResult.at_limit``.

    The width (``width_params``, the resolution the comparison is about) must also be
    measured: its Hesse error at most ``max_width_rel_error`` of its value (a σ_CB of
    0.11 ± 0.19 GeV says nothing about the resolution), and the interval value ± error inside
    the parameter's allowed range (a width within its error of a bound is not determined by
    the data; the bound is).
    """

    min_entries: float = 500.0
    max_chi2_ndf: float = 3.0
    limit_fraction: float = 1e-3
    limit_params: tuple[str, ...] | None = ("mu", "sigma")
    max_width_rel_error: float = 0.5
    width_params: tuple[str, ...] = ("sigma",)


@dataclass
class FitResult:
    """One binned fit: values, Hesse errors, quality and the accept/reject decision.

    ``status`` is ``"ok"`` (the minimiser ran), ``"failed"`` (it raised; ``reason`` says why)
    or ``"skipped"`` (not attempted, e.g. too few entries). ``accepted`` is True only when the
    fit converged, has a valid covariance, no floating parameter at a limit, enough entries and
    χ²/ndf below the threshold; otherwise ``reason`` lists every failed condition.
    """

    model: str
    label: str = ""
    status: str = "ok"
    accepted: bool = False
    reason: str = ""
    values: dict[str, float] = field(default_factory=dict)
    errors: dict[str, float] = field(default_factory=dict)
    covariance: list[list[float]] = field(default_factory=list)
    param_names: list[str] = field(default_factory=list)
    at_limit: list[str] = field(default_factory=list)
    #: Parameters the data did not constrain (singular covariance), held at their fitted
    #: values for a second minimisation whose Hesse gives the covariance of the others
    #: (their error is nan); see ``MassFitter._unconstrained``.
    fixed: list[str] = field(default_factory=list)
    #: Allowed range (lower, upper) of each floating parameter.
    bounds: dict[str, list[float]] = field(default_factory=dict)
    converged: bool = False
    valid_covariance: bool = False
    n_entries: float = 0.0
    #: Effective entries (Σw)²/Σw² of the fitted histogram (= ``n_entries`` for unit
    #: weights); nan when the variances were not given.
    n_effective: float = float("nan")
    chi2: float = float("nan")
    ndf: int = 0
    edm: float = float("nan")
    n_calls: int = 0
    fit_time_s: float = 0.0

    @property
    def chi2_ndf(self) -> float:
        """Pearson χ² per degree of freedom (nan when ndf <= 0)."""
        return self.chi2 / self.ndf if self.ndf > 0 else float("nan")

    @property
    def effective_entries(self) -> float:
        """``n_effective`` when known, else ``n_entries`` (unweighted)."""
        return self.n_effective if math.isfinite(self.n_effective) else self.n_entries

    def value(self, name: str) -> float:
        """Fitted value of parameter ``name`` (nan when absent)."""
        return float(self.values.get(name, float("nan")))

    def error(self, name: str) -> float:
        """Hesse error of parameter ``name`` (nan when absent)."""
        return float(self.errors.get(name, float("nan")))

    def decide(self, criteria: AcceptanceCriteria) -> FitResult:
        """Set ``accepted`` and ``reason`` from the quality fields; returns self."""
        reasons = []
        if self.status != "ok":
            reasons.append(self.reason or f"status {self.status}")
        else:
            if not self.converged:
                reasons.append("not converged")
            if not self.valid_covariance:
                reasons.append("invalid covariance")
            blocking = [
                p
                for p in self.at_limit
                if criteria.limit_params is None or p in criteria.limit_params
            ]
            if blocking:
                reasons.append("at limit: " + ",".join(blocking))
            reasons += self._width_reasons(criteria, blocking)
            n = self.effective_entries
            if n < criteria.min_entries:
                reasons.append(f"entries {n:.0f} < {criteria.min_entries:.0f}")
            chi2_ndf = self.chi2_ndf
            if not math.isfinite(chi2_ndf) or chi2_ndf > criteria.max_chi2_ndf:
                reasons.append(f"chi2/ndf {chi2_ndf:.2f} > {criteria.max_chi2_ndf:g}")
        self.accepted = not reasons
        self.reason = "; ".join(reasons)
        return self

    def _width_reasons(self, criteria: AcceptanceCriteria, at_limit: list[str]) -> list[str]:
        out = []
        for name in criteria.width_params:
            if name not in self.values or name in at_limit:
                continue
            v, e = self.value(name), self.error(name)
            if not (math.isfinite(v) and math.isfinite(e)):
                continue  # "invalid covariance" already says it
            if v <= 0 or e > criteria.max_width_rel_error * v:
                out.append(f"{name} error {e:.3g} > {criteria.max_width_rel_error:g} × "
                           f"{name} {v:.3g}")
                continue
            lo, hi = self.bounds.get(name, (-math.inf, math.inf))
            if v - e < lo or v + e > hi:
                out.append(f"{name} {v:.3g} ± {e:.3g} reaches its bound [{lo:g}, {hi:g}]")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (see docs/fit_results.md); non-finite floats become None."""
        out = asdict(self)
        out["chi2_ndf"] = self.chi2_ndf
        return json_safe(out)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitResult:
        """Inverse of :meth:`to_dict`."""
        kwargs = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("chi2", "edm", "n_effective"):
            if kwargs.get(key) is None:
                kwargs[key] = float("nan")
        kwargs["values"] = {k: _nan(v) for k, v in kwargs.get("values", {}).items()}
        kwargs["errors"] = {k: _nan(v) for k, v in kwargs.get("errors", {}).items()}
        return cls(**kwargs)

    @classmethod
    def skipped(cls, model: str, label: str, n_entries: float, reason: str,
                n_effective: float = float("nan")) -> FitResult:
        """A fit that was not attempted (never accepted)."""
        return cls(
            model=model,
            label=label,
            status="skipped",
            n_entries=n_entries,
            n_effective=n_effective,
            reason=reason,
            accepted=False,
        )


#: Adjacent bins are merged until each group expects at least this many entries, the usual
#: validity condition of Pearson's χ² (sparse tails otherwise give χ²/ndf ≫ 1 for good fits).
MIN_EXPECTED_PER_GROUP = 5.0


def pearson_chi2(
    observed: np.ndarray, expected: np.ndarray, n_params: int,
    min_expected: float = MIN_EXPECTED_PER_GROUP,
) -> tuple[float, int]:
    """Pearson χ² after merging adjacent bins to ``min_expected`` expected entries per group.

    Groups are closed left to right as soon as their expectation reaches ``min_expected``; a
    short remainder joins the last group. ndf = number of groups − ``n_params``.
    """
    observed = np.asarray(observed, dtype=float)
    expected = np.asarray(expected, dtype=float)
    edges = [0]
    running = 0.0
    for k, mu in enumerate(expected):
        running += mu
        if running >= min_expected:
            edges.append(k + 1)
            running = 0.0
    if edges[-1] != expected.size:
        if len(edges) > 1:
            edges[-1] = expected.size  # merge the remainder into the last group
        else:
            edges.append(expected.size)
    idx = np.asarray(edges[:-1])
    obs_g = np.add.reduceat(observed, idx)
    exp_g = np.add.reduceat(expected, idx)
    use = exp_g > 1e-9
    chi2 = float(np.sum((obs_g[use] - exp_g[use]) ** 2 / exp_g[use]))
    return chi2, int(use.sum()) - n_params


def _nan(v):
    return float("nan") if v is None else v


def json_safe(obj):
    """Recursively replace non-finite floats by None and numpy scalars by Python ones."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.floating):
        return json_safe(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    return obj

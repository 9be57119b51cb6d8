"""Many binned fits with one compiled zfit model and loss.

:class:`MassFitter` builds the zfit space, parameters, model, a data object backed by a
``tf.Variable`` and the ``BinnedNLL`` loss ONCE. Each :meth:`MassFitter.fit` assigns new bin
contents to the variable and new starting values to the parameters, so TensorFlow reuses the
traced graph of the loss and its gradient across categories and calibrations (building a
model per category retraces everything, see benchmarks/bench_fits.py). Every exception in a
fit is caught and turned into a rejected :class:`FitResult`, so a batch never stops.

Masses in GeV. All histograms given to one fitter must share its mass-bin edges.
"""

from __future__ import annotations

import itertools
import logging
import time
import warnings

import numpy as np

from calocoffea.fitting._quiet import import_tensorflow

import_tensorflow()  # before the imports below: keeps TensorFlow's start-up lines off stderr

import tensorflow as tf
import zfit
from zfit._data.binneddatav1 import BinnedData, BinnedHolder

from calocoffea.fitting import zfit_models
from calocoffea.fitting.models import mass_model
from calocoffea.fitting.result import AcceptanceCriteria, FitResult, pearson_chi2
from calocoffea.metrics import effective_factor

log = logging.getLogger(__name__)

_counter = itertools.count()


class _VariableHolder(BinnedHolder):
    """BinnedHolder whose values live in a tf.Variable, read afresh at every evaluation."""

    @property
    def values(self):
        return tf.identity(self._var)

    @values.setter
    def values(self, value):
        self._var = value


#: A non-peak parameter this close to a bound (fraction of its range) counts as unconstrained
#: when Minuit's covariance is singular (:meth:`MassFitter._unconstrained`).
UNCONSTRAINED_BOUND_FRACTION = 0.01


def _valid(cov: np.ndarray) -> bool:
    """A usable covariance: finite with a positive diagonal."""
    cov = np.asarray(cov, dtype=float)
    return bool(cov.size and np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0))


class MassFitter:
    """Binned NLL fits of ``model`` on fixed mass-bin ``edges`` (GeV), compiled once.

    ``model`` is a key of :data:`calocoffea.fitting.models.MODELS`; ``subdivisions`` sets
    the BW⊗CB convolution step (min bin width / subdivisions); ``criteria`` decide
    ``FitResult.accepted``.
    """

    def __init__(
        self,
        edges: np.ndarray,
        model: str = "bwcb",
        subdivisions: int = 4,
        criteria: AcceptanceCriteria | None = None,
        tolerance: float = 1e-3,
    ) -> None:
        self.model = mass_model(model)
        self.edges = np.asarray(edges, dtype=float)
        self.model_name = model
        self.criteria = criteria or AcceptanceCriteria()
        self.specs = self.model.params
        tag = next(_counter)  # zfit parameter names must be unique per process
        self.params = {
            s.name: zfit.Parameter(f"{s.name}_{model}_{tag}", s.start, s.lower, s.upper)
            for s in self.specs
        }
        space = zfit_models.binned_space(self.edges, name=f"mass_{tag}")
        self.pdf = zfit_models.BinnedMassPDF(space, self.model, self.params, subdivisions)
        n_bins = self.edges.size - 1
        self._values = tf.Variable(np.ones(n_bins), dtype=tf.float64, trainable=False)
        holder = _VariableHolder(space=space, values=self._values, variances=None)
        self.data = BinnedData(h=holder, name=f"data_{tag}")
        self.loss = zfit.loss.BinnedNLL(self.pdf, self.data)
        self.minimizer = zfit.minimize.Minuit(tol=tolerance, gradient="zfit")

    # -- starting values -------------------------------------------------------------------
    def _starts(self, counts: np.ndarray) -> dict[str, float]:
        starts = {s.name: s.start for s in self.specs}
        starts.update(self.model.starts(counts, self.edges))
        return starts

    # -- one fit ---------------------------------------------------------------------------
    def fit(
        self, counts: np.ndarray, label: str = "", starts: dict[str, float] | None = None,
        variances: np.ndarray | None = None,
    ) -> FitResult:
        """Fit bin ``counts`` (n_bins,, sums of weights) and return a decided
        :class:`FitResult`; never raises.

        ``variances`` (sums of squared weights, Weight storage) make it a fit of weighted
        entries: the counts are scaled to effective entries, counts × Σw/Σw² (one factor
        per fitted histogram), so the likelihood's curvature (Hesse errors), the Pearson χ²
        and the entries compared with ``min_entries`` are those of the equivalent unweighted
        sample; the fitted shape parameters do not change. Unit weights give factor 1.
        """
        t0 = time.perf_counter()
        counts = np.asarray(counts, dtype=float)
        n_entries = float(counts.sum()) if counts.size else 0.0
        factor, n_eff = 1.0, float("nan")
        if variances is not None:
            variances = np.asarray(variances, dtype=float)
            factor, n_eff = effective_factor(counts, variances)
        n_check = n_entries if not np.isfinite(n_eff) else n_eff
        if counts.shape != (self.edges.size - 1,) or (
                variances is not None and variances.shape != counts.shape):
            return FitResult.skipped(
                self.model_name,
                label,
                n_entries,
                f"histogram has {counts.size} bins, fitter expects {self.edges.size - 1}"
                + ("" if variances is None else f" (variances: {variances.size})"),
            ).decide(self.criteria)
        if not np.all(np.isfinite(counts)) or not np.isfinite(factor):
            return FitResult.skipped(
                self.model_name, label, n_entries, "non-finite bin contents or variances"
            ).decide(self.criteria)
        if n_check < self.criteria.min_entries:
            return FitResult.skipped(
                self.model_name,
                label,
                n_entries,
                f"entries {n_check:.0f} < {self.criteria.min_entries:.0f}",
                n_effective=n_eff,
            ).decide(self.criteria)
        try:
            result = self._fit(np.clip(counts * factor, 0.0, None), label, starts)
            result.n_entries, result.n_effective = n_entries, n_eff
        except Exception as err:  # a failed fit must never stop the batch
            log.warning("fit %s failed: %s", label, err)
            result = FitResult(
                model=self.model_name,
                label=label,
                status="failed",
                n_entries=n_entries,
                n_effective=n_eff,
                reason=f"{type(err).__name__}: {err}",
            )
        result.fit_time_s = time.perf_counter() - t0
        return result.decide(self.criteria)

    def set_data(self, counts: np.ndarray) -> None:
        """Load bin ``counts`` (n_bins,) into the compiled loss (no retracing)."""
        self._values.assign(np.asarray(counts, dtype=float))

    def _fit(self, counts: np.ndarray, label: str, starts: dict[str, float] | None) -> FitResult:
        self.set_data(counts)
        init = self._starts(counts)
        init.update(starts or {})
        for spec in self.specs:
            self.params[spec.name].set_value(
                float(np.clip(init[spec.name], spec.lower, spec.upper))
            )
        minimum = self.minimizer.minimize(self.loss)
        names = [s.name for s in self.specs]
        zparams = [self.params[n] for n in names]
        values = {n: float(minimum.params[p]["value"]) for n, p in zip(names, zparams, strict=True)}
        for p, n in zip(zparams, names, strict=True):  # hesse and chi2 at the minimum
            p.set_value(values[n])
        # one Hesse evaluation (iminuit's) gives both the covariance and the errors; zfit's
        # warning for a singular one is not shown: an invalid covariance is handled below
        # (unconstrained parameters fixed and refitted, else the fit is rejected with reason)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="minuit failed to calculate the covariance",
                                    category=RuntimeWarning)
            cov = np.asarray(minimum.covariance(params=zparams, method="minuit_hesse"))
        errors = {
            n: float(np.sqrt(cov[k, k])) if cov[k, k] > 0 else float("nan")
            for k, n in enumerate(names)
        }
        valid_cov = _valid(cov)
        fixed: list[str] = []
        if not valid_cov:
            fixed = self._unconstrained(minimum, values)
        if fixed:
            minimum, values, cov, errors, valid_cov = self._refit_fixed(fixed, names)
        at_limit = []
        for spec in self.specs:
            tol = self.criteria.limit_fraction * (spec.upper - spec.lower)
            v = values[spec.name]
            if v - spec.lower < tol or spec.upper - v < tol:
                at_limit.append(spec.name)
        expected = counts.sum() * self.rel_counts()
        chi2, ndf = pearson_chi2(counts, expected, len(self.specs))
        info = minimum.info or {}
        return FitResult(
            model=self.model_name,
            label=label,
            status="ok",
            values=values,
            errors=errors,
            covariance=cov.tolist(),
            param_names=names,
            at_limit=at_limit,
            fixed=fixed,
            bounds={spec.name: [float(spec.lower), float(spec.upper)] for spec in self.specs},
            converged=bool(minimum.converged),
            valid_covariance=valid_cov,
            n_entries=float(counts.sum()),
            chi2=chi2,
            ndf=ndf,
            edm=float(minimum.edm),
            n_calls=int(info.get("n_eval", 0) or 0),
        )

    def _unconstrained(self, minimum, values: dict[str, float]) -> list[str]:
        """Parameters the data do not constrain at ``minimum``: not the peak position or
        width (``criteria.limit_params`` / ``width_params``, never fixed), and at a bound
        (within 1 % of their range) or with a numerical-Hesse error above half their range
        (e.g. a DSCB tail that starts beyond the populated range: its α runs to the upper
        bound and its n is flat). Such directions make Minuit's covariance singular."""
        protected = set(self.criteria.width_params) | set(self.criteria.limit_params or ())
        names = [s.name for s in self.specs]
        try:
            cov = np.asarray(minimum.covariance(params=[self.params[n] for n in names],
                                                method="hesse_np"))
            err = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.inf))
        except Exception:  # no numerical Hesse either: judge by the bounds alone
            err = np.zeros(len(names))
        out = []
        for k, spec in enumerate(self.specs):
            span = spec.upper - spec.lower
            v = values[spec.name]
            near = min(v - spec.lower, spec.upper - v) < UNCONSTRAINED_BOUND_FRACTION * span
            if spec.name not in protected and (near or not err[k] <= 0.5 * span):
                out.append(spec.name)
        return out

    def _refit_fixed(self, fixed: list[str], names: list[str]):
        """Minimise again with ``fixed`` held at their values (zfit ``floating=False``,
        restored afterwards) and take Minuit's Hesse of the others; the fixed parameters get
        zero rows in the covariance and nan errors. Returns (minimum, values, covariance,
        errors, valid)."""
        for n in fixed:
            self.params[n].floating = False
        try:
            minimum = self.minimizer.minimize(self.loss)
            free = [n for n in names if n not in fixed]
            values = {n: float(self.params[n].value()) for n in names}
            values.update({n: float(minimum.params[self.params[n]]["value"]) for n in free})
            for n in free:
                self.params[n].set_value(values[n])
            sub = np.asarray(minimum.covariance(params=[self.params[n] for n in free],
                                                method="minuit_hesse"))
        finally:
            for n in fixed:
                self.params[n].floating = True
        pos = [names.index(n) for n in free]
        cov = np.zeros((len(names), len(names)))
        cov[np.ix_(pos, pos)] = sub
        errors = {n: float("nan") for n in fixed}
        errors.update({n: float(np.sqrt(sub[k, k])) if sub[k, k] > 0 else float("nan")
                       for k, n in enumerate(free)})
        return minimum, values, cov, errors, _valid(sub)

    def rel_counts(self, values: dict[str, float] | None = None) -> np.ndarray:
        """Model bin probabilities (n_bins,) at ``values`` (default: current parameters)."""
        if values:
            for name, v in values.items():
                self.params[name].set_value(v)
        return np.asarray(self.pdf.rel_counts(self.pdf.space))

r"""Ready-made estimators for simulation studies, with a batched path over replicates.

:func:`change_estimator` is the analysis of the family designs (:func:`study_2017`,
:func:`evaluation_families`): a first-difference :func:`sosstats.panel.change_model` of the T1
to T2 change on the T2 respondents, clustered by pilot. Called on one replicate's long frame
it IS that ``change_model`` call. Given a whole chunk of replicates as arrays (a
:class:`~sosstats.design._batched.FamilyBatch`) it fits them all at once:

* ``inference="cr2"``: one call of :func:`sosstats._kernels.cluster_cr2_batched.ols_cr2_batched`
  (OLS, CR2 covariance and Satterthwaite df of every replicate as stacked arrays; equal to
  ``change_model``'s to about 1e-14 relative, tested to 1e-10);
* ``inference="wild"``: the model matrix of every replicate is built at once from the arrays
  (no formulaic), then each replicate's wild cluster restricted bootstrap runs the same kernel
  ``change_model`` runs (:func:`sosstats._kernels.wild.wild_terms_of_fit`, all sign vectors
  as one matrix product) on the same arrays, so the results are ``change_model``'s bit for bit;
  the loop over replicates remains, as the test-inversion interval is a root search per
  replicate and term.

Formulas the batched path reads (anything else runs ``change_model`` per replicate, with the
same numbers, more slowly): ``"sdq ~ a + C(b) + ..."`` with terms that are a column of the
design's frame or ``C(column)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from sosstats._results import Result
from sosstats._validate import check_int, check_option
from sosstats.design._batched import BatchFit, FamilyBatch, model_matrix, parse_formula
from sosstats.errors import DataError, SosstatsWarning

__all__ = ["ChangeEstimator", "change_estimator", "BATCHED_INFERENCE"]

#: inference kinds with a batched path
BATCHED_INFERENCE = ("cr2", "wild")
_KINDS = ("cr0", "cr1", "cr2", "cr3", "wild")


def _t_interval(est: np.ndarray, se: np.ndarray, df: np.ndarray,
                level: float) -> tuple[np.ndarray, np.ndarray]:
    """``Result``'s t interval on arrays (NaN where ``df < 1``), as the runner computes it."""
    with np.errstate(invalid="ignore"):
        q = np.where(df >= 1, special.stdtrit(np.where(df >= 1, df, 1.0), 0.5 + level / 2),
                     np.nan)
    return est - q * se, est + q * se


@dataclass(frozen=True)
class ChangeEstimator:
    """First-difference ``change_model`` on the T2 respondents, clustered by pilot.

    Built by :func:`change_estimator` (or a design's ``estimator(...)``); picklable. Calling it
    on a long family x wave frame (with a ``responded`` column) fits ``change_model(formula,
    rows, entity="family_id", time="wave", cluster="la_code", inference=...)`` on the
    respondents' rows, silencing the few-cluster ``SosstatsWarning`` (it would fire on every
    replicate). :meth:`fit_batch` fits a chunk of replicates at once (see the module
    docstring).
    """

    formula: str = "sdq ~ C(experience) + C(cohort)"
    inference: str = "cr2"
    n_resamples: int = 9999
    wild_weights: str = "rademacher"
    seed: int = 0

    @property
    def name(self) -> str:
        """``change_estimator('<formula>', '<inference>')`` (printed in a study's settings)."""
        return f"change_estimator({self.formula!r}, {self.inference!r})"

    @property
    def batched(self) -> bool:
        """Whether :meth:`fit_batch` can fit this formula and inference (else None there)."""
        return self.inference in BATCHED_INFERENCE and parse_formula(self.formula) is not None

    def __call__(self, data: pd.DataFrame) -> Result:
        """Fit one replicate's long frame (the per-replicate path)."""
        from sosstats.panel import change_model

        rows = data[data["responded"].to_numpy(bool)] if "responded" in data.columns else data
        with warnings.catch_warnings():      # CR1 / wild warn about few clusters every time
            warnings.simplefilter("ignore", SosstatsWarning)
            return change_model(self.formula, rows, entity="family_id", time="wave",
                                cluster="la_code", inference=self.inference,
                                n_resamples=self.n_resamples, wild_weights=self.wild_weights,
                                rng=self.seed)

    def fit_batch(self, batch: Any, level: float) -> BatchFit | None:
        """Fit every replicate of ``batch`` at once; None when this batch cannot be.

        Parameters
        ----------
        batch : FamilyBatch
            A chunk of replicates from a family design's ``simulate_batch``.
        level : float
            Level of the intervals.

        Returns
        -------
        BatchFit or None
            Per replicate and term ``estimate, std_error, p_value, ci_lower, ci_upper``
            (equal to the per-replicate ``change_model`` fit: CR2 to rounding, wild bit for
            bit), and ``ok`` False for a replicate to refit on the per-replicate path (a
            rank-deficient design, fewer than two pilots with respondents: ``change_model``
            then gives its error). None (the whole chunk per replicate) for another kind of
            batch, an unsupported formula or inference, or a wild interval asked at a level
            other than ``change_model``'s 0.95.
        """
        if not isinstance(batch, FamilyBatch) or not self.batched:
            return None
        if self.inference == "wild" and not np.isclose(level, 0.95):
            return None
        spec = parse_formula(self.formula)
        if spec is None or spec.outcome != batch.outcome:
            return None
        rows = batch.responded
        built = model_matrix(spec, batch, rows)
        if built is None:
            return None
        X, names = built
        y = batch.t2[rows] - batch.t1[rows]
        if not (np.isfinite(y).all() and np.isfinite(X).all()):
            return None
        rep, cl = batch.replicate[rows], batch.cluster[rows]
        if self.inference == "cr2":
            return self._cr2(X, y, rep, cl, batch, names, level)
        return self._wild(X, y, rep, cl, batch, names)

    def _cr2(self, X: np.ndarray, y: np.ndarray, rep: np.ndarray, cl: np.ndarray,
             batch: FamilyBatch, names: list[str], level: float) -> BatchFit:
        from sosstats._kernels.cluster_cr2_batched import ols_cr2_batched

        fit = ols_cr2_batched(X, y, rep, cl, batch.n_replicates, batch.n_clusters)
        se = np.sqrt(np.clip(np.einsum("bii->bi", fit.vcov), 0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = fit.beta / se
            p = 2 * stats.t.sf(np.abs(t), np.where(fit.df >= 1, fit.df, np.nan))
        lo, hi = _t_interval(fit.beta, se, fit.df, level)
        values = np.stack([fit.beta, se, p, lo, hi], axis=2)
        return BatchFit(tuple(names), values, fit.ok)

    def _wild(self, X: np.ndarray, y: np.ndarray, rep: np.ndarray, cl: np.ndarray,
              batch: FamilyBatch, names: list[str]) -> BatchFit:
        from sosstats._kernels.wild import wild_terms_of_fit
        from sosstats.panel._inference import one_way_cr01, wls

        B, p = batch.n_replicates, X.shape[1]
        values = np.full((B, p, 5), np.nan)
        ok = np.zeros(B, bool)
        bounds = np.searchsorted(rep, np.arange(B + 1))
        for b in range(B):
            lo, hi = bounds[b], bounds[b + 1]
            if hi - lo <= p:
                continue
            Xb = np.ascontiguousarray(X[lo:hi])
            yb = y[lo:hi]
            present = np.bincount(cl[lo:hi], minlength=batch.n_clusters) > 0
            if present.sum() < 2:
                continue
            codes = (np.cumsum(present) - 1)[cl[lo:hi]]
            gram = Xb.T @ Xb                       # as change_model's collinearity check forms it
            scale = np.sqrt(np.diag(gram))
            if not (scale > 0).all() or np.linalg.eigvalsh(
                    gram / np.outer(scale, scale))[0] <= 1e-8:
                continue                           # change_model decides (and names the column)
            beta, resid = wls(Xb, yb, None, gram)
            m = np.linalg.inv(gram)
            bread = 0.5 * (m + m.T)
            cr1 = one_way_cr01(Xb, resid, codes, None, bread, "cr1")
            if cr1 is None:
                continue
            boots = wild_terms_of_fit(Xb, resid, beta, gram, codes, int(present.sum()),
                                      weight_type=self.wild_weights,
                                      n_resamples=self.n_resamples, rng=self.seed, level=0.95)
            values[b, :, 0] = beta
            values[b, :, 1] = np.sqrt(np.clip(np.diag(cr1[0]), 0, None))
            values[b, :, 2] = [w.p_value for w in boots]
            values[b, :, 3] = [w.ci_lower for w in boots]
            values[b, :, 4] = [w.ci_upper for w in boots]
            ok[b] = True
        return BatchFit(tuple(names), values, ok)


def change_estimator(formula: str = "sdq ~ C(experience) + C(cohort)", inference: str = "cr2",
                     *, n_resamples: int = 9999, wild_weights: str = "rademacher",
                     seed: int = 0) -> ChangeEstimator:
    r"""Build the family designs' analysis: first-difference ``change_model``, respondents.

    Parameters
    ----------
    formula : str, default ``"sdq ~ C(experience) + C(cohort)"``
        ``change_model``'s formula on the design's long frame (columns ``experience``,
        ``cohort``, ``previous_referral``, ``agency_worker``, ``feelings_t1``).
    inference : {"cr2", "wild", "cr1", "cr0", "cr3"}, default "cr2"
        ``change_model``'s inference, clustered by pilot (``la_code``). ``"cr2"``:
        Bell-McCaffrey covariance with Satterthwaite df per term; ``"wild"``: wild cluster
        restricted bootstrap per term (p-value and interval by test inversion; the standard
        error is CR1).
    n_resamples, wild_weights : see :func:`sosstats.panel.change_model`
    seed : int, default 0
        Seed of the wild bootstrap's weights when they are drawn rather than enumerated (more
        than ``log2(n_resamples)`` pilots); the same in every replicate, which is harmless as
        the data differ.

    Returns
    -------
    ChangeEstimator
        ``estimator(data) -> ChangeResult`` on one replicate; with a design that simulates
        chunks of replicates as arrays, :func:`~sosstats.design.simulate_study` fits each
        chunk at once (``"cr2"`` and ``"wild"`` with a formula of plain and ``C()`` terms;
        ``res.settings["batched"]`` says whether it did).

    Raises
    ------
    DataError
        An unknown ``inference`` or ``wild_weights``, a formula that is not a string.

    Notes
    -----
    The batched CR2 is the estimator of :func:`sosstats._kernels.cluster.cluster_vcov`
    computed from each pilot's cross products in the basis where :math:`X'X = I` (see
    :mod:`sosstats._kernels.cluster_cr2_batched`); the tests check it against
    ``change_model`` to 1e-10 on every replicate, and that a replicate's numbers do not depend
    on the batch it is fitted in.

    References
    ----------
    Bell, R. M. & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear
    regression with multi-stage samples. *Survey Methodology* 28(2), 169-181.
    """
    if not isinstance(formula, str):
        raise DataError(f"`formula` must be a string like 'sdq ~ C(experience)'; got "
                        f"{type(formula).__name__}.")
    check_option(inference, _KINDS, "inference")
    from sosstats._kernels.wild import WILD_WEIGHTS

    check_option(wild_weights, WILD_WEIGHTS, "wild_weights")
    return ChangeEstimator(formula, inference, check_int(n_resamples, "n_resamples", minimum=1),
                           wild_weights, check_int(seed, "seed", minimum=0))

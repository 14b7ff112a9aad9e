r"""The survey design object: who was sampled how, and the design-based variance of anything.

:class:`SurveyDesign` holds a private copy of the data, the weights and the sampling structure
(strata, one or more stages of clusters, finite population corrections) and offers the one
variance entry every survey statistic uses (:meth:`SurveyDesign._variance`): Taylor
linearisation as R ``survey``'s ``svyrecvar`` for sampled designs, or replicate weights
(:class:`~sosstats.weighting.ReplicateWeights`) for designs that come from the weighting step.
Estimators (``mean``, ``total``, ``proportion``, ``quantile``), tests (``chisq``, ``compare``,
``trend``), calibration (``calibrate``, ``rake``) and regression (``glm``) are thin methods over
the functions of the modules that own them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats._kernels.cluster_cr2 import group_sum
from sosstats._kernels.survey_variance import CERTAINTY_TOL, LONELY_PSU, design_covariance
from sosstats._validate import check_frame, check_option
from sosstats.errors import DataError, DesignError
from sosstats.survey._inputs import (
    column_codes,
    combine,
    fpc_values,
    pair_counts,
    resolve_weights,
    stage_names,
    too_few,
)

__all__ = ["SurveyDesign"]


@dataclass(frozen=True)
class _Stage:
    """One sampling stage, at the level of the design's finest units.

    ``strata`` and ``psu`` are codes per finest unit (``U``,); ``fraction`` the sampling
    fraction per stratum of this stage; ``scale`` the product of the earlier stages' sampling
    fractions per stratum (1 at stage 1); ``group`` the parent PSU of each stratum (the
    independent onestage calls of R's recursion); ``labels`` names of the strata.
    """

    strata: np.ndarray
    psu: np.ndarray
    fraction: np.ndarray
    scale: np.ndarray | None
    group: np.ndarray | None
    labels: np.ndarray


class SurveyDesign:
    r"""A complex survey design: strata, clusters (one or more stages), weights, fpc.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent; copied (the caller's frame is never modified).
    cluster : str or list of str, optional
        Column(s) of the sampling units, one per stage (first-stage PSUs first). None: each row
        is its own PSU. With ``nest=False`` the stage-2 units only need be unique within their
        PSU (as R ``survey``, they are nested in the previous stage automatically).
    strata : str or list of str, optional
        Stratum column (one per stage, or one for the first stage). None: one stratum.
    weights : str, AttritionWeights, ReplicateWeights or None
        A column of sampling weights (numeric, non-negative, no NaN), the result of
        :func:`sosstats.weighting.attrition_weights` (non-respondents weight 0), or of
        :func:`sosstats.weighting.replicate_weights` (a *replicate* design: variances from
        the replicate columns, which re-estimate the weights). None: ``N_h / n_h`` from the
        ``fpc`` population sizes when given (R's rule), else 1.
    fpc : str or list of str, optional
        Finite population correction, one column per stage, constant within each stratum:
        the population number of PSUs of the stratum (values > 1) or the sampling fraction
        (values <= 1, as R ``survey``). None: sampling with replacement.
    nest : bool
        PSU labels repeat across strata (PSU 1 of stratum A is not PSU 1 of stratum B): make
        them unique within strata. Default False, and a PSU found in two strata is an error.
    lonely_psu : {"error", "remove", "adjust", "average", "certainty"}
        What a stratum with a single PSU contributes (R's ``options(survey.lonely.psu)``;
        ``"error"`` is R's ``"fail"``): see Notes.

    Attributes
    ----------
    data : pandas.DataFrame
        The private copy.
    weights : numpy.ndarray
        Weights of the rows (float, n).
    n_clusters, n_strata : int
        First-stage PSUs and strata (replicate designs: the replicates' resampled clusters, 1).
    df : int
        Design degrees of freedom: PSUs minus strata among rows of positive weight (replicate
        designs: rank of the replicate weights minus 1, as ``survey::degf``).
    kind : {"linearization", "replicate"}
    cluster, strata, fpc : str, list of str or None
        The column names as given.
    nobs : int
        Rows.

    Raises
    ------
    DataError
        A missing column, missing cluster or strata IDs, negative / NaN / infinite weights, a
        non-numeric or missing fpc, an fpc that varies within a stratum or mixes fractions and
        population sizes, a bad option.
    DesignError
        Fewer than two PSUs, a PSU in two strata without ``nest=True``, an fpc smaller than the
        number of PSUs sampled in a stratum, a stratum with one PSU under
        ``lonely_psu="error"``.

    Notes
    -----
    The estimators linearise a statistic into scores :math:`z_i` (weights included) and
    estimate its variance by (Lumley 2010, app. C; Wolter 2007, ch. 6)

    .. math::

        \hat V = \sum_h (1 - f_h)\frac{n_h}{n_h - 1}\sum_{c \in h}
                 (T_c - \bar T_h)(T_c - \bar T_h)^\top
                 + \sum_h f_h \sum_{c \in h} \hat V_{2,c} + \dots,

    :math:`T_c` the PSU totals of :math:`z`, :math:`n_h` PSUs in stratum :math:`h`,
    :math:`f_h = n_h / N_h` (0 without ``fpc``). Later stages add their within-PSU variance
    :math:`\hat V_{2,c}` (the same formula one level down) only when an ``fpc`` is given, as
    ``svyrecvar``; without one the first stage is the "ultimate cluster" and carries all the
    variance. A lonely PSU (a stratum with one PSU) has no within-stratum spread: ``"remove"``
    and ``"certainty"`` let it contribute zero at that stage, ``"adjust"`` centres its total at
    zero (the grand mean of the scores) instead, ``"average"`` replaces it by the average
    contribution of the other strata; ``"error"`` refuses it. A stratum sampled completely
    (:math:`f_h = 1`) contributes zero and is never an error.

    References
    ----------
    Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
    Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed. Springer.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3], "w": [2.0] * 6,
    ...                   "y": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0]})
    >>> design = SurveyDesign(d, cluster="psu", weights="w")
    >>> design.n_clusters, design.df
    (3, 2)
    """

    def __init__(self, data: pd.DataFrame, *, cluster: str | list[str] | None = None,
                 strata: str | list[str] | None = None, weights: Any = None,
                 fpc: str | list[str] | None = None, nest: bool = False,
                 lonely_psu: str = "error") -> None:
        data = check_frame(data)
        check_option(lonely_psu, LONELY_PSU, "lonely_psu")
        if not isinstance(nest, (bool, np.bool_)):
            raise DataError(f"`nest` must be True or False; got {nest!r}.")
        self.data = data.copy()
        self.cluster = cluster
        self.strata = strata
        self.fpc = fpc
        self.nest = bool(nest)
        self.lonely_psu = lonely_psu
        self._calibration: Any = None
        n = len(data)
        self.nobs = n
        w, rep_obj, rep, label = resolve_weights(self.data, weights)
        self._weights_label = label
        self._replicates = rep_obj
        self._replicate_matrix = rep
        if rep_obj is not None:
            self.kind = "replicate"
            own = rep_obj.cluster
            if cluster is not None and cluster != own:
                raise DataError(f"`cluster={cluster!r}` differs from the replicate weights' "
                                f"cluster ({own!r}); the replicates fix the resampling units.")
            if strata is not None or fpc is not None:
                raise DataError("a replicate design takes no `strata` or `fpc`: the replicate "
                                "weights carry the design.")
            self.cluster = own
            self.weights = w
            self.n_clusters = int(rep_obj.n_clusters)
            self.n_strata = 1
            self._stages: list[_Stage] = []
            self._units = None
            self._n_units = n
            self._psu_rows = None
            self._strata_rows = None
            self._df: int | None = None
            return
        self.kind = "linearization"
        self._build_stages(cluster, strata, fpc, w)

    # ------------------------------------------------------------------ construction
    def _build_stages(self, cluster: Any, strata: Any, fpc: Any, w: np.ndarray | None) -> None:
        data = self.data
        n = len(data)
        clusters = stage_names(cluster, "cluster")
        stratas = stage_names(strata, "strata")
        fpcs = stage_names(fpc, "fpc")
        S = max(len(clusters), 1)
        if len(stratas) > S:
            raise DataError(f"`strata` names {len(stratas)} columns for {S} stage(s).")
        if fpcs and len(fpcs) != S:
            raise DataError(f"`fpc` names {len(fpcs)} column(s) for {S} stage(s) of `cluster`: "
                            "give one fpc column per stage.")
        # stage cluster codes (each nested in the previous stage, as R's interaction)
        raw = ([column_codes(data, c, "cluster column")[0] for c in clusters]
               or [np.arange(n, dtype=np.intp)])
        strat_raw = [column_codes(data, s, "strata column") for s in stratas]
        has_strata = bool(stratas)
        ids = [raw[0]]
        for s in range(1, S):
            ids.append(combine(ids[s - 1], raw[s])[0])
        if self.nest and has_strata:
            ids = [combine(strat_raw[min(s, len(stratas) - 1)][0], ids[s])[0] for s in range(S)]
        ids = [combine(i)[0] for i in ids]
        # strata per stage: stage 1 the column; later stages nested in the previous PSU
        st0 = strat_raw[0][0] if has_strata else np.zeros(n, dtype=np.intp)
        st_levels0 = strat_raw[0][1] if has_strata else np.array([1], dtype=object)
        stage_strata = [st0]
        for s in range(1, S):
            base = strat_raw[s][0] if s < len(stratas) else np.zeros(n, dtype=np.intp)
            stage_strata.append(combine(base, ids[s - 1])[0])
        n_psu = int(ids[0].max()) + 1
        too_few(n_psu, f"cluster column {clusters[0]!r}" if clusters else "`data`")
        # PSUs nested in strata at the first stage
        if has_strata and not self.nest:
            counts = pair_counts(ids[0], st0, int(ids[0].max()) + 1)
            if (counts > 1).any():
                bad = np.flatnonzero(counts > 1)[:5]
                labels = column_codes(data, clusters[0], "cluster column")[1] if clusters else bad
                raise DesignError(f"cluster column {clusters[0] if clusters else 'rows'!r} has "
                                  f"PSU(s) {', '.join(map(str, labels[bad]))} in more than one "
                                  f"stratum of {stratas[0]!r}; use nest=True if PSU labels "
                                  "are reused across strata.")
        # sampling fractions per stage
        fvals = fpc_values(data, fpcs) if fpcs else None
        fractions, popsizes, sampsizes = [], [], []
        for s in range(S):
            H = int(stage_strata[s].max()) + 1
            # PSUs sampled per stratum of this stage
            samp = pair_counts(stage_strata[s], ids[s], H).astype(float)
            sampsizes.append(samp)
            if fvals is None:
                fractions.append(np.zeros(H))
                popsizes.append(None)
                continue
            col = fpcs[s]
            v = fvals[:, s]
            lo = np.full(H, np.inf)
            hi = np.full(H, -np.inf)
            np.minimum.at(lo, stage_strata[s], v)
            np.maximum.at(hi, stage_strata[s], v)
            varies = ~np.isclose(lo, hi, rtol=1e-12, atol=0)
            if varies.any():
                which = self._stratum_names(s, stage_strata, st_levels0, varies)
                raise DataError(f"fpc column {col!r} varies within stratum {which}: it must be "
                                "constant within each stratum (the stratum's population).")
            as_size = (fvals > 1).any()
            with np.errstate(divide="ignore"):
                pop = lo if as_size else samp / lo
            short = pop < samp * (1 - 1e-12)
            if short.any():
                which = self._stratum_names(s, stage_strata, st_levels0, short)
                j = np.flatnonzero(short)[0]
                raise DesignError(f"fpc column {col!r} is smaller than the sample in stratum "
                                  f"{which}: a population of {pop[j]:g} PSUs but {samp[j]:g} "
                                  "sampled (more than 100% sampling).")
            with np.errstate(divide="ignore", invalid="ignore"):
                fractions.append(np.where(np.isfinite(pop), samp / pop, 0.0))
            popsizes.append(pop)
        # weights: given, or N_h / n_h from the population sizes (R), or 1
        if w is None:
            if fvals is not None:
                w = np.ones(n)
                for s in range(S):
                    with np.errstate(divide="ignore"):
                        w = w / np.where(fractions[s] > 0, fractions[s], 1.0)[stage_strata[s]]
                self._weights_label = "1 / sampling fraction (from `fpc`)"
            else:
                w = np.ones(n)
        self.weights = np.asarray(w, dtype=float)
        # lonely PSUs under "error" (R's "fail"), checked now so the message names the column
        if self.lonely_psu == "error":
            for s in range(S if fvals is not None else 1):
                lone = (sampsizes[s] == 1) & ~((1 - fractions[s]) < CERTAINTY_TOL)
                if lone.any():
                    which = self._stratum_names(s, stage_strata, st_levels0, lone)
                    where = (f"strata column {stratas[0]!r}" if s == 0 and has_strata
                             else f"stage {s + 1} (within PSUs of {clusters[s - 1]!r})"
                             if s > 0 else "the design")
                    raise DesignError(f"{where}: stratum {which} has only one PSU (lonely "
                                      "PSU), so its variance cannot be estimated; choose "
                                      "lonely_psu='remove', 'adjust', 'average' or "
                                      "'certainty' (as R survey's options(survey.lonely.psu)).")
        # finest units: the last stage's clusters (rows without clusters)
        units, U = (ids[-1], int(ids[-1].max()) + 1) if clusters else (None, n)
        self._units = units
        self._n_units = U
        first = None
        if units is not None:
            first = np.zeros(U, dtype=np.intp)
            first[units] = np.arange(n)                     # a row of each unit
        stages = []
        cum_row = np.ones(n)                # product of earlier stages' sampling fractions
        for s in range(S if fvals is not None else 1):
            st = stage_strata[s] if units is None else stage_strata[s][first]
            psu = ids[s] if units is None else ids[s][first]
            H = int(stage_strata[s].max()) + 1
            if s == 0:
                scale, group = None, None
                labels = np.asarray(st_levels0, dtype=object)
            else:
                scale = np.zeros(H)
                scale[stage_strata[s]] = cum_row
                group = np.zeros(H, dtype=np.intp)
                group[stage_strata[s]] = ids[s - 1]     # the parent PSU of each stratum
                labels = np.arange(H).astype(object)
            stages.append(_Stage(st, psu, fractions[s], scale, group, labels))
            cum_row = cum_row * fractions[s][stage_strata[s]]
        self._stages = stages
        self._psu_rows = ids[0]               # first-stage PSU and stratum of every row
        self._strata_rows = stage_strata[0]
        self._sampsizes = sampsizes
        self._popsizes = popsizes
        self.n_clusters = int(n_psu)
        self.n_strata = int(stage_strata[0].max()) + 1
        pos = self.weights > 0
        self._df = int(np.count_nonzero(np.bincount(ids[0][pos]))
                       - np.count_nonzero(np.bincount(stage_strata[0][pos])))

    def _stratum_names(self, s: int, stage_strata: list[np.ndarray], levels0: np.ndarray,
                       mask: np.ndarray) -> str:
        idx = np.flatnonzero(mask)[:5]
        if s == 0:
            names = [repr(v.item() if isinstance(v, np.generic) else v) for v in levels0[idx]]
        else:
            cl = stage_names(self.cluster, "cluster")[s - 1]
            rows = [int(np.flatnonzero(stage_strata[s] == j)[0]) for j in idx]
            names = [f"in PSU {self.data[cl].iloc[r]!r}" for r in rows]
        more = " ..." if mask.sum() > 5 else ""
        return ", ".join(names) + more

    # ------------------------------------------------------------------ attributes
    @property
    def df(self) -> int:
        """Design degrees of freedom (PSUs - strata; replicate designs rank - 1)."""
        if self._df is None:   # replicate: rank of the replicate weights, R's qr(tol = 1e-5)
            W = self._replicate_matrix
            s = np.linalg.svd(W.T @ W, compute_uv=False, hermitian=True)
            sv = np.sqrt(np.maximum(s, 0.0))
            self._df = int((sv > 1e-5 * sv.max()).sum()) - 1 if sv.size else 0
        return self._df

    @property
    def replicate_weights(self) -> np.ndarray | None:
        """The (n, B) replicate weight matrix of a replicate design (None otherwise)."""
        return self._replicate_matrix

    def _domain_df(self, present: np.ndarray, domains: np.ndarray, n_domains: int
                   ) -> np.ndarray:
        """Return the degrees of freedom of each domain, (K, m).

        Its PSUs minus its strata (R's ``degf`` of the subset design), counting rows where
        ``present`` (n, m) is True; replicate designs: ``df`` everywhere.
        """
        K, m = int(n_domains), present.shape[1]
        if self.kind == "replicate":
            return np.full((K, m), float(self.df))
        C = int(self._psu_rows.max()) + 1
        H = int(self._strata_rows.max()) + 1
        inside = domains >= 0
        d = np.where(inside, domains, 0)

        def one(mask: np.ndarray) -> np.ndarray:
            sel = mask & inside
            psu = np.bincount(self._psu_rows[sel] * K + d[sel], minlength=C * K)
            st = np.bincount(self._strata_rows[sel] * K + d[sel], minlength=H * K)
            return (np.count_nonzero(psu.reshape(C, K), axis=0)
                    - np.count_nonzero(st.reshape(H, K), axis=0)).astype(float)

        same = (m == 1 or (present.strides[1] == 0 if present.ndim == 2 else False)
                or (present == present[:, :1]).all())
        if same:                                              # one pattern for all columns
            return np.repeat(one(present[:, 0])[:, None], m, axis=1)
        return np.column_stack([one(present[:, j]) for j in range(m)])   # one per column

    def __repr__(self) -> str:
        if self.kind == "replicate":
            return (f"SurveyDesign (replicate): {self.nobs} rows, {self._weights_label}, "
                    f"df = {self.df}")
        stages = len(self._stages)
        parts = [f"{self.nobs} rows", f"{self.n_clusters} PSUs"
                 + (f" of {self.cluster!r}" if self.cluster is not None else " (rows)"),
                 (f"{self.n_strata} strata of {self.strata!r}" if self.strata
                  else "1 stratum"),
                 "unweighted" if self._weights_label == "unweighted"
                 else f"weights {self._weights_label}",
                 f"fpc {self.fpc!r}" if self.fpc else "with replacement",
                 f"df = {self.df}"]
        if stages > 1:
            parts.insert(2, f"{stages} stages")
        if self.lonely_psu != "error":
            parts.append(f"lonely PSU: {self.lonely_psu}")
        return "SurveyDesign (linearization): " + ", ".join(parts)

    def describe(self) -> str:
        """One line saying what the design is (used in results' notes)."""
        if self.kind == "replicate":
            return f"replicate design ({self._weights_label}); df = {self.df}"
        what = (f"{self.n_clusters} clusters ({self.cluster!r})" if self.cluster is not None
                else f"{self.nobs} units as PSUs")
        strata = f" in {self.n_strata} strata ({self.strata!r})" if self.strata else ""
        fpc = f", fpc {self.fpc!r}" if self.fpc else ", with replacement"
        lone = f", lonely PSU rule '{self.lonely_psu}'" if self.lonely_psu != "error" else ""
        return (f"Taylor-linearised design: {what}{strata}{fpc}{lone}; df = {self.n_clusters}"
                f" clusters - {self.n_strata} strata = {self.df}" if self.strata else
                f"Taylor-linearised design: {what}{fpc}{lone}; df = clusters - 1 = {self.df}")

    # ------------------------------------------------------------------ variance
    def _unit_totals(self, scores: np.ndarray) -> np.ndarray:
        """Sum row-level scores (n, k) into the design's finest units (U, k)."""
        if self._units is None:
            return scores
        return group_sum(self._units, self._n_units, scores)

    def _unit_covariance(self, totals: np.ndarray) -> np.ndarray:
        """Multistage design covariance of scores already summed into finest units (U, k)."""
        totals = np.asarray(totals, dtype=float)
        if totals.ndim == 1:
            totals = totals[:, None]
        V = np.zeros((totals.shape[1], totals.shape[1]))
        for stage in self._stages:       # one kernel call per sampling stage (one or two)
            V = V + design_covariance(totals, stage.strata, stage.psu, stage.fraction,
                                      self.lonely_psu, stratum_scale=stage.scale,
                                      stratum_group=stage.group,
                                      stratum_labels=stage.labels)
        return V

    def _covariance(self, scores: np.ndarray) -> np.ndarray:
        """Design covariance (k, k) of the column totals of linearised ``scores`` (n, k).

        The scores already hold the weights (for a ratio mean ``z_i = w_i 1[domain]
        (y_i - mean) / sum_domain w``). A calibrated design first replaces them by their
        calibration residuals (``self._calibration.residualise``).
        """
        scores = np.asarray(scores, dtype=float)
        one = scores.ndim == 1
        if one:
            scores = scores[:, None]
        if scores.shape[0] != self.nobs:
            raise DataError(f"`scores` must have {self.nobs} rows; got {scores.shape[0]}.")
        if self._calibration is not None:
            scores = np.asarray(self._calibration.residualise(scores), dtype=float)
        if self.kind == "replicate":
            raise DesignError("a replicate design has no linearisation variance; use "
                              "_variance(estimator, ...) or _replicate_covariance(estimator).")
        return self._unit_covariance(self._unit_totals(scores))

    def _replicate_covariance(self, estimator: Callable[[np.ndarray], np.ndarray]
                              ) -> np.ndarray:
        """Replicate covariance (k, k): ``estimator(W)`` maps (n, B) weights to (B, k)."""
        if self.kind != "replicate":
            raise DesignError("_replicate_covariance needs a replicate design (weights = "
                              "ReplicateWeights).")
        full = np.asarray(estimator(self.weights[:, None]), dtype=float).reshape(1, -1)[0]
        reps = np.asarray(estimator(self._replicate_matrix), dtype=float)
        reps = reps.reshape(self._replicate_matrix.shape[1], -1)
        return np.atleast_2d(self._replicates.covariance(full, reps))

    def _variance(self, estimator: Callable[[np.ndarray], np.ndarray] | None,
                  scores: np.ndarray | Callable[[], np.ndarray] | None) -> np.ndarray:
        """Return the design covariance, linearised (``scores``) or replicate (``estimator``).

        ``scores`` may be an array (n, k) or a zero-argument callable returning one (computed
        only for linearisation designs).
        """
        if self.kind == "replicate":
            if estimator is None:
                raise DesignError("a replicate design needs the estimator, not only scores.")
            return self._replicate_covariance(estimator)
        if callable(scores):
            scores = scores()
        return self._covariance(scores)

    def _with_weights(self, new_weights: np.ndarray, calibration: Any = None
                      ) -> SurveyDesign:
        """Return a new design sharing everything but the weights and the calibration."""
        new_weights = np.asarray(new_weights, dtype=float).reshape(-1)
        if new_weights.shape[0] != self.nobs:
            raise DataError(f"`new_weights` must have {self.nobs} values; got "
                            f"{new_weights.shape[0]}.")
        out = copy.copy(self)
        out.weights = new_weights
        out._calibration = calibration
        if self.kind == "linearization":        # df counts PSUs and strata of positive weight
            pos = new_weights > 0
            out._df = int(np.count_nonzero(np.bincount(self._psu_rows[pos]))
                          - np.count_nonzero(np.bincount(self._strata_rows[pos])))
        return out

    # ------------------------------------------------------------------ estimators
    def mean(self, *args: Any, **kwargs: Any) -> Any:
        """Design-based means, overall or by domain: :func:`sosstats.survey.estimates.mean`."""
        from sosstats.survey.estimates import mean
        return mean(self, *args, **kwargs)

    def total(self, *args: Any, **kwargs: Any) -> Any:
        """Design-based totals: :func:`sosstats.survey.estimates.total`."""
        from sosstats.survey.estimates import total
        return total(self, *args, **kwargs)

    def proportion(self, *args: Any, **kwargs: Any) -> Any:
        """Proportions of every level: :func:`sosstats.survey.estimates.proportion`."""
        from sosstats.survey.estimates import proportion
        return proportion(self, *args, **kwargs)

    def quantile(self, *args: Any, **kwargs: Any) -> Any:
        """Design-based quantiles: :func:`sosstats.survey.estimates.quantile`."""
        from sosstats.survey.estimates import quantile
        return quantile(self, *args, **kwargs)

    # ------------------------------------------------------------------ tests, models
    def chisq(self, *args: Any, **kwargs: Any) -> Any:
        """Rao-Scott tests of a two-way table: :func:`sosstats.survey.chisq.chisq`."""
        from sosstats.survey.chisq import chisq
        return chisq(self, *args, **kwargs)

    def compare(self, *args: Any, **kwargs: Any) -> Any:
        """Design-based contrasts between domains: :func:`sosstats.survey.contrasts.compare`."""
        from sosstats.survey.contrasts import compare
        return compare(self, *args, **kwargs)

    def trend(self, *args: Any, **kwargs: Any) -> Any:
        """Ordinal trend tests: :func:`sosstats.survey.contrasts.trend`."""
        from sosstats.survey.contrasts import trend
        return trend(self, *args, **kwargs)

    def calibrate(self, *args: Any, **kwargs: Any) -> Any:
        """Calibrated design: :func:`sosstats.survey.calibration.calibrate`."""
        from sosstats.survey.calibration import calibrate
        return calibrate(self, *args, **kwargs)

    def rake(self, *args: Any, **kwargs: Any) -> Any:
        """Raked design: :func:`sosstats.survey.calibration.rake`."""
        from sosstats.survey.calibration import rake
        return rake(self, *args, **kwargs)

    def glm(self, *args: Any, **kwargs: Any) -> Any:
        """Design-based regression: :func:`sosstats.survey.regression.glm`."""
        from sosstats.survey.regression import glm
        return glm(self, *args, **kwargs)

    def olr(self, *args: Any, **kwargs: Any) -> Any:
        """Design-based proportional-odds regression: :func:`sosstats.survey.regression.olr`."""
        from sosstats.survey.regression import olr
        return olr(self, *args, **kwargs)

    def poststratify(self, *args: Any, **kwargs: Any) -> Any:
        """Post-stratified design: :func:`sosstats.survey.calibration.poststratify`."""
        from sosstats.survey.calibration import poststratify
        return poststratify(self, *args, **kwargs)

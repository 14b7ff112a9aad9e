r"""Two-wave (and panel) change models: one formula, five estimators, few-cluster inference.

``change_model("sdq ~ cohort + C(experience)", long, entity="family_id", time="wave")`` asks how
the Time 1 -> Time 2 change in SDQ depends on cohort and experience group. See
``docs/panel.md`` for when to use each method (and Lord's paradox).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._hypotheses import LinearFit, LinearHypotheses
from sosstats._kernels.wild import WILD_WEIGHTS
from sosstats._kernels.wild_result import pvalue_text, pvalues_as_text, tie_note
from sosstats._results import Result, Summary, format_number
from sosstats._validate import as_list, check_int, check_level, check_option
from sosstats.panel._design import METHODS, Design, build_design
from sosstats.panel._dummy_form import check_fe_form, dummy_design
from sosstats.panel._inference import INFERENCE, infer, n_clusters, wls

__all__ = ["ChangeResult", "change_model"]


@dataclass(frozen=True, eq=False, kw_only=True)
class ChangeResult(LinearHypotheses, Result):
    """Result of :func:`change_model`.

    Joint hypotheses and contrasts: :meth:`wald_test` (``fit.wald_test("C(experience)")``, CR2
    with the HTZ test by default for a CR2 fit) and :meth:`contrast`
    (``fit.contrast({"a": 1, "b": -1})``); see :mod:`sosstats._hypotheses`.

    Attributes
    ----------
    method : str
        The estimator (``"first_difference"``, ``"ancova"``, ``"fixed_effects"``,
        ``"random_effects"``, ``"correlated_random_effects"``).
    inference : str
        ``"cr0"``, ``"cr1"``, ``"cr2"``, ``"cr3"`` or ``"wild"``.
    formula : str
        The formula as given.
    table : pandas.DataFrame
        Per term: ``estimate, std_error, statistic, p_value, df`` (and the bootstrap interval for
        ``wild``).
    vcov : pandas.DataFrame
        Cluster-robust covariance of the estimates (CR1 for ``wild``).
    nobs : int
        Rows of the estimating frame (entities for FD / ANCOVA, entity x wave rows otherwise).
    n_entities, n_clusters, n_dropped : int
        Entities used, clusters (smaller dimension for two-way), entities dropped for a missing
        outcome.
    design : pandas.DataFrame
        The estimating frame actually used (before any within / quasi-demeaning).
    level : float
        Confidence level of the fit (the wild bootstrap interval is computed at it).
    info : dict
        Extra by method: time-invariant / time-varying regressors, and for random effects
        ``sigma2_e``, ``sigma2_u``, ``rho`` and ``theta``.
    """

    method: str
    inference: str
    formula: str
    table: pd.DataFrame
    vcov: pd.DataFrame
    nobs: int
    n_entities: int
    n_clusters: int
    n_dropped: int
    level: float = 0.95
    info: dict = field(default_factory=dict, repr=False)
    _arrays: Design | None = field(default=None, repr=False)
    _resid: np.ndarray | None = field(default=None, repr=False)
    _dummies: tuple | None = field(default=None, repr=False)   # LSDV (design, beta, vcov)

    @property
    def design(self) -> pd.DataFrame:
        """The estimating frame actually used (before any within / quasi-demeaning).

        Built on first access (it is not needed for the fit), then cached.
        """
        return self._arrays.frame

    def _estimates(self) -> pd.DataFrame:
        cols = ["estimate", "std_error", "statistic", "p_value", "df"]
        if self.inference == "wild":
            cols += ["n_resamples", "enumerated"]
        return self.table[cols].copy()

    def _interval(self, level: float) -> pd.DataFrame:
        """t with the per-term ``df`` (the base's rule), or, for ``wild``, the bootstrap
        interval by test inversion, which exists at the fit's level only."""
        if self.inference != "wild":
            return super()._interval(level)
        if not np.isclose(level, self.level):
            from sosstats.errors import DesignError
            raise DesignError(f"the wild bootstrap interval was computed at level "
                              f"{self.level}; refit with level={level} to get another.")
        return pd.DataFrame({"lower": self.table["ci_lower"],
                             "upper": self.table["ci_upper"]}, index=self.table.index)

    def summary(self, level: float | None = None) -> Summary:
        """Printable summary; with ``inference="wild"`` the p-values print as text.

        A wild bootstrap p-value of 0 (no replicate beyond ``|t|``) prints as its floor,
        ``"< 0.001 (all 1,024 sign vectors)"``; ``tidy()`` keeps the numbers.
        """
        out = super().summary(level)
        if self.inference != "wild":
            return out
        return Summary(out.title, pvalues_as_text(out.table), out.notes)

    def p_value_text(self, term: str) -> str:
        """The p-value of ``term`` as printed (the wild bootstrap floor as ``"< 0.001 (...)"``)."""
        if term not in self.table.index:
            from sosstats.errors import DataError

            raise DataError(f"term {term!r} not in the model; its terms are "
                            f"{', '.join(map(repr, self.table.index))}.")
        row = self.table.loc[term]
        if self.inference == "wild":
            return pvalue_text(row["p_value"], row["n_resamples"], row["enumerated"])
        return format_number(float(row["p_value"]))

    def _notes(self) -> list[str]:
        notes = [f"{self.nobs} rows, {self.n_entities} entities, {self.n_clusters} clusters "
                 f"({', '.join(self.info.get('cluster_by', []))}); {self._inference_text()}."]
        if self.inference == "wild":
            first = self.table.iloc[0]
            notes.append("wild cluster restricted bootstrap per term; "
                         + tie_note(first["n_resamples"], first["enumerated"],
                                    self.info.get("wild_weights", "rademacher"))
                         + " std_error is CR1; intervals by test inversion.")
        if self.n_dropped:
            notes.append(f"{self.n_dropped} entities dropped for a missing outcome at a wave.")
        if self.method in ("random_effects", "correlated_random_effects"):
            notes.append(f"sigma2_u = {self.info['sigma2_u']:.4g}, "
                         f"sigma2_e = {self.info['sigma2_e']:.4g} (Swamy-Arora).")
        return notes

    def _inference_text(self) -> str:
        df = self.table["df"]
        dfs = (format_number(df.iloc[0]) if np.allclose(df, df.iloc[0])
               else f"{format_number(df.min())} to {format_number(df.max())}")
        desc = {"cr2": f"Bell-McCaffrey CR2, Satterthwaite df {dfs}",
                "wild": "wild cluster restricted bootstrap"}.get(
            self.inference, f"{self.inference.upper()}, t with {dfs} df")
        if self.info.get("fe_form") == "dummies":
            desc += "; adjustment matrices of the entity-dummy design"
        if self.info.get("inference_default"):
            desc += ("; the default below 42 clusters, inference='cr1' by name"
                     if self.inference == "cr2" else "; the default")
        return f"inference {self.inference} ({desc})"

    def _linear_fit(self) -> LinearFit:
        from sosstats.errors import DesignError

        d = self._arrays
        if d.membership is not None or d.clusters.ndim != 1:
            raise DesignError("joint tests and contrasts need one-way clusters; this fit has "
                              f"{'multiple-membership' if d.membership is not None else 'two-way'}"
                              " clustering (test one coefficient at a time from its table).")
        removed = {}
        if self.method == "fixed_effects":
            for t in self.info.get("time_invariant", []):
                removed[t] = ("absorbed by the entity fixed effects; its association with the "
                              f"change is the term '{t}:{self._wave_term()}'")
        beta, vcov = self.table["estimate"].to_numpy(), self.vcov.to_numpy()
        if self._dummies is not None:          # fe_form="dummies": tests in the LSDV model
            d, beta, vcov = self._dummies
        return LinearFit(X=d.X, resid=self._resid, beta=beta,
                         terms=list(d.terms), vcov=vcov,
                         kind="cr1" if self.inference == "wild" else self.inference,
                         clusters=d.clusters, weights=d.weights, y=d.y,
                         wild=self.inference == "wild", removed=removed,
                         wild_weights=self.info.get("wild_weights", "rademacher"))

    def _wave_term(self) -> str:
        waves = [t for t in self.table.index if t.startswith("wave[")]
        return waves[0] if waves else "wave[...]"

    def leverage(self) -> pd.DataFrame:
        """Cluster leverage: which cluster drives the estimate.

        Returns
        -------
        pandas.DataFrame
            One row per cluster (sorted labels): ``n_obs``, ``hat_trace`` (the cluster's
            leverage, summing to p), ``dfbeta[term]`` (``b_(-g) - b``, the change in each
            coefficient when the cluster is left out) and ``share[term]`` (the cluster's share
            of each coefficient's CR0 variance). Computed by
            :func:`sosstats._kernels.cluster.cluster_leverage`.
        """
        from sosstats._kernels.cluster import cluster_leverage
        from sosstats.errors import DesignError

        d = self._arrays
        if d is None or d.membership is not None or d.clusters.ndim != 1:
            raise DesignError("leverage() needs one-way clusters.")
        lev = cluster_leverage(d.X, self._resid, d.clusters, weights=d.weights)
        terms = list(self.table.index)
        codes = np.unique(d.clusters if d.weights is None else d.clusters[d.weights > 0])
        labels = d.cluster_labels[0]
        index = labels[codes] if labels.size > codes.max() else codes
        out = pd.DataFrame({"n_obs": np.asarray(lev.size)[: codes.size],
                            "hat_trace": np.asarray(lev.hat_trace)[: codes.size]},
                           index=pd.Index(index, name="cluster"))
        dfb = np.asarray(lev.dfbeta)[: codes.size]
        share = np.asarray(lev.meat_share)[: codes.size]
        for j, t in enumerate(terms):
            out[f"dfbeta[{t}]"] = dfb[:, j]
        for j, t in enumerate(terms):
            out[f"share[{t}]"] = share[:, j]
        return out

    def plot(self, ax: Any = None, *, terms: list[str] | None = None) -> Any:
        """Coefficient plot: estimates with intervals at the fit's level (intercept left out).

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn into: ``ax`` when given, else a new figure's.
        """
        from sosstats.panel.plots import coefficient_plot

        return coefficient_plot(self, ax=ax, terms=terms)


def default_inference(design: Design) -> str:
    """:func:`sosstats._kernels.cluster.default_kind` of one-way clusters; CR1 otherwise."""
    from sosstats._kernels.cluster import default_kind

    if design.membership is not None or design.clusters.ndim != 1:
        return "cr1"
    return default_kind(n_clusters(design))


def change_model(formula: str, data: pd.DataFrame, *, entity: str, time: str,
                 method: str = "first_difference", cluster: str | list[str] | None = None,
                 weights: str | None = None, inference: str | None = None,
                 membership: pd.DataFrame | None = None,
                 rng: int | np.random.Generator | None = None, n_resamples: int = 9999,
                 missing: str = "drop", level: float = 0.95,
                 time_effects: bool = True, wild_weights: str = "rademacher",
                 fe_form: str = "absorbed") -> ChangeResult:
    r"""How the change in an outcome between waves depends on covariates.

    Parameters
    ----------
    formula : str
        ``"y ~ x1 + C(x2)"``: ``y`` a numeric column, the right-hand side in formulaic syntax
        (``"y ~ 1"`` for the mean change alone).
    data : pandas.DataFrame
        LONG frame, one row per entity x wave (not modified); see
        :func:`sosstats.panel.wide_to_long`.
    entity, time : str
        Entity id and wave columns (waves ordered as an ordered categorical, else sorted).
    method : str, default ``"first_difference"``
        ``"first_difference"`` (two or more waves: consecutive changes), ``"ancova"`` (two waves),
        ``"fixed_effects"``,
        ``"random_effects"``, ``"correlated_random_effects"`` (two or more waves).
    cluster : str or list of two str, optional
        Cluster column(s), constant within entity for FD / ANCOVA. Two names: two-way
        clustering. Default: cluster by entity.
    weights : str, optional
        Non-negative attrition / design weights (WLS in every method; constant within entity
        for FD / ANCOVA).
    inference : str, optional
        ``"cr0"``, ``"cr1"``, ``"cr2"`` (Bell-McCaffrey, Satterthwaite df), ``"cr3"`` or
        ``"wild"`` (wild cluster restricted bootstrap per term: p-value and interval by test
        inversion; the standard error shown is CR1). Default: ``"cr2"`` with fewer than 42
        one-way clusters (CR1's G - 1 df over-reject there: ten pilots), ``"cr1"`` otherwise and
        for two-way or multiple-membership clustering; the summary says which was used.
    membership : pandas.DataFrame, optional
        Multiple-membership clusters: a long table with three columns, entity id, cluster id,
        weight (share of contact; rescaled to sum to one per entity).
    rng : int, Generator or None
        Random source of the wild bootstrap.
    n_resamples : int, default 9999
        Wild bootstrap replicates (all ``2**G`` sign vectors when ``2**G <= n_resamples``).
    missing : {"drop", "raise"}
        Entities with a missing outcome at a wave are dropped with a warning and a count, or
        raise :class:`~sosstats.errors.DataError`.
    level : float, default 0.95
        Confidence level.
    wild_weights : {"rademacher", "webb", "mammen", "normal"}, default "rademacher"
        Cluster weights of ``inference="wild"``: Rademacher sign vectors are all enumerated
        when ``2**G <= n_resamples`` (exact, but only ``2**G`` distinct values: with ten pilots
        p-values move in steps of 1/1,024); Webb's six-point weights (recommended by the
        literature for fewer than about 12 clusters, MacKinnon, Nielsen & Webb 2023) are drawn.
    time_effects : bool, default True
        Wave effects: the panel methods' wave dummies (with each time-invariant regressor
        times each later wave), and with first differences over more than two waves a dummy
        per later change period. ``False``: none (plm's ``effect = "individual"``; with first
        differences plm's ``model = "fd"``, one common intercept); the fixed-effects model then
        refuses time-invariant regressors, which it would absorb.
    fe_form : {"absorbed", "dummies"}, default "absorbed"
        Working model of the CR2 / CR3 adjustment matrices under ``method="fixed_effects"``:
        the within-transformed design (default), or the dummy-variable design ``[X, entity
        dummies]`` (clubSandwich's ``vcovCR`` on an ``lm`` with the dummies). Equal without
        weights or with weights constant within entity; with weights varying within entity
        the SEs differ slightly (0.2% on MortalityRates). ``"dummies"`` builds a dense
        ``n x (p + N)`` matrix (refused above 5e7 cells) and implies ``inference="cr2"`` unless
        ``"cr3"`` is named.

    Returns
    -------
    ChangeResult

    Raises
    ------
    DataError
        Missing columns, duplicate entity x wave rows, an entity with no first wave, a number of
        waves the method cannot use, negative / NaN weights, missing outcomes under
        ``missing="raise"``.
    DesignError
        One cluster; a regressor removed by the fixed effects or collinear with the others
        (named).

    Notes
    -----
    With two waves and an entity-constant regressor :math:`x_i`,

    * first difference: :math:`y_{i2} - y_{i1} = \alpha + x_i'\beta + e_i`; with more waves
      the changes between consecutive waves, :math:`y_{it} - y_{i,t-1} = \alpha + \delta_t +
      x_i'\beta + \Delta z_{it}'\gamma + e_{it}` (:math:`\delta_t` only with
      ``time_effects``), clustered by entity by default;
    * ANCOVA: :math:`y_{i2} = \alpha + \gamma y_{i1} + x_i'\beta + e_i`;
    * fixed effects: :math:`y_{it} = a_i + \tau_t + (x_i d_t)'\beta + e_{it}`, which gives the
      same :math:`\beta` as first differences when the panel is balanced with two waves;
    * random effects: :math:`y_{it} = \mu + x_i'\delta + \tau_t + (x_i d_t)'\beta + u_i + e_{it}`
      by feasible GLS with Swamy-Arora variance components; correlated random effects adds
      the entity means of time-varying regressors (Mundlak 1978), so their coefficients equal
      the within estimates.

    A time-varying regressor enters as its change (FD, ANCOVA) or as itself (panel methods).
    References: Lord (1967) Psychological Bulletin 68; Allison (1990) Sociological
    Methodology 20; Mundlak (1978) Econometrica 46; Wooldridge (2010) Econometric Analysis of
    Cross Section and Panel Data, ch. 10.
    """
    check_option(method, METHODS, "method")
    if inference is not None:
        check_option(inference, INFERENCE, "inference")
    check_option(missing, ("drop", "raise"), "missing")
    level = check_level(level)
    n_resamples = check_int(n_resamples, "n_resamples", minimum=1)
    design = build_design(formula, data, entity=entity, time=time, method=method,
                          cluster=cluster, weights=weights, membership=membership,
                          missing=missing, time_effects=bool(time_effects))
    chosen = inference or ("cr2" if fe_form == "dummies" else default_inference(design))
    check_fe_form(fe_form, method, chosen)
    check_option(wild_weights, WILD_WEIGHTS, "wild_weights")
    fitted = design if fe_form == "absorbed" else dummy_design(design)
    beta, resid = wls(fitted.X, fitted.y, fitted.weights, fitted.gram)
    table, vcov, G = infer(fitted, beta, resid, inference=chosen, level=level, rng=rng,
                           n_resamples=n_resamples, wild_weights=wild_weights)
    dummies = None
    if fitted is not design:                   # report the model's terms, keep the LSDV fit
        dummies = (fitted, beta, vcov)
        p = len(design.terms)
        table, vcov = table.iloc[:p].copy(), vcov[:p, :p]
    info = {k: v for k, v in design.info.items()
            if k not in ("entity_codes", "undemeaned_X", "undemeaned_y")}
    info["fe_form"] = fe_form
    info["cluster_by"] = as_list(info.get("cluster_by"))
    info["inference_default"] = inference is None and fe_form == "absorbed"
    info["wild_weights"] = wild_weights
    return ChangeResult(method=method, inference=chosen, formula=formula, table=table,
                        vcov=pd.DataFrame(vcov, index=design.terms, columns=design.terms),
                        nobs=int(design.y.size), n_entities=design.n_entities, n_clusters=G,
                        n_dropped=design.n_dropped, level=level,
                        info=info, _arrays=design, _resid=resid, _dummies=dummies)

"""Result of a Bayesian multilevel fit: the shared sosstats protocol plus the posterior.

Posterior means map onto ``estimate``, posterior standard deviations onto ``std_error``;
``statistic`` and ``p_value`` are NaN in ``tidy()`` (there is no test; the columns stay so that
every result's ``tidy()`` has the same first seven), ``conf_int`` gives equal-tailed
credible intervals, and ``tidy()`` adds ``prob_positive`` (the posterior probability that a
coefficient is positive), ``r_hat`` and ``ess_bulk``. ``summary()`` leaves out the columns that
are NaN throughout (``statistic`` and ``p_value`` always). ``idata`` holds the ArviZ
``InferenceData``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import Result, Summary, TableResult
from sosstats._validate import as_list, check_columns, check_level, check_option, check_rng
from sosstats.errors import DataError
from sosstats.multilevel import _summaries
from sosstats.multilevel._design import Design
from sosstats.multilevel._diagnostics import (
    Diagnostics,
    flat_labels,
    parameter_names,
    whole_ess,
)
from sosstats.multilevel._posterior import STATS, draw_subset, mean_response, simulate, stack
from sosstats.multilevel.priors import Priors

__all__ = ["MultilevelResult", "PosteriorPredictiveCheck"]


@dataclass(frozen=True, eq=False)
class PosteriorPredictiveCheck(TableResult):
    """A posterior predictive check of one statistic (a one-row table result).

    Attributes
    ----------
    stat : str
        Name of the statistic.
    observed : float
        Its value on the data.
    replicated : numpy.ndarray
        Its value on each replicated data set.
    p_value : float
        Posterior predictive p-value ``P(T(y_rep) >= T(y) | y)`` (Gelman, Meng & Stern 1996;
        BDA3 sec. 6.3): values near 0 or 1 flag a misfit.
    """

    stat: str
    observed: float
    replicated: np.ndarray
    p_value: float

    method = "posterior predictive check"

    def _table(self, level: float | None) -> pd.DataFrame:
        level = 0.95 if level is None else check_level(level)
        lo, hi = np.quantile(self.replicated, [(1 - level) / 2, (1 + level) / 2])
        return pd.DataFrame({"observed": [self.observed],
                             "replicated_mean": [float(np.mean(self.replicated))],
                             "replicated_lower": [lo], "replicated_upper": [hi],
                             "p_value": [self.p_value], "n_draws": [self.replicated.size]},
                            index=pd.Index([self.stat], name="statistic"))

    def _title(self) -> str:
        return f"Posterior predictive check of {self.stat}"

    def _notes(self) -> list[str]:
        return ["replicated_lower / _upper: equal-tailed range over the replicated data sets",
                "p_value = P(T(y_rep) >= T(y) | y); near 0 or 1 flags a misfit"]

    def plot(self, ax: Any = None) -> Any:
        """Histogram of the replicated statistic with the observed value marked.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn into: ``ax`` when given, else a new figure's.
        """
        from sosstats.multilevel._plots import ppc_plot

        return ppc_plot(self, ax=ax)


@dataclass(frozen=True, eq=False, kw_only=True)
class MultilevelResult(Result):
    """Result of :meth:`MultilevelModel.fit`.

    Attributes
    ----------
    method : str
        ``"Bayesian multilevel <family>"``.
    formula, family : str
        As given to the model.
    idata : arviz.InferenceData
        Posterior draws and sampler statistics.
    nobs : int
        Data rows used (after dropping rows with a missing outcome).
    n_groups : dict
        Number of groups per level, highest level first.
    sampler : str
        ``"nutpie"``, ``"pymc"`` or ``"numpyro"``.
    seed : int
        Seed handed to the sampler (drawn from ``rng``).
    timings : dict
        ``compile_s``, ``sample_s``, ``total_s`` in seconds.
    level : float
        Default credible level.
    centred : tuple of str
        Levels sampled in the centred parameterisation (the others non-centred).
    """

    method: str
    formula: str
    family: str
    idata: Any = field(repr=False)
    nobs: int
    n_groups: dict[str, int]
    sampler: str
    seed: int
    timings: dict[str, float] = field(default_factory=dict)
    level: float = 0.95
    design: Design = field(repr=False)
    priors: Priors = field(repr=False)
    sampler_diagnostics: Diagnostics = field(repr=False)
    centred: tuple[str, ...] = ()

    # -- protocol -----------------------------------------------------------------------------
    @cached_property
    def _draw_matrix(self) -> tuple[list[str], list[str], np.ndarray]:
        post = self.idata.posterior
        labels, keys, cols = [], [], []
        for name in parameter_names(post):
            da = post[name]
            arr = np.asarray(da.values, dtype=float)
            arr = arr.reshape(arr.shape[0] * arr.shape[1], -1)
            names = flat_labels(da)
            keys.extend(names)
            labels.extend([n[5:-1] for n in names] if name == "beta" else names)
            cols.append(arr)
        return labels, keys, np.column_stack(cols)

    def _estimates(self) -> pd.DataFrame:
        labels, keys, draws = self._draw_matrix
        is_beta = np.array([k.startswith("beta[") for k in keys])
        diag = self.sampler_diagnostics.table
        return pd.DataFrame({
            "estimate": draws.mean(axis=0), "std_error": draws.std(axis=0, ddof=1),
            "statistic": np.nan, "p_value": np.nan,
            "prob_positive": np.where(is_beta, (draws > 0).mean(axis=0), np.nan),
            "r_hat": diag["r_hat"].reindex(keys).to_numpy(),
            "ess_bulk": diag["ess_bulk"].reindex(keys).to_numpy()},
            index=pd.Index(labels, name="term"))

    def _interval(self, level: float) -> pd.DataFrame:
        labels, _, draws = self._draw_matrix
        q = np.quantile(draws, [0.5 - level / 2, 0.5 + level / 2], axis=0)
        return pd.DataFrame({"lower": q[0], "upper": q[1]}, index=pd.Index(labels, name="term"))

    def _notes(self) -> list[str]:
        d = self.design
        groups = ", ".join(f"{k}: {v}" for k, v in self.n_groups.items())
        post = self.idata.posterior
        notes = [f"{self.nobs} rows; groups {groups}; {post.sizes['chain']} chains x "
                 f"{post.sizes['draw']} draws ({self.sampler}); posterior mean, sd and "
                 f"equal-tailed {self.level:.0%} credible interval; no statistic or p_value "
                 "(no test: tidy() keeps them as NaN columns)."]
        if d.collapsed:
            notes.append(f"likelihood collapsed to {d.fit.n} binomial patterns "
                         f"(ratio {d.collapse_ratio:.3f}).")
        if self.centred:
            notes.append(f"centred parameterisation for {', '.join(self.centred)}.")
        if d.rows.weights is not None:
            notes.append("likelihood weights used (pseudo-posterior; see the documentation).")
        notes += self.sampler_diagnostics.messages
        return notes

    def summary(self, level: float | None = None) -> Summary:
        """Printable summary: the ``tidy()`` table without its all-NaN columns, and notes.

        ``statistic`` and ``p_value`` (NaN for a posterior) are left out, as is any other
        column with no value (``r_hat`` of a single chain, ``prob_positive`` of a model
        without coefficients); ``tidy()`` keeps them. ``ess_bulk`` prints in whole draws.
        """
        table = self.tidy(level).set_index("term")
        table = whole_ess(table.loc[:, table.notna().any(axis=0)])
        return Summary(f"{type(self).__name__}: {self.method}", table, self._notes())

    # -- Bayesian extras ----------------------------------------------------------------------
    def _ci(self, ci_level: float | None) -> float:
        return check_level(self.level if ci_level is None else ci_level)

    def _level_name(self, level: str | None) -> str:
        name = self.design.levels[0].name if level is None else level
        self.design.level(name)  # DataError naming the levels otherwise
        return name

    def diagnostics(self) -> Diagnostics:
        """R-hat, bulk / tail ESS, MCSE per parameter, divergences and E-BFMI per chain."""
        return self.sampler_diagnostics

    def variance_components(self, ci_level: float | None = None) -> pd.DataFrame:
        """Posterior of each level's SD and variance (and the Gaussian residual).

        Columns ``sd_mean, sd_sd, sd_lower, sd_upper, var_mean, var_sd, var_lower,
        var_upper``; one row per ``sigma_<level>``, ``slope_sigma_<level>_<term>`` and
        ``sigma``; intervals at ``ci_level`` (default the result's ``level``).
        """
        return _summaries.variance_components(self.design, self.idata.posterior,
                                              self._ci(ci_level))

    def vpc(self, ci_level: float | None = None) -> pd.DataFrame:
        """Variance partition coefficients per level and for level 1 (latent scale).

        Columns ``vpc, vpc_lower, vpc_upper`` and, when a level is multiple membership,
        ``vpc_membership`` (with interval) and ``mean_sum_sq_weights``; see
        :mod:`sosstats.multilevel._summaries` for the maths.
        """
        return _summaries.vpc_table(self.design, self.idata.posterior, self._ci(ci_level))

    def icc(self, ci_level: float | None = None) -> pd.DataFrame:
        """Intraclass correlation of two rows sharing a group at each level (latent scale)."""
        return _summaries.icc_table(self.design, self.idata.posterior, self._ci(ci_level))

    def group_effects(self, level: str | None = None, *,
                      ci_level: float | None = None) -> pd.DataFrame:
        """Posterior effect of each group of a level, with raw means and pooling factors.

        Parameters
        ----------
        level : str, optional
            A grouping level, e.g. ``"worker_id"`` (default the highest).
        ci_level : float, optional
            Credible level of ``lower`` / ``upper`` (default the result's ``level``).

        Returns
        -------
        pandas.DataFrame
            Indexed by group label: ``n`` (rows, or summed membership weights), ``estimate``,
            ``std_error``, ``lower``, ``upper``, ``raw_mean``, ``raw_effect``, ``pooling``.
        """
        return _summaries.group_table(self.design, self.idata.posterior,
                                      self._level_name(level), self._ci(ci_level))

    def shrinkage(self, level: str | None = None) -> pd.DataFrame:
        """Raw deviations against pooled estimates: ``n, raw_effect, estimate, pooling``."""
        return self.group_effects(level)[["n", "raw_effect", "estimate", "pooling"]]

    def ppc(self, stat: str | Callable[[np.ndarray], float] = "mean", *,
            ndraws: int | None = 500,
            rng: int | np.random.Generator | None = 0) -> PosteriorPredictiveCheck:
        """Posterior predictive check of a statistic of the outcome.

        Parameters
        ----------
        stat : str or callable
            ``"mean"``, ``"sd"``, ``"min"``, ``"max"``, ``"median"``, ``"prop_zero"``, or a
            function of a 1-D outcome array returning a number. Ordinal outcomes are the codes
            ``0..K-1``; binomial outcomes the counts.
        ndraws : int or None, default 500
            Posterior draws used (evenly spaced); None for all.
        rng : int, Generator or None, default 0
            Random source of the replicated data.

        Returns
        -------
        PosteriorPredictiveCheck
        """
        if callable(stat):
            func = stat
            label = getattr(stat, "__name__", "statistic")

            def vec(y: np.ndarray) -> np.ndarray:
                return np.array([func(row) for row in y], dtype=float)
        else:
            check_option(stat, list(STATS), "stat")
            vec, label = STATS[stat], stat
        gen = check_rng(rng)
        post = self.idata.posterior
        idx = draw_subset(post.sizes["chain"] * post.sizes["draw"], ndraws)
        rep = simulate(self.design, post, idx, gen, vec)
        obs = float(vec(self.design.rows.y.astype(float)[None, :])[0])
        return PosteriorPredictiveCheck(label, obs, rep, float(np.mean(rep >= obs)))

    def log_likelihood(self) -> Any:
        """Pointwise log-likelihood of every data row, ``(chain, draw, obs)`` (xarray).

        Computed in numpy from the posterior on the uncollapsed rows and without the
        likelihood weights, so that PSIS-LOO compares observations whatever the fit's
        collapsing. Rows of a ``repeated`` unit are separate observations here.
        """
        import xarray as xr

        from sosstats.multilevel._posterior import log_likelihood

        post = self.idata.posterior
        n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
        ll = log_likelihood(self.design, post, np.arange(n_chain * n_draw))
        return xr.DataArray(ll.reshape(n_chain, n_draw, -1), dims=("chain", "draw", "obs"),
                            coords={"chain": post["chain"].values, "draw": post["draw"].values},
                            name="y")

    def loo(self, **kwargs: Any) -> Any:
        """PSIS-LOO (``arviz.loo``) from :meth:`log_likelihood`; keyword arguments go to it."""
        import arviz as az

        idata = az.InferenceData(posterior=self.idata.posterior,
                                 log_likelihood=self.log_likelihood().to_dataset())
        return az.loo(idata, **kwargs)

    def predict_probabilities(self, by: str | list[str], *, ci_level: float | None = None,
                              data: pd.DataFrame | None = None) -> pd.DataFrame:
        """Average predictions for each combination of the values of ``by`` (e.g. cohort).

        Every row of ``data`` (default: the rows used in the fit) gets the ``by`` values of a
        combination, the predictions are averaged over rows (standardisation / g-computation)
        with group effects at zero (a typical group), and summarised per posterior draw.

        Returns
        -------
        pandas.DataFrame
            One row per combination (and per category for ordinal): the ``by`` columns,
            ``estimate`` (posterior mean of the probability, or of the mean outcome for
            Gaussian and count families), ``std_error``, ``lower``, ``upper``.
        """
        cols = as_list(by)
        frame = self.design.frame if data is None else data
        check_columns(frame, cols)
        lvl = self._ci(ci_level)
        values = [pd.unique(self.design.frame[c].dropna()) if c in self.design.frame
                  else pd.unique(frame[c].dropna()) for c in cols]
        grid = pd.MultiIndex.from_product([sorted(v) for v in values], names=cols)
        post = self.idata.posterior
        beta = stack(post, "beta")
        cut = stack(post, "cutpoints") if self.family == "ordinal" else None
        records = []
        for combo in grid:
            new = frame.copy()
            combo = combo if isinstance(combo, tuple) else (combo,)
            for c, v in zip(cols, combo):
                new[c] = pd.Series([v] * len(new), index=new.index, dtype=frame[c].dtype)
            try:
                mm = self.design.model_spec.get_model_matrix(new)
            except Exception as exc:  # formulaic raises many types
                raise DataError(f"cannot build predictions for {dict(zip(cols, combo))}: "
                                f"{exc}") from exc
            X = np.asarray(mm[self.design.terms], dtype=float)
            draws = mean_response(self.design, beta, X, cut)
            draws = draws[:, None] if draws.ndim == 1 else draws
            cats = self.design.categories or [None]
            for k, cat in enumerate(cats):
                d = draws[:, k]
                lo, hi = np.quantile(d, [0.5 - lvl / 2, 0.5 + lvl / 2])
                rec: dict[str, Any] = dict(zip(cols, combo))
                if cat is not None:
                    rec["category"] = cat
                rec.update(estimate=d.mean(), std_error=d.std(ddof=1), lower=lo, upper=hi)
                records.append(rec)
        return pd.DataFrame.from_records(records)

    def plot(self, ax: Any = None, *, kind: str = "caterpillar", level: str | None = None,
             stat: str = "mean", names: Any = None) -> Any:
        """Draw ``"caterpillar"`` / ``"shrinkage"`` of a grouping ``level``, or ``"ppc"``.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw into; by default a new figure.
        kind : {"caterpillar", "shrinkage", "ppc"}
            Which picture.
        level : str, optional
            Grouping level (default: the first).
        stat : str
            Statistic of the posterior predictive check (``kind="ppc"``).
        names : mapping or DataFrame, optional
            Labels for the groups on the caterpillar plot: code -> name pairs, or a frame with
            ``la_code`` and ``la_name``. An ``la_code`` level is labelled by LA name
            (``sosstats._plotting.la_names``) even without it, falling back to the code.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from sosstats.multilevel import _plots

        check_option(kind, ("caterpillar", "shrinkage", "ppc"), "kind")
        if kind == "ppc":
            return self.ppc(stat).plot(ax=ax)
        name = self._level_name(level)
        table = self.group_effects(name)
        if kind == "caterpillar":
            return _plots.caterpillar(table, name, ax=ax, names=names)
        return _plots.shrinkage_plot(table, name, ax=ax)

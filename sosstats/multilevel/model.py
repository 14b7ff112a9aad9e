r"""Bayesian multilevel models of family outcomes nested in workers nested in pilots.

``MultilevelModel("sdq_t1 ~ cohort + C(experience)", families, levels=["la_code", "worker_id"],
membership=memberships).fit(rng=1)`` fits a Gaussian model with random intercepts per pilot
and per worker, the worker effect of a family being the weighted sum of its workers' effects.
PyMC builds the model (non-centred), nutpie samples it when installed (PyMC's NUTS otherwise).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import check_int, check_option, check_rng
from sosstats.errors import DataError, DesignError
from sosstats.multilevel._centring import resolve_centring
from sosstats.multilevel._design import Design, build_design
from sosstats.multilevel.priors import Priors, resolve_priors
from sosstats.multilevel.results import MultilevelResult

__all__ = ["MultilevelModel"]

SAMPLERS = ("auto", "nutpie", "pymc", "numpyro")


class MultilevelModel:
    r"""A Bayesian multilevel (hierarchical) regression, specified and checked, not yet fitted.

    Parameters
    ----------
    formula : str
        ``"outcome ~ fixed effects"`` in formulaic syntax (``C(x)`` for categories,
        interactions, ``I()``); fixed effects may be measured at any level (a pilot's
        experience group and a worker's training sit on the data rows like family covariates).
    data : pandas.DataFrame
        One row per observation (family, or family x wave for long data; see
        :func:`sosstats.panel.wide_to_long`). Not modified.
    levels : str or list of str
        Grouping columns, highest level first (``["la_code", "worker_id"]``), each given a
        random intercept. A level may be the grouping column of ``membership`` instead of a
        data column.
    family : str, default ``"gaussian"``
        ``"gaussian"``, ``"bernoulli"`` (0/1 or bool), ``"binomial"`` (counts, with
        ``trials=``), ``"poisson"``, ``"negative_binomial"`` (non-negative integers) or
        ``"ordinal"`` (ordered categorical or integer scores, at least three categories;
        cumulative logit).
    membership : pandas.DataFrame, optional
        Multiple membership: a long table with the unit ID column (named as in ``data``, see
        ``unit``), the grouping column named in ``levels`` (e.g. ``worker_id``) and a
        ``weight`` column (share of contact). The level's effect for a unit is
        :math:`\sum_j w_j u_j`. Membership levels are treated as crossed with the other levels
        (their nesting is not checked).
    unit : str, optional
        Unit ID column shared by ``data`` and ``membership`` (default ``repeated``, or the one
        column other than the level and ``weight`` that both share).
    membership_wave : str, "auto" or None, default ``"auto"``
        Wave-specific memberships: the column of ``membership`` (also a column of long
        ``data``, one row per unit x wave) saying at which wave a unit had those workers, as
        ``Evaluation.memberships_by_wave`` gives it (a family's workers
        at T1 and at T2). Each data row then takes its unit's workers at its own wave, the
        weights normalised within unit x wave. ``"auto"``: the column ``wave`` when
        ``membership`` has one; None: never (one worker set per unit for every wave).
        Wave values not in the data, and unit x wave rows without memberships, raise
        :class:`~sosstats.errors.DataError`.
    membership_weights : {"normalise", "strict"}, default ``"normalise"``
        Membership weights not summing to one per unit are rescaled with a
        :class:`~sosstats.errors.SosstatsWarning`, or raise :class:`~sosstats.errors.DataError`.
    cross_classified : bool, default False
        Accept lower-level groups that appear in several higher-level groups (crossed
        random effects) instead of raising.
    repeated : str, optional
        Unit of repeated measures (``"family_id"`` in long T1/T2 data): adds a random
        intercept per unit as the lowest level. A wave term in the formula (``wave``) is then
        an ordinary fixed effect.
    random_slopes : dict, optional
        ``{level: [term, ...]}``: independent (non-centred) random slopes of design terms
        (``"wave[T.t2]"``) or of data columns (all their design terms) at a level that is not
        multiple membership. The term must also be a fixed effect, and vary within some
        group of the level (a slope on a term constant within every group is the intercept
        again, a :class:`~sosstats.errors.DesignError`).
    correlated_slopes : bool, str, list of str or dict, default False
        Correlate each named level's random intercept and slopes, as lme4's
        ``(1 + x | group)``: True for every level with ``random_slopes``, a level name, a
        list, or ``{level: bool}``. The effects of a group are
        :math:`\operatorname{diag}(\tau) L_\Omega z_g`, :math:`z_g \sim N(0, I)`
        (non-centred), with the same SD priors as independent effects and an LKJ prior
        :math:`\Omega \sim \mathrm{LKJ}(\eta)` on the correlation matrix (default
        :math:`\eta = 2`; override with ``priors={"corr_<level>": ("lkj", {"eta": 4})}``);
        see :mod:`sosstats.multilevel._correlated`. Correlated levels are always sampled
        non-centred. :meth:`MultilevelResult.variance_components` then has one row per
        correlation, ``"<level>: corr(Intercept, <term>)"``. False keeps independent slopes.
    trials : str, optional
        Column of binomial trials (``family="binomial"`` only).
    weights : str, optional
        Column of non-negative likelihood weights (e.g. attrition weights), rescaled to sum to
        the number of rows. This is a pseudo-likelihood, not a full Bayesian treatment of
        survey weights: intervals do not reflect the weights' estimation.
    priors : dict, optional
        Overrides of the default priors (see :mod:`sosstats.multilevel.priors` and
        :attr:`priors`), e.g. ``{"sigma_la_code": ("halfnormal", {"sigma": 0.5}),
        "beta": {"cohort": ("normal", {"mu": 0, "sigma": 1})}, "Intercept": ("normal",
        {"mu": 15, "sigma": 10})}``; ``"beta"`` may also be one prior for every coefficient.
    collapse : bool, default True
        For Bernoulli / binomial outcomes without weights or multiple membership, sum rows
        with the same fixed-effect design row and the same groups into binomial counts (same
        posterior, fewer likelihood terms); ``design.collapse_ratio`` reports the saving.
    missing : {"drop", "raise"}, default ``"drop"``
        Rows with a missing outcome are dropped with a warning, or raise.
    centred : "auto", None, True or list of str, default ``"auto"``
        Levels sampled in the centred form ``u ~ N(0, sigma)`` rather than the non-centred
        ``u = sigma * z``. ``"auto"`` centres only levels whose groups carry much more
        information than the prior (see :mod:`sosstats.multilevel._centring`; none in
        evaluations of a few hundred families); None: every level non-centred; True: all.

    Raises
    ------
    DataError
        Bad input: missing columns or values, an outcome outside its family's support, levels
        that are not nested (a worker in two pilots, named), membership problems (units not in
        the data or without membership, weights not summing to one under ``"strict"``),
        unknown prior names.
    DesignError
        A level with a single group, collinear fixed effects, no level at all, a random slope
        on a term constant within every group of its level, ``correlated_slopes`` naming a
        level without random slopes (an LKJ prior on a single effect) or a
        multiple-membership level, or ``centred`` naming a correlated level.

    Notes
    -----
    The model, its parameterisation and the likelihood weights are described in
    :mod:`sosstats.multilevel._pymc`; default priors in :mod:`sosstats.multilevel.priors`;
    reported summaries in :mod:`sosstats.multilevel._summaries`. Multiple membership follows
    Browne, Goldstein & Rasbash (2001), *Statistical Modelling* 1(2), 103-124.

    Examples
    --------
    >>> from sosstats.datasets import simulate_evaluation
    >>> ev = simulate_evaluation(rng=1)
    >>> model = MultilevelModel("sdq_t1 ~ cohort + agency_worker", ev.families,
    ...                         levels=["la_code", "worker_id"], membership=ev.memberships)
    >>> print(model.priors)  # doctest: +SKIP
    >>> res = model.fit(draws=500, tune=500, chains=2, rng=1)  # doctest: +SKIP
    >>> res.vpc()  # doctest: +SKIP
    """

    def __init__(self, formula: str, data: pd.DataFrame, *, levels: str | list[str] | None = None,
                 family: str = "gaussian", membership: pd.DataFrame | None = None,
                 unit: str | None = None, membership_weights: str = "normalise",
                 cross_classified: bool = False, repeated: str | None = None,
                 random_slopes: dict[str, Any] | None = None, trials: str | None = None,
                 weights: str | None = None, priors: Mapping[str, Any] | None = None,
                 collapse: bool = True, missing: str = "drop",
                 centred: str | bool | list[str] | None = "auto",
                 correlated_slopes: bool | str | list[str] | dict[str, bool] = False,
                 membership_wave: str | None = "auto") -> None:
        self.formula = formula
        self.family = family
        self._design = build_design(
            formula, data, family=family, levels=levels, membership=membership, unit=unit,
            membership_weights=membership_weights, cross_classified=cross_classified,
            repeated=repeated, random_slopes=random_slopes, trials=trials, weights=weights,
            collapse=collapse, missing=missing, correlated_slopes=correlated_slopes,
            membership_wave=membership_wave)
        self._priors = resolve_priors(self._design, priors)
        self._centred = _drop_correlated(self._design,
                                         resolve_centring(self._design, self._priors, centred),
                                         centred)

    @property
    def design(self) -> Design:
        """The checked design (arrays shared by the sampler and the results)."""
        return self._design

    @property
    def priors(self) -> Priors:
        """The priors in use (defaults with overrides), printable as a table."""
        return self._priors

    @property
    def centred(self) -> tuple[str, ...]:
        """Levels sampled in the centred parameterisation (the others are non-centred)."""
        return self._centred

    @property
    def nobs(self) -> int:
        """Data rows used."""
        return self._design.rows.n

    def __repr__(self) -> str:
        levels = ", ".join(f"{lev.name} ({lev.n_groups} {lev.kind})"
                           for lev in self._design.levels)
        return (f"MultilevelModel({self.formula!r}, family={self.family!r}, nobs={self.nobs}, "
                f"levels: {levels})")

    def build(self, predictive: bool = False) -> Any:
        """Build the PyMC model (imports PyMC): the same one :meth:`fit` samples.

        Parameters
        ----------
        predictive : bool, default False
            Write a logit likelihood as the observed variable ``y`` (``pm.Bernoulli`` /
            ``pm.Binomial``), which ``pm.sample_prior_predictive`` and
            ``pm.sample_posterior_predictive`` need, instead of the ``loglik`` potential that
            :meth:`fit` samples (same log density and gradient, cheaper to evaluate). Other
            families always have the observed variable; a model with ``weights=`` never has
            it (its likelihood is the ``weighted_loglik`` potential).
        """
        from sosstats.multilevel._pymc import build_model

        return build_model(self._design, self._priors, centred=self._centred,
                           predictive=predictive)

    def fit(self, *, draws: int = 1000, tune: int = 1000, chains: int = 4,
            rng: int | np.random.Generator | None = None, sampler: str = "auto",
            target_accept: float = 0.9, progress: bool | None = None,
            cores: int | None = None, level: float = 0.95,
            reuse: bool = True, likelihood: str = "auto") -> MultilevelResult:
        """Sample the posterior and return a :class:`MultilevelResult`.

        Parameters
        ----------
        draws, tune, chains : int
            Posterior draws and tuning steps per chain, and the number of chains.
        rng : int, Generator or None
            Seeds the sampler (a seed is drawn from it; the result records it).
        sampler : {"auto", "nutpie", "pymc", "numpyro"}
            ``"auto"``: nutpie when importable, else PyMC's NUTS. ``"numpyro"``: PyMC's JAX
            backend (NumPyro's NUTS, chains vectorised), where ``jax`` and ``numpyro`` are
            installed (``pip install 'sosstats[jax]'``); on a GPU build of JAX it samples on
            the GPU. Optional: nothing needs it.
        target_accept : float, default 0.9
            NUTS target acceptance rate (raise towards 0.99 after divergences).
        progress : bool, optional
            Show progress bars (default: only when stderr is a terminal).
        cores : int, optional
            Chains run in parallel (default ``min(chains, CPUs)``).
        level : float, default 0.95
            Default credible level of the result.
        reuse : bool, default True
            With nutpie, reuse the compiled model of an earlier fit of the same structure
            (same terms, family, levels and padded group counts, slopes and prior families;
            new data and prior scales are swapped in) instead of compiling again, which takes
            8-15 s however small the model. The draws are the same either way for the same
            seed. See :mod:`sosstats.multilevel.compiled_cache`
            (:func:`~sosstats.multilevel.clear_compiled_cache`,
            ``set_compiled_cache(enabled=False)``). Non-centred levels of up to 5,000
            groups are sampled with up to 25% extra groups that no data touch (standard
            normal a posteriori, dropped from the draws; see
            :func:`sosstats.multilevel._pymc.group_capacity`), so that data sets whose group
            counts differ a little share one compiled model.
        likelihood : {"auto", "rows", "census"}, default ``"auto"``
            How a two-level nested logit (children in workers in LAs: Bernoulli or binomial,
            an intercept, no weights or random slopes) is sampled. ``"census"``: on the table
            of successes and trials per worker and covariate pattern, whose gradient has no
            gather over rows (the same model and priors; the national-scale path, see
            :mod:`sosstats.multilevel._census_fit`); ``"rows"``: on the (collapsed) rows;
            ``"auto"``: the table when the model qualifies, its rows were collapsed to at
            least 10,000 fit rows and the table has at most 4 cells per fit row. The census
            path does not use the compiled-model cache (``reuse`` has no effect there), and
            its draws for a seed differ from the rows path's.
            ``result.idata.posterior.attrs["sosstats_likelihood"]`` records the path.

        Warns
        -----
        SosstatsWarning
            R-hat > 1.01, ESS < 400, any divergence or E-BFMI < 0.3, naming the parameters.
        """
        from sosstats.multilevel._census_fit import (
            LIKELIHOODS,
            census_model,
            census_table_for,
            standard_posterior,
        )
        from sosstats.multilevel._diagnostics import compute_diagnostics, warn_diagnostics
        from sosstats.multilevel._pymc import build_model, resolve_sampler, sample_model

        draws = check_int(draws, "draws", minimum=1)
        tune = check_int(tune, "tune", minimum=0)
        chains = check_int(chains, "chains", minimum=1)
        check_option(sampler, SAMPLERS, "sampler")
        if not (isinstance(target_accept, (float, int)) and 0 < target_accept < 1):
            raise DataError(f"`target_accept` must be strictly between 0 and 1; got "
                            f"{target_accept!r}.")
        if cores is not None:
            cores = check_int(cores, "cores", minimum=1)
        gen = check_rng(rng)
        seed = int(gen.integers(0, 2 ** 31 - 1))
        if progress is None:
            progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
        name = resolve_sampler(sampler)
        if not isinstance(reuse, bool):
            raise DataError(f"`reuse` must be True or False; got {reuse!r}.")
        check_option(likelihood, LIKELIHOODS, "likelihood")
        table = census_table_for(self._design, self._priors, likelihood)
        if table is None:
            model = build_model(self._design, self._priors, centred=self._centred, pad=True)
        else:
            model = census_model(table, self._design, self._priors, self._centred)
        idata, timings = sample_model(model, draws=draws, tune=tune, chains=chains, seed=seed,
                                      sampler=name, target_accept=float(target_accept),
                                      progress=progress, cores=cores, reuse=reuse)
        if table is None:
            idata = _drop_padding(idata, self._design)
            idata.posterior.attrs["sosstats_likelihood"] = "rows"
        else:
            idata = standard_posterior(idata, self._design, table)
        idata.posterior.attrs["sosstats_seed"] = seed
        diag = compute_diagnostics(idata)
        result = MultilevelResult(
            method=f"Bayesian multilevel {self.family}", formula=self.formula,
            family=self.family, idata=idata, nobs=self.nobs,
            n_groups={lev.name: lev.n_groups for lev in self._design.levels}, sampler=name,
            seed=seed, timings=timings, level=level, design=self._design,
            priors=self._priors, sampler_diagnostics=diag, centred=self._centred)
        warn_diagnostics(diag, stacklevel=3)
        return result

    def with_priors(self, priors: Priors) -> MultilevelModel:
        """Return a copy of the model with other resolved priors (same design and centring).

        Used by :func:`sosstats.multilevel.prior_sensitivity`; the design is shared, not
        copied, and the centring chosen for the original priors is kept so that refits differ
        only in their priors.
        """
        if not isinstance(priors, Priors):
            raise DataError(f"`priors` must be a resolved Priors object (see "
                            f"sosstats.multilevel.scale_priors); got {type(priors).__name__}.")
        import copy

        new = copy.copy(self)
        new._priors = priors
        return new

    def prior_predictive(self, draws: int = 500,
                         rng: int | np.random.Generator | None = None) -> Any:
        """Draws from the prior and the prior predictive distribution (ArviZ InferenceData).

        The outcome ``y`` is drawn for every data row (never collapsed, weights ignored), so
        ``idata.prior_predictive["y"]`` can be compared with the data directly.
        """
        from dataclasses import replace

        from sosstats.multilevel._design import uncollapsed
        from sosstats.multilevel._pymc import build_model, prior_predictive

        draws = check_int(draws, "draws", minimum=1)
        seed = int(check_rng(rng).integers(0, 2 ** 31 - 1))
        design = uncollapsed(self._design)
        rows = replace(design.rows, weights=None)
        model = build_model(design, self._priors, rows=rows, centred=self._centred,
                            predictive=True)
        return prior_predictive(model, draws=draws, seed=seed)


def _drop_padding(idata: Any, design: Design) -> Any:
    """Keep only the real groups of each level (drop the padding of ``group_capacity``)."""
    sel = {lev.name: slice(0, lev.n_groups) for lev in design.levels
           if lev.name in idata.posterior.dims
           and idata.posterior.sizes[lev.name] > lev.n_groups}
    if sel:
        attrs = dict(idata.posterior.attrs)
        idata.posterior = idata.posterior.isel(sel)
        idata.posterior.attrs.update(attrs)
    return idata


def _drop_correlated(design: Design, chosen: tuple[str, ...], asked: Any) -> tuple[str, ...]:
    """Leave correlated levels out of the centred ones (they are sampled non-centred).

    ``"auto"`` and ``True`` drop them quietly; a list that names one raises DesignError.
    """
    if not design.correlated:
        return chosen
    named = [n for n in chosen if n in design.correlated]
    if named and not (asked is True or (isinstance(asked, str) and asked == "auto")):
        raise DesignError(f"`centred` names the correlated level(s) {', '.join(map(repr, named))};"
                          " correlated intercepts and slopes are always sampled non-centred "
                          "(diag(sd) L z). Leave them out of `centred`.")
    return tuple(n for n in chosen if n not in design.correlated)

r"""Expected value of partial perfect information by non-parametric regression (EVPPI).

``evppi(cea_result, parameters, groups={...})`` says, for each group of parameters and every
willingness to pay, how much a decision maker would gain per person from learning those
parameters exactly before choosing: the regression method of Strong, Oakley & Brennan (2014),
as in BCEA's ``evppi`` (Baio, Berardi & Heath 2017), with the conditional expected net benefits
estimated by penalised regression splines (:mod:`sosstats.vfm._smooth`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._kernels.bootstrap_cea import TIE_ATOL, TIE_RTOL
from sosstats._results import TableResult
from sosstats._validate import check_option
from sosstats.errors import DataError, DesignError
from sosstats.vfm._draws import dataset_columns, is_dataset
from sosstats.vfm._smooth import Smoother, basis
from sosstats.vfm.cea_result import CEAResult

__all__ = ["EVPPIResult", "MIN_DRAWS", "evppi"]

#: Fewest draws :func:`evppi` accepts (Strong et al. 2014 used 1,000 and more).
MIN_DRAWS = 100


@dataclass(frozen=True, eq=False, kw_only=True)
class EVPPIResult(TableResult):
    """Result of :func:`evppi`.

    Attributes
    ----------
    evppi : pandas.DataFrame
        Per-person EVPPI, index ``wtp``, one column per parameter group.
    evpi : pandas.Series
        Per-person EVPI of the same draws, by ``wtp`` (the EVPPI of all uncertainty).
    groups : dict
        Group name -> its parameter columns.
    edf : pandas.DataFrame
        Effective degrees of freedom of each fitted regression: one row per group, one column
        per response (``effect[option]``, ``cost[option]``, increments against the reference).
    r_squared : pandas.DataFrame
        Share of each response's variance the regression explains (same layout as ``edf``).
    options, reference, n_draws, smoother
        The options (reference first), the comparator, the number of draws and the smoother
        (``"spline"`` or ``"linear"``).
    """

    evppi: pd.DataFrame
    evpi: pd.Series
    groups: dict
    edf: pd.DataFrame
    r_squared: pd.DataFrame
    options: tuple
    reference: Any
    n_draws: int
    smoother: str
    method: str = "EVPPI (regression, Strong, Oakley & Brennan 2014)"
    _fitted: dict = field(default_factory=dict, repr=False)

    @property
    def nobs(self) -> int:
        """Number of draws."""
        return self.n_draws

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        long = self.evppi.rename_axis(index="wtp", columns="group").stack().rename("evppi")
        out = long.reset_index().set_index(["group", "wtp"])
        out = out.reindex(pd.MultiIndex.from_product([list(self.evppi.columns),
                                                      self.evppi.index],
                                                     names=["group", "wtp"]))
        evpi = np.tile(self.evpi.to_numpy(), self.evppi.shape[1])
        out["evpi"] = evpi
        with np.errstate(divide="ignore", invalid="ignore"):
            out["share_of_evpi"] = np.where(evpi > 0, out["evppi"].to_numpy() / evpi, np.nan)
        return out

    def _notes(self) -> list[str]:
        k = int(np.argmax(self.evpi.to_numpy()))
        wtp = self.evpi.index[k]
        top = self.evppi.iloc[k].sort_values(ascending=False)
        shown = ", ".join(f"{g} {v:,.4g}" for g, v in top.items())
        how = ("penalised regression splines (GCV)" if self.smoother == "spline"
               else "linear regression")
        return [f"{self.n_draws} draws; options {list(self.options)}, increments against "
                f"{self.reference!r}; conditional expected net benefits by {how} "
                "of the incremental costs and effects on each group.",
                f"At the WTP with the largest EVPI ({wtp:,.0f}: {self.evpi.iloc[k]:,.4g} per "
                f"person): {shown}.",
                "Per person; multiply by the (discounted) number of people the decision affects "
                "for the population value. Regression error biases EVPPI: over-fitting upwards, "
                "over-smoothing downwards (see evppi's Notes)."]

    def plot(self, ax: Any = None, *, evpi: bool = True) -> Any:
        """EVPPI of each group against willingness to pay (and the EVPI, dashed); the Axes."""
        from sosstats._plotting import money_axis, new_axes

        ax = new_axes(ax, figsize=(6.0, 4.5))
        for name in self.evppi.columns:
            ax.plot(self.evppi.index, self.evppi[name].to_numpy(), label=str(name))
        if evpi:
            ax.plot(self.evpi.index, self.evpi.to_numpy(), color="black", linestyle="--",
                    linewidth=1.2, label="EVPI (all parameters)")
        from matplotlib.ticker import MaxNLocator

        ax.set_xlabel("willingness to pay per unit of effect (£)")
        ax.set_ylabel("EVPPI per person (£)")
        ax.set_title("Expected value of partial perfect information")
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))     # room for "£20,000" labels
        money_axis(ax, "both")
        ax.legend(loc="best", fontsize="small")
        return ax


def _parameters(parameters: Any, n: int) -> pd.DataFrame:
    if is_dataset(parameters):
        frame = dataset_columns(parameters)
    elif isinstance(parameters, pd.DataFrame):
        frame = parameters
    else:
        raise DataError("`parameters` must be a DataFrame with one row per draw, an "
                        "arviz.InferenceData or an xarray.Dataset; got "
                        f"{type(parameters).__name__}.")
    if frame.shape[0] != n:
        raise DataError(f"`parameters` has {frame.shape[0]} rows but there are {n} draws of "
                        "costs and effects: one row per draw, in the same order.")
    return frame


def _groups(groups: Any, columns: Sequence[Any]) -> dict[str, list[Any]]:
    if groups is None:
        out = {str(c): [c] for c in columns}
    elif isinstance(groups, str):
        out = {groups: [groups]}
    elif isinstance(groups, Mapping):
        out = {str(k): ([v] if isinstance(v, str) else list(v)) for k, v in groups.items()}
    else:
        out = {}
        for g in groups:
            cols = [g] if isinstance(g, str) else list(g)
            out[" + ".join(map(str, cols))] = cols
    if not out:
        raise DataError("`groups` is empty: name at least one parameter column.")
    for name, cols in out.items():
        if not cols:
            raise DataError(f"parameter group {name!r} has no columns.")
        missing = [c for c in cols if c not in columns]
        if missing:
            raise DataError(f"parameter column(s) {missing} of group {name!r} are not in "
                            f"`parameters`; its columns are {list(columns)[:20]}.")
    return out


def _values(frame: pd.DataFrame, cols: list[Any], name: str) -> np.ndarray:
    for c in cols:
        s = frame[c]
        if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
            if not pd.api.types.is_bool_dtype(s):
                raise DataError(f"parameter column {c!r} (group {name!r}) must be numeric; got "
                                f"{s.dtype}.")
    x = frame[cols].to_numpy(dtype=float)
    bad = ~np.isfinite(x)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        raise DataError(f"parameter column {cols[j]!r} (group {name!r}) has "
                        f"{int(bad[:, j].sum())} non-finite draw(s) (NaN or inf).")
    const = [c for c, sd in zip(cols, x.std(axis=0)) if not sd > 0]
    if const:
        raise DataError(f"parameter column(s) {const} (group {name!r}) do not vary over the "
                        "draws: nothing to learn (their EVPPI is 0); leave them out.")
    return x


def _value(d_effect: np.ndarray, d_cost: np.ndarray, wtp: np.ndarray,
           scale: np.ndarray) -> np.ndarray:
    """``mean_s max(0, max_d inb) - max(0, max_d mean_s inb)`` per WTP, ``inb = wtp de - dc``.

    ``d_effect`` and ``d_cost`` are ``(S, D)``; one ``(S, K)`` array is kept, not ``(S, K, D)``.
    """
    best = np.zeros((d_effect.shape[0], wtp.size))
    inb = np.empty_like(best)
    for j in range(d_effect.shape[1]):
        np.multiply(d_effect[:, [j]], wtp[None, :], out=inb)
        inb -= d_cost[:, [j]]
        np.maximum(best, inb, out=best)
    means = wtp[:, None] * d_effect.mean(axis=0) - d_cost.mean(axis=0)   # (K, D)
    out = best.mean(axis=0) - np.maximum(means.max(axis=1), 0.0)
    out[out <= TIE_RTOL * scale + TIE_ATOL] = 0.0
    return out


def evppi(result: Any, parameters: Any, *, groups: Any = None, wtp: Any = None,
          smoother: str = "spline", cost: str = "cost", effect: str = "effect",
          group: str = "option", draw_id: str | list[str] = "draw",
          reference: Any = None) -> EVPPIResult:
    r"""Estimate the expected value of partial perfect information (EVPPI) by regression.

    Parameters
    ----------
    result : CEAResult, or draws
        A result of :func:`sosstats.vfm.cea` (its draws or bootstrap replicates, options,
        reference and ``wtp``), or draws in any layout ``cea(draws=...)`` takes (then ``cost``,
        ``effect``, ``group``, ``draw_id`` and ``reference`` name them as there).
    parameters : pandas.DataFrame, arviz.InferenceData or xarray.Dataset
        The parameters behind each draw: one row per draw, in the order of the draws (for an
        InferenceData, each posterior variable of dims ``(chain, draw)`` is a column, one with
        a further dimension a column per coordinate, ``name[coord]``, drawn chain by chain as
        ``cea`` reads them).
    groups : str, list or dict, optional
        The parameter groups: a dict name -> column or list of columns, a list of columns or
        of lists of columns, one column; default each column of ``parameters`` alone.
    wtp : array-like, optional
        Willingness-to-pay thresholds (default: the result's).
    smoother : {"spline", "linear"}
        ``"spline"`` (default): penalised regression splines with GCV smoothing (one, two, or
        additive in three or more parameters); ``"linear"``: least squares on the parameters
        (exact when the net benefits are linear in them, biased otherwise).
    cost, effect, group, draw_id, reference
        As for :func:`sosstats.vfm.cea` with ``draws`` (when ``result`` is not a CEAResult).

    Returns
    -------
    EVPPIResult
        ``evppi`` (WTP x group), ``evpi``, ``tidy()`` (``group, wtp, evppi, evpi,
        share_of_evpi``), ``summary()``, ``plot()``; ``edf`` and ``r_squared`` of the fits.

    Raises
    ------
    DataError
        ``parameters`` not a frame or InferenceData, of another number of rows than there are
        draws; a parameter column not in ``parameters``; non-numeric, non-finite or constant
        parameter draws; an empty group; bad ``wtp``, ``smoother``; bad draws (as ``cea``).
    DesignError
        Fewer than :data:`MIN_DRAWS` (100) draws, or fewer than three draws per regression
        coefficient of a group.

    Notes
    -----
    With options :math:`d = 0, \dots, D` (0 the reference), net benefit
    :math:`\mathrm{NB}_d(\lambda) = \lambda E_d - C_d` and incremental net benefit
    :math:`\mathrm{INB}_d = \mathrm{NB}_d - \mathrm{NB}_0` (:math:`\mathrm{INB}_0 = 0`), the
    EVPPI of a parameter group :math:`\phi` is

    .. math::

        \mathrm{EVPPI}_\phi(\lambda) = E_\phi\bigl[\max_d E(\mathrm{INB}_d \mid \phi)\bigr]
            - \max_d E[\mathrm{INB}_d],

    the expected gain from choosing after learning :math:`\phi` (Ades, Lu & Claxton 2004).
    Following Strong, Oakley & Brennan (2014), :math:`g_d(\phi) = E(\mathrm{INB}_d \mid \phi)`
    is estimated from the draws :math:`(\phi_s, \mathrm{INB}_{sd})` themselves by regressing
    on :math:`\phi_s`, and

    .. math::

        \widehat{\mathrm{EVPPI}}_\phi = \frac1S \sum_s \max_d \hat g_d(\phi_s)
            - \max_d \frac1S \sum_s \hat g_d(\phi_s),

    which needs no nested Monte Carlo. Because :math:`E(\mathrm{INB}_d \mid \phi) =
    \lambda E(\Delta E_d \mid \phi) - E(\Delta C_d \mid \phi)`, the incremental effects and
    costs are regressed once each (as BCEA does) and combined at every :math:`\lambda`; each
    regression picks its own smoothing by GCV. The smoother keeps the constant unpenalised, so
    the fitted values average to the draws' means and the second term is the EVPI's; with
    :math:`\phi` all the parameters the estimate approaches the EVPI, and by Jensen's
    inequality it is never negative. The EVPI is :math:`E_s[\max_d \mathrm{INB}_{sd}] -
    \max_d E_s[\mathrm{INB}_{sd}]`. Values within the tie tolerance of the net benefits'
    scale (:func:`sosstats._kernels.bootstrap_cea.tie_tolerance`) are reported as 0.

    **Bias.** The estimate inherits the regression's error. Noise left in :math:`\hat g`
    (under-smoothing, too flexible a basis, few draws) biases it upwards, because the maximum of
    a noisy estimate is too large on average; over-smoothing (a basis too stiff for the true
    :math:`g`, e.g. the additive model when parameters interact, or ``"linear"`` when the net
    benefit is not linear) biases it downwards. GCV balances the two for each response; the
    upward part shrinks as :math:`S` grows (use thousands of draws), and ``edf`` shows how
    flexible each fit was (1 for a constant, 2 for a straight line in one parameter).
    Parameters that are nearly functions of each other (a group and its complement correlated)
    share their value: EVPPIs of groups do not add up to the EVPI.

    References
    ----------
    Strong, M., Oakley, J. E. & Brennan, A. (2014). Estimating multiparameter partial expected
    value of perfect information from a probabilistic sensitivity analysis sample: a
    nonparametric regression approach. *Medical Decision Making* 34, 311-326.
    Ades, A. E., Lu, G. & Claxton, K. (2004). Expected value of sample information calculations
    in medical decision modeling. *Medical Decision Making* 24, 207-227.
    Baio, G., Berardi, A. & Heath, A. (2017). *Bayesian Cost-Effectiveness Analysis with the R
    package BCEA*. Springer (ch. 4).
    Eilers, P. H. C. & Marx, B. D. (1996). Flexible smoothing with B-splines and penalties.
    *Statistical Science* 11, 89-121.
    Craven, P. & Wahba, G. (1979). Smoothing noisy data with spline functions. *Numerische
    Mathematik* 31, 377-403.
    """
    from sosstats.vfm.cea import _check_wtp, cea_from_draws

    check_option(smoother, ("spline", "linear"), "smoother")
    if not isinstance(result, CEAResult):
        result = cea_from_draws(result, cost=cost, effect=effect, group=group,
                                draw_id=draw_id, reference=reference,
                                **({} if wtp is None else {"wtp": wtp}))
    lam = result.wtp if wtp is None else _check_wtp(wtp)
    reps = result._reps
    d_cost, d_effect = reps.d_cost[:, 1:], reps.d_effect[:, 1:]    # (S, D) against reference
    n = d_cost.shape[0]
    if n < MIN_DRAWS:
        raise DesignError(f"evppi needs at least {MIN_DRAWS} draws (thousands for a stable "
                          f"regression); got {n}.")
    frame = _parameters(parameters, n)
    sets = _groups(groups, list(frame.columns))
    scale = lam * np.abs(reps.effect).max() + np.abs(reps.cost).max()
    evpi = _value(d_effect, d_cost, lam, scale)
    Y = np.hstack([d_effect, d_cost])                                # (S, 2D)
    others = list(result.options[1:])
    names = [f"effect[{o}]" for o in others] + [f"cost[{o}]" for o in others]
    var = Y.var(axis=0)
    values, edfs, r2s, fits = {}, {}, {}, {}
    for name, cols in sets.items():
        phi = _values(frame, cols, name)
        if smoother == "linear":
            X, P = np.column_stack([np.ones(n), phi]), np.zeros((phi.shape[1] + 1,) * 2)
        else:
            X, P = basis(phi)
        if n < 3 * X.shape[1]:
            raise DesignError(f"group {name!r}: {n} draws for a regression with {X.shape[1]} "
                              f"coefficients; evppi needs at least {3 * X.shape[1]} (use more "
                              "draws or smaller groups).")
        fitted, edf = Smoother(X, P).fit(Y)
        D = d_cost.shape[1]
        values[name] = _value(fitted[:, :D], fitted[:, D:], lam, scale)
        edfs[name] = edf
        with np.errstate(divide="ignore", invalid="ignore"):
            r2s[name] = np.where(var > 0, 1 - ((Y - fitted) ** 2).mean(axis=0) / var, np.nan)
        fits[name] = fitted
    index = pd.Index(lam, name="wtp")
    return EVPPIResult(evppi=pd.DataFrame(values, index=index),
                       evpi=pd.Series(evpi, index=index, name="evpi"),
                       groups={k: list(v) for k, v in sets.items()},
                       edf=pd.DataFrame(edfs, index=names).T.rename_axis("group"),
                       r_squared=pd.DataFrame(r2s, index=names).T.rename_axis("group"),
                       options=tuple(result.options), reference=result.reference,
                       n_draws=n, smoother=smoother, _fitted=fits)

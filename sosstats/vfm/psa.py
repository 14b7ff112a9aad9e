r"""Probabilistic sensitivity analysis: Monte Carlo propagation of input uncertainty.

:func:`psa` draws every input (the distributions of :mod:`sosstats.vfm.distributions`, any
scipy frozen distribution, arrays of draws or constants), evaluates a model once on the arrays
of draws and summarises the outcome (mean, percentile interval, share above a threshold) as in
Briggs, Claxton & Sculpher (2006, ch. 4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._results import Result
from sosstats._validate import check_finite, check_int, check_level, check_rng
from sosstats.errors import DataError
from sosstats.vfm._draws import dataset_columns, is_dataset
from sosstats.vfm._inputs import is_distribution, realise
from sosstats.vfm.distributions import (
    BetaProbability,
    GammaCost,
    LognormalRatio,
    NormalParameter,
    beta_probability,
    gamma_cost,
    lognormal_ratio,
    normal,
)

__all__ = ["GammaCost", "BetaProbability", "LognormalRatio", "NormalParameter", "PSAResult",
           "gamma_cost", "beta_probability", "lognormal_ratio", "normal", "psa"]


@dataclass(frozen=True, eq=False, kw_only=True)
class PSAResult(Result):
    """Result of :func:`psa`.

    Attributes
    ----------
    outcome : numpy.ndarray
        The model's outcome, one value per draw.
    inputs : pandas.DataFrame
        Draws of the inputs that vary (one column each, in the order given).
    constants : dict
        Inputs held fixed.
    name : str
        Name of the outcome.
    threshold : float
        :attr:`prob_positive` is the share of draws above it (default 0).
    n_draws : int
    seed, rng_state
        The integer seed (None otherwise) and the Generator state before drawing.
    """

    outcome: np.ndarray
    inputs: pd.DataFrame
    constants: dict
    name: str
    threshold: float
    n_draws: int
    vectorised: bool
    seed: int | None = None
    rng_state: dict = field(default_factory=dict, repr=False)
    level: float = 0.95
    method: str = "probabilistic sensitivity analysis (Monte Carlo)"

    @property
    def nobs(self) -> int:
        """Number of draws."""
        return self.n_draws

    @property
    def mean(self) -> float:
        """Mean outcome over draws."""
        return float(self.outcome.mean())

    @property
    def sd(self) -> float:
        """Standard deviation of the outcome over draws."""
        return float(self.outcome.std(ddof=1))

    def interval(self, level: float | None = None) -> tuple[float, float]:
        """Percentile interval of the outcome (default: the result's ``level``)."""
        level = check_level(self.level if level is None else level)
        lo, hi = np.quantile(self.outcome, [0.5 - level / 2, 0.5 + level / 2])
        return float(lo), float(hi)

    def share_above(self, value: float = 0.0) -> float:
        """Share of draws whose outcome is above ``value``."""
        return float(np.mean(self.outcome > check_finite(value, "`value`")))

    @property
    def prob_positive(self) -> float:
        """Share of draws whose outcome is above ``threshold`` (e.g. P(NPV > 0))."""
        return self.share_above(self.threshold)

    @property
    def draws(self) -> pd.DataFrame:
        """Draws of the varying inputs and of the outcome (a copy)."""
        out = self.inputs.copy()
        out[self.name] = self.outcome
        return out

    @property
    def rank_correlations(self) -> pd.Series:
        """Spearman correlation of each varying input with the outcome, largest first."""
        if self.inputs.shape[1] == 0:
            return pd.Series(dtype=float, name="spearman")
        ranks = stats.rankdata(np.column_stack([self.inputs.to_numpy(), self.outcome]), axis=0)
        ranks = ranks - ranks.mean(axis=0)
        sd = np.sqrt((ranks**2).sum(axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = (ranks[:, :-1] * ranks[:, -1:]).sum(axis=0) / (sd[:-1] * sd[-1])
        out = pd.Series(rho, index=self.inputs.columns, name="spearman")
        return out.reindex(out.abs().sort_values(ascending=False, kind="mergesort").index)

    def _values(self) -> np.ndarray:
        return np.column_stack([self.outcome, self.inputs.to_numpy()])

    def _estimates(self) -> pd.DataFrame:
        vals = self._values()
        terms = [self.name] + list(self.inputs.columns)
        out = pd.DataFrame({"estimate": vals.mean(axis=0),
                            "std_error": vals.std(axis=0, ddof=1) if self.n_draws > 1
                            else np.nan, "statistic": np.nan, "p_value": np.nan},
                           index=terms)
        out["median"] = np.median(vals, axis=0)
        out["role"] = ["outcome"] + ["input"] * self.inputs.shape[1]
        out["share_above"] = [self.prob_positive] + [np.nan] * self.inputs.shape[1]
        return out

    def _interval(self, level: float) -> pd.DataFrame:
        lo, hi = np.quantile(self._values(), [0.5 - level / 2, 0.5 + level / 2], axis=0)
        return pd.DataFrame({"lower": lo, "upper": hi},
                            index=[self.name] + list(self.inputs.columns))

    def _notes(self) -> list[str]:
        lo, hi = self.interval()
        notes = [f"{self.n_draws} draws; mean {self.name} {self.mean:,.4g}, "
                 f"{self.level:.0%} interval {lo:,.4g} to {hi:,.4g}; "
                 f"P({self.name} > {self.threshold:g}) = {self.prob_positive:.3f}.",
                 "std_error is the SD over draws; intervals are percentiles of the draws."]
        if self.constants:
            notes.append("Fixed: " + ", ".join(f"{k} = {v:g}" for k, v in
                                                 self.constants.items()) + ".")
        return notes

    def plot(self, ax: Any = None, *, bins: int = 50, money: bool = True) -> Any:
        """Histogram of the outcome with its mean, percentile interval and the threshold.

        ``money`` (default True: the outcome is an NPV or a net benefit) labels the outcome
        axis in pounds (:func:`sosstats._plotting.money_axis`); False gives plain numbers.
        """
        from sosstats._plotting import money_axis, new_axes, plain_axis

        ax = new_axes(ax, figsize=(6, 4))
        lo, hi = self.interval()
        ax.hist(self.outcome, bins=check_int(bins, "bins", minimum=1), color="steelblue",
                alpha=0.8)
        ax.axvspan(lo, hi, color="grey", alpha=0.15, label=f"{self.level:.0%} interval")
        ax.axvline(self.mean, color="black", label="mean")
        ax.axvline(self.threshold, color="firebrick", linestyle="--",
                   label=f"{self.threshold:g}")
        ax.set_xlabel(self.name)
        ax.set_ylabel("draws")
        ax.set_title(f"P({self.name} > {self.threshold:g}) = {self.prob_positive:.2f}")
        (money_axis if money else plain_axis)(ax, "x")
        ax.legend(loc="best", fontsize="small")
        return ax


def _draw_inputs(inputs: Mapping[str, Any], n: int | None, gen: np.random.Generator
                 ) -> tuple[int, dict[str, np.ndarray], dict[str, float]]:
    arrays = {k: v for k, v in inputs.items()
              if not is_distribution(v) and np.ndim(v) > 0}
    for k, v in arrays.items():
        if np.ndim(v) != 1:
            raise DataError(f"input `{k}` must be a number, a 1-D array of draws or a "
                            f"distribution; got an array of shape {np.shape(v)}.")
    sizes = {k: len(v) for k, v in arrays.items()}
    if len(set(sizes.values())) > 1 or (sizes and n is not None and n not in sizes.values()):
        shown = ", ".join(f"`{k}` ({m})" for k, m in sizes.items())
        raise DataError(f"arrays of draws must all have `n` = {n} values; got {shown}."
                        if n is not None else
                        f"arrays of draws must have the same length; got {shown}.")
    n = n if n is not None else (next(iter(sizes.values())) if sizes else 1000)
    varying: dict[str, np.ndarray] = {}
    fixed: dict[str, float] = {}
    for k, v in inputs.items():
        if is_distribution(v) or k in arrays:
            varying[k] = realise(v, f"inputs['{k}']", n, gen, minimum=-np.inf)
        else:
            fixed[k] = float(realise(v, f"inputs['{k}']", None, None, minimum=-np.inf))
    return n, varying, fixed


def _joint_draws(inputs: Any) -> Any:
    """Turn a frame or an InferenceData of draws into a mapping of input name -> draws."""
    if is_dataset(inputs):
        inputs = dataset_columns(inputs, "inputs")
    if isinstance(inputs, pd.DataFrame):
        bad = [c for c in inputs.columns
               if not (pd.api.types.is_numeric_dtype(inputs[c])
                       and not pd.api.types.is_bool_dtype(inputs[c]))]
        if bad:
            raise DataError(f"column(s) {bad} of `inputs` must be numeric draws.")
        if inputs.shape[0] == 0:
            raise DataError("`inputs` has no rows (draws).")
        return {str(c): inputs[c].to_numpy(dtype=float) for c in inputs.columns}
    return inputs


def _outcome(raw: Any, n: int, vectorised: bool) -> np.ndarray:
    try:
        out = np.asarray(raw, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`model` must return numbers; got {type(raw).__name__}.") from exc
    if out.ndim == 0:
        out = np.full(n, float(out))
    if out.shape != (n,):
        hint = (" (a vectorised model must return one value per draw; write it with numpy "
                "operations or pass vectorised=False)" if vectorised else "")
        raise DataError(f"`model` returned shape {out.shape} for {n} draws{hint}.")
    bad = ~np.isfinite(out)
    if bad.any():
        raise DataError(f"`model` returned {int(bad.sum())} non-finite value(s) (NaN or inf), "
                        f"first at draw {int(np.flatnonzero(bad)[0])}.")
    return out


def psa(model: Callable[..., Any], inputs: Mapping[str, Any], *, n: int | None = None,
        rng: int | np.random.Generator | None = None, vectorised: bool = True,
        threshold: float = 0.0, name: str = "outcome", level: float = 0.95) -> PSAResult:
    r"""Probabilistic sensitivity analysis: draw the inputs, run the model, summarise.

    Parameters
    ----------
    model : callable
        Called with the inputs as keyword arguments; returns the outcome (e.g. net present
        value or net monetary benefit). When ``vectorised`` (default) it is called once with
        arrays of ``n`` draws (fixed inputs as floats) and must return ``n`` values (or one).
    inputs : mapping, pandas.DataFrame, arviz.InferenceData or xarray.Dataset
        A mapping of name to a distribution (from :func:`gamma_cost`,
        :func:`beta_probability`, :func:`lognormal_ratio`, :func:`normal`, or any scipy.stats
        frozen distribution), a 1-D array of ``n`` draws made elsewhere, or a number held
        fixed. Or draws made elsewhere, jointly: a DataFrame (one row per draw, each column an
        input), or an InferenceData / Dataset (posterior draws: each variable of dims
        ``(chain, draw)`` an input, one with a further dimension an input per coordinate,
        ``name[coord]``, draws chain by chain), so that a posterior's correlations are kept.
    n : int, optional
        Number of draws (default 1,000, or the length of the arrays of draws).
    rng : int, Generator or None
        Draws the distributions in the order of ``inputs``, each with
        ``dist.rvs(size=n, random_state=rng)``.
    vectorised : bool, default True
        False calls ``model`` once per draw with floats (a Python loop: slow).
    threshold : float, default 0
        :attr:`PSAResult.prob_positive` is the share of draws above it.
    name : str, default "outcome"
        Name of the outcome in tables and plots.
    level : float, default 0.95
        Level of the percentile intervals.

    Returns
    -------
    PSAResult
        ``mean``, ``interval()``, ``prob_positive``, ``draws``, ``rank_correlations``,
        ``tidy()``, ``summary()``, ``plot()``.

    Raises
    ------
    DataError
        ``model`` not callable, empty or non-mapping ``inputs`` (nor a frame or InferenceData),
        non-numeric columns of an ``inputs`` frame, NaN or infinite inputs, arrays
        of draws of different lengths, a model returning the wrong shape or non-finite values.

    Notes
    -----
    Monte Carlo propagation of parameter uncertainty (Briggs, Claxton & Sculpher 2006, ch. 4;
    Claxton et al. 2005): with draws :math:`\theta^{(1)}, \dots, \theta^{(n)}` of the inputs,
    the outcome draws are :math:`y^{(i)} = f(\theta^{(i)})`; the expected outcome is estimated
    by their mean (not by :math:`f` at the mean inputs, which differs when :math:`f` is
    non-linear), its uncertainty by their percentiles, and the probability of a positive
    outcome by :math:`n^{-1} \sum_i 1\{y^{(i)} > 0\}`. Inputs are drawn independently; draw
    correlated inputs yourself and pass the arrays.

    References
    ----------
    Briggs, A., Claxton, K. & Sculpher, M. (2006). *Decision Modelling for Health Economic
    Evaluation*. OUP.
    Claxton, K. et al. (2005). Probabilistic sensitivity analysis for NICE technology
    assessment: not an optional extra. *Health Economics* 14, 339-347.

    Examples
    --------
    >>> from sosstats.vfm import gamma_cost, beta_probability, psa
    >>> res = psa(lambda cost, p: p * 10_000 - cost,
    ...           {"cost": gamma_cost(2_000, 400), "p": beta_probability(events=30, n=100)},
    ...           n=2_000, rng=1)
    >>> 0.8 < res.prob_positive <= 1.0
    True
    """
    if not callable(model):
        raise DataError(f"`model` must be callable; got {type(model).__name__}.")
    inputs = _joint_draws(inputs)
    if not isinstance(inputs, Mapping) or not inputs:
        raise DataError("`inputs` must be a non-empty mapping of name -> distribution, array "
                        "of draws or number.")
    if n is not None:
        n = check_int(n, "n", minimum=1)
    level = check_level(level)
    threshold = check_finite(threshold, "`threshold`")
    gen = check_rng(rng)
    seed = int(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None
    state = gen.bit_generator.state
    n, varying, fixed = _draw_inputs(inputs, n, gen)
    if vectorised:
        raw = model(**varying, **fixed)
    else:
        raw = [model(**{k: float(v[i]) for k, v in varying.items()}, **fixed)
               for i in range(n)]
    outcome = _outcome(raw, n, vectorised)
    frame = pd.DataFrame(varying, columns=list(varying), index=pd.RangeIndex(n, name="draw"))
    return PSAResult(outcome=outcome, inputs=frame, constants=fixed, name=str(name),
                     threshold=threshold, n_draws=n, vectorised=bool(vectorised), seed=seed,
                     rng_state=state, level=level)

r"""Input distributions for probabilistic sensitivity analysis, parameterised as reported.

The distributions follow Briggs, Claxton & Sculpher (2006, ch. 4): a cost by its mean and
standard error (gamma), a probability by its mean and standard error or by events out of trials
(beta), a ratio by its point estimate and confidence interval (log-normal), anything else on
the real line by its mean and standard error (normal). Each helper returns a small frozen object
with ``draws(n, rng)``, its method-of-moments ``parameters`` and ``rvs``/``dist`` (so it can also be
given to :func:`sosstats.vfm.unit_cost`). :func:`sosstats.vfm.psa` propagates them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from sosstats._validate import check_finite, check_int, check_level, check_rng
from sosstats.errors import DataError, SosstatsWarning

__all__ = ["GammaCost", "BetaProbability", "LognormalRatio", "NormalParameter",
           "gamma_cost", "beta_probability", "lognormal_ratio", "normal"]


def _number(value: Any, name: str) -> float:
    return check_finite(value, f"`{name}`")


def _positive_se(se: Any) -> float:
    se = _number(se, "se")
    if se <= 0:
        raise DataError(f"`se` must be greater than 0; got {se:g} (for a fixed input, give the "
                        "number itself instead of a distribution).")
    return se


@dataclass(frozen=True)
class _Distribution:
    """Shared behaviour: scipy frozen ``dist``, ``draws``, ``rvs``, moments and interval."""

    family: ClassVar[str] = ""

    def _frozen(self) -> Any:
        raise NotImplementedError

    @property
    def dist(self) -> Any:
        """The scipy.stats frozen distribution."""
        return self._frozen()

    @property
    def parameters(self) -> dict[str, float]:
        """The distribution's parameters (method of moments or from the reported interval).

        Named ``parameters``, not ``params``: on results ``params`` is the Series of estimates.
        """
        return {k: float(v) for k, v in self.__dict__.items()}

    @property
    def mean(self) -> float:
        """Mean of the distribution."""
        return float(self.dist.mean())

    @property
    def sd(self) -> float:
        """Standard deviation of the distribution."""
        return float(self.dist.std())

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Central interval holding ``level`` of the probability."""
        lo, hi = self.dist.interval(check_level(level))
        return float(lo), float(hi)

    def rvs(self, size: Any = None, random_state: Any = None) -> Any:
        """Draw like scipy.stats (``dist.rvs(size=..., random_state=...)``)."""
        return self.dist.rvs(size=size, random_state=random_state)

    def draws(self, n: int, rng: int | np.random.Generator | None = None) -> np.ndarray:
        """Return ``n`` draws as a float array, using ``rng`` (int, Generator or None)."""
        n = check_int(n, "n", minimum=1)
        return np.asarray(self.rvs(size=n, random_state=check_rng(rng)), dtype=float)

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={v:.6g}" for k, v in self.parameters.items())
        return f"{self.family}({shown}): mean {self.mean:.6g}, SD {self.sd:.6g}"


@dataclass(frozen=True)
class GammaCost(_Distribution):
    """Gamma distribution of a cost: ``shape`` and ``scale`` (mean ``shape * scale``)."""

    shape: float
    scale: float
    family: ClassVar[str] = "Gamma"

    def _frozen(self) -> Any:
        return stats.gamma(self.shape, scale=self.scale)


@dataclass(frozen=True)
class BetaProbability(_Distribution):
    """Beta distribution of a probability: ``alpha`` and ``beta``."""

    alpha: float
    beta: float
    family: ClassVar[str] = "Beta"

    def _frozen(self) -> Any:
        return stats.beta(self.alpha, self.beta)


@dataclass(frozen=True)
class LognormalRatio(_Distribution):
    """Log-normal distribution of a ratio: ``mu`` and ``sigma`` of its logarithm."""

    mu: float
    sigma: float
    family: ClassVar[str] = "LogNormal"

    def _frozen(self) -> Any:
        return stats.lognorm(self.sigma, scale=math.exp(self.mu))


@dataclass(frozen=True)
class NormalParameter(_Distribution):
    """Normal distribution: mean ``mu`` and standard deviation ``sigma``."""

    mu: float
    sigma: float
    family: ClassVar[str] = "Normal"

    def _frozen(self) -> Any:
        return stats.norm(self.mu, self.sigma)


def gamma_cost(mean: float, se: float) -> GammaCost:
    r"""Gamma distribution of a cost with the given mean and standard error.

    Parameters
    ----------
    mean : float
        Mean cost (positive).
    se : float
        Its standard error (positive).

    Returns
    -------
    GammaCost

    Raises
    ------
    DataError
        ``mean`` not positive (a negative or zero cost has no gamma distribution), ``se`` not
        positive, either not a finite number.

    Notes
    -----
    Method of moments: shape :math:`k = \mu^2 / s^2` and scale :math:`\theta = s^2 / \mu`, so
    that :math:`k\theta = \mu` and :math:`\sqrt{k}\,\theta = s` (Briggs, Claxton & Sculpher
    2006, section 4.3.2). The gamma is bounded below by 0 and skewed to the right, as costs are.

    References
    ----------
    Briggs, A., Claxton, K. & Sculpher, M. (2006). *Decision Modelling for Health Economic
    Evaluation*. OUP, ch. 4.

    Examples
    --------
    >>> from sosstats.vfm import gamma_cost
    >>> g = gamma_cost(400.0, 100.0)
    >>> g.shape, g.scale
    (16.0, 25.0)
    """
    mean = _number(mean, "mean")
    if mean <= 0:
        raise DataError(f"`mean` of a gamma cost must be positive; got {mean:g} (a cost cannot "
                        "be negative; use normal() for a net amount that can be).")
    se = _positive_se(se)
    return GammaCost(shape=mean**2 / se**2, scale=se**2 / mean)


def beta_probability(mean: float | None = None, se: float | None = None, *,
                     events: float | None = None, n: float | None = None) -> BetaProbability:
    r"""Beta distribution of a probability, from its mean and standard error or from counts.

    Parameters
    ----------
    mean, se : float, optional
        Mean probability in (0, 1) and its standard error, below
        :math:`\sqrt{\mu (1 - \mu)}`.
    events, n : float, optional (keyword only)
        ``events`` out of ``n`` trials, ``0 < events < n`` (instead of ``mean`` and ``se``).

    Returns
    -------
    BetaProbability

    Raises
    ------
    DataError
        Both or neither parameterisation, a mean outside (0, 1), ``se`` not positive or too
        large for a beta with that mean, counts out of range.

    Notes
    -----
    Method of moments: with :math:`\mu` and :math:`s`,
    :math:`\alpha = \mu \{\mu (1 - \mu) / s^2 - 1\}` and
    :math:`\beta = \alpha (1 - \mu) / \mu`, which needs :math:`s^2 < \mu (1 - \mu)`. From counts,
    :math:`\alpha = r` and :math:`\beta = n - r` (Briggs, Claxton & Sculpher 2006, 4.3.1). With
    no events (or all), add a prior yourself, e.g. ``events + 1`` out of ``n + 2``.

    References
    ----------
    Briggs, A., Claxton, K. & Sculpher, M. (2006). *Decision Modelling for Health Economic
    Evaluation*. OUP, ch. 4.
    """
    if (events is None) != (n is None):
        raise DataError("give both `events` and `n` (events out of n trials).")
    if events is not None:
        if mean is not None or se is not None:
            raise DataError("give `mean` and `se`, or `events` and `n`, not both.")
        r, trials = _number(events, "events"), _number(n, "n")
        if not 0 < r < trials:
            raise DataError(f"`events` must be between 0 and `n` (exclusive); got {r:g} out of "
                            f"{trials:g} (with none or all, use events + 1 out of n + 2).")
        return BetaProbability(alpha=r, beta=trials - r)
    if mean is None or se is None:
        raise DataError("give `mean` and `se` (or `events` and `n`) for a beta probability.")
    mean = _number(mean, "mean")
    if not 0 < mean < 1:
        raise DataError(f"`mean` of a beta probability must be strictly between 0 and 1; "
                        f"got {mean:g}.")
    se = _positive_se(se)
    limit = math.sqrt(mean * (1 - mean))
    if se >= limit:
        raise DataError(f"`se` {se:g} is too large for a beta with mean {mean:g}: it must be "
                        f"below sqrt(mean * (1 - mean)) = {limit:.4g}.")
    alpha = mean * (mean * (1 - mean) / se**2 - 1)
    return BetaProbability(alpha=alpha, beta=alpha * (1 - mean) / mean)


def lognormal_ratio(point: float, ci_low: float | None = None, ci_high: float | None = None,
                    *, log_se: float | None = None, level: float = 0.95) -> LognormalRatio:
    r"""Log-normal distribution of a ratio (relative risk, odds or rate ratio, cost ratio).

    Parameters
    ----------
    point : float
        Reported ratio (positive): the median of the distribution, :math:`e^{\mu}`.
    ci_low, ci_high : float, optional
        Its reported confidence interval at ``level``.
    log_se : float, optional (keyword only)
        Standard error of the log ratio, instead of the interval.
    level : float, default 0.95
        Level of the reported interval.

    Returns
    -------
    LognormalRatio

    Raises
    ------
    DataError
        A ratio or bound that is not positive, bounds out of order or not around ``point``,
        both or neither of the interval and ``log_se``, ``log_se`` not positive.

    Notes
    -----
    :math:`\mu = \ln(\text{point})` and, from the interval,
    :math:`\sigma = \{\ln(\text{high}) - \ln(\text{low})\} / (2 z_{(1 + \text{level}) / 2})`
    (Briggs, Claxton & Sculpher 2006, 4.3.4). The mean of the draws is
    :math:`e^{\mu + \sigma^2 / 2}`, above the point estimate. A reported interval that is not
    symmetric about the point on the log scale gets a :class:`SosstatsWarning`.

    References
    ----------
    Briggs, A., Claxton, K. & Sculpher, M. (2006). *Decision Modelling for Health Economic
    Evaluation*. OUP, ch. 4.
    """
    point = _number(point, "point")
    if point <= 0:
        raise DataError(f"`point` of a ratio must be positive; got {point:g}.")
    has_ci = ci_low is not None or ci_high is not None
    if has_ci == (log_se is not None):
        raise DataError("give the interval (`ci_low` and `ci_high`) or `log_se`, not both "
                        "nor neither.")
    if log_se is not None:
        sigma = _number(log_se, "log_se")
        if sigma <= 0:
            raise DataError(f"`log_se` must be greater than 0; got {sigma:g}.")
        return LognormalRatio(mu=math.log(point), sigma=sigma)
    if ci_low is None or ci_high is None:
        raise DataError("give both `ci_low` and `ci_high`.")
    lo, hi = _number(ci_low, "ci_low"), _number(ci_high, "ci_high")
    if lo <= 0:
        raise DataError(f"`ci_low` of a ratio must be positive; got {lo:g}.")
    if not lo < point < hi:
        raise DataError(f"the interval must surround `point`: need ci_low < point < ci_high; "
                        f"got {lo:g}, {point:g}, {hi:g}.")
    z = stats.norm.ppf(0.5 + check_level(level) / 2)
    sigma = float((math.log(hi) - math.log(lo)) / (2 * z))
    off = abs(math.log(point) - (math.log(lo) + math.log(hi)) / 2) / sigma
    if off > 0.25:
        warnings.warn(f"the interval ({lo:g}, {hi:g}) is not symmetric about {point:g} on the "
                      f"log scale (off by {off:.2f} SE); is it the interval of a ratio?",
                      SosstatsWarning, stacklevel=2)
    return LognormalRatio(mu=math.log(point), sigma=sigma)


def normal(mean: float, se: float) -> NormalParameter:
    """Return a normal distribution with the given mean and standard error.

    Use it for quantities that may be negative (a net saving, a regression coefficient).
    Raises :class:`DataError` when ``se`` is not positive or either is not a finite number.
    """
    return NormalParameter(mu=_number(mean, "mean"), sigma=_positive_se(se))

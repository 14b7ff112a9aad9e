"""Reliable and clinically significant change (Jacobson and Truax, 1991).

For a standardised measure such as the SDQ, a family's change between Time 1 and Time 2 is
*reliable* when it is larger than measurement error alone would plausibly produce, and
*clinically significant* when, in addition, the family moved from the dysfunctional to the
functional range. :func:`reliable_change` classifies each family and gives the share reliably
improved, unchanged, deteriorated (and recovered) overall and by group, with Wilson intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._results import Result, Summary
from sosstats._validate import (
    as_list,
    check_columns,
    check_frame,
    check_level,
    check_numeric_columns,
    check_option,
)
from sosstats.errors import DataError, DesignError

__all__ = ["ReliableChangeResult", "reliable_change", "jacobson_truax_cutoffs",
           "wilson_interval"]

RELIABLE_LEVELS = ("deteriorated", "no reliable change", "improved")
CLINICAL_LEVELS = ("deteriorated", "no reliable change", "improved", "recovered")


def wilson_interval(count: Any, n: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    r"""Wilson score interval for a binomial proportion ``count / n`` (arrays broadcast).

    .. math:: \frac{\hat p + z^2/2n \pm z\sqrt{\hat p(1-\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
    inference. *JASA* 22(158), 209-212.
    """
    count = np.asarray(count, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = count / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def jacobson_truax_cutoffs(functional: tuple[float, float] | None,
                           dysfunctional: tuple[float, float] | None, *,
                           better: Literal["higher", "lower"] = "higher") -> dict[str, float]:
    r"""Jacobson-Truax cut-offs a, b and c from population means and SDs.

    Parameters
    ----------
    functional, dysfunctional : (mean, sd) or None
        The functional (normative) and dysfunctional populations.
    better : {"higher", "lower"}
        Direction of a better score (``"lower"`` for the SDQ).

    Returns
    -------
    dict
        Keys ``"a"`` (two SDs beyond the dysfunctional mean, towards functioning), ``"b"``
        (two SDs inside the functional mean) and ``"c"`` (the point equally many SDs from
        both means), each present when its inputs are given.

    Notes
    -----
    With :math:`s = +1` when higher is better and :math:`-1` otherwise,
    :math:`a = M_d + 2 s S_d`, :math:`b = M_f - 2 s S_f` and
    :math:`c = (S_d M_f + S_f M_d) / (S_d + S_f)` (Jacobson and Truax, 1991, p. 13).
    """
    check_option(better, ("higher", "lower"), "better")
    sign = 1.0 if better == "higher" else -1.0
    out: dict[str, float] = {}
    pops = {}
    for name, pop in (("functional", functional), ("dysfunctional", dysfunctional)):
        if pop is None:
            continue
        try:
            mean, sd = (float(v) for v in pop)
        except (TypeError, ValueError) as exc:
            raise DataError(f"`{name}` must be a (mean, sd) pair; got {pop!r}.") from exc
        if not (np.isfinite(mean) and np.isfinite(sd) and sd > 0):
            raise DataError(f"`{name}` needs a finite mean and a positive SD; got {pop!r}.")
        pops[name] = (mean, sd)
    if "dysfunctional" in pops:
        m_d, s_d = pops["dysfunctional"]
        out["a"] = m_d + 2 * sign * s_d
    if "functional" in pops:
        m_f, s_f = pops["functional"]
        out["b"] = m_f - 2 * sign * s_f
    if len(pops) == 2:
        out["c"] = (s_d * m_f + s_f * m_d) / (s_d + s_f)
    return out


@dataclass(frozen=True, eq=False)
class ReliableChangeResult(Result):
    r"""Reliable change classification of every unit, and the shares by category.

    The estimates (``params``, ``tidy()``...) are the overall shares ``improved``,
    ``no reliable change``, ``deteriorated`` and, with a cut-off, ``recovered`` (reliably
    improved *and* moved from the dysfunctional to the functional side; a subset of
    ``improved``), with binomial standard errors and Wilson intervals.

    Attributes
    ----------
    units : pandas.DataFrame
        One row per unit used (index of ``data``): ``before, after, change, rci, reliable``
        and, with a cut-off, ``functional_before, functional_after, clinical``; plus ``by``.
    se_diff : float
        Standard error of the difference, :math:`SD\sqrt{2(1-r)}`.
    critical : float
        Critical value of the RCI (1.96 at level 0.95).
    cutoff : float or None
        The clinical cut-off used.
    """

    units: pd.DataFrame = field(repr=False)
    se_diff: float
    critical: float
    sd: float
    reliability: float
    better: str
    cutoff: float | None
    by: tuple[str, ...]
    nobs: int
    n_dropped: int
    method: str = "Jacobson-Truax reliable change"
    level: float = 0.95

    def _categories(self) -> list[str]:
        cats = ["improved", "no reliable change", "deteriorated"]
        return cats + (["recovered"] if self.cutoff is not None else [])

    def _counts(self, frame: pd.DataFrame) -> np.ndarray:
        counts = [(frame["reliable"] == c).sum() for c in self._categories()[:3]]
        if self.cutoff is not None:
            counts.append((frame["clinical"] == "recovered").sum())
        return np.asarray(counts, dtype=float)

    def _estimates(self) -> pd.DataFrame:
        counts = self._counts(self.units)
        n = float(self.nobs)
        share = counts / n
        return pd.DataFrame({"estimate": share, "std_error": np.sqrt(share * (1 - share) / n),
                             "statistic": np.nan, "p_value": np.nan, "count": counts.astype(int),
                             "n": int(n)}, index=pd.Index(self._categories(), name="term"))

    def _interval(self, level: float) -> pd.DataFrame:
        est = self._estimates()
        lo, hi = wilson_interval(est["count"], est["n"], level)
        return pd.DataFrame({"lower": lo, "upper": hi}, index=est.index)

    def by_group(self, level: float = 0.95) -> pd.DataFrame:
        """Shares per group of ``by`` (and overall if no ``by``), with Wilson intervals.

        Returns a long frame: the ``by`` columns, ``category``, ``count``, ``n``, ``share``,
        ``ci_lower``, ``ci_upper``.
        """
        level = check_level(level)
        keys = list(self.by)
        groups = self.units.groupby(keys, observed=True, sort=True) if keys else \
            [((), self.units)]
        rows = []
        for key, frame in groups:
            key = key if isinstance(key, tuple) else (key,)
            counts = self._counts(frame)
            lo, hi = wilson_interval(counts, len(frame), level)
            for j, cat in enumerate(self._categories()):
                rows.append({**dict(zip(keys, key)), "category": cat, "count": int(counts[j]),
                             "n": len(frame), "share": counts[j] / len(frame),
                             "ci_lower": lo[j], "ci_upper": hi[j]})
        return pd.DataFrame(rows)

    def summary(self, level: float | None = None) -> Summary:
        """Printable summary: shares, binomial SEs, Wilson intervals, counts.

        The shares have no test, so the all-NaN ``statistic`` and ``p_value`` columns of
        ``tidy()`` are left out of the printed table.
        """
        out = super().summary(level)
        return Summary(out.title, out.table.drop(columns=["statistic", "p_value"]), out.notes)

    def _notes(self) -> list[str]:
        cut = "" if self.cutoff is None else f"; clinical cut-off {self.cutoff:.4g}"
        return [f"SEdiff = {self.se_diff:.4g} (SD {self.sd:.4g}, reliability "
                f"{self.reliability:.3g}); |RCI| > {self.critical:.3g}; {self.better} is "
                f"better{cut}.",
                f"{self.nobs} units, {self.n_dropped} dropped for missing values; Wilson "
                "intervals (units treated as independent)."]

    def plot(self, ax: Any = None) -> Any:
        """Jacobson-Truax plot: before against after, with the reliable-change band.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn into: ``ax`` when given, else a new figure's.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 5))
        u = self.units
        for cat, colour in zip(RELIABLE_LEVELS, ("tab:red", "grey", "tab:green")):
            sel = u["reliable"] == cat
            ax.scatter(u.loc[sel, "before"], u.loc[sel, "after"], s=12, c=colour, label=cat)
        lo = float(min(u["before"].min(), u["after"].min()))
        hi = float(max(u["before"].max(), u["after"].max()))
        grid = np.array([lo, hi])
        band = self.critical * self.se_diff
        ax.plot(grid, grid, color="black", lw=0.8)
        ax.plot(grid, grid + band, color="black", lw=0.8, ls="--")
        ax.plot(grid, grid - band, color="black", lw=0.8, ls="--")
        if self.cutoff is not None:
            ax.axhline(self.cutoff, color="tab:blue", lw=0.8, ls=":")
            ax.axvline(self.cutoff, color="tab:blue", lw=0.8, ls=":")
        ax.set_xlabel("before")
        ax.set_ylabel("after")
        ax.legend(frameon=False, fontsize="small")
        return ax


def reliable_change(data: pd.DataFrame, before: str, after: str, *, reliability: float,
                    sd: float | None = None, better: Literal["higher", "lower"] = "higher",
                    cutoff: float | Literal["a", "b", "c"] | None = None,
                    functional: tuple[float, float] | None = None,
                    dysfunctional: tuple[float, float] | None = None,
                    by: str | Sequence[str] | None = None, level: float = 0.95,
                    missing: Literal["drop", "raise"] = "drop") -> ReliableChangeResult:
    r"""Jacobson-Truax reliable change index and clinically significant change.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide data, one row per unit (family).
    before, after : str
        Numeric scores at Time 1 and Time 2.
    reliability : float
        Test-retest (or internal consistency) reliability :math:`r_{xx}` of the measure, in
        [0, 1).
    sd : float, optional
        SD of the measure (normative or pre-treatment); default the sample SD of ``before``
        over the units used.
    better : {"higher", "lower"}
        Which direction is improvement (``"lower"`` for the SDQ total difficulties score).
    cutoff : float or {"a", "b", "c"}, optional
        Clinical cut-off: a number on the measure's scale, or a Jacobson-Truax criterion
        computed from ``functional`` / ``dysfunctional`` (see :func:`jacobson_truax_cutoffs`).
    functional, dysfunctional : (mean, sd), optional
        Population means and SDs for the criteria; ``dysfunctional`` defaults to the mean and
        SD of ``before`` (the pre-treatment sample, as Jacobson and Truax do).
    by : str or sequence of str, optional
        Grouping columns for :meth:`ReliableChangeResult.by_group`.
    level : float
        Level of the RCI criterion (critical value :math:`z_{(1+level)/2}` = 1.96 at 0.95) and
        of the intervals.
    missing : {"drop", "raise"}
        Rows with a missing score are dropped (counted) or raise.

    Returns
    -------
    ReliableChangeResult

    Notes
    -----
    :math:`RCI_i = (x_{2i} - x_{1i}) / S_{diff}` with :math:`S_{diff} = \sqrt{2 S_E^2} =
    SD \sqrt{2} \sqrt{1 - r_{xx}}` (:math:`S_E = SD\sqrt{1 - r_{xx}}`, the standard error of
    measurement). A unit reliably improved when its RCI, signed so that positive is better,
    exceeds the critical value, deteriorated when it is below minus it, otherwise shows no
    reliable change. With a cut-off, a reliably improved unit that starts on the
    dysfunctional side and ends strictly on the functional side is *recovered*. Shares get
    Wilson intervals, which treat units as independent (families nested in workers and pilots
    make them too narrow).

    References
    ----------
    Jacobson, N. S. and Truax, P. (1991). Clinical significance: a statistical approach to
    defining meaningful change in psychotherapy research. *Journal of Consulting and Clinical
    Psychology* 59(1), 12-19.
    """
    data = check_frame(data)
    level = check_level(level)
    check_option(better, ("higher", "lower"), "better")
    check_option(missing, ("drop", "raise"), "missing")
    if isinstance(reliability, bool) or not isinstance(reliability, (int, float, np.number)) \
            or not 0 <= float(reliability) < 1:
        raise DataError(f"`reliability` must be a number in [0, 1); got {reliability!r}.")
    keys = as_list(by)
    check_columns(data, [before, after, *keys])
    values = check_numeric_columns(data, [before, after], allow_nan=True)
    keep = ~np.isnan(values).any(axis=1)
    n_dropped = int((~keep).sum())
    if n_dropped and missing == "raise":
        raise DataError(f"{n_dropped} rows have {before!r} or {after!r} missing; drop them or "
                        "use missing='drop'.")
    if keys:
        bad = [k for k in keys if data.loc[keep, k].isna().any()]
        if bad:
            raise DataError(f"grouping column {', '.join(map(repr, bad))} has missing values.")
    x1, x2 = values[keep, 0], values[keep, 1]
    n = x1.size
    if n == 0:
        raise DataError(f"no row has both {before!r} and {after!r} observed.")
    if sd is None:
        if n < 2:
            raise DesignError("the sample SD needs at least two units; pass `sd`.")
        sd_value = float(np.std(x1, ddof=1))
    else:
        sd_value = float(sd)
    if not (np.isfinite(sd_value) and sd_value > 0):
        raise DataError(f"the SD of the measure must be positive; got {sd_value!r}"
                        f"{' (the sample SD of ' + repr(before) + ')' if sd is None else ''}.")
    se_diff = sd_value * np.sqrt(2.0) * np.sqrt(1.0 - float(reliability))
    crit = float(stats.norm.ppf(0.5 + level / 2))
    sign = 1.0 if better == "higher" else -1.0
    rci = (x2 - x1) / se_diff
    gain = sign * rci
    reliable = np.where(gain > crit, "improved",
                        np.where(gain < -crit, "deteriorated", "no reliable change"))
    units = pd.DataFrame({"before": x1, "after": x2, "change": x2 - x1, "rci": rci,
                          "reliable": pd.Categorical(reliable, categories=RELIABLE_LEVELS)},
                         index=data.index[keep])

    cut_value: float | None = None
    if cutoff is not None:
        if isinstance(cutoff, str):
            check_option(cutoff, ("a", "b", "c"), "cutoff")
            dys = dysfunctional if dysfunctional is not None else (float(np.mean(x1)), sd_value)
            cuts = jacobson_truax_cutoffs(functional, dys, better=better)
            if cutoff not in cuts:
                raise DataError(f"cut-off {cutoff!r} needs `functional=(mean, sd)`.")
            cut_value = cuts[cutoff]
        else:
            cut_value = float(cutoff)
            if not np.isfinite(cut_value):
                raise DataError(f"`cutoff` must be finite; got {cutoff!r}.")
        f1 = sign * (x1 - cut_value) > 0
        f2 = sign * (x2 - cut_value) > 0
        clinical = np.where((reliable == "improved") & ~f1 & f2, "recovered", reliable)
        units["functional_before"] = f1
        units["functional_after"] = f2
        units["clinical"] = pd.Categorical(clinical, categories=CLINICAL_LEVELS)
    for k in keys:
        units[k] = data.loc[keep, k]
    return ReliableChangeResult(units=units, se_diff=float(se_diff), critical=crit,
                                sd=sd_value, reliability=float(reliability), better=better,
                                cutoff=cut_value, by=tuple(keys), nobs=n, n_dropped=n_dropped,
                                level=level)

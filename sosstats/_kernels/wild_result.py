"""The result of :func:`sosstats._kernels.wild.wild_cluster_bootstrap` and how its p-value prints.

A wild bootstrap p-value of 0 (no replicate beyond ``|t|``) prints as its floor,
``"< 0.001 (all 1,024 sign vectors)"``, never ``0.0000``; :func:`tie_note` states the tie
convention in words for every summary that shows such p-values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sosstats._results import Summary, TableResult, format_number

__all__ = ["WildBootResult", "pvalue_floor", "pvalue_text", "pvalues_as_text", "tie_note"]


@dataclass(frozen=True, eq=False)
class WildBootResult(TableResult):
    """Result of :func:`wild_cluster_bootstrap` for one coefficient (a one-row table).

    Attributes
    ----------
    estimate : float
        The OLS / WLS coefficient of ``term``.
    statistic : float
        Its CR1 t-statistic for H0: ``beta[term] = null``.
    p_value : float
        Symmetric two-sided bootstrap p-value, ``#{b: |t*_b| > |t|} / B``; ties (``|t*_b|``
        within a relative 1e-10 of ``|t|``) are not counted, so the sign vector that
        reproduces the sample never counts and the smallest p-value is 0. It prints as
        ``"< 0.001 (all 1,024 sign vectors)"`` (see :func:`pvalue_text`), never 0.
    ci_lower, ci_upper : float
        Confidence interval by test inversion (``nan`` when ``ci=False``; ``-inf`` / ``inf``
        when the bootstrap cannot reject arbitrarily distant nulls on that side).
    n_resamples : int
        ``B``: the number of replicates actually used (``2**G`` when enumerated).
    enumerated : bool
        Whether every weight vector was enumerated (``2**G`` Rademacher or ``6**G`` Webb; the
        p-value is then exact).
    weight_type : str
        ``"rademacher"``, ``"webb"``, ``"mammen"`` or ``"normal"``.
    t_star : numpy.ndarray
        The ``B`` bootstrap t-statistics under the null (CR1 standard errors).
    std_error : float
        CR1 standard error of the estimate.
    null : float
        The hypothesised value.
    n_clusters : int
        ``G``.
    level : float
        The confidence level of the interval.
    term : int
        The column of ``X`` tested.
    nobs : int
        Rows used.

    ``tidy()``, ``summary()``, ``to_dict()`` and ``str()`` come from
    :class:`~sosstats._results.TableResult`; ``tidy()`` keeps the number, ``summary()`` prints
    the p-value as text.
    """

    estimate: float
    statistic: float
    p_value: float
    ci_lower: float
    ci_upper: float
    n_resamples: int
    enumerated: bool
    weight_type: str
    t_star: np.ndarray = field(repr=False)
    std_error: float = float("nan")
    null: float = 0.0
    n_clusters: int = 0
    level: float = 0.95
    term: int = 0
    nobs: int = 0
    method: str = "wild cluster restricted bootstrap"

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return pd.DataFrame({"estimate": [self.estimate], "std_error": [self.std_error],
                             "statistic": [self.statistic], "p_value": [self.p_value],
                             "ci_lower": [self.ci_lower], "ci_upper": [self.ci_upper],
                             "null": [self.null], "n_resamples": [int(self.n_resamples)],
                             "enumerated": [bool(self.enumerated)],
                             "n_clusters": [int(self.n_clusters)]},
                            index=pd.Index([self.term], name="term"))

    def summary(self, level: float | None = None) -> Summary:
        """Printable table; the p-value as text (its floor when no replicate exceeds ``|t|``)."""
        return Summary(self._title(), pvalues_as_text(self._table(level), self.weight_type),
                       self._notes())

    def _notes(self) -> list[str]:
        return [tie_note(self.n_resamples, self.enumerated, self.weight_type),
                f"{self.nobs:,} rows, {self.n_clusters} clusters; CR1 standard error; "
                f"interval by test inversion at level {self.level:g}."]


def _support_name(n_resamples: int, weight_type: str | None) -> str:
    """``"all 1,024 sign vectors"`` (Rademacher) / ``"all 7,776 Webb weight vectors"``."""
    if weight_type == "webb":
        return f"all {int(n_resamples):,} Webb weight vectors"
    return f"all {int(n_resamples):,} sign vectors"


def pvalue_floor(n_resamples: int) -> float:
    """Return the bound a p-value of 0 is reported below: ``1 / B``.

    ``B = 2**G`` or ``6**G`` when enumerated. With ties not counted (:func:`tie_note`)
    ``p = 0`` means no replicate's statistic is more extreme than the sample's, so the exact
    p-value is below ``1 / B``.
    """
    return 1.0 / int(n_resamples)


def pvalue_text(p_value: float, n_resamples: int, enumerated: bool, *,
                weight_type: str | None = None, fraction: bool = False) -> str:
    """Format a wild bootstrap p-value: the number, or its floor when it is 0.

    ``p = 0`` means no replicate's ``|t*|`` exceeded ``|t|``: the p-value is below ``1 / B``,
    printed as ``"< 0.001 (all 1,024 sign vectors)"`` (enumerated) or
    ``"< 0.0002 (9,999 draws)"`` (sampled); ``1 / B`` is rounded up to one significant digit.
    With ``fraction=True`` the floor is the exact fraction, ``"< 1/1,024 (all 1,024 sign
    vectors)"``. ``weight_type`` names the enumerated support (``"all 1,024 Rademacher sign
    vectors"``, ``"all 7,776 Webb weight vectors"``); left ``None`` it reads "sign vectors".
    """
    if not np.isfinite(p_value):
        return "nan"
    if p_value > 0:
        return format_number(float(p_value))
    what = (_support_name(n_resamples, weight_type) if enumerated
            else f"{int(n_resamples):,} draws")
    if fraction:
        return f"< 1/{int(n_resamples):,} ({what})"
    floor = pvalue_floor(n_resamples)
    exp = int(np.floor(np.log10(floor)))
    digit = int(np.ceil(floor / 10.0 ** exp - 1e-9))
    if digit >= 10:
        digit, exp = 1, exp + 1
    bound = np.format_float_positional(digit * 10.0 ** exp, trim="-")
    return f"< {bound} ({what})"


def pvalues_as_text(table: pd.DataFrame, weight_type: str | None = None, *,
                    fraction: bool = False) -> pd.DataFrame:
    """Copy a table with ``p_value``, ``n_resamples`` and ``enumerated`` columns for printing.

    The p-values are replaced by :func:`pvalue_text` strings; ``weight_type`` and ``fraction``
    are passed on.
    """
    out = table.copy()
    out["p_value"] = [pvalue_text(p, b, e, weight_type=weight_type, fraction=fraction)
                      for p, b, e in
                      zip(table["p_value"], table["n_resamples"], table["enumerated"])]
    return out


def tie_note(n_resamples: int, enumerated: bool, weight_type: str,
             statistic: str = "|t*| > |t|") -> str:
    """State the p-value convention in words, for a summary's notes.

    ``statistic`` is the comparison counted: ``"|t*| > |t|"`` for one coefficient,
    ``"W* > W"`` for a joint Wald test (:mod:`sosstats._kernels.wild_joint`).
    """
    if enumerated:
        name = "Webb weight vectors" if weight_type == "webb" else "Rademacher sign vectors"
        source = f"all {int(n_resamples):,} {name} (enumerated; exact)"
    else:
        source = f"{int(n_resamples):,} drawn {weight_type} weight vectors"
    lhs, _, rhs = statistic.partition(" > ")
    vector = "sign vector" if weight_type == "rademacher" else "weight vector"
    return (f"p-value: share of {source} with {statistic}; ties ({lhs} within a relative "
            f"1e-10 of {rhs}, such as the {vector} that reproduces the sample) are not "
            "counted, so p = 0 is possible and prints as < 1/B.")

"""Result objects of the agreement statistics (private; re-exported by ``survey.agreement``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import Result, TableResult, format_number

__all__ = ["AgreementResult", "CohenKappaResult", "AgreementTable"]


@dataclass(frozen=True, eq=False, kw_only=True)
class AgreementResult(Result):
    """One agreement coefficient with its analytic and cluster-bootstrap intervals.

    ``tidy()`` has one row (``term`` is the coefficient: ``kappa``, ``AC1``, ``alpha``...)
    with ``estimate``, ``std_error`` (analytic), ``statistic`` and ``p_value`` (test of no
    agreement beyond chance), ``ci_lower``/``ci_upper`` (analytic: estimate +/- t or z times
    the standard error, the upper bound capped at 1), then ``df``, ``p_observed``,
    ``p_expected``, ``nobs``, ``boot_se``, ``boot_lower`` and ``boot_upper`` (percentile
    interval of the bootstrap that resamples clusters, or cases when there are none).

    Attributes
    ----------
    estimate, std_error, test_statistic, p_value, df : float
        The coefficient, its analytic standard error, the test statistic, its two-sided
        p-value and the reference degrees of freedom (``inf`` for the normal).
    p_observed, p_expected : float
        Observed and chance agreement (``1 - D_o`` and ``1 - D_e`` scaled to agreement for
        Krippendorff's alpha).
    nobs, n_dropped, n_raters : int
        Subjects used, rows left out (missing ratings), rater columns.
    levels : tuple
        The rating levels in order.
    weights : str
        ``"identity"``, ``"linear"``, ``"quadratic"`` or the alpha metric.
    cluster : str or None; n_clusters : int or None
        Cluster column and its number of clusters.
    inference : str
        How the analytic standard error was computed (printed in the summary).
    boot : numpy.ndarray
        The bootstrap replicates (NaN-free), empty with ``n_resamples=0``.
    n_resamples : int; rng : object
        Bootstrap size and the ``rng`` argument as given (an int seed reproduces the numbers).
    """

    method: str
    term: str
    estimate: float
    std_error: float
    test_statistic: float
    p_value: float
    df: float
    p_observed: float
    p_expected: float
    nobs: int
    n_dropped: int
    n_raters: int
    levels: tuple[Any, ...]
    weights: str
    cluster: str | None
    n_clusters: int | None
    inference: str
    level: float = 0.95
    boot: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    n_resamples: int = 0
    n_boot_failed: int = 0
    rng: Any = None

    def _estimates(self) -> pd.DataFrame:
        boot_se = float(np.std(self.boot, ddof=1)) if self.boot.size > 1 else np.nan
        return pd.DataFrame({"estimate": [self.estimate], "std_error": [self.std_error],
                             "statistic": [self.test_statistic], "p_value": [self.p_value],
                             "df": [self.df], "p_observed": [self.p_observed],
                             "p_expected": [self.p_expected], "nobs": [int(self.nobs)],
                             "boot_se": [boot_se]},
                            index=pd.Index([self.term], name="term"))

    def _interval(self, level: float) -> pd.DataFrame:
        ci = super()._interval(level)
        ci["upper"] = ci["upper"].clip(upper=1.0)
        return ci

    def bootstrap_interval(self, level: float | None = None) -> tuple[float, float]:
        """Percentile interval of the bootstrap replicates at ``level`` (NaN without them)."""
        from sosstats._validate import check_level

        lv = check_level(self.level if level is None else level)
        if self.boot.size < 2:
            return (np.nan, np.nan)
        lo, hi = np.quantile(self.boot, [0.5 - lv / 2, 0.5 + lv / 2])
        return float(lo), float(hi)

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        """Return the one-row table: see the class docstring for the columns."""
        out = super().tidy(level)
        lo, hi = self.bootstrap_interval(level)
        out["boot_lower"] = lo
        out["boot_upper"] = hi
        return out

    def _notes(self) -> list[str]:
        lines = [f"{self.nobs} cases rated by {self.n_raters} raters"
                 + (f" ({self.n_dropped} left out for a missing rating)" if self.n_dropped
                    else "")
                 + f"; levels {', '.join(map(str, self.levels))}; "
                 + ("metric" if self.term == "alpha" else "weights") + f": {self.weights}.",
                 f"observed agreement {self.p_observed:.4f}, chance agreement "
                 f"{self.p_expected:.4f}.",
                 f"Analytic interval: {self.inference}."]
        if self.n_resamples:
            unit = (f"the {self.n_clusters} clusters of {self.cluster!r}" if self.cluster
                    else f"the {self.nobs} cases")
            lo, hi = self.bootstrap_interval()
            seed = (repr(self.rng) if self.rng is None or isinstance(self.rng, (int, np.integer))
                    else f"a {type(self.rng).__name__}")
            lines.append(f"Bootstrap: {self.n_resamples:,} resamples of {unit} (rng={seed})"
                         f", percentile {self.level:.0%} interval [{format_number(lo)}, "
                         f"{format_number(hi)}]"
                         + (f"; {self.n_boot_failed} degenerate resample(s) dropped"
                            if self.n_boot_failed else "") + ".")
        if self.n_clusters is not None and self.n_clusters < 20 and self.n_resamples:
            lines.append(f"With {self.n_clusters} clusters the percentile bootstrap interval "
                         "tends to be too narrow; read it beside the t interval.")
        return lines


@dataclass(frozen=True, eq=False, kw_only=True)
class CohenKappaResult(AgreementResult):
    """Cohen's (weighted) kappa; adds the coder x coder ``table``, its null SE and a heat-map.

    Attributes
    ----------
    table : pandas.DataFrame
        Counts, rows the first coder, columns the second, levels in order.
    std_error_null : float
        Standard error under kappa = 0 (Fleiss, Cohen & Everitt 1969), used for the test when
        there are no clusters.
    """

    table: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    std_error_null: float = np.nan

    def _notes(self) -> list[str]:
        return super()._notes() + ["Coder table (rows first coder, columns second):",
                                   *str(self.table).splitlines()]

    def plot(self, ax: Any = None, *, percent: bool = True) -> Any:
        """Heat-map of the coder x coder table (cells as % of cases, or counts).

        The diagonal (exact agreement) is outlined. Returns the matplotlib Axes.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(5, 4.2))
        t = self.table.to_numpy(dtype=float)
        shown = 100 * t / t.sum() if percent else t
        im = ax.imshow(shown, cmap="Blues", vmin=0)
        k = t.shape[0]
        for i in range(k):          # k x k labels of a small table, not a loop over data
            for j in range(k):
                txt = f"{shown[i, j]:.0f}%" if percent else f"{t[i, j]:.0f}"
                ax.text(j, i, txt, ha="center", va="center",
                        color="white" if shown[i, j] > 0.6 * shown.max() else "black")
            ax.add_patch(_square(i))
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        ax.set_xticklabels(list(map(str, self.table.columns)))
        ax.set_yticklabels(list(map(str, self.table.index)))
        ax.set_xlabel(str(self.table.columns.name))
        ax.set_ylabel(str(self.table.index.name))
        ax.set_title(f"{self.method}: {self.estimate:.3f}")
        ax.figure.colorbar(im, ax=ax, label="% of cases" if percent else "cases")
        return ax


def _square(i: int) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, ec="black", lw=1.2)


@dataclass(frozen=True, eq=False, kw_only=True)
class AgreementTable(TableResult):
    """Several agreement coefficients of the same ratings, one row each (:func:`agreement`).

    ``tidy()`` has a ``method`` column (``"Cohen's kappa"``, ``"Gwet's AC1"``...) and the
    columns of :meth:`AgreementResult.tidy`; ``results`` holds the individual results, keyed
    by the names passed in ``methods``.
    """

    results: dict[str, AgreementResult]
    method: str = "Agreement"
    level: float | None = 0.95

    def _table(self, level: float | None) -> pd.DataFrame:
        from sosstats._validate import check_level

        lv = self.level if level is None else check_level(level)
        frames = [r.tidy(lv) for r in self.results.values()]
        out = pd.concat(frames, ignore_index=True)
        out.insert(0, "method", [r.method for r in self.results.values()])
        return out.set_index("method")

    def _notes(self) -> list[str]:
        first = next(iter(self.results.values()))
        return first._notes()[:1] + [f"{r.term}: {r.inference}" for r in self.results.values()]

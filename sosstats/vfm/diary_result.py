r"""Results of :func:`sosstats.vfm.diary_costs`.

:class:`DiaryCosts` holds the estimates and the worker-bootstrap replicates (drawn by
:func:`sosstats._kernels.resample.resample_group_sums`), :class:`DiaryComparison` the difference
between two groups.
"""


from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._results import Result, Summary
from sosstats.errors import DataError

__all__ = ["DiaryCosts", "DiaryComparison"]

_SINGLE = ("direct_share", "hours_per_worker", "cost_per_worker", "cost_per_direct_hour",
           "cost_per_case")


def _estimands(sums: np.ndarray, n_workers: np.ndarray, n_act: int, direct: np.ndarray
               ) -> np.ndarray:
    """Ratio estimators from group sums ``(..., G, 2A + 1)``; terms on the last axis."""
    minutes, cost, cases = sums[..., :n_act], sums[..., n_act:2 * n_act], sums[..., -1]
    total, total_cost = minutes.sum(-1), cost.sum(-1)
    nw = n_workers.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = minutes / total[..., None]
        dmin = minutes[..., direct].sum(-1) if direct.size else np.full_like(total, np.nan)
        single = [dmin / total, total / 60 / nw, total_cost / nw,
                  np.where(dmin > 0, total_cost / (dmin / 60), np.nan),
                  np.where(cases > 0, total_cost / cases, np.nan)]
    return np.concatenate([shares, np.stack(single, axis=-1), cost / nw[:, None]], axis=-1)


def _term(quantity: str, group: Any, activity: Any, grouped: bool) -> str:
    parts = ([str(group)] if grouped else []) + ([str(activity)] if activity is not None else [])
    return f"{quantity}[{': '.join(parts)}]" if parts else quantity


def _percentile_p(reps: np.ndarray) -> np.ndarray:
    """Two-sided bootstrap p-value of 0: twice the smaller tail share (+1 corrected), <= 1."""
    b = np.sum(~np.isnan(reps), axis=0)
    low, high = np.sum(reps <= 0, axis=0), np.sum(reps >= 0, axis=0)
    return np.minimum(1.0, 2 * (np.minimum(low, high) + 1) / (b + 1))


@dataclass(frozen=True, eq=False, kw_only=True)
class DiaryComparison(Result):
    """Differences between two groups of :class:`DiaryCosts` (``group_a`` minus ``group_b``).

    ``std_error`` is the bootstrap SD of the difference (the groups are resampled
    independently), ``statistic`` the estimate over it; ``p_value`` the percentile-bootstrap
    p-value of no difference (``2 min(#{d* <= 0} + 1, #{d* >= 0} + 1) / (B + 1)``, so it is
    below ``1 - level`` about when the percentile interval excludes 0); ``p_normal`` is
    ``2 Phi(-|statistic|)``.
    """

    group_a: Any
    group_b: Any
    names: tuple
    quantities: tuple
    activities: tuple
    point: np.ndarray
    reps: np.ndarray = field(repr=False)
    nobs: int = 0
    level: float = 0.95
    method: str = "difference between groups (worker bootstrap)"

    def _estimates(self) -> pd.DataFrame:
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.nanstd(self.reps, axis=0, ddof=1)
            z = self.point / se
        out = pd.DataFrame({"estimate": self.point, "std_error": se, "statistic": z,
                            "p_value": _percentile_p(self.reps)}, index=list(self.names))
        out["p_normal"] = 2 * stats.norm.sf(np.abs(z))
        return out

    def _interval(self, level: float) -> pd.DataFrame:
        lo, hi = np.nanquantile(self.reps, [0.5 - level / 2, 0.5 + level / 2], axis=0)
        return pd.DataFrame({"lower": lo, "upper": hi}, index=list(self.names))

    def _notes(self) -> list[str]:
        return [f"{self.group_a} minus {self.group_b}; {self.reps.shape[0]} bootstrap "
                "replicates (workers resampled within each group); percentile intervals."]


@dataclass(frozen=True, eq=False, kw_only=True)
class DiaryCosts(Result):
    """Result of :func:`diary_costs`.

    Attributes
    ----------
    groups : tuple
        Group labels (``("all",)`` without ``by``).
    activities : tuple
        Activities, in category order (else sorted).
    direct : tuple
        Activities counted as direct contact.
    n_workers : numpy.ndarray
        Workers per group.
    workers : pandas.DataFrame
        One row per worker: ``group``, ``minutes``, ``direct_minutes``, ``direct_share``,
        ``hourly_cost``, ``cost`` and ``cases`` (NaN without ``cases``).
    point : numpy.ndarray
        Estimates, shape ``(G, T)``; ``replicates`` has shape ``(B, G, T)``.
    comparison : DiaryComparison or None
        The comparison asked for with ``compare=``.
    """

    groups: tuple
    activities: tuple
    direct: tuple
    by: tuple
    n_workers: np.ndarray
    workers: pd.DataFrame = field(repr=False)
    point: np.ndarray = field(repr=False)
    replicates: np.ndarray = field(repr=False)
    n_resamples: int
    period_hours: float | None
    seed: int | None
    rng_state: dict = field(default_factory=dict, repr=False)
    comparison: DiaryComparison | None = None
    nobs: int = 0
    level: float = 0.95
    method: str = "time diaries (ratio estimators, worker bootstrap)"

    @cached_property
    def _layout(self) -> list[tuple[str, Any]]:
        acts = list(self.activities)
        cases = self.has_cases
        single = [q for q in _SINGLE if (self.direct or "direct" not in q)
                  and (cases or q != "cost_per_case")]
        return ([("share", a) for a in acts] + [(q, None) for q in single]
                + [("cost", a) for a in acts])

    @property
    def has_cases(self) -> bool:
        """Whether caseloads were given (so costs per case were estimated)."""
        return bool(np.isfinite(self.workers["cases"].to_numpy()).any())

    def _names(self) -> list[tuple[str, Any, Any, str]]:
        grouped = bool(self.by)
        return [(q, g, a, _term(q, g, a, grouped)) for g in self.groups for q, a in self._layout]

    def _estimates(self) -> pd.DataFrame:
        names = self._names()
        reps = self.replicates.reshape(self.replicates.shape[0], -1)
        out = pd.DataFrame({"estimate": self.point.ravel(),
                            "std_error": np.nanstd(reps, axis=0, ddof=1),
                            "statistic": np.nan, "p_value": np.nan},
                           index=[n[3] for n in names])
        out["quantity"] = [n[0] for n in names]
        out["group"] = [n[1] for n in names]
        out["activity"] = [n[2] for n in names]
        out["n_workers"] = np.repeat(self.n_workers, len(self._layout))
        return out

    def _interval(self, level: float) -> pd.DataFrame:
        reps = self.replicates.reshape(self.replicates.shape[0], -1)
        with np.errstate(invalid="ignore"):
            lo, hi = np.nanquantile(reps, [0.5 - level / 2, 0.5 + level / 2], axis=0)
        return pd.DataFrame({"lower": lo, "upper": hi}, index=[n[3] for n in self._names()])

    def _table(self, quantity: str, name: str) -> pd.DataFrame:
        t = self.tidy()
        t = t[t["quantity"] == quantity]
        out = t.set_index(["group", "activity"])[["estimate", "std_error", "ci_lower",
                                                  "ci_upper"]]
        return out.rename(columns={"estimate": name})

    @property
    def shares(self) -> pd.DataFrame:
        """Time share of each activity by group: ``share, std_error, ci_lower, ci_upper``."""
        return self._table("share", "share")

    @property
    def costs(self) -> pd.DataFrame:
        """Cost per worker of each activity over the diary period, by group, with intervals."""
        return self._table("cost", "cost_per_worker")

    @property
    def by_group(self) -> pd.DataFrame:
        """One row per group: workers, direct share, hours and costs (point estimates)."""
        t = self.tidy()
        t = t[t["quantity"].isin(_SINGLE)].pivot(index="group", columns="quantity",
                                                  values="estimate")
        out = t.reindex(index=list(self.groups),
                        columns=[q for q, a in self._layout if a is None])
        out.insert(0, "n_workers", self.n_workers)
        return out

    def compare(self, group_a: Any, group_b: Any) -> DiaryComparison:
        """Differences ``group_a - group_b`` of every quantity, with bootstrap inference."""
        idx = []
        for g in (group_a, group_b):
            if g not in self.groups:
                raise DataError(f"group {g!r} is not in this result; groups are "
                                f"{list(self.groups)}.")
            idx.append(self.groups.index(g))
        if idx[0] == idx[1]:
            raise DataError("`compare` needs two different groups.")
        layout = self._layout
        names = tuple(_term(q, f"{group_a} - {group_b}", a, True) for q, a in layout)
        return DiaryComparison(group_a=group_a, group_b=group_b, names=names,
                               quantities=tuple(q for q, _ in layout),
                               activities=tuple(a for _, a in layout),
                               point=self.point[idx[0]] - self.point[idx[1]],
                               reps=self.replicates[:, idx[0]] - self.replicates[:, idx[1]],
                               nobs=int(self.n_workers[idx].sum()), level=self.level)

    def summary(self, level: float | None = None) -> Summary:
        """Estimates with bootstrap SE and percentile interval (no tests: see ``compare``)."""
        table = self.tidy(level).set_index("term")
        return Summary(f"{type(self).__name__}: {self.method}",
                       table[["estimate", "std_error", "ci_lower", "ci_upper", "n_workers"]],
                       self._notes())

    def _notes(self) -> list[str]:
        notes = [f"{self.nobs} workers in {len(self.groups)} group(s); shares are ratios of "
                 f"summed minutes; costs per worker over the diary period; {self.n_resamples} "
                 "bootstrap replicates resampling workers within groups; percentile intervals.",
                 f"direct contact: {', '.join(map(str, self.direct)) or 'not given'}."]
        if not self.has_cases:
            notes.append("No `cases`: cost per case not computed.")
        return notes

    def __str__(self) -> str:
        text = str(self.summary())
        return text if self.comparison is None else text + "\n\n" + str(self.comparison)

    def plot(self, ax: Any = None) -> Any:
        """Stacked horizontal bars of the time shares by group, the axis in per cent.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw into; by default a new figure.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from matplotlib.ticker import PercentFormatter

        from sosstats._plotting import new_axes

        ax = new_axes(ax, figsize=(7, 1.2 + 0.5 * len(self.groups)))
        n_act = len(self.activities)
        left = np.zeros(len(self.groups))
        labels = [str(g) for g in self.groups]
        for j, act in enumerate(self.activities):
            ax.barh(labels, self.point[:, j], left=left, label=str(act))
            left += self.point[:, j]
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlabel("share of recorded time")
        ax.set_title("Time use by activity")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small",
                  ncol=1 if n_act < 12 else 2)
        return ax

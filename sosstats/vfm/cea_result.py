"""The result of :func:`sosstats.vfm.cea`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._kernels.bootstrap_cea import CEAReplicates
from sosstats._results import Result
from sosstats._validate import check_level, check_option
from sosstats.vfm.dominance import QUADRANTS, incremental_analysis, quadrant

__all__ = ["CEAResult"]


@dataclass(frozen=True, eq=False, kw_only=True)
class CEAResult(Result):
    """Result of :func:`sosstats.vfm.cea`.

    Attributes
    ----------
    options : tuple
        The options, reference first, then the others in sorted order.
    reference : object
        The comparator; increments are "option minus reference".
    wtp : numpy.ndarray
        Willingness-to-pay thresholds.
    n_resamples, nobs, n_dropped : int
        Replicates; rows used; rows left out for a zero weight.
    n_dropped_missing : int
        Of the ``n_dropped`` rows, those with a missing (or infinite) cost or effect.
    n_units, n_clusters : numpy.ndarray
        Rows (and clusters, None without ``cluster``) per option.
    point_cost, point_effect : numpy.ndarray
        Mean cost and effect of each option (ratio estimators).
    seed, rng_state
        The integer seed (None otherwise) and the Generator state before resampling.
    """

    options: tuple
    reference: Any
    cost_column: str
    effect_column: str
    group_column: str
    cluster: str | None
    weights: str | None
    wtp: np.ndarray
    n_resamples: int
    nobs: int
    n_dropped: int
    n_units: np.ndarray
    n_clusters: np.ndarray | None
    point_cost: np.ndarray
    point_effect: np.ndarray
    n_dropped_missing: int = 0
    seed: int | None = None
    rng_state: dict = field(default_factory=dict, repr=False)
    level: float = 0.95
    method: str = "cost-effectiveness (non-parametric bootstrap)"
    _reps: CEAReplicates | None = field(default=None, repr=False)

    # -- tables ---------------------------------------------------------------------------
    @property
    def _others(self) -> list[Any]:
        return list(self.options[1:])

    @property
    def _index(self) -> pd.Index:
        return pd.Index(self.options, name="option")

    @property
    def replicates(self) -> pd.DataFrame:
        """Bootstrap replicates of mean cost and effect: columns (``cost``/``effect``, option)."""
        cols = pd.MultiIndex.from_product([["cost", "effect"], list(self.options)],
                                          names=["quantity", "option"])
        return pd.DataFrame(np.hstack([self._reps.cost, self._reps.effect]), columns=cols)

    @property
    def means(self) -> pd.DataFrame:
        """Per option: ``cost``, ``cost_se``, ``effect``, ``effect_se``, ``n_units`` (clusters)."""
        out = pd.DataFrame({"cost": self.point_cost, "cost_se": self._reps.cost.std(0, ddof=1),
                            "effect": self.point_effect,
                            "effect_se": self._reps.effect.std(0, ddof=1),
                            "n_units": self.n_units}, index=self._index)
        if self.n_clusters is not None:
            out["n_clusters"] = self.n_clusters
        return out

    @property
    def increments(self) -> pd.DataFrame:
        """Per option against the reference: increments, ICER, quadrant and replicate shares.

        Columns ``delta_cost``, ``delta_effect``, ``icer`` (NaN when ``delta_effect`` is 0),
        ``quadrant`` and ``meaning`` (see :data:`sosstats.vfm.QUADRANTS`), and the share of
        replicates in each quadrant (``share_NE`` ... ``share_none``).
        """
        dc = self.point_cost[1:] - self.point_cost[0]
        de = self.point_effect[1:] - self.point_effect[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            icer = np.where(de != 0, dc / np.where(de != 0, de, 1.0), np.nan)
        quad = quadrant(dc, de)
        out = pd.DataFrame({"delta_cost": dc, "delta_effect": de, "icer": icer,
                            "quadrant": quad, "meaning": [QUADRANTS[q] for q in quad]},
                           index=pd.Index(self._others, name="option"))
        rq = quadrant(self._reps.d_cost[:, 1:], self._reps.d_effect[:, 1:])
        for q in ("NE", "SE", "SW", "NW", "none"):
            out[f"share_{q}"] = (rq == q).mean(axis=0)
        return out

    @property
    def icer(self) -> pd.Series:
        """ICER of each option against the reference (NaN when undefined)."""
        return self.increments["icer"]

    @property
    def frontier(self) -> pd.DataFrame:
        """Incremental analysis of the point estimates: dominance and extended dominance."""
        return incremental_analysis(self.point_cost, self.point_effect, self.options)

    @property
    def ceac(self) -> pd.DataFrame:
        """Cost-effectiveness acceptability curves: P(option has the highest NMB), by WTP."""
        return pd.DataFrame(self._reps.ceac, index=pd.Index(self.wtp, name="wtp"),
                            columns=self._index)

    @property
    def ceaf(self) -> pd.DataFrame:
        """Acceptability frontier: the option with the highest expected NMB and its probability."""
        best = self._reps.best
        k = np.arange(self.wtp.size)
        return pd.DataFrame({"option": [self.options[j] for j in best],
                             "probability": self._reps.ceac[k, best],
                             "expected_nmb": self._reps.nmb_mean[k, best]},
                            index=pd.Index(self.wtp, name="wtp"))

    @property
    def evpi(self) -> pd.Series:
        """Expected value of perfect information per person, by WTP (never negative)."""
        return pd.Series(self._reps.evpi, index=pd.Index(self.wtp, name="wtp"), name="evpi")

    def nmb(self, level: float | None = None) -> pd.DataFrame:
        """Net monetary benefit by WTP and option, with intervals for the increment.

        Returns a long DataFrame: ``wtp``, ``option``, ``nmb`` (``wtp * effect - cost`` at
        the point estimates), ``incremental_nmb`` (against the reference) and its percentile
        interval ``ci_lower``, ``ci_upper`` (NaN for the reference).
        """
        level = check_level(self.level if level is None else level)
        nmb = self.wtp[:, None] * self.point_effect - self.point_cost
        inc = nmb - nmb[:, [0]]
        if np.isclose(level, self.level) and self._reps.nmb_quantiles is not None:
            lo, hi = self._reps.nmb_quantiles
        else:
            lo = np.zeros_like(nmb)
            hi = np.zeros_like(nmb)
            probs = [0.5 - level / 2, 0.5 + level / 2]
            for j in range(1, len(self.options)):
                rep = self.wtp[None, :] * self._reps.d_effect[:, [j]] - self._reps.d_cost[:, [j]]
                lo[:, j], hi[:, j] = np.quantile(rep, probs, axis=0)
        lo, hi = lo.copy(), hi.copy()
        lo[:, 0] = hi[:, 0] = np.nan
        k, g = nmb.shape
        return pd.DataFrame({"wtp": np.repeat(self.wtp, g),
                             "option": np.tile(np.array(self.options, dtype=object), k),
                             "nmb": nmb.ravel(), "incremental_nmb": inc.ravel(),
                             "ci_lower": lo.ravel(), "ci_upper": hi.ravel()})

    # -- Result protocol ------------------------------------------------------------------
    def _rows(self) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
        """Term names, point estimates, replicates (B x terms) and kinds."""
        names, est, reps, kinds = [], [], [], []
        r = self._reps
        for j, o in enumerate(self.options):
            names += [f"cost[{o}]", f"effect[{o}]"]
            est += [self.point_cost[j], self.point_effect[j]]
            reps += [r.cost[:, j], r.effect[:, j]]
            kinds += ["level", "level"]
        inc = self.increments
        for j, o in enumerate(self._others, start=1):
            tag = f"{o} vs {self.reference}"
            names += [f"delta_cost[{tag}]", f"delta_effect[{tag}]", f"icer[{tag}]"]
            est += [inc.loc[o, "delta_cost"], inc.loc[o, "delta_effect"], inc.loc[o, "icer"]]
            reps += [r.d_cost[:, j], r.d_effect[:, j], r.icer[:, j]]
            kinds += ["delta", "delta", "icer"]
        return names, np.array(est, dtype=float), np.column_stack(reps), kinds

    def _estimates(self) -> pd.DataFrame:
        names, est, reps, kinds = self._rows()
        kinds = np.array(kinds)
        se = reps.std(axis=0, ddof=1)
        se[kinds == "icer"] = np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(kinds == "delta", est / se, np.nan)
        out = pd.DataFrame({"estimate": est, "std_error": se, "statistic": z,
                            "p_value": 2 * stats.norm.sf(np.abs(z))}, index=names)
        quad = [None] * len(names)
        inc = self.increments
        for i, name in enumerate(names):
            if kinds[i] == "icer":
                quad[i] = inc["quadrant"].iloc[(i - 2 * len(self.options)) // 3]
        out["quadrant"] = quad
        return out

    def _interval(self, level: float) -> pd.DataFrame:
        names, est, reps, kinds = self._rows()
        probs = [0.5 - level / 2, 0.5 + level / 2]
        lo, hi = np.full(len(names), np.nan), np.full(len(names), np.nan)
        for i, kind in enumerate(kinds):
            col = reps[:, i]
            if kind == "icer":
                j = (i - 2 * len(self.options)) // 3 + 1
                de = self._reps.d_effect[:, j]
                point = self.point_effect[j] - self.point_effect[0]
                if point == 0 or not np.all(np.sign(de) == np.sign(point)):
                    continue
            lo[i], hi[i] = np.quantile(col, probs)
        return pd.DataFrame({"lower": lo, "upper": hi}, index=names)

    def _notes(self) -> list[str]:
        unit = "clusters" if self.cluster else "units"
        notes = [f"Increments are option minus {self.reference!r}; {self.n_resamples} "
                 f"bootstrap replicates resampling {unit} within option"
                 f"{f' ({self.cluster!r})' if self.cluster else ''}; percentile intervals."]
        if self.weights:
            missing = (f" ({self.n_dropped_missing} of them with a missing cost or effect)"
                       if self.n_dropped_missing else "")
            notes.append(f"Weighted ({self.weights!r}) ratio means; {self.n_dropped} rows with "
                         f"weight 0 left out{missing}.")
        inc = self.increments
        for o, row in inc.iterrows():
            notes.append(f"{o}: {row['quadrant']} ({row['meaning']}); replicates NE "
                         f"{row['share_NE']:.0%}, SE {row['share_SE']:.0%}, SW "
                         f"{row['share_SW']:.0%}, NW {row['share_NW']:.0%}.")
            mixed = 0 < row["share_NE"] + row["share_SE"] < 1
            if row["quadrant"] == "none" or mixed:
                notes.append(f"{o}: no ICER interval (replicates on both sides of zero "
                             "effect, or none); read the CEAC and the NMB interval instead.")
        return notes

    def plot(self, ax: Any = None, *, kind: str = "plane", wtp: float | None = None) -> Any:
        """Draw the cost-effectiveness plane, the CEAC with its frontier, or the EVPI curve.

        ``kind`` is ``"plane"``, ``"ceac"`` or ``"evpi"``. ``wtp`` sets the threshold line on
        the plane (default: the middle of the grid). Money axes read in pounds with thousands
        separators (``£20,000``); each option has the same colour on every kind, matching
        the legend.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw into; by default a new figure.
        kind : {"plane", "ceac", "evpi"}
            Which picture.
        wtp : float, optional
            Threshold of the plane's line.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from sosstats.vfm import _plots

        check_option(kind, ("plane", "ceac", "evpi"), "kind")
        if kind == "plane":
            return _plots.plane(self, ax=ax, wtp=wtp)
        if kind == "ceac":
            return _plots.ceac(self, ax=ax)
        return _plots.evpi(self, ax=ax)

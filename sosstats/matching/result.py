r"""The result of :func:`sosstats.matching.match` and the helpers that build its pieces.

Notes
-----
**Weights of nearest-neighbour and optimal matching** (MatchIt's ``weights.matrix``, ATT; the
ATC swaps the groups). A treated unit with at least one match gets weight 1. A control unit
:math:`j` gets :math:`\sum_{i: j \in M_i} 1/|M_i|`, where :math:`M_i` is the set of controls
matched to treated unit :math:`i`; the control weights are then rescaled to sum to the number of
distinct matched controls. With 1:1 matching without replacement every matched unit has weight
1; with replacement a control used by :math:`K` treated units has weight proportional to
:math:`K`. Unmatched units have weight 0, so any weighted statistic on ``.weights`` ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import TableResult, plain

__all__ = ["MatchResult"]  # pair_weights, pairs_frame: the pieces match() builds it from


def _plain_options(value: Any) -> Any:
    """Options as plain Python values: arrays as lists, containers element by element."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return type(value)(_plain_options(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain_options(v) for k, v in value.items()}
    return plain(value)


def pair_weights(matches: np.ndarray, n_other: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the focal units and of the other group from a match matrix.

    Parameters
    ----------
    matches : int ndarray of shape (n_focal, k)
        Positions (among the other group) of each focal unit's matches; -1 for none.
    n_other : int
        Size of the other group.

    Returns
    -------
    w_focal, w_other : ndarray
        MatchIt's weights (module Notes).
    """
    hit = matches >= 0
    k = hit.sum(axis=1)
    w_focal = (k > 0).astype(float)
    rows, cols = np.nonzero(hit)
    w_other = np.bincount(matches[rows, cols], weights=1.0 / k[rows], minlength=n_other)
    total = w_other.sum()
    if total > 0:
        w_other *= np.count_nonzero(w_other) / total
    return w_focal, w_other


def pairs_frame(matches: np.ndarray, dist: np.ndarray, focal_labels: np.ndarray,
                other_labels: np.ndarray, focal_is_treated: bool,
                subclass: np.ndarray | None) -> pd.DataFrame:
    """Long table of matches: treated, control (labels), slot, weight, distance, subclass."""
    hit = matches >= 0
    rows, slot = np.nonzero(hit)
    k = hit.sum(axis=1)
    f = focal_labels[rows]
    o = other_labels[matches[rows, slot]]
    frame = pd.DataFrame({
        "treated": f if focal_is_treated else o,
        "control": o if focal_is_treated else f,
        "slot": slot + 1,
        "weight": 1.0 / k[rows],
        "distance": dist[rows, slot],
    })
    frame["subclass"] = (pd.array(subclass[rows], dtype="Int64") if subclass is not None
                         else pd.array([pd.NA] * rows.size, dtype="Int64"))
    return frame


@dataclass(frozen=True, eq=False, kw_only=True)
class MatchResult(TableResult):
    """Matched sample from :func:`sosstats.matching.match` (frozen).

    A table-style result (:class:`sosstats._results.TableResult`): its table is
    :meth:`sample_sizes`, so ``tidy()``, ``summary()``, ``to_dict()`` and ``str()`` show the
    sample sizes by group, with the options used in the notes; ``plot()`` draws the love plot.

    Attributes
    ----------
    data : DataFrame
        A copy of the input data.
    treatment : str
        Treatment column (0/1).
    covariates : list of str
        Columns matched on (used by :meth:`balance`).
    method : str
        ``"nearest"``, ``"optimal"``, ``"cem"`` or ``"subclass"``.
    estimand : str
        ``"ATT"``, ``"ATC"`` or ``"ATE"``.
    distance : Series or None
        The one-dimensional distance of each unit (propensity score, linear predictor or user
        score), indexed like ``data``; None for Mahalanobis, Euclidean and CEM.
    weights : Series
        MatchIt's matching weights (see the module Notes of ``sosstats.matching.result`` and
        ``_cem``); 0 for every unit outside the matched sample.
    subclass : Series (Int64)
        Pair (nearest/optimal without replacement) or subclass (CEM, subclassification) of each
        matched unit; missing for unmatched units and for matching with replacement.
    pairs : DataFrame or None
        One row per match: ``treated``, ``control`` (index labels of ``data``), ``slot``
        (1..ratio), ``weight`` (the share 1/k of the treated unit's k matches), ``distance``
        and ``subclass``. None for CEM and subclassification.
    discarded : DataFrame
        Every unit outside the matched sample, indexed by its label, with ``group``
        (``"treated"``/``"control"``) and ``reason``.
    caliper : float or None
        The caliper on the distance scale (after converting standard deviations).
    options : dict
        The options used (distance, ratio, replace, order, exact, rng, ...).
    model : object or None
        The fitted propensity-score model (statsmodels) when one was fitted.
    """

    data: pd.DataFrame
    treatment: str
    covariates: list[str]
    method: str
    estimand: str
    distance: pd.Series | None
    weights: pd.Series
    subclass: pd.Series
    pairs: pd.DataFrame | None
    discarded: pd.DataFrame
    caliper: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    model: Any = None

    def __post_init__(self) -> None:
        # plain Python values, so that summary() prints 0.45, not np.float64(0.45)
        object.__setattr__(self, "options", _plain_options(dict(self.options)))

    # -- derived views ----------------------------------------------------------------------
    def _column_name(self, base: str) -> str:
        name = base
        while name in self.data.columns:
            name = f"match_{name}"
        return name

    @property
    def matched(self) -> pd.DataFrame:
        """Rows of ``data`` with positive weight, with ``weights`` and ``subclass`` columns.

        A ``distance`` column is added when the distance is one-dimensional. Names already
        used in ``data`` get a ``match_`` prefix.
        """
        keep = self.weights.to_numpy() > 0
        out = self.data.loc[keep].copy()
        out[self._column_name("weights")] = self.weights[keep]
        out[self._column_name("subclass")] = self.subclass[keep]
        if self.distance is not None:
            out[self._column_name("distance")] = self.distance[keep]
        return out

    @property
    def n_matched(self) -> pd.Series:
        """Number of matched treated and control units (positive weight)."""
        t = self.data[self.treatment].to_numpy() == 1
        w = self.weights.to_numpy() > 0
        return pd.Series({"control": int((w & ~t).sum()), "treated": int((w & t).sum())},
                         name="n_matched")

    @property
    def nobs(self) -> int:
        """Number of units in the matched sample."""
        return int((self.weights.to_numpy() > 0).sum())

    def sample_sizes(self) -> pd.DataFrame:
        r"""Count units by group: all, matched, matched effective size, unmatched, discarded.

        The effective size of a weighted group is :math:`(\sum w)^2 / \sum w^2` (Kish),
        as MatchIt's ``summary()`` reports.
        """
        t = self.data[self.treatment].to_numpy() == 1
        w = self.weights.to_numpy()
        reasons = self.discarded["reason"].reindex(self.data.index)
        support = reasons.str.startswith("outside the common support").fillna(False).to_numpy()
        cols = {}
        for name, g in (("control", ~t), ("treated", t)):
            wg = w[g]
            ess = wg.sum() ** 2 / (wg ** 2).sum() if (wg ** 2).sum() > 0 else 0.0
            cols[name] = [g.sum(), (wg > 0).sum(), ess, (g & (w == 0) & ~support).sum(),
                          (g & support).sum()]
        return pd.DataFrame(cols, index=pd.Index(["all", "matched", "matched (ESS)",
                                                  "unmatched", "discarded"], name="sample"),
                            dtype=float)

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return self.sample_sizes()

    def _title(self) -> str:
        return f"MatchResult: {self.method}"

    def _notes(self) -> list[str]:
        notes = [f"estimand {self.estimand}; " + "; ".join(
            f"{k}={v!r}" for k, v in self.options.items() if v is not None)]
        if self.caliper is not None:
            notes.append(f"caliper on the distance scale: {self.caliper:.6g}")
        return notes

    def __repr__(self) -> str:
        n = self.n_matched
        return (f"MatchResult(method={self.method!r}, estimand={self.estimand!r}, "
                f"matched treated={n['treated']}, matched control={n['control']})")

    # -- diagnostics and effects (sosstats.matching.balance / .effects) ----------------------
    def balance(self, covariates: list[str] | None = None, **kwargs: Any) -> Any:
        """Balance before and after matching (:func:`sosstats.matching.balance.balance_table`).

        Parameters
        ----------
        covariates : list of str, optional
            Columns to check; default the covariates matched on.
        **kwargs
            Passed on (``squares``, ``interactions``, ``s_d_denom``, ...).
        """
        from sosstats.matching.balance import balance_table

        return balance_table(self.data, self.treatment,
                             list(covariates) if covariates is not None else self.covariates,
                             weights=self.weights, subclass=self.subclass,
                             estimand=self.estimand, **kwargs)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Love plot of standardised mean differences before and after matching.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn into: ``ax`` when given, else a new figure's.
        """
        return self.balance(**kwargs).plot(ax=ax)

    def estimate_effect(self, outcome: str, **kwargs: Any) -> Any:
        """Estimate the effect on the matched sample (:func:`.effects.matched_effect`).

        Parameters
        ----------
        outcome : str
            Outcome column of ``data``.
        **kwargs
            ``method`` (``"difference"`` or ``"regression"``), ``covariates``, ``cluster``,
            ``vcov``, ``level``.

        Notes
        -----
        The default standard error follows MatchIt's vignette "Estimating effects after
        matching" (Greifer and Stuart 2023): cluster-robust by pair (CR1, ``cluster=
        "subclass"``) after nearest-neighbour or optimal matching *without* replacement,
        where pairs partition the matched sample (Abadie and Spiess 2022); otherwise
        heteroskedasticity-robust (HC3, ``cluster=None``): after CEM and subclassification,
        whose handful of subclasses are strata, not pairs, and after matching with
        replacement (see also :func:`sosstats.matching.abadie_imbens_se`). Pass ``cluster``
        to override, e.g. ``cluster="subclass"`` or ``cluster="la_code"``.
        """
        from sosstats.matching.effects import matched_effect

        kwargs.setdefault("estimand", self.estimand)
        if "cluster" not in kwargs:
            paired = self.method in ("nearest", "optimal") and not self.options.get("replace")
            kwargs["cluster"] = "subclass" if paired else None
        return matched_effect(self.data, outcome, self.treatment, self.weights, self.subclass,
                              **kwargs)

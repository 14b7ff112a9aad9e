"""Overlap of two neighbour lists: stability across years, recovery of a published list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import TableResult, format_number
from sosstats._validate import check_columns, check_frame, check_int
from sosstats.errors import DataError

__all__ = ["NeighbourOverlap", "neighbour_stability", "neighbour_recovery"]


@dataclass(frozen=True, eq=False)
class NeighbourOverlap(TableResult):
    """Per-LA overlap of two neighbour lists ``a`` (reference) and ``b``.

    A table result: ``tidy()`` is :attr:`per_la`, ``summary()`` prints it with the pooled
    :attr:`totals` as notes.

    Attributes
    ----------
    per_la : pandas.DataFrame
        One row per LA present in both: ``n_a``, ``n_b`` (neighbours listed, at most ``k``),
        ``n_common``, ``share_common`` (``n_common / n_a``), ``jaccard``
        (``|A & B| / |A | B|``), ``mean_abs_rank_change`` (over the common neighbours; NaN
        when there are none) and, for recovery, ``n_in_data`` (of ``a``'s neighbours, how
        many ``b`` could have chosen at all).
    totals : pandas.Series
        ``n_las``, ``k``, ``share_common`` (pooled: total common / total in ``a``),
        ``mean_common`` (per LA), ``mean_jaccard``, ``share_identical`` (LAs with the same
        set), ``mean_abs_rank_change`` and, for recovery, ``chance_share``: the pooled share
        expected if ``b`` drew its ``k`` neighbours at random among the other LAs.
    kind : {"stability", "recovery"}
    """

    per_la: pd.DataFrame
    totals: pd.Series
    kind: str

    @property
    def method(self) -> str:  # type: ignore[override]
        """``"neighbour stability"`` or ``"neighbour recovery"``."""
        return f"neighbour {self.kind}"

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return self.per_la.set_index("la_code")

    def _notes(self) -> list[str]:
        return ["; ".join(f"{key} = {format_number(float(v))}" for key, v in self.totals.items())]


def _table(obj: Any, k: int | None) -> tuple[pd.DataFrame, int, Any]:
    """Tidy ``la_code, neighbour, rank`` of a fit or a table, cut at ``k``."""
    if hasattr(obj, "neighbours_"):
        tab, own_k, ids = obj.neighbours_, obj.k, getattr(obj.ranking, "ids", None)
    elif isinstance(obj, pd.DataFrame):
        check_frame(obj, "neighbours")
        check_columns(obj, ["la_code", "neighbour", "rank"], what="neighbour-list column",
                      name="neighbours")
        if "model" in obj and obj["model"].nunique() > 1:
            raise DataError("neighbour table holds several models; pick one.")
        tab, own_k, ids = obj, int(obj["rank"].max()), None
    else:
        raise DataError("expected a FittedNeighbours result or a table with columns "
                        f"la_code, neighbour, rank; got {type(obj).__name__}.")
    tab = pd.DataFrame({"la_code": tab["la_code"].astype(str).to_numpy(),
                        "neighbour": tab["neighbour"].astype(str).to_numpy(),
                        "rank": tab["rank"].to_numpy()})
    kk = own_k if k is None else k
    return tab[tab["rank"] <= kk], own_k, ids


def _overlap(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    las = pd.Index(pd.unique(a["la_code"])).intersection(pd.unique(b["la_code"]), sort=False)
    a = a[a["la_code"].isin(las)]
    b = b[b["la_code"].isin(las)]
    both = a.merge(b, on=["la_code", "neighbour"], suffixes=("_a", "_b"))
    both["abs_change"] = (both["rank_a"] - both["rank_b"]).abs()
    out = pd.DataFrame(index=pd.Index(las, name="la_code"))
    out["n_a"] = a.groupby("la_code").size().reindex(las).to_numpy()
    out["n_b"] = b.groupby("la_code").size().reindex(las).to_numpy()
    g = both.groupby("la_code")
    out["n_common"] = g.size().reindex(las, fill_value=0).to_numpy()
    out["share_common"] = out["n_common"] / out["n_a"]
    out["jaccard"] = out["n_common"] / (out["n_a"] + out["n_b"] - out["n_common"])
    out["mean_abs_rank_change"] = g["abs_change"].mean().reindex(las).to_numpy()
    return out


def _summary(per: pd.DataFrame, k: int) -> dict[str, float]:
    return {"n_las": float(len(per)), "k": float(k),
            "share_common": per["n_common"].sum() / per["n_a"].sum(),
            "mean_common": per["n_common"].mean(),
            "mean_jaccard": per["jaccard"].mean(),
            "share_identical": float((per["jaccard"] == 1).mean()),
            "mean_abs_rank_change": float(np.nanmean(per["mean_abs_rank_change"]))
            if per["mean_abs_rank_change"].notna().any() else np.nan}


def neighbour_stability(a: Any, b: Any, *, k: int | None = None) -> NeighbourOverlap:
    r"""Compare two neighbour lists LA by LA (two years' fits, two weightings, two models).

    Parameters
    ----------
    a, b : FittedNeighbours or DataFrame
        Fits, or tidy tables ``la_code, neighbour, rank`` (one model).
    k : int, optional
        Compare the first ``k`` neighbours; default the smaller of the two lists' ``k``.

    Returns
    -------
    NeighbourOverlap
        Per LA in both: common neighbours (count, share of ``a``'s), Jaccard index
        :math:`|A \cap B| / |A \cup B|`, mean absolute rank change of the common neighbours.
    """
    if k is not None:
        k = check_int(k, "k", minimum=1)
    ta, ka, _ = _table(a, k)
    tb, kb, _ = _table(b, k)
    kk = min(ka, kb) if k is None else k
    ta, tb = ta[ta["rank"] <= kk], tb[tb["rank"] <= kk]
    per = _overlap(ta, tb)
    if per.empty:
        raise DataError("the two neighbour lists have no LA in common.")
    return NeighbourOverlap(per_la=per.reset_index(), totals=pd.Series(_summary(per, kk)),
                            kind="stability")


def neighbour_recovery(fitted: Any, published: Any, *, k: int | None = None
                       ) -> NeighbourOverlap:
    r"""How many of a published list's first ``k`` neighbours a fit's first ``k`` contain.

    Parameters
    ----------
    fitted : FittedNeighbours
        Our fit (``b``).
    published : DataFrame or FittedNeighbours
        The reference list (``a``), e.g. ``load_statistical_neighbours(model="2021")``.
    k : int, optional
        Default: the fit's ``k``.

    Returns
    -------
    NeighbourOverlap
        ``share_common`` is the share of published neighbours recovered. ``chance_share``:
        a fit choosing ``k`` of its ``n - 1`` other LAs at random recovers, for an LA with
        ``a_i`` of its ``p_i`` published neighbours in the data, ``k a_i / (n - 1)`` of them
        on average; pooled: :math:`\sum_i k a_i / (n - 1) / \sum_i p_i`.
    """
    if k is not None:
        k = check_int(k, "k", minimum=1)
    tb, kb, ids = _table(fitted, k)
    kk = kb if k is None else k
    ta, _, _ = _table(published, kk)
    per = _overlap(ta, tb)
    if per.empty:
        raise DataError("the fit and the published list have no LA in common.")
    if ids is None:
        ids = pd.unique(pd.concat([tb["la_code"], tb["neighbour"]]))
    known = pd.Index(np.asarray(ids, dtype=str))
    ta = ta[ta["la_code"].isin(per.index)]
    avail = ta[ta["neighbour"].isin(known)].groupby("la_code").size()
    per["n_in_data"] = avail.reindex(per.index, fill_value=0).to_numpy()
    n = len(known)
    summ = _summary(per, kk)
    summ["share_of_available"] = per["n_common"].sum() / max(per["n_in_data"].sum(), 1)
    summ["chance_share"] = (kk * per["n_in_data"] / (n - 1)).sum() / per["n_a"].sum()
    return NeighbourOverlap(per_la=per.reset_index(), totals=pd.Series(summ), kind="recovery")

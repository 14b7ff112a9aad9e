"""Plots for change models: coefficient plot and T1 vs T2 means by group.

Matplotlib is imported inside each function so that ``import sosstats`` stays fast.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._validate import check_columns, check_frame, check_level, check_option
from sosstats.errors import DataError, SosstatsWarning

__all__ = ["coefficient_plot", "change_plot", "change_means"]


# how the documents name each kind of inference (``result.inference`` is the lower-case option)
_INFERENCE_NAMES = {"cr0": "CR0", "cr1": "CR1", "cr2": "CR2", "cr3": "CR3",
                    "wild": "wild bootstrap"}


def _axes(ax: Any, **kwargs: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=kwargs.pop("figsize", (6, 4)), **kwargs)
    return ax


def _inference_name(inference: Any) -> str:
    """``'cr2'`` -> ``'CR2'``, ``'wild'`` -> ``'wild bootstrap'``; other text unchanged."""
    return _INFERENCE_NAMES.get(str(inference).lower(), str(inference))


def _readable(column: Any) -> str:
    """Return ``column`` as axis text: underscores to spaces (``sdq_total`` -> ``sdq total``)."""
    return str(column).replace("_", " ")


def _group_order(values: pd.Series) -> list[Any]:
    """Return the groups of ``values`` in legend order.

    A Categorical's category order (ordered or not), numbers and booleans sorted, anything else
    in order of first appearance.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.unique().tolist())
        return [c for c in values.cat.categories if c in present]
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return sorted(pd.unique(values).tolist())
    return pd.unique(values).tolist()


def coefficient_plot(result: Any, ax: Any = None, *, terms: list[str] | None = None) -> Any:
    """Horizontal coefficient plot of a :class:`~sosstats.panel.ChangeResult`.

    Points are estimates, bars the intervals of ``result.conf_int()`` (t with the kernel's df,
    or the wild bootstrap interval); the intercept is left out unless named in ``terms``. The
    x-label names the inference as the documents do (``CR2``, ``CR1``, ``CR3``,
    ``wild bootstrap``). Returns the matplotlib Axes.
    """
    ax = _axes(ax)
    ci = result.conf_int()
    est = result.params
    if terms is None:
        terms = [t for t in est.index if t != "Intercept"] or list(est.index)
    missing = [t for t in terms if t not in est.index]
    if missing:
        raise DataError(f"term(s) {', '.join(map(repr, missing))} not in the model; its terms "
                        f"are {', '.join(map(repr, est.index))}.")
    pos = np.arange(len(terms))[::-1]
    e = est[terms].to_numpy()
    lo, hi = ci.loc[terms, "lower"].to_numpy(), ci.loc[terms, "upper"].to_numpy()
    ax.errorbar(e, pos, xerr=np.vstack([e - lo, hi - e]), fmt="o", capsize=3)
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(pos)
    ax.set_yticklabels(terms)
    ax.set_xlabel(f"estimate ({result.level:.0%} interval, "
                  f"{_inference_name(result.inference)})")
    ax.set_title(f"{result.method}: {result.formula}")
    return ax


def _mean_interval(y: np.ndarray, codes: np.ndarray | None) -> tuple[float, float, float, int]:
    """Mean, its standard error, df and the number of clusters of one group x wave."""
    n = y.size
    mean = float(y.mean()) if n else float("nan")
    if codes is None:
        se = float(y.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        return mean, se, float(n - 1), n
    g = int(np.unique(codes).size)
    if g < 2:
        return mean, float("nan"), float("nan"), g
    from sosstats._kernels.cluster import cluster_vcov

    cv = cluster_vcov(np.ones((n, 1)), y - mean, codes, kind="cr2")
    return mean, float(np.sqrt(cv.vcov[0, 0])), float(np.asarray(cv.df)[0]), g


def change_means(data: pd.DataFrame, outcome: str, time: str, by: str | None = None, *,
                 entity: str | None = None, cluster: str | None = None,
                 sample: Literal["complete", "all"] = "complete",
                 level: float = 0.95) -> pd.DataFrame:
    r"""Mean of ``outcome`` at each wave, by group, with (cluster-robust) t intervals.

    The table :func:`change_plot` draws.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame (one row per entity x wave); not modified.
    outcome, time : str
        Numeric outcome and wave column (ordered categorical order, else sorted).
    by : str, optional
        Grouping column (cohort, experience group).
    entity : str, optional
        Entity id column; required with ``sample="complete"``.
    cluster : str, optional
        Cluster column (e.g. the pilot ``"la_code"``): intervals are then CR2
        (Bell-McCaffrey) with Satterthwaite df, clustered by it. Without it, units are treated
        as independent (``t`` with ``n - 1`` df).
    sample : {"complete", "all"}
        ``"complete"`` (default): only the entities with the outcome observed at every wave (at
        both, with two), so each line compares the same families. ``"all"``: every row with the
        outcome observed at that wave (the T1 mean of all families beside the T2 mean of the
        respondents: different samples).
    level : float
        Interval level.

    Returns
    -------
    pandas.DataFrame
        One row per group x wave: ``by`` (when given), ``wave``, ``n``, ``n_clusters``,
        ``mean``, ``std_error``, ``df``, ``ci_lower``, ``ci_upper``. ``df`` is NaN (and so are
        the bounds) for a group x wave with fewer than two clusters.

    Notes
    -----
    With clusters the variance of a mean :math:`\bar y` is the CR2 variance of the intercept
    of :math:`y_i = \mu + e_i`, :math:`\sum_g (A_g e_g)' 1 1' (A_g e_g) / n^2` with
    :math:`A_g` the Bell-McCaffrey adjustment, and the interval uses Satterthwaite df
    (Pustejovsky and Tipton, 2018), as ``change_model(..., inference="cr2")``.
    """
    return _change_means(data, outcome, time, by, entity=entity, cluster=cluster,
                         sample=sample, level=level)


def _change_means(data: pd.DataFrame, outcome: str, time: str, by: str | None, *,
                  entity: str | None, cluster: str | None, sample: str,
                  level: float) -> pd.DataFrame:
    """Compute :func:`change_means`.

    Called by it and by :func:`change_plot`, so that a warning points at the caller's line.
    """
    from sosstats.panel._design import wave_order

    data = check_frame(data)
    check_option(sample, ("complete", "all"), "sample")
    level = check_level(level)
    if sample == "complete" and entity is None:
        raise DataError("`entity` is required with sample='complete' (the default): name the id "
                        "column so that every wave shows the same units, or pass sample='all' "
                        "to show everyone observed at each wave (different units).")
    cols = [outcome, time] + [c for c in (by, entity, cluster) if c is not None]
    check_columns(data, list(dict.fromkeys(cols)))
    if not (pd.api.types.is_numeric_dtype(data[outcome])
            and not pd.api.types.is_bool_dtype(data[outcome])):
        raise DataError(f"outcome {outcome!r} ({data[outcome].dtype}) must be numeric.")
    for col in [c for c in (time, by, entity, cluster) if c is not None]:
        if data[col].isna().any():
            raise DataError(f"column {col!r} has {int(data[col].isna().sum())} missing values.")
    waves = wave_order(data[time])
    frame = data[list(dict.fromkeys(cols))]
    frame = frame[frame[outcome].notna()]
    if np.isinf(frame[outcome].to_numpy(dtype=float)).any():
        raise DataError(f"outcome {outcome!r} has infinite values.")
    if entity is not None:
        dup = frame.duplicated([entity, time])
        if dup.any():
            raise DataError(f"duplicate {entity!r} x {time!r} rows for {entity} "
                            f"{', '.join(map(str, pd.unique(frame.loc[dup, entity])[:10]))}.")
    if sample == "complete":
        n_waves = frame.groupby(entity, observed=True, sort=False)[time].transform("nunique")
        frame = frame[n_waves.to_numpy() == len(waves)]
        if frame.empty:
            raise DataError(f"no {entity} has {outcome!r} observed at every wave; pass "
                            "sample='all' to show each wave's observed units.")
    groups = [(None, frame)] if by is None else list(frame.groupby(by, observed=True,
                                                                   sort=True))
    rows = []
    for label, sub in groups:
        codes_all = None if cluster is None else pd.factorize(sub[cluster])[0]
        wave_pos = pd.Index(waves).get_indexer(sub[time])
        for t, wave in enumerate(waves):
            sel = wave_pos == t
            y = sub[outcome].to_numpy(dtype=float)[sel]
            mean, se, df, g = _mean_interval(y, None if codes_all is None else codes_all[sel])
            with np.errstate(invalid="ignore"):
                q = stats.t.ppf(0.5 + level / 2, df) if df >= 1 else float("nan")
            rows.append({**({by: label} if by is not None else {}), "wave": wave,
                         "n": int(y.size), "n_clusters": int(g), "mean": mean,
                         "std_error": se, "df": df, "ci_lower": mean - q * se,
                         "ci_upper": mean + q * se})
    out = pd.DataFrame(rows)
    if cluster is not None:
        few = out[out["n_clusters"] < 2]
        if len(few):
            cells = ", ".join(f"{r.get(by, 'all')} at {r['wave']}" if by else str(r["wave"])
                              for _, r in few.iterrows())
            warnings.warn(f"fewer than two {cluster!r} clusters for {cells}: no clustered "
                          "interval there.", SosstatsWarning, stacklevel=3)
    return out


def change_plot(data: pd.DataFrame, outcome: str, time: str, by: str | None = None, *,
                entity: str | None = None, cluster: str | None = None,
                sample: Literal["complete", "all"] = "complete", level: float = 0.95,
                ax: Any = None) -> Any:
    """Means of ``outcome`` at each wave, by group, with intervals, joined by lines.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame (one row per entity x wave); not modified.
    outcome, time : str
        Numeric outcome and wave column (ordered categorical order, else sorted).
    by : str, optional
        Grouping column (cohort, experience group); one line per group. The legend, titled
        with the column, lists the groups in the column's category order when it is a
        Categorical (ordered or not), sorted when numeric, else in order of first appearance,
        and sits beside the axes (right of them, top-aligned) so that it covers no line.
    entity : str, optional
        Entity id column; required with ``sample="complete"`` (the default).
    cluster : str, optional
        Cluster column (the pilot): intervals are CR2 with Satterthwaite df, clustered by it;
        without it units are treated as independent.
    sample : {"complete", "all"}
        ``"complete"``: the same entities at every wave (those observed at all waves);
        ``"all"``: every unit observed at each wave, which the title then says compares
        different units.
    level : float
        Interval level.
    ax : matplotlib Axes, optional
        Axes to draw into; by default a new figure (constrained layout, so the legend beside
        the axes is kept inside the saved figure).

    Returns
    -------
    matplotlib.axes.Axes
        Axis labels are the column names with underscores as spaces (``sdq_total`` is
        labelled ``mean sdq total``).

    See Also
    --------
    change_means : the table drawn (means, n, clusters, df and bounds per group x wave).
    """
    table = _change_means(data, outcome, time, by, entity=entity, cluster=cluster,
                          sample=sample, level=level)
    waves = list(dict.fromkeys(table["wave"]))
    ax = _axes(ax, figsize=(6, 4) if by is None else (7.5, 4), layout="constrained")
    if by is None:
        groups = [(None, table)]
    else:
        # the table's `by` column is plain values: order by the data's column (a Categorical's
        # categories), not alphabetically
        drawn = dict(list(table.groupby(by, observed=True, sort=False)))
        groups = [(g, drawn[g]) for g in _group_order(data[by]) if g in drawn]
    x = np.arange(len(waves))
    for i, (label, sub) in enumerate(groups):
        sub = sub.set_index("wave").reindex(waves)
        mean = sub["mean"].to_numpy(dtype=float)
        err = np.vstack([mean - sub["ci_lower"].to_numpy(dtype=float),
                         sub["ci_upper"].to_numpy(dtype=float) - mean])
        shift = (i - (len(groups) - 1) / 2) * 0.04
        ax.errorbar(x + shift, mean, yerr=err, marker="o", capsize=3,
                    label=None if label is None else str(label))
    ax.set_xticks(x)
    ax.set_xticklabels([str(w) for w in waves])
    ax.set_xlabel(_readable(time))
    how = (f"CR2 by {cluster}, Satterthwaite df" if cluster is not None
           else "units independent")
    # two lines: on one, the interval's description ran off a 4-inch-high figure
    ax.set_ylabel(f"mean {_readable(outcome)}\n({level:.0%} CI, {how})")
    counts = table.groupby("wave", sort=False)["n"].sum().reindex(waves)
    if sample == "complete":
        ax.set_title(f"the same {int(counts.iloc[0])} {entity} at every wave", fontsize="medium")
    else:
        sizes = ", ".join(f"{w}: n = {int(n)}" for w, n in counts.items())
        ax.set_title(f"all observed at each wave ({sizes}): not the same units",
                     fontsize="medium")
    if by is not None:
        # beside the axes, not over the lines and whiskers
        ax.legend(title=_readable(by), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0, frameon=False, fontsize="small")
    return ax

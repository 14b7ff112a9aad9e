"""Randomisation inference for a pilot-level (cluster-level) label.

With ten pilots, cluster-robust standard errors are unreliable; a randomisation test is exact
under its own null. A label that is constant within each cluster (a pilot's experience group,
cohort of a pilot, a treatment indicator) is re-assigned to the clusters over a set of
permissible assignments (a user-given list, or every distinct re-arrangement of the observed
labels when there are few, or a random sample of them); any statistic of the data is
recomputed for each, and the p-value is the share of assignments at least as extreme as the
observed one, the observed assignment included.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from sosstats._results import TableResult
from sosstats._validate import check_columns, check_frame, check_int, check_option, check_rng
from sosstats.errors import DataError, DesignError

__all__ = ["RandomizationResult", "randomization_test", "all_assignments", "n_assignments"]


@dataclass(frozen=True, eq=False)
class RandomizationResult(TableResult):
    r"""Result of :func:`randomization_test` (a table result: ``tidy``, ``summary``, ``to_dict``).

    The same name and base as :class:`sosstats.neighbours.RandomizationResult` (the
    pseudo-pilot null distributions of the neighbour comparison); both hold the statistic's
    ``null_distribution``.

    Attributes
    ----------
    statistic : float
        The statistic under the observed assignment.
    p_value : float
        Share of assignments (observed included) at least as extreme (see ``alternative``).
    df : None
        Always None (no reference distribution with degrees of freedom).
    method : str
        How the assignments were obtained.
    null_distribution : numpy.ndarray
        The statistic under every assignment, in the row order of ``assignments``.
    assignments : pandas.DataFrame
        One row per assignment, one column per cluster, holding the label values. The
        observed assignment is the row ``observed_row``.
    observed_row : int
        Position of the observed assignment in ``assignments``.
    enumerated : bool
        True when every distinct re-arrangement of the observed labels was used.
    alternative : str
        ``"two-sided"`` (:math:`|T^*| \ge |T|`), ``"greater"`` or ``"less"``.
    """

    statistic: float
    p_value: float
    df: None
    null_distribution: np.ndarray = field(repr=False)
    assignments: pd.DataFrame = field(repr=False)
    observed_row: int
    enumerated: bool
    alternative: str
    method: str = "randomization test"

    @property
    def n_assignments(self) -> int:
        """Number of assignments the p-value is computed over (finite statistics)."""
        return int(np.isfinite(self.null_distribution).sum())

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return pd.DataFrame({"statistic": [self.statistic], "p_value": [self.p_value],
                             "n_assignments": [self.n_assignments],
                             "enumerated": [self.enumerated], "alternative": [self.alternative]},
                            index=pd.Index(["randomization"], name="test"))

    def _notes(self) -> list[str]:
        rule = {"two-sided": "|T*| >= |T|", "greater": "T* >= T", "less": "T* <= T"}
        return [f"p_value: share of the {self.n_assignments} assignments (observed included) "
                f"with {rule[self.alternative]}; no degrees of freedom (df = None)."]


def n_assignments(labels: Sequence[Any] | pd.Series) -> int:
    r"""Count the distinct re-arrangements of ``labels``: :math:`G! / \prod_l n_l!`."""
    counts = pd.Series(list(labels)).value_counts().to_numpy()
    out = math.factorial(int(counts.sum()))
    for c in counts:
        out //= math.factorial(int(c))
    return out


def _enumerate_codes(counts: Sequence[int]) -> np.ndarray:
    """Every distinct arrangement of level codes with ``counts[l]`` copies of level ``l``.

    Built level by level: for each partial arrangement, every choice of ``counts[l]`` of its
    free slots receives level ``l`` (one array operation per level, none per arrangement).
    """
    g = int(sum(counts))
    rows = np.full((1, g), -1, dtype=np.int64)
    filled = 0
    for level, c in enumerate(counts[:-1]):
        m = g - filled
        comb = np.array(list(itertools.combinations(range(m), c)), dtype=np.int64)
        comb = comb.reshape(-1, c) if c else np.zeros((1, 0), dtype=np.int64)
        free = np.nonzero(rows == -1)[1].reshape(rows.shape[0], m)
        r, k = rows.shape[0], comb.shape[0]
        new = np.repeat(rows, k, axis=0)
        pos = free[:, comb].reshape(r * k, c)
        new[np.arange(r * k)[:, None], pos] = level
        rows = new
        filled += c
    rows[rows == -1] = len(counts) - 1
    return rows


def all_assignments(labels: pd.Series | Mapping[Any, Any]) -> pd.DataFrame:
    """Every distinct re-arrangement of cluster labels over the clusters.

    Parameters
    ----------
    labels : pandas.Series or mapping
        The label of each cluster, indexed by cluster (e.g. pilots' experience groups).

    Returns
    -------
    pandas.DataFrame
        One row per assignment, one column per cluster. Filter its rows to the permissible
        ones (e.g. those that keep a region balanced) and pass them to
        :func:`randomization_test` as ``assignments``.
    """
    series = pd.Series(labels) if not isinstance(labels, pd.Series) else labels
    if series.isna().any():
        raise DataError("`labels` has missing values.")
    codes, uniques = pd.factorize(series, sort=True)
    counts = np.bincount(codes, minlength=len(uniques))
    arr = _enumerate_codes(counts.tolist())
    values = pd.Series(uniques).to_numpy()[arr]
    return pd.DataFrame(values, columns=series.index)


def _user_assignments(assignments: Any, clusters: pd.Index, levels: pd.Series) -> np.ndarray:
    """Level codes (n, G) of user-given assignments, columns in the order of ``clusters``."""
    if isinstance(assignments, pd.DataFrame):
        frame = assignments
    else:
        try:
            frame = pd.DataFrame(list(assignments))
        except (TypeError, ValueError) as exc:
            raise DataError("`assignments` must be a DataFrame (one row per assignment, one "
                            "column per cluster) or a list of {cluster: label} mappings.") from exc
    if frame.shape[0] == 0:
        raise DataError("`assignments` is empty.")
    missing = [c for c in clusters if c not in frame.columns]
    extra = [c for c in frame.columns if c not in set(clusters)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lack clusters {', '.join(map(str, missing[:10]))}")
        if extra:
            parts.append(f"name unknown clusters {', '.join(map(str, extra[:10]))}")
        raise DataError(f"`assignments` {' and '.join(parts)}.")
    frame = frame[list(clusters)]
    lookup = {v: i for i, v in enumerate(levels.tolist())}
    flat = frame.to_numpy().ravel().tolist()
    bad = sorted({v for v in flat if v not in lookup}, key=str)
    if bad:
        raise DataError(f"`assignments` uses labels {bad[:10]} that are not among the observed "
                        f"labels {list(lookup)}.")
    return np.fromiter((lookup[v] for v in flat), dtype=np.int64,
                       count=len(flat)).reshape(frame.shape)


def _p_value(null: np.ndarray, observed: float, alternative: str) -> float:
    finite = np.isfinite(null)
    t = null[finite]
    tol = 1e-12 * abs(observed)
    if alternative == "two-sided":
        extreme = np.abs(t) >= abs(observed) - tol
    elif alternative == "greater":
        extreme = t >= observed - tol
    else:
        extreme = t <= observed + tol
    return float(extreme.sum() / finite.sum())


def randomization_test(data: pd.DataFrame, statistic: Callable[..., Any], *, cluster: str,
                       label: str, assignments: Any = None,
                       alternative: Literal["two-sided", "greater", "less"] = "two-sided",
                       max_enumerate: int = 10_000, n_resamples: int = 9_999,
                       vectorized: bool = False,
                       rng: int | np.random.Generator | None = None) -> RandomizationResult:
    r"""Randomisation test of a cluster-level label, for any statistic of the data.

    Parameters
    ----------
    data : pandas.DataFrame
        Unit-level data (e.g. families, wide or long); never modified.
    statistic : callable
        ``statistic(frame) -> float``: called with a copy of ``data`` in which ``label`` holds
        the re-assigned labels (same dtype). For example
        ``lambda d: d.loc[d.experience != "new", "change"].mean() - d.loc[d.experience ==
        "new", "change"].mean()``, or a model coefficient,
        ``lambda d: change_model("sdq ~ experience", ...).params[term]``. With
        ``vectorized=True``: ``statistic(data, labels) -> array`` where ``labels`` is an
        ``(n_assignments, n_rows)`` array of label values, returning one value per row.
    cluster : str
        Column of cluster (pilot) identifiers.
    label : str
        Column holding a label constant within each cluster.
    assignments : DataFrame or list of mappings, optional
        The permissible assignments: one row per assignment, one column per cluster (or one
        ``{cluster: label}`` mapping per assignment), labels among the observed ones. The
        observed assignment is added if absent. Default: every distinct re-arrangement of the
        observed labels when there are at most ``max_enumerate`` of them (see
        :func:`all_assignments`, :func:`n_assignments`), else ``n_resamples`` random ones.
    alternative : {"two-sided", "greater", "less"}
        ``"two-sided"`` counts :math:`|T^*| \ge |T|` (for statistics centred on 0 under the
        null, such as differences or coefficients); ``"greater"`` :math:`T^* \ge T`;
        ``"less"`` :math:`T^* \le T`.
    max_enumerate : int, default 10,000
        Enumerate all assignments when there are at most this many.
    n_resamples : int, default 9,999
        Random assignments drawn (uniformly, with replacement) when enumeration is too big.
    vectorized : bool, default False
        Call ``statistic`` once per batch of assignments instead of once per assignment.
    rng : int, Generator or None
        Seed for the random assignments (unused when enumerating).

    Returns
    -------
    RandomizationResult

    Notes
    -----
    With :math:`\mathcal{A}` the set of assignments (observed :math:`a_0` included),

    .. math:: p = \frac{\#\{a \in \mathcal{A}: T(a) \text{ at least as extreme as } T(a_0)\}}
                        {|\mathcal{A}|},

    exact when :math:`\mathcal{A}` is the set the labels could have been assigned from with
    equal probability (Fisher's sharp null of no effect of the label on any unit). With random
    draws the observed assignment is counted once among :math:`B + 1`, so
    :math:`p = (1 + \#\text{extreme draws}) / (1 + B)` and the test stays valid (Phipson and
    Smyth, 2010). A relative tolerance of :math:`10^{-12}` counts ties up to rounding as
    extreme. Assignments whose statistic is not finite are left out of both counts.

    References
    ----------
    Fisher, R. A. (1935). *The Design of Experiments*. Oliver and Boyd.
    Phipson, B. and Smyth, G. K. (2010). Permutation p-values should never be zero.
    *Statistical Applications in Genetics and Molecular Biology* 9(1), 39.
    Young, A. (2019). Channeling Fisher: randomization tests and the statistical
    insignificance of seemingly significant experimental results. *QJE* 134(2), 557-598.
    """
    data = check_frame(data)
    if not callable(statistic):
        raise DataError(f"`statistic` must be callable; got {type(statistic).__name__}.")
    check_columns(data, [cluster, label])
    check_option(alternative, ("two-sided", "greater", "less"), "alternative")
    max_enumerate = check_int(max_enumerate, "max_enumerate", minimum=1)
    n_resamples = check_int(n_resamples, "n_resamples", minimum=1)
    for col in (cluster, label):
        if data[col].isna().any():
            raise DataError(f"column {col!r} has {int(data[col].isna().sum())} missing values.")
    row_cluster, clusters = pd.factorize(data[cluster], sort=True)
    clusters = pd.Index(clusters)
    g = len(clusters)
    if g < 2:
        raise DesignError(f"column {cluster!r} has a single cluster; nothing to re-assign.")
    varying = data.groupby(row_cluster)[label].nunique(dropna=False)
    if (varying > 1).any():
        bad = ", ".join(map(str, clusters[varying.index[varying > 1]][:10]))
        raise DataError(f"label {label!r} is not constant within clusters of {cluster!r}: "
                        f"{bad}.")
    first = np.unique(row_cluster, return_index=True)[1]
    cluster_labels = data[label].iloc[first].reset_index(drop=True)
    obs_codes, uniq = pd.factorize(cluster_labels, sort=True)
    levels = pd.Series(uniq)
    if len(levels) < 2:
        raise DesignError(f"label {label!r} takes one value ({levels.iloc[0]!r}) in every "
                          "cluster; every assignment is the observed one.")

    gen = None
    if assignments is not None:
        codes = _user_assignments(assignments, clusters, levels)
        hit = np.flatnonzero((codes == obs_codes).all(axis=1))
        if hit.size:
            observed_row = int(hit[0])
        else:
            codes, observed_row = np.vstack([obs_codes, codes]), 0
        enumerated = False
        method = f"randomization test over {codes.shape[0]} given assignments"
    else:
        counts = np.bincount(obs_codes, minlength=len(levels))
        total = n_assignments(obs_codes.tolist())
        if total <= max_enumerate:
            codes = _enumerate_codes(counts.tolist())
            observed_row = int(np.flatnonzero((codes == obs_codes).all(axis=1))[0])
            enumerated = True
            method = f"randomization test over all {total} assignments"
        else:
            gen = check_rng(rng)
            draws = gen.permuted(np.tile(obs_codes, (n_resamples, 1)), axis=1)
            codes, observed_row = np.vstack([obs_codes, draws]), 0
            enumerated = False
            method = (f"randomization test over {n_resamples} random assignments "
                      f"(of {total}) and the observed one")

    row_codes_all = codes[:, row_cluster] if vectorized else None
    null = np.empty(codes.shape[0])
    if vectorized:
        values = levels.to_numpy()
        batch = max(1, 4_000_000 // max(len(data), 1))
        for start in range(0, codes.shape[0], batch):
            chunk = values[row_codes_all[start:start + batch]]
            out = np.asarray(statistic(data, chunk), dtype=float).reshape(-1)
            if out.size != chunk.shape[0]:
                raise DataError(f"vectorized `statistic` returned {out.size} values for "
                                f"{chunk.shape[0]} assignments.")
            null[start:start + batch] = out
    else:
        work = data.copy()
        for b in range(codes.shape[0]):
            work[label] = pd.Series(levels.take(codes[b, row_cluster]).array, index=data.index)
            out = np.asarray(statistic(work), dtype=float)
            if out.size != 1:
                raise DataError(f"`statistic` must return one number; got shape {out.shape}.")
            null[b] = float(out.reshape(-1)[0])
    observed = float(null[observed_row])
    if not np.isfinite(observed):
        raise DataError(f"`statistic` is not finite ({observed}) for the observed assignment.")
    table = pd.DataFrame(levels.to_numpy()[codes], columns=clusters)
    return RandomizationResult(statistic=observed, p_value=_p_value(null, observed, alternative),
                               df=None, method=method, null_distribution=null,
                               assignments=table, observed_row=observed_row,
                               enumerated=enumerated, alternative=alternative)

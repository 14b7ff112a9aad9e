r"""Multiple imputation by chained equations, the alternative to attrition weights.

:func:`impute_chained` fills the Time 2 outcomes of the families who did not respond ``m``
times over, each time from models fitted to the respondents; :func:`mi_change_model` runs
:func:`sosstats.panel.change_model` on each completed data set and combines the fits by
Rubin's rules (:func:`pool`, also usable on any list of fits)::

    imp = impute_chained(families, ["sdq_t2", "feelings_t2"],
                         predictors=["sdq_t1", "feelings_t1", "previous_referral",
                                     "agency_worker"], rng=1)
    res = mi_change_model("sdq ~ cohort", imp, entity="family_id", time="wave",
                          stubs=["sdq"])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import as_list, check_columns, check_frame, check_int, check_rng
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.weighting._mice import (
    Encoded,
    Target,
    check_target,
    default_method,
    encode,
    resolve_predictors,
    restore,
    run_chain,
)
from sosstats.weighting.rubin import PooledResult, pool, pool_estimates

__all__ = ["Imputations", "PooledResult", "impute_chained", "mi_change_model", "pool",
           "pool_estimates"]


@dataclass(frozen=True, eq=False)
class Imputations:
    """``m`` completed versions of a data set (returned by :func:`impute_chained`).

    Attributes
    ----------
    columns : tuple of str
        The columns named in ``columns``.
    imputed_columns : tuple of str
        Those with missing values, which were imputed (in visiting order).
    methods : dict
        Imputation model per imputed column (``"pmm"``, ``"norm"`` or ``"logit"``).
    predictors : dict
        Predictor columns per imputed column.
    n_imputations, n_iter, donors : int
        Number of imputations, of sweeps per chain and the ``pmm`` donor pool size.
    seed : int or None
        The ``rng`` given, when it was an int.
    """

    columns: tuple[str, ...]
    imputed_columns: tuple[str, ...]
    methods: dict[str, str]
    predictors: dict[str, list[str]]
    n_imputations: int
    n_iter: int
    donors: int
    seed: int | None
    _data: pd.DataFrame = field(repr=False)
    _encoded: dict[str, Encoded] = field(repr=False)
    _draws: dict[str, np.ndarray] = field(repr=False)
    _trace: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return self.n_imputations

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return (self.completed(i) for i in range(self.n_imputations))

    @property
    def datasets(self) -> list[pd.DataFrame]:
        """All completed data sets, as a list of new DataFrames."""
        return list(self)

    def completed(self, i: int) -> pd.DataFrame:
        """Return the ``i``-th completed data set (0-based): a copy of the data, gaps filled.

        Imputed binary columns come back as they went in: 0/1 floats, booleans or the two
        categories of a categorical column.
        """
        i = check_int(i, "i")
        if not 0 <= i < self.n_imputations:
            raise DataError(f"`i` must be between 0 and {self.n_imputations - 1}; got {i}.")
        out = self._data.copy()
        for name in self.imputed_columns:
            enc = self._encoded[name]
            values = enc.block[:, 0].copy()
            values[enc.missing] = self._draws[name][i]
            out[name] = restore(values, enc, out[name])
        return out

    def imputed_values(self, column: str) -> pd.DataFrame:
        """Imputed values of ``column``, binary columns as 0/1.

        One row per missing cell (labelled by the data's index), one column per imputation.
        """
        if column not in self.imputed_columns:
            raise DataError(f"{column!r} was not imputed; imputed columns are "
                            f"{', '.join(map(repr, self.imputed_columns)) or 'none'}.")
        idx = self._data.index[self._encoded[column].missing]
        return pd.DataFrame(self._draws[column].T, index=idx,
                            columns=pd.RangeIndex(self.n_imputations, name="imputation"))

    def map(self, function: Callable[[pd.DataFrame], Any]) -> list[Any]:
        """Apply ``function`` to each completed data set; the list can go to :func:`pool`."""
        return [function(d) for d in self]

    def missing_pattern(self) -> pd.DataFrame:
        """Missing-data patterns of ``columns``, as R's ``mice::md.pattern``.

        Returns
        -------
        pandas.DataFrame
            One row per pattern, most frequent first: 1 (observed) or 0 (missing) per column
            (columns ordered by their number of missing values), ``n_rows`` (rows with the
            pattern) and ``n_missing`` (columns missing in it). ``attrs["missing_per_column"]``
            holds the count of missing values per column.
        """
        cols = list(self.columns)
        miss = np.column_stack([self._encoded[c].missing for c in cols])
        order = np.argsort(miss.sum(axis=0), kind="stable")
        cols = [cols[j] for j in order]
        obs = (~miss[:, order]).astype(int)
        pats, counts = np.unique(obs, axis=0, return_counts=True)
        out = pd.DataFrame(pats, columns=cols)
        out["n_rows"] = counts
        out["n_missing"] = len(cols) - pats.sum(axis=1)
        out = out.sort_values(["n_rows", "n_missing"], ascending=[False, True],
                              kind="stable").reset_index(drop=True)
        out.index.name = "pattern"
        out.attrs["missing_per_column"] = pd.Series(miss[:, order].sum(axis=0), index=cols)
        return out

    def trace(self) -> pd.DataFrame:
        """Convergence trace: mean and SD of each column's imputed values after each sweep.

        Returns
        -------
        pandas.DataFrame
            Columns ``column, iteration (1..n_iter), imputation, mean, sd``; the chains
            should mix (no trend over iterations), as with ``plot(mids)`` in R's mice.
        """
        n_iter, n_targets, m = self._trace.shape[0], self._trace.shape[1], self.n_imputations
        it, col, imp = np.meshgrid(np.arange(1, n_iter + 1), np.arange(n_targets),
                                   np.arange(m), indexing="ij")
        names = np.asarray(self.imputed_columns, dtype=object)
        return pd.DataFrame({"column": names[col.ravel()], "iteration": it.ravel(),
                             "imputation": imp.ravel(),
                             "mean": self._trace[..., 0].ravel(),
                             "sd": self._trace[..., 1].ravel()})

    def plot(self, columns: str | list[str] | None = None, axes: Any = None) -> Any:
        """Observed against imputed distribution, one panel per imputed column.

        Numeric columns: density histograms of the observed values and of all imputed values
        (every imputation) overlaid; binary columns: the share of 1s in each.

        Parameters
        ----------
        columns : str or list of str, optional
            Imputed columns to draw (default all), one panel each.
        axes : array of matplotlib Axes, optional
            Axes to draw into, one per column; by default a new figure.

        Returns
        -------
        matplotlib.figure.Figure or numpy.ndarray of matplotlib Axes
            The new Figure (it indexes like the 1-D array of Axes this used to return:
            ``fig[0]``, ``len(fig)``, ``fig.panels``); with ``axes`` given, those axes as a
            1-D array.
        """
        from sosstats._plotting import new_figure

        cols = as_list(columns) or list(self.imputed_columns)
        for c in cols:
            self.imputed_values(c)  # raises for a column that was not imputed
        fig = None
        if axes is None:
            fig, axes = new_figure(1, len(cols), figsize=(4 * len(cols), 3), ravel=True)
        axes = np.asarray(axes).ravel()
        for ax, c in zip(axes, cols):
            enc = self._encoded[c]
            obs, imp = enc.block[~enc.missing, 0], self._draws[c].ravel()
            if enc.kind == "binary":
                ax.bar([0, 1], [obs.mean(), imp.mean()], color=["C0", "C1"])
                ax.set_xticks([0, 1], ["observed", "imputed"])
                one = enc.categories[1]
                ax.set_ylabel(f"share {one:g}" if isinstance(one, float) else f"share {one}")
            else:
                bins = np.histogram_bin_edges(np.concatenate([obs, imp]), bins="auto")
                ax.hist(obs, bins=bins, density=True, histtype="step", color="C0",
                        label=f"observed (n={obs.size})")
                ax.hist(imp, bins=bins, density=True, histtype="step", color="C1",
                        label=f"imputed ({self.n_imputations} x {enc.missing.sum()})")
                ax.legend(loc="best", fontsize="small")
            ax.set_title(f"{c} ({self.methods[c]})")
        return axes if fig is None else fig


def impute_chained(data: pd.DataFrame, columns: str | list[str], *,
                   predictors: list[str] | Mapping[str, list[str]] | None = None,
                   methods: str | Mapping[str, str] | None = None, n_imputations: int = 20,
                   n_iter: int = 10, donors: int = 5,
                   rng: int | np.random.Generator | None = None) -> Imputations:
    r"""Multiple imputation by chained equations (fully conditional specification).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit, e.g. the wide families frame with ``sdq_t2`` missing for
        non-respondents (not modified).
    columns : str or list of str
        Columns of the imputation model. Those with missing values are imputed, in this order
        within each sweep; complete ones are allowed and act as predictors only.
    predictors : list of str or dict, optional
        Predictors of each imputed column. None: the other ``columns``. A list: these columns
        plus the other ``columns``. A dict ``{column: [predictors]}``: exactly those for the
        columns it names (the default for the others). Numeric and boolean predictors enter as
        they are, categorical / text ones as dummies of all but their first category. A
        predictor with missing values must itself be in ``columns``.
    methods : str or dict, optional
        ``"pmm"`` (predictive mean matching), ``"norm"`` (Bayesian linear regression) or
        ``"logit"`` (logistic regression), for all columns or per column. Default: ``"logit"``
        for binary columns (bool, two categories, or numeric with values 0/1 only), ``"pmm"``
        for other numeric columns.
    n_imputations : int, default 20
        Number of completed data sets ``m`` (at least 2).
    n_iter : int, default 10
        Sweeps through the columns per chain (each imputation is its own chain).
    donors : int, default 5
        Donor pool size ``k`` of ``"pmm"``.
    rng : int, Generator or None
        Random source. Chain ``i`` uses the ``i``-th child of ``rng`` (``Generator.spawn``),
        so the first imputations do not change when ``n_imputations`` grows.

    Returns
    -------
    Imputations

    Raises
    ------
    DataError
        Unknown columns, a column entirely missing, a predictor with missing values that is
        not imputed, a categorical column with more than two categories to impute, a method
        that does not fit the column (``"logit"`` on a non-binary one), a binary column
        with one observed value.
    DesignError
        ``n_imputations < 2``, ``n_iter < 1`` or ``donors < 1``.

    Warns
    -----
    SosstatsWarning
        None of ``columns`` has a missing value (every completed data set equals ``data``).

    Notes
    -----
    Each chain starts by filling the gaps of every column with random draws of its observed
    values, then repeats ``n_iter`` times: for each incomplete column :math:`y`, fit its model
    on the rows where :math:`y` is observed, given the current values of its predictors
    :math:`X` (standardised, with an intercept), draw the parameters, and overwrite the
    missing :math:`y` with draws. With :math:`b = (X'X + \kappa\,\mathrm{diag}(X'X))^{-1}X'y`
    (:math:`\kappa = 10^{-5}`, the ridge of R's ``mice``): ``"norm"`` draws
    :math:`\sigma_*^2 = \hat e'\hat e/g`, :math:`g \sim \chi^2_{n_{obs} - p}`, then
    :math:`\beta_* = b + \sigma_* L^{-T} z` (:math:`LL' = X'X`), and imputes
    :math:`x'\beta_* + \sigma_* \varepsilon`; ``"pmm"`` takes the observed :math:`y` of one of
    the ``donors`` observed rows whose :math:`x'b` is nearest :math:`x_{mis}'\beta_*`
    (type-1 matching); ``"logit"`` draws :math:`\beta_*` from the normal approximation at
    the posterior mode (N(0, 10^2) priors on standardised slopes keep it finite under
    separation; R's ``mice`` augments the data instead) and imputes
    :math:`\mathrm{Bernoulli}(\mathrm{expit}(x'\beta_*))`. References: van Buuren &
    Groothuis-Oudshoorn (2011), *J. Stat. Softw.* 45(3); van Buuren (2018), *Flexible
    Imputation of Missing Data*, 2nd ed., sections 3.2, 3.4 and 4.5; Rubin (1987), p. 167;
    White, Royston & Wood (2011), *Stat. Med.* 30(4), 377-399.
    """
    data = check_frame(data)
    cols = list(dict.fromkeys(check_columns(data, as_list(columns))))
    if not cols:
        raise DataError("`columns` is empty; name the columns to impute.")
    m = check_int(n_imputations, "n_imputations", minimum=2)
    n_iter = check_int(n_iter, "n_iter", minimum=1)
    donors = check_int(donors, "donors", minimum=1)
    seed = int(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None
    gen = check_rng(rng)
    preds = resolve_predictors(cols, predictors, data)
    involved = list(dict.fromkeys(cols + [p for ps in preds.values() for p in ps]))
    enc = {c: encode(data[c]) for c in involved}
    targets = [c for c in cols if enc[c].missing.any()]
    if isinstance(methods, Mapping):
        unknown = [k for k in methods if k not in cols]
        if unknown:
            raise DataError(f"`methods` names {', '.join(map(repr, unknown))}, not in `columns`.")
        chosen = {c: methods.get(c, default_method(enc[c])) for c in targets}
    else:
        chosen = {c: methods if methods is not None else default_method(enc[c]) for c in targets}
    for c in targets:
        check_target(c, enc[c], chosen[c], int((~enc[c].missing).sum()))
    for c in targets:
        bad = [p for p in preds[c] if enc[p].missing.any() and p not in targets]
        if bad:
            raise DataError(f"predictor {bad[0]!r} of {c!r} has {int(enc[bad[0]].missing.sum())} "
                            "missing values and is not imputed; add it to `columns` or drop "
                            "the incomplete rows.")
    if not targets:
        import warnings
        warnings.warn(f"none of {', '.join(map(repr, cols))} has missing values; every "
                      "completed data set equals `data`.", SosstatsWarning, stacklevel=2)
    # one float matrix with every involved column's block; targets' cells updated in place
    widths = [enc[c].block.shape[1] for c in involved]
    starts = dict(zip(involved, np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(int)))
    Z0 = np.hstack([enc[c].block for c in involved]) if involved else np.empty((len(data), 0))
    spec = [Target(c, starts[c], np.concatenate(
        [np.arange(starts[p], starts[p] + enc[p].block.shape[1]) for p in preds[c]] or
        [np.empty(0, int)]).astype(int), chosen[c], enc[c].missing) for c in targets]
    draws = {c: np.empty((m, int(enc[c].missing.sum()))) for c in targets}
    trace = np.empty((n_iter, len(targets), m, 2))
    for i, child in enumerate(gen.spawn(m)):
        chain, tr = run_chain(Z0, spec, n_iter=n_iter, donors=donors, rng=child)
        for c, values in zip(targets, chain):
            draws[c][i] = values
        trace[:, :, i, :] = tr
    return Imputations(columns=tuple(cols), imputed_columns=tuple(targets), methods=chosen,
                       predictors={c: preds[c] for c in targets}, n_imputations=m,
                       n_iter=n_iter, donors=donors, seed=seed, _data=data.copy(),
                       _encoded=enc, _draws=draws, _trace=trace)


def mi_change_model(formula: str, imputations: Imputations, *, entity: str, time: str,
                    stubs: str | list[str] | None = None, waves: tuple[str, ...] = ("t1", "t2"),
                    sep: str = "_", df_com: Any = None, **change_model_options: Any,
                    ) -> PooledResult:
    """Fit :func:`sosstats.panel.change_model` to each completed data set and pool the fits.

    Parameters
    ----------
    formula : str
        As in :func:`~sosstats.panel.change_model` (``"sdq ~ cohort"``).
    imputations : Imputations
        From :func:`impute_chained`.
    entity, time : str
        Entity id and wave columns of the long frame.
    stubs : str or list of str, optional
        When the imputed data are wide (``sdq_t1``, ``sdq_t2``): the wave-specific variables
        to stack with :func:`~sosstats.panel.wide_to_long` (``id=entity``, ``waves``, ``sep``,
        ``time``) before each fit. None: the imputed data are already long.
    waves, sep : optional
        Passed to :func:`~sosstats.panel.wide_to_long`.
    df_com : optional
        Complete-data df for :func:`pool` (default: each fit's own, clusters - 1 for CR1).
    **change_model_options
        ``method``, ``cluster``, ``weights``, ``inference`` (not ``"wild"``), ``level``...

    Returns
    -------
    PooledResult
        Rubin's rules over the ``m`` fits (kept in ``fits``).

    Raises
    ------
    DataError
        ``imputations`` is not an :class:`Imputations`, or ``data`` is given.
    DesignError
        ``inference="wild"``: a bootstrap p-value and interval cannot be combined by Rubin's
        rules (use ``"cr1"``/``"cr2"``/``"cr3"``).
    """
    from sosstats.panel import change_model, wide_to_long

    if not isinstance(imputations, Imputations):
        raise DataError("`imputations` must come from `impute_chained`; got "
                        f"{type(imputations).__name__}.")
    if "data" in change_model_options:
        raise DataError("`data` is not accepted: the completed data sets of `imputations` "
                        "are used.")
    if change_model_options.get("inference") == "wild":
        raise DesignError("inference 'wild' cannot be pooled by Rubin's rules (its p-value "
                          "and interval are bootstrap quantities); use 'cr1', 'cr2' or 'cr3'.")
    level = change_model_options.get("level", 0.95)
    stub_list = as_list(stubs)

    def fit(d: pd.DataFrame) -> Any:
        if stub_list:
            d = wide_to_long(d, id=entity, stubs=stub_list, waves=waves, sep=sep, time=time)
        return change_model(formula, d, entity=entity, time=time, **change_model_options)

    return pool(imputations.map(fit), df_com=df_com, level=level)

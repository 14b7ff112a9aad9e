r"""Compare fitted multilevel models by PSIS-LOO cross-validation, with stacking weights.

``compare_models({"pilot only": res1, "pilot + worker": res2})`` estimates each model's
expected log predictive density for a new family from its pointwise log-likelihood
(:meth:`MultilevelResult.log_likelihood`, on the data rows, uncollapsed and unweighted) and
tabulates the differences, their standard errors and stacking weights.

Notes
-----
For observations :math:`y_1, \dots, y_n` and posterior draws :math:`\theta^{(s)}`,
:math:`s = 1, \dots, S`, the expected log pointwise predictive density of new data is estimated
by leave-one-out cross-validation,

.. math::

    \widehat{\mathrm{elpd}}_{\mathrm{loo}} = \sum_{i=1}^n \log p(y_i \mid y_{-i}), \qquad
    p(y_i \mid y_{-i}) = \int p(y_i \mid \theta)\, p(\theta \mid y_{-i})\, d\theta .

Pareto-smoothed importance sampling (PSIS) estimates each term from the full-data draws with
the ratios :math:`r_i^{(s)} = 1 / p(y_i \mid \theta^{(s)})`: the largest
:math:`M = \min(S/5, 3\sqrt{S})` ratios are replaced by the expected order statistics of a
generalised Pareto distribution fitted to them, the smoothed weights :math:`w_i^{(s)}` are
truncated at :math:`S^{3/4}\bar w_i`, and

.. math::

    \log p(y_i \mid y_{-i}) \approx
    \log \frac{\sum_s w_i^{(s)} p(y_i \mid \theta^{(s)})}{\sum_s w_i^{(s)}} .

The fitted Pareto shape :math:`\hat k_i` diagnoses each term: above 0.7 the importance
sampling estimate is unreliable for that observation (typically an influential family or a
group with one member), and the comparison warns, naming the model and the count. The
effective number of parameters is :math:`p_{\mathrm{loo}} = \mathrm{lpd} -
\widehat{\mathrm{elpd}}_{\mathrm{loo}}` with :math:`\mathrm{lpd} = \sum_i \log \frac1S \sum_s
p(y_i \mid \theta^{(s)})`; standard errors use the pointwise terms,
:math:`\mathrm{se} = \sqrt{n\, \widehat{\mathrm{Var}}_i(\widehat{\mathrm{elpd}}_i)}`, and the
difference of model :math:`A` to the best model :math:`B`,
:math:`\mathrm{elpd\_diff} = \widehat{\mathrm{elpd}}_B - \widehat{\mathrm{elpd}}_A \ge 0`, has
:math:`\mathrm{dse} = \sqrt{n\, \widehat{\mathrm{Var}}_i(\widehat{\mathrm{elpd}}_{B,i} -
\widehat{\mathrm{elpd}}_{A,i})}` (Vehtari, Gelman & Gabry 2017, sec. 2-3 and 5.2; variances
with divisor :math:`n`, as ArviZ).

Stacking (Yao, Vehtari, Simpson & Gelman 2018) chooses the weights of a mixture of the
models' LOO predictive distributions that predicts best,

.. math::

    \hat w = \arg\max_{w \in \Delta_K} \sum_{i=1}^n \log \sum_{k=1}^K w_k\,
    p(y_i \mid y_{-i}, M_k),

a concave problem on the simplex :math:`\Delta_K`, solved here with sequential least squares
after subtracting each row's maximum (so that very negative log densities do not underflow).
``method="pseudo-BMA"`` gives :math:`w_k \propto \exp(\widehat{\mathrm{elpd}}_k)` instead
(Akaike-type weights, which Yao et al. show to be over-confident).

References
----------
Vehtari, A., Gelman, A. & Gabry, J. (2017). Practical Bayesian model evaluation using
leave-one-out cross-validation and WAIC. *Statistics and Computing* 27(5), 1413-1432.
Vehtari, A., Simpson, D., Gelman, A., Yao, Y. & Gabry, J. (2024). Pareto smoothed importance
sampling. *Journal of Machine Learning Research* 25(72), 1-58.
Yao, Y., Vehtari, A., Simpson, D. & Gelman, A. (2018). Using stacking to average Bayesian
predictive distributions. *Bayesian Analysis* 13(3), 917-1007.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from sosstats._results import TableResult
from sosstats._validate import check_option
from sosstats.errors import DataError, SosstatsWarning
from sosstats.multilevel.results import MultilevelResult

__all__ = ["ModelComparison", "compare_models", "comparison_table", "stacking_weights"]

WEIGHT_METHODS = ("stacking", "pseudo-BMA")
TABLE_COLUMNS = ["rank", "elpd_loo", "se", "p_loo", "elpd_diff", "dse", "weight", "n_high_k",
                 "max_k", "warning"]


def stacking_weights(lpd: np.ndarray) -> np.ndarray:
    r"""Stacking weights from pointwise LOO log predictive densities.

    Parameters
    ----------
    lpd : numpy.ndarray
        ``(n, K)`` array of :math:`\log p(y_i \mid y_{-i}, M_k)`.

    Returns
    -------
    numpy.ndarray
        ``(K,)`` weights on the simplex maximising
        :math:`\sum_i \log \sum_k w_k \exp(\mathrm{lpd}_{ik})` (Yao et al. 2018).
    """
    lpd = np.asarray(lpd, dtype=float)
    n_models = lpd.shape[1]
    if n_models == 1:
        return np.ones(1)
    dens = np.exp(lpd - lpd.max(axis=1, keepdims=True))  # row-wise rescaling: same argmax

    def score(w: np.ndarray) -> float:
        return -float(np.sum(np.log(np.maximum(dens @ w, 1e-300))))

    def grad(w: np.ndarray) -> np.ndarray:
        return -np.sum(dens / np.maximum(dens @ w, 1e-300)[:, None], axis=0)

    start = np.full(n_models, 1.0 / n_models)
    fit = optimize.minimize(score, start, jac=grad, method="SLSQP",
                            bounds=[(0.0, 1.0)] * n_models,
                            constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1.0,
                                          "jac": lambda w: np.ones_like(w)}],
                            options={"ftol": 1e-12, "maxiter": 500})
    w = np.clip(fit.x, 0.0, None)
    return w / w.sum()


def comparison_table(pointwise: Mapping[str, np.ndarray], p_loo: Mapping[str, float], *,
                     method: str = "stacking") -> pd.DataFrame:
    r"""Comparison table from each model's pointwise ``elpd_loo`` terms (pure numpy).

    Parameters
    ----------
    pointwise : mapping of str to numpy.ndarray
        Model name -> ``(n,)`` pointwise :math:`\log p(y_i \mid y_{-i})`, same ``n`` for all.
    p_loo : mapping of str to float
        Model name -> effective number of parameters.
    method : {"stacking", "pseudo-BMA"}
        How the weights are computed.

    Returns
    -------
    pandas.DataFrame
        Indexed by model, best first (ties keep the input order): ``rank`` (0 = best),
        ``elpd_loo``, ``se``, ``p_loo``, ``elpd_diff`` (best minus this model, >= 0),
        ``dse``, ``weight``.
    """
    check_option(method, WEIGHT_METHODS, "method")
    names = list(pointwise)
    lpd = np.column_stack([np.asarray(pointwise[k], dtype=float) for k in names])
    n = lpd.shape[0]
    elpd = lpd.sum(axis=0)
    order = np.argsort(-elpd, kind="stable")
    best = lpd[:, order[0]]
    diff_i = best[:, None] - lpd
    if method == "stacking":
        weight = stacking_weights(lpd)
    else:
        rel = np.exp(elpd - elpd.max())
        weight = rel / rel.sum()
    table = pd.DataFrame({
        "rank": np.argsort(order),
        "elpd_loo": elpd,
        "se": np.sqrt(n * lpd.var(axis=0)),
        "p_loo": [float(p_loo[k]) for k in names],
        "elpd_diff": diff_i.sum(axis=0),
        "dse": np.sqrt(n * diff_i.var(axis=0)),
        "weight": weight}, index=pd.Index(names, name="model"))
    return table.iloc[order]


@dataclass(frozen=True, eq=False)
class ModelComparison(TableResult):
    """Result of :func:`compare_models` (a :class:`~sosstats._results.TableResult`).

    ``tidy()``, ``summary()``, ``to_dict()`` and ``str()`` show one row per model, best first:
    ``model, rank, elpd_loo, se, p_loo, elpd_diff, dse, weight, n_high_k, max_k``; the
    Pareto k warnings are the summary's notes.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model, best first: ``rank, elpd_loo, se, p_loo, elpd_diff, dse, weight,
        n_high_k`` (observations with Pareto k above ``k_threshold``), ``max_k`` and
        ``warning`` (empty when PSIS-LOO is reliable).
    pointwise : pandas.DataFrame
        Pointwise ``elpd_loo`` terms, one column per model (input order).
    pareto_k : pandas.DataFrame
        Pareto k of each observation, one column per model.
    loo : dict
        ArviZ ``ELPDData`` of each model.
    method : str
        Weighting method.
    nobs : int
        Observations compared.
    k_threshold : float
        Pareto k above which an observation's estimate is flagged.
    """

    table: pd.DataFrame
    pointwise: pd.DataFrame = field(repr=False)
    pareto_k: pd.DataFrame = field(repr=False)
    loo: dict[str, Any] = field(repr=False)
    method: str = "stacking"
    nobs: int = 0
    k_threshold: float = 0.7

    @property
    def best(self) -> str:
        """Name of the model with the highest ``elpd_loo``."""
        return str(self.table.index[0])

    @property
    def warnings(self) -> list[str]:
        """The Pareto k warnings, one per model concerned."""
        return [w for w in self.table["warning"] if w]

    def to_frame(self) -> pd.DataFrame:
        """Return the comparison table with its ``warning`` column (a copy)."""
        return self.table.copy()

    # -- TableResult ------------------------------------------------------------------------
    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return self.table.drop(columns="warning")

    def _title(self) -> str:
        return "Model comparison by PSIS-LOO"

    def _notes(self) -> list[str]:
        notes = [f"{self.nobs} observations; PSIS-LOO (Vehtari, Gelman & Gabry 2017); "
                 f"elpd_diff = best elpd_loo - elpd_loo, dse its standard error; "
                 f"{self.method} weights."]
        return notes + self.warnings

    __repr__ = TableResult.__str__

    def plot(self, ax: Any = None) -> Any:
        """Forest of ``elpd_loo`` with SE bars (circles) and of differences to the best (dse).

        Returns the matplotlib ``Axes``.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 1.0 + 0.5 * self.table.shape[0]))
        t = self.table
        pos = -np.arange(t.shape[0], dtype=float)
        ax.errorbar(t["elpd_loo"], pos, xerr=t["se"], fmt="o", color="C0", lw=1.2,
                    label="elpd_loo \u00b1 se")
        other = t["rank"].to_numpy() > 0
        if other.any():
            ax.errorbar(t["elpd_loo"][other], pos[other] - 0.25, xerr=t["dse"][other], fmt="^",
                        color="grey", lw=1.0, ms=5, label="difference to best \u00b1 dse")
        ax.axvline(float(t["elpd_loo"].iloc[0]), color="grey", lw=0.8, ls="--")
        ax.set_yticks(pos)
        ax.set_yticklabels([str(i) for i in t.index])
        ax.set_xlabel("elpd_loo (log scale; higher is better)")
        ax.set_title("Model comparison by PSIS-LOO")
        ax.legend(frameon=False, fontsize=8, loc="best")
        return ax


def _named(models: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    if isinstance(models, Mapping):
        named = {str(k): v for k, v in models.items()}
    elif isinstance(models, Sequence) and not isinstance(models, (str, bytes)):
        named = {f"model_{i + 1}": v for i, v in enumerate(models)}
    else:
        raise DataError("`models` must be a dict of name -> MultilevelResult or a list of "
                        f"MultilevelResult; got {type(models).__name__}.")
    if len(named) < 2:
        raise DataError(f"`models` must hold at least two fitted models to compare; got "
                        f"{len(named)}{' (' + ', '.join(map(repr, named)) + ')' if named else ''}.")
    bad = [f"{k!r} ({type(v).__name__})" for k, v in named.items()
           if not isinstance(v, MultilevelResult)]
    if bad:
        raise DataError(f"`models` must be MultilevelResult objects (from "
                        f"MultilevelModel.fit); got {', '.join(bad)}.")
    return named


def _check_same_data(named: dict[str, MultilevelResult]) -> int:
    """Raise DataError naming the models whose observations differ from the first one's."""
    first, ref = next(iter(named.items()))
    y_ref = np.asarray(ref.design.rows.y, dtype=float)
    for name, res in named.items():
        y = np.asarray(res.design.rows.y, dtype=float)
        if res.nobs != ref.nobs or res.design.response != ref.design.response:
            raise DataError(
                f"models {first!r} and {name!r} were not fitted to the same observations: "
                f"{first!r} has {ref.nobs} rows of {ref.design.response!r}, {name!r} has "
                f"{res.nobs} rows of {res.design.response!r}; PSIS-LOO compares models only "
                "on the same data.")
        if y.shape != y_ref.shape or not np.array_equal(y, y_ref, equal_nan=True):
            n_diff = int(np.sum(y != y_ref)) if y.shape == y_ref.shape else res.nobs
            raise DataError(
                f"models {first!r} and {name!r} were not fitted to the same observations: "
                f"{n_diff} of the {ref.nobs} values of {ref.design.response!r} differ (other "
                "rows or another coding of the outcome); PSIS-LOO compares models only on the "
                "same data.")
    return int(ref.nobs)


def compare_models(models: Mapping[str, MultilevelResult] | Sequence[MultilevelResult], *,
                   ic: str = "loo", method: str = "stacking",
                   k_threshold: float = 0.7) -> ModelComparison:
    r"""Compare fitted multilevel models by PSIS-LOO (see the module notes for the maths).

    Parameters
    ----------
    models : dict of str to MultilevelResult, or list of MultilevelResult
        At least two fits on the same observations (same outcome, same rows, same order).
        A list gets the names ``model_1``, ``model_2``, ...
    ic : {"loo"}
        Information criterion: PSIS leave-one-out cross-validation (``arviz.loo``).
    method : {"stacking", "pseudo-BMA"}, default ``"stacking"``
        Model weights: stacking of predictive distributions (Yao et al. 2018) or
        :math:`w_k \propto \exp(\mathrm{elpd}_k)`.
    k_threshold : float, default 0.7
        Pareto k above which an observation's LOO estimate is counted as unreliable.

    Returns
    -------
    ModelComparison
        ``.table`` (best model first), ``str()`` / ``.summary()``, ``.plot()``.

    Raises
    ------
    DataError
        Fewer than two models, objects that are not ``MultilevelResult``, models fitted to
        different observations (named), an unknown ``ic`` or ``method``.

    Warns
    -----
    SosstatsWarning
        Any observation with Pareto k above ``k_threshold``, naming the model and how many
        observations.

    Notes
    -----
    Each model's log-likelihood is the one of :meth:`MultilevelResult.log_likelihood`: one
    term per data row (T1 and T2 rows of a family are separate terms in long data), without
    likelihood weights. For leave-one-*group*-out questions (a new pilot), PSIS-LOO by rows
    is not the right target; see Vehtari et al. (2017), sec. 5.

    Examples
    --------
    >>> cmp = compare_models({"pilot": fit_a, "pilot + worker": fit_b})  # doctest: +SKIP
    >>> print(cmp)  # doctest: +SKIP
    >>> cmp.plot()  # doctest: +SKIP
    """
    check_option(ic, ("loo",), "ic")
    check_option(method, WEIGHT_METHODS, "method")
    if not (isinstance(k_threshold, (int, float)) and 0 < k_threshold <= 1):
        raise DataError(f"`k_threshold` must be a number in (0, 1]; got {k_threshold!r}.")
    named = _named(models)
    nobs = _check_same_data(named)
    loos: dict[str, Any] = {}
    for name, res in named.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # arviz's own Pareto k warning: ours follows
            loos[name] = res.loo(pointwise=True)
    pointwise = pd.DataFrame({k: np.asarray(v.loo_i, dtype=float) for k, v in loos.items()})
    pareto_k = pd.DataFrame({k: np.asarray(v.pareto_k, dtype=float) for k, v in loos.items()})
    table = comparison_table(pointwise, {k: float(v.p_loo) for k, v in loos.items()},
                             method=method)
    high = (pareto_k > k_threshold).sum(axis=0)
    table["n_high_k"] = high.reindex(table.index).astype(int)
    table["max_k"] = pareto_k.max(axis=0).reindex(table.index)
    table["warning"] = [
        (f"PSIS-LOO may be unreliable for model {k!r}: {int(high[k])} of {nobs} observations "
         f"have Pareto k > {k_threshold:g} (max {pareto_k[k].max():.2f}); refit without them "
         "(exact LOO) or use K-fold cross-validation.") if high[k] > 0 else ""
        for k in table.index]
    for msg in table["warning"]:
        if msg:
            warnings.warn(msg, SosstatsWarning, stacklevel=2)
    return ModelComparison(table=table[TABLE_COLUMNS], pointwise=pointwise, pareto_k=pareto_k,
                           loo=loos, method=method, nobs=nobs, k_threshold=float(k_threshold))

r"""The national-scale path of :meth:`MultilevelModel.fit`: a logit on worker x pattern counts.

When the model is a Bernoulli or binomial logit with an intercept, no likelihood weights, no
random slopes and exactly two nested grouping levels (children in workers in LAs), its
likelihood depends on the data only through the table of successes and trials per
(lower-level group, covariate pattern) (:mod:`sosstats.multilevel._census_model`). Sampling
that table instead of the rows removes every gather over rows from the gradient: at the
children-in-need census shape (600,000 children, 20,000 workers, 152 LAs) it is what makes the
fit take minutes rather than hours (``benchmarks/multilevel_census.py``).

``likelihood="auto"`` (the default of :meth:`MultilevelModel.fit`) takes this path when the
design qualifies, its rows were collapsed (``collapse=True``, the default) to at least
:data:`CENSUS_MIN_ROWS` fit rows and the dense table has at most 4 cells per fit row;
``"census"`` asks for it whatever the size (refused, naming the reason, when the design does
not qualify); ``"rows"`` never takes it. The model is the same: the priors are the model's
resolved priors, the intercept is centred at the design's predictor means as on the rows,
the centring of each level follows ``centred=``, and the posterior is returned under the
row-wise model's names for what the results read (``beta``, ``b``, ``intercept_centred``,
``sigma_<level>``, ``u_<level>``, ``z_<level>``), so every method of
:class:`~sosstats.multilevel.MultilevelResult` works on it. Not the same: a centred level has
no ``mean_<level>``, ``b`` is one vector even where the rows path splits it by prior family
(``b_<dist>``), and the draws for a seed differ from the rows path's (another graph). The
compiled-model cache is not used on this path (the census graph has no swappable inputs), so
``reuse=`` has no effect there and each fit compiles (about 8 s).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sosstats.errors import DesignError
from sosstats.multilevel._census_model import CensusTable, table_from_design

__all__ = ["CENSUS_MIN_ROWS", "LIKELIHOODS", "census_model", "census_table_for", "centring_of",
           "max_table_cells", "standard_posterior"]

#: Fit rows (after collapsing identical rows) from which ``likelihood="auto"`` uses the table.
#: Measured here (2 cores, 60,000 children in 2,000 workers in 152 LAs, 14,173 fit rows, 2 x
#: (500 + 500) draws): the table took 23 s (compile 8, sampling 15), the rows 38 s (12, 26).
#: Below a few thousand rows the rows path's compiled-model cache wins on repeated fits.
CENSUS_MIN_ROWS = 10_000

LIKELIHOODS = ("auto", "rows", "census")


def max_table_cells(design: Any, likelihood: str = "auto") -> int:
    """Largest dense worker x pattern table taken: 4 cells per fit row (``"census"``: >= 10^6).

    With categorical covariates the census table has about 2 cells per fit row (600,000
    children: 20,000 workers x 16 patterns for 142,000 fit rows); a continuous covariate
    makes every row its own pattern and the dense table workers x rows, which would not fit
    in memory at census size and costs more than the rows at any size. ``"census"`` (asked
    for by name) also takes small tables of up to 10^6 cells.
    """
    cells = 4 * design.fit.n
    return cells if likelihood == "auto" else max(cells, 1_000_000)


def _stackable(priors: Any, terms: tuple[str, ...]) -> bool:
    """Whether the coefficient priors of ``terms`` share one family (one vector variable)."""
    dists = {priors.coefficient(t).dist for t in terms}
    return len(dists) <= 1


def census_table_for(design: Any, priors: Any, likelihood: str) -> CensusTable | None:
    """Return the worker x pattern table :meth:`MultilevelModel.fit` samples (None: the rows).

    Raises
    ------
    DesignError
        ``likelihood="census"`` on a design the table cannot represent (the reason named).
    """
    if likelihood == "rows":
        return None
    if likelihood == "auto" and (design.fit.n < CENSUS_MIN_ROWS or not design.collapsed):
        return None
    reason = None
    try:
        table = table_from_design(design, max_cells=max_table_cells(design, likelihood))
    except DesignError as exc:          # a dense table too large for the rows it replaces
        table, reason = None, str(exc)
    if reason is None and table is None:
        reason = ("it needs a Bernoulli or binomial logit with an intercept, no weights, no "
                  "random slopes and exactly two grouping levels, one nested in the other")
    elif reason is None and not (_stackable(priors, table.terms)
                                 and _stackable(priors, table.la_terms)):
        reason = ("the coefficient priors of the row-level (or of the upper-level) terms "
                  "must share one distribution family")
    if reason is None:
        return table
    if likelihood == "census":
        raise DesignError(f"likelihood='census' cannot fit this model: {reason}. Use "
                          "likelihood='rows' (or 'auto').")
    return None


def centring_of(table: CensusTable, centred: tuple[str, ...]) -> dict[str, str]:
    """``build_census_model``'s ``la`` / ``worker`` arguments from the model's centred levels."""
    return {"la": "centred" if table.la_name in centred else "non-centred",
            "worker": "centred" if table.worker_name in centred else "non-centred"}


def census_model(table: CensusTable, design: Any, priors: Any, centred: tuple[str, ...]) -> Any:
    """Build the PyMC census model of ``design`` with its priors, centring and centre."""
    from sosstats.multilevel._census_model import build_census_model

    centre = dict(zip(design.terms, np.asarray(design.x_mean, dtype=float), strict=True))
    return build_census_model(table, priors=priors, centre=centre,
                              **centring_of(table, centred))


def standard_posterior(idata: Any, design: Any, table: CensusTable) -> Any:
    """Rename the census model's posterior to the row-wise model's variables, in place.

    Replaces ``b`` (row-level terms) and ``b_la`` by one ``b`` (dims ``coef``: the terms
    other than the intercept, in design order), adds ``z_<level>`` where a level is centred
    and drops ``mean_<level>``. ``intercept_centred`` is the sampled one (the model is
    centred at the design's predictor means, as the rows path).
    """
    post = idata.posterior
    attrs = dict(post.attrs)
    beta = post["beta"]
    coefs = [t for t in design.terms if t != "Intercept"]
    drop = [v for v in ("b", "b_la", f"mean_{table.la_name}", f"mean_{table.worker_name}")
            if v in post.data_vars]
    post = post.drop_vars(drop)
    if coefs:
        b = beta.sel(term=coefs).rename(term="coef")
        post["b"] = b.drop_vars("coef").assign_coords(coef=coefs)
    for name in (table.la_name, table.worker_name):
        if f"z_{name}" not in post.data_vars:       # a centred level samples u (or its mean)
            post[f"z_{name}"] = post[f"u_{name}"] / post[f"sigma_{name}"]
    post.attrs.update(attrs)
    post.attrs["sosstats_likelihood"] = "census"
    idata.posterior = post
    return idata

r"""Convergence diagnostics of a sampled multilevel model, and the warnings they trigger.

Notes
-----
Always computed after a fit: rank-normalised split :math:`\hat R`, bulk and tail effective
sample sizes (Vehtari, Gelman, Simpson, Carpenter & Burkner 2021, *Bayesian Analysis* 16(2)),
the number of divergent transitions per chain (Betancourt 2017, arXiv:1701.02434) and the
energy Bayesian fraction of missing information per chain (E-BFMI; Betancourt 2016,
arXiv:1604.00695). A :class:`~sosstats.errors.SosstatsWarning` naming the parameters is
raised when :math:`\hat R > 1.01` or an ESS is below 400 (Vehtari et al. 2021's thresholds for
four chains), for any divergence, and for an E-BFMI below 0.3. The checks cover the reported
parameters and the standardised group effects ``z_<level>``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import TableResult
from sosstats.errors import SosstatsWarning

__all__ = ["Diagnostics", "compute_diagnostics", "parameter_names", "flat_labels", "whole_ess"]

ESS_COLUMNS = ("ess_bulk", "ess_tail", "ess")

RHAT_MAX = 1.01
ESS_MIN = 400.0
EBFMI_MIN = 0.3


def parameter_names(posterior: Any, *, group_effects: bool = False) -> list[str]:
    """List the reported parameters in the posterior (and the ``z`` effects when asked)."""
    names = []
    for var in posterior.data_vars:
        v = str(var)
        if v in ("beta", "sigma", "cutpoints", "alpha") or v.startswith((
                "sigma_", "slope_sigma_", "corr_")):
            names.append(v)
        elif group_effects and v.startswith(("z_", "slope_z_")):
            names.append(v)
    order = {"beta": 0, "sigma": 3, "cutpoints": 4, "alpha": 5}
    return sorted(names, key=lambda n: (order.get(n, 1 if n.startswith("sigma_") else 2),
                                        names.index(n)))


def flat_labels(da: Any) -> list[str]:
    """Labels ``name[coord]`` of a variable without chain / draw dims (``name`` if scalar)."""
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    if not dims:
        return [str(da.name)]
    coords = [np.asarray(da.coords[d].values) if d in da.coords else np.arange(da.sizes[d])
              for d in dims]
    grids = np.meshgrid(*coords, indexing="ij")
    return [f"{da.name}[{','.join(str(g.ravel()[k]) for g in grids)}]"
            for k in range(grids[0].size)]


def _flat(ds: Any, names: list[str]) -> pd.Series:
    labels, values = [], []
    for name in names:
        da = ds[name]
        labels.extend(flat_labels(da))
        values.extend(np.atleast_1d(np.asarray(da.values, dtype=float)).ravel())
    return pd.Series(values, index=labels, dtype=float)


def whole_ess(table: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``table`` with its ESS columns rounded to whole draws, for printing.

    With :func:`~sosstats._results.format_number` an ESS then prints as ``966`` or ``12,783``
    (never ``965.7`` beside ``12,783``); the results' own tables keep the unrounded values.
    """
    out = table.copy()
    for col in ESS_COLUMNS:
        if col in out.columns:
            out[col] = out[col].round()
    return out


@dataclass(frozen=True, eq=False)
class Diagnostics(TableResult):
    """Sampler diagnostics of a fit (a table result: ``tidy()``, ``summary()``, ``print``).

    Attributes
    ----------
    table : pandas.DataFrame
        Per parameter: ``r_hat``, ``ess_bulk``, ``ess_tail``, ``mcse_mean``.
    divergences : numpy.ndarray
        Divergent transitions after tuning, per chain.
    ebfmi : numpy.ndarray
        E-BFMI per chain.
    messages : list of str
        The problems found (also issued as warnings at fit time).
    worst_group_effect : dict
        Largest R-hat and smallest ESS among the standardised group effects, with names.
    """

    table: pd.DataFrame
    divergences: np.ndarray
    ebfmi: np.ndarray
    messages: list[str] = field(default_factory=list)
    worst_group_effect: dict[str, Any] = field(default_factory=dict)

    method = "sampler diagnostics"

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.messages

    def to_frame(self) -> pd.DataFrame:
        """Return the per-parameter table (a copy)."""
        return self.table.copy()

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return whole_ess(self.table)    # ESS in whole draws, as summary() prints them

    def _title(self) -> str:
        return "Sampler diagnostics"

    def _notes(self) -> list[str]:
        return [f"divergences per chain: {self.divergences.tolist()}",
                f"E-BFMI per chain: {np.round(self.ebfmi, 3).tolist()}",
                *(self.messages or ["all checks passed"])]


def _named(values: pd.Series, bad: np.ndarray, fmt: str, ascending: bool) -> str:
    sel = values[bad].sort_values(ascending=ascending)
    shown = ", ".join(f"{k} ({fmt.format(v)})" for k, v in sel.head(5).items())
    return shown + (f" and {sel.size - 5} more" if sel.size > 5 else "")


def compute_diagnostics(idata: Any) -> Diagnostics:
    """R-hat, ESS, divergences and E-BFMI of ``idata`` with the messages for failed checks."""
    import arviz as az

    post = idata.posterior
    n_chains = post.sizes["chain"]
    params = parameter_names(post)
    every = parameter_names(post, group_effects=True)
    sub = post[every]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = _flat(az.rhat(sub), every) if n_chains > 1 else None
        bulk = _flat(az.ess(sub, method="bulk"), every)
        tail = _flat(az.ess(sub, method="tail"), every)
        mcse = _flat(az.mcse(post[params]), params)
    if rhat is None:
        rhat = pd.Series(np.nan, index=bulk.index)
    labels = list(mcse.index)
    table = pd.DataFrame({"r_hat": rhat[labels], "ess_bulk": bulk[labels],
                          "ess_tail": tail[labels], "mcse_mean": mcse},
                         index=pd.Index(labels, name="parameter"))
    stats = idata.sample_stats
    div = np.asarray(stats["diverging"].sum("draw").values, dtype=int) \
        if "diverging" in stats else np.zeros(n_chains, dtype=int)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ebfmi = np.asarray(az.bfmi(idata), dtype=float)
    except (KeyError, ValueError, TypeError):
        ebfmi = np.full(n_chains, np.nan)
    messages = []
    bad_r = rhat.to_numpy() > RHAT_MAX
    if bad_r.any():
        messages.append(f"R-hat above {RHAT_MAX} for {_named(rhat, bad_r, '{:.3f}', False)}; "
                        "the chains disagree: run more tuning and draws before using these.")
    ess = pd.concat([bulk, tail], axis=1).min(axis=1)
    bad_e = ess.to_numpy() < ESS_MIN
    if bad_e.any():
        messages.append(f"effective sample size (bulk or tail) below {ESS_MIN:.0f} for "
                        f"{_named(ess, bad_e, '{:.0f}', True)}; draw more samples before "
                        "trusting intervals.")
    if div.sum() > 0:
        messages.append(f"{int(div.sum())} divergent transition(s) after tuning (per chain "
                        f"{div.tolist()}); the posterior may be biased: raise target_accept "
                        "(e.g. 0.95 or 0.99) or simplify the model.")
    low = np.flatnonzero(ebfmi < EBFMI_MIN)
    if low.size:
        messages.append(f"E-BFMI below {EBFMI_MIN} in chain(s) {low.tolist()} "
                        f"({', '.join(f'{ebfmi[c]:.2f}' for c in low)}); the sampler explores "
                        "the energy distribution poorly.")
    group = [k for k in rhat.index if k not in labels]
    worst: dict[str, Any] = {}
    if group:
        r_g, e_g = rhat[group], ess[group]
        worst = {"max_r_hat": float(r_g.max()), "max_r_hat_at": str(r_g.idxmax())
                 if r_g.notna().any() else None,
                 "min_ess": float(e_g.min()), "min_ess_at": str(e_g.idxmin())}
    return Diagnostics(table=table, divergences=div, ebfmi=ebfmi, messages=messages,
                       worst_group_effect=worst)


def warn_diagnostics(diag: Diagnostics, stacklevel: int = 3) -> None:
    """Issue one :class:`SosstatsWarning` per failed check."""
    for msg in diag.messages:
        warnings.warn(msg, SosstatsWarning, stacklevel=stacklevel)

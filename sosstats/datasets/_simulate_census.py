r"""Census-shaped child-level data: children in workers in LAs, with a binary outcome.

:func:`simulate_census` draws a national children-in-need-census shape (about 600,000 children
a year, 20,000 social workers, 152 LAs, some of them pilots) with a known logit model, so the
national-scale multilevel model (:mod:`sosstats.multilevel._census_model`) can be checked
against the truth that made the data. Everything is vectorised over children and workers.

The model, for child :math:`i` of worker :math:`j` in LA :math:`l`:

.. math::

    \operatorname{logit} P(y_i = 1) = \alpha + \beta_{a(i)} + \gamma\,r_i + \delta\,P_l
        + u_l + v_j,\qquad u_l \sim N(0, \sigma_{LA}^2),\quad v_j \sim N(0, \sigma_W^2),

with :math:`a(i)` the child's age band (``0-4`` the reference), :math:`r_i` a previous
referral, :math:`P_l = 1` for a pilot LA and :math:`\delta` the pilot effect on the log odds
of re-referral within 12 months.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import check_rng
from sosstats.datasets._simulate_las import DEFAULT_START_YEARS, simulate_las
from sosstats.errors import DataError

__all__ = ["AGE_BANDS", "Census", "simulate_census"]

#: Age bands of the children (years), in order; the first is the reference level.
AGE_BANDS: tuple[str, ...] = ("0-4", "5-9", "10-15", "16-17")
_AGE_SHARES = np.array([0.30, 0.25, 0.33, 0.12])

#: The formula whose coefficients ``truth`` holds (patsy/formulaic names).
CENSUS_FORMULA = "rereferred ~ C(age_band) + previous_referral + pilot"


@dataclass(frozen=True, eq=False)
class Census:
    """A simulated census: the children, workers and LAs, and the truth that made them.

    Attributes
    ----------
    children : DataFrame
        One row per child: ``child_id`` (int64), ``worker_id`` and ``la_code`` (category),
        ``pilot`` (bool), ``age_band`` (ordered category), ``previous_referral`` (bool),
        ``rereferred`` (int64 0/1).
    workers : DataFrame
        ``worker_id``, ``la_code``, ``pilot`` and the worker's caseload (children in ``children``).
    las : DataFrame
        The LA frame of :func:`sosstats.datasets.simulate_evaluation` (``la_code``,
        ``child_population``, ``pilot``, ...).
    truth : dict
        ``intercept``, ``age_band`` (dict of log-odds differences from ``0-4``),
        ``previous_referral``, ``pilot_effect``, ``sigma_la``, ``sigma_worker``, ``u_la`` and
        ``u_worker`` (Series of the drawn effects by code) and ``formula``.
    seed, sizes
        How to reproduce it.
    """

    children: pd.DataFrame
    workers: pd.DataFrame
    las: pd.DataFrame
    truth: dict[str, Any]
    seed: Any
    sizes: dict[str, int] = field(default_factory=dict)


def _largest_remainder(total: int, shares: np.ndarray, minimum: int = 0) -> np.ndarray:
    shares = np.asarray(shares, dtype=float)
    base = np.full(shares.size, minimum, dtype=np.int64)
    rest = total - base.sum()
    raw = rest * shares / shares.sum()
    counts = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: rest - counts.sum()]] += 1
    return base + counts


def simulate_census(rng: int | np.random.Generator | None = 0, *, n_children: int = 600_000,
                    n_workers: int = 20_000, n_las: int = 152, n_pilots: int = 10,
                    intercept: float = -1.4, pilot_effect: float = -0.25,
                    previous_referral: float = 0.6, sigma_la: float = 0.3,
                    sigma_worker: float = 0.4,
                    age_effects: tuple[float, float, float] = (-0.2, 0.1, 0.3)) -> Census:
    r"""Simulate census-shaped child-level data with a known multilevel logit.

    LAs are drawn as in :func:`sosstats.datasets.simulate_evaluation` (types, regions, child
    populations, a simple random sample of ``n_pilots`` pilots). Workers are spread over the
    LAs in proportion to child population (at least one each); each worker's caseload share is
    :math:`\mathrm{Gamma}(4, 1)`, and children are assigned to workers with those shares. Each
    child has an age band (shares 0.30 / 0.25 / 0.33 / 0.12) and a previous referral
    (probability 0.35), and the outcome ``rereferred`` is Bernoulli with

    .. math::

        \operatorname{logit} p_i = \alpha + \beta_{a(i)} + \gamma r_i + \delta P_{l(i)}
            + u_{l(i)} + v_{j(i)},\quad u_l\sim N(0,\sigma_{LA}^2),\quad
            v_j \sim N(0, \sigma_W^2).

    Parameters
    ----------
    rng : int, Generator or None
        Seed or generator.
    n_children, n_workers, n_las, n_pilots : int
        Sizes (``n_workers >= n_las > n_pilots >= 1``).
    intercept, pilot_effect, previous_referral : float
        :math:`\alpha`, :math:`\delta` and :math:`\gamma` (log odds).
    sigma_la, sigma_worker : float
        Random-intercept SDs (>= 0).
    age_effects : tuple of three floats
        :math:`\beta` for ``5-9``, ``10-15``, ``16-17`` against ``0-4``.

    Returns
    -------
    Census

    Raises
    ------
    DataError
        If a size or SD is out of range.

    References
    ----------
    Department for Education (2016). *Characteristics of children in need: 2015 to 2016*
    (about 394,000 children in need at 31 March, 600,000+ episodes in the year).
    """
    gen = check_rng(rng)
    seed = rng if isinstance(rng, (int, np.integer)) or rng is None else "generator"
    for name, value, low in (("n_children", n_children, 1), ("n_las", n_las, 2),
                             ("n_pilots", n_pilots, 1)):
        if int(value) != value or value < low:
            raise DataError(f"{name}: expected an integer >= {low}, got {value!r}.")
    if n_pilots >= n_las:
        raise DataError(f"n_pilots: must be less than n_las ({n_las}), got {n_pilots}.")
    if int(n_workers) != n_workers or n_workers < n_las:
        raise DataError(f"n_workers: expected an integer >= n_las ({n_las}), got {n_workers!r}.")
    for name, value in (("sigma_la", sigma_la), ("sigma_worker", sigma_worker)):
        if not np.isfinite(value) or value < 0:
            raise DataError(f"{name}: expected a finite SD >= 0, got {value!r}.")
    if len(age_effects) != len(AGE_BANDS) - 1:
        raise DataError(f"age_effects: expected {len(AGE_BANDS) - 1} values (5-9, 10-15, "
                        f"16-17), got {len(age_effects)}.")

    las, _, _ = simulate_las(gen, int(n_las), int(n_pilots), DEFAULT_START_YEARS)
    la_codes = las["la_code"].to_numpy(dtype=str)
    la_pilot = las["pilot"].to_numpy(dtype=bool)
    pop = las["child_population"].to_numpy(dtype=float)
    per_la = _largest_remainder(int(n_workers), pop, minimum=1)
    worker_la = np.repeat(np.arange(n_las), per_la)
    width = len(str(int(n_workers)))
    worker_ids = np.char.add("W", np.char.zfill(np.arange(1, n_workers + 1).astype(str), width))
    share = gen.gamma(4.0, 1.0, n_workers)
    child_worker = np.sort(gen.choice(n_workers, size=int(n_children), p=share / share.sum()))
    child_la = worker_la[child_worker]
    age = gen.choice(len(AGE_BANDS), size=int(n_children), p=_AGE_SHARES)
    prev = gen.random(int(n_children)) < 0.35
    u_la = gen.normal(0.0, sigma_la, n_las)
    u_worker = gen.normal(0.0, sigma_worker, n_workers)
    beta_age = np.r_[0.0, np.asarray(age_effects, dtype=float)]
    eta = (intercept + beta_age[age] + previous_referral * prev + pilot_effect * la_pilot[child_la]
           + u_la[child_la] + u_worker[child_worker])
    y = (gen.random(int(n_children)) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)

    la_cat = pd.Categorical.from_codes(child_la, categories=la_codes)
    worker_cat = pd.Categorical.from_codes(child_worker, categories=worker_ids)
    children = pd.DataFrame({
        "child_id": np.arange(1, int(n_children) + 1, dtype=np.int64),
        "worker_id": worker_cat,
        "la_code": la_cat,
        "pilot": la_pilot[child_la],
        "age_band": pd.Categorical.from_codes(age, categories=AGE_BANDS, ordered=True),
        "previous_referral": prev,
        "rereferred": y,
    })
    workers = pd.DataFrame({
        "worker_id": pd.Categorical(worker_ids, categories=worker_ids),
        "la_code": pd.Categorical.from_codes(worker_la, categories=la_codes),
        "pilot": la_pilot[worker_la],
        "caseload": np.bincount(child_worker, minlength=n_workers).astype(np.int64),
    })
    truth = {
        "formula": CENSUS_FORMULA,
        "intercept": float(intercept),
        "age_band": dict(zip(AGE_BANDS[1:], map(float, age_effects))),
        "previous_referral": float(previous_referral),
        "pilot_effect": float(pilot_effect),
        "sigma_la": float(sigma_la),
        "sigma_worker": float(sigma_worker),
        "u_la": pd.Series(u_la, index=pd.Index(la_codes, name="la_code"), name="u_la"),
        "u_worker": pd.Series(u_worker, index=pd.Index(worker_ids, name="worker_id"),
                              name="u_worker"),
    }
    sizes = {"n_children": int(n_children), "n_workers": int(n_workers), "n_las": int(n_las),
             "n_pilots": int(n_pilots)}
    return Census(children=children, workers=workers, las=las, truth=truth, seed=seed,
                  sizes=sizes)

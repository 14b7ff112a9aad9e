"""Value for money: unit costs, discounting and re-pricing, cost-effectiveness with uncertainty.

``unit_cost`` (PSSRU-style unit costs of staff time), ``discount`` / ``present_value`` /
``annuity`` (HM Treasury Green Book), ``reprice`` (a price index the user supplies), ``cea``
(incremental analysis, ICER, net monetary benefit, CEAC / CEAF and EVPI by a stratified or
cluster bootstrap, or from posterior draws: ``cea(draws=...)``), ``evppi`` (partial EVPI per
parameter group by regression), ``budget`` (NPV, benefit-cost ratio, payback year), ``one_way`` /
``break_even`` (deterministic sensitivity) and ``psa`` with its input distributions
(probabilistic sensitivity analysis), ``diary_costs`` (time diaries: shares and costs by
group, worker bootstrap) and ``avoided_costs`` (processes avoided against statistical
neighbours, and their cost). See ``docs/vfm.md``.
"""

from __future__ import annotations

from sosstats.vfm.avoided import avoided_costs
from sosstats.vfm.avoided_result import AvoidedCosts
from sosstats.vfm.budget import budget, training_cost
from sosstats.vfm.budget_view import BudgetView
from sosstats.vfm.cea import DEFAULT_WTP, cea
from sosstats.vfm.cea_result import CEAResult
from sosstats.vfm.diaries import diary_costs
from sosstats.vfm.diary_result import DiaryComparison, DiaryCosts
from sosstats.vfm.discount import (
                                   GREEN_BOOK,
                                   annuity,
                                   discount,
                                   discount_factors,
                                   discount_rates,
                                   present_value,
)
from sosstats.vfm.distributions import (
                                   BetaProbability,
                                   GammaCost,
                                   LognormalRatio,
                                   NormalParameter,
                                   beta_probability,
                                   gamma_cost,
                                   lognormal_ratio,
                                   normal,
)
from sosstats.vfm.dominance import QUADRANTS, incremental_analysis, quadrant
from sosstats.vfm.evppi import EVPPIResult, evppi
from sosstats.vfm.prices import reprice
from sosstats.vfm.psa import PSAResult, psa
from sosstats.vfm.sensitivity import BreakEven, OneWay, break_even, one_way
from sosstats.vfm.unit_costs import Amount, UnitCost, unit_cost

__all__ = [
    "Amount",
    "AvoidedCosts",
    "BetaProbability",
    "BreakEven",
    "BudgetView",
    "CEAResult",
    "DEFAULT_WTP",
    "DiaryComparison",
    "DiaryCosts",
    "EVPPIResult",
    "GREEN_BOOK",
    "GammaCost",
    "LognormalRatio",
    "NormalParameter",
    "OneWay",
    "PSAResult",
    "QUADRANTS",
    "UnitCost",
    "annuity",
    "avoided_costs",
    "beta_probability",
    "break_even",
    "budget",
    "cea",
    "diary_costs",
    "discount",
    "discount_factors",
    "discount_rates",
    "evppi",
    "gamma_cost",
    "incremental_analysis",
    "lognormal_ratio",
    "normal",
    "one_way",
    "present_value",
    "psa",
    "quadrant",
    "reprice",
    "training_cost",
    "unit_cost",
]

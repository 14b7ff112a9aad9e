"""Value for money: unit costs, discounting and re-pricing, cost-effectiveness with uncertainty.

``unit_cost`` (PSSRU-style unit costs of staff time), ``discount`` / ``present_value`` /
``annuity`` (HM Treasury Green Book), ``reprice`` (a price index the user supplies) and ``cea``
(incremental analysis, ICER, net monetary benefit, CEAC / CEAF and EVPI by a stratified or
cluster bootstrap). See ``docs/vfm.md``.
"""

from __future__ import annotations

from sosstats.vfm._cea_result import CEAResult
from sosstats.vfm._inputs import Amount
from sosstats.vfm.cea import DEFAULT_WTP, cea
from sosstats.vfm.discount import (
                                   GREEN_BOOK,
                                   annuity,
                                   discount,
                                   discount_factors,
                                   discount_rates,
                                   present_value,
)
from sosstats.vfm.dominance import QUADRANTS, incremental_analysis, quadrant
from sosstats.vfm.prices import reprice
from sosstats.vfm.unit_costs import UnitCost, unit_cost

__all__ = [
    "Amount",
    "CEAResult",
    "DEFAULT_WTP",
    "GREEN_BOOK",
    "QUADRANTS",
    "UnitCost",
    "annuity",
    "cea",
    "discount",
    "discount_factors",
    "discount_rates",
    "incremental_analysis",
    "present_value",
    "quadrant",
    "reprice",
    "unit_cost",
]

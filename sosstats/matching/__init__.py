"""Unit-level matched comparisons: families, children and workers.

- :func:`match`: nearest-neighbour (greedy, 1:k, with or without replacement, caliper, exact),
  optimal pair, coarsened exact and propensity-score subclass matching, with MatchIt's
  defaults and weights; returns a :class:`MatchResult` (``.matched``, ``.weights``,
  ``.pairs``, ``.discarded``, ``.balance()``, ``.plot()``, ``.estimate_effect()``).
- :func:`balance_table`: standardised mean differences, variance ratios and eCDF statistics
  before and after matching (MatchIt's ``summary`` conventions), love plot.
- :func:`matched_effect`: weighted difference in means or regression adjustment on the matched
  data with cluster-robust (pair / subclass) or HC errors; :func:`abadie_imbens_se` for
  matching with replacement.
- :func:`rosenbaum_bounds`: sensitivity of a matched-pairs conclusion to hidden bias.

See ``docs/matching.md`` for the maths and references.
"""

from __future__ import annotations

from sosstats.matching.result import MatchResult
from sosstats.matching.abadie_imbens import AbadieImbensResult, abadie_imbens_se
from sosstats.matching.balance import Balance, balance_table
from sosstats.matching.effects import MatchedEffectResult, matched_effect
from sosstats.matching.match import match
from sosstats.matching.rosenbaum import RosenbaumResult, rosenbaum_bounds

__all__ = ["AbadieImbensResult", "Balance", "MatchResult", "MatchedEffectResult",
           "RosenbaumResult", "abadie_imbens_se", "balance_table", "match", "matched_effect",
           "rosenbaum_bounds"]

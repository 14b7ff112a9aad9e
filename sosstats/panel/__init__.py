"""Panel models for Time 1 / Time 2 change, with honest few-cluster inference.

- :func:`change_model`: first difference, ANCOVA, fixed, random and correlated random effects,
  one formula meaning the same question in each, with CR0-CR3, wild cluster restricted
  bootstrap, two-way and multiple-membership clustering.
- :func:`mcnemar`, :func:`stuart_maxwell`, :func:`conditional_logit`, :func:`ordered_change`
  for binary and ordinal change.
- :func:`reliable_change` (Jacobson-Truax), :func:`randomization_test` over pilot-level labels.
- :func:`wide_to_long`, :func:`long_to_wide` to reshape T1/T2 data.
- :func:`change_plot` / :func:`change_means` (the same families at every wave, intervals
  clustered by pilot), :func:`coefficient_plot`.

See ``docs/panel.md`` for the maths and references.
"""

from __future__ import annotations

from sosstats.panel.categorical import (
    McNemarResult,
    StuartMaxwellResult,
    mcnemar,
    mcnemar_from_table,
    paired_table,
    stuart_maxwell,
    stuart_maxwell_from_table,
)
from sosstats.panel.change import ChangeResult, change_model
from sosstats.panel.conditional_logit import ConditionalLogitResult, conditional_logit
from sosstats.panel.ordered_logit import OrderedChangeResult, ordered_change
from sosstats.panel.plots import change_means, change_plot, coefficient_plot
from sosstats.panel.randomization import (
    RandomizationResult,
    all_assignments,
    n_assignments,
    randomization_test,
)
from sosstats.panel.reliable_change import (
    ReliableChangeResult,
    jacobson_truax_cutoffs,
    reliable_change,
)
from sosstats.panel.reshape import long_to_wide, wide_to_long

__all__ = [
    "ChangeResult",
    "ConditionalLogitResult",
    "McNemarResult",
    "OrderedChangeResult",
    "RandomizationResult",
    "ReliableChangeResult",
    "StuartMaxwellResult",
    "all_assignments",
    "change_means",
    "change_model",
    "change_plot",
    "coefficient_plot",
    "conditional_logit",
    "jacobson_truax_cutoffs",
    "long_to_wide",
    "mcnemar",
    "mcnemar_from_table",
    "n_assignments",
    "ordered_change",
    "paired_table",
    "randomization_test",
    "reliable_change",
    "stuart_maxwell",
    "stuart_maxwell_from_table",
    "wide_to_long",
]

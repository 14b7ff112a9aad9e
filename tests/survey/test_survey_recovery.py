"""Recovery of the simulator's truths by the survey estimators (issue 15).

With 20,000 simulated workers in the ten pilots, the design-based shares of every tool's
all / some / none, overall and by experience group, equal the shares the simulator expected
given its realised pilot effects (``truth["workers"]["survey"]["expected*"]``) within binomial
error; and the naive and design-based answers differ as they should (the design SE is larger).
"""

from __future__ import annotations

import numpy as np
import pytest

from sosstats.datasets import simulate_evaluation
from sosstats.survey import SurveyDesign


@pytest.fixture(scope="module")
def big():
    ev = simulate_evaluation(rng=5, n_survey=20_000)
    return ev, SurveyDesign(ev.worker_survey, cluster="la_code")


def test_tool_shares_recover_the_expected_truth(big):
    ev, design = big
    truth = ev.truth["workers"]["survey"]["expected"]
    tools = [c for c in ev.worker_survey.columns if c.startswith("tool_")]
    tidy = design.proportion(tools).tidy().set_index("term")
    n = len(ev.worker_survey)
    for tool in tools:
        for level, p in truth[tool].items():
            est = tidy.loc[f"{tool}={level}", "estimate"]
            assert abs(est - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-12, (tool, level, est, p)


def test_shares_by_experience_recover_the_expected_truth(big):
    ev, design = big
    truth = ev.truth["workers"]["survey"]["expected_by_experience"]["tool_mapping"]
    tidy = design.proportion("tool_mapping", by="experience").tidy()
    counts = ev.worker_survey["experience"].value_counts()
    for group, shares in truth.items():
        for level, p in shares.items():
            row = tidy[(tidy["domain"].astype(str) == str(group))
                       & (tidy["level"].astype(str) == level)]
            assert len(row) == 1, (group, level)
            se = np.sqrt(p * (1 - p) / counts[group])
            assert abs(row["estimate"].iloc[0] - p) < 4 * se, (group, level)


def test_design_standard_errors_exceed_the_binomial_ones(big):
    ev, design = big
    tidy = design.proportion("tool_mapping").tidy()
    p = tidy["estimate"].to_numpy()
    binomial = np.sqrt(p * (1 - p) / len(ev.worker_survey))
    assert (tidy["std_error"].to_numpy() > binomial).all()     # clustered in ten pilots
    assert (tidy["deff"] > 1).all()

"""Diagnostics and PosteriorPredictiveCheck speak the table-result protocol (no fit needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sosstats._results import TableResult
from sosstats.multilevel._diagnostics import Diagnostics
from sosstats.multilevel.results import PosteriorPredictiveCheck


def test_diagnostics_table_notes_and_messages():
    table = pd.DataFrame({"r_hat": [1.0, 1.02], "ess_bulk": [1234.4, 87.2],
                          "ess_tail": [999.6, 91.0], "mcse_mean": [0.01, 0.2]},
                         index=pd.Index(["beta[x]", "sigma"], name="parameter"))
    diag = Diagnostics(table, np.array([0, 3]), np.array([1.1, 0.2]),
                       messages=["3 divergent transition(s)"])
    assert isinstance(diag, TableResult) and not diag.ok
    tidy = diag.tidy()
    assert tidy["parameter"].tolist() == ["beta[x]", "sigma"]
    assert tidy["ess_bulk"].tolist() == [1234.0, 87.0]          # whole draws
    text = str(diag)
    assert repr(diag) == text and text.startswith("Sampler diagnostics")
    assert "divergences per chain: [0, 3]" in text and "3 divergent transition(s)" in text
    assert diag.to_dict()["table"][1]["parameter"] == "sigma"
    assert not hasattr(diag, "plot")


def test_posterior_predictive_check_interval_follows_level():
    reps = np.arange(1, 1001, dtype=float)
    ppc = PosteriorPredictiveCheck("sd", 500.0, reps, 0.5)
    assert isinstance(ppc, TableResult)
    t95, t50 = ppc.tidy(), ppc.tidy(level=0.5)
    assert t95.loc[0, "replicated_lower"] == pytest.approx(np.quantile(reps, 0.025))
    assert t50.loc[0, "replicated_upper"] == pytest.approx(np.quantile(reps, 0.75))
    assert t95.loc[0, "statistic"] == "sd" and t95.loc[0, "n_draws"] == 1000
    assert "Posterior predictive check of sd" in str(ppc)
    assert callable(ppc.plot)

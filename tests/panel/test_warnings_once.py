"""A warning is shown once per public call, pointing at the caller's line (issue 13)."""

from __future__ import annotations

import os
import runpy
import warnings
from pathlib import Path

import pytest

from sosstats.datasets import simulate_evaluation
from sosstats.errors import SosstatsWarning
from sosstats.panel import change_model, change_means, ordered_change, wide_to_long

EXAMPLE = Path(__file__).parents[2] / "examples" / "panel.py"


@pytest.fixture(scope="module")
def families():
    return simulate_evaluation(rng=4, n_families=270).families


def messages(record, word):
    return [r for r in record if word in str(r.message)]


@pytest.mark.parametrize("inference", ["cr1", "cr2", "wild"])
def test_change_model_warns_once_per_call_at_the_callers_line(families, inference):
    long = wide_to_long(families, id="family_id")
    with pytest.warns(SosstatsWarning) as record:
        change_model("sdq ~ cohort", long, entity="family_id", time="wave", cluster="la_code",
                     inference=inference, n_resamples=99, rng=0)
    missing = messages(record, "missing 'sdq'")
    few = messages(record, "clusters")
    assert len(missing) == 1
    assert len(few) == (1 if inference == "cr1" else 0)
    assert all(Path(r.filename) == Path(__file__) for r in record), \
        [(r.filename, str(r.message)) for r in record]


def test_ordered_change_and_change_means_warn_once(families):
    with pytest.warns(SosstatsWarning) as record:
        ordered_change(families, "feelings_t1", "feelings_t2", covariates=["cohort"],
                       cluster="la_code", inference="cr1")
    assert len(record) == 1 and Path(record[0].filename) == Path(__file__)
    long = wide_to_long(families, id="family_id")
    one_pilot = long[long["la_code"] == long["la_code"].iloc[0]]
    with pytest.warns(SosstatsWarning) as record:
        change_means(one_pilot, "sdq", "wave", entity="family_id", cluster="la_code")
    assert len(record) == 1 and Path(record[0].filename) == Path(__file__)


def test_example_shows_the_missing_outcome_warning_once(tmp_path, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("SOSSTATS_EXAMPLE_OUT", str(tmp_path))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        runpy.run_path(str(EXAMPLE), run_name="__main__")
    missing = messages(record, "have a missing 'sdq'")
    assert len(missing) == 1, [str(r.message) for r in missing]
    out = capsys.readouterr().out
    for name in ("panel_coefficients.png", "panel_change_by_group.png"):
        assert (tmp_path / name).exists()
        assert f"wrote {os.path.join(str(tmp_path), name)}" in out

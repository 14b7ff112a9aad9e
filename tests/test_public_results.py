"""Every public result class of every capability sits on Result or TableResult (issue 13).

The list is read from each subpackage's ``__all__``, so a new public class must either be a
result on one of the two bases or be named here as what it is instead (a model, an input, a
container of data).
"""

from __future__ import annotations

import importlib
import inspect

import pytest

from sosstats._results import Result, TableResult

SUBPACKAGES = ("neighbours", "matching", "panel", "weighting", "multilevel", "vfm", "datasets",
               "survey", "design", "report")

#: Public classes that are not results: fitted models, prior and cost specifications, data.
NOT_RESULTS = {
    "Report": "the whole evaluation's report (sections of tables and figures), rendered by "
              "render_html / render_markdown; its tables are the strands' result tables",
    "Section": "one strand of the report (a data class of tables and figures)",
    "StrandContext": "the inputs handed to a report strand",
    "StrandFailure": "a record of a strand that raised",
    "EvaluationFamilies": "a simulation design (input to simulate_study)",
    "ChangeEstimator": "an estimator of simulation studies (input to simulate_study)",
    "FittedNeighbours": "a fitted neighbour model (input to compare / did)",
    "StatisticalNeighbours": "a neighbour model specification",
    "Imputations": "a container of m imputed data sets (input to pool / mi_change_model)",
    "MultilevelModel": "a model specification, fitted into a MultilevelResult",
    "Prior": "a prior specification", "Priors": "a set of prior specifications",
    "Amount": "a money amount with its price year",
    "BetaProbability": "an input distribution", "GammaCost": "an input distribution",
    "LognormalRatio": "an input distribution", "NormalParameter": "an input distribution",
    "Evaluation": "the simulated data set",
    "Census": "the simulated census-shaped data set (children, truth)",
    "SurveyDesign": "a survey design (the input of every survey estimate and test)",
    "Study2017": "a simulation design (input to simulate_study)",
    "MatchedDiD": "a simulation design (input to simulate_study)",
    "SteppedWedge": "a simulation design (input to simulate_study)",
    "TwoArm": "a simulation design (input to simulate_study)",
    "AllocationSet": "a set of restricted randomisation allocations (input to a design)",
}


def _public_classes():
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"sosstats.{sub}")
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                yield pytest.param(obj, id=f"{sub}.{name}")


@pytest.mark.parametrize("cls", list(_public_classes()))
def test_public_class_is_a_result_on_a_base_or_named_as_not_one(cls):
    if cls.__name__ in NOT_RESULTS:
        assert not issubclass(cls, (Result, TableResult))
        return
    assert issubclass(cls, (Result, TableResult)), cls
    for method in ("summary", "tidy", "to_dict", "_repr_html_"):
        assert callable(getattr(cls, method)), (cls, method)

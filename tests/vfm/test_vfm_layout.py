"""vfm's layout: exported names live in public modules, modules stay small, results share a base."""

import inspect
from pathlib import Path

import pytest

import sosstats.vfm as vfm
from sosstats._results import Result, TableResult


@pytest.mark.parametrize("name", vfm.__all__)
def test_exported_names_are_defined_in_public_modules(name):
    obj = getattr(vfm, name)
    module = getattr(obj, "__module__", None)
    if module is None or not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return  # constants (DEFAULT_WTP, GREEN_BOOK, QUADRANTS)
    assert not any(part.startswith("_") for part in module.split(".")), (name, module)


def test_modules_under_450_lines():
    here = Path(vfm.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in here.glob("*.py")}
    assert all(n <= 450 for n in sizes.values()), sizes


def test_every_result_is_on_one_of_the_two_bases():
    names = ["AvoidedCosts", "BreakEven", "BudgetView", "CEAResult", "DiaryComparison",
             "DiaryCosts", "OneWay", "PSAResult", "UnitCost"]
    results = [getattr(vfm, n) for n in names]
    for cls in results:
        assert issubclass(cls, (Result, TableResult)), cls
        plot = getattr(cls, "plot", None)
        if plot is not None:  # a result with a picture draws it; none raises
            assert "NotImplementedError" not in inspect.getsource(plot), cls

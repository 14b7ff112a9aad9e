"""StrandContext.user_frame: one check of a user's frame for every strand."""

from __future__ import annotations

import pandas as pd
import pytest

from sosstats._validate import check_columns, check_frame, check_numeric_columns
from sosstats.errors import DataError
from sosstats.report._context import StrandContext


def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as err:
        fn(*args, **kwargs)
    return str(err.value)


def test_user_frame_returns_the_users_frame_uncopied() -> None:
    data = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    ctx = StrandContext(frames={"t": data})
    assert ctx.user_frame("t", ["a", "b"], numeric=["a"]) is data


def test_user_frame_leaves_the_simulation_unchecked() -> None:
    ctx = StrandContext(seed=0)
    sim = ctx.user_frame("families", ["no_such_column"], numeric=["la_code"])
    assert sim is ctx.evaluation().families


@pytest.mark.parametrize("data, kwargs, direct", [
    (pd.DataFrame({"a": []}), {}, lambda d, w: check_frame(d, name=w)),
    ([1, 2], {}, lambda d, w: check_frame(d, name=w)),
    (pd.DataFrame({"a": [1.0]}), {"required": ["a", "b"]},
     lambda d, w: check_columns(d, ["a", "b"], name=w)),
    (pd.DataFrame({"a": ["x"]}), {"required": ["a"], "numeric": ["a"]},
     lambda d, w: check_numeric_columns(d, ["a"], name=w)),
    (pd.DataFrame({"a": [1.0, None]}), {"numeric": ["a"]},
     lambda d, w: check_numeric_columns(d, ["a"], name=w)),
    (pd.DataFrame({"a": ["x", None]}), {"numeric_nan": ["a"]},
     lambda d, w: check_numeric_columns(d, ["a"], name=w, allow_nan=True)),
])
def test_user_frame_errors_are_the_validators(data, kwargs, direct) -> None:
    # the message the strands gave with their own check_frame + check_columns calls
    ctx = StrandContext(frames={"t": data})
    got = _message(ctx.user_frame, "t", **kwargs)
    assert got == _message(direct, data, "frames['t']")


def test_user_frame_nan_allowed_only_where_asked() -> None:
    data = pd.DataFrame({"a": [1.0, None], "b": [1.0, 2.0]})
    ctx = StrandContext(frames={"t": data})
    assert ctx.user_frame("t", ["a", "b"], numeric=["b"], numeric_nan=["a"]) is data
    with pytest.raises(DataError, match="'a' .*missing"):
        ctx.user_frame("t", ["a", "b"], numeric=["a", "b"])

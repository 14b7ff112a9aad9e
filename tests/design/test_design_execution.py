"""simulate_study's execution: seeds, identical results on every backend, failures, bad input."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.design import simulate_study
from sosstats.design._seeds import RootSeed, root_seed
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.panel.change import change_model

SIZES = np.array([9, 29, 9, 25, 21, 12, 13, 12, 75, 65])


def pilots(rng):
    """Ten unequal pilots, two waves, a pilot-level x with a true effect of 0.5."""
    x_pilot = (np.arange(SIZES.size) % 3 == 0).astype(float)
    pilot = np.repeat(np.arange(SIZES.size), SIZES)
    n = pilot.size
    v = rng.normal(0.0, 1.0, SIZES.size)
    e = rng.normal(0.0, 3.0, (n, 2))
    y2 = -1.5 + 0.5 * x_pilot[pilot] + v[pilot] + e[:, 1]
    return pd.DataFrame({"family_id": np.repeat(np.arange(n), 2),
                         "wave": np.tile(["t1", "t2"], n),
                         "sdq": np.column_stack([e[:, 0], y2]).ravel(),
                         "pilot": np.repeat(pilot, 2), "x": np.repeat(x_pilot[pilot], 2)})


def cr2(data):
    return change_model("sdq ~ x", data, entity="family_id", time="wave", cluster="pilot",
                        inference="cr2")


def mean_test(data):
    y = np.asarray(data["y"])
    se = y.std(ddof=1) / np.sqrt(y.size)
    return pd.DataFrame({"term": ["mean"], "estimate": [y.mean()], "std_error": [se],
                         "p_value": [0.5], "ci_lower": [y.mean() - 2 * se],
                         "ci_upper": [y.mean() + 2 * se]})


def normal(rng):
    return {"y": rng.normal(size=8)}


def flaky(data):
    """Fails in about a third of the replicates (those whose first draw is above 0.43)."""
    if data["y"][0] > 0.43:
        raise ValueError(f"first value {data['y'][0]:.3f} too large")
    return mean_test(data)


TRUTH = {"Intercept": -1.5, "x": 0.5}


@pytest.fixture(scope="module")
def reference():
    """12 CR2 replicates in-process: the numbers every backend must reproduce bit for bit."""
    return simulate_study(pilots, cr2, 12, truth=TRUTH, rng=2026)


def same(a, b):
    pd.testing.assert_frame_equal(a.replicates, b.replicates, check_exact=True)
    pd.testing.assert_frame_equal(a.tidy(), b.tidy(), check_exact=True)


# -- seeds ------------------------------------------------------------------------------------
def test_replicate_i_uses_child_i_of_the_root_seed_sequence():
    seen = {}

    def design(rng):
        return {"y": rng.normal(size=8)}

    def est(data):
        return mean_test(data)

    res = simulate_study(design, est, 7, rng=99, batch_size=3)
    children = np.random.SeedSequence(99).spawn(7)
    for i, child in enumerate(children):
        y = np.random.default_rng(child).normal(size=8)
        seen[i] = y.mean()
    got = res.replicates.set_index("replicate")["estimate"]
    assert all(got[i] == seen[i] for i in range(7))


def test_rng_forms():
    a = simulate_study(normal, mean_test, 6, rng=5)
    same(a, simulate_study(normal, mean_test, 6, rng=np.random.SeedSequence(5)))
    # a SeedSequence is not advanced: the same object twice gives the same study
    ss = np.random.SeedSequence(5)
    same(simulate_study(normal, mean_test, 6, rng=ss), simulate_study(normal, mean_test, 6,
                                                                      rng=ss))
    # a Generator is drawn from once: equal generators, equal studies; it advances
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    b = simulate_study(normal, mean_test, 6, rng=g1)
    same(b, simulate_study(normal, mean_test, 6, rng=g2))
    assert not b.replicates.equals(simulate_study(normal, mean_test, 6, rng=g1).replicates)
    # None draws fresh entropy, recorded: rng=seed reruns the study
    c = simulate_study(normal, mean_test, 6)
    same(c, simulate_study(normal, mean_test, 6, rng=c.settings["seed"]))
    # a spawned SeedSequence keeps its spawn key
    child = np.random.SeedSequence(5).spawn(2)[1]
    rs = root_seed(child)
    assert rs == RootSeed(5, (1,), 4)
    assert rs.child(3).generate_state(2).tolist() == child.spawn(4)[3].generate_state(2).tolist()


@pytest.mark.filterwarnings("ignore:.*replicates failed:sosstats.errors.SosstatsWarning")
@settings(max_examples=15, deadline=None)
@given(st.integers(1, 11))
def test_batch_size_changes_no_number(batch):
    a = simulate_study(normal, flaky, 11, rng=17, batch_size=batch)
    b = simulate_study(normal, flaky, 11, rng=17, batch_size=11)
    same(a, b)
    pd.testing.assert_frame_equal(a.failures[["replicate", "error", "message"]],
                                  b.failures[["replicate", "error", "message"]])


# -- backends, bit for bit --------------------------------------------------------------------
def test_process_pool_is_bit_for_bit_identical(reference):
    res = simulate_study(pilots, cr2, 12, truth=TRUTH, rng=2026, n_jobs=2, batch_size=5)
    same(reference, res)
    assert res.settings["backend"] == "process pool" and res.settings["workers"] == 2
    assert res.settings["n_tasks"] == 3


def test_process_pool_takes_lambdas_and_partials():
    est = functools.partial(change_model, "sdq ~ x", entity="family_id", time="wave",
                            cluster="pilot", inference="cr2")
    a = simulate_study(pilots, lambda d: est(d), 4, rng=1, n_jobs=2)
    b = simulate_study(pilots, lambda d: est(d), 4, rng=1)
    same(a, b)


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_is_bit_for_bit_identical_and_counts_failures(dask_client, reference):
    res = simulate_study(pilots, cr2, 12, truth=TRUTH, rng=2026, client=dask_client,
                         batch_size=4)
    same(reference, res)
    assert res.settings["backend"] == "dask" and res.settings["workers"] == 2
    with pytest.warns(SosstatsWarning, match="replicates failed"):
        f_dask = simulate_study(normal, flaky, 30, rng=4, client=dask_client)
    with pytest.warns(SosstatsWarning, match="replicates failed"):
        f_pool = simulate_study(normal, flaky, 30, rng=4, n_jobs=2)
    with pytest.warns(SosstatsWarning, match="replicates failed"):
        f_here = simulate_study(normal, flaky, 30, rng=4)
    for other in (f_dask, f_pool):
        same(f_here, other)
        pd.testing.assert_frame_equal(f_here.failures[["replicate", "error", "message"]],
                                      other.failures[["replicate", "error", "message"]])


def test_early_stop_on_dask(dask_client):
    def broken(data):
        raise RuntimeError("boom on a worker")

    with pytest.raises(DesignError, match="first 5 replicates.*RuntimeError: boom on a worker"):
        simulate_study(normal, broken, 400, rng=1, client=dask_client, batch_size=10)
    # the cluster is still usable afterwards (the other tasks were cancelled, not left running)
    res = simulate_study(normal, mean_test, 6, rng=1, client=dask_client)
    assert res.tidy().loc[0, "n_ok"] == 6


def test_closed_client_is_refused():
    pytest.importorskip("distributed")

    class Closed:                                 # what a closed Client looks like to us
        status = "closed"

        def map(self, *a, **k):
            raise AssertionError("not reached")

        scatter = map

    with pytest.raises(DataError, match="`client` is closed"):
        simulate_study(normal, mean_test, 3, client=Closed())
    with pytest.raises(DataError, match="dask.distributed.Client"):
        simulate_study(normal, mean_test, 3, client=object())


def test_really_closed_dask_client_is_refused(dask_client):
    from distributed import Client

    c = Client(dask_client.scheduler.address)
    c.close()
    with pytest.raises(DataError, match="`client` is closed"):
        simulate_study(normal, mean_test, 3, client=c)


# -- failures ---------------------------------------------------------------------------------
def test_failures_are_counted_not_fatal():
    with pytest.warns(SosstatsWarning, match=r"of 40 replicates failed"):
        res = simulate_study(normal, flaky, 40, truth={"mean": 0.0}, rng=4)
    n_fail = len(res.failures)
    assert 5 < n_fail < 30
    row = res.tidy().iloc[0]
    assert row.n_failed == n_fail and row.n_ok == 40 - n_fail
    assert set(res.failures["error"]) == {"ValueError"}
    assert res.failures["message"].str.contains("too large").all()
    assert res.failures["traceback"].iloc[0].startswith("Traceback")
    ok = set(res.replicates["replicate"])
    assert ok.isdisjoint(res.failures["replicate"]) and len(ok) + n_fail == 40
    assert f"{n_fail:,} of 40 replicates failed: ValueError" in str(res)


def test_estimator_failing_on_every_first_replicate_stops_early_with_the_first_error():
    calls = []

    def broken(data):
        calls.append(1)
        raise KeyError("no column 'sdq_t3'")

    with pytest.raises(DesignError, match=r"first 5 replicates.*KeyError.*sdq_t3") as info:
        simulate_study(normal, broken, 1000, rng=1)
    assert len(calls) == 5                        # stopped, not 1,000 fits
    assert "Traceback" in str(info.value) or "broken" in str(info.value)
    # with fewer replicates than five, failing on all of them is the same error
    with pytest.raises(DesignError, match="first 3 replicates"):
        simulate_study(normal, broken, 3, rng=1)
    # an estimator returning something that is not a result
    with pytest.raises(DesignError, match="DataError.*sosstats result"):
        simulate_study(normal, lambda d: 3.0, 10, rng=1)


def test_early_stop_on_a_process_pool():
    def broken(data):
        raise RuntimeError("boom")

    with pytest.raises(DesignError, match="RuntimeError: boom"):
        simulate_study(normal, broken, 200, rng=1, n_jobs=2, batch_size=10)


def test_warnings_inside_replicates_are_counted_and_reported_once():
    def warns(data):
        warnings.warn("few clusters", SosstatsWarning)
        return mean_test(data)

    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        res = simulate_study(normal, warns, 9, rng=1)
    assert res.warnings.to_dict("records") == [{"category": "SosstatsWarning",
                                                "message": "few clusters", "replicates": 9}]
    mine = [w for w in log if "replicates raised warnings" in str(w.message)]
    assert len(mine) == 1 and len(log) == 1


def test_progress_bar_only_when_asked(capsys):
    simulate_study(normal, mean_test, 5, rng=1, progress=True)
    assert "5/5" in capsys.readouterr().err
    simulate_study(normal, mean_test, 5, rng=1, progress=False)
    assert capsys.readouterr().err == ""
    simulate_study(normal, mean_test, 5, rng=1)            # not a terminal here: silent
    assert capsys.readouterr().err == ""


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("n, err, msg", [(0, DesignError, "at least 1"),
                                         (-3, DesignError, "at least 1"),
                                         (2.5, DataError, "integer"),
                                         ("10", DataError, "integer")])
def test_bad_n_replicates(n, err, msg):
    with pytest.raises(err, match=f"`n_replicates`.*{msg}"):
        simulate_study(normal, mean_test, n)


def test_design_with_fewer_than_two_clusters():
    class OneCluster:
        n_clusters = 1

        def simulate(self, rng):
            return normal(rng)

    with pytest.raises(DesignError, match="1 cluster"):
        simulate_study(OneCluster(), mean_test, 10)


@pytest.mark.parametrize("kwargs, msg", [
    ({"design": 3}, "`design` must be a callable"),
    ({"estimator": "change_model"}, "`estimator` must be a callable"),
    ({"truth": [0.0]}, "`truth` must be a dict"),
    ({"truth": {"mean": "zero"}}, r"`truth\['mean'\]` must be a number"),
    ({"truth": {"mean": np.nan}}, r"`truth\['mean'\]` must be a finite"),
    ({"truth": {"families": {"sdq": 1.0}}}, "nested dict"),
    ({"level": 1.5}, "`level`"),
    ({"alpha": 0.0}, "`alpha`"),
    ({"alpha": True}, "`alpha`"),
    ({"n_jobs": 0}, "`n_jobs`"),
    ({"n_jobs": "2"}, "`n_jobs`"),
    ({"n_jobs": 2, "client": object()}, "not both"),
    ({"batch_size": 0}, "`batch_size`"),
    ({"progress": "yes"}, "`progress`"),
    ({"rng": 1.5}, "`rng`"),
    ({"rng": -1}, "`rng`"),
    ({"rng": np.random.RandomState(0)}, "`rng`"),
])
def test_bad_input(kwargs, msg):
    args = {"design": normal, "estimator": mean_test, "n_replicates": 3}
    args.update(kwargs)
    with pytest.raises((DataError, DesignError), match=msg):
        simulate_study(args.pop("design"), args.pop("estimator"), args.pop("n_replicates"),
                       **args)


def test_unpicklable_design_for_the_pool_is_a_clear_error(monkeypatch):
    import builtins
    import threading

    real_import = builtins.__import__

    def no_cloudpickle(name, *a, **k):
        if name == "cloudpickle":
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_cloudpickle)
    lock = threading.Lock()
    with pytest.raises(DataError, match="picklable.*cloudpickle"):
        simulate_study(lambda rng: lock, mean_test, 4, n_jobs=2)


def blas_threads(data):
    from threadpoolctl import threadpool_info

    n = max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"),
            default=1)
    return pd.DataFrame({"term": ["threads"], "estimate": [float(n)]})


def test_pool_workers_run_one_blas_thread_each():
    # two workers with a multi-threaded BLAS each oversubscribe the cores (0.8x here)
    pytest.importorskip("threadpoolctl")
    res = simulate_study(normal, blas_threads, 4, rng=1, n_jobs=2)
    assert (res.replicates["estimate"] == 1.0).all()


def test_in_process_runs_one_blas_thread_and_restores_the_callers_setting():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    before = blas()
    res = simulate_study(normal, blas_threads, 3, rng=1)
    assert (res.replicates["estimate"] == 1.0).all()
    assert blas() == before

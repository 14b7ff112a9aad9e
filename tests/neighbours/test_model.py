"""Tests of StatisticalNeighbours, from_published, stability, recovery and learn_weights."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from sosstats.errors import DataError, DesignError
from sosstats.neighbours.stability import neighbour_recovery, neighbour_stability
from sosstats.neighbours.weights import learn_weights
from sosstats.neighbours.model import (
    CLOSENESS_QUANTILES,
    FittedNeighbours,
    StatisticalNeighbours,
    from_published,
)

FEATURES = ["pov", "fsm", "eal"]


def make_las(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)) * [5, 3, 10] + [20, 15, 12]
    df = pd.DataFrame(x, columns=FEATURES)
    df.insert(0, "la_code", [f"E{i:04d}" for i in range(n)])
    df["name"] = [f"LA {i}" for i in range(n)]
    return df


def brute(df, w, k, exclude=(), contaminated=()):
    """Neighbours by z-scoring, weighted cdist and a full sort per LA."""
    x = df[FEATURES].to_numpy(float)
    z = (x - x.mean(0)) / x.std(0, ddof=1)
    w = np.asarray(w, float) / np.sum(w)
    d = cdist(z, z, "euclidean", w=w)
    codes = df["la_code"].to_numpy()
    out = {}
    for i, c in enumerate(codes):
        bad = set(contaminated) | {c} | (set(exclude) if c in exclude else set())
        order = sorted((d[i, j], codes[j]) for j in range(len(codes)) if codes[j] not in bad)
        out[c] = order[:k]
    return out, d


def as_dict(fit):
    return {la: list(zip(g["distance"], g["neighbour"]))
            for la, g in fit.neighbours_.groupby("la_code", sort=False)}


@pytest.mark.parametrize("weights", [None, [1, 2, 0.5], {"pov": 0.2, "fsm": 0.0, "eal": 0.8}])
@pytest.mark.parametrize("exclude,contaminated", [((), ()), (("E0001", "E0005", "E0009"), ()),
                                                  (("E0001", "E0005"), ("E0002", "E0030"))])
def test_matches_brute_force(weights, exclude, contaminated):
    df = make_las()
    fit = StatisticalNeighbours(FEATURES, weights=weights, k=6, exclude=list(exclude),
                                contaminated=list(contaminated)).fit(df)
    w = ([1, 1, 1] if weights is None else
         [weights[f] for f in FEATURES] if isinstance(weights, dict) else weights)
    ref, d = brute(df, w, 6, exclude, contaminated)
    got = as_dict(fit)
    assert got.keys() == ref.keys()
    for la in ref:
        assert [n for _, n in got[la]] == [n for _, n in ref[la]]
        np.testing.assert_allclose([x for x, _ in got[la]], [x for x, _ in ref[la]], rtol=1e-10)
    np.testing.assert_allclose(fit.distances_.to_numpy(), d, atol=1e-12)
    assert fit.weights.sum() == pytest.approx(1.0)
    assert (fit.neighbours_.groupby("la_code").size() == 6).all()


def test_ranking_is_complete_and_ignores_exclusions():
    df = make_las(20)
    fit = StatisticalNeighbours(FEATURES, k=3, exclude=["E0001", "E0002"]).fit(df)
    r = fit.ranking
    assert r.complete and r.order.shape == (20, 19)
    _, d = brute(df, [1, 1, 1], 19)
    codes = df["la_code"].to_numpy()
    i = list(r.ids).index("E0001")
    j = list(codes).index("E0001")
    ref = np.argsort(np.where(np.arange(20) == j, np.inf, d[j]), kind="stable")[:19]
    assert list(r.ids[r.order[i]]) == list(codes[ref])


def test_attributes_and_closeness():
    df = make_las()
    fit = StatisticalNeighbours(FEATURES, k=5, standardize="robust").fit(df)
    x = df[FEATURES].to_numpy()
    np.testing.assert_allclose(fit.center, np.median(x, axis=0))
    assert fit.features == tuple(FEATURES) and fit.k == 5 and fit.source == "fitted"
    assert list(fit.neighbours_.columns) == ["la_code", "neighbour", "rank", "distance",
                                             "closeness"]
    d = fit.distances_.to_numpy()[np.triu_indices(40, 1)]
    np.testing.assert_allclose(fit.closeness_edges, np.quantile(d, CLOSENESS_QUANTILES))
    nb = fit.neighbours_
    close = nb["distance"] <= fit.closeness_edges.iloc[0]
    assert (nb.loc[close, "closeness"] == "Extremely close").all()
    assert (nb.loc[nb["distance"] > fit.closeness_edges.iloc[-1], "closeness"]
            == "Not close").all()
    assert "fitted" in repr(fit) and len(fit.neighbours_of("E0003")) == 5


def test_row_order_and_codes_break_ties():
    # four LAs at identical positions: ties are broken by LA code, whatever the row order
    df = pd.DataFrame({"la_code": ["E4", "E2", "E3", "E1", "E5"],
                       "pov": [1.0, 1, 1, 1, 9], "fsm": [2.0, 2, 2, 2, 0],
                       "eal": [0.0, 0, 0, 0, 3]})
    fit = StatisticalNeighbours(FEATURES, k=2).fit(df)
    assert list(fit.neighbours_of("E4")["neighbour"]) == ["E1", "E2"]
    fit2 = StatisticalNeighbours(FEATURES, k=2).fit(df.iloc[::-1])
    pd.testing.assert_frame_equal(
        fit.neighbours_.sort_values(["la_code", "rank"]).reset_index(drop=True),
        fit2.neighbours_.sort_values(["la_code", "rank"]).reset_index(drop=True))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 1000), factor=st.floats(0.1, 50),
       n_ex=st.integers(0, 4))
def test_properties(seed, scale, factor, n_ex):
    df = make_las(25, seed)
    rng = np.random.default_rng(seed)
    exclude = list(rng.choice(df["la_code"], n_ex, replace=False))
    w = rng.uniform(0.1, 1, 3)
    base = StatisticalNeighbours(FEATURES, weights=w, k=4, exclude=exclude).fit(df)
    sets = base.neighbours_.groupby("la_code")["neighbour"].apply(frozenset)
    # row order
    shuffled = df.sample(frac=1, random_state=seed)
    s2 = (StatisticalNeighbours(FEATURES, weights=w, k=4, exclude=exclude).fit(shuffled)
          .neighbours_.groupby("la_code")["neighbour"].apply(frozenset))
    pd.testing.assert_series_equal(sets, s2)
    # scaling a feature does not change z-scored results
    scaled = df.assign(pov=df["pov"] * scale + 3)
    s3 = (StatisticalNeighbours(FEATURES, weights=w, k=4, exclude=exclude).fit(scaled)
          .neighbours_.groupby("la_code")["neighbour"].apply(frozenset))
    pd.testing.assert_series_equal(sets, s3)
    # proportional weights give the same fit
    s4 = StatisticalNeighbours(FEATURES, weights=w * factor, k=4, exclude=exclude).fit(df)
    pd.testing.assert_frame_equal(base.neighbours_, s4.neighbours_)
    nb = base.neighbours_
    assert not (nb["la_code"] == nb["neighbour"]).any()
    ex = nb[nb["la_code"].isin(exclude)]
    assert not ex["neighbour"].isin(exclude).any()
    assert (nb.groupby("la_code").size() == 4).all()


def test_contaminated_never_neighbours_but_have_neighbours():
    df = make_las(30)
    fit = StatisticalNeighbours(FEATURES, k=5, contaminated=["E0000", "E0003"]).fit(df)
    assert not fit.neighbours_["neighbour"].isin(["E0000", "E0003"]).any()
    assert len(fit.neighbours_of("E0000")) == 5


def published_table():
    rows = [("A", "B", 1), ("A", "C", 2), ("A", "D", 3), ("B", "A", 1), ("B", "C", 2),
            ("B", "E", 3), ("C", "B", 1), ("C", "A", 2), ("C", "D", 3)]
    t = pd.DataFrame(rows, columns=["la_code", "neighbour", "rank"])
    t["closeness"] = ["Very close"] * 9
    t["model"] = "m"
    return t


def test_from_published():
    t = published_table()
    before = t.copy()
    fit = from_published(t, k=3, exclude=["A", "C"])
    assert isinstance(fit, FittedNeighbours) and not fit.ranking.complete
    assert fit.distances_ is None and fit.source == "published"
    # A loses C (excluded) and is not refilled
    assert list(fit.neighbours_of("A")["neighbour"]) == ["B", "D"]
    assert list(fit.neighbours_of("B")["neighbour"]) == ["A", "C", "E"]
    assert (fit.neighbours_["closeness"] == "Very close").all()
    assert list(StatisticalNeighbours.from_published(t, k=2).neighbours_of("C")["neighbour"]) \
        == ["B", "A"]
    pd.testing.assert_frame_equal(t, before)
    with pytest.raises(DesignError, match="at most 3"):
        from_published(t, k=4)
    with pytest.raises(DataError, match="not in the data: Z"):
        from_published(t, contaminated=["Z"], k=2)
    with pytest.raises(DataError, match="several models"):
        from_published(pd.concat([t, t.assign(model="n")]), k=2)
    with pytest.raises(DataError, match="several models"):
        neighbour_stability(pd.concat([t, t.assign(model="n")]), t)


def test_stability_hand_made():
    a = published_table()
    b = pd.DataFrame([("A", "C", 1), ("A", "B", 2), ("A", "E", 3), ("B", "A", 1),
                      ("B", "C", 2), ("B", "E", 3), ("X", "A", 1)],
                     columns=["la_code", "neighbour", "rank"])
    res = from_published(a, k=3).stability(from_published(b, k=3))
    per = res.per_la.set_index("la_code")
    assert list(per.index) == ["A", "B"]  # C and X are in one list only
    assert per.loc["A", "n_common"] == 2 and per.loc["A", "jaccard"] == pytest.approx(2 / 4)
    assert per.loc["A", "mean_abs_rank_change"] == pytest.approx(1.0)  # B 1->2, C 2->1
    assert per.loc["B", "jaccard"] == 1 and per.loc["B", "mean_abs_rank_change"] == 0
    assert res.totals["share_common"] == pytest.approx(5 / 6)
    assert res.totals["share_identical"] == 0.5
    assert neighbour_stability(a, b, k=1).totals["share_common"] == pytest.approx(0.5)
    assert "stability" in repr(res)


def test_recovery_hand_made():
    df = pd.DataFrame({"la_code": list("ABCDE"), "pov": [0.0, 1, 2, 10, 11],
                       "fsm": [0.0, 0, 0, 1, 0], "eal": [1.0, 1, 1, 1, 2]})
    fit = StatisticalNeighbours(FEATURES, weights=[1, 0, 0], k=2).fit(df)
    pub = pd.DataFrame([("A", "B", 1), ("A", "D", 2), ("B", "Q", 1), ("B", "C", 2)],
                       columns=["la_code", "neighbour", "rank"])
    res = fit.recovery(pub)
    per = res.per_la.set_index("la_code")
    # fitted: A -> B, C ; B -> A, C ; published A -> B, D ; B -> Q (not in data), C
    assert per.loc["A", "n_common"] == 1 and per.loc["B", "n_common"] == 1
    assert per.loc["B", "n_in_data"] == 1
    assert res.totals["share_common"] == pytest.approx(0.5)
    assert res.totals["share_of_available"] == pytest.approx(2 / 3)
    assert res.totals["chance_share"] == pytest.approx((2 * 2 / 4 + 2 * 1 / 4) / 4)
    assert neighbour_recovery(fit, from_published(pub, k=2)).totals["share_common"] == 0.5


def test_learn_weights_matches_standardised_ols():
    import statsmodels.api as sm

    df = make_las(80, 1)
    rng = np.random.default_rng(5)
    df["y1"] = 3 * df["pov"] + 0.5 * df["eal"] + rng.standard_normal(80)
    df["y2"] = -2 * df["fsm"] + rng.standard_normal(80) * 4
    df.loc[3, "y2"] = np.nan
    before = df.copy()
    w = learn_weights(df, FEATURES, ["y1", "y2"])
    betas = []
    for y in ["y1", "y2"]:
        sub = df.dropna(subset=[y])
        z = (sub[FEATURES] - sub[FEATURES].mean()) / sub[FEATURES].std()
        zy = (sub[y] - sub[y].mean()) / sub[y].std()
        betas.append(sm.OLS(zy, sm.add_constant(z)).fit().params[FEATURES].to_numpy())
    raw = (np.array(betas) ** 2).mean(0)
    np.testing.assert_allclose(w.to_numpy(), raw / raw.sum(), rtol=1e-8)
    assert w.idxmax() == "pov" and w.sum() == pytest.approx(1)
    w2 = learn_weights(df, FEATURES, ["y1", "y2"], rule="r2_share")
    assert w2.sum() == pytest.approx(1) and (w2 > 0).all()
    np.testing.assert_allclose(w.attrs["coefficients"].to_numpy(), betas, rtol=1e-8)
    pd.testing.assert_frame_equal(df, before)
    with pytest.raises(DataError, match="both feature and outcome"):
        learn_weights(df, FEATURES, ["pov"])
    with pytest.raises(DesignError, match="collinear"):
        learn_weights(df.assign(dup=df["pov"] * 2), FEATURES + ["dup"], ["y1"])
    with pytest.raises(DataError, match="constant"):
        learn_weights(df.assign(c=1.0), FEATURES, ["c"])
    with pytest.raises(DesignError, match="observed for 3 LAs"):
        learn_weights(df.assign(y3=[1.0, 2, 3] + [np.nan] * 77), FEATURES, ["y3"])
    with pytest.raises(DataError, match="`rule`"):
        learn_weights(df, FEATURES, ["y1"], rule="abs")


@pytest.mark.parametrize("kind", ["bar", "map"])
def test_plot(kind):
    import matplotlib.pyplot as plt

    fit = StatisticalNeighbours(FEATURES, k=4).fit(make_las())
    ax = fit.plot(la="E0002", kind=kind)
    assert ax.get_xlabel() != ""
    n_art = len(ax.patches) if kind == "bar" else len(ax.collections)
    assert n_art == (4 if kind == "bar" else 3)
    plt.close("all")
    with pytest.raises(DataError, match="no distances"):
        from_published(published_table(), k=2).plot(la="A", kind="map")
    with pytest.raises(DataError, match="`la` is needed"):
        fit.plot()


def test_fit_does_not_modify_inputs_or_model():
    df = make_las()
    df_before = df.copy()
    w = {"pov": 1.0, "fsm": 2.0, "eal": 3.0}
    ex = ["E0001"]
    model = StatisticalNeighbours(FEATURES, weights=w, exclude=ex)
    fit1 = model.fit(df)
    fit2 = model.fit(df)
    pd.testing.assert_frame_equal(df, df_before)
    assert w == {"pov": 1.0, "fsm": 2.0, "eal": 3.0} and ex == ["E0001"]
    assert fit1 is not fit2 and model.k == 10
    with pytest.raises(AttributeError):
        fit1.k = 3


@pytest.mark.parametrize("mutate,kwargs,error,match", [
    (lambda d: pd.concat([d, d.iloc[[2]]]), {}, DataError, "duplicate values in 'la_code': E0002"),
    (lambda d: d.drop(columns="fsm"), {}, DataError, "'fsm' not found"),
    (lambda d: d.assign(fsm=d["name"]), {}, DataError, "'fsm' .* must be numeric"),
    (lambda d: d.assign(eal=5.0), {}, DataError, "'eal' has zero spread"),
    (lambda d: d.assign(pov=d["pov"].where(d.index != 4)), {}, DataError, "'pov' for E0004"),
    (lambda d: d, {"k": 39}, DesignError, "k=39 is not smaller than .*39"),
    (lambda d: d, {"k": 36, "contaminated": ["E0001", "E0002", "E0003"]}, DesignError,
     r"eligible neighbours \(36\)"),
    (lambda d: d, {"k": 36, "exclude": ["E0001", "E0002", "E0003"], "contaminated": ["E0009"]},
     DesignError, r"eligible neighbours \(36\) of LA E0001, E0002, E0003"),
    (lambda d: d, {"exclude": ["E0001", "X99"]}, DataError, "`exclude` LA codes not in the data: "
     "X99"),
    (lambda d: d, {"contaminated": ["Y1"]}, DataError, "`contaminated` .* Y1"),
    (lambda d: d, {"weights": [1, -1, 1]}, DataError, "non-negative; bad for 'fsm'"),
    (lambda d: d, {"weights": [1, 1]}, DataError, "2 values for 3 features"),
    (lambda d: d, {"weights": {"pov": 1, "fsm": 1, "age": 1}}, DataError,
     "unknown 'age'; missing 'eal'"),
    (lambda d: d, {"weights": [0, 0, 0]}, DataError, "all zero"),
    (lambda d: d, {"standardize": "minmax"}, DataError, "`standardize` must be one of"),
    (lambda d: d, {"k": 0}, DesignError, "at least 1"),
    (lambda d: d, {"features": []}, DataError, "empty"),
    (lambda d: d, {"features": ["pov", "pov"]}, DataError, "repeats 'pov'"),
    (lambda d: d.drop(columns="la_code"), {}, DataError, "id column 'la_code' not found"),
    (lambda d: d.iloc[:0], {}, DataError, "no rows"),
])
def test_bad_input(mutate, kwargs, error, match):
    df = mutate(make_las())
    before = df.copy()
    args = {"features": FEATURES, **kwargs}
    with pytest.raises(error, match=match):
        StatisticalNeighbours(args.pop("features"), **args).fit(df)
    pd.testing.assert_frame_equal(df, before)


def test_k_just_below_eligible_is_fine():
    df = make_las(10)
    fit = StatisticalNeighbours(FEATURES, k=5, exclude=["E0001", "E0002"],
                                contaminated=["E0003", "E0004"]).fit(df)
    assert (fit.neighbours_.groupby("la_code").size() == 5).all()


def test_shipped_published_lists():
    loaders = pytest.importorskip("sosstats.datasets.loaders")
    try:
        pub = loaders.load_statistical_neighbours(model="2021")
    except Exception as exc:  # the loader is another module's responsibility
        pytest.skip(f"loader unavailable: {exc}")
    fit = from_published(pub, k=10)
    assert fit.neighbours_.groupby("la_code").size().max() == 10
    assert from_published(pub, k=10).stability(fit).totals["share_identical"] == 1


@pytest.mark.parametrize("standardize", ["zscore", "robust", "range", "none"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_features_raise_naming_column_and_las(standardize, bad):
    df = make_las(12)
    df.loc[[3, 7], "fsm"] = bad
    before = df.copy()
    with pytest.raises(DataError, match=r"infinite.*'fsm' for E0003, E0007"):
        StatisticalNeighbours(FEATURES, k=2, standardize=standardize).fit(df)
    pd.testing.assert_frame_equal(df, before)


def test_learn_weights_rejects_infinite_features_and_outcomes():
    df = make_las(30)
    df["y"] = df["pov"] + np.random.default_rng(1).normal(size=30)
    with pytest.raises(DataError, match=r"feature values are infinite.*'eal' for E0004"):
        learn_weights(df.assign(eal=df["eal"].where(df.index != 4, np.inf)), FEATURES, ["y"])
    with pytest.raises(DataError, match=r"outcome values are infinite.*'y' for E0002"):
        learn_weights(df.assign(y=df["y"].where(df.index != 2, -np.inf)), FEATURES, ["y"])
    # a missing outcome is still allowed (that LA is dropped for that outcome)
    w = learn_weights(df.assign(y=df["y"].where(df.index != 2, np.nan)), FEATURES, ["y"])
    assert w.sum() == pytest.approx(1.0)

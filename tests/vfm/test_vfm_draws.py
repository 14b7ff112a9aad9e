"""cea(draws=...): posterior or Monte Carlo draws of each option's mean cost and effect."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from sosstats.errors import DataError, DesignError
from sosstats.vfm import CEAResult, cea

matplotlib.use("Agg")

WTP = np.array([0.0, 500.0, 2_000.0, 5_000.0, 20_000.0])


def _trial(seed=0, n=(70, 90, 60)):
    rng = np.random.default_rng(seed)
    arm = np.repeat(["control", "sos", "light"], n)
    return pd.DataFrame({"arm": arm,
                         "cost": rng.gamma(2.0, 500.0, arm.size) + 250 * (arm == "sos"),
                         "effect": rng.normal(0.5, 0.3, arm.size) + 0.1 * (arm == "sos")
                         + 0.04 * (arm == "light")})


def _long(wide: pd.DataFrame) -> pd.DataFrame:
    """Turn the wide replicates frame into a long one: draw, option, cost, effect."""
    out = wide.stack(level=1, future_stack=True).rename_axis([None, "option"]).reset_index()
    return out.rename(columns={"level_0": "draw"})[["draw", "option", "cost", "effect"]]


def _idata(wide: pd.DataFrame, chains: int = 2):
    az = pytest.importorskip("arviz")
    options = list(wide["cost"].columns)
    c = wide["cost"].to_numpy().reshape(chains, -1, len(options))
    e = wide["effect"].to_numpy().reshape(chains, -1, len(options))
    return az.from_dict(posterior={"cost": c, "effect": e}, coords={"option": options},
                        dims={"cost": ["option"], "effect": ["option"]})


@pytest.fixture(scope="module")
def unit():
    return cea(_trial(), cost="cost", effect="effect", group="arm", reference="control",
               n_resamples=1_000, rng=4, wtp=WTP)


def _same(a: CEAResult, b: CEAResult, atol=1e-12):
    np.testing.assert_allclose(a.ceac.to_numpy(), b.ceac.to_numpy(), rtol=0, atol=atol)
    np.testing.assert_allclose(a.evpi.to_numpy(), b.evpi.to_numpy(), rtol=0, atol=atol)
    assert a.ceaf["option"].tolist() == b.ceaf["option"].tolist()
    np.testing.assert_allclose(a.conf_int().to_numpy(), b.conf_int().to_numpy(), rtol=0,
                               atol=atol, equal_nan=True)
    na, nb = a.nmb(), b.nmb()
    for col in ("ci_lower", "ci_upper"):
        np.testing.assert_allclose(na[col], nb[col], rtol=0, atol=atol, equal_nan=True)
    np.testing.assert_allclose(a.std_errors, b.std_errors, rtol=0, atol=atol, equal_nan=True)


def test_bootstrap_replicates_as_draws_reproduce_the_unit_level_result(unit):
    res = cea(draws=unit.replicates, point=unit.means, reference="control", wtp=WTP)
    assert isinstance(res, CEAResult)
    assert res.options == unit.options
    _same(unit, res)
    np.testing.assert_allclose(res.icer, unit.icer, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.params, unit.params, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.nmb()["incremental_nmb"], unit.nmb()["incremental_nmb"],
                               rtol=0, atol=1e-9)
    pd.testing.assert_frame_equal(res.frontier, unit.frontier)
    assert (res.increments["quadrant"] == unit.increments["quadrant"]).all()


def test_without_point_the_estimates_are_the_draws_means(unit):
    res = cea(draws=unit.replicates, reference="control", wtp=WTP)
    _same(unit, res)          # everything made from the draws is unchanged
    reps = unit.replicates
    dc = reps["cost"].mean() - reps[("cost", "control")].mean()
    de = reps["effect"].mean() - reps[("effect", "control")].mean()
    np.testing.assert_allclose(res.icer, (dc / de).drop("control").loc[res.icer.index],
                               rtol=1e-12)
    assert res.means.loc["sos", "cost"] == pytest.approx(reps[("cost", "sos")].mean(), rel=1e-12)
    assert "n_draws" in res.means.columns and (res.means["n_draws"] == 1_000).all()
    assert "1000 draws" in str(res.summary()) and "mean of the draws" in str(res.summary())


def test_long_frame_and_inference_data_give_the_same_result(unit):
    wide = unit.replicates
    ref = cea(draws=wide, reference="control", wtp=WTP)
    long = _long(wide).sample(frac=1.0, random_state=3)        # rows in any order
    order = pd.Index(long["draw"]).unique()
    by_long = cea(draws=long, reference="control", wtp=WTP)
    # draws are taken in the order their ids first appear: re-order the wide frame to match
    _same(cea(draws=wide.loc[order].reset_index(drop=True), reference="control", wtp=WTP),
          by_long, atol=1e-9)
    np.testing.assert_allclose(by_long.params, ref.params, rtol=1e-12)
    by_id = cea(draws=_idata(wide), reference="control", wtp=WTP)
    _same(ref, by_id)
    assert by_id.source == "InferenceData posterior"
    by_ds = cea(draws=_idata(wide).posterior, reference="control", wtp=WTP)
    _same(ref, by_ds)


def test_long_frame_with_chain_and_draw_ids(unit):
    long = _long(unit.replicates)
    long["chain"] = long["draw"] // 500
    long["draw"] = long["draw"] % 500
    res = cea(draws=long, draw_id=["chain", "draw"], reference="control", wtp=WTP)
    _same(cea(draws=unit.replicates, reference="control", wtp=WTP), res, atol=1e-9)


def test_custom_names_and_reference():
    rng = np.random.default_rng(2)
    s = 400
    frame = pd.DataFrame({"it": np.repeat(np.arange(s), 2), "pilot": ["A", "B"] * s,
                          "spend": rng.normal(1000, 50, 2 * s),
                          "gain": rng.normal(0.2, 0.05, 2 * s)})
    res = cea(draws=frame, cost="spend", effect="gain", group="pilot", draw_id="it",
              reference="B", wtp=[0.0, 10_000.0])
    assert res.reference == "B" and res.options == ("B", "A")
    a = frame[frame.pilot == "A"].set_index("it")
    b = frame[frame.pilot == "B"].set_index("it")
    inb = 10_000 * (a["gain"] - b["gain"]) - (a["spend"] - b["spend"])
    assert res.ceac.loc[10_000.0, "A"] == pytest.approx((inb > 0).mean())
    evpi = np.maximum(inb, 0).mean() - max(inb.mean(), 0)
    assert res.evpi.loc[10_000.0] == pytest.approx(evpi, rel=1e-10)
    assert res.cost_column == "spend" and res.group_column == "pilot"


def test_plots_and_caller_frame_untouched(unit):
    wide = unit.replicates
    before = wide.copy()
    res = cea(draws=wide, reference="control", wtp=WTP)
    pd.testing.assert_frame_equal(wide, before)
    import matplotlib.pyplot as plt

    for kind in ("plane", "ceac", "evpi"):
        ax = res.plot(kind=kind)
        assert ax is not None
        plt.close(ax.figure)
    assert len(res.tidy()) == len(unit.tidy())


def test_negative_cost_draws_are_allowed():
    rng = np.random.default_rng(0)
    wide = pd.DataFrame({("cost", "a"): rng.normal(0, 10, 50),
                         ("cost", "b"): rng.normal(5, 10, 50),
                         ("effect", "a"): rng.normal(0, 1, 50),
                         ("effect", "b"): rng.normal(1, 1, 50)})
    wide.columns = pd.MultiIndex.from_tuples(wide.columns)
    res = cea(draws=wide, wtp=[0.0, 10.0])
    assert res.means.loc["a", "cost"] == pytest.approx(wide[("cost", "a")].mean())


# ---------------------------------------------------------------------------- bad input
def _wide(options_cost=("a", "b"), options_effect=("a", "b"), n=20, seed=0):
    rng = np.random.default_rng(seed)
    cols = {("cost", o): rng.gamma(2, 100, n) for o in options_cost}
    cols.update({("effect", o): rng.normal(0.5, 0.1, n) for o in options_effect})
    out = pd.DataFrame(cols)
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def test_mismatched_options_are_refused():
    with pytest.raises(DataError, match="mismatched options"):
        cea(draws=_wide(("a", "b"), ("a", "c")))
    long = _long(_wide())
    with pytest.raises(DataError, match="mismatched options.*draw 3 lacks 'b'"):
        cea(draws=long.drop(index=long.index[(long.draw == 3) & (long.option == "b")]))
    az = pytest.importorskip("arviz")
    rng = np.random.default_rng(0)
    idata = az.from_dict(posterior={"cost": rng.gamma(2, 1, (2, 10, 2)),
                                    "effect": rng.normal(size=(2, 10, 2))},
                         coords={"option": ["a", "b"]}, dims={"cost": ["option"],
                                                              "effect": ["option"]})
    mixed = idata.posterior.copy()
    mixed["effect"] = mixed["effect"].rename(option="arm")
    mixed = mixed.assign_coords(arm=["a", "c"])
    with pytest.raises(DataError, match="no option dimension 'option'"):
        cea(draws=mixed)
    shifted = idata.posterior[["cost"]].merge(
        idata.posterior[["effect"]].assign_coords(option=["b", "c"]), join="outer")
    # one Dataset shares one 'option' coordinate: options present for one variable only
    # leave NaN in the other, which is refused by name
    with pytest.raises(DataError, match="non-finite"):
        cea(draws=shifted)


def test_missing_cost_or_effect_columns():
    with pytest.raises(DataError, match=r"no \['effect'\] columns"):
        cea(draws=_wide()[["cost"]])
    long = _long(_wide())
    with pytest.raises(DataError, match=r"\['cost'\] not found in `draws`"):
        cea(draws=long.drop(columns="cost"))
    with pytest.raises(DataError, match=r"\['spend'\] not found"):
        cea(draws=long, cost="spend")
    az = pytest.importorskip("arviz")
    idata = az.from_dict(posterior={"cost": np.ones((1, 5, 2))}, coords={"option": ["a", "b"]},
                         dims={"cost": ["option"]})
    with pytest.raises(DataError, match=r"no variable\(s\) \['effect'\]"):
        cea(draws=idata)


def test_non_finite_and_non_numeric_draws():
    wide = _wide()
    wide.iloc[4, 1] = np.nan
    with pytest.raises(DataError, match=r"draws of 'cost' have 1 non-finite.*draw\(s\) \[4\]"):
        cea(draws=wide)
    wide = _wide()
    wide.iloc[2, 3] = np.inf
    with pytest.raises(DataError, match="draws of 'effect' have 1 non-finite"):
        cea(draws=wide)
    long = _long(_wide())
    long["cost"] = long["cost"].astype(str)
    with pytest.raises(DataError, match="'cost' of `draws` must be numeric"):
        cea(draws=long)


def test_duplicated_pairs_sizes_and_conflicting_arguments():
    long = _long(_wide())
    with pytest.raises(DataError, match="duplicated"):
        cea(draws=pd.concat([long, long.iloc[:1]]))
    with pytest.raises(DesignError, match="at least two"):
        cea(draws=_wide(n=1))
    with pytest.raises(DesignError, match="one option"):
        cea(draws=_wide(("a",), ("a",)))
    with pytest.raises(DataError, match="not both"):
        cea(_trial(), draws=_wide(), cost="cost", effect="effect", group="arm")
    with pytest.raises(DataError, match="`cluster`.*unit-level"):
        cea(draws=_wide(), cluster="worker")
    with pytest.raises(DataError, match="`n_resamples`, `rng`"):
        cea(draws=_wide(), n_resamples=100, rng=1)
    with pytest.raises(DataError, match="needs `data`"):
        cea()
    with pytest.raises(DataError, match="`cost`, `group`"):
        cea(_trial(), effect="effect")
    with pytest.raises(DataError, match="`point` applies to `draws` only"):
        cea(_trial(), cost="cost", effect="effect", group="arm", point=pd.DataFrame())
    with pytest.raises(DataError, match=r"no row for option\(s\) \['b'\]"):
        cea(draws=_wide(), point=pd.DataFrame({"cost": [1.0], "effect": [1.0]}, index=["a"]))
    with pytest.raises(DataError, match="must be an arviz.InferenceData"):
        cea(draws=np.ones((3, 4)))
    with pytest.raises(DataError, match="reference"):
        cea(draws=_wide(), reference="zzz")


# ---------------------------------------------------------------------------- psa(draws)
def test_psa_takes_a_frame_or_inference_data_of_joint_draws():
    from sosstats.vfm import psa

    rng = np.random.default_rng(8)
    z = rng.multivariate_normal([1_000.0, 0.3], [[100.0**2, -0.9 * 100 * 0.05],
                                                [-0.9 * 100 * 0.05, 0.05**2]], size=400)
    frame = pd.DataFrame({"cost": z[:, 0], "p": z[:, 1]})
    before = frame.copy()
    res = psa(lambda cost, p, value: p * value - cost, frame.assign(value=10_000.0))
    np.testing.assert_allclose(res.outcome, z[:, 1] * 10_000 - z[:, 0])
    assert list(res.inputs.columns) == ["cost", "p", "value"]   # a frame column is draws
    pd.testing.assert_frame_equal(frame, before)
    az = pytest.importorskip("arviz")
    theta = np.stack([z[:, 1], 2 * z[:, 1]], -1).reshape(2, 200, 2)
    idata = az.from_dict(posterior={"cost": z[:, 0].reshape(2, 200), "theta": theta},
                         coords={"k": ["p", "q"]}, dims={"theta": ["k"]})
    by_id = psa(lambda cost, **kw: kw["theta[p]"] * 10_000 - cost, idata)
    np.testing.assert_allclose(by_id.outcome, res.outcome)
    with pytest.raises(DataError, match=r"\['p'\] of `inputs` must be numeric"):
        psa(lambda cost, p: p - cost, frame.assign(p="x"))
    import matplotlib.pyplot as plt

    ax = res.plot()
    assert ax.xaxis.get_major_formatter()(1000.0, 0).startswith("£")
    plt.close(ax.figure)

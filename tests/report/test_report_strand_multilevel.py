"""The multilevel strand (4) of `sosstats reproduce`, run once under --quick on the simulation."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pandas as pd
import pytest

from sosstats.errors import DataError
from sosstats.report._context import StrandContext
from sosstats.report._section import Section
from sosstats.report.strands import multilevel

SEED = 0


def _run_capturing_fds(ctx: StrandContext) -> tuple[Section, str]:
    """Run the strand with file descriptors 1 and 2 redirected; return what reached them.

    nutpie's progress bars are written by Rust straight to the descriptors, so
    ``capsys`` would not see them.
    """
    with tempfile.TemporaryFile(mode="w+b") as out:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
            section = multilevel.run(ctx)
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
        out.seek(0)
        return section, out.read().decode(errors="replace")


@pytest.fixture(scope="module")
def ctx() -> StrandContext:
    return StrandContext(seed=SEED, quick=True)


@pytest.fixture(scope="module")
def ran(ctx: StrandContext) -> tuple[Section, str]:
    return _run_capturing_fds(ctx)


@pytest.fixture(scope="module")
def section(ran: tuple[Section, str]) -> Section:
    return ran[0]


def test_contract(section: Section) -> None:
    from matplotlib.figure import Figure

    assert multilevel.KEY == "multilevel" == section.key
    assert section.title == multilevel.TITLE
    assert section.simulated is True
    assert section.question and section.method and section.naive and section.caveats
    assert set(section.tables) == {"fixed_effects", "variance_components", "vpc",
                                   "pilot_effects", "naive_ols", "diagnostics"}   # quick
    for name, table in section.tables.items():
        assert isinstance(table, pd.DataFrame) and len(table), name
        assert name == name.lower() and " " not in name
    assert set(section.figures) == {"pilots"}
    fig = section.figures["pilots"]
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    labels = {t.get_text() for t in fig.axes[0].get_yticklabels()}
    assert labels == set(section.tables["pilot_effects"]["la_name"])      # names, not codes
    assert "$" not in section.method + section.naive + " ".join(section.caveats)
    assert all(isinstance(n, str) and n for n in section.notes)
    assert "2 chains x (300 tuning + 300 draws)" in section.method
    assert "model" in section.results


def test_quiet(ran: tuple[Section, str]) -> None:
    """No progress bar, no print: nothing reaches stdout or stderr."""
    assert ran[1].strip() == ""


def test_truth_frame(section: Section) -> None:
    truth = section.truth
    assert list(truth.columns) == ["quantity", "truth", "estimate", "ci_lower", "ci_upper",
                                   "covered"]
    assert truth["quantity"].is_unique and len(truth) == 7 + 4 + 4 + 10
    assert (truth["ci_lower"] < truth["estimate"]).all()
    assert (truth["estimate"] < truth["ci_upper"]).all()
    covered = (truth["ci_lower"] <= truth["truth"]) & (truth["truth"] <= truth["ci_upper"])
    assert (covered == truth["covered"]).all()
    # 25 nominal 95% intervals: at most a few misses (20 of 25 fails with P < 0.01)
    assert truth["covered"].sum() >= 21
    t = truth.set_index("quantity")
    assert t.loc["T2 - T1 change", "truth"] == -1.5
    assert abs(t.loc["T2 - T1 change", "estimate"] + 1.5) < 0.7
    assert 3.3 < t.loc["SD of family effects", "estimate"] < 4.7
    assert 2.6 < t.loc["residual SD", "estimate"] < 3.5
    vpc = truth[truth["quantity"].str.startswith("VPC")]
    assert vpc["truth"].sum() == pytest.approx(1.0)
    assert vpc["estimate"].sum() == pytest.approx(1.0, abs=1e-9)   # per-draw shares add to 1


def test_pilot_effects_shrunk(section: Section) -> None:
    p = section.tables["pilot_effects"]
    assert len(p) == 10 and p["la_name"].notna().all()
    assert ((p["pooling"] > 0) & (p["pooling"] < 1)).all()
    # partial pooling: posterior means nearer 0 than the raw deviations
    assert (p["estimate"].abs() < p["raw_effect"].abs()).sum() >= 8
    # interval columns named as in the other tables (were 'lower' / 'upper')
    assert not {"lower", "upper"} & set(p.columns)
    assert ((p["ci_lower"] < p["estimate"]) & (p["estimate"] < p["ci_upper"])).all()


def test_naive_beside(section: Section) -> None:
    naive = section.tables["naive_ols"].set_index("term")
    exp = naive.loc["C(experience)[T.2 years plus]"]
    # a pilot-level effect: the iid SE is too small
    assert exp["sd_ratio"] > 1.3
    # a within-family change: the family effect cancels, the posterior is the sharper
    assert naive.loc["wave[T.t2]", "sd_ratio"] < 1.0
    assert f"SE {exp['ols_se_iid']:.2f}" in section.naive
    assert f"SD {exp['posterior_sd']:.2f}" in section.naive


def test_diagnostics_table(section: Section) -> None:
    d = section.tables["diagnostics"]
    assert {"parameter", "r_hat", "ess_bulk", "ess_tail"} <= set(d.columns)
    assert not d["parameter"].str.startswith("z_").any()
    assert (d["r_hat"] > 0.99).all() and (d["ess_bulk"] > 10).all()
    assert {"sigma_la_code", "sigma_worker_id", "sigma_family_id", "sigma"} <= set(d["parameter"])


def test_user_frame_missing_column(ctx: StrandContext) -> None:
    m = ctx.evaluation().memberships.drop(columns="weight")
    user = StrandContext(seed=SEED, quick=True, frames={"memberships": m})
    with pytest.raises(DataError, match=r"'weight'.*frames\['memberships'\]"):
        multilevel.run(user)
    fam = ctx.evaluation().families.drop(columns="sdq_t1")
    user = StrandContext(seed=SEED, quick=True, frames={"families": fam})
    with pytest.raises(DataError, match=r"'sdq_t1'.*frames\['families'\]"):
        multilevel.run(user)


@pytest.mark.slow
def test_user_frame_replaces_simulation(ctx: StrandContext) -> None:
    """A second fit (about 20 s): the user's families, experience as plain text."""
    fam = ctx.evaluation().families
    before = fam.copy()
    user_frame = fam.assign(experience=fam["experience"].astype(str),
                            sdq_t2=fam["sdq_t2"] - 3.0)
    sec = multilevel.run(StrandContext(seed=SEED, quick=True, frames={"families": user_frame}))
    assert sec.simulated is False and sec.truth is None
    fixed = sec.tables["fixed_effects"].set_index("term")
    assert "C(experience)[T.2 years plus]" in fixed.index        # 'new' stays the reference
    assert fixed.loc["wave[T.t2]", "estimate"] == pytest.approx(-4.5, abs=0.8)
    pd.testing.assert_frame_equal(fam, before)
    assert "frames you supplied" in sec.method
    assert np.isfinite(fixed["estimate"]).all()


@pytest.mark.slow
def test_full_run_adds_the_main_worker_model() -> None:
    """Without quick (about 90 s here): 4 x (1000 + 2000) and the membership-ignored model."""
    sec = multilevel.run(StrandContext(seed=SEED, quick=False))
    assert "4 chains x (1000 tuning + 2000 draws)" in sec.method
    side = sec.tables["main_worker"].set_index("component")
    assert list(side.columns) == ["membership", "main_worker_only", "truth"]
    assert side.loc["sigma_worker_id", "truth"] == 1.0
    assert "main worker only" in sec.naive and "main_worker" in sec.results
    assert sec.truth["covered"].sum() >= 21


def test_fit_notes_as_the_other_strands() -> None:
    """_fit takes notes with captured_notes, like the other strands.

    A sosstats warning becomes one note prefixed with the fit, once however often it is
    raised; any other warning (numpy, PyMC) goes on to the runner's log instead of becoming a
    note (the strand's own catch turned every warning into a note).
    """
    import warnings

    from sosstats.errors import SosstatsWarning

    class Model:
        def fit(self, **kwargs):
            warnings.warn("R-hat above 1.01", SosstatsWarning, stacklevel=2)
            warnings.warn("R-hat above 1.01", SosstatsWarning, stacklevel=2)
            warnings.warn("overflow in exp", RuntimeWarning, stacklevel=2)
            return kwargs

    notes = ["membership model: R-hat above 1.01"]
    with pytest.warns(RuntimeWarning, match="overflow in exp"):
        got = multilevel._fit(Model(), {"draws": 10}, 3, "main-worker model", notes)
    assert got["rng"] == 3 and got["draws"] == 10 and got["progress"] is False
    assert notes == ["membership model: R-hat above 1.01", "main-worker model: R-hat above 1.01"]


def test_notes_name_the_fit(section: Section) -> None:
    # quick chains: the sampler's sosstats warnings (R-hat, ESS) are the notes, by fit
    assert section.notes and all(n.startswith("membership model: ") for n in section.notes)
    assert any("R-hat" in n for n in section.notes)

"""Rao-Scott tests of two-way survey tables: the kernel and ``sosstats.survey.chisq``.

Reference values: R survey 4.1.1 ``svychisq`` (every ``statistic=``), frozen by
``tests/fixtures/survey_tests_reference.R`` in ``survey_tests_chisq_r.csv`` (the tests) and
``survey_tests_chisq_inputs_r.csv`` (the kernel's inputs: R's cell proportions and totals with
their covariances, n, design df, the eigenvalues of Delta and Pearson's X^2).
Tolerances: 1e-10 relative for every statistic, df and p-value, except ``saddlepoint`` (1e-5
relative: R finds the saddlepoint by ``uniroot(tol = 1e-8)``, we by ``brentq`` to 1e-14).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sosstats._kernels import rao_scott as rs
from sosstats.errors import DataError, DesignError

FIX = Path(__file__).resolve().parents[1] / "fixtures"
INPUTS = pd.read_csv(FIX / "survey_tests_chisq_inputs_r.csv")
REF = pd.read_csv(FIX / "survey_tests_chisq_r.csv")
CASES = list(INPUTS["case"])
STATS = ["F", "Chisq", "Wald", "adjWald", "saddlepoint"]


def r_inputs(case: str) -> dict:
    """R's kernel inputs for ``case``, cells reordered from R's rows-fastest to C order."""
    row = INPUTS.set_index("case").loc[case]
    r, c = int(row.nr), int(row.nc)
    k = r * c
    idx = np.array([i + r * j for i in range(r) for j in range(c)])

    def vec(s: str) -> np.ndarray:
        return np.array(s.split(), dtype=float)

    return {
        "p": vec(row.p).reshape(c, r).T,
        "V": vec(row.V).reshape(k, k, order="F")[np.ix_(idx, idx)],
        "T": vec(row.total).reshape(c, r).T,
        "VT": vec(row.Vtotal).reshape(k, k, order="F")[np.ix_(idx, idx)],
        "eig": vec(row.eigenvalues), "n": float(row.n), "nu": float(row.nu),
        "pearson": float(row.pearson), "pearson_p": float(row.pearson_p),
    }


def r_test(case: str, statistic: str) -> pd.Series:
    return REF[(REF.case == case) & (REF.statistic_name == statistic)].iloc[0]


# ---------------------------------------------------------------------------------------------
# kernel against R's own inputs
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_kernel_pearson_and_eigenvalues_match_r(case):
    x = r_inputs(case)
    assert rs.pearson_statistic(x["p"], x["n"]) == pytest.approx(x["pearson"], rel=1e-12)
    eff = rs.design_effects(x["p"], x["V"], x["n"])
    np.testing.assert_allclose(eff.eigenvalues, x["eig"], rtol=1e-10, atol=1e-13)
    assert eff.trace == pytest.approx(x["eig"].sum(), rel=1e-12)
    assert eff.d0 == pytest.approx(x["eig"].sum() ** 2 / np.sum(x["eig"] ** 2), rel=1e-12)
    assert eff.mean * (1 + eff.a2) * eff.d0 == pytest.approx(eff.trace, rel=1e-12)


@pytest.mark.parametrize("statistic", STATS)
@pytest.mark.parametrize("case", CASES)
def test_kernel_statistics_match_svychisq(case, statistic):
    x = r_inputs(case)
    test, x2, _ = rs.table_test(x["p"], x["V"], x["n"], x["nu"], statistic,
                                totals=x["T"], totals_cov=x["VT"])
    ref = r_test(case, statistic)
    tol = 1e-5 if statistic == "saddlepoint" else 1e-10
    assert test.p_value == pytest.approx(ref.p_value, rel=tol)
    if statistic in ("F", "Wald", "adjWald"):
        assert test.statistic == pytest.approx(ref.statistic, rel=1e-10)
        assert test.df_num == pytest.approx(ref.df_num, rel=1e-10)
        assert test.df_den == pytest.approx(ref.df_den, rel=1e-10)
    elif statistic == "Chisq":   # R prints Pearson's X^2 and refers X^2 / mean(delta)
        assert x2 == pytest.approx(ref.statistic, rel=1e-12)
        assert test.df_num == ref.df_num
    else:
        assert test.statistic == pytest.approx(ref.statistic, rel=1e-12)


def test_kernel_interaction_basis_is_orthogonal_to_main_effects():
    for r, c in [(2, 2), (3, 4), (5, 2)]:
        b = rs.interaction_basis(r, c)
        assert b.shape == (r * c, (r - 1) * (c - 1))
        rows = np.kron(np.eye(r), np.ones((1, c)))   # row indicators in C order
        cols = np.kron(np.ones((1, r)), np.eye(c))
        np.testing.assert_allclose(rows @ b, 0, atol=1e-13)
        np.testing.assert_allclose(cols @ b, 0, atol=1e-13)
        np.testing.assert_allclose(b.T @ b, np.eye(b.shape[1]), atol=1e-13)


def test_kernel_simple_random_sample_has_unit_design_effects():
    # V = (D - p p') / n is the multinomial covariance: every generalised deff is 1, and all
    # corrections give back Pearson's test
    p = np.array([[0.1, 0.2, 0.15], [0.25, 0.1, 0.2]])
    n = 300
    pv = p.ravel()
    v = (np.diag(pv) - np.outer(pv, pv)) / n
    eff = rs.design_effects(p, v, n)
    np.testing.assert_allclose(eff.eigenvalues, 1.0, rtol=1e-12)
    x2 = rs.pearson_statistic(p, n)
    chisq = rs.rao_scott(x2, eff, np.inf, "Chisq")
    assert chisq.p_value == pytest.approx(stats.chi2.sf(x2, 2), rel=1e-12)
    assert rs.rao_scott(x2, eff, np.inf, "second_order").p_value == pytest.approx(
        stats.chi2.sf(x2, 2), rel=1e-12)


def test_kernel_lincom_equal_eigenvalues_is_an_exact_f():
    # sum_k delta chi2_1 / (chi2_m / m) = delta k F(k, m)
    lam = np.full(3, 1.7)
    eff = rs.DesignEffects(lam, lam.sum(), 1.7, 0.0, 3.0)
    for x2, nu in [(4.0, 9.0), (15.0, 14.0), (30.0, 5.0)]:
        got = rs.rao_scott(x2, eff, nu, "lincom").p_value
        assert got == pytest.approx(stats.f.sf(x2 / (1.7 * 3), 3, 3 * nu), rel=1e-7)
        got = rs.rao_scott(x2, eff, np.inf, "lincom").p_value
        assert got == pytest.approx(stats.chi2.sf(x2 / 1.7, 3), rel=1e-7)


def test_kernel_imhof_matches_monte_carlo():
    rng = np.random.default_rng(1)
    lam = np.array([2.5, 1.1, 0.4])
    draws = rng.chisquare(1, size=(400_000, 3)) @ lam
    for x in (2.0, 5.0, 10.0):
        mc = np.mean(draws > x)
        assert rs.quadratic_form_sf(x, lam) == pytest.approx(mc, abs=4 * np.sqrt(mc / 4e5))


def test_kernel_saddlepoint_close_to_imhof():
    # an approximation: within 2-4% of the exact probability here (Monte Carlo agrees with Imhof)
    lam = np.array([3.0, 1.2, 0.5, 0.2])
    for x in (3.0, 8.0, 20.0):
        assert rs.saddlepoint_sf(x, lam) == pytest.approx(rs.quadratic_form_sf(x, lam),
                                                          rel=0.05)


def test_kernel_wald_invariant_to_scale_of_totals():
    x = r_inputs("clus1_band_stype")
    a = rs.wald_independence(x["T"], x["VT"], x["nu"])
    b = rs.wald_independence(x["T"] * 7.5, x["VT"] * 7.5 ** 2, x["nu"])
    assert a.statistic == pytest.approx(b.statistic, rel=1e-12)


def test_kernel_adjusted_wald_without_enough_df_gives_nan_p():
    x = r_inputs("sim_group_likert")     # k = 8 interaction terms, nu = 8: den = 1
    t = rs.wald_independence(x["T"], x["VT"], 6.0, adjusted=True)
    assert t.df_den == -1 and np.isnan(t.p_value)


def test_kernel_empty_row_is_a_data_error():
    p = np.array([[0.3, 0.2], [0.0, 0.0], [0.1, 0.4]])
    with pytest.raises(DataError, match="empty row or column"):
        rs.pearson_statistic(p, 100)


def test_kernel_zero_covariance_is_a_design_error():
    p = np.array([[0.3, 0.2], [0.1, 0.4]])
    with pytest.raises(DesignError, match="covariance"):
        rs.design_effects(p, np.zeros((4, 4)), 100)


def test_kernel_bad_shapes():
    with pytest.raises(DataError, match="r x c"):
        rs.pearson_statistic(np.array([0.5, 0.5]), 10)
    with pytest.raises(DataError, match="4 x 4"):
        rs.design_effects(np.full((2, 2), 0.25), np.eye(3), 10)
    with pytest.raises(DataError, match="statistic"):
        rs.rao_scott(1.0, rs.DesignEffects(np.ones(1), 1.0, 1.0, 0.0, 1.0), 5.0, "G")

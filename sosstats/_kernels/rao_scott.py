r"""Design-based tests of independence in an r x c table: Rao-Scott corrections and Wald tests.

Plain numpy arrays in, plain floats out (scipy only for the reference distributions, one
root and Imhof's integral). No loop over rows, clusters or cells. Given the estimated cell
proportions :math:`\hat p` of an :math:`r \times c` table, their design covariance :math:`V`
and the sample size :math:`n`, the kernel computes what R survey's ``svychisq`` computes
(Lumley 2010, section 6.2):

Pearson's statistic on the weighted table scaled to :math:`n`,
:math:`X^2 = n \sum_{ij} (\hat p_{ij} - \hat p_{i+} \hat p_{+j})^2 / (\hat p_{i+} \hat p_{+j})`,
is not :math:`\chi^2_{(r-1)(c-1)}` under a cluster design: it is asymptotically
:math:`\sum_k \delta_k Z_k^2`, where :math:`\delta_k` are the eigenvalues of the *generalised
design-effect matrix*

.. math::

    \Delta = \left(C' D^{-1} C / n\right)^{-1} \left(C' D^{-1} V D^{-1} C\right),

:math:`D = \mathrm{diag}(\hat p)` (zero cells get :math:`D^{-1}_{ij} = 0`, as R does) and
:math:`C` a basis of the interaction contrasts (the :math:`rc \times (r-1)(c-1)` columns
orthogonal to the row and column main effects; the eigenvalues do not depend on which basis).
With :math:`k = (r-1)(c-1)`, :math:`\bar\delta = \mathrm{tr}\,\Delta / k` and
:math:`a^2 = \sum (\delta_j - \bar\delta)^2 / (k \bar\delta^2)`:

- **first-order** (Rao and Scott 1981): :math:`X^2 / \bar\delta \sim \chi^2_k`
  (``statistic="Chisq"``);
- **second-order** (Rao and Scott 1984, Satterthwaite): :math:`X^2_S = X^2 / (\bar\delta (1 +
  a^2)) \sim \chi^2_{d_0}` with :math:`d_0 = k / (1 + a^2) = (\mathrm{tr}\,\Delta)^2 /
  \mathrm{tr}\,\Delta^2` (``second_order``);
- **F form** (Thomas and Rao 1987; R's default): :math:`F = X^2 / \mathrm{tr}\,\Delta \sim
  F(d_0, \nu d_0)` with :math:`\nu` the design degrees of freedom (clusters - strata)
  (``statistic="F"``);
- **lincom**: the asymptotic distribution itself, :math:`P(\sum_k \delta_k \chi^2_1 / (\chi^2_{m}
  / m) > X^2)` with :math:`m = \nu d_0` (:math:`m = \infty` for a replicate design), evaluated
  by Imhof's (1961) numerical inversion (R uses Davies' algorithm from CompQuadForm for the
  same probability; without that package R falls back to the saddlepoint, so R's "lincom" is
  not a reference here: the tests check Imhof against Monte Carlo and exact F cases);
- **saddlepoint**: the same probability by Kuonen's (1999) saddlepoint approximation, exactly as
  R survey 4.1.1's ``saddle`` (which repeats the denominator eigenvalue :math:`\lfloor m \rfloor`
  times; where the saddlepoint is within 1e-4 of 0 it falls back to the Satterthwaite F, as R).

The **Wald** tests (Koch, Freeman and Freeman 1975; Thomas and Rao 1987) work on the estimated
cell *totals* :math:`\hat T` and their covariance: :math:`Y_{ij} = \hat T_{ij} - \hat T_{i+}
\hat T_{+j} / \hat T_{++}` for :math:`i, j \ge 2`, :math:`W = Y' (J V_T J')^{-1} Y` by the delta
method, ``"Wald"``: :math:`W / k \sim F(k, \nu)`; ``"adjWald"``: :math:`W (\nu - k + 1) / (k
\nu) \sim F(k, \nu - k + 1)`.

Cells are flattened in C order (row-major): cell ``(i, j)`` is entry ``i * c + j`` of
``p.ravel()`` and of the covariance's rows and columns.

References
----------
Rao, J. N. K. and Scott, A. J. (1981). The analysis of categorical data from complex sample
surveys. *JASA* 76, 221-230.
Rao, J. N. K. and Scott, A. J. (1984). On chi-squared tests for multiway contingency tables with
cell proportions estimated from survey data. *Annals of Statistics* 12, 46-60.
Thomas, D. R. and Rao, J. N. K. (1987). Small-sample comparisons of level and power for simple
goodness-of-fit statistics under cluster sampling. *JASA* 82, 630-636.
Imhof, J. P. (1961). Computing the distribution of quadratic forms in normal variables.
*Biometrika* 48, 419-426.
Kuonen, D. (1999). Saddlepoint approximations for distributions of quadratic forms in normal
variables. *Biometrika* 86, 929-935.
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, ch. 6. Wiley.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, stats

from sosstats.errors import DataError, DesignError

__all__ = ["STATISTICS", "TableTest", "DesignEffects", "pearson_statistic",
           "interaction_basis", "design_effects", "rao_scott", "wald_independence",
           "quadratic_form_sf", "saddlepoint_sf", "table_test"]

#: the ``statistic=`` names (as R survey's svychisq), with what each is
STATISTICS = {
    "F": "Rao-Scott second-order F (Thomas & Rao 1987)",
    "Chisq": "Rao-Scott first-order chi-square",
    "Wald": "design-based Wald F",
    "adjWald": "adjusted design-based Wald F",
    "lincom": "Pearson X^2 against its asymptotic distribution (Imhof)",
    "saddlepoint": "Pearson X^2 against its asymptotic distribution (saddlepoint)",
}


@dataclass(frozen=True)
class TableTest:
    """One test of independence: plain floats.

    ``statistic`` is on the scale its reference distribution has (F, chi-square or, for
    ``lincom``/``saddlepoint``, Pearson's X^2); ``df_den`` is ``inf`` for a chi-square reference
    and NaN where no df apply.
    """

    name: str
    statistic: float
    df_num: float
    df_den: float
    p_value: float


@dataclass(frozen=True)
class DesignEffects:
    """Eigenvalue summary of the generalised design-effect matrix (plain arrays and floats)."""

    eigenvalues: np.ndarray   # descending
    trace: float
    mean: float               # delta-bar, the first-order correction
    a2: float                 # squared coefficient of variation of the eigenvalues
    d0: float                 # Satterthwaite df, (tr D)^2 / tr D^2


def _as_table(p: np.ndarray, name: str) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if p.ndim != 2 or min(p.shape) < 2:
        raise DataError(f"`{name}` must be an r x c array with r, c >= 2; got shape {p.shape}.")
    if not np.all(np.isfinite(p)):
        raise DataError(f"`{name}` has NaN or infinite entries.")
    return p


def _as_cov(cov: np.ndarray, k: int, name: str) -> np.ndarray:
    cov = np.asarray(cov, dtype=float)
    if cov.shape != (k, k):
        raise DataError(f"`{name}` must be {k} x {k} (one row per cell); got {cov.shape}.")
    if not np.all(np.isfinite(cov)):
        raise DataError(f"`{name}` has NaN or infinite entries.")
    return (cov + cov.T) / 2


def _check_margins(p: np.ndarray) -> None:
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    if np.any(rows <= 0) or np.any(cols <= 0):
        empty_r = np.flatnonzero(rows <= 0).tolist()
        empty_c = np.flatnonzero(cols <= 0).tolist()
        raise DataError("the table has an empty row or column (no weight): "
                        f"rows {empty_r}, columns {empty_c} (0-based).")


def pearson_statistic(p: np.ndarray, n: float) -> float:
    r"""Pearson's :math:`X^2` of the weighted table scaled to ``n`` (R's ``svytable(Ntotal=n)``).

    :math:`X^2 = n \sum_{ij} (p_{ij} - p_{i+}p_{+j})^2 / (p_{i+}p_{+j})`, with ``p`` the cell
    proportions (summing to 1).
    """
    p = _as_table(p, "p")
    _check_margins(p)
    p = p / p.sum()
    expected = np.outer(p.sum(axis=1), p.sum(axis=0))
    return float(n * np.sum((p - expected) ** 2 / expected))


def _centred_basis(m: int) -> np.ndarray:
    """Orthonormal (m, m - 1) basis of the vectors orthogonal to the ones (Helmert)."""
    j = np.arange(1, m)
    rows = np.arange(m)[:, None]
    h = np.where(rows < j[None, :], 1.0, 0.0) - np.where(rows == j[None, :], j[None, :], 0.0)
    return h / np.sqrt(j * (j + 1))[None, :]


def interaction_basis(r: int, c: int) -> np.ndarray:
    """Return an (rc, (r-1)(c-1)) basis of the interaction contrasts, cells in C order.

    ``kron(H_r, H_c)`` with ``H_m`` the Helmert contrasts: orthogonal to every row and column
    main effect, so it spans the same space as R's ``qr.resid(qr(X1), X12[, interactions])``.
    """
    return np.kron(_centred_basis(r), _centred_basis(c))


def design_effects(p: np.ndarray, cov: np.ndarray, n: float) -> DesignEffects:
    r"""Generalised design effects: eigenvalues of :math:`\Delta` (see the module docstring).

    Parameters
    ----------
    p : (r, c) array
        Estimated cell proportions (summing to 1).
    cov : (rc, rc) array
        Their design covariance, cells in C order.
    n : float
        The number of respondents (the table's scale for Pearson's statistic).
    """
    p = _as_table(p, "p")
    r, c = p.shape
    cov = _as_cov(cov, r * c, "cov")
    pv = p.ravel()
    inv = np.where(pv > 0, 1.0 / np.where(pv > 0, pv, 1.0), 0.0)
    basis = interaction_basis(r, c)
    scaled = basis * inv[:, None]                       # D^{-1} C
    denom = basis.T @ scaled / n                         # C' D^-1 C / n
    numer = scaled.T @ cov @ scaled                      # C' D^-1 V D^-1 C
    # generalised symmetric eigenproblem numer x = lambda denom x (denom positive definite)
    try:
        chol = np.linalg.cholesky(denom)
    except np.linalg.LinAlgError:
        raise DataError("the table has an empty row or column (no weight).") from None
    half = np.linalg.solve(chol, np.linalg.solve(chol, numer).T).T   # L^-1 B L^-T
    eig = np.sort(np.linalg.eigvalsh((half + half.T) / 2))[::-1]
    trace = float(eig.sum())
    k = eig.size
    mean = trace / k
    tr2 = float(np.sum(eig ** 2))
    if not trace > 0:
        raise DesignError("the design covariance of the cell proportions is zero: every "
                          "cluster has the same table, so no design-based test is possible.")
    d0 = trace ** 2 / tr2
    return DesignEffects(eigenvalues=eig, trace=trace, mean=mean, a2=k / d0 - 1.0, d0=d0)


def quadratic_form_sf(x: float, weights: np.ndarray, dfs: np.ndarray | None = None) -> float:
    r"""``P(sum_j w_j chi^2_{h_j} > x)`` by Imhof's (1961) inversion formula.

    :math:`P(Q > x) = \tfrac12 + \tfrac1\pi \int_0^\infty \sin\theta(u) / (u \rho(u))\,du` with
    :math:`\theta(u) = \tfrac12 \sum_j h_j \arctan(w_j u) - x u / 2` and :math:`\rho(u) = \prod_j
    (1 + w_j^2 u^2)^{h_j/4}`. Weights may be negative; ``h_j`` need not be integers; ``x >= 0``.
    The oscillating tail beyond :math:`u = 1` (weights scaled to max 1) is integrated as two
    Fourier integrals by QUADPACK's QAWF, so small ``sum h_j`` (slowly decaying integrand) is
    handled.
    """
    w = np.asarray(weights, dtype=float)
    h = np.ones_like(w) if dfs is None else np.asarray(dfs, dtype=float)
    keep = w != 0
    w, h = w[keep], h[keep]
    scale = np.max(np.abs(w))
    w, x = w / scale, x / scale

    def parts(u: float) -> tuple[float, float]:
        wu = w * u
        g = 0.5 * np.sum(h * np.arctan(wu))
        amp = np.exp(-0.25 * np.sum(h * np.log1p(wu * wu))) / u
        return float(np.sin(g) * amp), float(np.cos(g) * amp)

    def integrand(u: float) -> float:
        wu = w * u
        theta = 0.5 * np.sum(h * np.arctan(wu)) - 0.5 * x * u
        return float(np.sin(theta) * np.exp(-0.25 * np.sum(h * np.log1p(wu * wu))) / u)

    if x == 0:
        value = integrate.quad(integrand, 0.0, np.inf, limit=500, epsabs=1e-13)[0]
    else:
        # [0, 1] directly; the oscillating tail as two Fourier integrals (QUADPACK QAWF):
        # sin(g - xu/2) = sin g cos(xu/2) - cos g sin(xu/2)
        head = integrate.quad(integrand, 0.0, 1.0, limit=500, epsabs=1e-13)[0]
        tail_cos = integrate.quad(lambda u: parts(u)[0], 1.0, np.inf, weight="cos",
                                  wvar=0.5 * x, limlst=200)[0]
        tail_sin = integrate.quad(lambda u: parts(u)[1], 1.0, np.inf, weight="sin",
                                  wvar=0.5 * x, limlst=200)[0]
        value = head + tail_cos - tail_sin
    return float(min(1.0, max(0.0, 0.5 + value / np.pi)))


def saddlepoint_sf(x: float, weights: np.ndarray) -> float:
    r"""``P(sum_j w_j chi^2_1 > x)`` by Kuonen's (1999) saddlepoint approximation (as R survey).

    Lugannani-Rice form :math:`1 - \Phi(\hat w + \log(\hat v / \hat w) / \hat w)` with the
    cumulant generating function :math:`K(\zeta) = -\tfrac12 \sum_j \log(1 - 2 \zeta w_j)`.
    Returns NaN where the saddlepoint is within 1e-4 of zero (R's rule; the caller falls back).
    """
    lam = np.asarray(weights, dtype=float)
    d = lam.max()
    lam = lam / d
    x = x / d

    def kprime(z: float) -> float:
        return float(np.sum(lam / (1 - 2 * z * lam)))

    if np.any(lam < 0):
        lmin = np.max(1 / (2 * lam[lam < 0])) * 0.99999
    elif x > lam.sum():
        lmin = -0.01
    else:
        lmin = -lam.size / (2 * x)
    lmax = np.min(1 / (2 * lam[lam > 0])) * 0.99999
    zeta = optimize.brentq(lambda z: kprime(z) - x, lmin, lmax, xtol=1e-14, rtol=1e-14,
                           maxiter=500)
    k0 = -0.5 * np.sum(np.log(1 - 2 * zeta * lam))
    k2 = 2 * np.sum(lam ** 2 / (1 - 2 * zeta * lam) ** 2)
    w = np.sign(zeta) * np.sqrt(2 * (zeta * x - k0))
    v = zeta * np.sqrt(k2)
    if abs(zeta) < 1e-4:
        return float("nan")
    return float(stats.norm.sf(w + np.log(v / w) / w))


def rao_scott(x2: float, effects: DesignEffects, df: float, statistic: str) -> TableTest:
    """One Rao-Scott-family test from Pearson's ``x2`` and the design effects.

    ``df`` is the design df (clusters - strata); ``np.inf`` for a replicate design's
    chi-square reference in ``lincom``/``saddlepoint`` (R's ``svychisq.svyrep.design``), where
    ``F`` still uses the design df. ``statistic`` is ``"F"``, ``"Chisq"``, ``"second_order"``,
    ``"lincom"`` or ``"saddlepoint"``.
    """
    k = effects.eigenvalues.size
    if statistic == "F":
        if not df > 0:
            raise DesignError(f"the Rao-Scott F needs design df > 0; got {df}.")
        f = x2 / effects.trace
        return TableTest("F", f, effects.d0, effects.d0 * df,
                         float(stats.f.sf(f, effects.d0, effects.d0 * df)))
    if statistic == "Chisq":
        stat = x2 / effects.mean
        return TableTest("Chisq", stat, float(k), np.inf, float(stats.chi2.sf(stat, k)))
    if statistic == "second_order":
        stat = x2 / effects.trace * effects.d0
        return TableTest("second_order", stat, effects.d0, np.inf,
                         float(stats.chi2.sf(stat, effects.d0)))
    if statistic in ("lincom", "saddlepoint"):
        lam = effects.eigenvalues
        ddf = effects.d0 * df
        finite = np.isfinite(ddf)
        if statistic == "lincom":
            if finite:
                p = quadratic_form_sf(0.0, np.append(lam, -x2 / ddf), np.append(np.ones(k), ddf))
            else:
                p = quadratic_form_sf(x2, lam)
        else:
            if finite:   # R: rep(c(lam, -x/ddf), c(1, ..., ddf)) repeats floor(ddf) times
                weights = np.concatenate([lam, np.full(int(np.floor(ddf)), -x2 / ddf)])
                p = saddlepoint_sf(0.0, weights)
            else:
                p = saddlepoint_sf(x2, lam)
            if np.isnan(p):   # R's fallback: the Satterthwaite approximation
                tr2 = np.mean(lam ** 2) / np.mean(lam) ** 2
                scale, ndf = np.mean(lam) * tr2, k / tr2
                p = float(stats.f.sf(x2 / ndf / scale, ndf, ddf) if finite
                          else stats.chi2.sf(x2 / scale, ndf))
        return TableTest(statistic, x2, float("nan"), float("nan"), float(p))
    raise DataError(f"`statistic` must be one of {', '.join(map(repr, STATISTICS))} or "
                    f"'second_order'; got {statistic!r}.")


def wald_independence(totals: np.ndarray, cov: np.ndarray, df: float, *,
                      adjusted: bool = False) -> TableTest:
    r"""Design-based Wald test of independence from cell totals (R's ``"Wald"``/``"adjWald"``).

    Parameters
    ----------
    totals : (r, c) array
        Estimated population cell totals (any scale).
    cov : (rc, rc) array
        Their design covariance, cells in C order.
    df : float
        Design degrees of freedom :math:`\nu`.
    adjusted : bool
        ``False``: :math:`W/k \sim F(k, \nu)`; ``True``: :math:`W(\nu-k+1)/(k\nu) \sim
        F(k, \nu-k+1)` (NaN p-value when :math:`\nu - k + 1 < 1`).
    """
    t = _as_table(totals, "totals")
    r, c = t.shape
    cov = _as_cov(cov, r * c, "cov")
    _check_margins(t)
    total = t.sum()
    rows, cols = t.sum(axis=1), t.sum(axis=0)
    y = t - np.outer(rows, cols) / total
    # Jacobian of Y_ij with respect to T_kl (margins are sums of cells)
    eye_r, eye_c = np.eye(r), np.eye(c)
    jac = (np.einsum("ik,jl->ijkl", eye_r, eye_c)
           - np.einsum("ik,j->ijk", eye_r, cols)[:, :, :, None] / total
           - np.einsum("i,jl->ijl", rows, eye_c)[:, :, None, :] / total
           + np.outer(rows, cols)[:, :, None, None] / total ** 2)
    use = np.zeros((r, c), dtype=bool)
    use[1:, 1:] = True
    jac = jac.reshape(r * c, r * c)[use.ravel()]
    v = jac @ cov @ jac.T
    yu = y[use]
    k = (r - 1) * (c - 1)
    v = (v + v.T) / 2
    eig, vec = np.linalg.eigh(v)
    if not eig[0] > 1e-9 * max(eig[-1], 0.0):
        raise DesignError(f"the Wald covariance of the {k} independence contrasts is singular "
                          f"(rank below {k}; design df = {df:g}): too few clusters for the "
                          "number of cells; use statistic='F'.")
    w = float(np.sum((vec.T @ yu) ** 2 / eig))
    if not adjusted:
        f = w / k
        return TableTest("Wald", f, float(k), float(df), float(stats.f.sf(f, k, df)))
    den = df - k + 1
    f = w * den / (k * df)
    p = float(stats.f.sf(f, k, den)) if den >= 1 else float("nan")
    return TableTest("adjWald", f, float(k), float(den), p)


def table_test(p: np.ndarray, cov: np.ndarray, n: float, df: float, statistic: str = "F", *,
               totals: np.ndarray | None = None, totals_cov: np.ndarray | None = None,
               chisq_df: float | None = None) -> tuple[TableTest, float, DesignEffects]:
    """Pearson's X^2, the design effects and the ``statistic`` requested, in one call.

    ``totals``/``totals_cov`` are needed for ``"Wald"``/``"adjWald"``. ``chisq_df`` is the
    denominator df for ``lincom``/``saddlepoint`` (``df`` when None; ``inf`` for a replicate
    design, as R). Returns ``(test, pearson_x2, effects)``.
    """
    x2 = pearson_statistic(p, n)
    effects = design_effects(p / np.sum(p), cov, n)
    if statistic in ("Wald", "adjWald"):
        if totals is None or totals_cov is None:
            raise DataError("`totals` and `totals_cov` are needed for a Wald test.")
        return (wald_independence(totals, totals_cov, df, adjusted=statistic == "adjWald"),
                x2, effects)
    ref_df = df if statistic == "F" or chisq_df is None else chisq_df
    return rao_scott(x2, effects, ref_df, statistic), x2, effects

r"""Weighted least squares with heteroskedasticity- and cluster-robust covariances.

One fit and one set of sandwich estimators for every capability that regresses on weighted rows
(:func:`sosstats.matching.matched_effect`, :func:`sosstats.weighting.weighting_effect`).
Plain numpy arrays in and out, no Python loop over rows; the cluster-robust part is
:func:`sosstats._kernels.cluster.cluster_vcov`.

Notation: ``X`` (n, p), outcome ``y`` (n,), non-negative weights ``w`` (``W = diag(w)``;
``W = I`` without weights; rows with weight 0 are dropped before anything else, so ``n`` counts
the rows with a positive weight).

Estimator
---------
:math:`\hat\beta = (X'WX)^{-1} X'Wy`, computed by least squares on :math:`W^{1/2}X`,
:math:`W^{1/2}y` (no explicit inverse in the solve); residuals :math:`e = y - X\hat\beta`
(unweighted); bread :math:`M = (X'WX)^{-1}`; scores :math:`s_i = x_i w_i e_i`; influence
(linearisation) values :math:`\psi_i = M s_i`, so that :math:`\hat\beta - \beta \approx
\sum_i \psi_i`. A design is refused as collinear when the smallest eigenvalue of the
correlation form of :math:`X'WX` is below ``1e-10``.

Heteroskedasticity-robust (HC, White 1980; MacKinnon and White 1985)
--------------------------------------------------------------------
:math:`V = M \left(\sum_i a_i s_i s_i'\right) M` with :math:`a_i = 1` (HC0),
:math:`n/(n-p)` (HC1), :math:`1/(1-h_i)` (HC2), :math:`1/(1-h_i)^2` (HC3) and leverages
:math:`h_i = w_i x_i' M x_i`; t reference with :math:`n - p` df. These are R's
``sandwich::vcovHC(type = ...)`` and statsmodels' ``WLS(...).fit(cov_type="HC0".."HC3")``.

Cluster-robust (CR, Liang and Zeger 1986)
-----------------------------------------
:math:`V = c\, M \left(\sum_g u_g u_g'\right) M`, :math:`u_g = \sum_{i \in g} s_i`, CR1
:math:`c = \frac{G}{G-1}\frac{n-1}{n-p}` (Stata, statsmodels ``cov_type="cluster"``,
``sandwich::vcovCL``), CR0 :math:`c = 1`, CR2 (Bell-McCaffrey, Satterthwaite df) and CR3
(jackknife) as documented in :func:`sosstats._kernels.cluster.cluster_vcov`; t reference with
:math:`G - 1` df.

Several estimators on the same rows
-----------------------------------
:func:`influence_vcov` gives the joint covariance of estimators whose influence values are the
columns of ``Z`` (n, k), e.g. a weighted and an unweighted mean of the same respondents and
their difference: :math:`\frac{n}{n-1}\sum_i (z_i - \bar z)(z_i - \bar z)'` (normal reference),
or with clusters :math:`\frac{G}{G-1}\sum_g u_g u_g'`, :math:`u_g = \sum_{i \in g} z_i`
(t with :math:`G - 1` df). For one intercept-only WLS fit (a weighted mean) these are its HC1
and CR1 variances; they are the with-replacement Taylor-linearisation variances of R's
``survey`` package (Woodruff 1971; Lumley 2010, ch. 2).

References
----------
White, H. (1980). *Econometrica* 48(4), 817-838.
MacKinnon, J. G. and White, H. (1985). *J. Econometrics* 29(3), 305-325.
Liang, K.-Y. and Zeger, S. L. (1986). *Biometrika* 73(1), 13-22.
Zeileis, A., Koell, S. and Graham, N. (2020). Various versatile variances. *J. Statistical
Software* 95(1).
Woodruff, R. S. (1971). *JASA* 66, 411-414. Lumley, T. (2010). *Complex Surveys*. Wiley.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sosstats._kernels.cluster import cluster_vcov
from sosstats._validate import check_option
from sosstats.errors import DataError, DesignError

__all__ = ["WLSFit", "RobustVcov", "wls", "hc_vcov", "robust_vcov", "influence_vcov",
           "HC_KINDS", "CR_KINDS"]

HC_KINDS = ("hc0", "hc1", "hc2", "hc3")
CR_KINDS = ("cr0", "cr1", "cr2", "cr3")


@dataclass(frozen=True, eq=False)
class WLSFit:
    """A weighted least-squares fit on the rows with a positive weight.

    Attributes
    ----------
    coef : numpy.ndarray
        (p,) coefficients.
    resid : numpy.ndarray
        (n,) residuals ``y - X coef`` (unweighted).
    bread : numpy.ndarray
        (p, p) ``M = (X'WX)^{-1}`` (symmetric).
    X : numpy.ndarray
        (n, p) design of the rows used.
    weights : numpy.ndarray or None
        (n,) weights of the rows used (None: OLS).
    rows : numpy.ndarray
        (N,) boolean mask of the input rows used (weight > 0).
    """

    coef: np.ndarray
    resid: np.ndarray
    bread: np.ndarray
    X: np.ndarray
    weights: np.ndarray | None
    rows: np.ndarray

    @property
    def nobs(self) -> int:
        """Rows used (positive weight)."""
        return int(self.X.shape[0])

    @property
    def scores(self) -> np.ndarray:
        """(n, p) scores ``x_i w_i e_i``."""
        we = self.resid if self.weights is None else self.weights * self.resid
        return self.X * we[:, None]

    @property
    def influence(self) -> np.ndarray:
        """(n, p) influence values ``psi_i = M x_i w_i e_i`` (``sum psi psi'`` is HC0)."""
        return self.scores @ self.bread


@dataclass(frozen=True, eq=False)
class RobustVcov:
    """A robust covariance matrix with its reference degrees of freedom.

    Attributes
    ----------
    vcov : numpy.ndarray
        (p, p) covariance.
    df : numpy.ndarray
        (p,) t degrees of freedom (``n - p`` for HC, ``G - 1`` or Satterthwaite for CR).
    kind : str
        ``"hc0"``..``"hc3"`` or ``"cr0"``..``"cr3"``.
    n_clusters : int or None
        Clusters (None for HC).
    """

    vcov: np.ndarray
    df: np.ndarray
    kind: str
    n_clusters: int | None = None

    @property
    def std_errors(self) -> np.ndarray:
        """Square roots of the diagonal (negative rounding dust clipped to 0)."""
        return np.sqrt(np.clip(np.diag(self.vcov), 0, None))


def _as_2d(X: Any) -> np.ndarray:
    try:
        xa = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError("`X` must be numeric.") from exc
    if xa.ndim == 1:
        xa = xa[:, None]
    if xa.ndim != 2:
        raise DesignError(f"`X` must be 1- or 2-dimensional; got shape {xa.shape}.")
    return xa


def wls(X: Any, y: Any, weights: Any = None) -> WLSFit:
    """Fit ``y ~ X`` by weighted least squares (see the module docstring).

    Parameters
    ----------
    X : array_like
        (N, p) design (include a column of ones for an intercept).
    y : array_like
        (N,) outcome.
    weights : array_like, optional
        (N,) non-negative weights; rows with weight 0 are dropped. None: OLS.

    Returns
    -------
    WLSFit

    Raises
    ------
    DataError
        NaN / inf in ``X``, ``y`` or ``weights`` (among the rows used), negative or all-zero
        weights, mismatched lengths.
    DesignError
        No more rows than coefficients, a collinear (or constant-zero) design.
    """
    xa = _as_2d(X)
    ya = np.asarray(y, dtype=float).reshape(-1)
    if ya.shape[0] != xa.shape[0]:
        raise DataError(f"`y` has {ya.shape[0]} values but `X` has {xa.shape[0]} rows.")
    if weights is None:
        rows = np.ones(xa.shape[0], dtype=bool)
        wa = None
    else:
        wa = np.asarray(weights, dtype=float).reshape(-1)
        if wa.shape[0] != xa.shape[0]:
            raise DataError(f"`weights` has {wa.shape[0]} values but `X` has {xa.shape[0]} "
                            "rows.")
        if not np.isfinite(wa).all() or (wa < 0).any():
            raise DataError("`weights` must be finite and non-negative.")
        rows = wa > 0
        if not rows.any():
            raise DataError("`weights` are all zero.")
        wa = wa[rows]
    xa, ya = xa[rows], ya[rows]
    if not (np.isfinite(xa).all() and np.isfinite(ya).all()):
        raise DataError("`X` and `y` must be finite on the rows used.")
    n, p = xa.shape
    if n <= p:
        raise DesignError(f"{n} rows cannot identify {p} coefficients.")
    xw = xa if wa is None else xa * wa[:, None]
    xtx = xw.T @ xa
    sd = np.sqrt(np.diag(xtx))
    if not ((sd > 0).all() and np.linalg.eigvalsh(xtx / np.outer(sd, sd))[0] > 1e-10):
        raise DesignError("the design is collinear: a column is constant zero or a "
                          "combination of others.")
    if wa is None:
        coef = np.linalg.lstsq(xa, ya, rcond=None)[0]
    else:
        rw = np.sqrt(wa)
        coef = np.linalg.lstsq(xa * rw[:, None], ya * rw, rcond=None)[0]
    bread = np.linalg.inv(xtx)
    bread = 0.5 * (bread + bread.T)
    return WLSFit(coef=coef, resid=ya - xa @ coef, bread=bread, X=xa, weights=wa, rows=rows)


def hc_vcov(fit: WLSFit, kind: str = "hc3") -> np.ndarray:
    """Heteroskedasticity-robust covariance HC0-HC3 of a :class:`WLSFit`.

    Raises :class:`DesignError` for HC2 / HC3 when a row has leverage 1.
    """
    kind = check_option(kind, HC_KINDS, "vcov")
    n, p = fit.X.shape
    score = fit.scores
    if kind in ("hc2", "hc3"):
        h = np.einsum("ij,jk,ik->i", fit.X, fit.bread, fit.X)
        if fit.weights is not None:
            h = fit.weights * h
        if np.any(h > 1 - 1e-10):
            raise DesignError(f"{kind.upper()} is undefined: some rows have leverage 1 "
                              "(a covariate pattern seen in a single row); use vcov='hc1'.")
        score = score / ((1 - h) if kind == "hc3" else np.sqrt(1 - h))[:, None]
    meat = score.T @ score
    if kind == "hc1":
        meat *= n / (n - p)
    vc = fit.bread @ meat @ fit.bread
    return 0.5 * (vc + vc.T)


def robust_vcov(fit: WLSFit, kind: str, clusters: Any = None) -> RobustVcov:
    """HC (``clusters=None``) or CR covariance of a :class:`WLSFit` and its df.

    Parameters
    ----------
    fit : WLSFit
    kind : str
        ``"hc0"``..``"hc3"`` without clusters, ``"cr0"``..``"cr3"`` with.
    clusters : array_like, optional
        (n,) cluster codes or labels of the rows used (``fit.rows``), or (N,) on all input rows.
    """
    p = fit.X.shape[1]
    if clusters is None:
        return RobustVcov(hc_vcov(fit, kind), np.full(p, float(fit.nobs - p)), kind)
    kind = check_option(kind, CR_KINDS, "vcov")
    c = np.asarray(clusters)
    if c.shape[0] == fit.rows.shape[0] and c.shape[0] != fit.nobs:
        c = c[fit.rows]
    cv = cluster_vcov(fit.X, fit.resid, c, kind=kind, weights=fit.weights, bread=fit.bread)
    return RobustVcov(cv.vcov, cv.df, kind, cv.n_clusters)


def influence_vcov(z: Any, clusters: Any = None) -> tuple[np.ndarray, float]:
    """Joint covariance of estimators with influence values ``z`` (n, k) on the same rows.

    Without clusters ``n/(n-1) sum_i (z_i - zbar)(z_i - zbar)'`` and an infinite df (normal
    reference); with (n,) ``clusters`` ``G/(G-1) sum_g u_g u_g'`` (the CR0 sandwich of
    :func:`~sosstats._kernels.cluster.cluster_vcov` with identity bread, scaled) and df
    ``G - 1``. Influence values of least-squares estimators with an intercept sum to zero, so
    the cluster totals need no centring.
    """
    za = _as_2d(z)
    n = za.shape[0]
    if clusters is None:
        if n < 2:
            raise DesignError("a variance needs at least two rows.")
        zc = za - za.mean(axis=0)
        return n / (n - 1) * (zc.T @ zc), float("inf")
    k = za.shape[1]
    cv = cluster_vcov(za, np.ones(n), clusters, kind="cr0", bread=np.eye(k))
    g = cv.n_clusters
    return g / (g - 1) * cv.vcov, float(g - 1)

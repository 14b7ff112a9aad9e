r"""The only module that imports PyMC: build the multilevel model and sample it.

Notes
-----
The linear predictor of row :math:`i` is

.. math::

    \eta_i = \alpha_c + (x_i - \bar x)^\top b + \sum_{l} u^{(l)}_{g_l(i)}
             + \sum_{m} \sum_j w_{ij} u^{(m)}_j + \sum_{(l, t)} v^{(l,t)}_{g_l(i)} x_{it},

with random intercepts :math:`u^{(l)} = \sigma_l z^{(l)}`, :math:`z^{(l)} \sim N(0, 1)`
(non-centred parameterisation; Papaspiliopoulos, Roberts & Skold 2007; Betancourt & Girolami
2015; levels with plenty of data per group may be centred instead, see
:mod:`sosstats.multilevel._centring`), independent random slopes
:math:`v^{(l,t)} = \tau_{l,t} z^{(l,t)}`, and for a multiple-membership level :math:`m`
the weighted sum of the unit's groups' effects (Browne, Goldstein & Rasbash 2001),
computed as a gather ``u[index] * weight`` summed over a padded
``(units, K)`` array. At a level with ``correlated_slopes`` the intercept and slopes of group
:math:`g` are drawn jointly, :math:`(u_g, v_g)^\top = L z_g` with
:math:`L = \operatorname{diag}(\tau) L_\Omega` from PyMC's ``LKJCholeskyCov`` (an LKJ prior on
the correlation matrix; Lewandowski, Kurowicka & Joe 2009) and :math:`z_g \sim N(0, I)`, see
:mod:`sosstats.multilevel._correlated`. Predictors are centred (:math:`\bar x`) when the
model has an intercept or cutpoints; the reported ``beta`` holds the intercept of the
uncentred formula,
:math:`\alpha_c - \bar x^\top b`, and the reported ``cutpoints`` are :math:`c + \bar x^\top b`.

Likelihood weights enter as ``pm.Potential(sum_i w_i log p(y_i | eta_i))`` (weights rescaled
to sum to the number of rows). This is a pseudo-likelihood: the posterior is not a full
Bayesian treatment of survey or attrition weights, and its intervals do not account for the
weights' own uncertainty (Gelman 2007, *Statistical Science* 22(2)).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from scipy.special import gammaln

from sosstats.errors import DataError
from sosstats.multilevel._correlated import effect_names, pair_index, pair_labels
from sosstats.multilevel._design import Design, Rows
from sosstats.multilevel.priors import Prior, Priors, correlated_sd_prior

__all__ = ["build_model", "sample_model", "prior_predictive", "resolve_sampler",
           "group_capacity", "model_inputs", "PAD_MAX_GROUPS"]

#: Levels with more groups than this are never padded (see :func:`group_capacity`).
PAD_MAX_GROUPS = 5000

#: Attribute of a built model holding its data and prior inputs (name -> shared variable).
INPUTS_ATTR = "_sosstats_inputs"


class _Inputs:
    """The model's data and prior parameters as named PyTensor shared variables.

    Every array the likelihood reads and every prior parameter enters the graph as a shared
    variable (static shape unknown), never as a constant, so that one compiled model serves
    every data set and prior scale of the same structure (nutpie's ``with_data``; see
    :mod:`sosstats.multilevel.compiled_cache`). Data have an unknown static shape (the
    number of rows may change); prior parameters keep theirs (``static``), which is part of
    the structure (PyMC's ``LKJCholeskyCov`` needs a known size).
    """

    def __init__(self) -> None:
        self.vars: dict[str, Any] = {}

    def __call__(self, name: str, value: Any, dtype: Any = float, static: bool = False) -> Any:
        if name in self.vars:
            raise ValueError(f"duplicate model input {name!r}")
        arr = np.array(value, dtype=dtype, order="C", copy=True)
        shape = arr.shape if static else (None,) * arr.ndim
        var = pytensor.shared(arr, name=name, shape=shape)
        self.vars[name] = var
        return var


def group_capacity(design: Design, centred: tuple[str, ...] = ()) -> dict[str, int]:
    r"""Return the padded number of groups per level (fits that reuse a compiled model).

    A non-centred level (``z ~ N(0, 1)``, ``u = \sigma z``, also multiple membership and
    correlated levels) with :math:`n \le` :data:`PAD_MAX_GROUPS` groups is given
    :math:`\lceil n / s\rceil s` groups, :math:`s = 2^{\max(0, \lfloor \log_2 n\rfloor - 2)}`
    (at most 25% more): the extra groups appear in no likelihood term, so their ``z`` are
    independent standard normals a posteriori and the posterior of every other parameter is
    exactly that of the unpadded model (integrating the extra ``z`` out leaves it unchanged).
    They are dropped from the returned draws. Evaluations with 177 to 183 workers then share
    one structure (192 worker slots) and one compiled model. Centred levels, the level that
    absorbs the intercept and larger levels keep their exact number of groups.
    """
    absorb = _absorbing_level(design, centred)
    out: dict[str, int] = {}
    for lev in design.levels:
        n = lev.n_groups
        if lev.name in centred or lev.name == absorb or n > PAD_MAX_GROUPS or n < 4:
            out[lev.name] = n
            continue
        step = 2 ** max(0, int(np.floor(np.log2(n))) - 2)
        out[lev.name] = int(-(-n // step) * step)
    return out


def model_inputs(model: pm.Model) -> dict[str, Any]:
    """Return the shared variables (data, prior parameters) of a :func:`build_model` model."""
    return dict(getattr(model, INPUTS_ATTR))

_DIST = {"normal": pm.Normal, "studentt": pm.StudentT, "halfnormal": pm.HalfNormal,
         "exponential": pm.Exponential, "halfstudentt": pm.HalfStudentT,
         "halfcauchy": pm.HalfCauchy}


def _params(inputs: _Inputs, name: str, params: dict[str, Any]) -> dict[str, Any]:
    return {key: inputs(f"prior_{name}_{key}", val, static=True) for key, val in params.items()}


def _rv(inputs: _Inputs, name: str, prior: Prior, **kwargs: Any) -> Any:
    return _DIST[prior.dist](name, **_params(inputs, name, prior.params), **kwargs)


def _coefficients(design: Design, priors: Priors, inputs: _Inputs) -> Any:
    """Coefficient vector ``b`` (terms other than the intercept), grouped by prior family."""
    coefs = [t for t in design.terms if t != "Intercept"]
    groups: dict[str, list[int]] = {}
    for k, term in enumerate(coefs):
        groups.setdefault(priors.coefficient(term).dist, []).append(k)
    parts, order = [], []
    for dist, idx in groups.items():
        stacked = {key: np.array([priors.coefficient(coefs[k]).params[key] for k in idx])
                   for key in priors.coefficient(coefs[idx[0]]).params}
        name = "b" if len(groups) == 1 else f"b_{dist}"
        kwargs = {"dims": "coef"} if len(groups) == 1 else {"shape": len(idx)}
        parts.append(_DIST[dist](name, **_params(inputs, name, stacked), **kwargs))
        order.extend(idx)
    if len(parts) == 1:
        return parts[0]
    return pt.concatenate(parts)[np.argsort(order)]


def build_model(design: Design, priors: Priors, *, rows: Rows | None = None,
                centred: tuple[str, ...] = (), predictive: bool = False,
                pad: bool = False) -> pm.Model:
    """Build the PyMC model of ``design`` with ``priors`` on ``rows`` (default: the fit rows).

    Levels named in ``centred`` are sampled as ``u ~ N(0, sigma)`` with ``z = u / sigma``
    deterministic; the others non-centred (``z ~ N(0, 1)``, ``u = sigma * z``). The first
    centred level with one group per row absorbs the intercept (see :func:`_absorbing_level`;
    its group means are ``mean_<level>``).

    Posterior names: ``beta`` (dims ``term``, Intercept included), ``sigma_<level>``,
    ``z_<level>`` / ``u_<level>`` (dims ``<level>``), ``slope_sigma_<level>_<term>``,
    ``slope_z_<level>_<term>``, ``slope_u_<level>_<term>``, ``sigma`` (Gaussian),
    ``cutpoints`` (ordinal), ``alpha`` (negative binomial); the observed variable is ``y``
    (or a ``weighted_loglik`` potential when the rows carry weights). Logit likelihoods
    (Bernoulli, binomial) enter as a ``loglik`` potential with the same value and gradient
    (see :func:`_logit_loglik`) unless ``predictive`` asks for the observed variable ``y``,
    which prior and posterior predictive sampling need.

    Data arrays and prior parameters are shared variables (:func:`model_inputs`), so the
    graph depends only on the model's structure. ``pad=True`` gives each level the padded
    number of groups of :func:`group_capacity` (labels ``__pad<k>`` after the real ones), as
    :meth:`MultilevelModel.fit` samples it; the default keeps the exact groups.
    """
    rows = design.fit if rows is None else rows
    inputs = _Inputs()
    capacity = group_capacity(design, centred) if pad else {}
    coefs = [t for t in design.terms if t != "Intercept"]
    coef_cols = [design.terms.index(t) for t in coefs]
    coords: dict[str, Any] = {"term": list(design.terms)}
    if coefs:
        coords["coef"] = coefs
    for lev in design.levels:
        labels = list(lev.labels)
        extra = capacity.get(lev.name, len(labels)) - len(labels)
        coords[lev.name] = labels + [f"__pad{k}" for k in range(extra)]
    for name in design.correlated:
        coords[f"effect_{name}"] = effect_names(design.slopes, name)
        coords[f"corr_pair_{name}"] = pair_labels(design.slopes, name)
    if design.family == "ordinal":
        cats = design.categories
        coords["cutpoint"] = [f"{a}|{b}" for a, b in zip(cats[:-1], cats[1:])]
    x_mean = design.x_mean if design.centred else np.zeros(len(design.terms))
    with pm.Model(coords=coords) as model:
        y_in = inputs("data_y", rows.y, dtype=rows.y.dtype)
        eta: Any = pt.zeros(y_in.shape[0])
        shift: Any = 0.0
        b = None
        if coefs:
            b = _coefficients(design, priors, inputs)
            Xc = inputs("data_Xc", rows.X[:, coef_cols] - x_mean[coef_cols])
            eta = eta + pt.dot(Xc, b)
            shift = pt.dot(inputs("data_x_mean", x_mean[coef_cols]), b)
        absorb = _absorbing_level(design, centred)
        codes = {name: inputs(f"data_codes_{name}", c, dtype=np.int64)
                 for name, c in rows.codes.items()}
        slope_x = {col: inputs(f"data_x_{col}", rows.X[:, col])
                   for col in sorted({s.column for s in design.slopes})}
        if design.has_intercept:
            alpha_c = _rv(inputs, "intercept_centred", priors["Intercept"])
            if absorb is None:
                eta = eta + alpha_c
        parts = []
        for t in design.terms:
            if t == "Intercept":
                parts.append(pt.reshape(alpha_c - shift, (1,)))
            else:
                parts.append(pt.reshape(b[coefs.index(t)], (1,)))
        if parts:
            pm.Deterministic("beta", pt.concatenate(parts), dims="term")
        for lev in design.levels:
            if lev.name in design.correlated:
                eta = eta + _correlated_level(design, priors, lev.name, codes, slope_x, inputs)
                continue
            sigma = _rv(inputs, f"sigma_{lev.name}", priors[f"sigma_{lev.name}"])
            if lev.name == absorb:
                mean = pm.Normal(f"mean_{lev.name}", alpha_c, sigma, dims=lev.name)
                u = pm.Deterministic(f"u_{lev.name}", mean - alpha_c, dims=lev.name)
                pm.Deterministic(f"z_{lev.name}", u / sigma, dims=lev.name)
                eta = eta + mean[codes[lev.name]]
                continue
            if lev.name in centred:
                u = pm.Normal(f"u_{lev.name}", 0.0, sigma, dims=lev.name)
                pm.Deterministic(f"z_{lev.name}", u / sigma, dims=lev.name)
            else:
                z = pm.Normal(f"z_{lev.name}", 0.0, 1.0, dims=lev.name)
                u = pm.Deterministic(f"u_{lev.name}", sigma * z, dims=lev.name)
            if lev.kind == "membership":
                index = inputs(f"data_mm_index_{lev.name}", lev.mm_index, dtype=np.int64)
                weight = inputs(f"data_mm_weight_{lev.name}", lev.mm_weight)
                unit = inputs(f"data_row_unit_{lev.name}", lev.row_unit, dtype=np.int64)
                per_unit = pt.sum(u[index] * weight, axis=1)
                eta = eta + per_unit[unit]
            else:
                eta = eta + u[codes[lev.name]]
        for s in design.slopes:
            if s.level in design.correlated:
                continue
            key = f"{s.level}_{s.term}"
            tau = _rv(inputs, f"slope_sigma_{key}", priors[f"slope_sigma_{key}"])
            z = pm.Normal(f"slope_z_{key}", 0.0, 1.0, dims=s.level)
            v = pm.Deterministic(f"slope_u_{key}", tau * z, dims=s.level)
            eta = eta + v[codes[s.level]] * slope_x[s.column]
        _likelihood(design, priors, rows, eta, shift, predictive, y_in, inputs)
    setattr(model, INPUTS_ATTR, dict(inputs.vars))
    return model


def _correlated_level(design: Design, priors: Priors, name: str, codes_in: dict[str, Any],
                      slope_x: dict[int, Any], inputs: _Inputs) -> Any:
    r"""Correlated intercept and slopes of level ``name``; returns their part of ``eta``.

    ``chol_<name>`` is the packed Cholesky factor :math:`L = \operatorname{diag}(\tau)L_\Omega`
    of ``LKJCholeskyCov`` (SD priors stacked by ``correlated_sd_prior``, LKJ ``eta`` from
    the prior ``corr_<name>``), ``z_<name>`` the ``(groups,
    effects)`` standard normals, and the effects ``z L^T``. Deterministics keep the names of
    independent effects (``sigma_<name>``, ``u_<name>``, ``slope_sigma_<name>_<term>``,
    ``slope_u_<name>_<term>``), so every summary reads them as before, and add
    ``corr_<name>`` (dims ``corr_pair_<name>``: each correlation once).
    """
    slopes = [s for s in design.slopes if s.level == name]
    p = 1 + len(slopes)
    dist, params = correlated_sd_prior(priors, design, name)
    sd_dist = _DIST[dist].dist(**_params(inputs, f"chol_{name}_sd", params), shape=p)
    lkj_eta = priors[f"corr_{name}"].params["eta"]  # a constant: PyMC's LKJ logp needs one
    chol, corr, stds = pm.LKJCholeskyCov(f"chol_{name}", n=p, eta=lkj_eta,
                                         sd_dist=sd_dist, compute_corr=True,
                                         store_in_trace=False)
    z = pm.Normal(f"z_{name}", 0.0, 1.0, dims=(name, f"effect_{name}"))
    effects = pt.dot(z, chol.T)
    pm.Deterministic(f"sigma_{name}", stds[0])
    u = pm.Deterministic(f"u_{name}", effects[:, 0], dims=name)
    a, b = pair_index(p)
    pm.Deterministic(f"corr_{name}", corr[a, b], dims=f"corr_pair_{name}")
    codes = codes_in[name]
    out = u[codes]
    for k, s in enumerate(slopes, start=1):
        key = f"{s.level}_{s.term}"
        pm.Deterministic(f"slope_sigma_{key}", stds[k])
        v = pm.Deterministic(f"slope_u_{key}", effects[:, k], dims=name)
        out = out + v[codes] * slope_x[s.column]
    return out


def _absorbing_level(design: Design, centred: tuple[str, ...]) -> str | None:
    """Find the centred level whose group means absorb the intercept (hierarchical centring).

    The first centred level with exactly one group per row, when the model has an intercept:
    its group means ``m_g ~ N(alpha, sigma)`` enter the linear predictor in place of
    ``alpha + u_g``, which removes the ridge between the intercept and the sum of the group
    effects (Gelfand, Sahu & Carlin 1995, *Biometrika* 82(3)); ``u_g = m_g - alpha`` is
    reported as usual.
    """
    if not design.has_intercept:
        return None
    for lev in design.levels:
        if lev.name in centred and lev.kind != "membership":
            return lev.name
    return None


def _logit_loglik(rows: Rows, eta: Any, inputs: _Inputs) -> Any:
    r"""Binomial log-likelihood on the logit scale, written for a cheap gradient.

    .. math:: \ell = \sum_i w_i \{ y_i \eta_i - m_i \log(1 + e^{\eta_i})
              + \log \tbinom{m_i}{y_i} \}

    with trials :math:`m_i` (1 for Bernoulli) and weights :math:`w_i` (1 unless given); its
    gradient in :math:`\eta` is :math:`w_i \{y_i - m_i\,\mathrm{expit}(\eta_i)\}`. This is
    ``pm.Binomial(logit_p=eta).logp`` to rounding, without the probability bound checks and the
    branch on :math:`y` that cost about half of each gradient on 50,000 rows. The vectors
    :math:`w y`, :math:`w m` and the constant :math:`\sum_i w_i \log\binom{m_i}{y_i}` are
    model inputs (shared variables).
    """
    y = rows.y.astype(float)
    trials = np.ones(rows.n) if rows.trials is None else rows.trials.astype(float)
    log_choose = gammaln(trials + 1) - gammaln(y + 1) - gammaln(trials - y + 1)
    w = np.ones(rows.n) if rows.weights is None else rows.weights
    const = float(log_choose.sum()) if rows.weights is None else float(np.dot(w, log_choose))
    wy = inputs("data_logit_wy", y if rows.weights is None else w * y)
    wm = inputs("data_logit_wm", trials if rows.weights is None else w * trials)
    return pt.dot(wy, eta) - pt.dot(wm, pt.softplus(eta)) + inputs("data_logit_const", const)


def _likelihood(design: Design, priors: Priors, rows: Rows, eta: Any, shift: Any,
                predictive: bool, y: Any, inputs: _Inputs) -> None:
    fam = design.family
    if fam in ("bernoulli", "binomial") and not predictive:
        name = "loglik" if rows.weights is None else "weighted_loglik"
        pm.Potential(name, _logit_loglik(rows, eta, inputs))
        return
    if fam == "gaussian":
        sigma = _rv(inputs, "sigma", priors["sigma"])
        dist, kwargs = pm.Normal, {"mu": eta, "sigma": sigma}
    elif fam in ("bernoulli", "binomial") and rows.trials is None:
        dist, kwargs = pm.Bernoulli, {"logit_p": eta}
    elif fam in ("bernoulli", "binomial"):
        trials = inputs("data_trials", rows.trials, dtype=rows.trials.dtype)
        dist, kwargs = pm.Binomial, {"n": trials, "logit_p": eta}
    elif fam == "poisson":
        dist, kwargs = pm.Poisson, {"mu": pt.exp(eta)}
    elif fam == "negative_binomial":
        alpha = _rv(inputs, "alpha", priors["alpha"])
        dist, kwargs = pm.NegativeBinomial, {"mu": pt.exp(eta), "alpha": alpha}
    else:
        k = len(design.categories) - 1
        prior = priors["cutpoints"]
        params = {key: np.full(k, val) for key, val in prior.params.items()}
        cut_c = _DIST[prior.dist]("cutpoints_centred",
                                  **_params(inputs, "cutpoints_centred", params),
                                  dims="cutpoint",
                                  transform=pm.distributions.transforms.ordered,
                                  initval=np.linspace(-1.5, 1.5, k))
        pm.Deterministic("cutpoints", cut_c + shift, dims="cutpoint")
        dist, kwargs = pm.OrderedLogistic, {"eta": eta, "cutpoints": cut_c}
    if rows.weights is None:
        if dist is pm.OrderedLogistic:
            dist("y", **kwargs, observed=y, compute_p=False)
        else:
            dist("y", **kwargs, observed=y)
    else:
        rv = dist.dist(**kwargs)
        weights = inputs("data_weights", rows.weights)
        pm.Potential("weighted_loglik", pt.sum(weights * pm.logp(rv, y)))


def resolve_sampler(sampler: str) -> str:
    """``"auto"`` -> ``"nutpie"`` when importable, else ``"pymc"``; others checked."""
    if sampler == "auto":
        return "nutpie" if importlib.util.find_spec("nutpie") is not None else "pymc"
    if sampler == "nutpie" and importlib.util.find_spec("nutpie") is None:
        raise DataError("sampler='nutpie' but nutpie is not installed; pip install nutpie or "
                        "use sampler='pymc'.")
    if sampler == "numpyro":
        missing = [m for m in ("jax", "numpyro") if importlib.util.find_spec(m) is None]
        if missing:
            raise DataError(f"sampler='numpyro' needs {' and '.join(missing)}, not installed: "
                            "pip install 'sosstats[jax]' (CPU; see JAX's guide for a GPU "
                            "build) or use sampler='nutpie'.")
    return sampler


def _one_blas_thread(cores: int) -> Any:
    """Limit BLAS to one thread while nutpie runs chains on ``cores`` threads.

    nutpie samples chains on threads of one process; each gradient's matrix-vector products
    call OpenBLAS, whose own threads then compete with the other chains for the same cores
    (measured: 2 chains of a 50,000-row logit on 2 cores sampled 2.9x faster with one BLAS
    thread). ``threadpoolctl`` comes with PyMC; without it nothing is limited.
    """
    if cores <= 1 or importlib.util.find_spec("threadpoolctl") is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


BLAS_LINK_WARNING = r"PyTensor could not link to a BLAS installation"


@contextlib.contextmanager
def _quiet_blas_link_warning() -> Iterator[None]:
    """Hide PyTensor's "could not link to a BLAS installation" warning, and only that one.

    PyTensor looks for BLAS link flags for its C backend the first time it compiles a graph and
    warns (``UserWarning``, once per process) when a pip install has none. nutpie compiles the
    model with numba, whose matrix products call NumPy's BLAS, and sosstats sets that BLAS's
    threads itself (:func:`_one_blas_thread`), so the warning says nothing about a nutpie fit.
    The filter matches that message only; every other warning is shown as usual.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=BLAS_LINK_WARNING, category=UserWarning)
        yield


def _end_progress_line() -> None:
    """Start a fresh line on a terminal's stderr after nutpie's progress bars.

    nutpie draws its bars on a terminal and leaves the cursor at the end of the last one, so
    the first warning after a fit (a convergence check, say) would be printed on the bar's
    line. Nothing is written when stderr is not a terminal (nutpie then draws no bar).
    """
    isatty = getattr(sys.stderr, "isatty", None)
    if callable(isatty) and isatty():
        sys.stderr.write("\n")
        sys.stderr.flush()


def sample_model(model: pm.Model, *, draws: int, tune: int, chains: int, seed: int,
                 sampler: str, target_accept: float, progress: bool,
                 cores: int | None = None, reuse: bool = True) -> tuple[Any, dict[str, float]]:
    """Sample ``model`` with nutpie or PyMC's NUTS; return ``(idata, timings)``.

    ``timings`` has ``compile_s`` (nutpie only), ``sample_s`` and ``total_s`` in seconds. With
    nutpie and ``reuse`` the compiled model of an earlier fit of the same structure is reused
    (:mod:`sosstats.multilevel.compiled_cache`; ``compile_s`` is then the time to swap the
    data in, and ``idata.posterior.attrs["sosstats_compiled_reused"]`` is 1). The model is
    compiled at most once; with nutpie, PyTensor's BLAS link warning is hidden (see
    :func:`_quiet_blas_link_warning`). Transformed free variables (``*_log__``) are dropped
    from the posterior so both samplers return the same names.
    """
    cores = min(chains, os.cpu_count() or 1) if cores is None else cores
    t0 = time.perf_counter()
    if sampler == "nutpie":
        import nutpie

        from sosstats.multilevel import compiled_cache

        with _quiet_blas_link_warning(), compiled_cache.lock:
            if hasattr(model, INPUTS_ATTR):
                compiled, hit = compiled_cache.compiled_for(model, reuse=reuse)
            else:  # not made by build_model (the census model): no inputs to swap
                compiled, hit = nutpie.compile_pymc_model(model), False
            t1 = time.perf_counter()
            with _one_blas_thread(cores):
                idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains,
                                      cores=cores, seed=seed, progress_bar=progress,
                                      save_warmup=False, target_accept=target_accept)
        idata.posterior.attrs["sosstats_compiled_reused"] = int(hit)
        if progress:
            _end_progress_line()
        t2 = time.perf_counter()
        drop = [v for v in idata.posterior.data_vars if str(v).endswith("__")]
        if drop:
            idata.posterior = idata.posterior.drop_vars(drop)
        timings = {"compile_s": t1 - t0, "sample_s": t2 - t1, "total_s": t2 - t0}
    else:
        # "numpyro": PyMC's JAX backend (the model compiled to JAX, sampled by NumPyro's NUTS
        # with the chains vectorised on JAX's default device; ``cores`` is not used)
        extra = {"nuts_sampler": "numpyro", "chain_method": "vectorized"} \
            if sampler == "numpyro" else {}
        idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=cores, random_seed=seed,
                          progressbar=progress, target_accept=target_accept,
                          compute_convergence_checks=False, model=model, **extra)
        t2 = time.perf_counter()
        timings = {"compile_s": float("nan"), "sample_s": t2 - t0, "total_s": t2 - t0}
    idata.posterior.attrs["sampler"] = sampler
    return idata, timings


def prior_predictive(model: pm.Model, *, draws: int, seed: int) -> Any:
    """Prior and prior predictive draws of ``model`` as ArviZ ``InferenceData``."""
    return pm.sample_prior_predictive(draws=draws, model=model, random_seed=seed)

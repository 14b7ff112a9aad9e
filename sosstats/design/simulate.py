"""``simulate_study``: run a design and an estimator many times; report how the estimator does."""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import check_finite, check_int, check_level
from sosstats.design import _execution as ex
from sosstats.design._seeds import root_seed
from sosstats.design.result import SimulationResult
from sosstats.errors import DataError, DesignError, SosstatsWarning

__all__ = ["simulate_study"]


def _name(obj: Any) -> str:
    """Return a short printable name of a design or estimator."""
    name = getattr(obj, "name", None)
    if isinstance(name, str):
        return name
    if isinstance(obj, functools.partial):
        return f"partial({_name(obj.func)})"
    for attr in ("__qualname__", "__name__"):
        name = getattr(obj, attr, None)
        if isinstance(name, str):
            return name
    return type(obj).__name__


def _check_truth(truth: Any) -> dict[str, float]:
    if truth is None:
        return {}
    if not isinstance(truth, Mapping):
        raise DataError("`truth` must be a dict of true values by term, e.g. {'x': 0.0}; got "
                        f"{type(truth).__name__}.")
    out = {}
    for term, value in truth.items():
        if isinstance(value, Mapping):
            raise DataError(f"`truth[{term!r}]` is a nested dict: give {{term: value}} for the "
                            "terms of the estimator's tidy() table.")
        out[str(term)] = check_finite(value, f"`truth[{term!r}]`")
    return out


def _check_n_jobs(n_jobs: Any) -> int:
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)):
        raise DataError(f"`n_jobs` must be None, a positive int or -1 (all CPUs); got {n_jobs!r}.")
    if n_jobs == -1:
        return ex.cpu_count()
    if n_jobs < 1:
        raise DataError(f"`n_jobs` must be None, a positive int or -1 (all CPUs); got {n_jobs}.")
    return int(n_jobs)


def simulate_study(design: Callable[[np.random.Generator], pd.DataFrame] | Any,
                   estimator: Callable[[pd.DataFrame], Any], n_replicates: int, *,
                   truth: Mapping[str, float] | None = None, level: float = 0.95,
                   alpha: float = 0.05,
                   rng: int | np.random.SeedSequence | np.random.Generator | None = None,
                   n_jobs: int | None = None, client: Any = None, batch_size: int | None = None,
                   progress: bool | None = None) -> SimulationResult:
    r"""Operating characteristics of an estimator by simulation: bias, RMSE, coverage, size/power.

    Replicate :math:`i = 0, \dots, n-1` draws a data set ``design(rng_i)``, fits
    ``estimator(data)`` and keeps, per term, the estimate, standard error, p-value and interval
    at ``level``. The table (:meth:`SimulationResult.tidy`) summarises them per term with Monte
    Carlo standard errors (Morris, White & Crowther 2019).

    Parameters
    ----------
    design : callable or design object
        ``design(rng) -> DataFrame``, called with a ``numpy.random.Generator``; or an object
        with ``simulate(rng) -> DataFrame`` and optionally ``truth`` (a dict ``{term: value}``,
        used when ``truth=`` is not given), ``n_clusters`` (a design with fewer than two is
        refused) and ``settings`` (a dict printed in the summary).
    estimator : callable
        ``estimator(data) -> result``: a sosstats result (its ``tidy()`` / ``conf_int(level)``
        give ``term, estimate, std_error, p_value, ci_lower, ci_upper``) or a DataFrame with
        those columns. Use a ``functools.partial`` or a small function to fix its options, e.g.
        ``lambda d: change_model("sdq ~ x", d, entity="id", time="wave", cluster="pilot",
        inference="cr2")``.
    n_replicates : int
        Number of replicates (at least 1).
    truth : dict, optional
        True value by term (as the estimator's ``tidy()`` names them). Terms without a truth
        get rejection rates but NaN bias, RMSE and coverage.
    level : float, default 0.95
        Level of the intervals whose coverage is counted.
    alpha : float, default 0.05
        A replicate rejects a term's null when its ``p_value <= alpha`` (size under a null,
        power under an alternative); :meth:`SimulationResult.rejection_rates` gives others.
    rng : int, SeedSequence, Generator or None
        Root of the seeds. Replicate ``i`` uses ``numpy.random.SeedSequence(seed).spawn(n)[i]``
        (built directly from the seed and ``i``), so the results are identical bit for bit
        whatever runs them and however they are batched. A Generator is drawn from once; None
        draws fresh entropy; the result records the seed (``settings["seed"]``).
    n_jobs : int, optional
        Run on a local process pool of this many workers (``-1``: every CPU); None or 1: in
        this process. The design and estimator are pickled once per worker (cloudpickle when
        installed, so lambdas work; otherwise they must be importable functions).
    client : dask.distributed.Client, optional
        Run on this Dask cluster (local or many machines): the design and estimator are
        scattered once to every worker and the replicates run as ``client.map`` tasks of
        ``batch_size`` replicates each, gathered as they finish. Needs the ``distributed``
        extra (``pip install sosstats[distributed]``); Dask is imported only here.
    batch_size : int, optional
        Replicates per task. Default: about eight tasks per worker (at most 2,000 replicates
        a task); in-process, ``n / 400`` (for the progress bar). It changes no number.
    progress : bool, optional
        Show a progress bar (tqdm when installed, else a plain counter on stderr); None: only
        when stderr is a terminal.

    Returns
    -------
    SimulationResult
        ``tidy()``: per term ``n_ok, n_failed, mean_estimate, truth, bias, bias_mcse, rmse,
        rmse_mcse, coverage, coverage_mcse, rejection_rate, rejection_rate_mcse,
        mean_std_error, empirical_sd, empirical_sd_mcse``; ``.replicates`` (every replicate's
        estimates), ``.failures``, ``.warnings``, ``.settings``, ``.timing``, ``.plot()``.

    Raises
    ------
    DesignError
        ``n_replicates < 1``; a design whose ``n_clusters`` is below 2; an estimator that
        fails on each of the first five replicates (the study stops there, and the message
        shows the first error and its traceback).
    DataError
        A design or estimator that is not callable; ``truth`` not a flat dict of numbers;
        ``level`` / ``alpha`` outside (0, 1); bad ``n_jobs`` / ``batch_size``; both
        ``n_jobs > 1`` and ``client``; a closed ``client``; a design or estimator that cannot
        be pickled for ``n_jobs``.

    Warns
    -----
    SosstatsWarning
        When some replicates failed (they are counted in ``n_failed`` and listed in
        ``.failures``), and once for the warnings raised inside replicates (counted in
        ``.warnings``).

    Notes
    -----
    Failures do not stop the study (a replicate in which a model cannot be fitted is part of
    the operating characteristics: ``n_failed`` says how often), except when the estimator
    fails on every one of the first five replicates, which is a bug in the call rather than a
    property of the design.

    What is vectorised: the runner does no per-row pandas work (each replicate's table becomes
    numpy arrays column by column; the summary is one ``bincount`` pass over all replicates),
    and the estimators' own kernels are batched inside a replicate (the wild bootstrap's sign
    vectors, randomisation inference's permutations, CR2's cluster blocks). When the design
    has ``simulate_batch`` and the estimator ``fit_batch`` (:func:`study_2017` and
    :func:`evaluation_families` with :func:`change_estimator`'s ``"cr2"`` / ``"wild"``), each
    task is simulated as one batch of arrays and fitted in one call (CR2: one stacked kernel
    for all its replicates), with the per-replicate numbers (CR2 to rounding, wild bit for
    bit) and independent of the batching; ``settings["batched"]`` counts the replicates that
    ran so. Other replicates run one after another within a task.

    References
    ----------
    Morris, T. P., White, I. R. & Crowther, M. J. (2019). Using simulation studies to evaluate
    statistical methods. *Statistics in Medicine* 38(11), 2074-2102.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from scipy import stats
    >>> from sosstats.design import simulate_study
    >>> def draw(rng):
    ...     return pd.DataFrame({"y": rng.normal(0.0, 1.0, 30)})
    >>> def t_test(data):
    ...     y = data["y"].to_numpy()
    ...     se = y.std(ddof=1) / np.sqrt(y.size)
    ...     t = y.mean() / se
    ...     half = stats.t.ppf(0.975, y.size - 1) * se
    ...     return pd.DataFrame({"term": ["mean"], "estimate": [y.mean()], "std_error": [se],
    ...                          "p_value": [2 * stats.t.sf(abs(t), y.size - 1)],
    ...                          "ci_lower": [y.mean() - half], "ci_upper": [y.mean() + half]})
    >>> res = simulate_study(draw, t_test, 200, truth={"mean": 0.0}, rng=1)
    >>> res.tidy()[["term", "n_ok", "coverage"]].shape
    (1, 3)
    """
    t_start = time.perf_counter()
    n = check_int(n_replicates, "n_replicates", minimum=1)
    simulate = getattr(design, "simulate", None)
    if not callable(simulate):
        if not callable(design):
            raise DataError("`design` must be a callable design(rng) -> DataFrame or an object "
                            f"with a simulate(rng) method; got {type(design).__name__}.")
        simulate = design
    n_clusters = getattr(design, "n_clusters", None)
    if n_clusters is not None and not callable(n_clusters) and n_clusters < 2:
        raise DesignError(f"the design has {n_clusters} cluster(s): cluster-level inference "
                          "needs at least two.")
    if not callable(estimator):
        raise DataError("`estimator` must be a callable estimator(data) -> result; got "
                        f"{type(estimator).__name__}.")
    if truth is None:
        design_truth = getattr(design, "truth", None)
        truth = design_truth if isinstance(design_truth, Mapping) else None
    truth_ = _check_truth(truth)
    level = check_level(level)
    if not (isinstance(alpha, (float, int)) and not isinstance(alpha, bool) and 0 < alpha < 1):
        raise DataError(f"`alpha` must be a number strictly between 0 and 1; got {alpha!r}.")
    alpha = float(alpha)
    workers = _check_n_jobs(n_jobs)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", minimum=1)
    if progress is not None and not isinstance(progress, bool):
        raise DataError(f"`progress` must be True, False or None; got {progress!r}.")
    if client is not None:
        if workers > 1:
            raise DataError("give `n_jobs` or `client`, not both: with a Dask client the "
                            "cluster's workers run the replicates.")
        ex.check_client(client)
        workers = ex.dask_threads(client)
        backend = "dask"
    else:
        backend = "process pool" if workers > 1 else "in-process"
    root = root_seed(rng)
    sim_batch, fit_batch = _batch_functions(design, estimator)
    batch = batch_size or ex.default_batch_size(n, workers if backend != "in-process" else 1,
                                                fit_batch is not None)
    bounds = ex.chunk_bounds(n, batch)
    task = ex.StudyTask(simulate, estimator, level, root, n, sim_batch, fit_batch)

    if backend == "in-process":
        chunks_iter = ex.iter_inprocess(task, bounds)
    elif backend == "process pool":
        chunks_iter = ex.iter_pool(task, bounds, workers)
    else:
        chunks_iter = ex.iter_dask(task, bounds, client)

    chunks: list[ex.Chunk] = []
    bar = ex.ProgressBar(n, progress)
    try:
        for chunk in chunks_iter:
            if chunk.stopped_early:
                _raise_early(chunk)
            chunks.append(chunk)
            bar.step(chunk.stop - chunk.start)
    finally:
        bar.close()
        close = getattr(chunks_iter, "close", None)
        if close is not None:
            close()
    chunks.sort(key=lambda c: c.start)
    result = _assemble(chunks, n=n, truth=truth_, level=level, alpha=alpha, settings={
        "seed": root.entropy if not root.spawn_key else (root.entropy, root.spawn_key),
        "backend": backend, "workers": workers, "batch_size": batch, "n_tasks": len(bounds),
        "design": _name(design), "estimator": _name(estimator),
        "batched": int(sum(c.batched for c in chunks)),
        "design_settings": dict(getattr(design, "settings", {}) or {})
        if isinstance(getattr(design, "settings", None), Mapping) else {},
    }, wall=time.perf_counter() - t_start)
    _warn(result)
    return result


def _batch_functions(design: Any, estimator: Any) -> tuple[Any, Any]:
    """Return the design's ``simulate_batch`` and the estimator's ``fit_batch`` when both exist.

    An estimator may say it cannot batch (a ``batched`` attribute that is False: e.g. a
    formula the batched model matrix does not read); then neither is used.
    """
    sim_batch = getattr(design, "simulate_batch", None)
    fit_batch = getattr(estimator, "fit_batch", None)
    if not (callable(sim_batch) and callable(fit_batch)) \
            or getattr(estimator, "batched", True) is False:
        return None, None
    return sim_batch, fit_batch


def _raise_early(chunk: ex.Chunk) -> None:
    _, kind, message, tb = chunk.failures[0]
    tail = "\n".join(tb.strip().splitlines()[-8:]) if tb else ""
    raise DesignError(f"the estimator (or the design) failed on each of the first "
                      f"{len(chunk.failures)} replicates, so the study stopped. The first "
                      f"error was {kind}: {message}" + (f"\n\n{tail}" if tail else ""))


def _assemble(chunks: list[ex.Chunk], *, n: int, truth: dict[str, float], level: float,
              alpha: float, settings: dict[str, Any], wall: float) -> SimulationResult:
    values = np.concatenate([c.values for c in chunks]) if chunks else np.empty((0, 5))
    replicates = pd.DataFrame({
        "replicate": np.concatenate([c.replicate for c in chunks]).astype(np.int64),
        "term": np.concatenate([c.term for c in chunks]).astype(object).astype(str),
        **{name: values[:, j] for j, name in enumerate(ex.COLUMNS)}})
    fails = [f for c in chunks for f in c.failures]
    failures = pd.DataFrame(fails, columns=["replicate", "error", "message", "traceback"])
    failures["replicate"] = failures["replicate"].astype(np.int64)
    counts: dict[tuple[str, str], int] = {}
    for c in chunks:
        for key, k in c.warnings.items():
            counts[key] = counts.get(key, 0) + k
    warn_frame = pd.DataFrame([(cat, msg, k) for (cat, msg), k in counts.items()],
                              columns=["category", "message", "replicates"])
    compute = float(sum(c.seconds for c in chunks))
    timing = {"wall_s": wall, "compute_s": compute, "per_replicate_s": compute / n,
              "wall_per_replicate_s": wall / n}
    return SimulationResult(replicates=replicates, failures=failures, n_replicates=n,
                            truth=truth, level=level, alpha=alpha, settings=settings,
                            timing=timing, warnings=warn_frame)


def _warn(result: SimulationResult) -> None:
    n_fail = len(result.failures)
    if n_fail:
        first = result.failures.iloc[0]
        warnings.warn(f"{n_fail:,} of {result.n_replicates:,} replicates failed and are counted "
                      f"in n_failed (first, replicate {first.replicate}: {first.error}: "
                      f"{first.message}); see result.failures.", SosstatsWarning, stacklevel=3)
    if len(result.warnings):
        w = result.warnings.sort_values("replicates", ascending=False)
        top = w.iloc[0]
        more = f" and {len(w) - 1} other warning(s)" if len(w) > 1 else ""
        warnings.warn(f"replicates raised warnings: {top.category}: {top.message} "
                      f"({top.replicates:,} of {result.n_replicates:,}){more}; see "
                      "result.warnings.", SosstatsWarning, stacklevel=3)


"""Running the replicates of a simulation study: in-process, on a process pool, or on Dask.

The unit of work is a *chunk*: replicates ``start, ..., stop - 1``. :class:`StudyTask` holds
everything a chunk needs (the design's simulate function, the estimator, the level and the
root seed) and :meth:`StudyTask.run_chunk` runs one: replicate ``i`` draws its data from
``RootSeed.generator(i)``, fits the estimator, and writes the estimator's
``estimate, std_error, p_value, ci_lower, ci_upper`` per term into plain numpy arrays
(:class:`Chunk`); an exception is recorded as a failure of replicate ``i`` (type, message,
traceback) and the chunk goes on. Three backends hand out the same chunks:

- :func:`iter_inprocess`: a loop in the calling process;
- :func:`iter_pool`: a ``concurrent.futures.ProcessPoolExecutor``; the task is pickled ONCE
  (cloudpickle when it is installed, so lambdas and closures work) and sent to each worker by
  the pool's initializer, so a chunk's message is two ints and its answer a few arrays;
- :func:`iter_dask`: a ``dask.distributed.Client``: the task is scattered to every worker once
  (``client.scatter(..., broadcast=True)``), chunks are ``client.map`` tasks with readable keys,
  gathered with ``as_completed`` as they finish; a task that fails as a whole (a worker lost,
  a payload that does not unpickle there) is recorded as the failure of each of its replicates.

A task whose design and estimator have ``simulate_batch`` / ``fit_batch`` runs each chunk as
one batch (:mod:`sosstats.design._batched`); replicates the batch fit sends back run the
per-replicate steps above.

Because the seed of replicate ``i`` depends only on the root and ``i``, the chunking and the
backend change nothing in the numbers. The runner does no pandas work per row: the estimator's
table is turned into arrays column by column, once per replicate.
"""

from __future__ import annotations

import math
import os
import pickle
import sys
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats.design._seeds import RootSeed
from sosstats.errors import DataError

__all__ = ["COLUMNS", "Chunk", "StudyTask", "chunk_bounds", "iter_inprocess", "iter_pool",
           "iter_dask", "ProgressBar", "EARLY_STOP"]

#: what is kept of each replicate's table, per term
COLUMNS = ("estimate", "std_error", "p_value", "ci_lower", "ci_upper")

#: an estimator that fails on each of the first EARLY_STOP replicates stops the study
EARLY_STOP = 5

#: tracebacks kept per chunk (the rest of the failures keep type and message)
_TRACEBACKS_PER_CHUNK = 3


@dataclass
class Chunk:
    """What one chunk of replicates returns: small arrays, cheap to pickle.

    ``replicate``, ``term`` and ``values`` are aligned: one row per (replicate, term) of the
    replicates that succeeded; ``values`` has the columns of :data:`COLUMNS`.
    """

    start: int
    stop: int
    replicate: np.ndarray
    term: np.ndarray
    values: np.ndarray
    failures: list[tuple[int, str, str, str]] = field(default_factory=list)
    warnings: dict[tuple[str, str], int] = field(default_factory=dict)
    stopped_early: bool = False
    seconds: float = 0.0
    batched: int = 0


def _base_interval(est: pd.DataFrame, level: float) -> tuple[np.ndarray, np.ndarray]:
    """``Result._interval`` on arrays: t with the ``df`` column (NaN below 1), else normal.

    The same quantile functions scipy.stats uses (``special.stdtrit``, ``special.ndtri``),
    so the bounds equal ``result.conf_int(level)`` to the last bit, without its frames.
    """
    from scipy import special

    x = est["estimate"].to_numpy(dtype=float)
    se = est["std_error"].to_numpy(dtype=float)
    if "df" in est.columns:
        df = est["df"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            q = np.where(df >= 1, special.stdtrit(np.where(df >= 1, df, 1.0), 0.5 + level / 2),
                         np.nan)
    else:
        q = special.ndtri(0.5 + level / 2)
    half = q * se
    return x - half, x + half


def _table_arrays(result: Any, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the estimator's per-term table as (terms, values (k, 5)), no per-row pandas work."""
    from sosstats._results import Result

    if isinstance(result, Result):
        # the frames tidy() would join, without its copies and reordering; a result with its
        # own interval (bootstrap, test inversion, logit scale) is asked for it
        est = result._estimates()
        if type(result)._interval is Result._interval:
            lower, upper = _base_interval(est, level)
        else:
            ci = result.conf_int(level)
            lower, upper = ci["lower"].to_numpy(dtype=float), ci["upper"].to_numpy(dtype=float)
        terms = np.asarray(est.index, dtype=object)
        k = len(terms)
        cols = [est[c].to_numpy(dtype=float) if c in est.columns else np.full(k, np.nan)
                for c in ("estimate", "std_error", "p_value")]
        return terms, np.column_stack(cols + [lower, upper])
    if isinstance(result, pd.DataFrame):
        table = result
    elif callable(getattr(result, "tidy", None)):
        table = result.tidy()
    else:
        raise DataError("the estimator must return a sosstats result (with tidy()) or a tidy "
                        f"DataFrame with columns term, estimate, ...; got {type(result).__name__}.")
    if not isinstance(table, pd.DataFrame) or "estimate" not in table.columns:
        raise DataError("the estimator's tidy() must be a DataFrame with an `estimate` column; "
                        f"got columns {list(getattr(table, 'columns', []))}.")
    terms = (table["term"] if "term" in table.columns else table.index).to_numpy(dtype=object)
    k = len(terms)
    values = np.column_stack([table[c].to_numpy(dtype=float) if c in table.columns
                              else np.full(k, np.nan) for c in COLUMNS])
    return terms, values


@dataclass(frozen=True)
class StudyTask:
    """Everything a chunk needs; picklable when the design and estimator are.

    Parameters
    ----------
    simulate : callable
        ``simulate(rng) -> DataFrame`` (the design, or its ``simulate`` method).
    estimator : callable
        ``estimator(data) -> result``.
    level : float
        Interval level asked of each result.
    root : RootSeed
        The study's root seed.
    n_replicates : int
        Total number of replicates (for the early stop of the first chunk).
    simulate_batch : callable, optional
        The design's ``simulate_batch(generators) -> batch`` (see
        :mod:`sosstats.design._batched`); with ``fit_batch``, a chunk is simulated and fitted
        as one batch.
    fit_batch : callable, optional
        The estimator's ``fit_batch(batch, level) -> BatchFit | None``.
    """

    simulate: Callable[[np.random.Generator], Any]
    estimator: Callable[[Any], Any]
    level: float
    root: RootSeed
    n_replicates: int
    simulate_batch: Callable[[list[np.random.Generator]], Any] | None = None
    fit_batch: Callable[[Any, float], Any] | None = None

    @property
    def batched(self) -> bool:
        """Whether chunks run on the batched path (both batch functions given)."""
        return self.simulate_batch is not None and self.fit_batch is not None

    def _batch(self, start: int, stop: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Fit replicates ``start .. stop - 1`` as one batch: ``{i: (terms, values)}``.

        Replicates the batch fit cannot handle (``ok`` False), or all of them when the batch
        cannot be simulated or fitted at all, are missing from the dict: the caller runs those
        on the per-replicate path, which gives their result or their error.
        """
        try:
            batch = self.simulate_batch([self.root.generator(i) for i in range(start, stop)])
            fit = self.fit_batch(batch, self.level)
        except Exception:  # noqa: BLE001 - the per-replicate path reports the error
            return {}
        if fit is None:
            return {}
        terms = np.asarray(fit.terms, dtype=object)
        return {start + b: (terms, fit.values[b]) for b in range(stop - start) if fit.ok[b]}

    def run_chunk(self, start: int, stop: int) -> Chunk:
        """Run replicates ``start .. stop - 1`` (see the module docstring)."""
        t0 = time.perf_counter()
        reps: list[np.ndarray] = []
        terms: list[np.ndarray] = []
        values: list[np.ndarray] = []
        failures: list[tuple[int, str, str, str]] = []
        seen: dict[tuple[str, str], int] = {}
        early = min(EARLY_STOP, self.n_replicates) if start == 0 else 0
        stopped = False
        with warnings.catch_warnings(record=True) as log:
            warnings.simplefilter("always")
            done = self._batch(start, stop) if self.batched else {}
            for i in range(start, stop):
                mark = len(log)
                try:
                    if i in done:
                        term, value = done[i]
                    else:
                        data = self.simulate(self.root.generator(i))
                        term, value = _table_arrays(self.estimator(data), self.level)
                except Exception as exc:  # a failed replicate is counted, not fatal
                    tb = (traceback.format_exc() if
                          sum(1 for f in failures if f[3]) < _TRACEBACKS_PER_CHUNK else "")
                    failures.append((i, type(exc).__name__, str(exc), tb))
                else:
                    reps.append(np.full(len(term), i, dtype=np.int64))
                    terms.append(term)
                    values.append(value)
                if len(log) > mark:
                    for key in {(w.category.__name__, str(w.message)) for w in log[mark:]}:
                        seen[key] = seen.get(key, 0) + 1
                    del log[mark:]
                if early and i == early - 1 and len(failures) == early:
                    stopped = True
                    stop = i + 1
                    break
        return Chunk(start, stop,
                     np.concatenate(reps) if reps else np.empty(0, np.int64),
                     np.concatenate(terms) if terms else np.empty(0, object),
                     np.concatenate(values) if values else np.empty((0, len(COLUMNS))),
                     failures, seen, stopped, time.perf_counter() - t0,
                     sum(1 for i in done if i < stop))


def chunk_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[(0, b0), (b0, b0 + b), ...]`` covering ``0 .. n - 1``.

    The first chunk holds at least :data:`EARLY_STOP` replicates, so that it alone can tell
    an estimator that fails on every one of them (and stop the study).
    """
    first = min(n, max(batch_size, EARLY_STOP))
    return [(0, first)] + [(s, min(s + batch_size, n)) for s in range(first, n, batch_size)]


def _failed_chunk(start: int, stop: int, exc: BaseException) -> Chunk:
    """Make the chunk of a task that failed as a whole: every replicate in it is a failure."""
    tb = "".join(traceback.format_exception(exc))
    fails = [(i, type(exc).__name__, str(exc), tb if i == start else "")
             for i in range(start, stop)]
    return Chunk(start, stop, np.empty(0, np.int64), np.empty(0, object),
                 np.empty((0, len(COLUMNS))), fails)


# -- progress -----------------------------------------------------------------------------------
class ProgressBar:
    """Progress of the replicates: tqdm when installed, else sosstats' stderr counter.

    tqdm is an optional import, not a sosstats dependency. ``show=None`` shows the bar only
    when stderr is a terminal.
    """

    def __init__(self, total: int, show: bool | None, label: str = "simulate_study") -> None:
        isatty = getattr(sys.stderr, "isatty", None)
        tty = bool(isatty()) if callable(isatty) else False
        visible = bool(show) if show is not None else tty
        self._bar: Any
        try:
            from tqdm.auto import tqdm
        except ImportError:
            from sosstats._progress import Progress

            self._bar = Progress(total, show=visible if show is not None else None, label=label)
            self._tqdm = False
        else:
            self._bar = tqdm(total=total, disable=not visible, desc=label, unit="rep",
                             file=sys.stderr)
            self._tqdm = True

    def step(self, n: int) -> None:
        """Count ``n`` replicates done."""
        if self._tqdm:
            self._bar.update(n)
        else:
            self._bar.step(n)

    def close(self) -> None:
        """End the bar."""
        self._bar.close()


# -- backends ------------------------------------------------------------------------------------
def one_blas_thread() -> Any:
    """Context limiting BLAS to one thread (threadpoolctl if installed; else a no-op).

    Replicates fit small models, for which a multi-threaded BLAS is overhead, and much worse on
    a loaded machine (measured here: 66 ms against 32 ms a replicate of change_model CR2 on
    two shared cores). One thread everywhere (in-process, pool workers, Dask workers) is
    also the same arithmetic everywhere, which the bit-for-bit guarantee relies on.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn, pymc
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def iter_inprocess(task: StudyTask, bounds: list[tuple[int, int]]) -> Iterator[Chunk]:
    """Chunks in order, in this process (BLAS limited to one thread meanwhile, then restored)."""
    with one_blas_thread():
        for start, stop in bounds:
            yield task.run_chunk(start, stop)


def _dumps(task: StudyTask) -> bytes:
    """Pickle the task once: cloudpickle if installed (lambdas, closures), else pickle."""
    try:
        import cloudpickle
    except ImportError:
        cloudpickle = None
    try:
        return cloudpickle.dumps(task) if cloudpickle is not None else pickle.dumps(task)
    except Exception as exc:
        hint = ("" if cloudpickle is not None else
                " (define them at module level, or install cloudpickle for lambdas and "
                "closures)")
        raise DataError("`n_jobs` runs the replicates in other processes, so the design and "
                        f"the estimator must be picklable{hint}; pickling failed: "
                        f"{type(exc).__name__}: {exc}") from exc


_WORKER_TASK: StudyTask | None = None
_WORKER_LIMITS: Any = None


def _init_worker(payload: bytes) -> None:
    """Unpickle the task once per worker, and give each worker one BLAS thread.

    ``n_jobs`` workers each running a multi-threaded BLAS oversubscribe the cores (measured
    here: a 2-worker pool on 2 cores ran at 0.8x the speed of one process until this limit);
    Dask's worker processes set ``OMP_NUM_THREADS=1`` and friends for the same reason. The
    limit uses threadpoolctl when it is installed (an optional import, not a dependency);
    without it the workers keep numpy's default.
    """
    global _WORKER_TASK, _WORKER_LIMITS
    _WORKER_LIMITS = one_blas_thread()           # kept: the limit holds for the worker's life
    _WORKER_TASK = pickle.loads(payload)


def _pool_chunk(start: int, stop: int) -> Chunk:
    assert _WORKER_TASK is not None  # set by _init_worker
    return _WORKER_TASK.run_chunk(start, stop)


def iter_pool(task: StudyTask, bounds: list[tuple[int, int]], n_jobs: int) -> Iterator[Chunk]:
    """Chunks as they finish on a process pool of ``n_jobs`` workers."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    payload = _dumps(task)
    pool = ProcessPoolExecutor(max_workers=n_jobs, initializer=_init_worker,
                               initargs=(payload,))
    try:
        pending = {pool.submit(_pool_chunk, s, e): (s, e) for s, e in bounds}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                s, e = pending.pop(fut)
                try:
                    chunk = fut.result()
                except Exception as exc:  # the pool broke (a worker killed) or unpickling failed
                    chunk = _failed_chunk(s, e, exc)
                yield chunk
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask_chunk(task: StudyTask, start: int, stop: int) -> Chunk:
    return task.run_chunk(start, stop)


def check_client(client: Any) -> None:
    """Check that ``client`` is a usable ``dask.distributed.Client`` (else a clear error)."""
    if not (callable(getattr(client, "map", None)) and callable(getattr(client, "scatter", None))
            and hasattr(client, "status")):
        raise DataError("`client` must be a dask.distributed.Client; got "
                        f"{type(client).__name__}.")
    status = str(getattr(client, "status", ""))
    if status in ("closing", "closed", "failed"):
        raise DataError(f"`client` is {status}: start a new dask.distributed.Client (or pass "
                        "client=None to run in this process).")


def dask_threads(client: Any) -> int:
    """Total worker threads of the cluster (at least 1)."""
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # pragma: no cover - a client that cannot say
        return 1


def iter_dask(task: StudyTask, bounds: list[tuple[int, int]], client: Any) -> Iterator[Chunk]:
    """Chunks as they finish on a Dask cluster (see the module docstring)."""
    from distributed import as_completed

    scattered = client.scatter(task, broadcast=True, hash=False)
    prefix = f"simulate_study-{uuid.uuid4().hex[:8]}"
    starts = [s for s, _ in bounds]
    stops = [e for _, e in bounds]
    futures = client.map(_dask_chunk, [scattered] * len(bounds), starts, stops,
                         key=[f"{prefix}-{s}" for s in starts], pure=False)
    where = {f.key: b for f, b in zip(futures, bounds)}
    try:
        for fut in as_completed(futures):
            s, e = where[fut.key]
            try:
                chunk = fut.result()
            except Exception as exc:  # a lost worker, a payload that does not unpickle there
                chunk = _failed_chunk(s, e, exc)
            yield chunk
    finally:
        client.cancel(futures)
        client.cancel([scattered])


#: replicates per chunk in one process when the chunk is fitted as one batch
BATCHED_CHUNK = 250


def default_batch_size(n: int, workers: int, batched: bool = False) -> int:
    """About eight chunks per worker (four hundred in one process, for the progress bar).

    A batched study runs at least :data:`BATCHED_CHUNK` replicates a chunk in one process
    (the batch fit's cost per replicate falls with the batch; the bar moves 40 times in
    10,000 replicates).
    """
    if workers <= 1:
        return max(1, math.ceil(n / 400), min(n, BATCHED_CHUNK) if batched else 1)
    return max(1, min(2000, math.ceil(n / (8 * workers))))


def cpu_count() -> int:
    """CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1

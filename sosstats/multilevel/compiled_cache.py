r"""Reuse of nutpie's compiled model across fits of the same structure.

Compiling a PyMC model for nutpie (PyTensor rewrites, then numba) takes 8-15 s on this
project's machine however small the model, more than sampling the 270-family evaluation. The
models of :func:`sosstats.multilevel._pymc.build_model` read their data and prior parameters
from shared variables, so the compiled log density depends only on the model's *structure*.
:func:`compiled_for` keeps the last :data:`MAXSIZE` compiled models (least recently used
dropped first) keyed by that structure and, on a hit, swaps the new data and prior values
in with nutpie's ``CompiledPyMCModel.with_data`` instead of compiling again. Used by every
:meth:`MultilevelModel.fit` with nutpie, hence by ``prior_sensitivity(method="refit")``, SBC
and simulation studies.

The key (:func:`structure_key`) is a hash of the model's generative graph: every node's
operation and its parameters, the values of the graph's constants, the names, ranks and
static shapes of the shared inputs, the dimension lengths (number of parameters) and each
variable's transform and initial value. Data values, the number of data rows and prior
parameter values are not part of it; formula terms, family, levels and their (padded, see
:func:`~sosstats.multilevel._pymc.group_capacity`) number of groups, random slopes, prior
families and LKJ ``eta`` are. Two models with equal keys compile to the same code, so a fit
through the cache gives the same draws as a fresh compile with the same seed (tested).

Turn it off with ``fit(reuse=False)`` or :func:`set_compiled_cache(enabled=False)`; empty it
with :func:`clear_compiled_cache`; :func:`compiled_cache_info` counts hits and misses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = ["compiled_for", "structure_key", "clear_compiled_cache", "compiled_cache_info",
           "set_compiled_cache", "MAXSIZE"]

#: Compiled models kept (least recently used dropped first).
MAXSIZE = 4

_LOCK = threading.RLock()
_CACHE: OrderedDict[str, tuple[Any, dict[str, Any]]] = OrderedDict()
_STATE = {"enabled": True, "maxsize": MAXSIZE, "hits": 0, "misses": 0}


def structure_key(model: Any) -> str:
    """Return a hash of ``model``'s structure (its graph without the inputs' values)."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import io_toposort
    from pytensor.tensor.sharedvar import TensorSharedVariable

    h = hashlib.sha256()

    def add(*parts: Any) -> None:
        for p in parts:
            h.update(repr(p).encode())
            h.update(b"\x00")

    outputs = [*model.basic_RVs, *model.deterministics, *model.potentials]
    ids: dict[Any, int] = {}
    for node in io_toposort([], outputs):
        op = node.op
        props = tuple((p, repr(getattr(op, p))) for p in getattr(op, "__props__", ()))
        add("node", type(op).__name__, props)
        for inp in node.inputs:
            if isinstance(inp, TensorSharedVariable):
                add("shared", inp.name, inp.type.dtype, inp.type.shape)
            elif isinstance(inp, Constant):
                data = np.asarray(inp.data) if not hasattr(inp.data, "bit_generator") else None
                add("const", str(inp.type), None if data is None else
                    hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest())
            elif inp.owner is None:
                add("input", str(inp.type), getattr(inp, "name", None))
            else:
                add("var", ids.setdefault(inp, len(ids)))
        for out in node.outputs:
            ids.setdefault(out, len(ids))
    add("outputs", [(getattr(v, "name", None), ids.get(v)) for v in outputs])
    add("dims", sorted((k, len(v)) for k, v in model.coords.items()))
    add("var_dims", sorted((k, tuple(v)) for k, v in model.named_vars_to_dims.items()))
    add("transforms", sorted((rv.name, type(t).__name__)
                             for rv, t in model.rvs_to_transforms.items()))
    add("initvals", sorted((rv.name, None if v is None else np.asarray(v).tolist()
                            if not isinstance(v, str) else v)
                           for rv, v in model.rvs_to_initial_values.items()))
    add("free", [rv.name for rv in model.free_RVs], "observed",
        [rv.name for rv in model.observed_RVs])
    return h.hexdigest()


def compiled_for(model: Any, *, reuse: bool = True) -> tuple[Any, bool]:
    """Return ``(compiled, hit)``: nutpie's compiled model for ``model``, reused when cached.

    On a hit the cached compiled model gets ``model``'s input values (``with_data``) and
    coordinate labels, and the cached PyTensor shared variables are set to them too (nutpie
    draws initial points with a PyTensor function that reads them). Hold :data:`lock` while
    sampling the returned model.
    """
    import nutpie

    from sosstats.multilevel._pymc import model_inputs

    inputs = model_inputs(model)
    use = reuse and _STATE["enabled"] and int(_STATE["maxsize"]) > 0
    key = structure_key(model) if use else None
    with _LOCK:
        entry = _CACHE.get(key) if use else None
        if entry is not None:
            _CACHE.move_to_end(key)
            _STATE["hits"] += 1
    if entry is None:
        compiled = nutpie.compile_pymc_model(model)
        if use:
            with _LOCK:
                _STATE["misses"] += 1
                _CACHE[key] = (compiled, inputs)
                while len(_CACHE) > int(_STATE["maxsize"]):
                    _CACHE.popitem(last=False)
        return compiled, False
    cached, cached_inputs = entry
    values = {name: var.get_value(borrow=True) for name, var in inputs.items()}
    for name, var in cached_inputs.items():
        if name in values:
            var.set_value(values[name])
    swap = {k: v for k, v in values.items() if k in cached.shared_data}
    compiled = cached.with_data(**swap)
    from nutpie.compile_pymc import _prepare_dims_and_coords

    dims, coords = _prepare_dims_and_coords(model, compiled.shape_info)
    return dataclasses.replace(compiled, dims=dims, _coords=coords), True


#: Held by :func:`sosstats.multilevel._pymc.sample_model` while a cached model samples (the
#: cached shared variables hold that fit's values).
lock = _LOCK


def clear_compiled_cache() -> None:
    """Drop every cached compiled model and reset the hit and miss counts."""
    with _LOCK:
        _CACHE.clear()
        _STATE["hits"] = _STATE["misses"] = 0


def compiled_cache_info() -> dict[str, Any]:
    """Return ``enabled``, ``maxsize``, ``size`` (models cached), ``hits`` and ``misses``."""
    with _LOCK:
        return {"enabled": bool(_STATE["enabled"]), "maxsize": int(_STATE["maxsize"]),
                "size": len(_CACHE), "hits": int(_STATE["hits"]),
                "misses": int(_STATE["misses"])}


def set_compiled_cache(*, enabled: bool | None = None, maxsize: int | None = None) -> None:
    """Turn the cache on or off and / or set how many compiled models it keeps.

    Turning it off or lowering ``maxsize`` drops the models beyond the new size.
    """
    from sosstats._validate import check_int
    from sosstats.errors import DataError

    with _LOCK:
        if enabled is not None:
            if not isinstance(enabled, bool):
                raise DataError(f"`enabled` must be True or False; got {enabled!r}.")
            _STATE["enabled"] = enabled
            if not enabled:
                _CACHE.clear()
        if maxsize is not None:
            _STATE["maxsize"] = check_int(maxsize, "maxsize", minimum=0)
            while len(_CACHE) > _STATE["maxsize"]:
                _CACHE.popitem(last=False)

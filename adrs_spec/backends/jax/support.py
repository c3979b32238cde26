"""Small runtime helpers that generated evaluators import (as `rt`).

Everything here is plain array code with the language's semantics (see adrs_spec.lang.ir):
floor division and modulo, `/` by zero, `~=`, first-violation witnesses, segment sums,
block reshapes. Shapes and statics are Python ints at trace time.
"""
from __future__ import annotations

import functools
import math
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from adrs_spec.bounded import describe_problem, fit_bounded
from adrs_spec.errors import InputError


# ---- precision ----
def precision(dtype: str):
    """The context an evaluator of `dtype` runs its JAX code in: JAX's 64-bit mode on for
    "float64", off for "float32", for this thread and only inside the context. The process's
    `jax_enable_x64` is left as it is, so JAX code elsewhere keeps its own precision. The mode
    is part of jit's cache key: a function traced inside the context is reused by later calls
    inside it, and never by calls outside."""
    check_dtype(dtype)
    return jax.enable_x64(dtype == "float64")


def check_dtype(dtype: str) -> None:
    if dtype not in ("float32", "float64"):
        raise InputError(f"unknown dtype {dtype!r}: use \"float32\" or \"float64\"")


def int_dtype(dtype: str) -> str:
    return "int64" if dtype == "float64" else "int32"


# ---- statics ----
def param_values(declared: Mapping[str, tuple], given: Mapping | None) -> dict:
    """Params by name: the given value, else the default; converted to the declared type."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise InputError(f"unknown param(s) {', '.join(unknown)}; the spec declares {', '.join(declared)}")
    out = {}
    for name, (dtype, default) in declared.items():
        value = given.get(name, default)
        if value is None:
            raise InputError(f"param `{name}` has no default and no value was given")
        out[name] = {"int": int, "float": float, "bool": bool}[dtype](value)
    return out


def require(holds, text: str) -> None:
    if not holds:
        raise InputError(f"the params break the spec's requirement `{text}`")


# ---- scalar and elementwise semantics ----
def divide(a, b):
    """`/` on Python scalars: never raises (x / 0 is +-inf, 0 / 0 is nan)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if b == 0:
            return math.nan if a == 0 else math.copysign(math.inf, a)
        return a / b
    return a / b


def floor_divide(a, b):
    """Python's `//` on ints; on arrays, division by zero gives 0 (numpy's convention)."""
    if isinstance(a, int) and isinstance(b, int):
        return a // b if b != 0 else 0
    xp = jnp if _traced(a, b) else np
    return xp.where(b == 0, 0, xp.floor_divide(a, xp.where(b == 0, 1, b)))


def mod(a, b):
    """Python's `%` on ints; on arrays, modulo zero gives 0 (numpy's convention)."""
    if isinstance(a, int) and isinstance(b, int):
        return a % b if b != 0 else 0
    xp = jnp if _traced(a, b) else np
    return xp.where(b == 0, 0, xp.remainder(a, xp.where(b == 0, 1, b)))


def approx_equal(a, b, tolerance: float):
    """`a ~= b`: |a - b| <= tolerance * max(1, |a|, |b|)."""
    xp = jnp if _traced(a, b) else np
    scale = xp.maximum(1.0, xp.maximum(abs(a), abs(b)))
    return abs(a - b) <= tolerance * scale


def _traced(*xs) -> bool:
    return any(isinstance(x, jax.Array) for x in xs)


# ---- index ranges ----
def widest_range(lo, hi) -> np.ndarray:
    """All values an index whose bounds vary can take: min(lo) .. max(hi) (empty if none)."""
    lo, hi = np.asarray(lo), np.asarray(hi)
    if lo.size == 0 or hi.size == 0:
        return np.arange(0)
    return np.arange(int(lo.min()), int(hi.max()))


def blocks(x, axis: int, count: int, width: int, start: int = 0):
    """Axis `axis` of x cut into `count` blocks of `width` from `start`: (.., count, width, ..).

    A reshape when the blocks lie inside the axis; otherwise a clamped gather (an index past
    the end reads the last element, as everywhere).
    """
    n = x.shape[axis]
    width = max(0, width)
    if 0 <= start and start + count * width <= n:
        part = jax.lax.slice_in_dim(x, start, start + count * width, axis=axis)
        return part.reshape(x.shape[:axis] + (count, width) + x.shape[axis + 1:])
    index = np.clip(start + np.arange(count)[:, None] * width + np.arange(width), 0, max(n - 1, 0))
    return jnp.take(x, index, axis=axis)


# ---- reductions ----
def segment_sum(values, ids, num_segments: int, reduced_axes: int = 1, start: int = 0, prefix=None):
    """Sum `values` into bins `ids - start` over the last `reduced_axes` axes.

    values and ids broadcast together to (lead..., reduced...); the result is
    (lead..., num_segments). Ids outside the bins are dropped; bool values count the
    entries where they hold. A flat scatter-add with an offset per lead row, in chunks:
    memory stays near that of the inputs, never (lead, reduced, bins).

    `prefix` (broadcastable to all axes but the last) keeps only the entries whose position
    on the last axis is below it: ragged rows such as the first logcnt[l, e] slots of
    log2phy[l, e, :]. Positions are visited one plane at a time up to the largest prefix,
    so padding past it costs nothing.
    """
    ids = jnp.asarray(ids)
    if start:
        ids = ids - start
    values = jnp.asarray(values)
    if prefix is not None:
        return _prefix_segment_sum(values, ids, num_segments, reduced_axes, jnp.asarray(prefix))
    shape = jnp.broadcast_shapes(ids.shape, values.shape)
    lead = shape[:len(shape) - reduced_axes]
    rows = (math.prod(lead), -1)
    ids = jnp.broadcast_to(ids, shape).reshape(rows)
    values = jnp.broadcast_to(values, shape).reshape(rows) if values.ndim else values
    out = _row_segment_sum(num_segments)(values, ids)
    return out.reshape(lead + (num_segments,))


def _prefix_segment_sum(values, ids, num_segments: int, reduced_axes: int, limit):
    shape = jnp.broadcast_shapes(ids.shape, values.shape, limit.shape + (1,))
    ids = jnp.broadcast_to(ids, shape)
    values = jnp.broadcast_to(values, shape)
    limit = jnp.broadcast_to(limit, shape[:-1])
    if shape[-1] == 0:
        return segment_sum(jnp.zeros(shape[:-1] + (1,), jnp.bool_), jnp.zeros(shape[:-1] + (1,), jnp.int32),
                           num_segments, reduced_axes)
    return _plane_sums(num_segments, reduced_axes - 1)(values, ids, limit)


@functools.lru_cache(maxsize=None)
def _plane_sums(num_segments: int, keep: int):
    """(values, ids, limit) -> segment sums over the planes k < limit of the last axis.

    Planes are visited in a loop up to the largest limit. Under vmap the loop bound is the
    largest limit of the whole batch, one number: the loop then steps through plain slices
    of the batched arrays, where a bound per instance would make every step a gather and
    a select.
    """
    def plane(k, values, ids, limit):
        inside = k < limit
        ids_k = jax.lax.dynamic_index_in_dim(ids, k, axis=-1, keepdims=keep == 0)
        v = jax.lax.dynamic_index_in_dim(values, k, axis=-1, keepdims=keep == 0)
        if keep == 0:
            inside = inside[..., None]
        weights = inside & v if v.dtype == jnp.bool_ else jnp.where(inside, v, 0)
        return segment_sum(weights, ids_k, num_segments, max(keep, 1))

    @jax.custom_batching.custom_vmap
    def sums(values, ids, limit):
        top = jnp.clip(jnp.max(limit, initial=0), 1, ids.shape[-1])
        first = plane(0, values, ids, limit)
        return jax.lax.fori_loop(1, top, lambda k, acc: acc + plane(k, values, ids, limit), first)

    @sums.def_vmap
    def batched(axis_size, in_batched, values, ids, limit):
        values, ids, limit = (x if b else jnp.broadcast_to(x, (axis_size,) + x.shape)
                              for x, b in zip((values, ids, limit), in_batched))
        return sums(values, ids, limit), True      # the batch is one more leading axis

    return sums


CHUNK = 1 << 20      # scatter updates per step: bounds the temporaries of a segment sum


@functools.lru_cache(maxsize=None)
def _row_segment_sum(num_segments: int):
    """(rows, n) values (or one scalar) and bins -> (rows, num_segments) sums.

    Under vmap the batch is folded into the rows: XLA's scatter with batch dimensions is
    an order of magnitude slower on CPU than a flat one. Large inputs go in chunks of
    rows so that the flat ids and updates never exceed CHUNK entries.
    """
    def chunk_sum(values, ids):
        rows = ids.shape[0]
        count = values.dtype == jnp.bool_
        valid = (ids >= 0) & (ids < num_segments) & (values if count else True)
        flat = jnp.where(valid, ids + (jnp.arange(rows) * num_segments)[:, None], rows * num_segments)
        updates = jnp.ones((), ids.dtype) if count else values
        updates = jnp.broadcast_to(updates, flat.shape).reshape(-1)
        out = jax.ops.segment_sum(updates, flat.reshape(-1), num_segments=rows * num_segments)
        return out.reshape(rows, num_segments)

    @jax.custom_batching.custom_vmap
    def rows_sum(values, ids):
        rows, n = ids.shape
        step = _chunk_rows(rows, n)
        if step == rows:
            return chunk_sum(values, ids)
        split = lambda x: x.reshape((rows // step, step) + x.shape[1:])  # noqa: E731
        if values.ndim:
            out = jax.lax.map(lambda c: chunk_sum(*c), (split(values), split(ids)))
        else:
            out = jax.lax.map(lambda c: chunk_sum(values, c), split(ids))
        return out.reshape(rows, num_segments)

    @rows_sum.def_vmap
    def batched(axis_size, in_batched, values, ids):
        n = ids.shape[-1]
        ids = ids if in_batched[1] else jnp.broadcast_to(ids, (axis_size,) + ids.shape)
        if values.ndim:
            values = values if in_batched[0] else jnp.broadcast_to(values, (axis_size,) + values.shape)
            values = values.reshape(-1, n)
        out = rows_sum(values, ids.reshape(-1, n))
        return out.reshape(axis_size, -1, num_segments), True

    return rows_sum


def _chunk_rows(rows: int, n: int) -> int:
    """The largest divisor of `rows` whose chunk holds at most CHUNK entries (1 at least)."""
    if rows * n <= CHUNK:
        return rows
    best = 1
    for d in range(1, int(math.isqrt(rows)) + 1):
        if rows % d == 0:
            for c in (d, rows // d):
                if c * n <= CHUNK and c > best:
                    best = c
    return best


def masked_mean(values, mask, axis):
    """mean over `axis` where mask holds; NaN when nothing does."""
    values, mask = jnp.broadcast_arrays(values, mask)
    total = jnp.sum(jnp.where(mask, values, 0), axis=axis)
    count = jnp.sum(mask, axis=axis)
    return total / count


# ---- guards ----
def first_violation(ok, values: tuple) -> tuple:
    """(passed, witness): witness holds the values of the invariant's variables at the first
    violation in row-major order, or -1s when every point passes.

    `values` are the variables' value arrays, each broadcastable to ok's axes. One pass
    reduces ok to one flag per index of its first axis (a byte-wise min, which XLA fuses
    with the computation of ok); the first failing index is found in those flags, then the
    first failing point in that one slice (its last axis first). A reduction into a single
    flag, or an argmin over the whole array, would make XLA write ok to memory first.
    """
    shape = np.broadcast_shapes(np.shape(ok), *(np.shape(v) for v in values))
    if math.prod(shape) == 0:
        return jnp.asarray(True), jnp.full((len(values),), -1, jnp.int32)
    ok = jnp.broadcast_to(ok, shape)
    if not shape:
        return ok, jnp.zeros((0,), jnp.int32)
    coords = [jnp.argmin(_all_but_first(ok))]
    part = ok[coords[0]]
    if part.ndim > 1:
        coords += jnp.unravel_index(jnp.argmin(_all_but_first(part.reshape(-1, part.shape[-1]))), part.shape[:-1])
        part = part[tuple(coords[1:])]
    if part.ndim:
        coords.append(jnp.argmin(part))
    passed = ok[tuple(coords)]
    witness = []
    for v in values:
        v = np.asarray(v).reshape((1,) * (len(shape) - np.ndim(v)) + np.shape(v))
        at = tuple(c if size > 1 else 0 for c, size in zip(coords, v.shape))
        witness.append(jnp.asarray(v, jnp.int32)[at])
    return passed, jnp.where(passed, -1, jnp.stack(witness))


def _all_but_first(ok):
    """Whether each slice ok[i] holds entirely (for a 1-d ok, ok itself)."""
    if ok.ndim == 1:
        return ok
    return jnp.min(ok.reshape(ok.shape[0], -1).astype(jnp.uint8), axis=-1).astype(jnp.bool_)


def check(guard, s, *tensors, on_rank) -> tuple:
    """guard(s, *tensors) -> (passed, witness), with `passed` from the cheaper one-rank form.

    `on_rank` is (f, axes) for an invariant `forall .., r: r < limit implies body`:
    f(s, *tensors cut to plane r) gives (limit, body at r), and axes[i] is the axis of
    tensors[i] that r indexes (None if it does not). `passed` looks at ranks below the
    largest limit only; the dense guard runs only to find the witness, when some instance
    failed (a cond on the whole batch, which vmap would otherwise turn into a select that
    runs both branches).
    """
    return _checked(guard, s, on_rank)(*tensors)


@functools.lru_cache(maxsize=None)
def _checked(guard, s, on_rank):
    one = functools.partial(guard, s)
    plane = functools.partial(on_rank[0], s)
    axes = on_rank[1]

    @jax.custom_batching.custom_vmap
    def checked(*tensors):
        passed = _ranks_hold(plane, axes, tensors)
        shape = jax.eval_shape(one, *tensors)[1]
        witness = jax.lax.cond(passed, lambda *t: jnp.full(shape.shape, -1, shape.dtype),
                               lambda *t: one(*t)[1], *tensors)
        return passed, witness

    @checked.def_vmap
    def batched(axis_size, in_batched, *tensors):
        in_axes = tuple(0 if b else None for b in in_batched)
        passed = _ranks_hold(plane, axes, tensors, in_axes)
        witnesses = jax.vmap(lambda *t: one(*t)[1], in_axes=in_axes)
        shape = jax.eval_shape(witnesses, *tensors)
        witness = jax.lax.cond(jnp.all(passed), lambda *t: jnp.full(shape.shape, -1, shape.dtype),
                               witnesses, *tensors)
        return (jnp.broadcast_to(passed, (axis_size,)), witness), (True, True)

    return checked


def _ranks_hold(plane, axes: tuple, tensors: tuple, in_axes: tuple | None = None):
    """Whether `k < limit implies body` holds at every rank k, visiting the ranks below the
    largest limit only. With `in_axes` (vmap's, 0 or None per tensor), per instance of the
    batch; the loop then runs up to the largest limit of the whole batch, one number, so
    that every step cuts plain slices (a bound per instance would make each a gather)."""
    def at_rank(k, *cut):
        limit, ok = plane(*cut)
        limit = jnp.asarray(limit)
        return jnp.max(limit, initial=0), jnp.all((k >= limit[..., None]) | ok)

    batched = in_axes or (None,) * len(tensors)
    where = [None if a is None else a + (b is not None) for a, b in zip(axes, batched)]
    if in_axes is not None:
        at_rank = jax.vmap(at_rank, in_axes=(None, *in_axes))

    def cut(k):
        return [x if a is None else jax.lax.dynamic_slice_in_dim(x, k, 1, axis=a) for x, a in zip(tensors, where)]

    ranks = next(x.shape[a] for x, a in zip(tensors, where) if a is not None)
    largest, _ = at_rank(0, *cut(0))
    top = jnp.clip(jnp.max(largest), 0, ranks)
    return jax.lax.fori_loop(0, top, lambda k, acc: acc & at_rank(k, *cut(k))[1], jnp.ones(largest.shape, jnp.bool_))


# ---- the batch boundary ----
def cast_tensors(t: dict, declared: Mapping[str, tuple], s) -> dict:
    """Fields and outputs in the evaluator's dtypes (inside the jitted function)."""
    target = {"float": s.float_dtype, "int": s.int_dtype, "bool": jnp.bool_}
    return {name: jnp.asarray(x).astype(target[declared[name][0]]) for name, x in t.items()}


def fit_outputs(given: Mapping, bounded: Mapping[str, tuple], shapes: Mapping[str, tuple]) -> dict:
    """The outputs with every dimension declared `<= bound` padded or cut to its bound (see
    adrs_spec.bounded); an InputError when an entry past a bound is not the pad value."""
    if not bounded:
        return given
    fitted = dict(given)
    for name, (axes, names, pad) in bounded.items():
        value = given.get(name)
        if value is None or np.ndim(value) != len(shapes[name]) + 1:
            continue                  # check_batch reports it
        value, problem = fit_bounded(np.asarray(value), shapes[name], axes, pad, batch_axes=1)
        if problem is not None:
            axis, width, where = problem
            raise InputError(f"outputs: instance {where[0]}: " + describe_problem(
                f"`{name}`", shapes[name], axes, names, pad, axis, width, where[1:], value[where].item()))
        fitted[name] = value
    return fitted


def check_batch(given: Mapping, declared: Mapping[str, tuple], shapes: Mapping[str, tuple], what: str) -> int:
    """The batch size B of a batch (B, *shape), after checking its names and shapes."""
    names = set(given)
    missing = sorted(set(declared) - names)
    extra = sorted(names - set(declared))
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"unexpected {', '.join(extra)}"] if extra else [])
        raise InputError(f"{what}: {'; '.join(parts)} (expected {', '.join(declared)})")
    batch = None
    for name in declared:
        shape = tuple(np.shape(given[name]))
        if shape[1:] != tuple(shapes[name]) or (batch is not None and shape[:1] != (batch,)):
            expected = ", ".join(["batch", *map(str, shapes[name])])
            raise InputError(f"{what}: `{name}` has shape {shape}, expected ({expected})")
        batch = shape[0]
    return batch


def batch_size(given: Mapping) -> int:
    return int(np.shape(next(iter(given.values())))[0]) if given else 0


def convert_rows(given: Mapping, declared: Mapping[str, tuple], s, start: int, stop: int, pad: int = 0) -> dict:
    """Instances start .. stop of a checked batch, converted for the device, then the last one
    repeated `pad` times (so that a short last chunk has the shape of the others).

    Arrays end up in the evaluator's dtypes in 64-byte-aligned host memory, which the CPU
    backend uses in place (no second copy). Ints beyond int32 are clamped in 32-bit mode:
    a clamped value is still outside every index range, so guards keep failing on it
    instead of seeing it wrap around to a valid id."""
    out = {}
    for name, (dtype, _) in declared.items():
        x = given[name]
        if isinstance(x, jax.Array):
            part = x[start:stop]
            out[name] = jnp.concatenate([part, jnp.repeat(part[-1:], pad, axis=0)]) if pad else part
            continue
        part = np.asarray(x)[start:stop]
        if pad:
            part = np.concatenate([part, np.repeat(part[-1:], pad, axis=0)])
        out[name] = host_array(part, dtype, s, name)
    return out


CHUNK_ENTRIES = 1 << 21     # array entries per chunk of instances: keeps a chunk's arrays in cache
IN_FLIGHT = 3               # chunks dispatched and not yet finished


def chunk_instances(shapes: Mapping[str, tuple]) -> int:
    """Instances per call of the jitted function: as many as hold about CHUNK_ENTRIES entries."""
    per_instance = sum(math.prod(shape) for shape in shapes.values())
    return max(1, round(CHUNK_ENTRIES / max(1, per_instance)))


def evaluate_in_chunks(batched, instances: Mapping, outputs: Mapping, fields: Mapping[str, tuple],
                       declared_outputs: Mapping[str, tuple], s, chunk: int) -> dict:
    """batched(instances, outputs) over a checked batch, `chunk` instances per call.

    Small chunks keep each call's intermediates in cache (a batch of 64 EPLB instances in
    one call is about 1.5x slower per instance than in calls of 4). Calls are dispatched asynchronously, so the host
    converts the next chunk while the previous one is evaluated; at most IN_FLIGHT chunks
    are pending, which bounds the memory of converted inputs. A batch of more than one
    chunk has its last chunk padded with copies of its last instance: every call then has
    the same shape, and the jitted function is traced once.
    """
    batch = batch_size(instances) if instances else batch_size(outputs)
    if batch <= chunk:
        return batched(convert_rows(instances, fields, s, 0, batch),
                       convert_rows(outputs, declared_outputs, s, 0, batch))
    parts = []
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        pad = chunk - (stop - start)
        if len(parts) >= IN_FLIGHT:         # bounds the converted inputs alive at once
            jax.block_until_ready(parts[-IN_FLIGHT])
        parts.append(batched(convert_rows(instances, fields, s, start, stop, pad),
                             convert_rows(outputs, declared_outputs, s, start, stop, pad)))
    return jax.tree.map(lambda *xs: jnp.concatenate(xs)[:batch], *parts)


def merge_parts(results: list[dict]) -> dict:
    """One result of the whole spec from the results of the parts its guards are compiled in."""
    out: dict = {"passed": {}, "witness": {}, "metrics": {}}
    for result in results:
        for key, values in out.items():
            values.update(result[key])
    return out


def host_array(x, dtype: str, s, name: str = "") -> np.ndarray:
    """A batch (B, ...) in the evaluator's dtype and aligned host memory (copied only if need be)."""
    x = np.asarray(x)
    target = _target_dtype(dtype, s)
    if x.dtype == target and x.ctypes.data % ALIGN == 0:
        return x
    out = _aligned(x.shape, target)
    _convert_into(out, x, dtype, name)
    return out


def host_stack(parts: list, dtype: str, s, name: str = "") -> np.ndarray:
    """Instances stacked into a batch, converted in the same single pass over the data."""
    parts = [np.asarray(x) for x in parts]
    out = _aligned((len(parts),) + parts[0].shape, _target_dtype(dtype, s))
    for row, x in zip(out, parts):
        _convert_into(row, x, dtype, name)
    return out


def _target_dtype(dtype: str, s) -> np.dtype:
    return np.dtype({"float": s.float_dtype, "int": s.int_dtype, "bool": np.bool_}[dtype])


ALIGN = 64


def _aligned(shape: tuple, dtype: np.dtype) -> np.ndarray:
    size = math.prod(shape) * dtype.itemsize
    raw = np.empty(size + ALIGN, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGN
    return raw[start:start + size].view(dtype).reshape(shape)


def _convert_into(out: np.ndarray, x: np.ndarray, dtype: str, name: str) -> None:
    if dtype == "int":
        if not (np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_):
            raise InputError(f"`{name}` must hold integers, but its dtype is {x.dtype}")
        bounds = np.iinfo(out.dtype)
        if np.issubdtype(x.dtype, np.unsignedinteger) and x.dtype.itemsize >= out.dtype.itemsize:
            np.minimum(x, bounds.max, out=out, casting="unsafe")
            return
        if x.dtype.itemsize > out.dtype.itemsize:
            _narrow_into(out, x, bounds.min, bounds.max)
            return
    np.copyto(out, x, casting="unsafe")


NARROW_CHUNK = 1 << 20


def _narrow_into(out: np.ndarray, x: np.ndarray, lo: int, hi: int) -> None:
    """out[...] = clip(x, lo, hi), chunk by chunk: a range check on data still in cache, and a
    plain copy where every value fits (the usual case; clipping costs twice as much)."""
    src, dst = np.ascontiguousarray(x).reshape(-1), out.reshape(-1)
    for i in range(0, src.size, NARROW_CHUNK):
        a, b = src[i:i + NARROW_CHUNK], dst[i:i + NARROW_CHUNK]
        if a.min() < lo or a.max() > hi:
            np.clip(a, lo, hi, out=b, casting="unsafe")
        else:
            np.copyto(b, a, casting="unsafe")



# ---- step blocks ----
def update(table, indices: tuple, value, ok, op: str):
    """`table` after one update of a step block: at every point (the broadcast shape of the
    indices, value and ok) where ok holds, element `indices` combined with value by op
    ("set", "add", "max", "min"). A point whose index lies outside the table changes nothing."""
    table = jnp.asarray(table)
    scalar = table.ndim == 0
    if scalar:
        table, indices = table.reshape(1), (0,)
    shape = jnp.broadcast_shapes(*(jnp.shape(i) for i in indices), jnp.shape(value), jnp.shape(ok))
    flat = [jnp.broadcast_to(jnp.asarray(i), shape).reshape(-1) for i in indices]
    inside = jnp.broadcast_to(jnp.asarray(ok), shape).reshape(-1)
    for index, size in zip(flat, table.shape):
        inside = inside & (index >= 0) & (index < size)
    values = jnp.broadcast_to(jnp.asarray(value), shape).reshape(-1).astype(table.dtype)
    # Points left out are sent past the end and dropped by the scatter.
    where = tuple(jnp.where(inside, index, size) for index, size in zip(flat, table.shape))
    out = getattr(table.at[where], op)(values, mode="drop")
    return out.reshape(()) if scalar else out

"""Evaluate one IR expression at one binding of its index variables, by walking the tree.

The interpreter is deliberately naive: a reduction loops over every point of its domain,
in row-major order over its variables, and a read clamps each index into its dimension.
Its job is to be obviously right, not fast; see `adrs_spec.backends.reference_ops` for the
scalar rules.
"""
from __future__ import annotations

from typing import Iterator, Mapping

import numpy as np

from adrs_spec.lang import ir
from adrs_spec.backends import reference_ops as ops
from adrs_spec.errors import CompilerBug, InputError

Bindings = Mapping[str, int]     # index variable -> its value at the current point


class Interpreter:
    """Expressions of one spec over fixed statics, tensors, and (for scores) metrics and runtime."""

    def __init__(self, tolerance: float, statics: Mapping[str, object],
                 tensors: Mapping[str, np.ndarray] | None = None,
                 metrics: Mapping[str, float] | None = None, runtime_s: float | None = None):
        self.tolerance = tolerance
        self.statics = statics
        self.tensors = tensors if tensors is not None else {}
        self.metrics = metrics if metrics is not None else {}
        self.runtime_s = runtime_s

    def eval(self, e: ir.Expr, at: Bindings) -> ops.Value:
        """The value of `e` with its free index variables bound by `at`."""
        method = getattr(self, "_" + type(e).__name__.lower(), None)
        if method is None:
            raise CompilerBug(f"the reference interpreter has no rule for {type(e).__name__}")
        return method(e, at)

    def points(self, vars_: tuple[ir.IndexVar, ...], at: Bindings) -> Iterator[dict[str, int]]:
        """Every binding of `vars_` (each range evaluated under the ones before it), row-major."""
        if not vars_:
            yield dict(at)
            return
        first, rest = vars_[0], vars_[1:]
        lo, hi = self.eval(first.lo, at), self.eval(first.hi, at)
        for i in range(lo, hi):
            yield from self.points(rest, {**at, first.name: i})

    # ---- leaves ----
    def _const(self, e: ir.Const, at: Bindings) -> ops.Value:
        return ops.as_value(e.value, e.dtype)

    def _static(self, e: ir.Static, at: Bindings) -> ops.Value:
        if e.name not in self.statics:
            raise InputError(f"no value for `{e.name}`: pass the statics from `statics.bind(spec, params)`")
        return ops.as_value(self.statics[e.name], e.dtype)

    def _index(self, e: ir.Index, at: Bindings) -> ops.Value:
        if e.name not in at:
            raise CompilerBug(f"index `{e.name}` is not bound")
        return at[e.name]

    def _metricref(self, e: ir.MetricRef, at: Bindings) -> ops.Value:
        if e.name not in self.metrics:
            raise InputError(f"no value for metric `{e.name}`; the metrics given are "
                             f"{', '.join(sorted(self.metrics)) or 'none'}")
        return ops.as_value(self.metrics[e.name], "float")

    def _runtime(self, e: ir.Runtime, at: Bindings) -> ops.Value:
        if self.runtime_s is None:
            raise CompilerBug("runtime is read but was not measured; callers check `uses_runtime` first")
        return ops.as_value(self.runtime_s, "float")

    def _read(self, e: ir.Read, at: Bindings) -> ops.Value:
        array = self.tensors[e.tensor]
        if len(e.indices) != array.ndim:
            raise CompilerBug(f"`{e.tensor}` has {array.ndim} dimension(s) but is read with {len(e.indices)}")
        index = tuple(_clamp(self.eval(i, at), n, e.tensor) for i, n in zip(e.indices, array.shape))
        return ops.as_value(array[index], e.dtype)

    # ---- operators ----
    def _unary(self, e: ir.Unary, at: Bindings) -> ops.Value:
        return ops.unary(e.op, self.eval(e.operand, at))

    def _binary(self, e: ir.Binary, at: Bindings) -> ops.Value:
        return ops.binary(e.op, self.eval(e.left, at), self.eval(e.right, at), e.dtype, self.tolerance)

    def _select(self, e: ir.Select, at: Bindings) -> ops.Value:
        # Every operation is total, so evaluating only the chosen branch gives the same value.
        return self.eval(e.then if self.eval(e.cond, at) else e.else_, at)

    def _call(self, e: ir.Call, at: Bindings) -> ops.Value:
        return ops.call(e.fn, [self.eval(a, at) for a in e.args], e.dtype)

    def _reduce(self, e: ir.Reduce, at: Bindings) -> ops.Value:
        values = [self.eval(e.body, point) for point in self.points(e.vars, at)
                  if e.where is None or self.eval(e.where, point)]
        return ops.reduce_values(e.op, values, e.body.dtype)


def _clamp(i: int, n: int, tensor: str) -> int:
    """An index clamped into 0 .. n - 1: out-of-range reads see the nearest element."""
    if n == 0:
        raise InputError(f"`{tensor}` has no elements along a dimension it is read at")
    return min(max(i, 0), n - 1)


def uses_runtime(e: ir.Expr) -> bool:
    if isinstance(e, ir.Runtime):
        return True
    return any(uses_runtime(c) for c in ir.children(e))

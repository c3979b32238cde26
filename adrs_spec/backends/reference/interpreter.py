"""Evaluate one IR expression at one binding of its index variables, by walking the tree.

The interpreter is deliberately naive: a reduction loops over every point of its domain,
in row-major order over its variables, and a read clamps each index into its dimension.
Its job is to be obviously right, not fast; see `adrs_spec.backends.reference.ops` for the
scalar rules.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from adrs_spec.lang import ir
from adrs_spec.backends.reference import ops
from adrs_spec.errors import CompilerBug, InputError
from adrs_spec.lang.evaluate import Bindings, Evaluator


class Interpreter(Evaluator):
    """Expressions of one spec over fixed statics, tensors, and (for scores) metrics and runtime.

    Leaves and index ranges are evaluated as everywhere (adrs_spec.lang.evaluate); tensor
    reads and every operator by this backend's own rules (`ops`)."""

    def __init__(self, tolerance: float, statics: Mapping[str, object],
                 tensors: Mapping[str, np.ndarray] | None = None,
                 metrics: Mapping[str, float] | None = None, runtime_s: float | None = None):
        super().__init__(tolerance, statics, metrics, runtime_s)
        self.tensors = tensors if tensors is not None else {}

    def read(self, e: ir.Read, at: Bindings) -> ops.Value:
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


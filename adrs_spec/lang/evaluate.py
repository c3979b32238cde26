"""Concrete evaluation of expressions that read no tensor, through the operator table.

Statics (`adrs_spec.lang.statics`), scores, bounds and objectives (`adrs_spec.lang.scoring`)
and the parts of a spec the Z3 encoding meets with no unknown in them are expressions over
constants, statics, index variables, metrics and the measured runtime. This module gives
their values on Python scalars by running the operator table (`adrs_spec.lang.operators`)
on its Python algebra, so they mean exactly what the table says; no backend is involved.

Values: Python `int` (exact) and `bool`, `numpy.float64` for floats. Reading a tensor is an
error here (`Evaluator.read` says which); `lang.statics` turns it into a located `NotStatic`.
"""
from __future__ import annotations

from typing import Iterator, Mapping

import numpy as np

from adrs_spec.errors import CompilerBug, InputError
from adrs_spec.lang import ir
from adrs_spec.lang import operators as op
from adrs_spec.lang.operators import PYTHON, Ext, python_float

Value = int | np.float64 | bool
Bindings = Mapping[str, int]


def as_value(x, dtype: ir.DType) -> Value:
    """A Python or numpy scalar as the concrete value of `dtype`."""
    if dtype == "float":
        return np.float64(x)
    if dtype == "int":
        return int(x)
    if dtype == "bool":
        return bool(x)
    raise CompilerBug(f"unknown dtype {dtype}")


def _operand(x: Value, dtype: ir.DType):
    """A value as the table's operand: floats are `Ext`."""
    return op.constant(PYTHON, float(x)) if dtype == "float" else x


def _result(x, dtype: ir.DType) -> Value:
    return python_float(x) if isinstance(x, Ext) else as_value(x, dtype)


def unary(name: str, a: Value, dtype: ir.DType) -> Value:
    return _result(op.unary(PYTHON, name, _operand(a, dtype)), dtype)


def binary(name: str, a: Value, b: Value, operand_dtype: ir.DType, dtype: ir.DType, tolerance: float) -> Value:
    """`a name b` with both operands of `operand_dtype` (the checker promotes them to one)."""
    if name == "**":
        if dtype == "int":
            return op.concrete_int_power(int(a), int(b))
        return op.concrete_float_power(a, b)
    return _result(op.binary(PYTHON, name, _operand(a, operand_dtype), _operand(b, operand_dtype), tolerance), dtype)


def call(fn: str, args: list[Value], arg_dtypes: list[ir.DType], dtype: ir.DType) -> Value:
    if fn in ("sqrt", "exp", "log"):
        return op.concrete_function(fn, args[0])
    return _result(op.call(PYTHON, fn, [_operand(a, t) for a, t in zip(args, arg_dtypes)]), dtype)


def reduce(name: str, items: list[tuple[bool, Value]], body_dtype: ir.DType, dtype: ir.DType) -> Value:
    """A reduction over (filter, body) pairs, in point order."""
    return _result(op.reduce(PYTHON, name, [(k, _operand(x, body_dtype)) for k, x in items], body_dtype), dtype)


class Evaluator:
    """Expressions over fixed statics and, for scores and bounds, metrics and a runtime."""

    def __init__(self, tolerance: float, statics: Mapping[str, object],
                 metrics: Mapping[str, float] | None = None, runtime_s: float | None = None):
        self.tolerance = tolerance
        self.statics = statics
        self.metrics = metrics if metrics is not None else {}
        self.runtime_s = runtime_s

    def eval(self, e: ir.Expr, at: Bindings) -> Value:
        """The value of `e` with its free index variables bound by `at`."""
        method = getattr(self, "_" + type(e).__name__.lower(), None)
        if method is None:
            raise CompilerBug(f"no concrete rule for {type(e).__name__}")
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

    def read(self, e: ir.Read, at: Bindings) -> Value:
        raise CompilerBug(f"`{e.tensor}` is read where no tensor has a value")

    # ---- leaves ----
    def _const(self, e: ir.Const, at: Bindings) -> Value:
        return as_value(e.value, e.dtype)

    def _static(self, e: ir.Static, at: Bindings) -> Value:
        if e.name not in self.statics:
            raise InputError(f"no value for `{e.name}`: pass the statics from `statics.bind(spec, params)`")
        return as_value(self.statics[e.name], e.dtype)

    def _index(self, e: ir.Index, at: Bindings) -> Value:
        if e.name not in at:
            raise CompilerBug(f"index `{e.name}` is not bound")
        return at[e.name]

    def _metricref(self, e: ir.MetricRef, at: Bindings) -> Value:
        if e.name not in self.metrics:
            raise InputError(f"no value for metric `{e.name}`; the metrics given are "
                             f"{', '.join(sorted(self.metrics)) or 'none'}")
        return as_value(self.metrics[e.name], "float")

    def _runtime(self, e: ir.Runtime, at: Bindings) -> Value:
        if self.runtime_s is None:
            raise CompilerBug("runtime is read but was not measured; callers check `uses_runtime` first")
        return as_value(self.runtime_s, "float")

    def _read(self, e: ir.Read, at: Bindings) -> Value:
        return self.read(e, at)

    # ---- operators ----
    def _unary(self, e: ir.Unary, at: Bindings) -> Value:
        return unary(e.op, self.eval(e.operand, at), e.operand.dtype)

    def _binary(self, e: ir.Binary, at: Bindings) -> Value:
        return binary(e.op, self.eval(e.left, at), self.eval(e.right, at), e.left.dtype, e.dtype, self.tolerance)

    def _select(self, e: ir.Select, at: Bindings) -> Value:
        # Every operation is total, so evaluating only the chosen branch gives the same value.
        return self.eval(e.then if self.eval(e.cond, at) else e.else_, at)

    def _call(self, e: ir.Call, at: Bindings) -> Value:
        return call(e.fn, [self.eval(a, at) for a in e.args], [a.dtype for a in e.args], e.dtype)

    def _reduce(self, e: ir.Reduce, at: Bindings) -> Value:
        items = [(True, self.eval(e.body, point)) for point in self.points(e.vars, at)
                 if e.where is None or self.eval(e.where, point)]
        return reduce(e.op, items, e.body.dtype, e.dtype)


def uses_runtime(e: ir.Expr) -> bool:
    if isinstance(e, ir.Runtime):
        return True
    return any(uses_runtime(c) for c in ir.children(e))

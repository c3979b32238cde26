"""Static scalars: params (defaults or given values), the lets over them, and shapes.

Every backend needs the same thing before it sees data: the value of each param and static
let, and the shape of each tensor. `bind` computes them and checks the `require`s.

Static arithmetic is bounded: ints are 64-bit, so an int result beyond them (`2 ** 2 ** 40`)
is a `StaticOverflow`, found before any huge number is computed; a zero divisor of `//`
or `%` is a `StaticDivisionByZero`. Both are located `SpecError`s; callers add what was
being computed. Everything else means what the operator table says (adrs_spec.lang.operators,
run by adrs_spec.lang.evaluate): floats follow IEEE 754 (overflow is inf, invalid is nan),
never raising.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from adrs_spec.lang import ir
from adrs_spec.lang.evaluate import Evaluator, binary
from adrs_spec.lang.operators import INT64_MAX, INT64_MIN
from adrs_spec.errors import CompilerBug, SpecError

Scalar = int | float | bool
INT64_NOTE = f"ints are 64-bit: from {INT64_MIN} to {INT64_MAX}"


@dataclass
class StaticError(SpecError):
    """An arithmetic error in a static expression, located at the operation. `reason` is a
    verb phrase ("divides by zero") that callers put after what was being computed."""

    reason: str = ""

    @classmethod
    def at(cls, reason: str, span, notes: tuple[str, ...] = ()) -> "StaticError":
        return cls(f"this {reason}", span, notes, reason=reason)


class StaticDivisionByZero(StaticError):
    pass


class StaticOverflow(StaticError):
    pass


class NotStatic(StaticError):
    """A tensor read where a value known before any data is needed (a range, a size)."""


class _StaticEvaluator(Evaluator):
    """The operator table's values, refusing what a static may not do: read a tensor, divide
    an int by zero, leave 64 bits."""

    def __init__(self, env: Mapping[str, Scalar]):
        super().__init__(STATIC_TOLERANCE, env)

    def read(self, e: ir.Read, at) -> Scalar:
        raise NotStatic.at(f"reads `{e.tensor}`, which is computed per instance", e.span)

    def _const(self, e: ir.Const, at) -> Scalar:
        return e.value

    def _static(self, e: ir.Static, at) -> Scalar:
        return at[e.name]

    def _index(self, e: ir.Index, at) -> Scalar:
        return at[e.name]

    def _unary(self, e: ir.Unary, at) -> Scalar:
        return _bounded(super()._unary(e, at), e)

    def _binary(self, e: ir.Binary, at) -> Scalar:
        a, b = self.eval(e.left, at), self.eval(e.right, at)
        if e.op in ("//", "%") and e.dtype == "int" and b == 0:
            raise StaticDivisionByZero.at(f"divides by zero (`{e.op}` by 0)", e.span)
        try:
            value = binary(e.op, a, b, e.left.dtype, e.dtype, self.tolerance)
        except OverflowError:
            raise StaticOverflow.at(f"overflows 64-bit ints ({a} ** {b})", e.span, (INT64_NOTE,)) from None
        return _bounded(value, e)

    def _call(self, e: ir.Call, at) -> Scalar:
        return _bounded(super()._call(e, at), e)

    def _reduce(self, e, at):
        raise CompilerBug(f"not a static expression: {type(e).__name__}")

    _metricref = _runtime = _reduce


# `~=` between statics: the default tolerance (a static is bound before any spec's own is known).
STATIC_TOLERANCE = 1e-4


def eval_static(expr: ir.Expr, env: Mapping[str, Scalar]) -> Scalar:
    """Evaluate an expression over constants, statics and bound index variables (Python scalars),
    with the operator table's meaning (adrs_spec.lang.operators).

    Raises StaticDivisionByZero or StaticOverflow located at the operation that failed, and
    NotStatic at a read of a tensor (which has no value before the data)."""
    value = _StaticEvaluator(env).eval(expr, env)
    return float(value) if isinstance(value, np.floating) else value


def _bounded(value: Scalar, expr: ir.Expr) -> Scalar:
    """`value`, checked to fit in 64 bits when it is an int."""
    if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
        raise StaticOverflow.at("overflows 64-bit ints", expr.span, (INT64_NOTE,))
    return value


def bind(spec: ir.Spec, values: Mapping[str, Scalar] | None = None, check: bool = True) -> dict[str, Scalar]:
    """Values of every param (given value, else default) and static let; checks `require`s.

    Raises SpecError (located at the param or the failing `require`) when a value is missing,
    outside its declared range, or breaks a requirement.
    """
    values = dict(values or {})
    env: dict[str, Scalar] = {}
    for p in spec.params:
        v = values.pop(p.name, p.default)
        if v is None:
            raise SpecError(f"param `{p.name}` has no default and no value was given", p.span)
        v = int(v) if p.dtype == "int" else float(v) if p.dtype == "float" else bool(v)
        if check and p.lo is not None and not (p.lo <= v < p.hi):
            raise SpecError(f"param `{p.name}` = {v} is outside its range {p.lo} .. {p.hi}", p.span,
                            notes=("ranges are half-open: the upper end is excluded",))
        env[p.name] = v
    if values:
        raise SpecError(f"unknown param(s): {', '.join(sorted(values))}")
    for let in spec.statics:
        try:
            env[let.name] = eval_static(let.expr, env)
        except StaticError as err:
            raise SpecError(f"`{let.name}` {err.reason} for {_describe(spec, env)}", err.span, err.notes) from None
    if check:
        for cond, text in spec.requires:
            try:
                holds = eval_static(cond, env)
            except StaticError as err:
                raise SpecError(f"requirement `{text}` {err.reason} for {_describe(spec, env)}", err.span,
                                err.notes) from None
            if not holds:
                raise SpecError(f"requirement `{text}` does not hold for {_describe(spec, env)}", cond.span)
    return env


def _describe(spec: ir.Spec, env: Mapping[str, Scalar]) -> str:
    return ", ".join(f"{p.name} = {env[p.name]}" for p in spec.params)


def shape_of(tensor: ir.Tensor, env: Mapping[str, Scalar]) -> tuple[int, ...]:
    return tuple(int(eval_static(d, env)) for d in tensor.shape)


def shapes(spec: ir.Spec, env: Mapping[str, Scalar]) -> dict[str, tuple[int, ...]]:
    """Shape of every field, output and tensor let under these statics."""
    return {t.name: shape_of(t, env) for t in spec.tensors}

"""Static scalars: params (defaults or given values), the lets over them, and shapes.

Every backend needs the same thing before it sees data: the value of each param and static
let, and the shape of each tensor. `bind` computes them and checks the `require`s.

Static arithmetic is bounded: ints are 64-bit, so an int result beyond them (`2 ** 2 ** 40`)
is a `StaticOverflow`, found before any huge number is computed; a zero divisor of `//`
or `%` is a `StaticDivisionByZero`. Both are located `SpecError`s; callers add what was
being computed. Floats follow IEEE 754 (overflow is inf, invalid is nan), never raising.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from adrs_spec.lang import ir
from adrs_spec.errors import CompilerBug, SpecError

Scalar = int | float | bool
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
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


def floor_div(a, b):
    if isinstance(a, int) and isinstance(b, int):
        if b == 0:
            raise ZeroDivisionError("integer division by zero")
        return a // b
    return math.floor(a / b)


def eval_static(expr: ir.Expr, env: Mapping[str, Scalar]) -> Scalar:
    """Evaluate an expression over constants, statics and bound index variables (Python scalars).

    Raises StaticDivisionByZero or StaticOverflow located at the operation that failed, and
    NotStatic at a read of a tensor (which has no value before the data)."""
    if isinstance(expr, ir.Const):
        return expr.value
    if isinstance(expr, (ir.Static, ir.Index)):
        return env[expr.name]
    if isinstance(expr, ir.Read):
        raise NotStatic.at(f"reads `{expr.tensor}`, which is computed per instance", expr.span)
    if isinstance(expr, ir.Unary):
        v = eval_static(expr.operand, env)
        return (not v) if expr.op == "not" else _bounded(-v, expr)
    if isinstance(expr, ir.Binary):
        return _static_binary(expr, eval_static(expr.left, env), eval_static(expr.right, env))
    if isinstance(expr, ir.Select):
        return eval_static(expr.then if eval_static(expr.cond, env) else expr.else_, env)
    if isinstance(expr, ir.Call):
        return _bounded(call_scalar(expr.fn, [eval_static(a, env) for a in expr.args]), expr)
    raise CompilerBug(f"not a static expression: {type(expr).__name__}")


def _static_binary(expr: ir.Binary, a, b) -> Scalar:
    op = expr.op
    if op in ("//", "%") and expr.dtype == "int" and b == 0:
        raise StaticDivisionByZero.at(f"divides by zero (`{op}` by 0)", expr.span)
    if op == "**" and expr.dtype == "int":
        try:
            return int_power(a, b)
        except OverflowError:
            raise StaticOverflow.at(f"overflows 64-bit ints ({a} ** {b})", expr.span,
                                    (INT64_NOTE,)) from None
    if op == "**":
        with np.errstate(all="ignore"):
            return float(np.float64(a) ** np.float64(b))
    return _bounded(binary_scalar(op, a, b, 1e-4), expr)


def _bounded(value: Scalar, expr: ir.Expr) -> Scalar:
    """`value`, checked to fit in 64 bits when it is an int."""
    if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
        raise StaticOverflow.at("overflows 64-bit ints", expr.span, (INT64_NOTE,))
    return value


def int_power(a: int, b: int) -> int:
    """`a ** b` on ints: exact for b >= 0, truncated toward zero for b < 0 (0 ** b is 0);
    OverflowError, before computing anything large, when the result is beyond 64 bits."""
    if b < 0:
        return a ** (-b) if a in (1, -1) else 0
    if abs(a) >= 2 and b >= 64:
        raise OverflowError(f"{a} ** {b} does not fit in 64 bits")
    result = a ** b
    if not INT64_MIN <= result <= INT64_MAX:
        raise OverflowError(f"{a} ** {b} does not fit in 64 bits")
    return result


def binary_scalar(op: str, a, b, tolerance: float):
    """One binary operator on Python scalars, with the language's semantics."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            return math.nan if a == 0 else math.copysign(math.inf, a)
        return a / b
    if op == "//":
        return floor_div(a, b)
    if op == "%":
        return a % b
    if op == "**":
        return a ** b
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "~=":
        return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))
    if op == "and":
        return bool(a) and bool(b)
    if op == "or":
        return bool(a) or bool(b)
    if op == "implies":
        return (not a) or bool(b)
    raise CompilerBug(f"unknown operator {op}")


def call_scalar(fn: str, args: list):
    """A built-in function on Python scalars: IEEE for floats (exp overflows to inf), and
    float -> int conversions saturate (nan -> 0, +-inf -> the int64 extremes)."""
    if fn == "abs":
        return abs(args[0])
    if fn == "sqrt":
        return math.sqrt(args[0]) if args[0] >= 0 else math.nan
    if fn == "exp":
        try:
            return math.exp(args[0])
        except OverflowError:
            return math.inf
    if fn == "log":
        return math.log(args[0]) if args[0] > 0 else (-math.inf if args[0] == 0 else math.nan)
    if fn in ("floor", "ceil", "int"):
        return _saturating_int({"floor": math.floor, "ceil": math.ceil, "int": math.trunc}[fn], args[0])
    if fn == "float":
        return float(args[0])
    if fn == "min":
        return min(args[0], args[1])
    if fn == "max":
        return max(args[0], args[1])
    if fn == "clip":
        return min(max(args[0], args[1]), args[2])
    raise CompilerBug(f"unknown function {fn}")


def _saturating_int(rounding, x) -> int:
    if isinstance(x, int):
        return x
    if math.isnan(x):
        return 0
    if x >= 2.0 ** 63:
        return INT64_MAX
    if x < -(2.0 ** 63):
        return INT64_MIN
    return int(rounding(x))


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

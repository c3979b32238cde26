"""Static scalars: params (defaults or given values), the lets over them, and shapes.

Every backend needs the same thing before it sees data: the value of each param and static
let, and the shape of each tensor. `bind` computes them and checks the `require`s.
"""
from __future__ import annotations

import math
from typing import Mapping

from adrs_spec import ir
from adrs_spec.errors import CompilerBug, SpecError

Scalar = int | float | bool


def floor_div(a, b):
    if isinstance(a, int) and isinstance(b, int):
        if b == 0:
            raise ZeroDivisionError("integer division by zero")
        return a // b
    return math.floor(a / b)


def eval_static(expr: ir.Expr, env: Mapping[str, Scalar]) -> Scalar:
    """Evaluate an expression over constants, statics and bound index variables (Python scalars)."""
    if isinstance(expr, ir.Const):
        return expr.value
    if isinstance(expr, (ir.Static, ir.Index)):
        return env[expr.name]
    if isinstance(expr, ir.Unary):
        v = eval_static(expr.operand, env)
        return (not v) if expr.op == "not" else -v
    if isinstance(expr, ir.Binary):
        return binary_scalar(expr.op, eval_static(expr.left, env), eval_static(expr.right, env), 1e-4)
    if isinstance(expr, ir.Select):
        return eval_static(expr.then if eval_static(expr.cond, env) else expr.else_, env)
    if isinstance(expr, ir.Call):
        return call_scalar(expr.fn, [eval_static(a, env) for a in expr.args])
    raise CompilerBug(f"not a static expression: {type(expr).__name__}")


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
    if fn == "abs":
        return abs(args[0])
    if fn == "sqrt":
        return math.sqrt(args[0]) if args[0] >= 0 else math.nan
    if fn == "exp":
        return math.exp(args[0])
    if fn == "log":
        return math.log(args[0]) if args[0] > 0 else (-math.inf if args[0] == 0 else math.nan)
    if fn == "floor":
        return math.floor(args[0])
    if fn == "ceil":
        return math.ceil(args[0])
    if fn == "float":
        return float(args[0])
    if fn == "int":
        return int(args[0])
    if fn == "min":
        return min(args[0], args[1])
    if fn == "max":
        return max(args[0], args[1])
    if fn == "clip":
        return min(max(args[0], args[1]), args[2])
    raise CompilerBug(f"unknown function {fn}")


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
        except ZeroDivisionError:
            raise SpecError(f"`{let.name}` divides by zero for {_describe(spec, env)}", let.span) from None
    if check:
        for cond, text in spec.requires:
            if not eval_static(cond, env):
                raise SpecError(f"requirement `{text}` does not hold for {_describe(spec, env)}", cond.span)
    return env


def _describe(spec: ir.Spec, env: Mapping[str, Scalar]) -> str:
    return ", ".join(f"{p.name} = {env[p.name]}" for p in spec.params)


def shape_of(tensor: ir.Tensor, env: Mapping[str, Scalar]) -> tuple[int, ...]:
    return tuple(int(eval_static(d, env)) for d in tensor.shape)


def shapes(spec: ir.Spec, env: Mapping[str, Scalar]) -> dict[str, tuple[int, ...]]:
    """Shape of every field, output and tensor let under these statics."""
    return {t.name: shape_of(t, env) for t in spec.tensors}

"""Scalar semantics of the language on runtime values, for the reference interpreter.

Runtime values are Python `int` (ints, exact: no wrap-around), `numpy.float64` (floats, IEEE with numpy's
rules: overflow gives inf, invalid gives nan, no exceptions) and Python `bool`. Every
operation here is total on these values: nothing raises for a value a policy could
produce, except an integer power too large for 64 bits.

This is the reference backend's own implementation of the operator table
(adrs_spec.lang.operators states each meaning; tests/lang checks this module against it on
a grid of ordinary and extreme values). Written with Python and numpy scalar operators, it
is an independent statement of the same rules:
- `/` is IEEE division: x / 0 is +-inf (the sign of the zero counts), 0 / 0 and nan / 0 nan;
- `x // 0` and `x % 0` are 0 (numpy's convention for integers);
- `a ** b` on ints with b < 0 is the exact power truncated toward zero (so 1, -1 or 0),
  with 0 ** b = 0; an int power beyond 64 bits is an error;
- float -> int (`int`, `floor`, `ceil`) saturates: nan -> 0, +-inf and out-of-range values
  -> the int64 extremes;
- `min`, `max` and `clip` on floats return nan when any argument is nan;
- `sqrt`, `exp`, `log` and float powers are the table's concrete functions.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from adrs_spec.errors import CompilerBug, InputError
from adrs_spec.lang import ir
from adrs_spec.lang.evaluate import Value, as_value
from adrs_spec.lang.operators import (
    INT64_MAX, INT64_MIN, concrete_float_power, concrete_function, concrete_int_power)

__all__ = ["Value", "as_value", "binary", "call", "fits_int64", "reduce_values", "saturating_int", "unary"]


# ---- values ----
def saturating_int(x: np.float64) -> int:
    """Float to int64 by truncation; nan is 0 and out-of-range values take the nearest extreme."""
    if math.isnan(x):
        return 0
    if x >= 2.0 ** 63:
        return INT64_MAX
    if x < -(2.0 ** 63):
        return INT64_MIN
    return int(x)


def fits_int64(x: int) -> bool:
    return INT64_MIN <= x <= INT64_MAX


# ---- operators ----
def unary(op: str, a: Value) -> Value:
    if op == "-":
        return -a
    if op == "not":
        return not a
    raise CompilerBug(f"unknown unary operator {op}")


def binary(op: str, a: Value, b: Value, dtype: ir.DType, tolerance: float) -> Value:
    """`a op b`; the operands are already promoted to one type (the checker's job)."""
    if op == "/":
        return np.float64(a) / np.float64(b)
    if op in ("//", "%"):
        if b == 0:
            return 0
        return a // b if op == "//" else a % b
    if op == "**":
        return int_power(a, b) if dtype == "int" else concrete_float_power(a, b)
    if op in _ARITHMETIC:
        return as_value(_ARITHMETIC[op](a, b), dtype)
    if op in _COMPARISONS:
        return bool(_COMPARISONS[op](a, b))
    if op == "~=":
        return bool(abs(a - b) <= tolerance * max(1.0, abs(a), abs(b)))
    if op == "and":
        return bool(a) and bool(b)
    if op == "or":
        return bool(a) or bool(b)
    if op == "implies":
        return (not a) or bool(b)
    raise CompilerBug(f"unknown operator {op}")


_ARITHMETIC = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
_COMPARISONS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
                "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def int_power(a: int, b: int) -> int:
    """`a ** b` on ints: exact for b >= 0, truncated toward zero for b < 0 (0 ** b is 0)."""
    try:
        return concrete_int_power(a, b)
    except OverflowError:
        raise InputError(f"the integer power {a} ** {b} does not fit in 64 bits") from None


def call(fn: str, args: Sequence[Value], dtype: ir.DType) -> Value:
    """A built-in function; `dtype` is the result's type (args are promoted to it, except
    for `float`, `int`, `floor` and `ceil`, which convert)."""
    x = args[0]
    if fn == "float":
        return np.float64(x)
    if fn in ("int", "floor", "ceil"):
        if isinstance(x, int):
            return x
        rounded = {"int": np.trunc, "floor": np.floor, "ceil": np.ceil}[fn](x)
        return saturating_int(rounded)
    if fn in ("sqrt", "exp", "log"):
        return concrete_function(fn, x)
    if fn == "abs":
        return as_value(abs(x), dtype)
    if fn in ("min", "max", "clip") and dtype == "float" and any(math.isnan(v) for v in args):
        return np.float64(math.nan)
    if fn == "min":
        return as_value(min(x, args[1]), dtype)
    if fn == "max":
        return as_value(max(x, args[1]), dtype)
    if fn == "clip":
        return as_value(min(max(x, args[1]), args[2]), dtype)
    raise CompilerBug(f"unknown function {fn}")


# ---- reductions ----
def exact_sum(values: Sequence[np.float64]) -> np.float64:
    """The correctly rounded sum of floats (order-independent); inf and nan as IEEE adds them."""
    if all(math.isfinite(v) for v in values):
        return np.float64(math.fsum(values))
    return np.float64(np.sum(np.asarray(values, dtype=np.float64)))


def reduce_values(op: str, values: list[Value], body_dtype: ir.DType) -> Value:
    """Reduce the body values of the points that pass the filter, in point order."""
    is_float = body_dtype == "float"
    if op == "sum":
        return exact_sum(values) if is_float else sum(values, 0)
    if op == "mean":
        if not values:
            return np.float64(math.nan)
        total = exact_sum(values) if is_float else np.float64(sum(values, 0))
        return total / np.float64(len(values))
    if op == "prod":
        result = np.float64(1.0) if is_float else 1
        for v in values:
            result = result * v
        return result
    if op == "count":
        return sum(1 for v in values if v)
    if op == "all":
        return all(values)
    if op == "any":
        return any(values)
    if op in ("max", "min"):
        return _extreme(op, values, is_float)
    raise CompilerBug(f"unknown reduction {op}")


def _extreme(op: str, values: list[Value], is_float: bool) -> Value:
    """max or min; of nothing: -inf/+inf (floats) or the int64 extremes; nan wins."""
    if not values:
        if is_float:
            return np.float64(-math.inf if op == "max" else math.inf)
        return INT64_MIN if op == "max" else INT64_MAX
    if is_float and any(math.isnan(v) for v in values):
        return np.float64(math.nan)
    return max(values) if op == "max" else min(values)

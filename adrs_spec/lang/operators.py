"""Each operator of the language, stated once, over an algebra of values.

A definition here is written against `Algebra`: conditions, `where`, and arithmetic on
plain numbers. The same definition runs
- on Python scalars (`PYTHON`), where a test compares it with the reference interpreter
  (adrs_spec.backends.reference.ops) and the JAX backend on many values, and
- on Z3 terms (adrs_spec.backends.z3.algebra), where it is the solver encoding's meaning.

Values: ints and bools are the algebra's plain numbers and conditions; a float is an `Ext`,
an IEEE-754 value seen as a real plus flags for NaN, +inf and -inf, so that x / 0,
inf - inf, `~=` with inf and the max of nothing mean the same in every backend.

Meanings (the ones a backend could get wrong):
- `/` is IEEE: x / 0 is +-inf by the sign of x, 0 / 0 and inf / inf are NaN, x / inf is 0;
- `//` and `%` on ints are Python's floor division and modulo; a zero divisor gives 0;
- `a ~= b` is |a - b| <= tolerance * max(1, |a|, |b|), computed in IEEE arithmetic (so
  inf ~= 5 holds and inf ~= inf does not);
- `min`, `max`, `clip` and the max/min reductions propagate NaN; the max (min) of nothing
  is -inf (+inf) for floats and the int64 extreme for ints; `mean` of nothing is NaN;
- `int`, `floor`, `ceil` saturate: NaN is 0, +-inf and values beyond 64 bits the extremes;
- `**` takes a constant exponent here: ints any (a negative one truncates toward zero,
  0 ** -k is 0), floats a non-negative integer.
Not modelled over an algebra: rounding (an algebra's reals may be exact), the sign of zero
(x / -0.0 is taken as x / +0.0), and `sqrt`, `exp`, `log` and other exponents
(`Unsupported`). Those are stated on concrete values only (`concrete_function`,
`concrete_float_power`, `concrete_int_power`, at the end): `sqrt` of a negative number is
NaN, `exp` overflows to inf, `log 0` is -inf and `log` of a negative number NaN, a float
power is IEEE `pow`, an int power beyond 64 bits is an error (`OverflowError`).

Who implements what: the reference interpreter (adrs_spec.backends.reference.ops) on
Python/numpy scalars, the JAX backend (adrs_spec.backends.jax.support and the lowering) on
arrays, the Z3 backend (adrs_spec.backends.z3.algebra) as the `Algebra` below; each is
tested against this table on the same edge cases (tests/lang). Concrete evaluation of
expressions that read no tensor (statics, scores, bounds) runs this table itself
(adrs_spec.lang.evaluate).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
MAX_INT_EXPONENT = 64


class Unsupported(Exception):
    """An operator (or operand) this layer cannot state over every algebra; `what` says which."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class Algebra(Protocol):
    """The primitives a definition may use. Numbers are ints or reals of the algebra;
    conditions are its booleans. `where` picks between two numbers or two conditions."""

    def and_(self, *xs): ...
    def or_(self, *xs): ...
    def not_(self, x): ...
    def where(self, cond, then, else_): ...
    def add(self, a, b): ...
    def sub(self, a, b): ...
    def mul(self, a, b): ...
    def neg(self, a): ...
    def lt(self, a, b): ...
    def le(self, a, b): ...
    def eq(self, a, b): ...
    def total(self, xs: Sequence, zero): ...      # the sum of numbers of one kind, `zero` for none
    def floor_div_positive(self, a, b): ...       # ints; only its value for b > 0 is used
    def mod_positive(self, a, b): ...             # ints, in 0 .. b - 1; only its value for b > 0 is used
    def quotient(self, a, b): ...                 # reals; only its value for b != 0 is used
    def floor(self, x): ...                       # a finite real -> int
    def to_real(self, i): ...                     # int -> real
    def real(self, x: float): ...                 # a finite Python float -> real


@dataclass(frozen=True)
class Ext:
    """An IEEE-754 float: `val` when no flag holds, else NaN, +inf or -inf (at most one flag)."""

    val: Any
    nan: Any = False
    pinf: Any = False
    ninf: Any = False


# ---- floats ----
def constant(m: Algebra, x: float) -> Ext:
    if math.isnan(x):
        return Ext(m.real(0.0), nan=True)
    if math.isinf(x):
        return Ext(m.real(0.0), pinf=x > 0, ninf=x < 0)
    return Ext(m.real(x))


def from_int(m: Algebra, i) -> Ext:
    return Ext(m.to_real(i))


def finite(m: Algebra, x: Ext):
    return m.not_(m.or_(x.nan, x.pinf, x.ninf))


def infinite(m: Algebra, x: Ext):
    return m.or_(x.pinf, x.ninf)


def select(m: Algebra, cond, a, b):
    """`if cond then a else b` for floats (flag by flag), ints and conditions."""
    if isinstance(a, Ext):
        return Ext(m.where(cond, a.val, b.val), m.where(cond, a.nan, b.nan), m.where(cond, a.pinf, b.pinf),
                   m.where(cond, a.ninf, b.ninf))
    return m.where(cond, a, b)


def _sign(m: Algebra, x: Ext):
    """(positive, negative): +inf and finite > 0; -inf and finite < 0 (zero is neither)."""
    zero = m.real(0.0)
    ok = finite(m, x)
    return m.or_(x.pinf, m.and_(ok, m.lt(zero, x.val))), m.or_(x.ninf, m.and_(ok, m.lt(x.val, zero)))


def _is_zero(m: Algebra, x: Ext):
    return m.and_(finite(m, x), m.eq(x.val, m.real(0.0)))


def negate(m: Algebra, a: Ext) -> Ext:
    return Ext(m.neg(a.val), a.nan, a.ninf, a.pinf)


def add(m: Algebra, a: Ext, b: Ext) -> Ext:
    nan = m.or_(a.nan, b.nan, m.and_(a.pinf, b.ninf), m.and_(a.ninf, b.pinf))
    ok = m.not_(nan)
    return Ext(m.add(a.val, b.val), nan, m.and_(ok, m.or_(a.pinf, b.pinf)), m.and_(ok, m.or_(a.ninf, b.ninf)))


def subtract(m: Algebra, a: Ext, b: Ext) -> Ext:
    return add(m, a, negate(m, b))


def multiply(m: Algebra, a: Ext, b: Ext) -> Ext:
    nan = m.or_(a.nan, b.nan, m.and_(infinite(m, a), _is_zero(m, b)), m.and_(infinite(m, b), _is_zero(m, a)))
    big = m.and_(m.not_(nan), m.or_(infinite(m, a), infinite(m, b)))
    (pa, na), (pb, nb) = _sign(m, a), _sign(m, b)
    return Ext(m.mul(a.val, b.val), nan, m.and_(big, m.or_(m.and_(pa, pb), m.and_(na, nb))),
               m.and_(big, m.or_(m.and_(pa, nb), m.and_(na, pb))))


def divide(m: Algebra, a: Ext, b: Ext) -> Ext:
    """IEEE `/`, with a zero divisor taken as +0."""
    fa = finite(m, a)
    za, zb = _is_zero(m, a), _is_zero(m, b)
    ia, ib = infinite(m, a), infinite(m, b)
    nan = m.or_(a.nan, b.nan, m.and_(ia, ib), m.and_(za, zb))
    big = m.and_(m.not_(nan), m.or_(ia, m.and_(fa, m.not_(za), zb)))
    (pa, na), (pb, nb) = _sign(m, a), _sign(m, b)
    pb = m.or_(pb, zb)
    val = m.where(ib, m.real(0.0), m.quotient(a.val, b.val))
    return Ext(val, nan, m.and_(big, m.or_(m.and_(pa, pb), m.and_(na, nb))),
               m.and_(big, m.or_(m.and_(pa, nb), m.and_(na, pb))))


def less(m: Algebra, a: Ext, b: Ext):
    fa, fb = finite(m, a), finite(m, b)
    ordered = m.not_(m.or_(a.nan, b.nan))
    return m.and_(ordered, m.or_(m.and_(a.ninf, m.not_(b.ninf)), m.and_(fa, b.pinf),
                                 m.and_(fa, fb, m.lt(a.val, b.val))))


def less_equal(m: Algebra, a: Ext, b: Ext):
    fa, fb = finite(m, a), finite(m, b)
    ordered = m.not_(m.or_(a.nan, b.nan))
    return m.and_(ordered, m.or_(a.ninf, b.pinf, m.and_(fa, fb, m.le(a.val, b.val))))


def equal(m: Algebra, a: Ext, b: Ext):
    fa, fb = finite(m, a), finite(m, b)
    ordered = m.not_(m.or_(a.nan, b.nan))
    return m.and_(ordered, m.or_(m.and_(a.pinf, b.pinf), m.and_(a.ninf, b.ninf),
                                 m.and_(fa, fb, m.eq(a.val, b.val))))


def absolute(m: Algebra, a: Ext) -> Ext:
    val = m.where(m.lt(a.val, m.real(0.0)), m.neg(a.val), a.val)
    return Ext(val, a.nan, infinite(m, a), False)


def maximum(m: Algebra, a, b):
    """`max(a, b)`: NaN if either is NaN (floats)."""
    if not isinstance(a, Ext):
        return m.where(m.lt(a, b), b, a)
    return _nan_or(m, m.or_(a.nan, b.nan), select(m, less(m, a, b), b, a))


def minimum(m: Algebra, a, b):
    if not isinstance(a, Ext):
        return m.where(m.lt(b, a), b, a)
    return _nan_or(m, m.or_(a.nan, b.nan), select(m, less(m, b, a), b, a))


def _nan_or(m: Algebra, nan, x: Ext) -> Ext:
    ok = m.not_(nan)
    return Ext(x.val, nan, m.and_(ok, x.pinf), m.and_(ok, x.ninf))


def approx_equal(m: Algebra, a: Ext, b: Ext, tolerance: float):
    """`a ~= b`: |a - b| <= tolerance * max(1, |a|, |b|), each step in IEEE arithmetic."""
    scale = maximum(m, maximum(m, constant(m, 1.0), absolute(m, a)), absolute(m, b))
    return less_equal(m, absolute(m, subtract(m, a, b)), multiply(m, constant(m, tolerance), scale))


def float_power(m: Algebra, a: Ext, exponent) -> Ext:
    if isinstance(exponent, float) and exponent.is_integer():
        exponent = int(exponent)
    if not isinstance(exponent, int) or isinstance(exponent, bool) or not 0 <= exponent <= MAX_INT_EXPONENT:
        raise Unsupported("`**` on floats with an exponent that is not a constant integer in 0 .. 64")
    result = constant(m, 1.0)
    for _ in range(exponent):
        result = multiply(m, result, a)
    return result


def to_int(m: Algebra, fn: str, a: Ext):
    """`int` (toward zero), `floor` or `ceil`, saturating at the int64 extremes; NaN is 0."""
    x, zero, big = a.val, m.real(0.0), m.real(2.0 ** 63)
    down, up = m.floor(x), m.neg(m.floor(m.neg(x)))
    rounded = {"floor": down, "ceil": up, "int": m.where(m.lt(x, zero), up, down)}[fn]
    rounded = m.where(m.le(big, x), INT64_MAX, m.where(m.lt(x, m.neg(big)), INT64_MIN, rounded))
    return m.where(a.nan, 0, m.where(a.pinf, INT64_MAX, m.where(a.ninf, INT64_MIN, rounded)))


# ---- ints ----
def floor_divide(m: Algebra, a, b):
    """Python's `a // b`; 0 when b is 0."""
    return m.where(m.eq(b, 0), 0, m.where(m.lt(0, b), m.floor_div_positive(a, b),
                                          m.floor_div_positive(m.neg(a), m.neg(b))))


def modulo(m: Algebra, a, b):
    """Python's `a % b` (the sign of b); 0 when b is 0."""
    return m.where(m.eq(b, 0), 0, m.where(m.lt(0, b), m.mod_positive(a, b),
                                          m.neg(m.mod_positive(m.neg(a), m.neg(b)))))


def int_power(m: Algebra, a, exponent):
    if not isinstance(exponent, int) or isinstance(exponent, bool) or exponent > MAX_INT_EXPONENT:
        raise Unsupported("`**` on ints with an exponent that is not a constant integer up to 64")
    if exponent < 0:
        odd = -1 if exponent % 2 else 1
        return m.where(m.eq(a, 1), 1, m.where(m.eq(a, -1), odd, 0))
    result = 1
    for _ in range(exponent):
        result = m.mul(result, a)
    return result


# ---- the table: unary, binary, functions, reductions ----
def unary(m: Algebra, op: str, a):
    if op == "not":
        return m.not_(a)
    if op == "-":
        return negate(m, a) if isinstance(a, Ext) else m.neg(a)
    raise Unsupported(f"unary operator `{op}`")


def binary(m: Algebra, op: str, a, b, tolerance: float):
    """`a op b`, operands already promoted to one type (floats are `Ext`)."""
    if op in ("and", "or", "implies"):
        return {"and": lambda: m.and_(a, b), "or": lambda: m.or_(a, b),
                "implies": lambda: m.or_(m.not_(a), b)}[op]()
    if isinstance(a, Ext):
        return _float_binary(m, op, a, b, tolerance)
    if op in ("==", "!=", "<", "<=", ">", ">="):
        return compare(m, op, a, b)
    simple = {"+": m.add, "-": m.sub, "*": m.mul, "//": lambda x, y: floor_divide(m, x, y),
              "%": lambda x, y: modulo(m, x, y), "**": lambda x, y: int_power(m, x, y)}
    if op not in simple:
        raise Unsupported(f"operator `{op}` on ints")
    return simple[op](a, b)


def compare(m: Algebra, op: str, a, b):
    """A comparison of two ints or two conditions."""
    return {"==": lambda: m.eq(a, b), "!=": lambda: m.not_(m.eq(a, b)), "<": lambda: m.lt(a, b),
            "<=": lambda: m.le(a, b), ">": lambda: m.lt(b, a), ">=": lambda: m.le(b, a)}[op]()


def _float_binary(m: Algebra, op: str, a: Ext, b: Ext, tolerance: float):
    table = {"+": add, "-": subtract, "*": multiply, "/": divide,
             "==": equal, "<": less, "<=": less_equal,
             ">": lambda m_, x, y: less(m_, y, x), ">=": lambda m_, x, y: less_equal(m_, y, x),
             "!=": lambda m_, x, y: m_.not_(equal(m_, x, y)),
             "~=": lambda m_, x, y: approx_equal(m_, x, y, tolerance)}
    if op == "**":
        raise Unsupported("`**` on floats with a computed exponent")
    if op not in table:
        raise Unsupported(f"operator `{op}` on floats")
    return table[op](m, a, b)


def call(m: Algebra, fn: str, args: Sequence):
    """A built-in function; arguments already promoted (floats are `Ext`)."""
    x = args[0]
    if fn == "float":
        return x if isinstance(x, Ext) else from_int(m, x)
    if fn in ("int", "floor", "ceil"):
        return to_int(m, fn, x) if isinstance(x, Ext) else x
    if fn == "abs":
        return absolute(m, x) if isinstance(x, Ext) else m.where(m.lt(x, 0), m.neg(x), x)
    if fn == "max":
        return maximum(m, x, args[1])
    if fn == "min":
        return minimum(m, x, args[1])
    if fn == "clip":
        return minimum(m, maximum(m, x, args[1]), args[2])
    raise Unsupported(f"`{fn}` (not expressible in linear real arithmetic)")


def sum_floats(m: Algebra, xs: Sequence[Ext]) -> Ext:
    """IEEE sum, order-independent: NaN if any is NaN or both infinities occur."""
    pinf, ninf = m.or_(*(x.pinf for x in xs)), m.or_(*(x.ninf for x in xs))
    nan = m.or_(*(x.nan for x in xs), m.and_(pinf, ninf))
    ok = m.not_(nan)
    return Ext(m.total([x.val for x in xs], m.real(0.0)), nan, m.and_(ok, pinf), m.and_(ok, ninf))


def reduce(m: Algebra, op: str, items: Sequence[tuple[Any, Any]], body_dtype: str):
    """`op` over the bodies of the points whose filter holds; items are (filter, body)."""
    is_float = body_dtype == "float"
    zero = constant(m, 0.0) if is_float else 0
    if op in ("sum", "mean"):
        kept = [select(m, keep, x, zero) for keep, x in items]
        total = sum_floats(m, kept) if is_float else m.total(kept, 0)
        if op == "sum":
            return total
        count = m.total([m.where(keep, 1, 0) for keep, _ in items], 0)
        return divide(m, total if is_float else from_int(m, total), from_int(m, count))
    if op == "count":
        return m.total([m.where(m.and_(keep, x), 1, 0) for keep, x in items], 0)
    if op == "all":
        return m.and_(*(m.or_(m.not_(keep), x) for keep, x in items))
    if op == "any":
        return m.or_(*(m.and_(keep, x) for keep, x in items))
    if op in ("max", "min"):
        step = maximum if op == "max" else minimum
        if is_float:
            acc = constant(m, -math.inf if op == "max" else math.inf)
        else:
            acc = INT64_MIN if op == "max" else INT64_MAX
        for keep, x in items:
            acc = select(m, keep, step(m, acc, x), acc)
        return acc
    if op == "prod":
        acc = constant(m, 1.0) if is_float else 1
        for keep, x in items:
            acc = select(m, keep, multiply(m, acc, x) if is_float else m.mul(acc, x), acc)
        return acc
    raise Unsupported(f"reduction `{op}`")


# ---- the Python algebra ----
class PythonAlgebra:
    """Python ints and bools, numpy float64 reals: the definitions on concrete values."""

    def and_(self, *xs):
        return all(bool(x) for x in xs)

    def or_(self, *xs):
        return any(bool(x) for x in xs)

    def not_(self, x):
        return not x

    def where(self, cond, then, else_):
        return then if cond else else_

    def add(self, a, b):
        return a + b

    def sub(self, a, b):
        return a - b

    def mul(self, a, b):
        return a * b

    def neg(self, a):
        return -a

    def lt(self, a, b):
        return a < b

    def le(self, a, b):
        return a <= b

    def eq(self, a, b):
        return a == b

    def total(self, xs, zero):
        if isinstance(zero, (float, np.floating)):
            values = [np.float64(x) for x in xs]
            if all(math.isfinite(v) for v in values):
                return np.float64(math.fsum(values))
            return np.float64(np.sum(np.asarray(values, dtype=np.float64)))
        return sum(xs, zero)

    def floor_div_positive(self, a, b):
        return a // b if b > 0 else 0

    def mod_positive(self, a, b):
        return a % b if b > 0 else 0

    def quotient(self, a, b):
        return np.float64(a) / np.float64(b) if b != 0 else np.float64(0.0)

    def floor(self, x):
        return math.floor(x) if math.isfinite(x) else 0

    def to_real(self, i):
        return np.float64(i)

    def real(self, x: float):
        return np.float64(x)


PYTHON = PythonAlgebra()


def python_float(x: Ext) -> np.float64:
    """An `Ext` of the Python algebra as the float64 it stands for."""
    if x.nan:
        return np.float64(math.nan)
    if x.pinf:
        return np.float64(math.inf)
    if x.ninf:
        return np.float64(-math.inf)
    return np.float64(x.val)


# ---- stated on concrete values only ----
def concrete_function(fn: str, x) -> np.float64:
    """`sqrt`, `exp` or `log` of a float: NaN below 0 (`sqrt`, `log`), -inf at 0 (`log`), inf
    when `exp` overflows; NaN in, NaN out."""
    x = float(x)
    if fn == "sqrt":
        return np.float64(math.sqrt(x) if x >= 0 else math.nan)
    if fn == "exp":
        try:
            return np.float64(math.exp(x))
        except OverflowError:
            return np.float64(math.inf)
    if fn == "log":
        return np.float64(math.log(x) if x > 0 else -math.inf if x == 0 else math.nan)
    raise Unsupported(f"`{fn}` is not a concrete function")


def concrete_float_power(a, b) -> np.float64:
    """`a ** b` on floats: IEEE `pow` (a negative base with a fractional exponent is NaN,
    overflow is inf)."""
    with np.errstate(all="ignore"):
        return np.float64(np.float64(a) ** np.float64(b))


def concrete_int_power(a: int, b: int) -> int:
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


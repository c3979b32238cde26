"""How the Z3 encoding represents ints: as choices among a few values, not as solver integers.

The outputs of a policy are small ints (expert ids, counts, slots), and invariants compare
them, count them and index with them. Kept as Bool flags (`OneHot`) and pseudo-Boolean sums
(`Linear`), they give the solver cardinality constraints, which it decides far faster than
`Sum(If(...))` over integer terms. A general `z3.ArithRef` remains the fallback.

An int value of the encoding is a Python int, a `OneHot`, a `Linear` or a Z3 Int term; a
real is a Z3 Real term or an `IntAsReal` (an int converted with `float`, kept as an int so
that dividing by it can split on its few possible values).
"""
from __future__ import annotations

from typing import Sequence

import z3

from adrs_spec.backends.z3.terms import disjunction, ite, negation, pseudo_boolean

MAX_PAIRS = 256          # beyond this many value pairs, compare and multiply as Int terms
MAX_CASES = 64           # beyond this many possible values, divide as Real terms


class OneHot:
    """An int equal to exactly one of its values; `flag` of a pair holds when it is that value."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: Sequence[tuple[int, z3.BoolRef]]):
        self.pairs = tuple(pairs)

    def __repr__(self) -> str:
        return f"OneHot({[v for v, _ in self.pairs]})"


class Linear:
    """`const + sum(coeff * flag)` with positive int coefficients."""

    __slots__ = ("terms", "const")

    def __init__(self, terms: Sequence[tuple[z3.BoolRef, int]], const: int):
        self.terms = tuple(terms)
        self.const = const

    def __repr__(self) -> str:
        return f"Linear({len(self.terms)} terms + {self.const})"


class IntAsReal:
    """`float(i)` of a symbolic int `i`."""

    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i


def is_int_value(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def is_condition(x) -> bool:
    return isinstance(x, bool) or isinstance(x, z3.BoolRef)


def is_real(x) -> bool:
    return isinstance(x, IntAsReal) or (isinstance(x, z3.ArithRef) and x.is_real())


def bool_term(x) -> z3.BoolRef:
    return z3.BoolVal(x) if isinstance(x, bool) else x


def one_hot(pairs: Sequence[tuple[int, object]]):
    """A OneHot from (value, flag) pairs whose flags are exclusive and exhaustive: equal values
    merged, false flags dropped, a lone or certain value returned as a Python int."""
    merged: dict[int, list] = {}
    for value, flag in pairs:
        if flag is False:
            continue
        if flag is True:
            return value
        merged.setdefault(value, []).append(flag)
    if len(merged) == 1:
        return next(iter(merged))
    if not merged:
        raise ValueError("a one-hot value with no possible value")
    return OneHot(tuple((v, fs[0] if len(fs) == 1 else disjunction(fs)) for v, fs in sorted(merged.items())))


def linear(terms: Sequence[tuple[object, int]], const: int):
    """A Linear from (flag, coefficient) terms, any sign; constant flags folded in."""
    out, total = [], const
    for flag, coeff in terms:
        if coeff == 0 or flag is False:
            continue
        if flag is True:
            total += coeff
        elif coeff > 0:
            out.append((flag, coeff))
        else:                   # c * f = c + (-c) * not f, so coefficients stay positive
            total += coeff
            out.append((negation(flag), -coeff))
    return Linear(out, total) if out else total


def as_linear(x) -> Linear | int | None:
    if is_int_value(x) or isinstance(x, Linear):
        return x
    if isinstance(x, OneHot):
        return linear([(flag, v) for v, flag in x.pairs], 0)
    return None


def int_term(x) -> z3.ArithRef:
    """Any int value as a Z3 Int term."""
    if is_int_value(x):
        return z3.IntVal(x)
    if isinstance(x, OneHot):
        parts = [ite(flag, z3.IntVal(v), z3.IntVal(0)) for v, flag in x.pairs if v != 0]
        return z3.Sum(parts) if parts else z3.IntVal(0)
    if isinstance(x, Linear):
        return z3.Sum([ite(flag, z3.IntVal(c), z3.IntVal(0)) for flag, c in x.terms]) + x.const
    return x


def real_term(x) -> z3.ArithRef:
    """Any real (or int) value as a Z3 Real term."""
    if isinstance(x, IntAsReal):
        return z3.ToReal(int_term(x.i))
    if is_int_value(x):
        return z3.RealVal(x)
    if isinstance(x, float):
        return z3.RealVal(x)
    if isinstance(x, z3.ArithRef) and x.is_int():
        return z3.ToReal(x)
    if not isinstance(x, z3.ArithRef):
        return int_term(x) if isinstance(x, (OneHot, Linear)) else x
    return x


def cases(x) -> list[tuple[object, int]] | None:
    """The possible values of an int with the condition for each, or None when too many."""
    if is_int_value(x):
        return [(True, x)]
    if isinstance(x, OneHot):
        return [(flag, v) for v, flag in x.pairs]
    if isinstance(x, Linear) and all(c == 1 for _, c in x.terms) and len(x.terms) < MAX_CASES:
        pb = [(flag, 1) for flag, _ in x.terms]
        return [(pseudo_boolean("eq", pb, k), x.const + k) for k in range(len(x.terms) + 1)]
    return None


def integral_constant(x) -> int | None:
    """The value of a real that is a known integer (a Python int or an integral Z3 constant)."""
    if is_int_value(x):
        return x
    if isinstance(x, z3.RatNumRef) and x.denominator_as_long() == 1:
        return x.numerator_as_long()
    return None

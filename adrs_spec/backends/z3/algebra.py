"""The operator table's primitives (adrs_spec.lang.operators.Algebra) on Z3 terms.

Constants stay Python values as long as they can, so that conditions known at encoding time
fold away; ints stay one-hot or pseudo-Boolean (adrs_spec.backends.z3.values) as long as
they can, so that counting and comparing them gives cardinality constraints.
"""
from __future__ import annotations

from typing import Sequence

import z3

from adrs_spec.backends.z3.terms import conjunction, disjunction, ite, negation, pseudo_boolean
from adrs_spec.backends.z3.values import (MAX_CASES, MAX_PAIRS, IntAsReal, Linear, OneHot, as_linear, bool_term,
                                          cases, int_term, integral_constant, is_condition, is_int_value,
                                          is_real, linear, one_hot, real_term)

_CMP = {"lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "eq": lambda a, b: a == b}
_FLIP = {"lt": "gt", "le": "ge", "eq": "eq", "gt": "lt", "ge": "le"}


def _known(x) -> bool | None:
    """True or False when a condition is a Python constant, else None. (The encoding keeps
    known conditions as Python bools; asking Z3 whether a term is `true` costs more than the
    folding saves.)"""
    return x if isinstance(x, bool) else None


class Z3Algebra:
    # ---- conditions ----
    def and_(self, *xs):
        kept = []
        for x in xs:
            k = _known(x)
            if k is False:
                return False
            if k is None:
                kept.append(x)
        return True if not kept else kept[0] if len(kept) == 1 else conjunction(kept)

    def or_(self, *xs):
        kept = []
        for x in xs:
            k = _known(x)
            if k is True:
                return True
            if k is None:
                kept.append(x)
        return False if not kept else kept[0] if len(kept) == 1 else disjunction(kept)

    def not_(self, x):
        k = _known(x)
        if k is not None:
            return not k
        return negation(x)

    def where(self, cond, then, else_):
        k = _known(cond)
        if k is not None:
            return then if k else else_
        if is_condition(then) or is_condition(else_):
            return self._where_condition(cond, then, else_)
        if is_real(then) or is_real(else_) or isinstance(then, float) or isinstance(else_, float):
            return self._where_real(cond, then, else_)
        return self._where_int(cond, then, else_)

    def _where_condition(self, cond, then, else_):
        t, e = _known(then), _known(else_)
        if t is not None and e is not None:
            return t if t == e else (cond if t else self.not_(cond))
        if t is not None:
            return self.or_(cond, else_) if t else self.and_(self.not_(cond), else_)
        if e is not None:
            return self.or_(self.not_(cond), then) if e else self.and_(cond, then)
        return ite(cond, then, else_)

    def _where_real(self, cond, then, else_):
        ti = then.i if isinstance(then, IntAsReal) else integral_constant(then)
        ei = else_.i if isinstance(else_, IntAsReal) else integral_constant(else_)
        if ti is not None and ei is not None:
            return IntAsReal(self._where_int(cond, ti, ei))
        return ite(cond, real_term(then), real_term(else_))

    def _where_int(self, cond, then, else_):
        if is_int_value(then) and is_int_value(else_) and then == else_:
            return then
        small = all(is_int_value(x) or isinstance(x, OneHot) for x in (then, else_))
        if small:
            not_cond = self.not_(cond)
            pairs = [(v, self.and_(cond, f)) for v, f in _pairs(then)]
            pairs += [(v, self.and_(not_cond, f)) for v, f in _pairs(else_)]
            return one_hot(pairs)
        if isinstance(then, Linear) and else_ == 0:
            return linear([(self.and_(cond, f), c) for f, c in then.terms] + [(cond, then.const)], 0)
        return ite(cond, int_term(then), int_term(else_))

    def choose(self, choices):
        """The number or condition whose condition holds, when exactly one does: a flat
        one-hot (ints), a flat sum of ifs (other numbers) or a disjunction (conditions)."""
        values = [v for _, v in choices]
        if all(is_condition(v) for v in values):
            return self.or_(*(self.and_(c, v) for c, v in choices))
        if all(is_int_value(v) or isinstance(v, OneHot) for v in values):
            return one_hot([(w, self.and_(c, f)) for c, v in choices for w, f in _pairs(v)])
        if any(is_real(v) or isinstance(v, (float, z3.RatNumRef)) for v in values):
            ints = [_as_int(v) for v in values]
            if all(i is not None for i in ints):
                return IntAsReal(self.choose([(c, i) for (c, _), i in zip(choices, ints)]))
            return z3.Sum([ite(bool_term(c), real_term(v), z3.RealVal(0)) for c, v in choices])
        return z3.Sum([ite(bool_term(c), int_term(v), z3.IntVal(0)) for c, v in choices])

    # ---- arithmetic ----
    def add(self, a, b):
        if is_int_value(a) and is_int_value(b):
            return a + b
        if is_real(a) or is_real(b):
            ai, bi = _as_int(a), _as_int(b)
            if ai is not None and bi is not None:
                return IntAsReal(self.add(ai, bi))
            return real_term(a) + real_term(b)
        if isinstance(a, OneHot) and is_int_value(b):
            return OneHot(tuple((v + b, f) for v, f in a.pairs))
        if isinstance(b, OneHot) and is_int_value(a):
            return self.add(b, a)
        la, lb = as_linear(a), as_linear(b)
        if la is not None and lb is not None:
            terms = [t for x in (la, lb) if isinstance(x, Linear) for t in x.terms]
            const = sum(x.const if isinstance(x, Linear) else x for x in (la, lb))
            return linear(terms, const)
        return int_term(a) + int_term(b)

    def sub(self, a, b):
        return self.add(a, self.neg(b))

    def neg(self, a):
        if is_int_value(a):
            return -a
        if isinstance(a, IntAsReal):
            return IntAsReal(self.neg(a.i))
        if isinstance(a, OneHot):
            return OneHot(tuple((-v, f) for v, f in reversed(a.pairs)))
        if isinstance(a, Linear):
            return linear([(f, -c) for f, c in a.terms], -a.const)
        return -a

    def mul(self, a, b):
        if is_int_value(a) and is_int_value(b):
            return a * b
        if is_real(a) or is_real(b):
            ai, bi = _as_int(a), _as_int(b)
            if ai is not None and bi is not None and (is_int_value(ai) or is_int_value(bi)):
                return IntAsReal(self.mul(ai, bi))
            return real_term(a) * real_term(b)
        if is_int_value(b):
            a, b = b, a
        if is_int_value(a):
            if a == 0:
                return 0
            if isinstance(b, OneHot):
                return one_hot([(v * a, f) for v, f in b.pairs])
            if isinstance(b, Linear):
                return linear([(f, c * a) for f, c in b.terms], b.const * a)
            return a * b
        if isinstance(a, OneHot) and isinstance(b, OneHot) and len(a.pairs) * len(b.pairs) <= MAX_PAIRS:
            return one_hot([(va * vb, self.and_(fa, fb)) for va, fa in a.pairs for vb, fb in b.pairs])
        return int_term(a) * int_term(b)

    def total(self, xs: Sequence, zero):
        if is_real(zero) or isinstance(zero, (float, z3.RatNumRef)) or (
                isinstance(zero, z3.ArithRef) and zero.is_real()):
            ints = [_as_int(x) for x in xs]
            if all(i is not None for i in ints):
                return IntAsReal(self.total(ints, 0))
            terms = [real_term(x) for x in xs]
            return z3.Sum(terms) if terms else z3.RealVal(0)
        result = 0
        rest = []
        for x in xs:
            if isinstance(x, (OneHot, Linear)) or is_int_value(x):
                result = self.add(result, x)
            else:
                rest.append(x)
        return result if not rest else int_term(result) + z3.Sum(rest)

    def floor_div_positive(self, a, b):
        if is_int_value(a) and is_int_value(b):
            return a // b if b > 0 else 0
        if isinstance(a, OneHot) and is_int_value(b) and b > 0:
            return one_hot([(v // b, f) for v, f in a.pairs])
        return int_term(a) / int_term(b)         # SMT-LIB div: the floor for b > 0

    def mod_positive(self, a, b):
        if is_int_value(a) and is_int_value(b):
            return a % b if b > 0 else 0
        if isinstance(a, OneHot) and is_int_value(b) and b > 0:
            return one_hot([(v % b, f) for v, f in a.pairs])
        return int_term(a) % int_term(b)         # SMT-LIB mod: in 0 .. b - 1 for b > 0

    def quotient(self, a, b):
        """a / b for b != 0; a divisor with few possible values is split into cases, so the
        division stays linear."""
        if isinstance(b, IntAsReal):
            options = cases(b.i)
            if options is not None and len(options) <= MAX_CASES:
                num = real_term(a)
                result = z3.RealVal(0)
                for cond, k in options:
                    if k != 0:
                        result = num / k if _known(cond) is True else ite(cond, num / k, result)
                return result
        k = integral_constant(b)
        if k is not None and k != 0:
            return real_term(a) / k
        return real_term(a) / real_term(b)

    def floor(self, x):
        return z3.ToInt(real_term(x))

    def to_real(self, i):
        return z3.RealVal(i) if is_int_value(i) else IntAsReal(i)

    def real(self, x: float):
        return z3.RealVal(x)

    # ---- comparisons ----
    def lt(self, a, b):
        return self._compare("lt", a, b)

    def le(self, a, b):
        return self._compare("le", a, b)

    def eq(self, a, b):
        if is_condition(a) or is_condition(b):
            ka, kb = _known(a), _known(b)
            if ka is not None and kb is not None:
                return ka == kb
            return bool_term(a) == bool_term(b)
        return self._compare("eq", a, b)

    def _compare(self, op: str, a, b):
        if is_real(a) or is_real(b) or isinstance(a, z3.RatNumRef) or isinstance(b, z3.RatNumRef):
            ai, bi = _as_int(a), _as_int(b)
            if ai is None or bi is None:
                return _compare_reals(op, real_term(a), real_term(b))
            a, b = ai, bi
        return _compare_ints(self, op, a, b)


def _compare_reals(op: str, a: z3.ArithRef, b: z3.ArithRef):
    """`a op b` on Real terms, with comparisons pushed into `If`s and across a division by a
    term (n / d op k becomes n op k * d or k * d op n by the sign of d), so that a ratio such
    as a balance compares linearly. A division's value at d = 0 is never read: the float
    flags mark that case as inf or NaN, and every comparison checks them first."""
    if z3.is_app_of(a, z3.Z3_OP_ITE):
        return ite(a.arg(0), _compare_reals(op, a.arg(1), b), _compare_reals(op, a.arg(2), b))
    if z3.is_app_of(b, z3.Z3_OP_ITE):
        return ite(b.arg(0), _compare_reals(op, a, b.arg(1)), _compare_reals(op, a, b.arg(2)))
    if _is_ratio(a) and not _is_ratio(b):
        n, d = a.arg(0), a.arg(1)
        return z3.Or(z3.And(d > 0, _CMP[op](n, b * d)), z3.And(d < 0, _CMP[op](b * d, n)))
    if _is_ratio(b) and not _is_ratio(a):
        n, d = b.arg(0), b.arg(1)
        return z3.Or(z3.And(d > 0, _CMP[op](a * d, n)), z3.And(d < 0, _CMP[op](n, a * d)))
    return _CMP[op](a, b)


def _is_ratio(x) -> bool:
    """A division by a term that is not a number (a division by a number is linear already)."""
    return z3.is_div(x) and not z3.is_rational_value(x.arg(1))


def _as_int(x):
    """The int a real stands for (IntAsReal or an integral constant), else None."""
    if isinstance(x, IntAsReal):
        return x.i
    return integral_constant(x)


def _pairs(x):
    return ((x, True),) if is_int_value(x) else x.pairs


def _compare_ints(m: Z3Algebra, op: str, a, b):
    """`a op b` on ints (op: lt, le, eq, gt, ge), as flags and cardinality constraints."""
    if is_int_value(a) and is_int_value(b):
        return {"lt": a < b, "le": a <= b, "eq": a == b, "gt": a > b, "ge": a >= b}[op]
    if is_int_value(a):
        return _compare_ints(m, _FLIP[op], b, a)
    test = {"lt": lambda x, y: x < y, "le": lambda x, y: x <= y, "eq": lambda x, y: x == y,
            "gt": lambda x, y: x > y, "ge": lambda x, y: x >= y}[op]
    if isinstance(a, OneHot) and (is_int_value(b) or isinstance(b, OneHot)):
        return _compare_one_hots(m, op, a.pairs, _pairs(b))
    if isinstance(a, Linear) and is_int_value(b):
        return _pseudo_boolean(op, a, b)
    if isinstance(a, Linear) and isinstance(b, OneHot):
        return m.and_(*(m.or_(m.not_(f), _pseudo_boolean(op, a, v)) for v, f in b.pairs))
    if isinstance(a, OneHot) and isinstance(b, Linear):
        return _compare_ints(m, _FLIP[op], b, a)
    la, lb = as_linear(a), as_linear(b)
    if la is not None and lb is not None:
        difference = m.sub(la, lb)
        return _compare_ints(m, op, difference, 0)
    return test(int_term(a), int_term(b))


def _compare_one_hots(m: Z3Algebra, op: str, a, b):
    """`a op b` for two one-hot ints given as (value, flag) pairs in increasing value order:
    equality pairs equal values; an order compares b's value with a running disjunction of
    a's smaller (or equal) values, so the size is linear, not quadratic."""
    if op in ("gt", "ge"):
        return _compare_one_hots(m, _FLIP[op], b, a)
    if op == "eq":
        flags = dict(b)
        return m.or_(*(m.and_(fa, flags[va]) for va, fa in a if va in flags))
    strict = op == "lt"
    out, below, i = [], False, 0         # below: a's value is < (or <=) the current b value
    for vb, fb in b:
        while i < len(a) and (a[i][0] < vb if strict else a[i][0] <= vb):
            below = m.or_(below, a[i][1])
            i += 1
        out.append(m.and_(fb, below))
    return m.or_(*out)


def _pseudo_boolean(op: str, a: Linear, k: int):
    """`a op k` for a Linear a: sum(coeff * flag) against k - const."""
    target = k - a.const
    top = sum(c for _, c in a.terms)
    terms = list(a.terms)
    if op == "lt":
        op, target = "le", target - 1
    if op == "gt":
        op, target = "ge", target + 1
    if op == "le":
        return False if target < 0 else True if target >= top else pseudo_boolean("le", terms, target)
    if op == "ge":
        return True if target <= 0 else False if target > top else pseudo_boolean("ge", terms, target)
    return False if not 0 <= target <= top else pseudo_boolean("eq", terms, target)

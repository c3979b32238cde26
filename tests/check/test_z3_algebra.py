"""The operator table on Z3 terms means what it means on Python values.

The Z3 algebra keeps ints as one-hot flags, pseudo-Boolean sums or Int terms, and floats as
Reals (or ints converted with `float`). Each operator is applied to symbolic operands in
every representation, the solver fixes the operands to concrete values, and the result must
equal the Python algebra's on those values (itself checked against the reference
interpreter in tests/lang).
"""
import itertools
import math

import numpy as np
import pytest
import z3

from adrs_spec.backends.z3.algebra import Z3Algebra
from adrs_spec.backends.z3.models import number
from adrs_spec.backends.z3.values import IntAsReal, Linear, OneHot
from adrs_spec.lang import operators as op
from adrs_spec.lang.operators import PYTHON, Ext, python_float
from edge_cases import FLOATS as EDGE_FLOATS
from edge_cases import INTS

# Z3's reals are exact: a product past float64's range is a large real, not inf (the table's
# documented limit, "rounding is not modelled"), so the values near overflow are left out.
FLOATS = [x for x in EDGE_FLOATS if not (math.isfinite(x) and abs(x) > 1e100)]

Z3 = Z3Algebra()
DOMAIN = list(range(min(INTS), max(INTS) + 1))
_names = itertools.count()


def symbolic_int(v: int, kind: str):
    """(a value of the Z3 algebra that is v under the returned constraints, constraints)."""
    n = next(_names)
    if kind == "python":
        return v, []
    if kind == "onehot":
        flags = [z3.Bool(f"oh{n}_{d}") for d in DOMAIN]
        return OneHot(tuple(zip(DOMAIN, flags))), [f if d == v else z3.Not(f) for d, f in zip(DOMAIN, flags)]
    if kind == "linear":           # the domain's least value + the number of true flags
        lo, flags = DOMAIN[0], [z3.Bool(f"lin{n}_{i}") for i in range(len(DOMAIN) - 1)]
        return Linear(tuple((f, 1) for f in flags), lo), [f if i < v - lo else z3.Not(f) for i, f in enumerate(flags)]
    x = z3.Int(f"i{n}")
    return x, [x == v]


def symbolic_float(v: float, kind: str):
    n = next(_names)
    if kind == "constant" or not math.isfinite(v):
        return op.constant(Z3, v), []
    if kind == "int" and v.is_integer() and int(v) in DOMAIN:
        i, fixed = symbolic_int(int(v), "onehot")
        return Ext(IntAsReal(i)), fixed
    x = z3.Real(f"r{n}")
    return Ext(x), [x == z3.RealVal(v)]


class Batch:
    """Results to check, all evaluated in one model of all the fixing constraints."""

    def __init__(self):
        self.fixed, self.items = [], []

    def add(self, result, fixed, expected, label):
        self.fixed += fixed
        self.items.append((result, expected, label))

    def check(self):
        solver = z3.Solver()
        solver.add(*self.fixed)
        assert solver.check() == z3.sat
        model = solver.model()
        for result, expected, label in self.items:
            got = number(model, result)
            assert same(got, expected), (*label, got, expected)


def same(ours, theirs) -> bool:
    if isinstance(theirs, Ext):
        theirs = float(python_float(theirs))
    if isinstance(theirs, float) and math.isnan(theirs):
        return isinstance(ours, float) and math.isnan(ours)
    if isinstance(theirs, float):
        return ours == theirs or math.isclose(ours, theirs, rel_tol=1e-12)
    return bool(ours == theirs)


INT_OPS = ["+", "-", "*", "//", "%", "==", "!=", "<", "<=", ">", ">="]


@pytest.mark.parametrize("name", INT_OPS)
def test_int_operators_in_every_representation(name):
    pairs = [("onehot", "python"), ("python", "onehot"), ("onehot", "onehot"), ("linear", "python"),
             ("onehot", "linear"), ("linear", "linear"), ("term", "onehot"), ("python", "term")]
    batch = Batch()
    for a, b in itertools.product(INTS, repeat=2):
        expected = op.binary(PYTHON, name, a, b, 1e-4)
        for ka, kb in pairs:
            (x, fx), (y, fy) = symbolic_int(a, ka), symbolic_int(b, kb)
            batch.add(op.binary(Z3, name, x, y, 1e-4), fx + fy, expected, (a, name, b, ka, kb))
    batch.check()


FLOAT_OPS = ["+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "~="]


@pytest.mark.parametrize("name", FLOAT_OPS)
def test_float_operators_with_infinities_and_nan(name):
    batch = Batch()
    with np.errstate(all="ignore"):
        for a, b in itertools.product(FLOATS, repeat=2):
            expected = op.binary(PYTHON, name, op.constant(PYTHON, a), op.constant(PYTHON, b), 1e-4)
            for ka, kb in (("real", "int"), ("int", "real"), ("constant", "real")):
                (x, fx), (y, fy) = symbolic_float(a, ka), symbolic_float(b, kb)
                batch.add(op.binary(Z3, name, x, y, 1e-4), fx + fy, expected, (a, name, b, ka, kb))
    batch.check()


@pytest.mark.parametrize("fn", ["abs", "min", "max", "clip", "int", "floor", "ceil", "float"])
def test_functions(fn):
    arity = {"min": 2, "max": 2, "clip": 3}.get(fn, 1)
    batch = Batch()
    with np.errstate(all="ignore"):
        for args in itertools.product([-1.5, 2.0, math.inf, math.nan], repeat=arity):
            if fn == "float":
                continue
            expected = op.call(PYTHON, fn, [op.constant(PYTHON, a) for a in args])
            built = [symbolic_float(a, "real") for a in args]
            batch.add(op.call(Z3, fn, [x for x, _ in built]), [c for _, f in built for c in f], expected, (fn, args))
        for args in itertools.product(INTS[1:5], repeat=arity):
            expected = op.call(PYTHON, fn, list(args))
            built = [symbolic_int(a, "onehot") for a in args]
            batch.add(op.call(Z3, fn, [x for x, _ in built]), [c for _, f in built for c in f], expected, (fn, args))
    batch.check()


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "count", "all", "any", "prod"])
def test_reductions_with_symbolic_filters(name):
    rng = np.random.default_rng(1)
    batch = Batch()
    with np.errstate(all="ignore"):
        for trial in range(30):
            n = int(rng.integers(0, 4))
            keep = [bool(k) for k in rng.integers(0, 2, n)]
            keep_vars = [z3.Bool(f"keep{next(_names)}") for _ in range(n)]
            fixed = [k if v else z3.Not(k) for k, v in zip(keep_vars, keep)]
            if name in ("count", "all", "any"):
                values = [bool(v) for v in rng.integers(0, 2, n)]
                bools = [z3.Bool(f"b{next(_names)}") for _ in range(n)]
                fixed += [b if v else z3.Not(b) for b, v in zip(bools, values)]
                items, concrete, dtype = list(zip(keep_vars, bools)), list(zip(keep, values)), "bool"
            elif trial % 2:
                values = [int(v) for v in rng.choice(INTS, n)]
                built = [symbolic_int(v, "onehot") for v in values]
                fixed += [c for _, f in built for c in f]
                items = [(k, x) for k, (x, _) in zip(keep_vars, built)]
                concrete, dtype = list(zip(keep, values)), "int"
            else:
                values = [float(v) for v in rng.choice(FLOATS, n)]
                built = [symbolic_float(v, "real") for v in values]
                fixed += [c for _, f in built for c in f]
                items = [(k, x) for k, (x, _) in zip(keep_vars, built)]
                concrete, dtype = [(k, op.constant(PYTHON, v)) for k, v in zip(keep, values)], "float"
            expected = op.reduce(PYTHON, name, concrete, dtype)
            batch.add(op.reduce(Z3, name, items, dtype), fixed, expected, (name, concrete))
    batch.check()

"""The operator table on Python values agrees with the reference interpreter's scalar rules.

adrs_spec.lang.operators states each operator once, over an algebra; the Z3 encoder runs the
same definitions on solver terms. Here they run on Python values and must give exactly what
the reference interpreter gives, on every pair of a grid of ordinary and extreme values.
The one documented difference, the sign of zero, is kept out of the grid (-0.0).
"""
import itertools
import math

import numpy as np
import pytest

from adrs_spec.backends.reference import ops as ref
from adrs_spec.lang import operators as op
from adrs_spec.lang.operators import PYTHON, Ext, python_float

from edge_cases import FLOATS, INTS
TOL = 1e-4


def ext(x: float) -> Ext:
    return op.constant(PYTHON, x)


def same(ours, theirs) -> bool:
    if isinstance(ours, Ext):
        ours = python_float(ours)
    if isinstance(theirs, (float, np.floating)) and math.isnan(theirs):
        return isinstance(ours, (float, np.floating)) and math.isnan(ours)
    return type(bool(ours)) is bool and ours == theirs and (isinstance(ours, bool) == isinstance(theirs, bool))


@pytest.mark.parametrize("name", ["+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "~="])
def test_float_binary_matches_reference(name):
    with np.errstate(all="ignore"):
        for a, b in itertools.product(FLOATS, repeat=2):
            dtype = "bool" if name in ("==", "!=", "<", "<=", ">", ">=", "~=") else "float"
            theirs = ref.binary(name, np.float64(a), np.float64(b), dtype, TOL)
            ours = op.binary(PYTHON, name, ext(a), ext(b), TOL)
            assert same(ours, theirs), (a, name, b, ours, theirs)


@pytest.mark.parametrize("name", ["+", "-", "*", "//", "%", "==", "!=", "<", "<=", ">", ">="])
def test_int_binary_matches_reference(name):
    for a, b in itertools.product(INTS, repeat=2):
        dtype = "bool" if name in ("==", "!=", "<", "<=", ">", ">=") else "int"
        assert op.binary(PYTHON, name, a, b, TOL) == ref.binary(name, a, b, dtype, TOL), (a, name, b)


def test_zero_divisors_give_zero_for_ints():
    assert [op.binary(PYTHON, o, 7, 0, TOL) for o in ("//", "%")] == [0, 0]
    assert op.binary(PYTHON, "//", -7, 2, TOL) == -4 and op.binary(PYTHON, "%", 7, -2, TOL) == -1


def test_powers_match_reference():
    for a, k in itertools.product(INTS, range(-3, 6)):
        assert op.binary(PYTHON, "**", a, k, TOL) == ref.binary("**", a, k, "int", TOL), (a, k)
    with np.errstate(all="ignore"):
        for a, k in itertools.product(FLOATS, range(0, 5)):
            ours = op.float_power(PYTHON, ext(a), k)
            theirs = ref.binary("**", np.float64(a), np.float64(k), "float", TOL)
            assert same(ours, theirs) or math.isclose(python_float(ours), theirs, rel_tol=1e-12), (a, k)


@pytest.mark.parametrize("fn", ["abs", "float", "int", "floor", "ceil"])
def test_one_argument_functions_match_reference(fn):
    with np.errstate(all="ignore"):
        for x in FLOATS + [2.5e19, -2.5e19, -2.5, 9.2233720368547e18]:
            if fn == "float":
                continue
            dtype = "float" if fn == "abs" else "int"
            assert same(op.call(PYTHON, fn, [ext(x)]), ref.call(fn, [np.float64(x)], dtype)), (fn, x)
        for i in INTS:
            dtype = "float" if fn == "float" else "int"
            assert same(op.call(PYTHON, fn, [i]), ref.call(fn, [i], dtype)), (fn, i)


@pytest.mark.parametrize("fn", ["min", "max", "clip"])
def test_min_max_clip_match_reference(fn):
    arity = 3 if fn == "clip" else 2
    with np.errstate(all="ignore"):
        for args in itertools.product(FLOATS[::2] + [math.nan], repeat=arity):
            theirs = ref.call(fn, [np.float64(a) for a in args], "float")
            assert same(op.call(PYTHON, fn, [ext(a) for a in args]), theirs), (fn, args)
        for args in itertools.product(INTS[::2], repeat=arity):
            assert op.call(PYTHON, fn, list(args)) == ref.call(fn, list(args), "int"), (fn, args)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod", "count", "all", "any"])
def test_reductions_match_reference_with_filters(name):
    rng = np.random.default_rng(0)
    with np.errstate(all="ignore"):
        for trial in range(200):
            n = int(rng.integers(0, 5))
            keep = [bool(k) for k in rng.integers(0, 2, n)]
            if name in ("count", "all", "any"):
                values, dtype = [bool(v) for v in rng.integers(0, 2, n)], "bool"
                items = list(zip(keep, values))
            elif trial % 2:
                values, dtype = [int(v) for v in rng.choice(INTS, n)], "int"
                items = list(zip(keep, values))
            else:
                values, dtype = [float(v) for v in rng.choice(FLOATS, n)], "float"
                items = [(k, ext(v)) for k, v in zip(keep, values)]
            kept = [np.float64(v) if dtype == "float" else v for k, v in zip(keep, values) if k]
            theirs = ref.reduce_values(name, kept, dtype)
            ours = op.reduce(PYTHON, name, items, dtype)
            assert same(ours, theirs), (name, items, ours, theirs)


def test_unsupported_functions_are_named():
    with pytest.raises(op.Unsupported, match="sqrt"):
        op.call(PYTHON, "sqrt", [ext(2.0)])
    with pytest.raises(op.Unsupported, match="exponent"):
        op.float_power(PYTHON, ext(2.0), 0.5)

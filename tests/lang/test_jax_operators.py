"""The JAX backend against the operator table, on the same edge cases as the reference
interpreter (tests/edge_cases.py): every pair of values through every operator, empty and
NaN/inf reductions, in float64. Each operator is a tensor let of a small spec, compiled to
its generated function and called on arrays of the pairs."""
import inspect
import itertools
import math

import jax.numpy as jnp
import numpy as np
import pytest

from adrs_spec.compile import check_source
from adrs_spec.errors import Source
from adrs_spec.evaluator import compile_in_memory
from adrs_spec.lang import operators as op
from adrs_spec.lang.operators import PYTHON, python_float
from edge_cases import FLOATS, INTS

TOL = 1e-4
FLOAT_PAIRS = list(itertools.product(FLOATS, repeat=2))
INT_PAIRS = list(itertools.product(INTS, repeat=2))
FLOAT_OPS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "eq": "==", "ne": "!=", "lt": "<", "le": "<=",
             "gt": ">", "ge": ">=", "approx": "~="}
INT_OPS = {"iadd": "+", "isub": "-", "imul": "*", "ifloordiv": "//", "imod": "%", "ieq": "==", "ilt": "<"}
FUNCTIONS = ("abs", "int", "floor", "ceil")

SPEC = f"""spec edges "operator edge cases"
tolerance {TOL}
param n: int = {len(FLOAT_PAIRS)}
param k: int = {len(INT_PAIRS)}
instance {{
  observe a: float[n]
  observe b: float[n]
  observe i: int[k]
  observe j: int[k]
}}
policy f(a) -> y: int[n]
invariant y_ok: forall p: y[p] >= 0
""" + "".join(f"let {name}[p in 0 .. n] = a[p] {sym} b[p]\n" for name, sym in FLOAT_OPS.items()) \
    + "".join(f"let {name}[q in 0 .. k] = i[q] {sym} j[q]\n" for name, sym in INT_OPS.items()) \
    + "".join(f"let f_{fn}[p in 0 .. n] = {fn}(a[p])\n" for fn in FUNCTIONS) \
    + "let f_min[p in 0 .. n] = min(a[p], b[p])\nlet f_max[p in 0 .. n] = max(a[p], b[p])\n" \
    + """let max_all = max(p: a[p])
let min_all = min(p: b[p])
let sum_all = sum(p: a[p])
let mean_all = mean(p: b[p])
let max_none = max(p where a[p] > a[p]: a[p])
let min_none = min(p where a[p] > a[p]: a[p])
let imax_none = max(q where i[q] > 100: i[q])
let imin_none = min(q where i[q] > 100: i[q])
let mean_none = mean(p where a[p] > a[p]: a[p])
let sum_none = sum(p where a[p] > a[p]: a[p])
let count_none = count(p where a[p] > a[p]: true)
let prod_none = prod(q where i[q] > 100: i[q])
"""


@pytest.fixture(scope="module")
def lets():
    spec = check_source(Source("edges.adrs", SPEC))
    module = compile_in_memory(spec)
    data = {"a": [a for a, _ in FLOAT_PAIRS], "b": [b for _, b in FLOAT_PAIRS],
            "i": [a for a, _ in INT_PAIRS], "j": [b for _, b in INT_PAIRS], "y": [0] * len(FLOAT_PAIRS)}
    with module.rt.precision("float64"), np.errstate(all="ignore"):
        s = module.bind_statics(None, "float64")
        t = module.rt.cast_tensors({n: jnp.asarray(v) for n, v in data.items()}, {**module.FIELDS, **module.OUTPUTS}, s)
        for let in spec.lets:
            fn = getattr(module, let.name)
            t[let.name] = fn(s, *(t[p] for p in list(inspect.signature(fn).parameters)[1:]))
        return {let.name: np.asarray(t[let.name]) for let in spec.lets}


def ext(x):
    return op.constant(PYTHON, x)


def same(got, want) -> bool:
    want = python_float(want) if isinstance(want, op.Ext) else want
    if isinstance(want, (float, np.floating)) and math.isnan(want):
        return math.isnan(got)
    return got == want


@pytest.mark.parametrize("name", FLOAT_OPS)
def test_float_operators_match_the_table(lets, name):
    with np.errstate(all="ignore"):
        for (a, b), got in zip(FLOAT_PAIRS, lets[name]):
            want = op.binary(PYTHON, FLOAT_OPS[name], ext(a), ext(b), TOL)
            assert same(got.item(), want), (a, FLOAT_OPS[name], b, got, want)


@pytest.mark.parametrize("name", INT_OPS)
def test_int_operators_match_the_table_with_zero_and_negative_divisors(lets, name):
    for (a, b), got in zip(INT_PAIRS, lets[name]):
        assert got.item() == op.binary(PYTHON, INT_OPS[name], a, b, TOL), (a, INT_OPS[name], b)


@pytest.mark.parametrize("fn", [*FUNCTIONS, "min", "max"])
def test_functions_match_the_table(lets, fn):
    with np.errstate(all="ignore"):
        for (a, b), got in zip(FLOAT_PAIRS, lets[f"f_{fn}"]):
            args = [ext(a), ext(b)] if fn in ("min", "max") else [ext(a)]
            assert same(got.item(), op.call(PYTHON, fn, args)), (fn, a, b, got)


def test_reductions_with_nan_inf_and_nothing_match_the_table(lets):
    a = [ext(x) for x, _ in FLOAT_PAIRS]
    b = [ext(y) for _, y in FLOAT_PAIRS]
    with np.errstate(all="ignore"):
        want = {"max_all": op.reduce(PYTHON, "max", [(True, x) for x in a], "float"),
                "min_all": op.reduce(PYTHON, "min", [(True, x) for x in b], "float"),
                "sum_all": op.reduce(PYTHON, "sum", [(True, x) for x in a], "float"),
                "mean_all": op.reduce(PYTHON, "mean", [(True, x) for x in b], "float")}
        for kind in ("max", "min", "mean", "sum"):
            want[f"{kind}_none"] = op.reduce(PYTHON, kind, [], "float")
        want["imax_none"] = op.reduce(PYTHON, "max", [], "int")
        want["imin_none"] = op.reduce(PYTHON, "min", [], "int")
        want["count_none"] = op.reduce(PYTHON, "count", [], "bool")
        want["prod_none"] = op.reduce(PYTHON, "prod", [], "int")
    for name, value in want.items():
        assert same(lets[name].item(), value), (name, lets[name], value)

"""Concrete values from a solver model: the tensors of an instance and an output, and where
a condition fails in them."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import z3

from adrs_spec.backends.z3.encode import Condition, Encoding
from adrs_spec.backends.z3.values import OneHot, int_term, real_term
from adrs_spec.backends.z3.verdicts import Model
from adrs_spec.lang.operators import Ext

NUMPY = {"float": np.float64, "int": np.int64, "bool": np.bool_}


def holds(model: z3.ModelRef, term) -> bool:
    if isinstance(term, bool):
        return term
    return z3.is_true(model.eval(term, model_completion=True))


def number(model: z3.ModelRef, x):
    """A value of the encoding (int, OneHot, Ext, ...) under the model, as a Python number."""
    if isinstance(x, Ext):
        if holds(model, x.nan):
            return math.nan
        if holds(model, x.pinf):
            return math.inf
        if holds(model, x.ninf):
            return -math.inf
        return float(_fraction(model.eval(real_term(x.val), model_completion=True)))
    if isinstance(x, bool) or isinstance(x, z3.BoolRef):
        return holds(model, x)
    if isinstance(x, OneHot):
        return next((v for v, flag in x.pairs if holds(model, flag)), x.pairs[0][0])
    if isinstance(x, int):
        return x
    return model.eval(int_term(x), model_completion=True).as_long()


def _fraction(v) -> Fraction:
    if z3.is_algebraic_value(v):
        v = v.approx(20)
    return Fraction(v.numerator_as_long(), v.denominator_as_long())


def extract(enc: Encoding, model: z3.ModelRef, params: dict[str, int]) -> Model:
    """The fields and outputs the model chose, as arrays of their declared dtypes."""
    tensors = {}
    for t in (*enc.spec.fields(), *enc.spec.outputs()):
        elements = enc.elements(t.name)
        out = np.empty(elements.shape, dtype=NUMPY[t.dtype])
        for index in np.ndindex(*elements.shape):
            out[index] = number(model, elements[index])
        tensors[t.name] = out
    return Model(dict(params), tensors)


def first_failure(model: z3.ModelRef, cond: Condition) -> dict[str, int] | None:
    """The first point (row-major) where the condition's body is false under the model."""
    for point, term in cond.points:
        if not holds(model, term):
            return point
    return None


def format_tensors(m: Model, indent: str = "    ") -> list[str]:
    """`name = [[...]]` per tensor on one line, numbers as %g; then the model's values."""
    lines = [f"{indent}{name} = {nested(np.asarray(array))}" for name, array in m.tensors.items()]
    lines += [f"{indent}{name} = {_number_text(value)}" for name, value in m.values.items()]
    return lines


def nested(array: np.ndarray) -> str:
    if array.ndim == 0:
        return _number_text(array.item())
    return "[" + ", ".join(nested(x) for x in array) + "]"


def _number_text(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)

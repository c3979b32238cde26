"""The reference interpreter: what every construct of a spec means, on one instance.

Given the statics (`adrs_spec.lang.statics.bind`) and one instance's fields and policy outputs,
it materialises every tensor let element by element (in `spec.lets` order; step blocks
as plain loops, see `steps`), checks every
invariant point by point (reporting the first violating point in row-major order), and
evaluates the metrics and bounds. It loops in Python over index points with float64
scalars: every other backend is tested for agreement against it, so it is written to be
obviously right rather than fast. Scalar rules: `adrs_spec.backends.reference.ops`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from adrs_spec.lang import ir
from adrs_spec.lang import scoring
from adrs_spec.backends.reference import ops
from adrs_spec.bounded import describe_problem, fit_bounded
from adrs_spec.backends.reference.interpreter import Interpreter
from adrs_spec.backends.reference.steps import run_step
from adrs_spec.errors import InputError
from adrs_spec.lang.statics import shape_of

NUMPY_DTYPES = {"float": np.float64, "int": np.int64, "bool": np.bool_}


@dataclass(frozen=True)
class GuardResult:
    name: str
    passed: bool
    witness: tuple[int, ...] | None     # the first violating point of the invariant's vars


@dataclass(frozen=True)
class InstanceResult:
    guards: tuple[GuardResult, ...]       # spec order
    metrics: dict[str, float]
    lets: dict[str, np.ndarray]
    bounds: tuple[bool, ...]              # spec order; a bound over runtime reads True

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.guards)

    def guard(self, name: str) -> GuardResult:
        return next(g for g in self.guards if g.name == name)


def evaluate_instance(spec: ir.Spec, env: Mapping[str, object], data: Mapping[str, np.ndarray]
                      ) -> InstanceResult:
    """Guards, metrics, lets and bounds of one instance.

    env: every param and static let (from `statics.bind`); data: every instance field and
    policy output by name, each shaped as the spec declares under `env` (an output dimension
    declared `<= bound` may have any width: it is padded or cut to the bound first).
    """
    tensors = check_data(spec, env, data)
    interp = Interpreter(spec.tolerance, env, tensors)
    with np.errstate(all="ignore"):
        lets = {}
        for let in spec.lets:         # dependency order: a let reads only earlier ones
            if isinstance(let, ir.Step):
                lets.update(run_step(spec, interp, let))
            else:
                lets[let.name] = tensors[let.name] = materialise(spec, interp, let)
        guards = tuple(check_invariant(interp, inv) for inv in spec.invariants)
        metrics = {m.name: float(interp.eval(m.expr, {})) for m in spec.metrics}
    bounds = tuple(ok for _, ok in scoring.check_bounds(spec, metrics, None, env))
    return InstanceResult(guards, metrics, lets, bounds)


def check_data(spec: ir.Spec, env: Mapping[str, object], data: Mapping[str, np.ndarray]
               ) -> dict[str, np.ndarray]:
    """Every field and output, as an array of its declared dtype and shape; InputError otherwise."""
    needed = [*spec.fields(), *spec.outputs()]
    names = {t.name for t in needed}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"unknown tensor(s) {', '.join(unknown)}: the data holds the fields and policy "
                         f"outputs of `{spec.name}` ({', '.join(t.name for t in needed)})")
    missing = [t.name for t in needed if t.name not in data]
    if missing:
        raise InputError(f"missing tensor(s) {', '.join(missing)}: give every field and policy output")
    return {t.name: _as_declared(t, data[t.name], shape_of(t, env)) for t in needed}


def _as_declared(t: ir.Tensor, value, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(value)
    if t.bounded and array.ndim == len(shape):      # `<= bound` dimensions: the padded form
        array, problem = fit_bounded(array, shape, t.bounded, t.pad)
        if problem is not None:
            from adrs_spec.lang.text import spec_text

            axis, width, where = problem
            raise InputError(describe_problem(f"`{t.name}`", shape, t.bounded,
                                              tuple(spec_text(t.shape[a]) for a in t.bounded), t.pad, axis, width,
                                              where, array[where].item()))
    if array.shape != shape:
        raise InputError(f"`{t.name}` has shape {array.shape}, but the spec declares {shape}")
    kind = array.dtype.kind
    if t.dtype == "float" and kind not in "biuf":
        raise InputError(f"`{t.name}` must hold numbers, but its dtype is {array.dtype}")
    if t.dtype == "int" and kind not in "biu":
        if kind != "f" or not np.all(np.isfinite(array) & (array == np.round(array))):
            raise InputError(f"`{t.name}` must hold integers, but its dtype is {array.dtype}")
    if t.dtype == "bool" and kind != "b":
        raise InputError(f"`{t.name}` must hold booleans, but its dtype is {array.dtype}")
    return array.astype(NUMPY_DTYPES[t.dtype])


def materialise(spec: ir.Spec, interp: Interpreter, let: ir.TensorLet) -> np.ndarray:
    """Every element of a tensor let: element [i, j] is its body with its vars bound to i, j."""
    shape = shape_of(spec.tensor(let.name), interp.statics)
    out = np.empty(shape, dtype=NUMPY_DTYPES[let.dtype])
    for point in np.ndindex(*shape):
        value = interp.eval(let.body, {v.name: i for v, i in zip(let.vars, point)})
        if let.dtype == "int" and not ops.fits_int64(value):
            raise InputError(f"`{let.name}{list(point)}` = {value} does not fit in 64 bits")
        out[point] = value
    return out


def check_invariant(interp: Interpreter, inv: ir.Invariant) -> GuardResult:
    """Passed, or the first point (row-major over the invariant's vars) where the body is false."""
    for point in interp.points(inv.vars, {}):
        if not interp.eval(inv.body, point):
            return GuardResult(inv.name, False, tuple(point[v.name] for v in inv.vars))
    return GuardResult(inv.name, True, None)

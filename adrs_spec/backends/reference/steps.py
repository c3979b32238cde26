"""The reference meaning of a step block: a plain loop over its index.

At step i, in increasing order: each let of the block is computed over its own index
variables (reading the state tables as they were when the step began, and the block's
lets before it at this step), then every update is applied, point by point in row-major
order. An update at an index outside its table changes nothing. A recurrence let is a
block whose one table is the let itself, written one row per step.
"""
from __future__ import annotations

import numpy as np

from adrs_spec.lang import ir
from adrs_spec.backends.reference import ops
from adrs_spec.backends.reference.interpreter import Interpreter
from adrs_spec.errors import InputError
from adrs_spec.lang.statics import eval_static, shape_of

NUMPY_DTYPES = {"float": np.float64, "int": np.int64, "bool": np.bool_}


def run_step(spec: ir.Spec, interp: Interpreter, step: ir.Step) -> dict[str, np.ndarray]:
    """The block's state tables after the last step, and its lets at every step, by name."""
    steps = eval_static(step.var.hi, interp.statics)
    tables = {}
    for s in step.states:
        shape = tuple(eval_static(d, interp.statics) for d in s.shape)
        tables[s.name] = np.full(shape, interp.eval(s.init, {}), dtype=NUMPY_DTYPES[s.dtype])
    lets = {let.name: np.zeros(shape_of(spec.tensor(let.name), interp.statics), dtype=NUMPY_DTYPES[let.dtype])
            for let in step.lets}
    interp.tensors.update(lets)
    for i in range(steps):
        interp.tensors.update({name: table.copy() for name, table in tables.items()})   # as the step began
        at = {step.var.name: i}
        for let in step.lets:
            for point in interp.points(let.vars, at):
                value = interp.eval(let.body, point)
                _check_fits(let.name, let.dtype, value, (i, *(point[v.name] for v in let.vars)))
                lets[let.name][(i, *(point[v.name] for v in let.vars))] = value
        for u in step.updates:
            _apply(interp, u, tables[u.target], at)
    interp.tensors.update(tables)
    return {**tables, **lets}


def _apply(interp: Interpreter, u: ir.Update, table: np.ndarray, at: dict) -> None:
    for point in interp.points(u.vars, at):
        if u.where is not None and not interp.eval(u.where, point):
            continue
        index = tuple(int(interp.eval(x, point)) for x in u.indices)
        if not all(0 <= k < n for k, n in zip(index, table.shape)):
            continue                         # outside the table: changes nothing
        value = interp.eval(u.value, point)
        old = table[index].item() if table.ndim else table.item()
        if u.op == "=":
            new = value
        elif u.op == "+=":
            new = ops.binary("+", old, value, "float" if table.dtype.kind == "f" else "int", 0.0)
        else:
            new = ops.call("max" if u.op == "max=" else "min", [old, value],
                           "float" if table.dtype.kind == "f" else "int")
        _check_fits(u.target, "int" if table.dtype.kind in "iu" else "float", new, index)
        table[index] = new


def _check_fits(name: str, dtype: str, value, index) -> None:
    if dtype == "int" and not ops.fits_int64(value):
        raise InputError(f"`{name}{list(index)}` = {value} does not fit in 64 bits")

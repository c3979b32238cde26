"""The exact optimum of an objective on one tiny instance, for optimality gaps.

The instance's inputs are fixed; the outputs range over everything the invariants allow.
The objective (a metric, or an expression over metrics) need not be linear: a ratio such as
EPLB's balance compares linearly (adrs_spec.backends.z3.algebra), so the optimum is found
by bisection on its value: a valid output with value >= t exists, or none does. The search
ends within a relative `precision`, or at the timeout with a bound that says so:
- PROVED: `value` is attained by `model`, and no valid output beats it by more than the
  precision (`bound` is the proven limit);
- UNKNOWN: the time ran out; `value` is the best found, `bound` the best proven limit
  (None when none was proven);
- SKIPPED: the objective reads `runtime`, or a construct the encoding does not express.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping

import numpy as np
import z3

from adrs_spec import ir
from adrs_spec.backends.z3 import sizes
from adrs_spec.backends.z3.encode import Encoding, Skipped
from adrs_spec.backends.z3.models import extract, number
from adrs_spec.backends.z3.solve import Outcome, solve
from adrs_spec.backends.z3.verdicts import Model, Verdict
from adrs_spec.lang import operators as op
from adrs_spec.statics import bind


@dataclass(frozen=True)
class Optimum:
    direction: str                  # maximize or minimize
    verdict: Verdict
    value: float | None             # the best value a valid output attains (found)
    bound: float | None             # no valid output does better than this (proven)
    model: Model | None
    seconds: float
    reason: str = ""


def optimum(spec: ir.Spec, params: Mapping[str, int], instance: Mapping[str, np.ndarray],
            objective: ir.Objective, timeout_s: float = 30.0, precision: float = 1e-4) -> Optimum:
    """The best value of `objective` over the valid outputs for this instance."""
    start = time.perf_counter()
    deadline = start + timeout_s
    sign = 1 if objective.direction == "maximize" else -1
    env = bind(spec, params)
    try:
        enc = Encoding(spec, env, sizes.output_domain(spec, env))
        goal = enc.value(objective.expr, {})
        conditions = [enc.condition(inv).formula for inv in spec.invariants]
        fixed = _fixed(enc, instance)
    except Skipped as err:
        return Optimum(objective.direction, Verdict.SKIPPED, None, None, None, 0.0, err.what)
    solver = z3.Solver()
    solver.add(*enc.constraints, *fixed, *(z3.BoolVal(c) if isinstance(c, bool) else c for c in conditions))

    def at_least(t: float) -> Outcome | None:
        """A valid output whose objective is t or better; None when the time is up."""
        left = deadline - time.perf_counter()
        if left <= 0:
            return None
        target = op.constant(enc.m, sign * t)
        test = op.less_equal(enc.m, target, goal) if sign > 0 else op.less_equal(enc.m, goal, target)
        if isinstance(test, bool):
            return solve(solver, [], left) if test else Outcome("unsat")
        solver.push()
        try:
            solver.add(test)
            return solve(solver, [], left)
        finally:
            solver.pop()

    first = solve(solver, [], timeout_s)
    if first.status != "sat":
        verdict = Verdict.UNKNOWN if first.status == "unknown" else Verdict.PROVED
        return Optimum(objective.direction, verdict, None, None, None, time.perf_counter() - start,
                       "no valid output" if first.status == "unsat" else first.reason)
    best_model = first.model
    lo = sign * number(best_model, goal)
    hi, step = None, max(1.0, abs(lo))
    while hi is None:                       # an upper limit: double the step until none attains it
        out = at_least(lo + step)
        if out is None or out.status == "unknown":
            return _result(objective, enc, params, best_model, lo, None, start, sign)
        if out.status == "unsat":
            hi = lo + step
        else:
            best_model, lo = out.model, sign * number(out.model, goal)
            step *= 2
    while hi - lo > precision * max(1.0, abs(lo)):
        out = at_least((lo + hi) / 2)
        if out is None or out.status == "unknown":
            return _result(objective, enc, params, best_model, lo, hi, start, sign)
        if out.status == "unsat":
            hi = (lo + hi) / 2
        else:
            best_model, lo = out.model, sign * number(out.model, goal)
    return _result(objective, enc, params, best_model, lo, hi, start, sign, proved=True)


def _fixed(enc: Encoding, instance: Mapping[str, np.ndarray]) -> list:
    """The instance's fields as constraints on their variables."""
    out = []
    for v in enc.variables:
        if v.tensor not in instance:
            continue
        value = np.asarray(instance[v.tensor])[v.index]
        if v.dtype == "float":
            if not math.isfinite(float(value)):
                raise Skipped(f"a non-finite value in `{v.tensor}`", None)
            out.append(v.z3vars[0] == z3.RealVal(Fraction(float(value))))
        elif v.dtype == "bool":
            out.append(v.z3vars[0] == bool(value))
        else:
            out += [flag if int(value) == d else z3.Not(flag) for d, flag in zip(enc.domain, v.z3vars)]
    return out


def _result(objective: ir.Objective, enc: Encoding, params, model, lo: float, hi: float | None,
            start: float, sign: int, proved: bool = False) -> Optimum:
    value = sign * lo
    bound = None if hi is None else sign * hi
    found = extract(enc, model, dict(params))
    return Optimum(objective.direction, Verdict.PROVED if proved else Verdict.UNKNOWN, value, bound, found,
                   time.perf_counter() - start, "" if proved else "the time ran out: a bound, not an optimum")

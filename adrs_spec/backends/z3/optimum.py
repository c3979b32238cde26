"""The exact optimum of an objective on one tiny instance, for optimality gaps.

The instance's inputs are fixed; the outputs range over everything the invariants allow.
The search improves strictly: find a valid output, then one whose objective is better than
the best so far (compared exactly, as rationals), until none is: that last answer, unsat, is
the proof. Three things keep that proof small:
- outputs the objective does not read (EPLB's log2phy) are left out of the search with the
  invariants that mention them; each output found is then completed against every invariant
  (an output that cannot be completed is excluded and the search goes on);
- symmetries of the search problem proven by Z3 (adrs_spec.backends.z3.symmetry) are broken;
  should a completion ever fail with them in force, the search restarts without them;
- `hints` (outputs already known, such as a policy's) give a good first output.
Verdicts:
- PROVED: `value` is attained by `model`, and no valid output does better (`bound` == `value`);
- UNKNOWN: the time ran out; `value` is the best found (`bound` None: no limit was proven);
- SKIPPED: the objective reads `runtime`, or a construct the encoding does not express.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping, Sequence

import numpy as np
import z3

from adrs_spec.lang import ir
from adrs_spec.backends.z3 import sizes, symmetry
from adrs_spec.backends.z3.encode import Encoding, Skipped, as_condition
from adrs_spec.backends.z3.models import extract, holds
from adrs_spec.backends.z3.solve import solve
from adrs_spec.backends.z3.verdicts import Model, Verdict
from adrs_spec.backends.z3.values import real_term
from adrs_spec.lang import operators as op
from adrs_spec.lang.operators import Ext
from adrs_spec.lang.statics import bind


@dataclass(frozen=True)
class Optimum:
    direction: str                  # maximize or minimize
    verdict: Verdict
    value: float | None             # the best value a valid output attains (found)
    bound: float | None             # no valid output does better than this (proven)
    model: Model | None
    seconds: float
    reason: str = ""
    steps: int = 0                  # solver queries of the search
    symmetries: tuple[str, ...] = field(default=())


def optimum(spec: ir.Spec, params: Mapping[str, int], instance: Mapping[str, np.ndarray],
            objective: ir.Objective, timeout_s: float = 30.0,
            hints: Sequence[Mapping[str, np.ndarray]] = (), symmetries: bool = True,
            project: bool = True) -> Optimum:
    """The best value of `objective` over the valid outputs for this instance. `symmetries`
    and `project` (both on by default) exist to measure what each saves (bench/optimum_search.py)."""
    start = time.perf_counter()
    deadline = start + timeout_s
    try:
        problem = _Problem(spec, params, instance, objective, project)
    except Skipped as err:
        where = f" (line {err.span.line}, column {err.span.col})" if err.span else ""
        return Optimum(objective.direction, Verdict.SKIPPED, None, None, None, 0.0, err.what + where)
    found = problem.search(hints, deadline, use_symmetry=symmetries)
    if found is None:                       # a completion failed under symmetry breaking
        found = problem.search(hints, deadline, use_symmetry=False)
    status, best, steps = found
    seconds = time.perf_counter() - start
    value = None if best is None else float(best[0])
    model = None if best is None else extract(problem.enc, best[1], dict(params))
    names = tuple(s.describe() for s in problem.symmetries)
    if status == "unsat":
        if best is None:
            return Optimum(objective.direction, Verdict.PROVED, None, None, None, seconds, "no valid output", steps)
        return Optimum(objective.direction, Verdict.PROVED, value, value, model, seconds, "", steps, names)
    return Optimum(objective.direction, Verdict.UNKNOWN, value, None, model, seconds,
                   "the time ran out: the best found, not a proven optimum", steps, names)


class _Problem:
    def __init__(self, spec: ir.Spec, params, instance, objective: ir.Objective, project: bool = True):
        self.spec = spec
        self.sign = 1 if objective.direction == "maximize" else -1
        env = bind(spec, params)
        self.enc = enc = Encoding(spec, env, sizes.output_domain(spec, env))
        self.goal = enc.value(objective.expr, {})
        outputs = {t.name for t in spec.outputs()}
        read = _reads(spec, objective.expr)
        self.searched = [t.name for t in spec.outputs() if t.name in read or not project]
        base = [*enc.constraints, *_fixed(enc, instance)]
        self.full = [*base]
        self.relaxed = [*base]
        for inv in spec.invariants:
            term = as_condition(enc.condition(inv).formula)
            self.full.append(term)
            if not project or _reads(spec, inv.body) & outputs <= set(self.searched):
                self.relaxed.append(term)
        self.projected = len(self.relaxed) < len(self.full)
        self.keys = [f for v in enc.variables if v.tensor in self.searched for f in v.z3vars]
        self.symmetries: list[symmetry.Symmetry] = []

    def exact(self, model: z3.ModelRef) -> Fraction | None:
        """The objective's value under `model` as a rational (None when not finite)."""
        g = self.goal
        if any(holds(model, x) for x in (g.nan, g.pinf, g.ninf)):
            return None
        v = model.eval(real_term(g.val), model_completion=True)
        if z3.is_algebraic_value(v):
            v = v.approx(30)
        return Fraction(v.numerator_as_long(), v.denominator_as_long())

    def better(self, value: Fraction):
        """The objective strictly better than `value`."""
        target = Ext(z3.Q(value.numerator, value.denominator))
        m = self.enc.m
        return as_condition(op.less(m, target, self.goal) if self.sign > 0 else op.less(m, self.goal, target))

    def search(self, hints, deadline: float, use_symmetry: bool):
        """("unsat" | "unknown", (value, model) | None, queries); None when a completion
        failed with symmetry breaking in force."""
        full = z3.Solver()
        full.add(*self.full)
        best = None
        for hint in hints:
            model = self._attain(full, hint, deadline)
            value = None if model is None else self.exact(model)
            if value is not None and (best is None or self.sign * (value - best[0]) > 0):
                best = (value, model)
        search = z3.Solver()
        search.add(*self.relaxed)
        self.symmetries = []
        if use_symmetry:
            self.symmetries = symmetry.find(self.enc, self.searched, self.relaxed, self.goal,
                                            time.perf_counter() + 0.25 * (deadline - time.perf_counter()))
            search.add(*symmetry.breaking(self.enc, self.symmetries))
        steps = 0
        if best is not None:
            search.add(self.better(best[0]))
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return "unknown", best, steps
            out = solve(search, [], left)
            steps += 1
            if out.status != "sat":
                return out.status, best, steps
            chosen = [f if holds(out.model, f) else z3.Not(f) for f in self.keys]
            model = out.model
            if self.projected:
                done = solve(full, chosen, max(deadline - time.perf_counter(), 0.001))
                if done.status == "unknown":
                    return "unknown", best, steps
                if done.status == "unsat":
                    if self.symmetries:
                        return None
                    search.add(z3.Not(z3.And(*chosen)))
                    continue
                model = done.model
            value = self.exact(model)
            if value is None:               # not finite: exclude this output, look on
                search.add(z3.Not(z3.And(*chosen)))
                continue
            best = (value, model)
            search.add(self.better(value))

    def _attain(self, full: z3.Solver, hint: Mapping[str, np.ndarray], deadline: float):
        """A model of the full problem with the outputs fixed to `hint`; None if not valid."""
        outputs = {t.name for t in self.spec.outputs()}
        fixed = [c for v in self.enc.variables if v.tensor in hint and v.tensor in outputs
                 for c in _pin(self.enc, v, np.asarray(hint[v.tensor])[v.index])]
        out = solve(full, fixed, max(deadline - time.perf_counter(), 0.001))
        return out.model if out.status == "sat" else None


def _reads(spec: ir.Spec, e: ir.Expr) -> set[str]:
    """The tensors `e` reads, through the lets (step blocks included) and metrics it uses."""
    lets = {name: let for let in spec.lets
            for name in (let.provides() if isinstance(let, ir.Step) else (let.name,))}
    metrics = {m.name: m.expr for m in spec.metrics}
    seen: set[str] = set()
    seen_metrics: set[str] = set()
    todo = [e]
    while todo:
        x = todo.pop()
        if isinstance(x, ir.Read) and x.tensor not in seen:
            seen.add(x.tensor)
            let = lets.get(x.tensor)
            if let is not None:
                todo += ir.step_exprs(let) if isinstance(let, ir.Step) else [let.body]
        elif isinstance(x, ir.MetricRef) and x.name not in seen_metrics:
            seen_metrics.add(x.name)
            todo.append(metrics[x.name])
        todo.extend(ir.children(x))
    return seen


def _pin(enc: Encoding, v, value) -> list:
    """Constraints that fix variable `v` to `value`."""
    if v.dtype == "float":
        if not math.isfinite(float(value)):
            raise Skipped(f"a non-finite value in `{v.tensor}`", None)
        return [v.z3vars[0] == z3.RealVal(Fraction(float(value)))]
    if v.dtype == "bool":
        return [v.z3vars[0] == bool(value)]
    return [flag if int(value) == d else z3.Not(flag) for d, flag in zip(enc.domain, v.z3vars)]


def _fixed(enc: Encoding, instance: Mapping[str, np.ndarray]) -> list:
    """The instance's fields as constraints on their variables."""
    out = []
    for v in enc.variables:
        if v.tensor in instance:
            out += _pin(enc, v, np.asarray(instance[v.tensor])[v.index])
    return out

"""Z3 over a spec's params: are the `require`s satisfiable, and which tuples satisfy them.

Int params become Z3 integers bounded by their declared ranges (1 .. 2**20 when none is
declared, so divisors stay positive); other params keep their defaults; static lets are
inlined; the requires are encoded with the operator table. Every query has a timeout and
ends in a verdict: shape-shift holdouts (`shape_tuples`), the size the spec checks run at
(adrs_spec.backends.z3.sizes) and the requires check all start here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import z3

from adrs_spec.lang import ir
from adrs_spec.backends.z3.algebra import Z3Algebra
from adrs_spec.backends.z3.encode import Skipped
from adrs_spec.backends.z3.solve import solve
from adrs_spec.backends.z3.values import int_term
from adrs_spec.backends.z3.verdicts import Verdict
from adrs_spec.errors import SpecError
from adrs_spec.lang import operators as op
from adrs_spec.lang.statics import bind

TIMEOUT_S = 2.0
UNRANGED = (1, 1 << 20)


@dataclass(frozen=True)
class ShapeSearch:
    """Valid param tuples found, and how the search ended: PROVED (found at least one),
    REFUTED (no other tuple satisfies the requires), UNKNOWN (timeout), SKIPPED (a construct
    of the requires the encoding does not express; `reason` names it)."""

    verdict: Verdict
    tuples: tuple[dict[str, int], ...]
    reason: str = ""


class ParamEncoding:
    """The int params as Z3 integers (or fixed values), the statics over them, the requires."""

    def __init__(self, spec: ir.Spec, fixed: Mapping[str, int] | None = None):
        self.spec = spec
        self.m = Z3Algebra()
        self.env: dict[str, object] = {}
        self.ints: list[ir.Param] = []
        self.ranges: list[object] = []
        fixed = dict(fixed or {})
        for p in spec.params:
            if p.name in fixed:
                self.env[p.name] = fixed[p.name]
            elif p.dtype != "int":
                self.env[p.name] = op.constant(self.m, float(p.default)) if p.dtype == "float" else p.default
            else:
                v = z3.Int(p.name)
                lo, hi = (p.lo, p.hi) if p.lo is not None else UNRANGED
                self.ranges += [v >= max(lo, 1), v < hi]
                self.env[p.name] = v
                self.ints.append(p)
        for let in spec.statics:            # Skipped when a let uses what the encoding lacks
            self.env[let.name] = self.value(let.expr)
        self.requires = [(as_term(self.value(cond)), text, cond.span) for cond, text in spec.requires]

    def value(self, e: ir.Expr):
        try:
            return self._value(e)
        except op.Unsupported as err:
            raise Skipped(err.what, e.span) from None

    def _value(self, e: ir.Expr):
        if isinstance(e, ir.Const):
            return op.constant(self.m, float(e.value)) if e.dtype == "float" else e.value
        if isinstance(e, ir.Static):
            return self.env[e.name]
        if isinstance(e, ir.Unary):
            return op.unary(self.m, e.op, self.value(e.operand))
        if isinstance(e, ir.Binary):
            if e.op == "**" and isinstance(e.right, ir.Const):
                base = self.value(e.left)
                return (op.float_power if e.dtype == "float" else op.int_power)(self.m, base, e.right.value)
            return op.binary(self.m, e.op, self.value(e.left), self.value(e.right), self.spec.tolerance)
        if isinstance(e, ir.Select):
            return op.select(self.m, as_term(self.value(e.cond)), self.value(e.then), self.value(e.else_))
        if isinstance(e, ir.Call):
            return op.call(self.m, e.fn, [self.value(a) for a in e.args])
        raise Skipped(f"{type(e).__name__.lower()} in a static expression", e.span)

    def model_tuple(self, model: z3.ModelRef) -> dict[str, int]:
        return {p.name: (model.eval(self.env[p.name], model_completion=True).as_long() if p in self.ints
                         else self.env[p.name]) for p in self.spec.params if p.dtype == "int"}


def as_term(x):
    if isinstance(x, bool):
        return z3.BoolVal(x)
    if isinstance(x, z3.BoolRef):
        return x
    return int_term(x)


def shape_tuples(spec: ir.Spec, targets: list[Mapping[str, int]], fixed: Mapping[str, int] | None = None,
                 exclude: list[Mapping[str, int]] | None = None, timeout_s: float = TIMEOUT_S) -> ShapeSearch:
    """For each target, the valid int-param tuple closest to it (L1), distinct from `exclude`
    and from the tuples found before it."""
    try:
        enc = ParamEncoding(spec, fixed)
    except Skipped as err:
        return ShapeSearch(Verdict.SKIPPED, (), f"the requirements use {err.what}, which Z3 cannot search")
    found: list[dict[str, int]] = []
    gave_up = False
    for target in targets:
        point = {p.name: (fixed or {}).get(p.name, target.get(p.name, p.default))
                 for p in spec.params if p.dtype == "int"}
        if not any(_same(point, prev) for prev in [*(exclude or []), *found]) and _satisfies(spec, point):
            found.append(point)
            continue                    # the target itself is valid: distance 0, no search needed
        opt = z3.Optimize()
        opt.add(*enc.ranges, *(cond for cond, _, _ in enc.requires))
        for prev in [*(exclude or []), *found]:
            differs = [enc.env[p.name] != prev[p.name] for p in enc.ints if p.name in prev]
            opt.add(z3.Or(differs) if differs else z3.BoolVal(False))
        if enc.ints:
            opt.minimize(z3.Sum([_distance(enc.env[p.name], target.get(p.name, p.default)) for p in enc.ints]))
        outcome = solve(opt, (), timeout_s)
        if outcome.status == "sat":
            found.append(enc.model_tuple(outcome.model))
        gave_up |= outcome.status == "unknown"
    if found:
        return ShapeSearch(Verdict.PROVED, tuple(found))
    if gave_up:
        return ShapeSearch(Verdict.UNKNOWN, (), f"Z3 found no other param tuple within {timeout_s:g} s")
    return ShapeSearch(Verdict.REFUTED, (), "no other param tuple satisfies the requirements")


def _satisfies(spec: ir.Spec, values: Mapping[str, int]) -> bool:
    """Whether these params (the others at their defaults) are in range and meet every require."""
    try:
        bind(spec, values)
    except SpecError:
        return False
    return True


def _same(point: Mapping[str, int], prev: Mapping[str, int]) -> bool:
    return all(point.get(k) == v for k, v in prev.items() if k in point)


def _distance(v, target: int):
    return z3.If(v >= target, v - target, target - v)

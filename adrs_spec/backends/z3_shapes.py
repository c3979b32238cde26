"""Z3: parameter tuples that satisfy a spec's `require`s, for shape-shift holdouts.

Int params become Z3 integers bounded by their declared ranges; static lets are inlined;
each query has a timeout and ends in a list of tuples (possibly empty), never an exception.
"""
from __future__ import annotations

from typing import Mapping

import z3

from adrs_spec import ir

TIMEOUT_MS = 2000


class Unsupported(Exception):
    """A construct the encoder does not handle; the caller reports the query as skipped."""


def _encode(x: ir.Expr, env: Mapping[str, object]):
    if isinstance(x, ir.Const):
        return x.value
    if isinstance(x, ir.Static):
        return env[x.name]
    if isinstance(x, ir.Unary):
        v = _encode(x.operand, env)
        return z3.Not(v) if x.op == "not" else -v
    if isinstance(x, ir.Binary):
        a, b = _encode(x.left, env), _encode(x.right, env)
        ops = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "//": lambda: a / b,
               "%": lambda: a % b, "==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b,
               "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,
               "and": lambda: z3.And(a, b), "or": lambda: z3.Or(a, b), "implies": lambda: z3.Implies(a, b)}
        if x.op not in ops:
            raise Unsupported(f"operator `{x.op}`")
        return ops[x.op]()
    if isinstance(x, ir.Select):
        return z3.If(_encode(x.cond, env), _encode(x.then, env), _encode(x.else_, env))
    if isinstance(x, ir.Call) and x.fn in ("min", "max"):
        a, b = (_encode(arg, env) for arg in x.args)
        return z3.If(a <= b, a, b) if x.fn == "min" else z3.If(a >= b, a, b)
    raise Unsupported(type(x).__name__)


def shape_tuples(spec: ir.Spec, targets: list[Mapping[str, int]], fixed: Mapping[str, int] | None = None,
                 exclude: list[Mapping[str, int]] | None = None) -> list[dict[str, int]]:
    """For each target, the valid int-param tuple closest to it (L1), distinct from `exclude`.

    Params not int-typed keep their defaults. Divisors stay positive: every int param with a
    declared range is bounded by it, others by 1 .. 2**20.
    """
    fixed = dict(fixed or {})
    found: list[dict[str, int]] = []
    avoid = list(exclude or [])
    for target in targets:
        opt = z3.Optimize()
        opt.set("timeout", TIMEOUT_MS)
        env: dict[str, object] = {}
        ints = []
        for p in spec.params:
            if p.dtype != "int":
                env[p.name] = p.default
                continue
            if p.name in fixed:
                env[p.name] = fixed[p.name]
                continue
            v = z3.Int(p.name)
            lo, hi = (p.lo, p.hi) if p.lo is not None else (1, 1 << 20)
            opt.add(v >= max(lo, 1), v < hi)
            env[p.name] = v
            ints.append(p)
        try:
            for let in spec.statics:
                env[let.name] = _encode(let.expr, env)
            for cond, _ in spec.requires:
                opt.add(_encode(cond, env))
        except Unsupported:
            return found
        for prev in avoid + found:
            opt.add(z3.Or([env[p.name] != prev[p.name] for p in ints if p.name in prev]))
        distance = z3.Sum([z3.If(env[p.name] >= target.get(p.name, p.default),
                                 env[p.name] - target.get(p.name, p.default),
                                 target.get(p.name, p.default) - env[p.name]) for p in ints]) if ints else 0
        opt.minimize(distance)
        if opt.check() != z3.sat:
            continue
        model = opt.model()
        found.append({p.name: (model.eval(env[p.name]).as_long() if p in ints else env[p.name])
                      for p in spec.params if p.dtype == "int"})
    return found

"""The bounded size the spec checks run at, and the value domain of int outputs there.

Without `--size`, the checks use the smallest param tuple that satisfies every `require` and
still exercises the spec's structure, found with Z3:
- a batch param (the leading dimension of every field and output, never reduced over, such
  as EPLB's `layers`) is 1: more copies of an independent problem add nothing;
- a param that no shape, invariant, claim, let or metric reads (EPLB's `groups`) is as small
  as its requires allow;
- every other int param is at least 3 where its range allows (else 2): with 2 experts and
  2 replicas' worth of spare slots, structure such as "some expert may go unplaced" cannot
  show; and a require `a >= b` is preferably strict (replicas > experts, so that some
  expert gets a second replica);
then the sum of the params is minimal. An int output ranges over -2 .. M + 1, M the largest
dimension (every index, count and position, one value past each end, and -2 besides -1),
plus the small int constants the conditions compare against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import z3

from adrs_spec.lang import ir
from adrs_spec.backends.z3.encode import Skipped
from adrs_spec.backends.z3.shapes import ParamEncoding, as_term
from adrs_spec.backends.z3.solve import solve
from adrs_spec.errors import InputError
from adrs_spec.lang.statics import shape_of

MAX_CONSTANT = 64          # int constants beyond this are not added to the output domain
SMALL_CAP = 16             # the first search keeps every param at most this (or the largest given)


@dataclass(frozen=True)
class Size:
    params: dict[str, int]
    reason: str = ""             # empty when found; else why no size (SKIPPED/UNKNOWN/REFUTED)
    status: str = "found"        # found, skipped, unknown, unsat


def parse_size(text: str | None) -> dict[str, int]:
    """`experts=8,replicas=12` -> {"experts": 8, "replicas": 12}; InputError naming a bad key."""
    if not text:
        return {}
    out: dict[str, int] = {}
    for item in text.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key:
            raise InputError(f"--size: `{item.strip()}` is not `name=value`; write e.g. --size experts=8,gpus=2")
        try:
            out[key] = int(value)
        except ValueError:
            raise InputError(f"--size: `{key}` must be an integer, got `{value}`") from None
    return out


def check_size_names(spec: ir.Spec, given: Mapping[str, int]) -> None:
    """Every key an int param of the spec, every value in its declared range."""
    ints = {p.name: p for p in spec.params if p.dtype == "int"}
    for key, value in given.items():
        if key not in ints:
            raise InputError(f"--size: `{key}` is not an int param of `{spec.name}`; its int params are "
                             f"{', '.join(ints) or 'none'}")
        p = ints[key]
        if p.lo is not None and not p.lo <= value < p.hi:
            raise InputError(f"--size: `{key}` = {value} is outside its range {p.lo} .. {p.hi} (the upper end "
                             f"is excluded)")


def choose(spec: ir.Spec, given: Mapping[str, int] | None = None, timeout_s: float = 5.0) -> Size:
    """The checks' params: `given` ones fixed, the others as small as the rules above make them.

    The search looks below a small cap first (a bounded search is fast even where the
    requires multiply or divide params), then without one."""
    given = dict(given or {})
    check_size_names(spec, given)
    try:
        enc = ParamEncoding(spec, given)
    except Skipped as err:
        return Size({}, f"the requirements use {err.what}", "skipped")
    outcome = None
    for cap in (max([SMALL_CAP, *given.values()]), None):
        outcome = solve(_size_query(spec, enc, cap), (), timeout_s)
        if outcome.status == "sat":
            chosen = enc.model_tuple(outcome.model)
            return Size({p.name: chosen[p.name] for p in spec.params if p.dtype == "int"})
    if outcome.status == "unsat":
        if given:
            fixed = ", ".join(f"{k} = {v}" for k, v in given.items())
            raise InputError(f"--size {fixed}: no values of the other params meet every `require` of "
                             f"`{spec.name}`; choose a size that does")
        return Size({}, "no param tuple satisfies the requirements", "unsat")
    return Size({}, f"Z3 found no param tuple within {timeout_s:g} s", "unknown")


def _size_query(spec: ir.Spec, enc: ParamEncoding, cap: int | None) -> z3.Optimize:
    opt = z3.Optimize()
    opt.add(*enc.ranges, *(cond for cond, _, _ in enc.requires))
    roles = param_roles(spec)
    for p in enc.ints:
        v = enc.env[p.name]
        if cap is not None:
            opt.add(v <= cap)
        if roles[p.name] == "batch":
            opt.add_soft(v == 1, 10)
        elif roles[p.name] == "structure":
            opt.add_soft(v >= 2, 10)
            opt.add_soft(v >= 3, 5)
    for cond in _strict_versions(spec, enc):
        opt.add_soft(cond, 5)
    if enc.ints:
        opt.minimize(z3.Sum([enc.env[p.name] for p in enc.ints]))
    return opt


def param_roles(spec: ir.Spec) -> dict[str, str]:
    """batch, free or structure for each int param (see the module docstring)."""
    lets = {s.name: s.expr for s in spec.statics}
    outputs_and_fields = [*spec.fields(), *spec.outputs()]
    in_shapes = _params_in((d for t in spec.tensors for d in t.shape), lets)
    conditions = [x.body for x in (*spec.invariants, *spec.claims)] + ir.let_bodies(spec)
    bodies = conditions + [m.expr for m in spec.metrics]
    in_bodies = _params_in(bodies, lets)
    reduced = _params_in((bound for b in conditions for r in _reductions(b) for v in r.vars
                          for bound in (v.lo, v.hi)), lets)
    roles = {}
    for p in spec.params:
        if p.dtype != "int":
            continue
        leading = bool(outputs_and_fields) and all(
            t.shape and isinstance(t.shape[0], ir.Static) and t.shape[0].name == p.name for t in outputs_and_fields)
        if leading and p.name not in reduced and p.name not in _params_in(bodies, lets, direct_only=True):
            roles[p.name] = "batch"
        elif p.name not in in_shapes and p.name not in in_bodies:
            roles[p.name] = "free"
        else:
            roles[p.name] = "structure"
    return roles


def _reductions(e: ir.Expr):
    if isinstance(e, ir.Reduce):
        yield e
    for c in ir.children(e):
        yield from _reductions(c)


def _params_in(exprs: Iterable[ir.Expr], lets: Mapping[str, ir.Expr], direct_only: bool = False) -> set[str]:
    """Names of the params the expressions read, through static lets (outside reduction
    ranges only, with `direct_only`)."""
    out: set[str] = set()

    def walk(e: ir.Expr) -> None:
        if isinstance(e, ir.Static):
            if e.name in lets:
                walk(lets[e.name])
            else:
                out.add(e.name)
            return
        if direct_only and isinstance(e, ir.Reduce):
            for c in ([e.where] if e.where is not None else []) + [e.body]:
                walk(c)
            return
        for c in ir.children(e):
            walk(c)

    for e in exprs:
        walk(e)
    return out


def _strict_versions(spec: ir.Spec, enc: ParamEncoding) -> list:
    """`a > b` for each top-level `a >= b` of the requires (and `<` for `<=`)."""
    out = []
    for cond, _ in spec.requires:
        for part in _conjuncts(cond):
            if isinstance(part, ir.Binary) and part.op in (">=", "<="):
                strict = ir.Binary(part.op[0], part.left, part.right, "bool", part.span)
                try:
                    out.append(as_term(enc.value(strict)))
                except Skipped:
                    pass
    return out


def _conjuncts(e: ir.Expr) -> list[ir.Expr]:
    if isinstance(e, ir.Binary) and e.op == "and":
        return _conjuncts(e.left) + _conjuncts(e.right)
    return [e]


def output_domain(spec: ir.Spec, env: Mapping[str, object]) -> tuple[int, ...]:
    """The values an int output (or int field) takes in the encoding."""
    largest = max((n for t in spec.tensors for n in shape_of(t, env)), default=1)
    values = set(range(-2, largest + 2))
    bodies = [x.body for x in (*spec.invariants, *spec.claims)] + ir.let_bodies(spec)
    for e in bodies:
        for c in _int_constants(e):
            if abs(c) <= MAX_CONSTANT:
                values |= {c - 1, c, c + 1}
    return tuple(sorted(values))


def _int_constants(e: ir.Expr):
    if isinstance(e, ir.Const) and e.dtype == "int":
        yield e.value
    for c in ir.children(e):
        yield from _int_constants(c)

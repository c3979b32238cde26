"""Semantic checks of `workload` and `holdout` declarations.

A workload is a recipe run once per case: assignments (param overrides or locals, maybe
sampled from a range or a set), traces drawn from named generators, and an optional cut
(`instances w in a .. b: field = trace[w], ...`) that turns a case's traces into instances.
"""
from __future__ import annotations

from adrs_spec.lang import ir
from adrs_spec.errors import SpecError
from adrs_spec.frontend import ast
from adrs_spec.frontend.expressions import Scope, check_rank, refuse_bounded, suggest
from adrs_spec.lang.statics import StaticDivisionByZero, StaticError, eval_static


def _at_defaults(ctx, x: ir.Expr, what: str):
    """The value of `x` at the params' defaults, or None when it is not known before a case
    is drawn (a param without a default, a workload local, a zero divisor)."""
    if None in ctx.defaults.values():
        return None
    try:
        return eval_static(x, ctx.defaults)
    except (KeyError, StaticDivisionByZero):
        return None
    except StaticError as err:
        raise SpecError(f"{what} {err.reason} at the defaults", err.span, err.notes) from None


def _value(ctx, v: ast.Value, scope: Scope) -> ir.Value:
    if isinstance(v, ast.Range):
        lo, hi = ctx.exprs.check(v.lo, scope), ctx.exprs.check(v.hi, scope)
        for x in (lo, hi):
            if x.dtype == "bool":
                raise SpecError("a range bound must be a number", x.span)
        ends = _at_defaults(ctx, lo, "the range"), _at_defaults(ctx, hi, "the range")
        if None not in ends and ends[0] >= ends[1]:
            raise SpecError(f"the range {ends[0]} .. {ends[1]} is empty", v.span,
                            notes=("ranges are half-open: `a .. b` holds a and excludes b, so a must be below b",))
        return ir.Sampled(lo=lo, hi=hi, span=v.span)
    if isinstance(v, ast.SetLit):
        return ir.Sampled(choices=tuple(ctx.exprs.check(i, scope) for i in v.items), span=v.span)
    return ctx.exprs.check(v, scope)


def _check_assign(ctx, a: ast.WAssign, scope: Scope, locals_: dict) -> ir.Assign:
    value = _value(ctx, a.value, scope)
    if a.name in ctx.statics and a.name not in {p.name for p in ctx.params}:
        raise SpecError(f"`{a.name}` is a let over params and cannot be set; set the params it depends on",
                        a.name_span)
    if a.name in ctx.tensors:
        raise SpecError(f"`{a.name}` is a tensor; draw it with `trace {a.name}: ... = generator(...)`",
                        a.name_span)
    if a.name not in ctx.statics:
        locals_[a.name] = "float" if _is_float(value) else "int"
    return ir.Assign(a.name, value, a.span)


def _is_float(value: ir.Value) -> bool:
    if isinstance(value, ir.Sampled):
        parts = [value.lo, value.hi] if value.lo is not None else list(value.choices)
        return any(p.dtype == "float" for p in parts)
    return value.dtype == "float"


def _check_trace(ctx, t: ast.WTrace, scope: Scope) -> ir.Trace:
    gens = ctx.outside.generators
    if t.generator not in gens:
        raise SpecError(f"unknown generator `{t.generator}`", t.generator_span,
                        notes=suggest(t.generator, gens) or (f"generators are {', '.join(sorted(gens))}",))
    gen = gens[t.generator]
    seen = set()
    args = []
    for arg in t.args:
        if arg.name not in gen:
            raise SpecError(f"generator `{t.generator}` has no parameter `{arg.name}`", arg.name_span,
                            notes=suggest(arg.name, gen) or (f"its parameters are {', '.join(gen)}",))
        if arg.name in seen:
            raise SpecError(f"parameter `{arg.name}` is given twice", arg.name_span)
        seen.add(arg.name)
        args.append(ir.Assign(arg.name, _value(ctx, arg.value, scope), arg.span))
    check_rank(t.type)
    refuse_bounded(t.type, "a trace")
    shape = []
    for d in t.type.dims:
        x = ctx.exprs.check(d, scope)
        if x.dtype != "int":
            raise SpecError(f"a dimension must be an int, but this is {x.dtype}", d.span)
        shape.append(x)
    return ir.Trace(t.name, t.type.dtype, tuple(shape), t.generator, tuple(args), t.span)


def _check_cut(ctx, c: ast.WInstances, scope: Scope, traces: dict) -> ir.Cut:
    b = c.binder
    if b.range is None:
        raise SpecError(f"give the instances' index a range: `{b.name} in 0 .. n`", b.span)
    lo, hi = ctx.exprs.check(b.range.lo, scope), ctx.exprs.check(b.range.hi, scope)
    var = ir.IndexVar(b.name, lo, hi, b.span)
    inner = scope.bind(var)
    fields = []
    for f in c.fields:
        t = ctx.tensors.get(f.name)
        if t is None or t.kind not in ("observe", "hidden"):
            raise SpecError(f"`{f.name}` is not an instance field", f.name_span,
                            notes=suggest(f.name, [n for n, x in ctx.tensors.items() if x.kind in ("observe", "hidden")]))
        fields.append((f.name, _slice(ctx, f.expr, inner, traces)))
    _require_all_fields(ctx, [n for n, _ in fields], c.span)
    return ir.Cut(var, tuple(fields), c.span)


def _slice(ctx, e: ast.Expr, scope: Scope, traces: dict) -> ir.Read:
    """`trace[i, ...]` with leading indices only (or the whole trace by name)."""
    if isinstance(e, ast.Name) and e.name in traces:
        return ir.Read(e.name, (), traces[e.name].dtype, e.span)
    if not isinstance(e, ast.Access) or e.name not in traces:
        raise SpecError("an instance field is cut from a trace: write `field = trace[i]`", e.span,
                        notes=suggest(getattr(e, "name", ""), traces))
    t = traces[e.name]
    if len(e.indices) > len(t.shape):
        raise SpecError(f"trace `{e.name}` has {len(t.shape)} dimension(s) but is indexed with {len(e.indices)}",
                        e.span)
    idx = []
    for i in e.indices:
        x = ctx.exprs.check(i, scope)
        if x.dtype != "int":
            raise SpecError(f"an index must be an int, but this is {x.dtype}", i.span)
        idx.append(x)
    return ir.Read(e.name, tuple(idx), t.dtype, e.span)


def _require_all_fields(ctx, names, span) -> None:
    fields = [n for n, t in ctx.tensors.items() if t.kind in ("observe", "hidden")]
    missing = [n for n in fields if n not in names]
    if missing:
        raise SpecError(f"the workload does not give instance field(s) {', '.join(f'`{m}`' for m in missing)}",
                        span, notes=("every field of the instance block needs a value",))


def _check_workload(ctx, w: ast.WorkloadDecl) -> ir.Workload:
    locals_: dict[str, str] = {}
    assigns, traces, cut, cases = [], {}, None, None

    def scope():
        return ctx.scope(statics={**ctx.statics, **locals_})

    for s in w.stmts:
        if isinstance(s, ast.WAssign):
            assigns.append(_check_assign(ctx, s, scope(), locals_))
        elif isinstance(s, ast.WTrace):
            if s.name in traces or s.name in locals_:
                raise SpecError(f"`{s.name}` is defined twice in workload `{w.name}`", s.name_span)
            traces[s.name] = _check_trace(ctx, s, scope())
        elif isinstance(s, ast.WInstances):
            if cut is not None:
                raise SpecError("a second `instances` line; a workload cuts its traces once", s.span)
            cut = _check_cut(ctx, s, scope(), traces)
        elif isinstance(s, ast.WCases):
            cases = _check_cases(ctx, s)
    if not traces:
        raise SpecError(f"workload `{w.name}` draws no trace", w.name_span,
                        notes=("add `trace name: float[...] = generator(...)`",))
    if cut is None:
        for name in traces:
            t = ctx.tensors.get(name)
            if t is None or t.kind not in ("observe", "hidden"):
                raise SpecError(f"trace `{name}` is not an instance field; add an `instances` line to cut "
                                f"traces into instances", traces[name].span)
        _require_all_fields(ctx, list(traces), w.name_span)
    cases = cases if cases is not None else ir.Const(1, "int", w.name_span)
    return ir.Workload(w.name, cases, tuple(assigns), tuple(traces.values()), cut, w.span)


def _check_cases(ctx, s: ast.WCases) -> ir.Expr:
    """`cases N`: an int over params and static lets (fixed before any case is drawn)."""
    x = ctx.exprs.check(s.expr, ctx.scope())
    if x.dtype != "int":
        raise SpecError("`cases` needs an int", s.expr.span)
    count = _at_defaults(ctx, x, "`cases`")
    if count is not None and not 1 <= count <= ctx.outside.max_cases:
        raise SpecError(f"`cases` is {count}; a workload has 1 to {ctx.outside.max_cases} cases", s.expr.span)
    return x


def _check_holdout(ctx, h: ast.HoldoutDecl, workloads: dict) -> ir.Holdout:
    base = workloads.get(h.base)
    if base is None:
        raise SpecError(f"unknown workload `{h.base}`", h.base_span,
                        notes=suggest(h.base, workloads) or ("a holdout shifts a declared workload",))
    settable = {p.name for p in ctx.params} | {a.name for a in base.assigns}
    settable |= {a.name for t in base.traces for a in t.args}
    gens = ctx.outside.generators
    settable |= {n for t in base.traces for n in gens[t.generator]}
    locals_ = {a.name: "float" if _is_float(a.value) else "int" for a in base.assigns if a.name not in ctx.statics}
    overrides = []
    for item in h.items:
        if item.name not in settable:
            raise SpecError(f"holdout `{h.name}` sets `{item.name}`, which workload `{h.base}` does not have",
                            item.name_span, notes=suggest(item.name, settable) or
                            ("a holdout may set params, the workload's own names, and generator parameters",))
        overrides.append(ir.Assign(item.name, _value(ctx, item.value, ctx.scope(statics={**ctx.statics, **locals_})),
                                   item.span))
    return ir.Holdout(h.name, h.base, tuple(overrides), h.span)


def check_workloads(ctx) -> None:
    workloads = {}
    for w in ctx.of(ast.WorkloadDecl):
        workloads[w.name] = _check_workload(ctx, w)
    ctx.workloads = list(workloads.values())
    ctx.holdouts = [_check_holdout(ctx, h, workloads) for h in ctx.of(ast.HoldoutDecl)]


def workload_names(ctx) -> set:
    """Names read by workloads (the checker records reads in ctx.used as it goes)."""
    return set()

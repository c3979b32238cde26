"""Semantic checks: syntax tree -> typed IR, as small named passes over one context.

Passes, in order: declarations (duplicates, the one-of declarations), params, lets (static
or tensor, dependency order, cycles), instance and policy, requires at the defaults,
invariants, metrics, score/bounds/objectives, workloads and holdouts, unused names.
Errors raise at once (the first error is reported); unused declarations are warnings.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from typing import Callable, Mapping

from adrs_spec.lang import ir
from adrs_spec.errors import InputError, SpecError, Source, Span
from adrs_spec.frontend import ast, steps
from adrs_spec.frontend.expressions import ExprChecker, Scope, check_dims, check_rank, field_shape, refuse_bounded, suggest
from adrs_spec.frontend.parser import parse, read_source
from adrs_spec.lang.statics import StaticError, bind, eval_static

AGGREGATES = ("mean", "min", "max", "sum")
DEFAULT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Outside:
    """What checking a spec needs to know from outside the language, given by the caller
    (adrs_spec.compile): the trace generators a workload may name, each with its parameter
    names; the most cases one workload may draw; and what is wrong with an adapter file
    (`adapter_problem(path, as_written)`, None when it is one)."""

    generators: Mapping[str, tuple[str, ...]]
    max_cases: int
    adapter_problem: Callable[[str, str], str | None]


@dataclass
class Context:
    """Everything the passes share: the source, declarations by kind, and what is built so far."""

    source: Source
    tree: ast.SpecFile
    outside: Outside
    spec_decl: ast.SpecDecl | None = None
    decls: dict[str, object] = field(default_factory=dict)          # top-level name -> declaration
    params: list[ir.Param] = field(default_factory=list)
    statics: dict[str, ir.DType] = field(default_factory=dict)      # params and static lets
    static_lets: list[ir.StaticLet] = field(default_factory=list)
    defaults: dict[str, object] = field(default_factory=dict)
    tensors: dict[str, ir.Tensor] = field(default_factory=dict)
    lets: list[ir.TensorLet] = field(default_factory=list)
    policy: ir.Policy | None = None
    requires: list[tuple[ir.Expr, str]] = field(default_factory=list)
    invariants: list[ir.Invariant] = field(default_factory=list)
    claims: list[ir.Claim] = field(default_factory=list)
    metrics: dict[str, ir.Metric] = field(default_factory=dict)
    bounds: list[ir.Bound] = field(default_factory=list)
    objectives: list[ir.Objective] = field(default_factory=list)
    score: ir.Expr | None = None
    tolerance: float = DEFAULT_TOLERANCE
    workloads: list[ir.Workload] = field(default_factory=list)
    holdouts: list[ir.Holdout] = field(default_factory=list)
    adapters: list[ir.Adapter] = field(default_factory=list)
    used: set = field(default_factory=set)
    warnings: list[SpecError] = field(default_factory=list)
    exprs: ExprChecker = field(default_factory=ExprChecker)
    output_readers: set | None = None                               # see _output_readers

    def of(self, kind):
        return [d for d in self.tree.decls if isinstance(d, kind)]

    def text(self, span: Span) -> str:
        lines = self.source.text.split("\n")
        if span.line == span.end_line:
            return lines[span.line - 1][span.col - 1: span.end_col - 1]
        parts = [lines[span.line - 1][span.col - 1:]] + lines[span.line: span.end_line - 1]
        parts.append(lines[span.end_line - 1][: span.end_col - 1])
        return " ".join(p.strip() for p in parts)

    def scope(self, **kw) -> Scope:
        base = dict(statics=self.statics, defaults=self.defaults, used=self.used, decls=self.decls)
        base.update(kw)
        return Scope(**base)

    def instance_scope(self) -> Scope:
        return self.scope(tensors=self.tensors, policy_name=self.policy.name if self.policy else "")

    def metric_scope(self, context: str) -> Scope:
        return self.scope(metrics=self.metrics, allow_runtime=True, context=context,
                          policy_name=self.policy.name if self.policy else "")


@dataclass(frozen=True)
class Checked:
    spec: ir.Spec
    warnings: tuple[SpecError, ...]


# ---- pass 1: declarations ----
def collect_declarations(ctx: Context) -> None:
    if not ctx.tree.decls:
        raise SpecError("the spec is empty", Span.point(1, 1),
                        notes=("a spec starts with `spec NAME \"title\"`; see specs/eplb.adrs",))
    specs = ctx.of(ast.SpecDecl)
    first = ctx.tree.decls[0]
    if not isinstance(first, ast.SpecDecl):
        raise SpecError("a spec must start with `spec NAME \"title\"`", first.span)
    if len(specs) > 1:
        raise SpecError("a second `spec` declaration; a file holds one spec", specs[1].span)
    ctx.spec_decl = first
    for kind, what in ((ast.InstanceDecl, "`instance` block"), (ast.PolicyDecl, "`policy`"),
                       (ast.ScoreDecl, "`score`"), (ast.ToleranceDecl, "`tolerance`")):
        found = ctx.of(kind)
        if len(found) > 1:
            raise SpecError(f"a second {what}; a spec has at most one", found[1].span,
                            notes=(f"the first is at line {found[0].span.line}",))
    if not ctx.of(ast.PolicyDecl):
        raise SpecError("the spec declares no `policy`", Span.point(1, 1),
                        notes=("declare the function a policy implements: `policy name(args) -> out: int[n]`",))
    named = [d for d in ctx.tree.decls if hasattr(d, "name_span")]
    named += [item for d in ctx.of(ast.StepDecl) for item in (*d.states, *d.lets)]
    fields = [f for inst in ctx.of(ast.InstanceDecl) for f in inst.fields]
    outputs = [o for p in ctx.of(ast.PolicyDecl) for o in p.outputs]
    for d in sorted([*named, *fields, *outputs], key=lambda d: (d.name_span.line, d.name_span.col)):
        if d.name in ctx.decls:
            prev = ctx.decls[d.name]
            raise SpecError(f"`{d.name}` is declared twice", d.name_span,
                            notes=(f"the first declaration is at line {prev.name_span.line}",))
        ctx.decls[d.name] = d


# ---- pass 2: params ----
def check_params(ctx: Context) -> None:
    for p in ctx.of(ast.ParamDecl):
        default = lo = hi = None
        scope = ctx.scope()
        if p.default is not None:
            default = _constant(ctx, p.default, p.dtype, f"the default of `{p.name}`", scope)
        if p.range is not None:
            if p.dtype == "bool":
                raise SpecError("a bool param cannot have a range", p.range.span)
            lo = _constant(ctx, p.range.lo, p.dtype, "a range bound", scope)
            hi = _constant(ctx, p.range.hi, p.dtype, "a range bound", scope)
            if lo >= hi:
                raise SpecError(f"the range {lo} .. {hi} of `{p.name}` is empty", p.range.span,
                                notes=("ranges are half-open: `a .. b` holds a, a+1, ..., b-1",))
            if default is not None and not lo <= default < hi:
                raise SpecError(f"the default {default} of `{p.name}` is outside its range {lo} .. {hi}",
                                p.default.span, notes=("ranges are half-open: the upper end is excluded",))
        ctx.params.append(ir.Param(p.name, p.dtype, default, lo, hi, p.name_span))
        ctx.statics[p.name] = p.dtype
        ctx.defaults[p.name] = default


def _constant(ctx: Context, e: ast.Expr, dtype: str, what: str, scope: Scope):
    x = ctx.exprs.check(e, scope)
    if not isinstance(x, ir.Const):
        raise SpecError(f"{what} must be a literal", e.span)
    if x.dtype != dtype and not (dtype == "float" and x.dtype == "int"):
        raise SpecError(f"{what} must be {'an' if dtype == 'int' else 'a'} {dtype}, but this is {x.dtype}",
                        e.span)
    return float(x.value) if dtype == "float" else x.value


# ---- pass 3: instance fields and policy outputs (shapes over statics) ----
def check_instance(ctx: Context) -> None:
    for inst in ctx.of(ast.InstanceDecl):
        for f in inst.fields:
            lower = None
            if f.constraint is not None:
                bound_ = ctx.exprs.check(f.constraint, ctx.scope())
                lower = (f.constraint_op, bound_)
            ctx.tensors[f.name] = ir.Tensor(f.name, f.role, f.type.dtype, field_shape(ctx, f.type), f.name_span, lower)


def check_policy(ctx: Context) -> None:
    (p,) = ctx.of(ast.PolicyDecl)
    if not p.outputs:
        raise SpecError("the policy returns nothing", p.span)
    for o in p.outputs:
        ctx.tensors[o.name] = _output(ctx, o)
    for a in p.args:
        ctx.used.add(a.name)
        t = ctx.tensors.get(a.name)
        if t is not None and t.kind == "hidden":
            raise SpecError(f"the policy may not see `{a.name}`: it is `hidden` (kept for scoring)", a.span,
                            notes=("declare it `observe` if the policy should see it",))
        if t is not None and t.kind == "output":
            raise SpecError(f"`{a.name}` is an output of the policy, not an input", a.span)
        if t is None and a.name not in ctx.statics:
            candidates = [*ctx.statics, *(n for n, t in ctx.tensors.items() if t.kind == "observe")]
            raise SpecError(f"unknown policy argument `{a.name}`", a.span,
                            notes=suggest(a.name, candidates) or ("arguments are observed fields and params",))
    if len({a.name for a in p.args}) != len(p.args):
        raise SpecError("the policy names an argument twice", p.span)
    ctx.policy = ir.Policy(p.name, tuple(a.name for a in p.args), tuple(o.name for o in p.outputs), p.name_span)


def _output(ctx: Context, o: ast.OutputDecl) -> ir.Tensor:
    """A policy output; a `<= bound` dimension needs a `pad` value of the output's dtype."""
    ttype = o.type
    check_rank(ttype)
    shape = check_dims(ctx, ttype)
    bounded = tuple(axis for axis, b in enumerate(ttype.bounded) if b)
    if bounded and o.pad is None:
        raise SpecError(f"`{o.name}` has a dimension of any width up to a bound, but no `pad` value",
                        ttype.dims[bounded[0]].span,
                        notes=(f"say what fills it past the policy's width: `{o.name}: ... pad -1`",))
    if o.pad is not None and not bounded:
        raise SpecError(f"`pad` is for an output with a dimension declared `<= bound`; `{o.name}` has none",
                        o.pad.span, notes=("write the dimension as `<= bound`, or drop the `pad`",))
    pad = _pad_value(ctx, o) if bounded else None
    return ir.Tensor(o.name, "output", ttype.dtype, shape, o.name_span, bounded=bounded, pad=pad)


def _pad_value(ctx: Context, o: ast.OutputDecl):
    x = ctx.exprs.check(o.pad, ctx.scope())
    if not _is_literal(x):
        raise SpecError("a pad value must be a literal (`-1`, `0.0`, `false`)", o.pad.span)
    if x.dtype != o.type.dtype and not (o.type.dtype == "float" and x.dtype == "int"):
        raise SpecError(f"`{o.name}` holds {o.type.dtype}s, but its pad value is {'an' if x.dtype == 'int' else 'a'} "
                        f"{x.dtype}", o.pad.span)
    value = eval_static(x, {})
    return float(value) if o.type.dtype == "float" else value


def _is_literal(x: ir.Expr) -> bool:
    if isinstance(x, ir.Const):
        return True
    return isinstance(x, ir.Unary) and x.op == "-" and isinstance(x.operand, ir.Const)


# ---- pass 4: lets, in dependency order ----
def _names_in(node, out: set) -> set:
    if isinstance(node, ast.Name):
        out.add(node.name)
    elif isinstance(node, (ast.Access, ast.Call)):
        out.add(node.name)
    if hasattr(node, "__dataclass_fields__"):
        for f in node.__dataclass_fields__:
            v = getattr(node, f)
            for item in v if isinstance(v, tuple) else (v,):
                if hasattr(item, "__dataclass_fields__"):
                    _names_in(item, out)
    return out


def _let_order(ctx: Context) -> list:
    """Lets and step blocks in dependency order; a cycle is an error naming it. Iterative (a
    depth-first search with an explicit stack), so a chain of thousands of lets is no deeper
    than one. A step block is one unit: it provides its tables and lets together."""
    providers = steps.units(ctx)
    deps = {name: steps.unit_deps(d, _names_in, providers) for name, d in providers.items()}
    order: list[str] = []
    state: dict[str, str] = {}
    for root in providers:
        if state.get(root) == "done":
            continue
        state[root] = "active"
        path = [root]
        stack = [iter(deps[root])]
        while stack:
            dep = next(stack[-1], None)
            if dep is None:
                done = path.pop()
                stack.pop()
                state[done] = "done"
                order.append(done)
            elif providers[dep] is providers[path[-1]] and dep != path[-1]:
                continue                                   # within one step block
            elif state.get(dep) == "active":
                cycle = path[path.index(dep):] + [dep]
                raise SpecError(f"`{dep}` is defined in terms of itself: {' -> '.join(cycle)}",
                                providers[dep].name_span if isinstance(providers[dep], ast.LetDecl)
                                else _provided_span(providers[dep], dep), notes=_cycle_notes(dep, cycle))
            elif state.get(dep) is None:
                for sibling, d in providers.items():       # a step block is entered once, as a whole
                    if d is providers[dep] and sibling != dep:
                        state.setdefault(sibling, "active")
                state[dep] = "active"
                path.append(dep)
                stack.append(iter(deps[dep]))
    units: list = []
    for name in order:
        if providers[name] not in units:
            units.append(providers[name])
    return units


def _provided_span(d: ast.StepDecl, name: str) -> Span:
    return next(item.name_span for item in (*d.states, *d.lets) if item.name == name)


def _cycle_notes(dep: str, cycle: list[str]) -> tuple[str, ...]:
    if len(cycle) == 2:
        return (f"to carry a value along an ordered index, read earlier steps and give the value before "
                f"the first: `let {dep}[i in 0 .. n] = ... {dep}[i - 1] ... initially 0`",)
    return ("break the cycle; lets cannot be recursive",)


def _is_static_let(ctx: Context, d) -> bool:
    if not isinstance(d, ast.LetDecl) or d.binders or d.initially is not None or _has_reduction(d.expr):
        return False
    for ref in _names_in(d.expr, set()):
        decl = ctx.decls.get(ref)
        if isinstance(decl, (ast.FieldDecl, ast.OutputDecl)):
            return False
        if isinstance(decl, ast.LetDecl) and ref not in ctx.statics:
            return False
    return True


def check_static_lets(ctx: Context) -> None:
    for d in _let_order(ctx):
        if _is_static_let(ctx, d):
            x = ctx.exprs.check(d.expr, ctx.scope())
            ctx.static_lets.append(ir.StaticLet(d.name, x, x.dtype, d.name_span))
            ctx.statics[d.name] = x.dtype
            try:
                ctx.defaults[d.name] = eval_static(x, ctx.defaults) if None not in ctx.defaults.values() else None
            except StaticError as err:
                raise SpecError(f"`{d.name}` {err.reason} at the defaults", err.span, err.notes) from None


def check_tensor_lets(ctx: Context) -> None:
    for d in ctx.of(ast.StepDecl):
        if not d.states and not d.lets:
            raise SpecError("this `step` block declares nothing", d.span,
                            notes=("declare `state` tables and `let`s computed at each step",))
    for d in _let_order(ctx):
        if isinstance(d, ast.StepDecl):
            steps.check_step(ctx, d)
        elif d.initially is not None:
            steps.check_recurrence(ctx, d)
        elif d.name not in ctx.statics:
            _check_let(ctx, d)


def _check_let(ctx: Context, d: ast.LetDecl) -> None:
    scope = ctx.instance_scope()
    vars_, inner = ctx.exprs.bind_vars(d.binders, [d.expr], scope)
    for v in vars_:
        if not (isinstance(v.lo, ir.Const) and v.lo.value == 0):
            raise SpecError(f"the index `{v.name}` of a tensor let must start at 0", v.span,
                            notes=(f"write `{v.name} in 0 .. n`",))
        if _mentions_index(v.hi):
            raise SpecError(f"the range of `{v.name}` must not depend on other indices", v.span)
        reads = ir.tensors_read(v.hi)
        if reads:
            raise SpecError(f"the range of `{v.name}` reads `{reads[0]}`, which is computed per instance; the "
                            f"size of a tensor let must be known before any data", v.span,
                            notes=("a let that reduces (`sum(...)`, `max(...)`, ...) or reads a tensor is "
                                   "computed per instance; size a let with params and lets over them",))
    body = ctx.exprs.check(d.expr, inner)
    ctx.lets.append(ir.TensorLet(d.name, vars_, body, body.dtype, d.name_span))
    ctx.tensors[d.name] = ir.Tensor(d.name, "let", body.dtype, tuple(v.hi for v in vars_), d.name_span)


def _has_reduction(e) -> bool:
    if isinstance(e, (ast.Reduction, ast.Quant)):
        return True
    return any(_has_reduction(getattr(e, f)) if hasattr(getattr(e, f), "__dataclass_fields__") else
               any(_has_reduction(i) for i in getattr(e, f) if hasattr(i, "__dataclass_fields__"))
               if isinstance(getattr(e, f), tuple) else False
               for f in getattr(e, "__dataclass_fields__", {}))


def _mentions_index(x: ir.Expr) -> bool:
    if isinstance(x, ir.Index):
        return True
    return any(_mentions_index(c) for c in ir.children(x))


# ---- pass 5: requires, at the defaults ----
def check_requires(ctx: Context) -> None:
    for r in ctx.of(ast.RequireDecl):
        x = ctx.exprs.check(r.expr, ctx.scope())
        if x.dtype != "bool":
            raise SpecError(f"a `require` needs a condition, but this is {x.dtype}", r.expr.span)
        ctx.requires.append((x, ctx.text(r.expr.span)))
    missing = [p.name for p in ctx.params if p.default is None]
    if missing:
        return
    for x, text in ctx.requires:
        try:
            holds = eval_static(x, ctx.defaults)
        except StaticError as err:
            raise SpecError(f"this requirement {err.reason} at the defaults", err.span, err.notes) from None
        if not holds:
            values = ", ".join(f"{n} = {ctx.defaults[n]}" for n in sorted(_static_names(x)))
            raise SpecError(f"the defaults break this requirement ({values})", x.span,
                            notes=("change a param's default so that the requirement holds",))


def _static_names(x: ir.Expr) -> set:
    if isinstance(x, ir.Static):
        return {x.name}
    out = set()
    for c in ir.children(x):
        out |= _static_names(c)
    return out


# ---- pass 6: invariants ----
def check_invariants(ctx: Context) -> None:
    for d in ctx.of(ast.InvariantDecl):
        binders: list[ast.Binder] = []
        body = d.expr
        while isinstance(body, ast.Quant) and body.op == "forall":
            binders.extend(body.binders)
            body = body.body
        vars_, inner = ctx.exprs.bind_vars(tuple(binders), [body], ctx.instance_scope())
        x = ctx.exprs.check(body, inner)
        if x.dtype != "bool":
            raise SpecError(f"an invariant must be a condition, but this is {x.dtype}", body.span,
                            notes=("compare it, e.g. `x[i] >= 0`",))
        if not _reads_output(x, ctx) and not any(_reads_output(v.hi, ctx) for v in vars_):
            raise SpecError(f"invariant `{d.name}` does not involve the policy's outputs", d.name_span,
                            notes=("constraints on inputs and params belong in `require` or the instance block",))
        ctx.invariants.append(ir.Invariant(d.name, vars_, x, d.name_span, d.span.line))


def _reads_output(x: ir.Expr, ctx: Context) -> bool:
    """Whether `x` reads a policy output, directly or through tensor lets."""
    return any(t in _output_readers(ctx) for t in ir.tensors_read(x))


def _output_readers(ctx: Context) -> set[str]:
    """Outputs, and the tensor lets that read one (directly or through other lets): computed
    once per spec, in dependency order, so a long chain of lets costs one pass."""
    if ctx.output_readers is None:
        readers = {name for name, t in ctx.tensors.items() if t.kind == "output"}
        for let in ctx.lets:
            if isinstance(let, ir.Step):
                reads = [t for x in ir.step_exprs(let) for t in ir.tensors_read(x)]
                if any(t in readers for t in reads):
                    readers.update(let.provides())
            elif any(t in readers for t in ir.tensors_read(let.body)):
                readers.add(let.name)
        ctx.output_readers = readers
    return ctx.output_readers


# ---- pass 6b: claims (checked by Z3 only, never at run time) ----
def check_claims(ctx: Context) -> None:
    for d in ctx.of(ast.ClaimDecl):
        binders: list[ast.Binder] = []
        body = d.expr
        while isinstance(body, ast.Quant) and body.op == "forall":
            binders.extend(body.binders)
            body = body.body
        vars_, inner = ctx.exprs.bind_vars(tuple(binders), [body], ctx.instance_scope())
        x = ctx.exprs.check(body, inner)
        if x.dtype != "bool":
            raise SpecError(f"a claim must be a condition, but this is {x.dtype}", body.span,
                            notes=("compare it, e.g. `sum(p: x[p]) == n`",))
        ctx.claims.append(ir.Claim(d.name, vars_, x, d.name_span, d.span.line))


# ---- pass 7: metrics, bounds, objectives, score ----
def check_metrics(ctx: Context) -> None:
    for d in ctx.of(ast.MetricDecl):
        x = ctx.exprs.check(d.expr, ctx.instance_scope())
        if x.dtype == "bool":
            raise SpecError("a metric must be a number, but this is a bool", d.expr.span,
                            notes=("use `if c then 1 else 0`, or make it an invariant",))
        agg = d.aggregate.name if d.aggregate else "mean"
        if agg not in AGGREGATES:
            raise SpecError(f"unknown aggregate `{agg}`", d.aggregate.span,
                            notes=(f"aggregates are {', '.join(AGGREGATES)}",))
        ctx.metrics[d.name] = ir.Metric(d.name, x, agg, d.name_span)


def check_scoring(ctx: Context) -> None:
    for d in ctx.of(ast.BoundDecl):
        x = ctx.exprs.check(d.expr, ctx.metric_scope("bound"))
        if x.dtype != "bool":
            raise SpecError("a bound must be a condition over metrics, e.g. `0 <= balance <= 1`", d.expr.span)
        ctx.bounds.append(ir.Bound(x, d.span, ctx.text(d.expr.span)))
    for d in ctx.of(ast.ObjectiveDecl):
        x = ctx.exprs.check(d.expr, ctx.metric_scope("objective"))
        if x.dtype == "bool":
            raise SpecError("an objective must be a number", d.expr.span)
        ctx.objectives.append(ir.Objective(d.direction, x, d.span))
    for d in ctx.of(ast.ScoreDecl):
        x = ctx.exprs.check(d.expr, ctx.metric_scope("score"))
        if x.dtype == "bool":
            raise SpecError("the score must be a number", d.expr.span)
        ctx.score = x
    for d in ctx.of(ast.ToleranceDecl):
        x = ctx.exprs.check(d.expr, ctx.scope())
        if not isinstance(x, ir.Const) or x.dtype == "bool" or not 0 < x.value < 1:
            raise SpecError("the tolerance must be a number literal between 0 and 1, e.g. `tolerance 1e-5`",
                            d.expr.span)
        ctx.tolerance = float(x.value)


def check_unused(ctx: Context) -> None:
    """Warn about params, lets and fields that nothing reads."""
    from adrs_spec.frontend.workload_check import workload_names

    used = ctx.used | workload_names(ctx)
    for d in ctx.tree.decls:
        if isinstance(d, (ast.ParamDecl, ast.LetDecl)) and d.name not in used:
            ctx.warnings.append(SpecError(f"`{d.name}` is declared but never used", d.name_span,
                                          source=ctx.source))
    for inst in ctx.of(ast.InstanceDecl):
        for f in inst.fields:
            if f.name not in used:
                ctx.warnings.append(SpecError(f"instance field `{f.name}` is never used", f.name_span,
                                              source=ctx.source))


# ---- adapters ----
def check_adapters(ctx: Context) -> None:
    """Each adapter is a Python file next to the spec that parses and defines what an adapter
    defines; names are distinct. A missing file is a warning: the evaluator does not need it,
    and only a policy written to its interface fails (saying so) when it is missing."""
    folder = os.path.dirname(ctx.source.path or ctx.source.name)
    for d in ctx.of(ast.AdapterDecl):
        name = os.path.splitext(os.path.basename(d.path))[0]
        if not d.path.endswith(".py") or not name.isidentifier():
            raise SpecError(f"an adapter is a Python file named like a module (`prism.py`), not `{d.path}`", d.span)
        if os.path.isabs(d.path):
            raise SpecError("an adapter's path is relative to the spec's folder", d.span,
                            notes=("ship the adapter next to the spec",))
        if any(a.name == name for a in ctx.adapters):
            raise SpecError(f"a second adapter named `{name}`", d.span, notes=("adapters are named by their file",))
        path = os.path.join(folder, d.path)
        if not os.path.exists(path):
            ctx.warnings.append(SpecError(f"adapter `{name}`: no such file {d.path}; policies written to its "
                                          f"interface will not load", d.span, source=ctx.source))
            ctx.adapters.append(ir.Adapter(name, path, d.span))
            continue
        problem = ctx.outside.adapter_problem(path, d.path)
        if problem is not None:
            raise SpecError(f"adapter `{name}`: {problem}", d.span,
                            notes=("an adapter defines FUNCTION, inputs(...) and outputs(result, state); "
                                   "see README.md, `Adapters`",))
        ctx.adapters.append(ir.Adapter(name, path, d.span))


PASSES = ("collect_declarations", "check_params", "check_static_lets", "check_instance", "check_policy",
          "check_tensor_lets",
          "check_requires", "check_invariants", "check_claims", "check_metrics", "check_scoring", "check_workloads",
          "check_unused", "check_adapters")


def check(tree: ast.SpecFile, source: Source, outside: Outside) -> Checked:
    """Run every pass; raise the first SpecError, located in `source`."""
    from adrs_spec.frontend import workload_check

    ctx = Context(source, tree, outside)
    passes = {**globals(), "check_workloads": workload_check.check_workloads}
    try:
        for name in PASSES:
            passes[name](ctx)
    except SpecError as err:
        raise err.with_source(source) from None
    spec = ir.Spec(
        name=ctx.spec_decl.name, title=ctx.spec_decl.title, params=tuple(ctx.params),
        requires=tuple(ctx.requires), statics=tuple(ctx.static_lets), tensors=tuple(ctx.tensors.values()),
        policy=ctx.policy, lets=tuple(ctx.lets), invariants=tuple(ctx.invariants),
        metrics=tuple(ctx.metrics.values()), bounds=tuple(ctx.bounds), objectives=tuple(ctx.objectives),
        score=ctx.score, tolerance=ctx.tolerance, workloads=tuple(ctx.workloads),
        holdouts=tuple(ctx.holdouts), source_name=source.name,
        source_sha256=hashlib.sha256(source.text.encode()).hexdigest(), claims=tuple(ctx.claims),
        adapters=tuple(ctx.adapters))
    if None not in ctx.defaults.values():
        try:
            bind(spec)
        except SpecError as err:
            raise err.with_source(source) from None
    return Checked(spec, tuple(ctx.warnings))


@contextlib.contextmanager
def located_in(spec: ir.Spec):
    """SpecErrors raised while `spec` is used (its workloads built, its params bound) shown
    with the spec's source lines: the file is read again, and used if it is unchanged."""
    try:
        yield
    except SpecError as err:
        if err.source is None:
            with contextlib.suppress(InputError, SpecError):
                source = read_source(spec.source_name)
                if hashlib.sha256(source.text.encode()).hexdigest() == spec.source_sha256:
                    err.with_source(source)
        raise

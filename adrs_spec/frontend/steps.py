"""State through a sequence: `step` blocks and recurrence lets, syntax tree -> `ir.Step`.

A `step i in 0 .. n { ... }` block declares state tables, lets computed at each step and
updates applied at the end of each step. A `let x[i in 0 .. n, ...] = body initially v`
reads itself at earlier steps along its first index; it becomes a step block whose one
state table is `x` itself, filled row by row. Every read of `x` in its body must be
provably earlier than `i` (`x[i - 1]`, or `x[k]` with `k in 0 .. i`); a read before the
first row is `v`. Both forms take part in the dependency order of lets as one unit.
"""
from __future__ import annotations

from adrs_spec.lang import ir
from adrs_spec.errors import SpecError, Span
from adrs_spec.frontend import ast
from adrs_spec.frontend.expressions import field_shape, refuse_bounded



# ---- checking a step block ----
def check_step(ctx, d: ast.StepDecl) -> None:
    """Add the step block `d` to ctx.lets and its tables and lets to ctx.tensors."""
    scope = ctx.instance_scope()
    var = _step_var(ctx, d.binder, scope)
    states = tuple(_state(ctx, s) for s in d.states)
    inner_tensors = dict(ctx.tensors)
    for s in states:
        inner_tensors[s.name] = ir.Tensor(s.name, "let", s.dtype, s.shape, s.span)
    step_scope = ctx.instance_scope()
    step_scope.tensors = inner_tensors
    step_scope = step_scope.bind(var)
    lets: list[ir.TensorLet] = []
    own: set[str] = set()
    for let_decl in d.lets:
        if let_decl.initially is not None:
            raise SpecError("a let inside a `step` block is computed at every step; `initially` belongs to "
                            "a recurrence let outside a block", let_decl.initially.span,
                            notes=("keep values across steps in a `state` table",))
        vars_, inner = ctx.exprs.bind_vars(let_decl.binders, [let_decl.expr], step_scope)
        _check_let_vars(vars_)
        body = _at_step(ctx.exprs.check(let_decl.expr, inner), own, var)
        lets.append(ir.TensorLet(let_decl.name, vars_, body, body.dtype, let_decl.name_span))
        inner_tensors[let_decl.name] = ir.Tensor(let_decl.name, "let", body.dtype, tuple(v.hi for v in vars_),
                                                 let_decl.name_span)
        own.add(let_decl.name)
    updates = tuple(_update(ctx, u, states, step_scope, own, var) for u in d.updates)
    if not d.states and not d.lets:
        raise SpecError("this `step` block declares nothing", d.span,
                        notes=("declare `state` tables and `let`s computed at each step",))
    ctx.lets.append(ir.Step(var, states, tuple(lets), updates, d.span))
    for s in states:
        ctx.tensors[s.name] = ir.Tensor(s.name, "let", s.dtype, s.shape, s.span)
    for let in lets:
        ctx.tensors[let.name] = ir.Tensor(let.name, "let", let.dtype, (var.hi, *(v.hi for v in let.vars)),
                                          let.span)


def _step_var(ctx, b: ast.Binder, scope) -> ir.IndexVar:
    if b.range is None:
        raise SpecError(f"give the step index a range: `step {b.name} in 0 .. n`", b.span)
    (var,), _ = ctx.exprs.bind_vars((b,), [], scope)
    if not (isinstance(var.lo, ir.Const) and var.lo.value == 0):
        raise SpecError(f"the step index `{b.name}` must start at 0", b.range.lo.span,
                        notes=(f"write `{b.name} in 0 .. n` and shift inside the block",))
    _check_static_size(var.hi, b.name, b.span)
    return var


def _check_static_size(hi: ir.Expr, name: str, span: Span) -> None:
    if _mentions_index(hi) or ir.tensors_read(hi):
        raise SpecError(f"the range of `{name}` must be known before any data (params and lets over them)",
                        span)


def _check_let_vars(vars_) -> None:
    for v in vars_:
        if not (isinstance(v.lo, ir.Const) and v.lo.value == 0):
            raise SpecError(f"the index `{v.name}` of a tensor let must start at 0", v.span,
                            notes=(f"write `{v.name} in 0 .. n`",))
        _check_static_size(v.hi, v.name, v.span)


def _state(ctx, s: ast.StateDecl) -> ir.StateVar:
    refuse_bounded(s.type, "a state table")
    shape = field_shape(ctx, s.type)
    init = ctx.exprs.check(s.init, ctx.scope())
    return ir.StateVar(s.name, s.type.dtype, shape, _converted(init, s.type.dtype, "the initial value"), s.name_span)


def _converted(x: ir.Expr, dtype: str, what: str) -> ir.Expr:
    if x.dtype == dtype:
        return x
    if dtype == "float" and x.dtype == "int":
        return ir.Call("float", (x,), "float", x.span)
    raise SpecError(f"{what} is {'an' if x.dtype == 'int' else 'a'} {x.dtype}, but the table holds "
                    f"{dtype}s", x.span, notes=("convert it with `int(...)` or `float(...)`",))


def _update(ctx, u: ast.Update, states, scope, own: set[str], step: ir.IndexVar) -> ir.Update:
    table = next((s for s in states if s.name == u.target), None)
    if table is None:
        known = ", ".join(f"`{s.name}`" for s in states) or "none"
        raise SpecError(f"`{u.target}` is not a state table of this step; an update changes one "
                        f"(this block's are {known})", u.target_span,
                        notes=("declare it in the block: `state name: int[n] = 0`",))
    if len(u.indices) != len(table.shape):
        raise SpecError(f"`{u.target}` has {len(table.shape)} dimension(s) but is updated with "
                        f"{len(u.indices)} index(es)", u.span)
    vars_, inner = ctx.exprs.bind_vars(u.binders, [*u.indices, u.value] + ([u.where] if u.where else []), scope)
    indices = []
    for idx in u.indices:
        x = ctx.exprs.check(idx, inner)
        if x.dtype != "int":
            raise SpecError(f"an index must be an int, but this is {x.dtype}", idx.span)
        indices.append(_at_step(x, own, step))
    value = _at_step(ctx.exprs.check(u.value, inner), own, step)
    value = _converted(value, table.dtype, "the value")
    if table.dtype == "bool" and u.op != "=":
        raise SpecError(f"`{u.op}` needs a number table, but `{u.target}` holds bools", u.op_span)
    where = None
    if u.where is not None:
        where = _at_step(ctx.exprs.check(u.where, inner), own, step)
        if where.dtype != "bool":
            raise SpecError(f"a `where` filter must be a condition, but this is {where.dtype}", u.where.span)
    if u.op == "=":
        direct = {x.name for x in indices if isinstance(x, ir.Index)}
        for v in vars_:
            if v.name not in direct:
                raise SpecError(f"`=` for several points must write distinct elements: index the table with "
                                f"`{v.name}` itself", v.span,
                                notes=("combine the values of several points with `max=`, `min=` or `+=`",))
    return ir.Update(u.target, tuple(indices), u.op, value, vars_, where, u.span)


def _at_step(e: ir.Expr, names: set[str], step: ir.IndexVar) -> ir.Expr:
    """`e` with every read of the step's own lets put at the current step: `start` -> start[i]."""
    if not names:
        return e
    return _map(e, lambda x: ir.Read(x.tensor, (ir.Index(step.name, x.span), *x.indices), x.dtype, x.span)
                if isinstance(x, ir.Read) and x.tensor in names else None)


def _map(e: ir.Expr, fn) -> ir.Expr:
    """Rebuild `e` bottom-up, replacing each node `fn` returns a value for (children first)."""
    from dataclasses import fields, replace

    changes = {}
    for f in fields(e):
        v = getattr(e, f.name)
        if isinstance(v, tuple) and v and all(_is_expr(x) or isinstance(x, ir.IndexVar) for x in v):
            new = tuple(_map_var(x, fn) if isinstance(x, ir.IndexVar) else _map(x, fn) for x in v)
            if new != v:
                changes[f.name] = new
        elif _is_expr(v) and f.name != "span":
            new = _map(v, fn)
            if new is not v:
                changes[f.name] = new
    out = replace(e, **changes) if changes else e
    mapped = fn(out)
    return mapped if mapped is not None else out


def _map_var(v: ir.IndexVar, fn) -> ir.IndexVar:
    return ir.IndexVar(v.name, _map(v.lo, fn), _map(v.hi, fn), v.span)


def _is_expr(x) -> bool:
    return isinstance(x, (ir.Const, ir.Static, ir.Index, ir.Read, ir.Unary, ir.Binary, ir.Select, ir.Call,
                          ir.Reduce, ir.MetricRef, ir.Runtime))


def _mentions_index(x: ir.Expr) -> bool:
    if isinstance(x, ir.Index):
        return True
    return any(_mentions_index(c) for c in ir.children(x))


# ---- recurrence lets ----
def check_recurrence(ctx, d: ast.LetDecl) -> None:
    """`let x[i in 0 .. n, ...] = body initially v`: a step block over i with one table, x."""
    if not d.binders:
        raise SpecError(f"a recurrence runs along an index: declare one, e.g. `let {d.name}[i in 0 .. n] = ...`",
                        d.name_span)
    scope = ctx.instance_scope()
    vars_, inner = ctx.exprs.bind_vars(d.binders, [d.expr], scope)
    _check_let_vars(vars_)
    init = ctx.exprs.check(d.initially, ctx.scope())
    # The body is checked with `x` typed as its initial value, and again as a float if the
    # body turns out to be one (an int recurrence stays int).
    shape = tuple(v.hi for v in vars_)
    probe = dict(ctx.tensors)
    inner.tensors = probe
    dtype, body = init.dtype, None
    for _ in range(2):
        probe[d.name] = ir.Tensor(d.name, "recurrence", dtype, shape, d.name_span)
        body = ctx.exprs.check(d.expr, inner)
        if body.dtype == dtype or not (body.dtype == "float" and dtype == "int"):
            break
        dtype = "float"
    if body.dtype != dtype:
        body = _converted(body, dtype, "the body")
    init = _converted(init, dtype, "the initial value")
    step = vars_[0]
    _check_earlier(body, d.name, step, {v.name: v for v in vars_[1:]})
    before = _map(body, lambda x: ir.Select(ir.Binary("<", x.indices[0], ir.Const(0, "int", x.span), "bool", x.span),
                                            init, x, x.dtype, x.span)
                  if isinstance(x, ir.Read) and x.tensor == d.name else None)
    update = ir.Update(d.name, tuple(ir.Index(v.name, v.span) for v in vars_), "=", before, vars_[1:], None,
                       d.span)
    table = ir.StateVar(d.name, dtype, shape, init, d.name_span)
    ctx.lets.append(ir.Step(step, (table,), (), (update,), d.span, recurrence=d.name))
    ctx.tensors[d.name] = ir.Tensor(d.name, "let", dtype, shape, d.name_span)


def _check_earlier(e: ir.Expr, name: str, step: ir.IndexVar, outer: dict) -> None:
    """Every read of `name` in `e` is at a step provably before `step` (by the ranges of the
    indices bound around the read); a located error otherwise."""
    if isinstance(e, ir.Reduce):
        bound = dict(outer)
        for v in e.vars:
            _check_earlier(v.lo, name, step, bound)
            _check_earlier(v.hi, name, step, bound)
            bound[v.name] = v
        for c in ((e.where,) if e.where is not None else ()) + (e.body,):
            _check_earlier(c, name, step, bound)
        return
    if isinstance(e, ir.Read) and e.tensor == name:
        position = e.indices[0]
        most = _upper(position, outer, 0)
        if most is None or set(most) - {"", step.name} or most.get(step.name, 0) != 1 or most.get("", 0) > -1:
            raise SpecError(f"`{name}` may read step `{_text(position)}` here, which is not before `{step.name}`: "
                            f"a recurrence reads only earlier steps", position.span,
                            notes=(f"read `{name}[{step.name} - 1, ...]`, or `{name}[k, ...]` with "
                                   f"`k in 0 .. {step.name}`",))
    for c in ir.children(e):
        _check_earlier(c, name, step, outer)


Linear = dict  # name -> coefficient; "" -> the constant


def _upper(e: ir.Expr, bound: dict, depth: int) -> Linear | None:
    """The largest value `e` can take, as a linear form in the step index and statics, with each
    reduction index replaced by the end of its range (or its start, where its coefficient is
    negative); None when `e` is not linear in its indices."""
    form = _linear(e)
    if form is None or depth > 16:
        return None
    out: Linear = {}
    for key, c in form.items():
        if key in bound:
            v = bound[key]
            limit = _upper(ir.Binary("-", v.hi, ir.Const(1, "int", v.span), "int", v.span), bound, depth + 1) \
                if c > 0 else _lower(v.lo, bound, depth + 1)
            if limit is None:
                return None
            for k2, c2 in limit.items():
                out[k2] = out.get(k2, 0) + c * c2
        else:
            out[key] = out.get(key, 0) + c
    return {k: c for k, c in out.items() if c or k == ""}


def _lower(e: ir.Expr, bound: dict, depth: int) -> Linear | None:
    neg = _upper(ir.Unary("-", e, "int", e.span), bound, depth)
    return None if neg is None else {k: -c for k, c in neg.items()}


def _linear(e: ir.Expr) -> Linear | None:
    if isinstance(e, ir.Const) and e.dtype == "int":
        return {"": e.value}
    if isinstance(e, ir.Index):
        return {e.name: 1}
    if isinstance(e, ir.Static) and e.dtype == "int":
        return {"$" + e.name: 1}
    if isinstance(e, ir.Unary) and e.op == "-":
        inner = _linear(e.operand)
        return None if inner is None else {k: -c for k, c in inner.items()}
    if isinstance(e, ir.Binary) and e.op in ("+", "-"):
        a, b = _linear(e.left), _linear(e.right)
        if a is None or b is None:
            return None
        sign = 1 if e.op == "+" else -1
        out = dict(a)
        for k, c in b.items():
            out[k] = out.get(k, 0) + sign * c
        return out
    if isinstance(e, ir.Binary) and e.op == "*":
        a, b = _linear(e.left), _linear(e.right)
        if a is None or b is None:
            return None
        for x, y in ((a, b), (b, a)):
            if set(x) <= {""}:
                return {k: x.get("", 0) * c for k, c in y.items()}
    return None


def _text(e: ir.Expr) -> str:
    from adrs_spec.lang.text import spec_text

    return spec_text(e)


# ---- order of lets and step blocks ----
def units(ctx) -> dict[str, object]:
    """Every computed name -> the declaration that computes it (a let or a whole step block)."""
    out: dict[str, object] = {}
    for d in ctx.tree.decls:
        if isinstance(d, ast.LetDecl):
            out[d.name] = d
        elif isinstance(d, ast.StepDecl):
            for item in (*d.states, *d.lets):
                out[item.name] = d
    return out


def unit_deps(d, names_in, providers: dict) -> list[str]:
    """The names of other units `d` reads."""
    if isinstance(d, ast.LetDecl):
        found = names_in(d.expr, set())
        if d.initially is not None:
            found = names_in(d.initially, found)
            found.discard(d.name)                  # a recurrence reads itself at earlier steps
        return sorted(found & providers.keys())
    own = {item.name for item in (*d.states, *d.lets)}
    found = names_in(d, set())
    return sorted((found & providers.keys()) - own)

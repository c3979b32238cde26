"""Expressions: syntax tree -> typed IR, with names resolved and index domains inferred.

A `Scope` says which names an expression may use: statics always; tensors in instance
expressions; metrics and `runtime` in score/bound/objective expressions; and the index
variables bound around it. Index variables bound without a range (`forall l, p: ...`,
`count(p: ...)`) take the range of the first tensor dimension they index directly.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from adrs_spec.lang import ir
from adrs_spec.errors import SpecError, Span
from adrs_spec.frontend import ast
from adrs_spec.lang.statics import NotStatic, StaticDivisionByZero, eval_static

NUMERIC = ("int", "float")
# The most dimensions a tensor may have, and the most index variables bound at one point
# of an expression: each is an axis of the arrays the evaluators build, and numpy arrays
# have at most 32 (numpy 1.x) or 64 axes, the batch axis included. Real specs use 2 to 4.
MAX_RANK = 16
MAX_INDICES = 16


def suggest(name: str, candidates) -> tuple[str, ...]:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return (f"did you mean `{close[0]}`?",) if close else ()


@dataclass
class Scope:
    """Names visible to an expression. `tensors` maps names to their IR declarations."""

    statics: Mapping[str, ir.DType]
    tensors: Mapping[str, ir.Tensor] = field(default_factory=dict)
    metrics: Mapping[str, ir.Metric] = field(default_factory=dict)
    allow_runtime: bool = False
    policy_name: str = ""
    indices: Mapping[str, ir.IndexVar] = field(default_factory=dict)
    defaults: Mapping[str, object] = field(default_factory=dict)   # static values at the defaults
    used: set = field(default_factory=set)                          # every name read, for warnings
    context: str = "here"                                           # "in a score", for messages
    decls: Mapping[str, object] = field(default_factory=dict)       # every top-level declaration

    @property
    def static(self) -> bool:
        """Whether the expression must have a value before any data: params, static lets,
        sizes, ranges, requirements, workload values."""
        return not self.tensors and not self.metrics and self.context == "here"

    def bind(self, var: ir.IndexVar) -> "Scope":
        return replace(self, indices={**self.indices, var.name: var})

    def visible(self) -> list[str]:
        return [*self.statics, *self.tensors, *self.metrics, *self.indices,
                *(["runtime"] if self.allow_runtime else [])]


def check_rank(ttype: ast.TensorType) -> None:
    if len(ttype.dims) > MAX_RANK:
        raise SpecError(f"a tensor of {len(ttype.dims)} dimensions; the limit is {MAX_RANK}", ttype.span,
                        notes=("each dimension is an axis of the evaluators' arrays",))


def refuse_bounded(ttype: ast.TensorType, what: str) -> None:
    """`<= bound` dimensions are for policy outputs only."""
    if any(ttype.bounded):
        axis = ttype.bounded.index(True)
        raise SpecError(f"{what} has exact dimensions; `<= bound` is for policy outputs", ttype.dims[axis].span,
                        notes=("drop the `<=`",))


def _promote(x: ir.Expr, dtype: ir.DType) -> ir.Expr:
    if x.dtype == dtype:
        return x
    return ir.Call("float", (x,), "float", x.span)


def _require(x: ir.Expr, allowed: tuple[str, ...], what: str) -> None:
    if x.dtype not in allowed:
        words = " or ".join(allowed)
        raise SpecError(f"{what} needs {words} operands, but this is {x.dtype}", x.span)


class ExprChecker:
    """Turns one AST expression into IR under a scope."""

    def __init__(self, tolerance_known: bool = True):
        self.tolerance_known = tolerance_known

    def check(self, e: ast.Expr, scope: Scope) -> ir.Expr:
        method: Callable = getattr(self, "_" + type(e).__name__.lower())
        return method(e, scope)

    # ---- leaves ----
    def _intlit(self, e: ast.IntLit, scope: Scope) -> ir.Expr:
        return ir.Const(e.value, "int", e.span)

    def _floatlit(self, e: ast.FloatLit, scope: Scope) -> ir.Expr:
        return ir.Const(e.value, "float", e.span)

    def _boollit(self, e: ast.BoolLit, scope: Scope) -> ir.Expr:
        return ir.Const(e.value, "bool", e.span)

    def _name(self, e: ast.Name, scope: Scope) -> ir.Expr:
        n = e.name
        scope.used.add(n)
        if n in scope.indices:
            return ir.Index(n, e.span)
        if n in scope.statics:
            return ir.Static(n, scope.statics[n], e.span)
        if n in scope.tensors:
            t = scope.tensors[n]
            if not t.shape:
                return ir.Read(n, (), t.dtype, e.span)
            dims = ", ".join("_" for _ in t.shape)
            raise SpecError(f"`{n}` is a tensor with {len(t.shape)} dimension(s); index it, e.g. `{n}[{dims}]`",
                            e.span)
        if n in scope.metrics:
            return ir.MetricRef(n, e.span)
        if n == "runtime" and scope.allow_runtime:
            return ir.Runtime(e.span)
        raise self._unknown(n, e.span, scope)

    def _unknown(self, name: str, span: Span, scope: Scope) -> SpecError:
        decl = scope.decls.get(name)
        if scope.static and isinstance(decl, (ast.LetDecl, ast.FieldDecl, ast.OutputDecl)):
            kind = {ast.LetDecl: "a let computed per instance", ast.FieldDecl: "an instance field",
                    ast.OutputDecl: "a policy output"}[type(decl)]
            notes = ("a let that reduces (`sum(...)`, `max(...)`, ...) or reads a tensor is computed per "
                     "instance",) if isinstance(decl, ast.LetDecl) else ()
            return SpecError(f"`{name}` is {kind}, but this needs a value known before any data "
                             f"(params and lets over them)", span, notes)
        notes = suggest(name, scope.visible())
        if name == "runtime":
            notes = ("`runtime` is measured per policy run; use it in `objective`, `bound` or `score`",)
        return SpecError(f"unknown name `{name}`", span, notes)

    # ---- tensors ----
    def _access(self, e: ast.Access, scope: Scope) -> ir.Expr:
        n = e.name
        scope.used.add(n)
        if n not in scope.tensors:
            if n in scope.statics or n in scope.indices:
                raise SpecError(f"`{n}` is a scalar and cannot be indexed", e.name_span)
            if n in scope.metrics:
                raise SpecError(f"`{n}` is a metric (one number per instance) and cannot be indexed", e.name_span)
            raise self._unknown(n, e.name_span, scope)
        t = scope.tensors[n]
        if len(e.indices) != len(t.shape):
            raise SpecError(f"`{n}` has {len(t.shape)} dimension(s) but is indexed with {len(e.indices)}",
                            e.span, notes=(f"`{n}` is declared at line {t.span.line}",))
        indices = []
        for dim, idx in enumerate(e.indices):
            x = self.check(idx, scope)
            if x.dtype != "int":
                raise SpecError(f"an index must be an int, but this is {x.dtype}", idx.span,
                                notes=("use `int(x)` to truncate a float",) if x.dtype == "float" else ())
            if isinstance(x, ir.Index):
                self._check_domain(scope.indices[x.name], t, dim, idx.span, scope)
            indices.append(x)
        return ir.Read(n, tuple(indices), t.dtype, e.span)

    def _check_domain(self, var: ir.IndexVar, t: ir.Tensor, dim: int, span: Span, scope: Scope) -> None:
        """An index variable that indexes a dimension directly must stay inside it (at the defaults).

        A range that depends on enclosing indices (`p in g * slots .. (g + 1) * slots`) is
        checked at every corner of those indices' domains.
        """
        try:
            size = eval_static(t.shape[dim], scope.defaults)
            corners = _corners(var, scope)
            bounds = [(eval_static(var.lo, env), eval_static(var.hi, env)) for env in corners]
        except (KeyError, TypeError, StaticDivisionByZero, NotStatic):
            return  # not static at the defaults: nothing to compare
        if size is None or any(None in b for b in bounds):
            return  # a param without a default
        for lo, hi in bounds:
            if t.kind == "recurrence" and dim == 0:
                lo = max(lo, 0)      # a recurrence's steps before the first read its initial value
            if lo < hi and (lo < 0 or hi > size):
                raise SpecError(f"index `{var.name}` ranges over {lo} .. {hi}, but dimension {dim + 1} of "
                                f"`{t.name}` has size {size}", span,
                                notes=(f"`{var.name}` is bound at line {var.span.line}, column {var.span.col}",))

    # ---- operators ----
    def _unop(self, e: ast.UnOp, scope: Scope) -> ir.Expr:
        x = self.check(e.operand, scope)
        if e.op == "not":
            _require(x, ("bool",), "`not`")
            return ir.Unary("not", x, "bool", e.span)
        _require(x, NUMERIC, "negation")
        if isinstance(x, ir.Const):
            return ir.Const(-x.value, x.dtype, e.span)
        return ir.Unary("-", x, x.dtype, e.span)

    def _binop(self, e: ast.BinOp, scope: Scope) -> ir.Expr:
        a, b = self.check(e.left, scope), self.check(e.right, scope)
        if e.op in ir.LOGIC_OPS:
            for x in (a, b):
                _require(x, ("bool",), f"`{e.op}`")
            return ir.Binary(e.op, a, b, "bool", e.span)
        for x in (a, b):
            if x.dtype == "bool":
                raise SpecError(f"`{e.op}` needs numbers, but this is a bool", x.span,
                                notes=("use `if c then 1 else 0` to count a condition",))
        if e.op == "/" and a.dtype == "int" and b.dtype == "int":
            raise SpecError("`/` divides floats, but both sides are ints", e.op_span,
                            notes=("use `//` for floor division, or `float(a) / b` for a float result",))
        if e.op in ("//", "%") and "float" in (a.dtype, b.dtype):
            raise SpecError(f"`{e.op}` is integer arithmetic, but an operand is a float", e.op_span,
                            notes=("use `floor(a / b)` for floats",))
        dtype = "float" if "float" in (a.dtype, b.dtype) or e.op == "/" else "int"
        return ir.Binary(e.op, _promote(a, dtype), _promote(b, dtype), dtype, e.span)

    def _compare(self, e: ast.Compare, scope: Scope) -> ir.Expr:
        operands = [self.check(o, scope) for o in e.operands]
        result: ir.Expr | None = None
        for i, op in enumerate(e.ops):
            a, b = operands[i], operands[i + 1]
            if op in ("==", "!=") and a.dtype == b.dtype == "bool":
                pair = ir.Binary(op, a, b, "bool", e.span)
            else:
                for x in (a, b):
                    if x.dtype == "bool":
                        raise SpecError(f"`{op}` compares numbers, but this is a bool", x.span)
                if op == "~=" and a.dtype == b.dtype == "int":
                    raise SpecError("`~=` is approximate equality for floats; use `==` for ints", e.op_spans[i])
                dtype = "float" if "float" in (a.dtype, b.dtype) else "int"
                pair = ir.Binary(op, _promote(a, dtype), _promote(b, dtype), "bool",
                                 e.operands[i].span.merge(e.operands[i + 1].span))
            result = pair if result is None else ir.Binary("and", result, pair, "bool", e.span)
        return result

    def _cond(self, e: ast.Cond, scope: Scope) -> ir.Expr:
        c = self.check(e.cond, scope)
        _require(c, ("bool",), "the condition of `if`")
        a, b = self.check(e.then, scope), self.check(e.else_, scope)
        if a.dtype != b.dtype:
            if {a.dtype, b.dtype} == {"int", "float"}:
                return ir.Select(c, _promote(a, "float"), _promote(b, "float"), "float", e.span)
            raise SpecError(f"the branches of `if` have different types: {a.dtype} and {b.dtype}", e.span)
        return ir.Select(c, a, b, a.dtype, e.span)

    def _call(self, e: ast.Call, scope: Scope) -> ir.Expr:
        n = e.name
        if n == "runtime":
            if not scope.allow_runtime:
                raise SpecError("`runtime(...)` is measured per policy run; use it in `objective`, `bound` "
                                "or `score`", e.span)
            if len(e.args) != 1 or not isinstance(e.args[0], ast.Name) or e.args[0].name != scope.policy_name:
                raise SpecError(f"`runtime` takes the policy's name: `runtime({scope.policy_name})`", e.span)
            return ir.Runtime(e.span)
        if n not in ir.FUNCTIONS:
            known = [*ir.FUNCTIONS, *ir.REDUCE_OPS, "runtime"]
            if n in ir.REDUCE_OPS:
                raise SpecError(f"`{n}` is a reduction: write `{n}(i: body)` or `{n}(i in a .. b: body)`", e.span)
            raise SpecError(f"unknown function `{n}`", e.name_span, suggest(n, known))
        arity = ir.FUNCTIONS[n]
        if len(e.args) != arity:
            raise SpecError(f"`{n}` takes {arity} argument(s), got {len(e.args)}", e.span)
        args = [self.check(a, scope) for a in e.args]
        for a in args:
            if a.dtype == "bool":
                raise SpecError(f"`{n}` needs numbers, but this is a bool", a.span)
        if n in ("sqrt", "exp", "log", "float"):
            return ir.Call(n, (_promote(args[0], "float"),), "float", e.span)
        if n in ("floor", "ceil", "int"):
            return ir.Call(n, tuple(args), "int", e.span)
        dtype = "float" if any(a.dtype == "float" for a in args) else "int"
        return ir.Call(n, tuple(_promote(a, dtype) for a in args), dtype, e.span)

    # ---- binders and reductions ----
    def bind_vars(self, binders: tuple[ast.Binder, ...], uses: list[ast.Expr], scope: Scope
                  ) -> tuple[tuple[ir.IndexVar, ...], Scope]:
        """Bind index variables in order; a variable without a range takes one from its first use."""
        out = []
        for b in binders:
            if len(scope.indices) >= MAX_INDICES:
                raise SpecError(f"more than {MAX_INDICES} index variables are bound here", b.span,
                                notes=(f"each bound index is an axis of the evaluators' arrays; at most "
                                       f"{MAX_INDICES} may be bound at once",))
            if b.name in scope.indices:
                raise SpecError(f"index `{b.name}` is already bound by an enclosing expression", b.span,
                                notes=("use another name for the inner index",))
            if b.name in scope.statics or b.name in scope.tensors:
                raise SpecError(f"index `{b.name}` hides the declaration of `{b.name}`", b.span,
                                notes=("use another name for the index",))
            if b.range is not None:
                lo, hi = self.check(b.range.lo, scope), self.check(b.range.hi, scope)
                for x in (lo, hi):
                    if x.dtype != "int":
                        raise SpecError(f"a range bound must be an int, but this is {x.dtype}", x.span)
                var = ir.IndexVar(b.name, lo, hi, b.span)
                self._check_nonempty(var, b, scope)
            else:
                var = self._infer_domain(b, uses, scope)
            out.append(var)
            scope = scope.bind(var)
        return tuple(out), scope

    def _check_nonempty(self, var: ir.IndexVar, b: ast.Binder, scope: Scope) -> None:
        try:
            lo, hi = eval_static(var.lo, scope.defaults), eval_static(var.hi, scope.defaults)
        except (KeyError, TypeError, StaticDivisionByZero, NotStatic):
            return
        if lo is None or hi is None:
            return  # a param without a default
        if lo >= hi:
            raise SpecError(f"the range {lo} .. {hi} of `{b.name}` is empty at the defaults", b.range.span,
                            notes=("ranges are half-open: `a .. b` holds a, a+1, ..., b-1",))

    def _infer_domain(self, b: ast.Binder, uses: list[ast.Expr], scope: Scope) -> ir.IndexVar:
        for node in uses:
            found = _first_direct_use(node, b.name, scope)
            if found is not None:
                t, dim = found
                return ir.IndexVar(b.name, ir.Const(0, "int", b.span), t.shape[dim], b.span)
        # Nothing to infer from: a mistake inside the body (an unknown name, a tensor used
        # without indices) is the better message, so look for one first.
        zero = ir.Const(0, "int", b.span)
        probe = scope.bind(ir.IndexVar(b.name, zero, zero, b.span))
        for node in uses:
            self.check(node, probe)
        raise SpecError(f"cannot infer the range of index `{b.name}`: it never indexes a tensor directly",
                        b.span, notes=(f"give it a range, e.g. `{b.name} in 0 .. n`",))

    def _static_reduction(self, op: str, span: Span) -> SpecError:
        return SpecError(f"`{op}` reduces, which cannot be done here: this needs a value known before any data "
                         f"(params and lets over them)", span,
                         notes=("write the closed form, e.g. `n * (n - 1) // 2` for `sum(i in 0 .. n: i)`",))

    def _reduction(self, e: ast.Reduction, scope: Scope) -> ir.Expr:
        if scope.static:
            raise self._static_reduction(e.op, e.span)
        uses = [x for x in (e.where, e.body) if x is not None]
        vars_, inner = self.bind_vars(e.binders, uses, scope)
        where = None
        if e.where is not None:
            where = self.check(e.where, inner)
            _require(where, ("bool",), "`where`")
        body = self.check(e.body, inner)
        return self._reduce(e.op, vars_, where, body, e.span)

    def _reduce(self, op: str, vars_, where, body: ir.Expr, span: Span) -> ir.Expr:
        if op in ("count", "all", "any"):
            if body.dtype != "bool":
                raise SpecError(f"`{op}` needs a condition (a bool), but its body is {body.dtype}", body.span)
            dtype = "int" if op == "count" else "bool"
        else:
            if body.dtype == "bool":
                raise SpecError(f"`{op}` needs numbers, but its body is a bool", body.span,
                                notes=("use `count(...)` to count the points where a condition holds",))
            dtype = "float" if op == "mean" else body.dtype
        return ir.Reduce(op, vars_, where, body, dtype, span)

    def _quant(self, e: ast.Quant, scope: Scope) -> ir.Expr:
        if scope.static:
            raise self._static_reduction(e.op, e.span)
        vars_, inner = self.bind_vars(e.binders, [e.body], scope)
        body = self.check(e.body, inner)
        return self._reduce("all" if e.op == "forall" else "any", vars_, None, body, e.span)


def _corners(var: ir.IndexVar, scope: Scope) -> list[dict]:
    """Environments at the extremes of every enclosing index the range of `var` depends on."""
    outer = sorted(_index_names(var.lo) | _index_names(var.hi))
    envs = [dict(scope.defaults)]
    for name in outer:
        dom = scope.indices[name]
        lo, hi = eval_static(dom.lo, scope.defaults), eval_static(dom.hi, scope.defaults)
        if lo >= hi:
            return []
        envs = [{**env, name: v} for env in envs for v in {lo, hi - 1}]
    return envs


def _index_names(x: ir.Expr) -> set:
    if isinstance(x, ir.Index):
        return {x.name}
    out = set()
    for child in ir.children(x):
        out |= _index_names(child)
    return out


def _first_direct_use(node, name: str, scope: Scope):
    """(tensor, dim) of the first place `name` appears as a whole index of a tensor read."""
    if isinstance(node, ast.Access):
        t = scope.tensors.get(node.name)
        for dim, idx in enumerate(node.indices):
            if t is not None and isinstance(idx, ast.Name) and idx.name == name and dim < len(t.shape):
                return t, dim
        for idx in node.indices:
            found = _first_direct_use(idx, name, scope)
            if found:
                return found
        return None
    if isinstance(node, (ast.Reduction, ast.Quant)):
        if any(b.name == name for b in node.binders):
            return None  # shadowed (and reported) inside
        parts = [b.range.lo for b in node.binders if b.range] + [b.range.hi for b in node.binders if b.range]
        parts += [x for x in (getattr(node, "where", None), node.body) if x is not None]
        return _first_in(parts, name, scope)
    children = {
        ast.Call: lambda n: n.args,
        ast.Cond: lambda n: (n.cond, n.then, n.else_),
        ast.Compare: lambda n: n.operands,
        ast.BinOp: lambda n: (n.left, n.right),
        ast.UnOp: lambda n: (n.operand,),
    }.get(type(node))
    return _first_in(children(node), name, scope) if children else None


def _first_in(nodes, name, scope):
    for n in nodes:
        found = _first_direct_use(n, name, scope)
        if found:
            return found
    return None


def field_shape(ctx, ttype: ast.TensorType) -> tuple[ir.Expr, ...]:
    """The dimensions of a field's (or a state table's) type: ints over params and static lets."""
    check_rank(ttype)
    refuse_bounded(ttype, "an instance field")
    return check_dims(ctx, ttype)


def check_dims(ctx, ttype: ast.TensorType) -> tuple[ir.Expr, ...]:
    """A tensor type's dimensions, each checked to be an int expression."""
    dims = []
    for d in ttype.dims:
        x = ctx.exprs.check(d, ctx.scope())
        if x.dtype != "int":
            raise SpecError(f"a dimension must be an int, but this is {x.dtype}", d.span)
        dims.append(x)
    return tuple(dims)

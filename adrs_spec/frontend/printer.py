"""Syntax tree -> canonical spec text (parsing the text gives the same tree back).

Used to test the parser (round trips of every shipped spec) and to show expressions in
reports in one normal form.
"""
from __future__ import annotations

from adrs_spec.errors import CompilerBug
from adrs_spec.frontend import ast

# Binding strength of each form; a child weaker than its context gets parentheses.
_LEVEL = {"cond": 0, "quant": 0, "implies": 1, "or": 2, "and": 3, "not": 4, "compare": 5,
          "+": 6, "-": 6, "*": 7, "/": 7, "//": 7, "%": 7, "neg": 8, "**": 9, "atom": 10}


def _level(e) -> int:
    if isinstance(e, (ast.Cond, ast.Quant)):
        return 0
    if isinstance(e, ast.BinOp):
        return _LEVEL[e.op]
    if isinstance(e, ast.UnOp):
        return _LEVEL["not" if e.op == "not" else "neg"]
    if isinstance(e, ast.Compare):
        return _LEVEL["compare"]
    return _LEVEL["atom"]


def _wrap(e, min_level: int) -> str:
    text = expr(e)
    return f"({text})" if _level(e) < min_level else text


def _binders(binders) -> str:
    return ", ".join(b.name + (f" in {_range(b.range)}" if b.range else "") for b in binders)


def _range(r: ast.Range) -> str:
    return f"{_wrap(r.lo, 6)} .. {_wrap(r.hi, 6)}"


def expr(e) -> str:
    """One expression, with the fewest parentheses that keep its structure."""
    if isinstance(e, ast.IntLit):
        return str(e.value)
    if isinstance(e, ast.FloatLit):
        return repr(e.value)
    if isinstance(e, ast.BoolLit):
        return "true" if e.value else "false"
    if isinstance(e, ast.Name):
        return e.name
    if isinstance(e, ast.Access):
        return f"{e.name}[{', '.join(expr(i) for i in e.indices)}]"
    if isinstance(e, ast.Call):
        return f"{e.name}({', '.join(expr(a) for a in e.args)})"
    if isinstance(e, ast.Reduction):
        where = f" where {expr(e.where)}" if e.where is not None else ""
        return f"{e.op}({_binders(e.binders)}{where}: {expr(e.body)})"
    if isinstance(e, ast.Quant):
        return f"{e.op} {_binders(e.binders)}: {expr(e.body)}"
    if isinstance(e, ast.Cond):
        return f"if {expr(e.cond)} then {expr(e.then)} else {expr(e.else_)}"
    if isinstance(e, ast.Compare):
        parts = [_wrap(e.operands[0], 6)]
        for op, operand in zip(e.ops, e.operands[1:]):
            parts += [op, _wrap(operand, 6)]
        return " ".join(parts)
    if isinstance(e, ast.BinOp):
        level = _LEVEL[e.op]
        if e.op == "**":  # right-associative; the right side is a unary
            return f"{_wrap(e.left, 10)} ** {_wrap(e.right, 8)}"
        if e.op == "implies":  # right-associative
            return f"{_wrap(e.left, level + 1)} implies {_wrap(e.right, level)}"
        return f"{_wrap(e.left, level)} {e.op} {_wrap(e.right, level + 1)}"
    if isinstance(e, ast.UnOp):
        if e.op == "not":
            return f"not {_wrap(e.operand, 4)}"
        return f"-{_wrap(e.operand, 8)}"
    if isinstance(e, ast.Range):
        return _range(e)
    if isinstance(e, ast.SetLit):
        return "{" + ", ".join(expr(i) for i in e.items) + "}"
    raise CompilerBug(f"printer: unknown node {type(e).__name__}")


def _type(t: ast.TensorType) -> str:
    bounded = t.bounded or (False,) * len(t.dims)
    dims = ", ".join(("<= " if b else "") + expr(d) for d, b in zip(t.dims, bounded))
    return t.dtype + (f"[{dims}]" if t.dims else "")


def _assign(name: str, value) -> str:
    """`name = value`, or `name in {a, b}` for a set of choices (the one way to write one)."""
    return f"{name} in {expr(value)}" if isinstance(value, ast.SetLit) else f"{name} = {expr(value)}"


def _workload_stmt(s) -> str:
    if isinstance(s, ast.WAssign):
        return f"  {_assign(s.name, s.value)}"
    if isinstance(s, ast.WTrace):
        args = ", ".join(_assign(a.name, a.value) for a in s.args)
        return f"  trace {s.name}: {_type(s.type)} = {s.generator}({args})"
    if isinstance(s, ast.WInstances):
        fields = ", ".join(f"{f.name} = {expr(f.expr)}" for f in s.fields)
        return f"  instances {_binders((s.binder,))}: {fields}"
    if isinstance(s, ast.WCases):
        return f"  cases {expr(s.expr)}"
    raise CompilerBug(f"printer: unknown workload statement {type(s).__name__}")


def _update(u: ast.Update) -> str:
    target = f"{u.target}[{', '.join(expr(i) for i in u.indices)}]" if u.indices else u.target
    text = f"  {target} {u.op} {expr(u.value)}"
    if u.binders:
        text += f" for {_binders(u.binders)}"
    if u.where is not None:
        text += f" where {expr(u.where)}"
    return text


def decl(d) -> str:
    """One declaration as canonical text."""
    if isinstance(d, ast.SpecDecl):
        return f'spec {d.name} "{d.title}"'
    if isinstance(d, ast.AdapterDecl):
        return f'adapter "{d.path}"'
    if isinstance(d, ast.ParamDecl):
        default = f" = {expr(d.default)}" if d.default is not None else ""
        rng = f" in {_range(d.range)}" if d.range else ""
        return f"param {d.name}: {d.dtype}{default}{rng}"
    if isinstance(d, ast.RequireDecl):
        return f"require {expr(d.expr)}"
    if isinstance(d, ast.LetDecl):
        idx = f"[{_binders(d.binders)}]" if d.binders else ""
        initially = f" initially {expr(d.initially)}" if d.initially is not None else ""
        return f"let {d.name}{idx} = {expr(d.expr)}{initially}"
    if isinstance(d, ast.StepDecl):
        lines = [f"  state {s.name}: {_type(s.type)} = {expr(s.init)}" for s in d.states]
        lines += ["  " + decl(let) for let in d.lets]
        lines += [_update(u) for u in d.updates]
        return f"step {_binders((d.binder,))} {{\n" + "\n".join(lines) + "\n}"
    if isinstance(d, ast.InstanceDecl):
        lines = []
        for f in d.fields:
            c = f" {f.constraint_op} {expr(f.constraint)}" if f.constraint is not None else ""
            lines.append(f"  {f.role} {f.name}: {_type(f.type)}{c}")
        return "instance {\n" + "\n".join(lines) + "\n}"
    if isinstance(d, ast.PolicyDecl):
        outs = ",\n     ".join(f"{o.name}: {_type(o.type)}" + (f" pad {expr(o.pad)}" if o.pad is not None else "")
                                 for o in d.outputs)
        return f"policy {d.name}({', '.join(a.name for a in d.args)})\n  -> {outs}"
    if isinstance(d, ast.InvariantDecl):
        return f"invariant {d.name}: {expr(d.expr)}"
    if isinstance(d, ast.ClaimDecl):
        return f"claim {d.name}: {expr(d.expr)}"
    if isinstance(d, ast.MetricDecl):
        agg = f" aggregate {d.aggregate.name}" if d.aggregate else ""
        return f"metric {d.name} = {expr(d.expr)}{agg}"
    if isinstance(d, ast.BoundDecl):
        return f"bound {expr(d.expr)}"
    if isinstance(d, ast.ObjectiveDecl):
        return f"objective {d.direction} {expr(d.expr)}"
    if isinstance(d, ast.ScoreDecl):
        return f"score {expr(d.expr)}"
    if isinstance(d, ast.ToleranceDecl):
        return f"tolerance {expr(d.expr)}"
    if isinstance(d, ast.WorkloadDecl):
        return f"workload {d.name} {{\n" + "\n".join(_workload_stmt(s) for s in d.stmts) + "\n}"
    if isinstance(d, ast.HoldoutDecl):
        items = ", ".join(_assign(i.name, i.value) for i in d.items)
        return f"holdout {d.name} from {d.base}" + (f" with {items}" if items else "")
    raise CompilerBug(f"printer: unknown declaration {type(d).__name__}")


def spec_text(tree: ast.SpecFile) -> str:
    return "\n\n".join(decl(d) for d in tree.decls) + "\n"

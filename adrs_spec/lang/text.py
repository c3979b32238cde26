"""IR back to spec syntax: what error messages, generated code's docstrings and prompts show.

`spec_text` writes an expression as the spec would (fewest parentheses, chained comparisons
as written, promotions the checker inserted left out); `vars_text` writes index binders.
"""
from __future__ import annotations

from adrs_spec.lang import ir

# Binding strength of binary operators in the spec language (higher binds tighter).
_PRECEDENCE = {"implies": 1, "or": 2, "and": 3,
               "==": 5, "!=": 5, "<": 5, "<=": 5, ">": 5, ">=": 5, "~=": 5,
               "+": 6, "-": 6, "*": 7, "/": 7, "//": 7, "%": 7, "**": 9}


def spec_text(e: ir.Expr) -> str:
    """An expression in the spec's own syntax (for docstrings and comments)."""
    return _text(e, 0)


def _text(e: ir.Expr, outer: int) -> str:
    if isinstance(e, ir.Const):
        return _literal(e.value)
    if isinstance(e, (ir.Static, ir.Index, ir.MetricRef)):
        return e.name
    if isinstance(e, ir.Runtime):
        return "runtime"
    if isinstance(e, ir.Read):
        return f"{e.tensor}[{', '.join(_text(i, 0) for i in e.indices)}]" if e.indices else e.tensor
    if isinstance(e, ir.Unary):
        inner = _text(e.operand, 8)
        text = f"not {inner}" if e.op == "not" else f"-{inner}"
        return _paren(text, 4 if e.op == "not" else 8, outer)
    if isinstance(e, ir.Binary) and _chained(e):    # `0 <= x and x < n` was written `0 <= x < n`
        return _paren(" ".join(_chain(e)), 5, outer)
    if isinstance(e, ir.Binary):
        prec = _PRECEDENCE[e.op]
        right_prec = prec + 1 if e.op != "**" else prec
        text = f"{_text(e.left, prec if e.op != '**' else prec + 1)} {e.op} {_text(e.right, right_prec)}"
        return _paren(text, prec, outer)
    if isinstance(e, ir.Select):
        text = f"if {_text(e.cond, 0)} then {_text(e.then, 0)} else {_text(e.else_, 0)}"
        return f"({text})" if outer > 0 else text
    if isinstance(e, ir.Call):
        if e.fn == "float" and len(e.args) == 1 and e.args[0].dtype == "int" and _implicit(e):
            return _text(e.args[0], outer)
        return f"{e.fn}({', '.join(_text(a, 0) for a in e.args)})"
    if isinstance(e, ir.Reduce):
        return reduce_text(e)
    raise TypeError(f"no text for {type(e).__name__}")


def _chained(e: ir.Binary) -> bool:
    compare = ("==", "!=", "<", "<=", ">", ">=", "~=")
    if e.op != "and" or not isinstance(e.right, ir.Binary) or e.right.op not in compare:
        return False
    left = e.left
    while isinstance(left, ir.Binary) and left.op == "and" and _chained(left):
        left = left.right
    return isinstance(left, ir.Binary) and left.op in compare and left.right is e.right.left


def _chain(e: ir.Binary) -> list[str]:
    """[a, "<=", b, "<", c] for the conjunction a chained comparison was checked into."""
    if e.op == "and":
        return _chain(e.left) + [e.right.op, _text(e.right.right, 6)]
    return [_text(e.left, 6), e.op, _text(e.right, 6)]


def _implicit(call: ir.Call) -> bool:
    """A promotion the checker inserted shares its argument's span exactly."""
    return call.span == call.args[0].span


def reduce_text(e: ir.Reduce) -> str:
    op = {"all": "forall", "any": "exists"}.get(e.op, e.op) if e.where is None else e.op
    where = f" where {_text(e.where, 0)}" if e.where is not None else ""
    body = _text(e.body, 0)
    if op in ("forall", "exists"):
        return f"{op} {vars_text(e.vars)}: {body}"
    return f"{op}({vars_text(e.vars)}{where}: {body})"


def vars_text(vars_: tuple[ir.IndexVar, ...]) -> str:
    return ", ".join(var_text(v) for v in vars_)


def var_text(v: ir.IndexVar) -> str:
    """`p in g * slots .. (g + 1) * slots`, or just `l` for a range inferred from its use."""
    if v.span == v.lo.span:       # the checker inferred the range (`forall l: ...`)
        return v.name
    return f"{v.name} in {_text(v.lo, 0)} .. {_text(v.hi, 0)}"


def _paren(text: str, prec: int, outer: int) -> str:
    return f"({text})" if prec < outer else text


def _literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)

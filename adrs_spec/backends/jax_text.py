"""Text for generated code: IR back to spec syntax, and small symbolic algebra on index ranges.

The JAX backend writes the spec form of each block into docstrings and shape comments,
and needs to know when a range `g * k .. (g + 1) * k` has a width free of indices; both
live here so the lowering reads as lowering.
"""
from __future__ import annotations

from adrs_spec import ir
from adrs_spec.backends.jax_emit import py_name

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


# ---- polynomials over statics and index variables ----
# A polynomial maps a monomial (a sorted tuple of symbol names) to an integer coefficient.
# Symbols are ("s", name) for statics and ("i", name) for index variables.
Poly = dict


def poly(e: ir.Expr) -> Poly | None:
    """The integer polynomial `e` denotes, or None when it is not one (`//`, reads, ...)."""
    if isinstance(e, ir.Const) and e.dtype == "int":
        return {(): e.value} if e.value else {}
    if isinstance(e, ir.Static) and e.dtype == "int":
        return {(("s", e.name),): 1}
    if isinstance(e, ir.Index):
        return {(("i", e.name),): 1}
    if isinstance(e, ir.Unary) and e.op == "-":
        p = poly(e.operand)
        return None if p is None else {m: -c for m, c in p.items()}
    if isinstance(e, ir.Binary) and e.op in ("+", "-", "*"):
        a, b = poly(e.left), poly(e.right)
        if a is None or b is None:
            return None
        if e.op == "*":
            return _mul(a, b)
        return _add(a, b if e.op == "+" else {m: -c for m, c in b.items()})
    return None


def _add(a: Poly, b: Poly) -> Poly:
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, 0) + c
    return {m: c for m, c in out.items() if c}


def _mul(a: Poly, b: Poly) -> Poly:
    out: Poly = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            out = _add(out, {tuple(sorted(ma + mb)): ca * cb})
    return out


def poly_sub(a: Poly, b: Poly) -> Poly:
    return _add(a, {m: -c for m, c in b.items()})


def mentions_index(p: Poly) -> bool:
    return any(kind == "i" for m in p for kind, _ in m)


def split_linear(p: Poly, index: str) -> tuple[Poly, Poly] | None:
    """p = index * k + c with k, c free of indices, or None."""
    k: Poly = {}
    c: Poly = {}
    for m, coeff in p.items():
        count = m.count(("i", index))
        rest = tuple(x for x in m if x != ("i", index))
        if count > 1 or any(kind == "i" for kind, _ in rest):
            return None
        target = k if count == 1 else c
        target[rest] = coeff
    return (k, c) if k else None


def poly_code(p: Poly, static: str = "s.{}") -> str:
    """Python code for a polynomial over statics (`s.replicas - s.experts + 1`)."""
    return _poly_terms(p, lambda name: static.format(py_name(name)))


def poly_text(p: Poly) -> str:
    """The spec form of a polynomial over statics, for shape comments (`slots`)."""
    return _poly_terms(p, lambda name: name)


def _poly_terms(p: Poly, spell) -> str:
    if not p:
        return "0"
    terms = []
    for m in sorted(p, key=lambda m: (-len(m), m)):
        factors = [spell(name) for _, name in m]
        mag = abs(p[m])
        body = " * ".join(([str(mag)] if mag != 1 or not factors else []) + factors)
        terms.append(("-" if p[m] < 0 else "+", body))
    text = ("-" if terms[0][0] == "-" else "") + terms[0][1]
    return text + "".join(f" {sign} {body}" for sign, body in terms[1:])


def same_expr(a: ir.Expr, b: ir.Expr) -> bool:
    """Structural equality, ignoring source spans."""
    pa, pb = poly(a), poly(b)
    if pa is not None and pb is not None:
        return pa == pb
    return _strip(a) == _strip(b)


def _strip(e):
    if isinstance(e, tuple):
        return tuple(_strip(x) for x in e)
    if hasattr(e, "__dataclass_fields__"):
        return (type(e).__name__,) + tuple(_strip(getattr(e, f)) for f in e.__dataclass_fields__
                                           if f != "span")
    return e

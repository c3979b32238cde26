"""Small symbolic algebra on index ranges, for the JAX lowering.

The lowering needs to know when a range `g * k .. (g + 1) * k` has a width free of indices,
and to spell such widths in generated code and shape comments.
"""
from __future__ import annotations

from adrs_spec.lang import ir
from adrs_spec.backends.jax.emit import py_name

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

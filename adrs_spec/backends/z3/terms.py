"""Z3 terms built through the C API directly.

z3py's `And`, `Or`, `If` and `PbEq` check and coerce every argument in Python, which costs
more than building the term; the encoding builds hundreds of thousands of them, always of
the right sorts, so it calls the C API itself. All terms live in Z3's main context.
"""
from __future__ import annotations

import ctypes
from typing import Sequence

import z3


def _context() -> z3.Context:
    return z3.main_ctx()


def _array(xs: Sequence[z3.ExprRef]):
    arr = (z3.Ast * len(xs))()
    for i, x in enumerate(xs):
        arr[i] = x.as_ast()
    return arr


def conjunction(xs: Sequence[z3.BoolRef]) -> z3.BoolRef:
    ctx = _context()
    return z3.BoolRef(z3.Z3_mk_and(ctx.ref(), len(xs), _array(xs)), ctx)


def disjunction(xs: Sequence[z3.BoolRef]) -> z3.BoolRef:
    ctx = _context()
    return z3.BoolRef(z3.Z3_mk_or(ctx.ref(), len(xs), _array(xs)), ctx)


def negation(x: z3.BoolRef) -> z3.BoolRef:
    ctx = _context()
    return z3.BoolRef(z3.Z3_mk_not(ctx.ref(), x.as_ast()), ctx)


def ite(cond: z3.BoolRef, then: z3.ExprRef, else_: z3.ExprRef) -> z3.ExprRef:
    """`If(cond, then, else_)` for two terms of one sort (Bool, Int or Real)."""
    ctx = _context()
    made = z3.Z3_mk_ite(ctx.ref(), cond.as_ast(), then.as_ast(), else_.as_ast())
    return z3.BoolRef(made, ctx) if isinstance(then, z3.BoolRef) else z3.ArithRef(made, ctx)


def pseudo_boolean(kind: str, terms: Sequence[tuple[z3.BoolRef, int]], k: int) -> z3.BoolRef:
    """sum(coeff * flag) `kind` k, kind one of eq, le, ge."""
    ctx = _context()
    coeffs = (ctypes.c_int * len(terms))(*[c for _, c in terms])
    make = {"eq": z3.Z3_mk_pbeq, "le": z3.Z3_mk_pble, "ge": z3.Z3_mk_pbge}[kind]
    return z3.BoolRef(make(ctx.ref(), len(terms), _array([f for f, _ in terms]), coeffs, k), ctx)

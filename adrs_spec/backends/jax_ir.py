"""Questions the JAX lowering asks of IR expressions (beyond the general ones in adrs_spec.ir):
whether an expression reads data, and the conjuncts of a condition."""
from __future__ import annotations

from adrs_spec import ir
from adrs_spec.ir import children


def reads_data(e: ir.Expr) -> bool:
    """Whether `e` reads any tensor (else it is a function of statics and indices only)."""
    return isinstance(e, ir.Read) or any(reads_data(c) for c in children(e))


def conjuncts(e: ir.Expr | None) -> list[ir.Expr]:
    """`a and b and c` -> [a, b, c]; None -> []."""
    if e is None:
        return []
    if isinstance(e, ir.Binary) and e.op == "and":
        return conjuncts(e.left) + conjuncts(e.right)
    return [e]

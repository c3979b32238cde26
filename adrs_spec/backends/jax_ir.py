"""Questions the JAX lowering asks of IR expressions: free indices, tensors read, conjuncts."""
from __future__ import annotations

from adrs_spec import ir
from adrs_spec.ir import children


def free_indices(e: ir.Expr) -> frozenset[str]:
    """Index variables `e` depends on that it does not bind itself."""
    if isinstance(e, ir.Index):
        return frozenset((e.name,))
    if isinstance(e, ir.Reduce):
        out: set[str] = set()
        bound: set[str] = set()
        for v in e.vars:       # a range may use the variables bound before it
            out |= (free_indices(v.lo) | free_indices(v.hi)) - bound
            bound.add(v.name)
        inner = free_indices(e.body) | (free_indices(e.where) if e.where is not None else frozenset())
        return frozenset(out | (inner - bound))
    out = frozenset()
    for c in children(e):
        out |= free_indices(c)
    return out


def tensors_read(e: ir.Expr, out: list[str] | None = None) -> list[str]:
    """Names of the tensors `e` reads, first use first."""
    out = [] if out is None else out
    if isinstance(e, ir.Read) and e.tensor not in out:
        out.append(e.tensor)
    for c in children(e):
        tensors_read(c, out)
    return out


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

"""Faster lowerings for shapes of expression that the generic rules make slow.

- `count(p: X[.., p] == e)`, `sum(m where key(m) == g: v[m])` (and `mean`), with `e`/`g` an
  index variable bound outside: a segment sum into the bins of `e`, never a one-hot
  cube over (.., p, e).
- `X[.., p, ..]` with `p in g * k + c .. (g + 1) * k + c`: a reshape of X's axis into
  (g, k) blocks instead of a gather.
- `forall .., r: r < n[..] implies body` with `r` indexing one axis of some tensors: the
  body is checked one rank plane at a time, only up to the largest `n` (see `rank_planes`).
Each returns None when the expression is not of its shape; the generic rule then applies.
`lw` is the caller's `Lowerer` (adrs_spec.backends.jax.lower), which this module calls back
into and does not import: lower imports patterns, never the other way round.
"""
from __future__ import annotations

from dataclasses import dataclass

from adrs_spec.lang import ir
from adrs_spec.backends.jax.emit import Val
from adrs_spec.lang.ir import conjuncts, free_indices, tensors_read
from adrs_spec.backends.jax.polynomials import poly, poly_code, poly_sub, same_expr, split_linear
from adrs_spec.lang.text import reduce_text, spec_text


# ---- segment sums ----
def segment_reduce(lw, e: ir.Reduce) -> Val | None:
    if e.op not in ("sum", "count", "mean") or any(free_indices(v.lo) or free_indices(v.hi) for v in e.vars):
        return None
    reduced = {v.name for v in e.vars}
    conds = conjuncts(e.where) + (conjuncts(e.body) if e.op == "count" else [])
    for i, cond in enumerate(conds):
        match = _key_equality(lw, cond, reduced)
        if match is None:
            continue
        key, target = match
        rest = conds[:i] + conds[i + 1:]
        value = None if e.op == "count" else e.body
        if any(target in free_indices(x) for x in rest + ([value] if value is not None else [])):
            continue
        return _segment(lw, e, key, target, rest, value)
    return None


def _key_equality(lw, cond: ir.Expr, reduced: set[str]) -> tuple[ir.Expr, str] | None:
    """`key == e` (either way round) with `e` a full-range index bound outside the reduction."""
    if not (isinstance(cond, ir.Binary) and cond.op == "=="):
        return None
    for side, other in ((cond.right, cond.left), (cond.left, cond.right)):
        if not isinstance(side, ir.Index) or side.name in reduced or side.name not in lw.scope:
            continue
        axis = lw.axes[lw.scope[side.name]]
        used = free_indices(other)
        if axis.kind == "full" and other.dtype == "int" and used & reduced and side.name not in used:
            return other, side.name
    return None


def _segment(lw, e: ir.Reduce, key: ir.Expr, target: str, rest: list[ir.Expr],
             value: ir.Expr | None) -> Val:
    bins = lw.axes[lw.scope[target]]
    lw.out.comment(f"{reduce_text(e)}: a segment sum into the bins of `{target}` (no one-hot)")
    limit, rest = _rank_prefix(e, rest)
    if limit is not None:
        lw.out.comment(f"`{e.vars[-1].name} < {spec_text(limit)}` keeps a prefix of each row: "
                       f"ranks past the largest limit are never visited")
    with lw.bind(e.vars) as keys:
        ids = lw.lower(key)
        mask = lw.conjoin([lw.lower(c) for c in rest])
        vals = lw.lower(value) if value is not None else None
        lead = tuple(k for k in lw.union(ids, mask, vals) if k not in keys)
        full = lead + keys
        ids_code = lw.full(lw.align(ids, full), ids.vars, full, "jnp")
        ones = "1" if mask is None else lw.align(mask, full)
        if vals is None:
            weights = ones
        elif mask is None:
            weights = lw.align(vals, full)
        else:
            weights = f"jnp.where({lw.align(mask, full)}, {lw.align(vals, full)}, 0)"
        prefix = ""
        if limit is not None:
            bound = lw.lower(limit)
            prefix = f", prefix={lw.align(bound, full[:-1])}"
    start = "" if bins.zero_based else f", start={lw.lower(bins.var.lo).code}"
    reduced = "" if len(keys) == 1 else f", reduced_axes={len(keys)}"
    tail = f"{ids_code}, {bins.size}{reduced}{start}{prefix})"
    name = f"{e.op}_by_{target}"
    if e.op == "mean":
        total = lw.assign("total_by_" + target, Val(f"rt.segment_sum({weights}, {tail}", lead + (bins.key,),
                                                    "float", "jnp"))
        count = lw.assign("count_by_" + target, Val(f"rt.segment_sum({ones}, {tail}", lead + (bins.key,),
                                                    "int", "jnp"))
        code = f"{total.code} / {count.code}"
        if value is not None and value.dtype == "int":
            code = f"{total.code}.astype(s.float_dtype) / {count.code}"
        val = Val(code, lead + (bins.key,), "float", "jnp")
    else:
        val = Val(f"rt.segment_sum({weights}, {tail}", lead + (bins.key,), e.dtype, "jnp")
    return lw.assign(name, lw.transposed(lw.assign(name, val)))


def _rank_prefix(e: ir.Reduce, conds: list[ir.Expr]) -> tuple[ir.Expr | None, list[ir.Expr]]:
    """`r < n` on the last reduced variable (r in 0 .. static): rows are ragged prefixes.

    Returns (n, the other conditions), or (None, conds) when there is no such condition.
    """
    for i, c in enumerate(conds):
        limit = _rank_limit(c, e.vars[-1])
        if limit is not None:
            return limit, conds[:i] + conds[i + 1:]
    return None, conds


def _rank_limit(cond: ir.Expr, rank: ir.IndexVar) -> ir.Expr | None:
    """n when `cond` is `r < n` for the rank r (ranging from 0) and n does not depend on r."""
    if (isinstance(rank.lo, ir.Const) and rank.lo.value == 0 and isinstance(cond, ir.Binary)
            and cond.op == "<" and isinstance(cond.left, ir.Index) and cond.left.name == rank.name
            and rank.name not in free_indices(cond.right)):
        return cond.right
    return None


# ---- block reads ----
def block_read(lw, e: ir.Read, name: str) -> Val | None:
    """`x[l, p]` with p over the g-th block of width k: x reshaped to (.., g, k, ..)."""
    shifted = [(d, lw.axes[lw.scope[i.name]]) for d, i in enumerate(e.indices)
               if isinstance(i, ir.Index) and i.name in lw.scope and lw.axes[lw.scope[i.name]].kind == "shift"
               and not lw.axes[lw.scope[i.name]].traced]
    if len(shifted) != 1:
        return None
    dim, axis = shifted[0]
    blocks = _block_of(lw, axis)
    if blocks is None:
        return None
    group, start = blocks
    shape = lw.spec.tensor(e.tensor).shape
    keys: list[str] = []
    for d, (index, size) in enumerate(zip(e.indices, shape)):
        if d == dim:
            keys += [group.key, axis.key]
        elif lw.is_whole_dim(index, size):
            keys.append(lw.scope[index.name])
        else:
            return None
    if len(set(keys)) != len(keys):
        return None
    start_code = "" if not start else f", start={poly_code(start, lw.static)}"
    code = f"rt.blocks({name}, axis={dim}, count={group.size}, width={axis.size}{start_code})"
    lw.out.comment(f"{e.tensor}[.., {axis.var.name}] over blocks of `{group.var.name}`: a reshape, no gather")
    val = lw.assign(f"{e.tensor}_blocks", Val(code, tuple(keys), e.dtype, "jnp"))
    return lw.transposed(val)


def _block_of(lw, axis):
    """(the block index's axis, the start offset) when axis ranges over `g * width + start ..`."""
    lo, hi = poly(axis.var.lo), poly(axis.var.hi)
    width = poly_sub(hi, lo)
    for name in sorted(free_indices(axis.var.lo)):
        split = split_linear(lo, name)
        if split is None or split[0] != width or name not in lw.scope:
            continue
        group = lw.axes[lw.scope[name]]
        if group.zero_based and axis.deps == (group.key,):
            return group, split[1]
    return None


# ---- ragged ranks in invariants ----
@dataclass(frozen=True)
class RankPlanes:
    """`forall .., r: r < limit implies body`, where the body reads `r` only as a whole axis
    of some tensors: plane k of those tensors is the body at r = k."""

    rank: ir.IndexVar
    limit: ir.Expr
    body: ir.Expr
    axes: dict[str, int]        # tensor -> the axis `r` indexes


def rank_planes(spec: ir.Spec, inv: ir.Invariant) -> RankPlanes | None:
    """The invariant's ragged form, or None when it is not of that shape.

    Points with r >= limit pass, so only ranks below the largest limit need a look: the
    dense form evaluates the body over the whole rank axis, padding included.
    """
    if not inv.vars or any(free_indices(v.lo) or free_indices(v.hi) for v in inv.vars):
        return None
    rank, body = inv.vars[-1], inv.body
    if not (isinstance(body, ir.Binary) and body.op == "implies"):
        return None
    limit, then = _rank_limit(body.left, rank), body.right
    if limit is None or limit.dtype != "int":
        return None
    axes = _rank_axes(spec, then, rank)
    if not axes or set(axes) & set(tensors_read(limit)):
        return None
    return RankPlanes(rank, limit, then, axes)


def _rank_axes(spec: ir.Spec, e: ir.Expr, rank: ir.IndexVar) -> dict[str, int] | None:
    """tensor -> axis for every read of `e` that uses `rank`, when each such tensor is always
    read with `rank` itself at that same axis (whose length is the rank's range) and `rank`
    appears nowhere else; None otherwise."""
    reads: dict[str, list[tuple]] = {}
    if not _collect_reads(e, rank.name, reads):
        return None
    axes: dict[str, int] = {}
    for tensor, index_lists in reads.items():
        positions = {tuple(d for d, i in enumerate(idx) if isinstance(i, ir.Index) and i.name == rank.name)
                     for idx in index_lists}
        if positions == {()}:
            continue
        if len(positions) != 1 or len(next(iter(positions))) != 1:
            return None
        (dim,) = next(iter(positions))
        if not same_expr(spec.tensor(tensor).shape[dim], rank.hi):
            return None
        axes[tensor] = dim
    return axes


def _collect_reads(e: ir.Expr, rank: str, reads: dict[str, list[tuple]]) -> bool:
    """Gather each read's indices into `reads`; False if `rank` is used other than as a direct index."""
    if isinstance(e, ir.Index):
        return e.name != rank
    if isinstance(e, ir.Reduce) and any(v.name == rank for v in e.vars):
        return False
    if isinstance(e, ir.Read):
        reads.setdefault(e.tensor, []).append(e.indices)
        return all(isinstance(i, ir.Index) or _collect_reads(i, rank, reads) for i in e.indices)
    return all(_collect_reads(c, rank, reads) for c in ir.children(e))

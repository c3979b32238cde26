"""A step block -> one function around `jax.lax.scan`.

The state tables are the scan's carry; the block's lets, one row per step, are its stacked
outputs. Inside the step function the step index is a traced scalar (no axis): the lets are
lowered as usual over their own index variables, and each update is one scatter
(`rt.update`: `.at[...].set/add/max/min`, points outside the table dropped). Every read of
a table inside the step sees it as the step began: updates bind new names.
"""
from __future__ import annotations

import dataclasses

from adrs_spec.lang import ir
from adrs_spec.backends.jax.emit import FunctionBody, comment_text, py_name
from adrs_spec.backends.jax.lower import Lowerer
from adrs_spec.lang.text import spec_text, vars_text

_DTYPE = {"float": "s.float_dtype", "int": "s.int_dtype", "bool": "jnp.bool_"}
_OPS = {"=": "set", "+=": "add", "max=": "max", "min=": "min"}


def function_name(step: ir.Step) -> str:
    return py_name(step.recurrence) if step.recurrence else py_name(f"{step.name}")


def step_function(spec: ir.Spec, step: ir.Step, reads: list[str], where: str) -> str:
    """The block's function: (s, *the tensors it reads) -> its tables, then its lets, in order."""
    own = step.provides()
    tables = [py_name(s.name) for s in step.states]
    rows = [py_name(let.name) for let in step.lets]
    params = {t: py_name(t) for t in reads}
    taken = set(params.values()) | {"s", "tables", "one_step", "steps"} | set(tables) | set(rows)
    body = FunctionBody(taken=taken | {py_name(step.var.name)})
    row_spec = dataclasses.replace(spec, tensors=tuple(
        dataclasses.replace(t, shape=t.shape[1:]) if t.name in {let.name for let in step.lets} else t
        for t in spec.tensors))
    lw = Lowerer(row_spec, body, {**params, **{n: py_name(n) for n in own}})
    lw.scalars = {step.var.name: step.var}
    for let in step.lets:
        body.lines.append(comment_text(f"# line {let.span.line}: let {let.name}"
                                       f"{'[' + vars_text(let.vars) + ']' if let.vars else ''} = "
                                       f"{spec_text(let.body)}"))
        body.line(f"{py_name(let.name)} = {_row(lw, let)}", _shape(lw, let.vars) + " at this step")
        lw.rows.add(let.name)
    current = {s.name: py_name(s.name) for s in step.states}
    for u in step.updates:
        body.lines.append(comment_text(f"# line {u.span.line}: {_update_text(u)}"))
        table = next(s for s in step.states if s.name == u.target)
        after = body.fresh(table.name + "_next")
        body.line(f"{after} = {_update(lw, u, current[u.target])}")
        current[u.target] = after
    carry = _tuple([current[s.name] for s in step.states])
    stacked = _tuple(rows) if rows else "()"
    inner = [f"    def one_step(tables, {py_name(step.var.name)}):",
             f"        {_tuple(tables)} = tables",
             *body.render("        "),
             f"        return {carry}, {stacked}"]
    size = lw.lower(step.var.hi).code
    inits = [f"jnp.full({_shape_code(lw, s.shape)}, {lw.lower(s.init).code}, dtype={_DTYPE[s.dtype]})"
             for s in step.states]
    args = "".join(f", {p}" for p in params.values())
    doc = (f"step {step.var.name} in 0 .. {spec_text(step.var.hi)}: "
           f"tables {', '.join(s.name for s in step.states)}"
           + (f"; lets {', '.join(let.name for let in step.lets)} per step" if step.lets else "")
           + (f" (the recurrence `{step.recurrence}`)" if step.recurrence else ""))
    lines = [where, f"def {function_name(step)}(s: Statics{args}):",
             f'    """{doc}"""', *inner,
             f"    tables = {_tuple(inits)}",
             f"    {_tuple(tables)}, {_tuple(rows) if rows else '_'} = jax.lax.scan(one_step, tables, "
             f"jnp.arange({size}))",
             f"    return {', '.join(tables + rows)}"]
    return "\n".join(lines)


def _tuple(items: list[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _shape_code(lw: Lowerer, dims) -> str:
    codes = [lw.lower(d).code for d in dims]
    return "()" if not codes else f"({codes[0]},)" if len(codes) == 1 else f"({', '.join(codes)})"


def _shape(lw: Lowerer, vars_) -> str:
    return f"({', '.join(spec_text(v.hi) for v in vars_)})" if vars_ else "()"


def _row(lw: Lowerer, let: ir.TensorLet) -> str:
    with lw.bind(let.vars) as keys:
        val = lw.lower(let.body)
        code = f"jnp.asarray({lw.align(val, keys)}, dtype={_DTYPE[let.dtype]})"
        if set(val.vars) != set(keys):
            code = f"jnp.broadcast_to({code}, {lw.shape_code(keys) if keys else '()'})"
    return code


def _update(lw: Lowerer, u: ir.Update, table: str) -> str:
    with lw.bind(u.vars) as keys:
        indices = [lw.lower(x) for x in u.indices]
        value = lw.lower(u.value)
        conds = [lw.lower(u.where)] if u.where is not None else []
        conds += [m for m in (lw.range_mask(k) for k in keys) if m is not None]
        ok = lw.conjoin(conds)
        index_codes = [lw.align(x, keys) for x in indices]
        value_code = lw.align(value, keys)
        ok_code = lw.align(ok, keys) if ok is not None else "True"
    index_tuple = "()" if not index_codes else f"({index_codes[0]},)" if len(index_codes) == 1 \
        else f"({', '.join(index_codes)})"
    return f"rt.update({table}, {index_tuple}, {value_code}, {ok_code}, {_OPS[u.op]!r})"


def _update_text(u: ir.Update) -> str:
    target = f"{u.target}[{', '.join(spec_text(x) for x in u.indices)}]" if u.indices else u.target
    text = f"{target} {u.op} {spec_text(u.value)}"
    if u.vars:
        text += f" for {vars_text(u.vars)}"
    if u.where is not None:
        text += f" where {spec_text(u.where)}"
    return text

"""The syntax tree of a spec: frozen dataclasses, each carrying its source span.

Nodes mirror the grammar (grammar.lark) one to one; meaning is given later by the
checker (adrs_spec.frontend.check), which turns this tree into the typed IR.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from adrs_spec.errors import Span


# ---- expressions ----
@dataclass(frozen=True)
class IntLit:
    value: int
    span: Span


@dataclass(frozen=True)
class FloatLit:
    value: float
    span: Span


@dataclass(frozen=True)
class BoolLit:
    value: bool
    span: Span


@dataclass(frozen=True)
class Name:
    name: str
    span: Span


@dataclass(frozen=True)
class Access:
    """`tensor[i, j, ...]`"""

    name: str
    name_span: Span
    indices: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True)
class Call:
    """`fn(a, b)`: a built-in function, or `runtime(policy)`."""

    name: str
    name_span: Span
    args: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True)
class Range:
    """`lo .. hi`, half-open."""

    lo: "Expr"
    hi: "Expr"
    span: Span


@dataclass(frozen=True)
class SetLit:
    """`{a, b, c}`: a set of choices (workloads and holdouts only)."""

    items: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True)
class Binder:
    """An index variable, optionally with its range: `p` or `p in a .. b`."""

    name: str
    range: Range | None
    span: Span


@dataclass(frozen=True)
class Reduction:
    """`op(b1, b2 where cond: body)` with op one of sum, mean, max, min, count, all, any, prod."""

    op: str
    op_span: Span
    binders: tuple[Binder, ...]
    where: "Expr | None"
    body: "Expr"
    span: Span


@dataclass(frozen=True)
class Quant:
    """`forall b1, b2: body` or `exists ...`"""

    op: str
    binders: tuple[Binder, ...]
    body: "Expr"
    span: Span


@dataclass(frozen=True)
class Cond:
    """`if cond then a else b`"""

    cond: "Expr"
    then: "Expr"
    else_: "Expr"
    span: Span


@dataclass(frozen=True)
class Compare:
    """A comparison chain `a < b <= c`: ops[i] sits between operands[i] and operands[i+1]."""

    operands: tuple["Expr", ...]
    ops: tuple[str, ...]
    op_spans: tuple[Span, ...]
    span: Span


@dataclass(frozen=True)
class BinOp:
    """Arithmetic (+ - * / // % **) and logic (and, or, implies)."""

    op: str
    left: "Expr"
    right: "Expr"
    op_span: Span
    span: Span


@dataclass(frozen=True)
class UnOp:
    """`-x`, `+x`, `not x`"""

    op: str
    operand: "Expr"
    span: Span


Expr = Union[IntLit, FloatLit, BoolLit, Name, Access, Call, Reduction, Quant, Cond, Compare, BinOp, UnOp]
Value = Union[Expr, Range, SetLit]


# ---- declarations ----
@dataclass(frozen=True)
class TensorType:
    """`int[layers, experts, <= max_copies]`: bounded[i] marks a dimension declared `<= dims[i]`."""

    dtype: str
    dims: tuple[Expr, ...]
    span: Span
    bounded: tuple[bool, ...] = ()


@dataclass(frozen=True)
class BoundedDim:
    """`<= bound` inside a tensor type (the parser folds it into TensorType.bounded)."""

    bound: Expr
    span: Span


@dataclass(frozen=True)
class AdapterDecl:
    """`adapter "placement/prism.py"`: a path relative to the spec's folder."""

    path: str
    span: Span


@dataclass(frozen=True)
class SpecDecl:
    name: str
    title: str
    span: Span


@dataclass(frozen=True)
class ParamDecl:
    name: str
    name_span: Span
    dtype: str
    default: Expr | None
    range: Range | None
    span: Span


@dataclass(frozen=True)
class RequireDecl:
    expr: Expr
    span: Span


@dataclass(frozen=True)
class LetDecl:
    """`let name[binders] = expr`, or with `initially v` a recurrence along its first binder."""

    name: str
    name_span: Span
    binders: tuple[Binder, ...]
    expr: Expr
    span: Span
    initially: Expr | None = None


@dataclass(frozen=True)
class StateDecl:
    """`state name: dtype[dims] = init` inside a `step` block."""

    name: str
    name_span: Span
    type: TensorType
    init: Expr
    span: Span


@dataclass(frozen=True)
class Update:
    """`target[indices] op value for binders where cond` inside a `step` block; op is
    `=`, `+=`, `max=` or `min=`."""

    target: str
    target_span: Span
    indices: tuple[Expr, ...]
    op: str
    op_span: Span
    value: Expr
    binders: tuple[Binder, ...]
    where: Expr | None
    span: Span


@dataclass(frozen=True)
class StepDecl:
    """`step i in lo .. hi { state ... let ... updates }`: a loop over an ordered index."""

    binder: Binder
    states: tuple[StateDecl, ...]
    lets: tuple[LetDecl, ...]
    updates: tuple[Update, ...]
    span: Span


@dataclass(frozen=True)
class FieldDecl:
    """`observe weight: float[layers, experts] >= 0` inside `instance { }`."""

    role: str
    name: str
    name_span: Span
    type: TensorType
    constraint_op: str | None
    constraint: Expr | None
    span: Span


@dataclass(frozen=True)
class InstanceDecl:
    fields: tuple[FieldDecl, ...]
    span: Span


@dataclass(frozen=True)
class OutputDecl:
    name: str
    name_span: Span
    type: TensorType
    span: Span
    pad: Expr | None = None       # `pad V`: the value filling a bounded dimension


@dataclass(frozen=True)
class PolicyDecl:
    name: str
    name_span: Span
    args: tuple[Name, ...]
    outputs: tuple[OutputDecl, ...]
    span: Span


@dataclass(frozen=True)
class InvariantDecl:
    name: str
    name_span: Span
    expr: Expr
    span: Span


@dataclass(frozen=True)
class ClaimDecl:
    """`claim name: expr`: a property the author believes the invariants imply (checked by Z3)."""

    name: str
    name_span: Span
    expr: Expr
    span: Span


@dataclass(frozen=True)
class MetricDecl:
    name: str
    name_span: Span
    expr: Expr
    aggregate: Name | None
    span: Span


@dataclass(frozen=True)
class BoundDecl:
    expr: Expr
    span: Span


@dataclass(frozen=True)
class ObjectiveDecl:
    direction: str
    expr: Expr
    span: Span


@dataclass(frozen=True)
class ScoreDecl:
    expr: Expr
    span: Span


@dataclass(frozen=True)
class ToleranceDecl:
    expr: Expr
    span: Span


@dataclass(frozen=True)
class WAssign:
    """`name = value` in a workload: a parameter override or a local, maybe sampled."""

    name: str
    name_span: Span
    value: Value
    span: Span


@dataclass(frozen=True)
class GenArg:
    name: str
    name_span: Span
    value: Value
    span: Span


@dataclass(frozen=True)
class WTrace:
    """`trace load: float[...] = generator(arg = value, ...)`"""

    name: str
    name_span: Span
    type: TensorType
    generator: str
    generator_span: Span
    args: tuple[GenArg, ...]
    span: Span


@dataclass(frozen=True)
class WField:
    name: str
    name_span: Span
    expr: Expr
    span: Span


@dataclass(frozen=True)
class WInstances:
    """`instances w in 0 .. n: weight = load[w], next = load[w + 1]`"""

    binder: Binder
    fields: tuple[WField, ...]
    span: Span


@dataclass(frozen=True)
class WCases:
    expr: Expr
    span: Span


WStmt = Union[WAssign, WTrace, WInstances, WCases]


@dataclass(frozen=True)
class WorkloadDecl:
    name: str
    name_span: Span
    stmts: tuple[WStmt, ...]
    span: Span


@dataclass(frozen=True)
class HoldoutDecl:
    name: str
    name_span: Span
    base: str
    base_span: Span
    items: tuple[WAssign, ...]
    span: Span


Decl = Union[SpecDecl, ParamDecl, RequireDecl, LetDecl, InstanceDecl, PolicyDecl, InvariantDecl, ClaimDecl,
             MetricDecl, BoundDecl, ObjectiveDecl, ScoreDecl, ToleranceDecl, WorkloadDecl, HoldoutDecl]


@dataclass(frozen=True)
class SpecFile:
    decls: tuple[Decl, ...]

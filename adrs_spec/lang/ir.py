"""The typed IR that every backend consumes.

The checker (adrs_spec.frontend.check) builds it from the syntax tree: names are resolved,
every expression has a dtype, every index variable has a domain, lets are in dependency
order. Meaning is defined by the reference interpreter (adrs_spec.backends.reference.instance).

An expression denotes a scalar as a function of the index variables free in it; a tensor
is such an expression over its declared index variables. Three kinds of names appear:
- static scalars (`Static`): params and lets over params only; known before any data,
  they fix shapes (Python ints at JAX trace time);
- tensors (`Read`): instance fields, policy outputs, tensor lets;
- index variables (`Index`), bound by `forall`, reductions and tensor-let binders.

Semantics worth knowing:
- ranges are half-open; an empty `sum` is 0, `count` 0, `prod` 1, `all` true, `any` false,
  `max`/`min` of nothing is -inf/+inf (float) or the dtype's extreme (int), `mean` NaN;
- an out-of-range index reads the nearest element (indices are clamped), so invariants
  must check ranges themselves (a failed range check fails the guard, whatever else reads);
- `//` and `%` are floor division and modulo (Python's), and give 0 for a zero divisor;
  `/` always gives a float and follows IEEE 754 (x / 0 is +-inf, 0 / 0 is NaN);
- ints are 64-bit (the float32 JAX evaluator computes in int32, inputs saturated to its
  range, so an empty int `min`/`max` gives int32's extreme there); an int power with a negative exponent truncates toward zero;
  `int`, `floor` and `ceil` saturate (NaN -> 0, +-inf -> the int64 extremes);
- `min`, `max`, `clip` and the `max`/`min` reductions propagate NaN;
- `a ~= b` is |a - b| <= tolerance * max(1, |a|, |b|);
- `and`, `or`, `implies` and `if` are value-level (both sides may be evaluated).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from adrs_spec.errors import Span

DType = Literal["int", "float", "bool"]

# Binary operators by group.
ARITH_OPS = ("+", "-", "*", "/", "//", "%", "**")
COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=", "~=")
LOGIC_OPS = ("and", "or", "implies")
# Built-in functions: name -> arity. min/max with two arguments are element-wise.
FUNCTIONS = {"abs": 1, "sqrt": 1, "exp": 1, "log": 1, "floor": 1, "ceil": 1,
             "float": 1, "int": 1, "min": 2, "max": 2, "clip": 3}
REDUCE_OPS = ("sum", "mean", "max", "min", "count", "all", "any", "prod")


# ---- expressions ----
@dataclass(frozen=True)
class Const:
    value: int | float | bool
    dtype: DType
    span: Span


@dataclass(frozen=True)
class Static:
    """A param or a let over params only: a scalar known before any data."""

    name: str
    dtype: DType
    span: Span


@dataclass(frozen=True)
class Index:
    """An index variable, bound by an enclosing `IndexVar`."""

    name: str
    span: Span
    dtype: DType = "int"


@dataclass(frozen=True)
class Read:
    """`tensor[indices]`: tensor is a field, a policy output or a tensor let (see `Spec.tensor`)."""

    tensor: str
    indices: tuple["Expr", ...]
    dtype: DType
    span: Span


@dataclass(frozen=True)
class Unary:
    op: Literal["-", "not"]
    operand: "Expr"
    dtype: DType
    span: Span


@dataclass(frozen=True)
class Binary:
    """Arithmetic, comparison or logic; operands already promoted (int+float -> float)."""

    op: str
    left: "Expr"
    right: "Expr"
    dtype: DType
    span: Span


@dataclass(frozen=True)
class Select:
    """`if cond then a else b`"""

    cond: "Expr"
    then: "Expr"
    else_: "Expr"
    dtype: DType
    span: Span


@dataclass(frozen=True)
class Call:
    """A built-in function from `FUNCTIONS`."""

    fn: str
    args: tuple["Expr", ...]
    dtype: DType
    span: Span


@dataclass(frozen=True)
class IndexVar:
    """An index variable and its half-open domain `lo .. hi`.

    `lo`/`hi` may use statics and enclosing index variables (`p in g * slots .. (g + 1) * slots`).
    """

    name: str
    lo: "Expr"
    hi: "Expr"
    span: Span


@dataclass(frozen=True)
class Reduce:
    """`op(vars where cond: body)`; `forall`/`exists` are `all`/`any`."""

    op: str
    vars: tuple[IndexVar, ...]
    where: "Expr | None"
    body: "Expr"
    dtype: DType
    span: Span


@dataclass(frozen=True)
class MetricRef:
    """An aggregated metric, in `score`, `bound` and `objective` only."""

    name: str
    span: Span
    dtype: DType = "float"


@dataclass(frozen=True)
class Runtime:
    """The policy's measured median wall time in seconds (`runtime` or `runtime(policy)`)."""

    span: Span
    dtype: DType = "float"


Expr = Union[Const, Static, Index, Read, Unary, Binary, Select, Call, Reduce, MetricRef, Runtime]


# ---- declarations ----
@dataclass(frozen=True)
class Param:
    name: str
    dtype: DType
    default: int | float | bool | None
    lo: int | float | None        # declared range `in lo .. hi`, half-open
    hi: int | float | None
    span: Span


@dataclass(frozen=True)
class StaticLet:
    name: str
    expr: Expr          # over Const and Static only
    dtype: DType
    span: Span


@dataclass(frozen=True)
class Tensor:
    """A named tensor: an instance field, a policy output, or a tensor let.

    kind: "observe" | "hidden" (instance fields), "output", or "let".
    shape: one static expression per dimension.
    lower: an optional declared constraint on every element, e.g. (">=", Const(0)).
    bounded: the axes of an output declared `<= bound` (shape[axis] is the bound), filled
      with `pad`: the policy may return any width along them; a narrower value is padded
      to the bound before anything reads it, a wider one must hold only `pad` past it.
      Every backend sees the padded form (the bound's width).
    """

    name: str
    kind: str
    dtype: DType
    shape: tuple[Expr, ...]
    span: Span
    lower: tuple[str, Expr] | None = None
    bounded: tuple[int, ...] = ()
    pad: int | float | bool | None = None


@dataclass(frozen=True)
class TensorLet:
    """`let name[v1, v2] = body`: element [i, j] is body with v1 = i, v2 = j (domains start at 0)."""

    name: str
    vars: tuple[IndexVar, ...]
    body: Expr
    dtype: DType
    span: Span


@dataclass(frozen=True)
class StateVar:
    """`state name: dtype[shape] = init` in a step block: a table carried from step to step.

    Every element starts at `init` (a static scalar). Inside the block a read sees the table
    as it was when the step began; after the block, its value after the last step."""

    name: str
    dtype: DType
    shape: tuple[Expr, ...]
    init: Expr
    span: Span


@dataclass(frozen=True)
class Update:
    """`target[indices] op value for vars where cond`, applied at the end of each step.

    op: "=" (one element per point, no two points on one element), "+=", "max=", "min=".
    Every point of `vars` (where `cond` holds) contributes; an index outside the table's
    shape contributes nothing."""

    target: str
    indices: tuple[Expr, ...]
    op: str
    value: Expr
    vars: tuple[IndexVar, ...]
    where: Expr | None
    span: Span


@dataclass(frozen=True)
class Step:
    """`step i in 0 .. n { state ... let ... updates }`: a loop over an ordered index.

    At step i (in increasing order), the lets are computed (each over its own vars, reading
    the state at the step's start and the lets before it), then every update is applied.
    A let is a tensor of shape [n, own dims] (`Spec.tensor`): inside the block it is read at
    the current step (`Read(name, (Index(i), ...))`). A `let` with `initially` is a step
    block over its first index whose one state table is the let itself."""

    var: IndexVar
    states: tuple[StateVar, ...]
    lets: tuple[TensorLet, ...]           # vars exclude the step's own index
    updates: tuple[Update, ...]
    span: Span
    recurrence: str | None = None         # the let's name, for `let x[i, ...] = ... initially v`

    @property
    def name(self) -> str:
        """A name for messages and generated code: the recurrence, or the step's first let/state."""
        if self.recurrence:
            return self.recurrence
        first = (self.lets or self.states)[0]
        return f"step_{self.var.name}_{first.name}"

    def provides(self) -> tuple[str, ...]:
        return tuple(x.name for x in (*self.states, *self.lets))


@dataclass(frozen=True)
class Invariant:
    """`invariant name: forall vars: body`; a guard reports the first `vars` tuple where body is false."""

    name: str
    vars: tuple[IndexVar, ...]
    body: Expr
    span: Span
    source_line: int


@dataclass(frozen=True)
class Claim:
    """`claim name: forall vars: body`: a property the author believes the invariants imply.

    Never checked at run time (the generated evaluator ignores claims); `adrs-spec check`
    proves it with Z3 at a bounded size, or refutes it with a counterexample."""

    name: str
    vars: tuple[IndexVar, ...]
    body: Expr
    span: Span
    source_line: int


@dataclass(frozen=True)
class Metric:
    """A scalar per instance, aggregated over instances with `aggregate` (mean, min, max, sum)."""

    name: str
    expr: Expr
    aggregate: str
    span: Span


@dataclass(frozen=True)
class Objective:
    direction: Literal["maximize", "minimize"]
    expr: Expr          # over MetricRef and Runtime
    span: Span


@dataclass(frozen=True)
class Bound:
    """A claim over metrics, checked on every instance (`bound 0 <= balance <= 1`)."""

    expr: Expr
    span: Span
    text: str


@dataclass(frozen=True)
class Policy:
    name: str
    args: tuple[str, ...]          # names of observed fields and params, in call order
    outputs: tuple[str, ...]       # names of output tensors, in return order
    span: Span


# ---- workloads ----
@dataclass(frozen=True)
class Sampled:
    """A value drawn once per case: a half-open range or a set of choices."""

    lo: Expr | None = None
    hi: Expr | None = None
    choices: tuple[Expr, ...] = ()
    span: Span | None = None


Value = Union[Expr, Sampled]


@dataclass(frozen=True)
class Assign:
    """`name = value` in a workload: overrides a param, or defines a workload-local scalar."""

    name: str
    value: Value
    span: Span


@dataclass(frozen=True)
class Trace:
    """`trace name: dtype[shape] = generator(args)` drawn once per case."""

    name: str
    dtype: DType
    shape: tuple[Expr, ...]
    generator: str
    args: tuple[Assign, ...]
    span: Span


@dataclass(frozen=True)
class Cut:
    """`instances var in lo .. hi: field = expr, ...`: how a case's traces become instances."""

    var: IndexVar
    fields: tuple[tuple[str, Expr], ...]
    span: Span


@dataclass(frozen=True)
class Workload:
    name: str
    cases: Expr
    assigns: tuple[Assign, ...]
    traces: tuple[Trace, ...]
    cut: Cut | None            # None: each case is one instance, traces named like the fields
    span: Span


@dataclass(frozen=True)
class Holdout:
    name: str
    base: str
    overrides: tuple[Assign, ...]
    span: Span


@dataclass(frozen=True)
class Adapter:
    """`adapter "placement/prism.py"`: a Python file that lets a policy written to a public
    interface run against the spec (see adrs_spec.sandbox.adapters). name: the file's stem;
    path: where it was found (the spec's folder joined with the path as written)."""

    name: str
    path: str
    span: Span


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    params: tuple[Param, ...]
    requires: tuple[tuple[Expr, str], ...]       # (condition, its source text)
    statics: tuple[StaticLet, ...]               # dependency order
    tensors: tuple[Tensor, ...]                  # fields, outputs and lets, by name
    policy: Policy
    lets: tuple["TensorLet | Step", ...]         # dependency order
    invariants: tuple[Invariant, ...]            # spec order
    metrics: tuple[Metric, ...]
    bounds: tuple[Bound, ...]
    objectives: tuple[Objective, ...]
    score: Expr | None
    tolerance: float
    workloads: tuple[Workload, ...]
    holdouts: tuple[Holdout, ...]
    source_name: str
    source_sha256: str
    claims: tuple[Claim, ...] = ()                # spec order
    adapters: tuple[Adapter, ...] = ()            # spec order

    def tensor(self, name: str) -> Tensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def fields(self, *roles: str) -> tuple[Tensor, ...]:
        roles = roles or ("observe", "hidden")
        return tuple(t for t in self.tensors if t.kind in roles)

    def outputs(self) -> tuple[Tensor, ...]:
        return tuple(self.tensor(n) for n in self.policy.outputs)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


def let_bodies(spec: "Spec") -> list[Expr]:
    """Every expression the simulator computes: tensor let bodies, and in step blocks their lets,
    update indices, values and filters."""
    out: list[Expr] = []
    for let in spec.lets:
        if isinstance(let, Step):
            out += [x.body for x in let.lets]
            for u in let.updates:
                out += [*u.indices, u.value, *((u.where,) if u.where is not None else ())]
        else:
            out.append(let.body)
    return out


def step_exprs(step: Step) -> list[Expr]:
    """Every expression of the block (bodies, update parts, ranges, shapes, initial values)."""
    out: list[Expr] = [step.var.lo, step.var.hi]
    for s in step.states:
        out += [*s.shape, s.init]
    for let in step.lets:
        out += [let.body, *(x for v in let.vars for x in (v.lo, v.hi))]
    for u in step.updates:
        out += [*u.indices, u.value, *((u.where,) if u.where is not None else ()),
                *(x for v in u.vars for x in (v.lo, v.hi))]
    return out


def step_names(spec: "Spec") -> frozenset[str]:
    """Tensors computed by step blocks (their lets and state tables)."""
    return frozenset(n for let in spec.lets if isinstance(let, Step) for n in let.provides())


def children(e: Expr) -> tuple[Expr, ...]:
    """Direct sub-expressions, including the range bounds and filter of a reduction."""
    if isinstance(e, Read):
        return e.indices
    if isinstance(e, Unary):
        return (e.operand,)
    if isinstance(e, Binary):
        return (e.left, e.right)
    if isinstance(e, Select):
        return (e.cond, e.then, e.else_)
    if isinstance(e, Call):
        return e.args
    if isinstance(e, Reduce):
        bounds = tuple(x for v in e.vars for x in (v.lo, v.hi))
        return bounds + ((e.where,) if e.where is not None else ()) + (e.body,)
    return ()


def free_indices(e: Expr) -> frozenset[str]:
    """Index variables `e` depends on that it does not bind itself."""
    if isinstance(e, Index):
        return frozenset((e.name,))
    if isinstance(e, Reduce):
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


def tensors_read(e: Expr, out: list[str] | None = None) -> list[str]:
    """Names of the tensors `e` reads, first use first."""
    out = [] if out is None else out
    if isinstance(e, Read) and e.tensor not in out:
        out.append(e.tensor)
    for c in children(e):
        tensors_read(c, out)
    return out


def reads_data(e: Expr) -> bool:
    """Whether `e` reads any tensor (else it is a function of statics and indices only)."""
    return isinstance(e, Read) or any(reads_data(c) for c in children(e))


def conjuncts(e: Expr | None) -> list[Expr]:
    """`a and b and c` -> [a, b, c]; None -> []."""
    if e is None:
        return []
    if isinstance(e, Binary) and e.op == "and":
        return conjuncts(e.left) + conjuncts(e.right)
    return [e]

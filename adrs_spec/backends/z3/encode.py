"""A spec's IR as Z3 formulas at one bounded size.

At fixed params every shape and index range is a Python int, so quantifiers and reductions
unroll into one term per point. Free variables stand for one instance and one output:
- observed and hidden float fields: Reals, constrained by their declared bounds (`>= 0`);
- int fields and outputs: one-hot Bool flags over a small value domain (exactly one holds);
- float outputs: Reals; bool fields and outputs: Bools.
Expressions that read no tensor (index arithmetic, statics) are evaluated concretely
(adrs_spec.lang.evaluate); the others go through the operator table (adrs_spec.lang.operators)
on the Z3 algebra: the same table either way. A read at a symbolic index is a choice among the elements its cases can reach,
clamped as everywhere. A construct the encoding cannot express raises `Skipped`, naming it
and its location.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import z3

from adrs_spec.lang import ir
from adrs_spec.lang.evaluate import Evaluator
from adrs_spec.backends.z3.algebra import Z3Algebra
from adrs_spec.backends.z3.values import OneHot, cases, int_term
from adrs_spec.errors import Span
from adrs_spec.lang import operators as op
from adrs_spec.lang.operators import Ext
from adrs_spec.lang.statics import shape_of

Point = dict[str, int]


class Skipped(Exception):
    """A construct the encoding does not express: `what` names it, `span` locates it."""

    def __init__(self, what: str, span: Span | None):
        super().__init__(what)
        self.what = what
        self.span = span


@dataclass(frozen=True)
class Variable:
    """One element of a field or output and the Z3 variables that stand for it."""

    tensor: str
    index: tuple[int, ...]
    dtype: ir.DType
    z3vars: tuple            # Reals/Bools: one variable; ints: one flag per domain value


@dataclass(frozen=True)
class Condition:
    """An invariant or claim unrolled: the conjunction, and each point's term (row-major)."""

    name: str
    formula: object
    points: tuple[tuple[Point, object], ...]


class Encoding:
    """Fields, outputs, lets, invariants, claims and metrics of `spec` under `env` (statics)."""

    def __init__(self, spec: ir.Spec, env: Mapping[str, object], domain: tuple[int, ...]):
        self.spec = spec
        self.env = dict(env)
        self.domain = domain
        self.m = Z3Algebra()
        self.interp = Evaluator(spec.tolerance, self.env)
        self.shapes = {t.name: shape_of(t, self.env) for t in spec.tensors}
        self.variables: list[Variable] = []
        self.constraints: list[object] = []           # domains of the variables, declared bounds
        self._elements: dict[str, np.ndarray] = {}
        self._lets = {name: let for let in spec.lets
                      for name in (let.provides() if isinstance(let, ir.Step) else (let.name,))}
        self._let_values: dict[tuple[str, tuple[int, ...]], object] = {}
        self._concrete: dict[int, bool] = {}
        self._metrics: dict[str, object] = {}
        for t in (*spec.fields(), *spec.outputs()):
            self._declare(t)

    # ---- variables ----
    def _declare(self, t: ir.Tensor) -> None:
        shape = self.shapes[t.name]
        elements = np.empty(shape, dtype=object)
        lower = self._lower_bound(t)
        for index in np.ndindex(*shape):
            name = f"{t.name}[{', '.join(map(str, index))}]" if index else t.name
            value, z3vars = self._variable(t.dtype, name)
            elements[index] = value
            self.variables.append(Variable(t.name, tuple(index), t.dtype, z3vars))
            if lower is not None:
                self.constraints.append(op.binary(self.m, lower[0], value, lower[1], self.spec.tolerance))
        self._elements[t.name] = elements

    def _variable(self, dtype: ir.DType, name: str):
        if dtype == "float":
            x = z3.Real(name)
            return Ext(x), (x,)
        if dtype == "bool":
            x = z3.Bool(name)
            return x, (x,)
        flags = tuple(z3.Bool(f"{name}=={v}") for v in self.domain)
        self.constraints.append(z3.PbEq([(f, 1) for f in flags], 1))
        return OneHot(tuple(zip(self.domain, flags))), flags

    def _lower_bound(self, t: ir.Tensor):
        if t.lower is None:
            return None
        bound_op, bound = t.lower
        value = self.interp.eval(bound, {})
        if t.dtype == "float":
            return bound_op, op.constant(self.m, float(value))
        return bound_op, int(value)

    def elements(self, tensor: str) -> np.ndarray:
        """The values of every element of a field or output (an object array of its shape)."""
        return self._elements[tensor]

    def element(self, tensor: str, index: tuple[int, ...]):
        """The value of `tensor[index]` (index already clamped into the shape)."""
        if tensor in self._elements:
            return self._elements[tensor][index]
        key = (tensor, index)
        if key not in self._let_values:
            let = self._lets[tensor]
            if isinstance(let, ir.Step):
                raise Skipped(f"`{tensor}`, computed by a step block (state through a sequence), which the "
                              f"encoding does not unroll", let.span)
            self._let_values[key] = self.value(let.body, {v.name: i for v, i in zip(let.vars, index)})
        return self._let_values[key]

    # ---- declarations ----
    def condition(self, decl) -> Condition:
        """An invariant or claim: its body at every point of its `forall` variables."""
        points = []
        for point in self.points(decl.vars, {}, decl.span):
            points.append((point, self.value(decl.body, point)))
        return Condition(decl.name, self.m.and_(*(t for _, t in points)), tuple(points))

    def metric(self, name: str):
        if name not in self._metrics:
            metric = next(m for m in self.spec.metrics if m.name == name)
            self._metrics[name] = self.value(metric.expr, {})
        return self._metrics[name]

    def bound(self, b: ir.Bound):
        return self.value(b.expr, {})

    def points(self, vars_: tuple[ir.IndexVar, ...], at: Point, span: Span):
        """Every binding of `vars_`, row-major; each range must be known at this size."""
        if not vars_:
            yield dict(at)
            return
        first, rest = vars_[0], vars_[1:]
        lo, hi = self.value(first.lo, at), self.value(first.hi, at)
        if not (isinstance(lo, int) and isinstance(hi, int)):
            raise Skipped(f"the range of `{first.name}` depends on the data or the outputs", first.span)
        for i in range(lo, hi):
            yield from self.points(rest, {**at, first.name: i}, span)

    # ---- expressions ----
    def value(self, e: ir.Expr, at: Point):
        """The encoding of `e` with its free index variables bound by `at`."""
        if self._is_concrete(e):
            return self._lift(self.interp.eval(e, at), e.dtype)
        try:
            method = getattr(self, "_" + type(e).__name__.lower())
            return method(e, at)
        except op.Unsupported as err:
            raise Skipped(err.what, e.span) from None

    def _is_concrete(self, e: ir.Expr) -> bool:
        key = id(e)
        if key not in self._concrete:
            if isinstance(e, (ir.Read, ir.MetricRef, ir.Runtime)):
                self._concrete[key] = False
            else:
                self._concrete[key] = all(self._is_concrete(c) for c in ir.children(e))
        return self._concrete[key]

    def _lift(self, v, dtype: ir.DType):
        if dtype == "float":
            return op.constant(self.m, float(v))
        if dtype == "bool":
            return bool(v)
        return int(v)

    def _read(self, e: ir.Read, at: Point):
        shape = self.shapes[e.tensor]
        indices = [self.value(i, at) for i in e.indices]
        if all(isinstance(i, int) for i in indices):
            return self.element(e.tensor, tuple(min(max(i, 0), n - 1) for i, n in zip(indices, shape)))
        options = [self._index_cases(i, n, e) for i, n in zip(indices, shape)]
        reached: dict[tuple[int, ...], list] = {}
        for combo in itertools.product(*options):
            cond = self.m.and_(*(c for c, _ in combo))
            reached.setdefault(tuple(k for _, k in combo), []).append(cond)
        choices = [(self.m.or_(*conds), self.element(e.tensor, index)) for index, conds in reached.items()]
        return self._choose(choices, e.dtype)

    def _index_cases(self, i, n: int, e: ir.Read) -> list[tuple[object, int]]:
        """(condition, clamped position) for an index value, merged by position."""
        options = cases(i)
        if options is None:
            term = int_term(i)
            options = [(term <= 0, 0)] + [(term == k, k) for k in range(1, n - 1)]
            options += [(term >= n - 1, n - 1)] if n > 1 else []
        merged: dict[int, list] = {}
        for cond, k in options:
            merged.setdefault(min(max(k, 0), n - 1), []).append(cond)
        return [(self.m.or_(*conds), k) for k, conds in merged.items()]

    def _choose(self, choices: list[tuple[object, object]], dtype: ir.DType):
        """The value whose condition holds (exactly one does), as one flat choice."""
        if len(choices) == 1:
            return choices[0][1]
        if dtype != "float":
            return self.m.choose(choices)
        return Ext(*(self.m.choose([(c, getattr(v, part)) for c, v in choices])
                     for part in ("val", "nan", "pinf", "ninf")))

    def _index(self, e: ir.Index, at: Point):
        return at[e.name]

    def _unary(self, e: ir.Unary, at: Point):
        return op.unary(self.m, e.op, self.value(e.operand, at))

    def _binary(self, e: ir.Binary, at: Point):
        a = self.value(e.left, at)
        if e.op in ("and", "or", "implies"):
            short = {"and": False, "or": True, "implies": False}[e.op]
            if isinstance(a, bool) and a == short:
                return e.op != "and"
        if e.op == "**":
            if not self._is_concrete(e.right):
                raise Skipped("`**` with an exponent computed from the data", e.span)
            exponent = self.interp.eval(e.right, at)
            if e.dtype == "float":
                return op.float_power(self.m, a, float(exponent))
            return op.int_power(self.m, a, int(exponent))
        return op.binary(self.m, e.op, a, self.value(e.right, at), self.spec.tolerance)

    def _select(self, e: ir.Select, at: Point):
        c = self.value(e.cond, at)
        if isinstance(c, bool):
            return self.value(e.then if c else e.else_, at)
        return op.select(self.m, c, self.value(e.then, at), self.value(e.else_, at))

    def _call(self, e: ir.Call, at: Point):
        return op.call(self.m, e.fn, [self.value(a, at) for a in e.args])

    def _reduce(self, e: ir.Reduce, at: Point):
        items = []
        for point in self.points(e.vars, at, e.span):
            keep = True if e.where is None else self.value(e.where, point)
            if keep is False:
                continue
            items.append((keep, self.value(e.body, point)))
        return op.reduce(self.m, e.op, items, e.body.dtype)

    def _metricref(self, e: ir.MetricRef, at: Point):
        return self.metric(e.name)

    def _runtime(self, e: ir.Runtime, at: Point):
        raise Skipped("`runtime` is measured when a policy runs, not modelled", e.span)


def as_condition(x):
    """A bool value of the encoding as a Z3 term."""
    return z3.BoolVal(x) if isinstance(x, bool) else x

"""Training and holdout sets of a spec, including holdouts the spec does not declare.

Besides the declared holdouts, three are derived automatically from the first workload:
- `auto_shift`: every sampled range (generator arguments and params) moved past its
  training range by its own width (s = 0.8 .. 1.2 becomes 1.2 .. 1.6);
- `auto_shapes`: other param tuples that satisfy every `require`, found by Z3;
- `auto_boundary`: extreme instances (all load on one expert, a layer with no load, exact
  ties, tiny and huge totals) made from a training instance.
Holdouts are for validation and reports; they are never shown to a policy during search.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from adrs_spec.lang import ir
from adrs_spec.backends.z3.shapes import shape_tuples
from adrs_spec.errors import SpecError
from adrs_spec.lang.statics import eval_static
from adrs_spec.workloads.boundary import boundary_cases
from adrs_spec.workloads.build import Group, WorkloadSet, build


def training_sets(spec: ir.Spec, seed: int) -> list[WorkloadSet]:
    return [build(spec, w, seed) for w in spec.workloads]


def holdout_sets(spec: ir.Spec, seed: int, train: list[WorkloadSet] | None = None,
                 auto: bool = True) -> tuple[list[WorkloadSet], list[str]]:
    """Declared and automatic holdouts, and notes on any automatic one that was skipped."""
    workloads = {w.name: w for w in spec.workloads}
    sets = [build(spec, workloads[h.base], seed, name=h.name, overrides=h.overrides, kind="holdout",
                  span=h.span) for h in spec.holdouts]
    notes: list[str] = []
    if not auto or not spec.workloads:
        return sets, notes
    base = spec.workloads[0]
    for name, make in (("auto_shift", _shift), ("auto_shapes", _shapes)):
        overrides, why = make(spec, base)
        if not overrides:
            notes.append(f"{name}: skipped ({why})")
            continue
        try:
            sets.append(build(spec, base, seed, name=name, overrides=tuple(overrides), kind="holdout"))
        except SpecError as err:
            notes.append(f"{name}: skipped ({err.message})")
    train = train if train is not None else training_sets(spec, seed)
    boundary = _boundary(spec, train[0])
    if boundary is None:
        notes.append("auto_boundary: skipped (no field drawn from a load generator such as zipf_drift)")
    else:
        sets.append(boundary)
    return sets, notes


def _shift(spec: ir.Spec, base: ir.Workload):
    """Each sampled range moved past its upper end by its width."""
    env = {p.name: p.default for p in spec.params}
    params = {p.name: p for p in spec.params}
    values = list(base.assigns) + [a for t in base.traces for a in t.args]
    overrides = []
    for a in values:
        v = a.value
        if not isinstance(v, ir.Sampled) or v.choices:
            continue
        try:
            lo, hi = eval_static(v.lo, env), eval_static(v.hi, env)
        except KeyError:
            continue
        new_lo, new_hi = hi, hi + (hi - lo)
        p = params.get(a.name)
        if p is not None and p.hi is not None and new_hi > p.hi:
            continue
        dtype = "float" if isinstance(new_lo, float) or isinstance(new_hi, float) else "int"
        overrides.append(ir.Assign(a.name, ir.Sampled(lo=ir.Const(new_lo, dtype, a.span),
                                                      hi=ir.Const(new_hi, dtype, a.span), span=a.span), a.span))
    return overrides, "the workload samples no range to shift"


def _shapes(spec: ir.Spec, base: ir.Workload):
    """A smaller valid param tuple than the training one (Z3), as fixed overrides."""
    defaults = {p.name: p.default for p in spec.params if p.dtype == "int"}
    if not defaults:
        return [], "the spec has no int params"
    targets = [{k: max(1, v // 4) for k, v in defaults.items()}]
    search = shape_tuples(spec, targets, exclude=[defaults])
    if not search.tuples:            # none exists, Z3 ran out of time, or it cannot read the requires
        return [], search.reason
    span = base.span
    return [ir.Assign(k, ir.Const(v, "int", span), span) for k, v in search.tuples[0].items()], ""


def _load_fields(spec: ir.Spec, workload: ir.Workload) -> list[str]:
    """Non-negative float fields cut from traces of a load generator (tokens, requests):
    extremes of those are hard but fair inputs; extremes of, say, model sizes may leave no
    valid answer at all."""
    from adrs_spec.workloads.generators import GENERATORS

    load_traces = {t.name for t in workload.traces if GENERATORS[t.generator].loads}
    if workload.cut is None:
        sources = {t.name: {t.name} for t in workload.traces}
    else:
        sources = {name: set(ir.tensors_read(expr)) for name, expr in workload.cut.fields}
    return [f.name for f in spec.fields() if f.dtype == "float" and f.lower is not None
            and f.lower[0] in (">=", ">") and isinstance(f.lower[1], ir.Const) and f.lower[1].value == 0
            and sources.get(f.name, set()) & load_traces]


def _boundary(spec: ir.Spec, train: WorkloadSet) -> WorkloadSet | None:
    workload = next((w for w in spec.workloads if w.name == train.name), spec.workloads[0] if spec.workloads else None)
    loads = _load_fields(spec, workload) if workload is not None else []
    if not loads or not train.groups:
        return None
    group = train.groups[0]
    instance = {n: a[0] for n, a in group.fields.items()}
    positive = [f.name for f in spec.fields() if f.name in loads and f.lower[0] == ">"]
    variants = boundary_cases(instance, loads, positive=positive)
    names = sorted(variants)
    fields = {n: np.stack([variants[v][n] for v in names]) for n in instance}
    g = Group(dict(group.params), fields, cases=list(range(len(names))), labels=list(names),
              generator_args=[{"boundary": v} for v in names])
    return WorkloadSet("auto_boundary", "holdout", "extremes: " + ", ".join(names), [g])

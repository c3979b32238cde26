"""Metrics over many instances: aggregation, bounds, objectives and the score.

Shared by every backend: a backend gives per-instance metric values, this module turns
them into what a set of instances reports. Expressions over metrics (`score`, `bound`,
`objective`) and the aggregates are evaluated concretely through the operator table
(adrs_spec.lang.evaluate); statics in them take the values in `env` (the spec's defaults
when none is given).

Aggregation is NaN-propagating: one instance whose metric is NaN makes the aggregate NaN
(an evaluation that went wrong is never averaged away). Over no instances, `sum` is 0,
`mean` NaN, `min` +inf and `max` -inf, as the language's reductions of nothing.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from adrs_spec.lang import ir
from adrs_spec.lang.evaluate import Evaluator, reduce, uses_runtime
from adrs_spec.errors import InputError
from adrs_spec.lang.statics import bind

AGGREGATES = ("mean", "min", "max", "sum")


def aggregate(spec: ir.Spec, metrics_per_instance: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each metric over the instances, by its `aggregate` (mean, min, max or sum)."""
    out = {}
    for m in spec.metrics:
        if m.aggregate not in AGGREGATES:
            raise InputError(f"metric `{m.name}` has unknown aggregate `{m.aggregate}`")
        values = []
        for k, inst in enumerate(metrics_per_instance):
            if m.name not in inst:
                raise InputError(f"instance {k} has no value for metric `{m.name}`")
            values.append(np.float64(inst[m.name]))
        out[m.name] = float(reduce(m.aggregate, [(True, v) for v in values], "float", "float"))
    return out


def evaluate_score(spec: ir.Spec, aggregated: Mapping[str, float], runtime_s: float | None,
                   env: Mapping[str, object] | None = None) -> float | None:
    """The spec's `score`; None when it has none, or when it reads runtime and none was measured."""
    if spec.score is None:
        return None
    return _evaluate(spec, spec.score, aggregated, runtime_s, env)


def evaluate_objectives(spec: ir.Spec, aggregated: Mapping[str, float], runtime_s: float | None,
                        env: Mapping[str, object] | None = None) -> list[tuple[str, float | None]]:
    """(direction, value) of each objective, in spec order; None where runtime is needed but missing."""
    return [(o.direction, evaluate_objective(spec, o, aggregated, runtime_s, env)) for o in spec.objectives]


def evaluate_objective(spec: ir.Spec, objective: ir.Objective, metrics: Mapping[str, float],
                       runtime_s: float | None, env: Mapping[str, object] | None = None) -> float | None:
    """One objective's value; None where it reads runtime and none was measured."""
    return _evaluate(spec, objective.expr, metrics, runtime_s, env)


def check_bounds(spec: ir.Spec, metrics: Mapping[str, float], runtime_s: float | None,
                 env: Mapping[str, object] | None = None) -> list[tuple[ir.Bound, bool]]:
    """Each bound with whether it holds; a bound that reads an unmeasured runtime holds."""
    out = []
    for b in spec.bounds:
        value = _evaluate(spec, b.expr, metrics, runtime_s, env)
        out.append((b, True if value is None else bool(value)))
    return out


def _evaluate(spec: ir.Spec, expr: ir.Expr, metrics: Mapping[str, float], runtime_s: float | None,
              env: Mapping[str, object] | None):
    if runtime_s is None and uses_runtime(expr):
        return None
    statics = env if env is not None else _default_statics(spec)
    evaluator = Evaluator(spec.tolerance, statics, metrics=metrics, runtime_s=runtime_s)
    with np.errstate(all="ignore"):
        value = evaluator.eval(expr, {})
    return bool(value) if isinstance(value, bool) else float(value)


def _default_statics(spec: ir.Spec) -> Mapping[str, object]:
    """The statics at the spec's defaults, or none when a param has no default."""
    if any(p.default is None for p in spec.params):
        return {}
    return bind(spec, check=False)

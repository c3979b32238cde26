"""Validate a hand-written policy against a spec: run it in the sandbox on every instance of
the training set (and holdouts), pass its outputs through the generated guards and
simulator in one batch per shape, and report a verdict, the violations, and the metrics.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field

import numpy as np

from adrs_spec.lang import ir
from adrs_spec.lang import scoring
from adrs_spec.errors import InputError
from adrs_spec.lang.statics import bind, shape_of
from adrs_spec.workloads.build import WorkloadSet

MAX_WITNESSES = 3          # violations shown per invariant and set; the rest are counted


@dataclass
class Violation:
    invariant: str
    set: str
    instance: str          # e.g. "case 0, w = 5"
    at: dict[str, int]     # the first violating index tuple, by index name
    values: str            # the tensors read there, e.g. "logcnt[3, 17] = 0"

    def line(self) -> str:
        where = ", ".join(f"{k} = {v}" for k, v in self.at.items())
        parts = [p for p in (self.instance, where) if p]
        return f"{self.invariant}: {self.set} {'; '.join(parts)}" + (f": {self.values}" if self.values else "")


@dataclass
class SetReport:
    name: str
    kind: str
    instances: int
    valid_instances: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    runtime_s: float | None = None
    score: float | None = None
    violations: list[Violation] = field(default_factory=list)
    violation_counts: dict[str, int] = field(default_factory=dict)
    bound_failures: list[str] = field(default_factory=list)
    failure: dict | None = None
    interface: str | None = None     # the adapter the policy ran through; None: the spec's own function


@dataclass
class Report:
    verdict: str                     # VALID | INVALID | ERROR
    reason: str
    spec: str
    policy: str
    sets: list[SetReport]
    notes: list[str] = field(default_factory=list)     # how the data was read (a partial vLLM window, ...)
    optimality: dict | None = None   # the gap to the optima of tiny instances (adrs_spec.optima.Gap)

    def to_json(self) -> dict:
        """The report as JSON values: a NaN or infinite number (a metric of 0 / 0) is null,
        which JSON has, where a bare `NaN` would not be JSON at all."""
        return _finite(asdict(self))


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def policy_calls(spec: ir.Spec, group) -> list[tuple]:
    """The positional arguments of the policy for every instance of a group."""
    env = bind(spec, group.params, check=False)
    calls = []
    for i in range(group.size):
        calls.append(tuple(group.fields[a][i] if a in group.fields else env[a] for a in spec.policy.args))
    return calls


def describe_point(spec: ir.Spec, inv: ir.Invariant, at: dict[str, int], data: dict[str, np.ndarray],
                   params: dict | None = None) -> str:
    """The values the invariant reads at the violating point, e.g. `logcnt[3, 17] = 0`, and
    (given the params) its reductions there."""
    shown: list[str] = []

    def value(x: ir.Expr):
        if isinstance(x, ir.Const):
            return x.value
        if isinstance(x, ir.Index):
            return at.get(x.name)
        if isinstance(x, ir.Binary) and x.op in ("+", "-", "*", "//"):
            a, b = value(x.left), value(x.right)
            if a is None or b is None:
                return None
            return {"+": a + b, "-": a - b, "*": a * b, "//": a // b if b else None}[x.op]
        if isinstance(x, ir.Read) and x.tensor in data:
            idx = [value(i) for i in x.indices]
            if any(i is None for i in idx):
                return None
            arr = data[x.tensor]
            clamped = tuple(min(max(int(i), 0), n - 1) for i, n in zip(idx, arr.shape))
            v = arr[clamped].item()
            read = f"{x.tensor}[{', '.join(str(i) for i in idx)}]"
            if tuple(int(i) for i in idx) != clamped:     # out-of-range reads see the nearest element
                read += f" (read at [{', '.join(str(i) for i in clamped)}])"
            text = f"{read} = {v:g}" if isinstance(v, float) else f"{read} = {v}"
            if text not in shown:
                shown.append(text)
            return v
        return None

    def walk(x: ir.Expr):
        value(x)
        if not isinstance(x, ir.Reduce):  # a reduction's own indices are not bound here
            for child in ir.children(x):
                walk(child)

    walk(inv.body)
    return ", ".join(shown[:4] + _reductions_at(spec, inv, at, data, params))


def _reductions_at(spec: ir.Spec, inv: ir.Invariant, at: dict[str, int], data: dict[str, np.ndarray],
                   params: dict | None) -> list[str]:
    """The values of the invariant's outermost reductions at the violating point, e.g.
    `sum(g: gpu_load[l, g]) = 8.12e+05`, evaluated by the reference interpreter (only the
    lets they read are materialised)."""
    from adrs_spec.lang.text import spec_text
    from adrs_spec.backends.reference.instance import materialise
    from adrs_spec.backends.reference.steps import run_step
    from adrs_spec.lang.ir import step_exprs
    from adrs_spec.backends.reference.interpreter import Interpreter

    found: list[ir.Reduce] = []

    def outermost(x: ir.Expr):
        if isinstance(x, ir.Reduce):
            if ir.free_indices(x) <= set(at):
                found.append(x)
            return
        for child in ir.children(x):
            outermost(child)

    outermost(inv.body)
    if not found or params is None:
        return []
    needed = set(n for r in found for n in ir.tensors_read(r))
    for let in reversed(spec.lets):        # lets the needed lets read, back to front
        if isinstance(let, ir.Step):
            if needed & set(let.provides()):
                needed |= {t for x in step_exprs(let) for t in ir.tensors_read(x)} | set(let.provides())
        elif let.name in needed:
            needed |= set(ir.tensors_read(let.body))
    interp = Interpreter(spec.tolerance, bind(spec, params, check=False), dict(data))
    for let in spec.lets:
        if isinstance(let, ir.Step):
            if needed & set(let.provides()):
                run_step(spec, interp, let)
        elif let.name in needed:
            interp.tensors[let.name] = materialise(spec, interp, let)
    with np.errstate(all="ignore"):
        return [f"{spec_text(r)} = {float(interp.eval(r, at)):.6g}" for r in found[:2]]


def output_specs(spec: ir.Spec, params: dict):
    from adrs_spec.sandbox import OutputSpec

    from adrs_spec.lang.text import spec_text

    env = bind(spec, params, check=False)
    return [OutputSpec(t.name, t.dtype, shape_of(t, env), t.bounded, t.pad,
                       tuple(spec_text(t.shape[axis]) for axis in t.bounded))
            for t in spec.outputs()]


def adapter_sources(spec: ir.Spec) -> list:
    """The spec's adapters, read for the policy process. One whose file has gone is sent with
    the reason (a policy that needs it fails to load, saying so); one that changed into
    something unusable since the spec was checked is an InputError."""
    import os

    from adrs_spec.sandbox.adapters import AdapterProblem, AdapterSource, read_adapter

    sources = []
    for adapter in spec.adapters:
        if not os.path.exists(adapter.path):
            sources.append(AdapterSource(adapter.name, adapter.path, "", spec.policy.args,
                                         f"no such file {adapter.path}"))
            continue
        try:
            source = read_adapter(adapter.path)
        except AdapterProblem as problem:
            raise InputError(f"adapter `{adapter.name}` of {spec.source_name}: {problem}") from None
        sources.append(AdapterSource(adapter.name, adapter.path, source, spec.policy.args))
    return sources


def run_group(spec: ir.Spec, evaluator, sandbox, policy_path: str, group, adapters):
    """Run the policy on every instance of `group` and evaluate its outputs: (run, instances,
    outputs, results); the last three are empty when the run failed."""
    run = sandbox.run_policy(path=policy_path, function=spec.policy.name, calls=policy_calls(spec, group),
                             outputs=output_specs(spec, group.params), arg_names=spec.policy.args,
                             adapters=adapters)
    if not run.ok:
        return run, [], [], []
    instances = [{n: a[i] for n, a in group.fields.items()} for i in range(group.size)]
    outputs = [dict(zip(spec.policy.outputs, returned)) for returned in run.outputs]
    return run, instances, outputs, evaluator.evaluate_batch(group.params, instances, outputs)


def failure_of(run, group) -> dict:
    f = run.failure
    label = group.labels[f.call_index] if f.call_index is not None and f.call_index < len(group.labels) else None
    return {"kind": f.kind, "message": f.message, "instance": label, "detail": f.detail}


def objective_values(spec: ir.Spec, evaluator, sandbox, policy_path: str, wset: WorkloadSet,
                     objective_index: int) -> tuple[list[float | None], dict | None]:
    """The objective's value per instance (None where a guard fails), or the policy's failure."""
    values: list[float | None] = []
    adapters = adapter_sources(spec)
    objective = spec.objectives[objective_index]
    for group in wset.groups:
        run, _, _, results = run_group(spec, evaluator, sandbox, policy_path, group, adapters)
        if not run.ok:
            return values, failure_of(run, group)
        env = bind(spec, group.params, check=False)
        for result in results:
            passed = all(g.passed for g in result.guards)
            values.append(scoring.evaluate_objective(spec, objective, result.metrics, None, env) if passed else None)
    return values, None


def evaluate_set(spec: ir.Spec, evaluator, sandbox, policy_path: str, wset: WorkloadSet) -> SetReport:
    """Run the policy on every instance of the set and score what it returns (`evaluator`:
    an adrs_spec.evaluator.Evaluator of the spec's generated module)."""
    report = SetReport(wset.name, wset.kind, wset.size)
    metrics_valid: list[dict[str, float]] = []
    times: list[float] = []
    adapters = adapter_sources(spec)          # read once per set, not per group
    for group in wset.groups:
        run, instances, outputs, results = run_group(spec, evaluator, sandbox, policy_path, group, adapters)
        report.interface = run.interface
        if not run.ok:
            report.failure = failure_of(run, group)
            return report
        times.extend(run.times_s)
        for i, result in enumerate(results):
            failed = [g for g in result.guards if not g.passed]
            for guard in failed:
                report.violation_counts[guard.name] = report.violation_counts.get(guard.name, 0) + 1
                if report.violation_counts[guard.name] <= MAX_WITNESSES:
                    inv = next(inv for inv in spec.invariants if inv.name == guard.name)
                    at = {v.name: w for v, w in zip(inv.vars, guard.witness)}
                    report.violations.append(Violation(inv.name, wset.name, group.labels[i], at, describe_point(
                        spec, inv, at, {**instances[i], **outputs[i]}, group.params)))
            if not failed:
                report.valid_instances += 1
                metrics_valid.append(result.metrics)
    report.runtime_s = statistics.median(times) if times else None
    if metrics_valid:
        report.metrics = scoring.aggregate(spec, metrics_valid)
        for inst_metrics in metrics_valid:
            for bound, ok in scoring.check_bounds(spec, inst_metrics, report.runtime_s):
                if not ok and bound.text not in report.bound_failures:
                    report.bound_failures.append(bound.text)
    if report.valid_instances == report.instances and report.instances:
        score = scoring.evaluate_score(spec, report.metrics, report.runtime_s)
        report.score = None if score is None or math.isnan(score) else score
    return report


def verdict_of(sets: list[SetReport]) -> tuple[str, str]:
    for s in sets:
        if s.failure and s.failure["kind"] in ("bad_output",):
            return "INVALID", f"{s.name}: {s.failure['message']}"
        if s.failure:
            return "ERROR", f"{s.name}: {s.failure['message']}"
    broken = [s for s in sets if s.violation_counts]
    if broken:
        total = sum(sum(s.violation_counts.values()) for s in broken)
        names = sorted({n for s in broken for n in s.violation_counts})
        return "INVALID", f"{total} invariant violation(s) ({', '.join(names)})"
    bounds = [b for s in sets for b in s.bound_failures]
    if bounds:
        return "INVALID", f"a metric breaks the spec's bound `{bounds[0]}`"
    n = sum(s.instances for s in sets)
    return "VALID", f"every invariant holds on {n} instances in {len(sets)} set(s)"

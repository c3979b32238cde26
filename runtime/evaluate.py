"""The evaluation cascade of a candidate program, on the code path `adrs-spec validate` uses.

A candidate is written to a file and run by `adrs_spec.validate.evaluate_set` in a sandbox
(one warm Sandbox per worker thread) against the generated evaluator, so the verdicts,
witnesses and metrics are exactly those `validate` reports for the same file and seed.

Stages: smoke (the first training instance alone; a candidate that crashes or breaks an
invariant there costs one call, not a training set), then every training set. Holdouts are
never part of a search evaluation: `holdout` is called for the final top programs only.

Fitness, the number the search ranks by: the spec's `score` averaged over the training sets
(at `rank_runtime_s` instead of the measured runtime when that is set, which makes a run
independent of timing noise), else the first objective, negated when it is minimized.
"""
from __future__ import annotations

import math
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Sequence

from adrs_spec.lang import ir
from adrs_spec.lang import scoring
from adrs_spec.evaluator import Evaluator, compile_in_memory
from adrs_spec.runtime.config import Settings
from adrs_spec.validate import SetReport, evaluate_set, verdict_of
from adrs_spec.workloads.build import Group, WorkloadSet

STATUS_OF_VERDICT = {"VALID": "valid", "INVALID": "invalid", "ERROR": "error"}


@dataclass(frozen=True)
class Evaluation:
    status: str                    # "valid" | "invalid" | "error"
    fitness: float | None          # what the search ranks by (None unless valid)
    score: float | None            # the measured training score (mean over training sets)
    metrics: dict                  # {"train": {set: {metric: value, "runtime_s", "score", ...}}}
    feedback: dict                 # stage, verdict, reason, violations, failure, notes
    seconds: float = 0.0


def smoke_set(train: WorkloadSet) -> WorkloadSet:
    """The first instance of a training set, alone."""
    group = train.groups[0]
    first = Group(group.params, {k: v[:1] for k, v in group.fields.items()}, group.cases[:1], group.labels[:1],
                  group.generator_args[:1])
    return WorkloadSet(f"{train.name} (smoke)", "train", "first instance", [first])


def set_metrics(report: SetReport) -> dict:
    return {**report.metrics, "runtime_s": report.runtime_s, "score": report.score,
            "valid": report.valid_instances, "instances": report.instances}


def feedback_of(stage: str, reports: list[SetReport]) -> dict:
    verdict, reason = verdict_of(reports)
    failure = next((r.failure for r in reports if r.failure), None)
    violations = [v.line() for r in reports for v in r.violations]
    notes = [f"bound `{b}` fails on {r.name}" for r in reports for b in r.bound_failures]
    for r in reports:
        shown: dict[str, int] = {}
        for v in r.violations:
            shown[v.invariant] = shown.get(v.invariant, 0) + 1
        notes += [f"{name} also fails on {count - shown.get(name, 0)} more instance(s) of {r.name}"
                  for name, count in r.violation_counts.items() if count > shown.get(name, 0)]
    return {"stage": stage, "verdict": verdict, "reason": reason, "violations": violations,
            "failure": failure, "notes": notes}


def fitness_of(spec: ir.Spec, reports: list[SetReport], rank_runtime_s: float | None) -> tuple[float | None, float | None]:
    """(fitness, measured score) of a valid evaluation."""
    measured = [r.score for r in reports]
    score = statistics.fmean(measured) if measured and None not in measured else None
    values = []
    for r in reports:
        runtime = r.runtime_s if rank_runtime_s is None else rank_runtime_s
        if spec.score is not None:
            value = scoring.evaluate_score(spec, r.metrics, runtime)
        elif spec.objectives:
            direction, value = scoring.evaluate_objectives(spec, r.metrics, runtime)[0]
            value = None if value is None else (value if direction == "maximize" else -value)
        else:
            value = None
        values.append(value)
    if not values or any(v is None or math.isnan(v) for v in values):
        return None, score
    return statistics.fmean(values), score


_EVALUATORS: dict[str, Evaluator] = {}
_EVALUATORS_LOCK = threading.Lock()


def shared_evaluator(spec: ir.Spec) -> Evaluator:
    """One Evaluator per spec text in this process: its jitted functions are compiled once,
    however many runs (or tests) use the spec. float32, as `validate` uses by default."""
    with _EVALUATORS_LOCK:
        if spec.source_sha256 not in _EVALUATORS:
            _EVALUATORS[spec.source_sha256] = Evaluator(spec, compile_in_memory(spec), "float32")
        return _EVALUATORS[spec.source_sha256]


class CandidateEvaluator:
    """Evaluates candidate code on the training sets, from any number of threads (each
    thread gets its own warm Sandbox)."""

    def __init__(self, spec: ir.Spec, settings: Settings, train: Sequence[WorkloadSet], scratch: str):
        from adrs_spec.sandbox import SandboxLimits

        self.spec, self.settings, self.train = spec, settings, list(train)
        self.evaluator = shared_evaluator(spec)
        for wset in self.train:                 # build (and compile) each shape's evaluator once, up front
            for group in wset.groups:
                self.evaluator.evaluator_for(group.params)
        memory = settings.evaluation.memory_gb
        self.limits = SandboxLimits(timeout_s=settings.evaluation.timeout_s,
                                    memory_bytes=int(memory * (1 << 30)) if memory > 0 else None)
        self.scratch = scratch
        os.makedirs(scratch, exist_ok=True)
        self._local = threading.local()
        self._sandboxes: list = []
        self._lock = threading.Lock()

    # ---- sandboxes ----
    def sandbox(self, array: str | None = None):
        from adrs_spec.sandbox import Sandbox

        array = array or self.settings.evaluation.array
        boxes = self._local.__dict__.setdefault("boxes", {})
        if array not in boxes:
            box = Sandbox(array=array, limits=self.limits, warm=self.settings.evaluation.warm_worker)
            box.start()
            boxes[array] = box
            with self._lock:
                self._sandboxes.append(box)
        return boxes[array]

    def isolation(self) -> str | None:
        """The sandbox's isolation level, when it reports one."""
        describe = getattr(self.sandbox(), "isolation", None)
        return describe.describe() if describe is not None and hasattr(describe, "describe") else None

    def close(self) -> None:
        with self._lock:
            boxes, self._sandboxes = self._sandboxes, []
        for box in boxes:
            box.close()

    # ---- stages ----
    def evaluate(self, code: str, label: str) -> Evaluation:
        """The cascade: smoke, then the training sets."""
        start = time.perf_counter()
        path = self._write(code, label)
        try:
            if self.settings.evaluation.smoke:
                smoke = self.run_sets(path, [smoke_set(self.train[0])])
                verdict, _ = verdict_of(smoke)
                if verdict != "VALID":
                    return self._result("smoke", smoke, start, keep_metrics=False)
            return self._result("train", self.run_sets(path, self.train), start)
        finally:
            os.unlink(path)

    def run_sets(self, path: str, sets: Sequence[WorkloadSet], array: str | None = None) -> list[SetReport]:
        box = self.sandbox(array)
        reports = []
        for wset in sets:
            report = evaluate_set(self.spec, self.evaluator, box, path, wset)
            reports.append(report)
            if report.failure:
                break
        return reports

    def _result(self, stage: str, reports: list[SetReport], start: float, keep_metrics: bool = True) -> Evaluation:
        feedback = feedback_of(stage, reports)
        status = STATUS_OF_VERDICT[feedback["verdict"]]
        metrics = {"train": {r.name: set_metrics(r) for r in reports}} if keep_metrics else {}
        fitness, score = fitness_of(self.spec, reports, self.settings.search.rank_runtime_s) \
            if status == "valid" else (None, None)
        if status == "valid" and fitness is None:
            status = "error"
            feedback["reason"] = "the score could not be computed (NaN or missing metric)"
        return Evaluation(status, fitness, score, metrics, feedback, time.perf_counter() - start)

    def _write(self, code: str, label: str) -> str:
        handle, path = tempfile.mkstemp(prefix=f"{label}-", suffix=".py", dir=self.scratch)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(code)
        return path

    # ---- the final reports ----
    def remeasure(self, code: str, runs: int) -> dict:
        """Training metrics with each set's runtime re-measured `runs` times (median): the
        runtime term of a score is noisy, so the best is chosen on these."""
        path = self._write(code, "remeasure")
        try:
            per_set: dict[str, list[SetReport]] = {}
            for _ in range(max(1, runs)):
                for report in self.run_sets(path, self.train):
                    per_set.setdefault(report.name, []).append(report)
        finally:
            os.unlink(path)
        out = {}
        for name, reports in per_set.items():
            first = reports[0]
            times = [r.runtime_s for r in reports if r.runtime_s is not None]
            runtime = statistics.median(times) if times else None
            score = scoring.evaluate_score(self.spec, first.metrics, runtime) if first.metrics and not any(
                r.violation_counts or r.failure for r in reports) else None
            out[name] = {**set_metrics(first), "runtime_s": runtime,
                         "score": None if score is None or math.isnan(score) else score, "runs": len(reports)}
        return out

    def on_sets(self, code: str, sets: Sequence[WorkloadSet], array: str | None = None) -> dict:
        """Metrics (and failures) of a program on the given sets, e.g. the holdouts."""
        path = self._write(code, "report")
        try:
            out = {}
            for wset in sets:
                report = self.run_sets(path, [wset], array)[0]
                entry = set_metrics(report)
                if report.failure or report.violation_counts:
                    entry["verdict"], entry["reason"] = verdict_of([report])
                out[wset.name] = entry
            return out
        finally:
            os.unlink(path)


    def optimality(self, code: str, optima, path: str, array: str | None = None) -> dict | None:
        """How close the program comes to the proven optima of tiny instances (adrs_spec.optima.Gap
        as a dict); None when it fails on them."""
        from dataclasses import asdict

        from adrs_spec import optima as tiny
        from adrs_spec.validate import objective_values

        program = self._write(code, "optimality")
        try:
            values, failure = objective_values(self.spec, self.evaluator, self.sandbox(array), program,
                                               tiny.as_set(optima), optima.objective_index)
        finally:
            os.unlink(program)
        return None if failure else asdict(tiny.gap(self.spec, optima, path, values))


def array_of(path: str, default: str = "numpy") -> str:
    """The array library a shipped policy file is written against (torch/jax imports), for
    evaluating baselines with the interface they expect."""
    import re

    text = open(path, encoding="utf-8").read()
    for library in ("torch", "jax"):
        if re.search(rf"^\s*(import|from)\s+{library}\b", text, re.M):
            return library
    return default

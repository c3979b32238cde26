"""Tiny instances with their exact optima, stored beside a spec, for optimality gaps.

`adrs-spec optima SPEC --size ...` draws instances of the spec's first workload at a tiny
size, has Z3 find the optimum of the spec's first objective that does not read runtime on
each (adrs_spec.backends.z3.optimum) and writes them to SPEC_DIR/NAME/optima.json. `adrs-spec
validate` then runs the policy on those instances too and prints how close it comes:
"reaches 0.97 of the optimum on 20 tiny instances". Only proven optima count; an instance
whose search ran out of time keeps its best-found value, marked as a bound, not an optimum.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from adrs_spec.lang import ir
from adrs_spec.errors import CompilerBug, InputError, Span, SpecError
from adrs_spec.files import replace_files
from adrs_spec.workloads.build import Group, WorkloadSet, build

FORMAT = 1


@dataclass(frozen=True)
class TinyInstance:
    label: str
    fields: dict[str, np.ndarray]
    verdict: str                        # PROVED, UNKNOWN or SKIPPED
    value: float | None                 # PROVED: the optimum; UNKNOWN: the best found
    seconds: float
    outputs: dict[str, np.ndarray] | None   # an output that attains `value`
    timeout_s: float                    # the time its search had


@dataclass(frozen=True)
class Optima:
    spec: str
    spec_sha256: str
    objective: str                      # e.g. "maximize balance"
    objective_index: int
    params: dict[str, int | float | bool]
    workload: str
    seed: int
    timeout_s: float
    instances: tuple[TinyInstance, ...]

    @property
    def proven(self) -> list[TinyInstance]:
        return [t for t in self.instances if t.verdict == "PROVED" and t.value is not None]


def default_path(spec_path: str, spec: ir.Spec) -> str:
    """SPEC_DIR/NAME/optima.json, beside the spec's baselines (SPEC_DIR/NAME/policies/)."""
    return os.path.join(os.path.dirname(spec_path), spec.name, "optima.json")


def modelled_objective(spec: ir.Spec) -> int:
    """The index of the first objective that does not read `runtime`."""
    from adrs_spec.lang.evaluate import uses_runtime

    for i, o in enumerate(spec.objectives):
        if not uses_runtime(o.expr):
            return i
    raise InputError(f"{spec.source_name}: every objective reads `runtime`, which only a running policy has; "
                     f"there is no optimum to compute")


def tiny_set(spec: ir.Spec, size: Mapping[str, int], count: int, seed: int) -> WorkloadSet:
    """`count` instances of the first workload at `size`, evenly spread over its cases."""
    if not spec.workloads:
        raise InputError(f"{spec.source_name}: the spec declares no `workload` to draw tiny instances from")
    workload = spec.workloads[0]
    span = workload.span or Span.point(1, 1)
    overrides = tuple(ir.Assign(k, ir.Const(int(v), "int", span), span) for k, v in size.items())
    try:
        drawn = build(spec, workload, seed, name="tiny", overrides=overrides, kind="tiny")
    except SpecError as err:            # the size does not fit the spec: the size is at fault
        given = ", ".join(f"{k}={v}" for k, v in size.items())
        raise InputError(f"--size {given}: {err.message}; give a size that meets the spec's `require`s "
                         f"(params not given keep the workload's values, else their defaults)") from None
    if len(drawn.groups) != 1:
        raise InputError(f"--size leaves the params of workload `{workload.name}` varying ({len(drawn.groups)} "
                         f"groups); give every param that a range sets there")
    g = drawn.groups[0]
    pick = sorted({int(i) for i in np.linspace(0, g.size - 1, min(count, g.size))})
    group = Group(dict(g.params), {n: a[pick] for n, a in g.fields.items()}, [g.cases[i] for i in pick],
                  [g.labels[i] for i in pick], g.generator_args)
    return WorkloadSet("tiny", "tiny", f"{len(pick)} tiny instances of {workload.name}", [group])


def _plain(params: Mapping[str, object]) -> dict:
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}


def conflict(previous: Optima, spec: ir.Spec, size: Mapping[str, int], seed: int) -> str | None:
    """Why the optima already in a file of this spec (see `read`) are not those this run would
    compute (another size, seed or workload; the spec's later edits do not count: rerunning is
    how they are taken in), or None."""
    params = _plain(tiny_set(spec, size, 1, seed).groups[0].params)
    ran = ", ".join(f"{k}={v}" for k, v in previous.params.items())
    if previous.params != params or previous.seed != seed or previous.workload != spec.workloads[0].name:
        return (f"{len(previous.proven)} proven optima of another run ({ran}; seed {previous.seed}, "
                f"workload {previous.workload})")
    return None


def _kept(previous: Optima | None, spec: ir.Spec, timeout_s: float) -> dict[str, TinyInstance]:
    """The finished instances of an earlier run of the same computation, by label: proven ones,
    and bounds found with at least this much time (a longer --timeout tries those again)."""
    if previous is None or previous.spec_sha256 != spec.source_sha256:
        return {}
    return {t.label: t for t in previous.instances
            if t.verdict == "PROVED" or (t.verdict == "UNKNOWN" and t.timeout_s >= timeout_s)}


def compute(spec: ir.Spec, size: Mapping[str, int], count: int, seed: int, timeout_s: float,
            progress: Callable[[int, TinyInstance, Optima, bool], None] | None = None,
            previous: Optima | None = None, workers: int = 1) -> Optima:
    """The optima of `count` tiny instances, searched by `workers` processes at once (1: in
    this one); `progress` gets each instance as it is done, with everything so far in instance
    order (to write it: an interrupted run keeps what it found) and whether it was kept from
    `previous`, an earlier run of the same computation for the same spec (an interrupted one,
    or one with fewer instances), whose finished instances are not searched again."""
    index = modelled_objective(spec)
    objective = spec.objectives[index]
    group = tiny_set(spec, size, count, seed).groups[0]
    fields = {t.name for t in spec.fields()}
    instances = [{n: a[i] for n, a in group.fields.items() if n in fields} for i in range(group.size)]
    kept = _kept(previous, spec, timeout_s)
    done: dict[int, TinyInstance] = {}
    so_far = None

    def finish(i: int, tiny: TinyInstance, was_kept: bool) -> None:
        nonlocal so_far
        done[i] = tiny
        so_far = Optima(spec.name, spec.source_sha256, f"{objective.direction} {_text(spec, objective)}", index,
                        _plain(group.params), spec.workloads[0].name, seed, timeout_s,
                        tuple(done[k] for k in sorted(done)))
        if progress:
            progress(i, tiny, so_far, was_kept)

    todo = []
    for i, instance in enumerate(instances):
        old = kept.get(group.labels[i])
        if old is not None and old.fields.keys() == instance.keys() and \
                all(np.array_equal(old.fields[n], instance[n]) for n in instance):
            finish(i, old, True)
        else:
            todo.append(i)
    tasks = [(spec, dict(group.params), index, instances[i], timeout_s) for i in todo]
    for k, (verdict, value, seconds, outputs, reason) in _searched(tasks, workers):
        if verdict == "SKIPPED":            # the spec, not the instance: say so before writing anything
            raise InputError(f"{spec.source_name}: Z3 cannot compute the optimum of `{objective.direction} "
                             f"{_text(spec, objective)}`: {reason}")
        i = todo[k]
        finish(i, TinyInstance(group.labels[i], instances[i], verdict, value, seconds, outputs, timeout_s), False)
    return so_far


def _search_one(task) -> tuple:
    """One instance's optimum: (verdict, value, seconds, outputs, reason); run in a worker
    process, or in this one."""
    from adrs_spec.backends.z3.optimum import optimum

    spec, params, index, instance, timeout_s = task
    best = optimum(spec, params, instance, spec.objectives[index], timeout_s=timeout_s)
    outputs = None if best.model is None else {t.name: best.model.tensors[t.name] for t in spec.outputs()}
    return best.verdict.name, best.value, round(best.seconds, 3), outputs, best.reason


def _searched(tasks: list, workers: int):
    """(task's position, result) as each search ends: in order in this process (workers <= 1),
    else from up to `workers` child processes at once (`python -m adrs_spec.optima`, one per
    instance, in their own session so that Ctrl-C reaches only this one; they are killed when
    this generator is closed or interrupted)."""
    if workers <= 1 or len(tasks) <= 1:
        for k, task in enumerate(tasks):
            yield k, _search_one(task)
        return
    import pickle
    import subprocess
    import sys
    import tempfile

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
    waiting, running = list(range(len(tasks))), {}
    with tempfile.TemporaryDirectory(prefix="adrs-optima-") as folder:
        try:
            while waiting or running:
                while waiting and len(running) < workers:
                    k = waiting.pop(0)
                    base = os.path.join(folder, str(k))
                    with open(base + ".task", "wb") as fh:
                        pickle.dump(tasks[k], fh)
                    with open(base + ".err", "wb") as err:
                        running[k] = subprocess.Popen([sys.executable, "-m", "adrs_spec.optima", base], env=env,
                                                      stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                                      start_new_session=True)
                k = next_finished(running)
                base = os.path.join(folder, str(k))
                if running.pop(k).returncode != 0 or not os.path.exists(base + ".result"):
                    with open(base + ".err", encoding="utf-8", errors="replace") as fh:
                        raise CompilerBug(f"the search of tiny instance {k + 1} failed:\n{fh.read()[-3000:]}")
                with open(base + ".result", "rb") as fh:
                    yield k, pickle.load(fh)
        finally:
            for proc in running.values():
                proc.kill()
                proc.wait()


def next_finished(running: dict) -> int:
    """The key of a child process that has ended, waited for by polling (Ctrl-C landing here
    is safe: adrs_spec.interrupt raises it here)."""
    import time

    while True:
        for k, proc in running.items():
            if proc.poll() is not None:
                return k
        time.sleep(0.02)


def _search_in_child(base: str) -> None:
    """`python -m adrs_spec.optima BASE`: search the instance pickled in BASE.task, write the
    result to BASE.result (whole or not at all)."""
    import pickle
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)        # the parent decides when to stop
    with open(base + ".task", "rb") as fh:
        task = pickle.load(fh)
    result = _search_one(task)
    with open(base + ".part", "wb") as fh:
        pickle.dump(result, fh)
    os.replace(base + ".part", base + ".result")


def _text(spec: ir.Spec, objective: ir.Objective) -> str:
    """The objective's metric, or its place among the objectives."""
    if isinstance(objective.expr, ir.MetricRef):
        return objective.expr.name
    return f"objective {spec.objectives.index(objective) + 1}"


def write(optima: Optima, path: str) -> None:
    data = {"format": FORMAT, "spec": optima.spec, "spec_sha256": optima.spec_sha256,
            "objective": optima.objective, "objective_index": optima.objective_index, "params": optima.params,
            "workload": optima.workload, "seed": optima.seed, "timeout_s": optima.timeout_s,
            "instances": [{"label": t.label, "verdict": t.verdict, "value": t.value, "seconds": t.seconds,
                           "timeout_s": t.timeout_s,
                           "fields": {n: np.asarray(a).tolist() for n, a in t.fields.items()},
                           "outputs": None if t.outputs is None else
                           {n: np.asarray(a).tolist() for n, a in t.outputs.items()}}
                          for t in optima.instances]}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    replace_files(folder, {os.path.basename(path): (json.dumps(data, indent=1) + "\n").encode()})


def read(path: str, spec: ir.Spec) -> Optima:
    """An optima file written for `spec`; InputError naming the file for anything else."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as err:
        raise InputError(f"{path}: cannot read the optima file ({err.strerror})") from None
    except ValueError as err:
        raise InputError(f"{path}: not valid JSON ({err}); recreate it with `adrs-spec optima`") from None
    try:
        if data["format"] != FORMAT:
            raise InputError(f"{path}: optima format {data['format']!r}, this version reads {FORMAT}; "
                             f"recreate it with `adrs-spec optima`")
        if data["spec"] != spec.name:
            raise InputError(f"{path}: optima of spec `{data['spec']}`, not of `{spec.name}`")
        dtypes = {t.name: t.dtype for t in (*spec.fields(), *spec.outputs())}
        instances = tuple(TinyInstance(
            t["label"], {n: _array(a, dtypes[n]) for n, a in t["fields"].items()}, t["verdict"],
            None if t["value"] is None else float(t["value"]), float(t["seconds"]),
            None if t["outputs"] is None else {n: _array(a, dtypes[n]) for n, a in t["outputs"].items()},
            float(t.get("timeout_s", data["timeout_s"])))
            for t in data["instances"])
        return Optima(data["spec"], data["spec_sha256"], data["objective"], int(data["objective_index"]),
                      dict(data["params"]), data["workload"], int(data["seed"]),
                      float(data["timeout_s"]), instances)
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path}: not an optima file of this version ({type(err).__name__}: {err}); "
                         f"recreate it with `adrs-spec optima`") from None


def _array(values, dtype: str) -> np.ndarray:
    return np.asarray(values, dtype={"float": np.float64, "int": np.int64, "bool": np.bool_}[dtype])


def as_set(optima: Optima) -> WorkloadSet:
    """The proven instances as a workload set (for running a policy on them)."""
    proven = optima.proven
    fields = {n: np.stack([t.fields[n] for t in proven]) for n in proven[0].fields} if proven else {}
    group = Group(dict(optima.params), fields, list(range(len(proven))), [t.label for t in proven], [])
    return WorkloadSet("tiny", "tiny", f"{len(proven)} tiny instances with proven optima", [group])


@dataclass(frozen=True)
class Gap:
    """How close a policy comes to the optimum on the proven tiny instances."""

    path: str
    objective: str
    instances: int                      # with a proven optimum
    valid: int                          # where the policy's output passed every guard
    mean_ratio: float | None            # policy / optimum (maximize) or optimum / policy (minimize)
    worst_ratio: float | None
    unproven: int                       # instances whose search ran out of time (left out)
    stale: bool                         # computed for another version of the spec

    def line(self) -> str:
        where = f"{self.instances} tiny instances with proven optima ({self.path})"
        if self.instances == 0:
            return f"optimality: no proven optimum in {self.path}"
        if self.mean_ratio is None:
            return f"optimality ({self.objective}): no valid output on the {where}"
        text = (f"optimality ({self.objective}): reaches {self.mean_ratio:.3f} of the optimum on average "
                f"(worst {self.worst_ratio:.3f}) on {where}")
        if self.valid < self.instances:
            text += f"; invalid on {self.instances - self.valid} of them (counted as 0)"
        if self.unproven:
            text += f"; {self.unproven} more ran out of time and are left out"
        if self.stale:
            text += "; note: computed for another version of the spec (rerun `adrs-spec optima`)"
        return text


def ratio(direction: str, value: float, best: float) -> float:
    """How much of the optimum `value` reaches: 1 is optimal, 0 is worthless or invalid."""
    if direction == "maximize":
        return 1.0 if value == best else (max(value, 0.0) / best if best > 0 else 0.0)
    return 1.0 if value == best else (best / value if value > 0 else 0.0)


def gap(spec: ir.Spec, optima: Optima, path: str, values: Sequence[float | None]) -> Gap:
    """`values`: the policy's objective per proven instance, None where its output was invalid."""
    direction = spec.objectives[optima.objective_index].direction
    proven = optima.proven
    # The policy's values come from the float32 evaluator: a ratio a hair above 1 is rounding.
    ratios = [0.0 if v is None else _rounded(ratio(direction, v, t.value)) for v, t in zip(values, proven)]
    valid = sum(v is not None for v in values)
    return Gap(path, optima.objective, len(proven), valid,
               float(np.mean(ratios)) if valid else None, float(min(ratios)) if valid else None,
               len(optima.instances) - len(proven), optima.spec_sha256 != spec.source_sha256)


def _rounded(r: float) -> float:
    return 1.0 if 1.0 < r <= 1.0 + 1e-5 else r


if __name__ == "__main__":
    import sys

    _search_in_child(sys.argv[1])
